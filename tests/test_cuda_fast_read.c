/* The fast read mode (aimc_context_set_read_mode): CUDA reads through cuBLAS
 * (under the emulation, the stand-in of tests/cuda_emu/cublas_v2.h, which
 * sums backwards with FMAs) and the exact IO epilogue.
 *
 * The bound. Both the exact read (a fixed sequential order, no FMA) and any
 * GEMM order, with or without FMA, compute an inner product of length n with
 * |error| <= gamma_n sum_j |W_ij| |x'_j|, gamma_n = n u / (1 - n u) <= 1.01 n u
 * for n u < 0.01 (u = 2^-24; Higham, Accuracy and Stability, Thm 3.1 and its
 * inner-product corollary, any order). Their difference is at most twice
 * that: c = 2.02 n. The outputs pass through the same digital steps after
 * that (noise added with the same random numbers, the rescale), each one more
 * rounding of at most u |value|: 8 u (|exact| + |fast|) covers them. TF32
 * keeps 10 explicit mantissa bits of each operand (relative error < 2^-10
 * whether the conversion rounds or truncates), so a product is off by less
 * than (2 * 2^-10 + 2^-20) of |W_ij x'_j|: add 2.01 * 2^-10 sum_j |W_ij| |x'_j|. With noise management x' = x / s and the
 * result is scaled back by s, so the sums are taken over the raw inputs x.
 *
 * Where the ADC rounds, a difference within the bound moves an output by a
 * whole ADC step when it crosses a rounding boundary, which happens for a
 * fraction of about 2 bound / step of the outputs (and a sample whose
 * bound-management test flips reads again at another scale): the noise
 * statistics test allows 2% of outputs to differ and compares the residuals'
 * mean and spread. */
#include "cuda_common.h"

#define U 0x1.0p-24

typedef struct fr_read {
  const aimc_tiles_desc_t *td;
  const float *w; /* n_tiles x rows x cols, host */
  const float *in;
  aimc_direction_t dir;
  int64_t batch;
  int64_t shared; /* 1: one input batch shared by every tile (aimc_tiles_mvm_ex stride 0) */
} fr_read_t;

static int64_t fr_n_in(const fr_read_t *r) {
  return r->dir == AIMC_FORWARD ? r->td->cols : r->td->rows;
}
static int64_t fr_n_out(const fr_read_t *r) {
  return r->dir == AIMC_FORWARD ? r->td->rows : r->td->cols;
}

/* One read on a fresh context of `backend` in `mode` (same seed every time,
 * so equal tiles and random numbers); out gets the outputs, passes (if not
 * NULL) the forward passes summed over the tiles. */
static void fr_run(const fr_read_t *r, aimc_backend_t backend, aimc_read_mode_t mode, float *out,
                   uint64_t *passes) {
  aimc_context_t *ctx = cuda_make_context(backend, 0, 99);
  CK(aimc_context_set_read_mode(ctx, mode));
  aimc_tiles_t *t = NULL;
  CK(aimc_tiles_create(ctx, r->td, &t));
  int64_t nt = r->td->n_tiles, nw = nt * r->td->rows * r->td->cols;
  int64_t n_in = (r->shared ? 1 : nt) * r->batch * fr_n_in(r), n_out = nt * r->batch * fr_n_out(r);
  float *w = ctx_upload(ctx, r->w, (size_t)nw * sizeof(float));
  CK(aimc_tiles_set_weights(t, w));
  float *in = ctx_upload(ctx, r->in, (size_t)n_in * sizeof(float));
  float *o = ctx_sentinel_floats(ctx, (size_t)n_out);
  if (r->shared)
    CK(aimc_tiles_mvm_ex(t, r->dir, in, 0, o, r->batch));
  else if (r->dir == AIMC_FORWARD)
    CK(aimc_tiles_forward(t, in, o, r->batch));
  else
    CK(aimc_tiles_backward(t, in, o, r->batch));
  ctx_download(ctx, out, o, (size_t)n_out * sizeof(float));
  if (passes) {
    aimc_tile_stats_t *s = calloc((size_t)nt, sizeof *s);
    cr_assert_not_null(s);
    CK(aimc_tiles_get_stats(t, s));
    *passes = 0;
    for (int64_t k = 0; k < nt; ++k) *passes += s[k].forward_passes;
    free(s);
  }
  aimc_free(ctx, w), aimc_free(ctx, in), aimc_free(ctx, o);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* sum_j |W_ij| |in_j| of every output, and the plain product, in double. */
static void fr_reference(const fr_read_t *r, double *abs_sum, double *plain) {
  int64_t rows = r->td->rows, cols = r->td->cols, n_in = fr_n_in(r), n_out = fr_n_out(r);
  for (int64_t t = 0; t < r->td->n_tiles; ++t)
    for (int64_t b = 0; b < r->batch; ++b)
      for (int64_t o = 0; o < n_out; ++o) {
        double a = 0, p = 0;
        for (int64_t j = 0; j < n_in; ++j) {
          int64_t i = r->dir == AIMC_FORWARD ? o : j, c = r->dir == AIMC_FORWARD ? j : o;
          double wv = r->w[(t * rows + i) * cols + c];
          double xv = r->in[((r->shared ? 0 : t) * r->batch + b) * n_in + j];
          a += fabs(wv) * fabs(xv);
          p += wv * xv;
        }
        abs_sum[(t * r->batch + b) * n_out + o] = a;
        plain[(t * r->batch + b) * n_out + o] = p;
      }
}

typedef struct fr_data {
  aimc_tiles_desc_t td;
  float *w, *x, *d;
} fr_data_t;

static fr_data_t fr_data(int64_t n_tiles, int32_t rows, int32_t cols, int64_t batch,
                         uint64_t seed) {
  fr_data_t f;
  aimc_tiles_desc_default(&f.td);
  f.td.n_tiles = n_tiles;
  f.td.rows = rows;
  f.td.cols = cols;
  f.td.seed = seed;
  test_ideal_device(&f.td.config.device);
  test_rng_t rng = {seed};
  size_t nw = (size_t)(n_tiles * rows * cols);
  f.w = test_alloc(nw), f.x = test_alloc((size_t)(n_tiles * batch * cols));
  f.d = test_alloc((size_t)(n_tiles * batch * rows));
  test_fill(&rng, f.w, nw, -0.5f, 0.5f);
  test_fill(&rng, f.x, (size_t)(n_tiles * batch * cols), -1.0f, 1.0f);
  test_fill(&rng, f.d, (size_t)(n_tiles * batch * rows), -1.0f, 1.0f);
  return f;
}

static void fr_free(fr_data_t *f) { free(f->w), free(f->x), free(f->d); }

/* No quantisation, no bound: the read is the product, the noise (if any)
 * added with the same random numbers in both modes. */
static void fr_unquantised(aimc_io_desc_t *io) {
  io->inp_res = 0.0f;
  io->out_res = 0.0f;
  io->out_bound = INFINITY;
  io->bound_management = AIMC_BM_NONE;
}

/* Checks fast against exact on the CUDA backend within the bound; returns
 * how many outputs differ at all. */
static size_t fr_expect_bound(const fr_read_t *r, aimc_read_mode_t mode, const char *what) {
  size_t n = (size_t)(r->td->n_tiles * r->batch * fr_n_out(r));
  float *e = test_alloc(n), *f = test_alloc(n);
  double *abs_sum = calloc(n, sizeof(double)), *plain = calloc(n, sizeof(double));
  cr_assert(abs_sum && plain);
  fr_run(r, AIMC_BACKEND_CUDA, AIMC_READ_EXACT, e, NULL);
  fr_run(r, AIMC_BACKEND_CUDA, mode, f, NULL);
  fr_reference(r, abs_sum, plain);
  double c = 2.02 * (double)fr_n_in(r) * U + (mode == AIMC_READ_FAST_TF32 ? 2.01 * 0x1.0p-10 : 0);
  size_t differ = 0;
  for (size_t i = 0; i < n; ++i) {
    double bound = c * abs_sum[i] + 8 * U * (fabs(e[i]) + fabs(f[i]));
    cr_assert(isfinite(f[i]), "%s: output %zu is %g", what, i, (double)f[i]);
    cr_assert(fabs((double)f[i] - (double)e[i]) <= bound,
              "%s: output %zu: fast %.9g vs exact %.9g, |difference| %.3g > bound %.3g", what, i,
              (double)f[i], (double)e[i], fabs((double)f[i] - (double)e[i]), bound);
    differ += f[i] != e[i];
  }
  free(e), free(f), free(abs_sum), free(plain);
  return differ;
}

Test(fast_read, mode_api) {
  aimc_context_t *cpu = cuda_make_context(AIMC_BACKEND_CPU, 0, 1);
  aimc_context_t *dev = cuda_make_context(AIMC_BACKEND_CUDA, 0, 1);
  aimc_context_t *both[2] = {cpu, dev};
  for (int k = 0; k < 2; ++k) {
    aimc_read_mode_t m = AIMC_READ_FAST;
    CK(aimc_context_get_read_mode(both[k], &m));
    cr_assert_eq(m, AIMC_READ_EXACT, "exact is the default");
    CK(aimc_context_set_read_mode(both[k], AIMC_READ_FAST_TF32));
    cr_assert_eq(aimc_context_set_read_mode(both[k], (aimc_read_mode_t)3),
                 AIMC_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(aimc_last_error(), "mode = 3"), "names the value: %s", aimc_last_error());
    cr_assert_eq(aimc_context_set_read_mode(both[k], (aimc_read_mode_t)-1),
                 AIMC_ERR_INVALID_ARGUMENT);
    CK(aimc_context_get_read_mode(both[k], &m));
    cr_assert_eq(m, AIMC_READ_FAST_TF32, "a refused mode leaves the mode alone");
    cr_assert_eq(aimc_context_get_read_mode(both[k], NULL), AIMC_ERR_INVALID_ARGUMENT);
  }
  cr_assert_eq(aimc_context_set_read_mode(NULL, AIMC_READ_FAST), AIMC_ERR_INVALID_ARGUMENT);
  aimc_context_destroy(dev);
  aimc_context_destroy(cpu);
}

/* The CPU keeps its exact path in every mode; CUDA's exact mode is untouched
 * by the fast one's existence: both give the CPU's bits. */
Test(fast_read, exact_mode_and_cpu_unchanged) {
  fr_data_t f = fr_data(3, 37, 53, 5, 11);
  for (int dir = 0; dir < 2; ++dir) {
    fr_read_t r = {&f.td, f.w, dir == 0 ? f.x : f.d, (aimc_direction_t)dir, 5, 0};
    size_t n = (size_t)(3 * 5 * fr_n_out(&r));
    float *cpu = test_alloc(n), *cpu_fast = test_alloc(n), *dev = test_alloc(n);
    fr_run(&r, AIMC_BACKEND_CPU, AIMC_READ_EXACT, cpu, NULL);
    fr_run(&r, AIMC_BACKEND_CPU, AIMC_READ_FAST, cpu_fast, NULL);
    fr_run(&r, AIMC_BACKEND_CUDA, AIMC_READ_EXACT, dev, NULL);
    cuda_expect_floats("CPU fast vs CPU exact", cpu, cpu_fast, n, 5, (size_t)fr_n_out(&r));
    cuda_expect_floats("CUDA exact vs CPU", cpu, dev, n, 5, (size_t)fr_n_out(&r));
    free(cpu), free(cpu_fast), free(dev);
  }
  fr_free(&f);
}

/* Noise-free, unquantised reads: fast within the bound of exact, forward and
 * backward, fp32 and TF32; and the fast path did run (some output differs). */
Test(fast_read, within_bound_of_exact) {
  fr_data_t f = fr_data(3, 37, 53, 5, 12);
  fr_unquantised(&f.td.config.forward);
  fr_unquantised(&f.td.config.backward);
  f.td.config.forward.out_noise = f.td.config.backward.out_noise = 0.0f;
  for (int dir = 0; dir < 2; ++dir)
    for (int m = AIMC_READ_FAST; m <= AIMC_READ_FAST_TF32; ++m) {
      fr_read_t r = {&f.td, f.w, dir == 0 ? f.x : f.d, (aimc_direction_t)dir, 5, 0};
      char what[64];
      snprintf(what, sizeof what, "%s, %s", dir == 0 ? "forward" : "backward",
               m == AIMC_READ_FAST ? "fast" : "fast TF32");
      size_t differ = fr_expect_bound(&r, (aimc_read_mode_t)m, what);
      cr_assert_gt(differ, 0, "%s: no output differs from exact: did the fast path run?", what);
    }
  fr_free(&f);
}

/* One input batch shared by all tiles (aimc_tiles_mvm_ex with stride 0), the
 * default IO without quantisation: within the bound. */
Test(fast_read, shared_inputs_within_bound) {
  fr_data_t f = fr_data(3, 26, 34, 4, 18);
  fr_unquantised(&f.td.config.forward);
  fr_read_t r = {&f.td, f.w, f.x, AIMC_FORWARD, 4, 1};
  size_t differ = fr_expect_bound(&r, AIMC_READ_FAST, "shared inputs");
  cr_assert_gt(differ, 0, "no output differs from exact: did the fast path run?");
  fr_free(&f);
}

/* Perfect IO (out_scale W x and nothing else): within the bound, both ways. */
Test(fast_read, perfect_io_within_bound) {
  fr_data_t f = fr_data(2, 31, 45, 4, 17);
  CK(aimc_io_desc_default(&f.td.config.forward, AIMC_IO_PERFECT));
  CK(aimc_io_desc_default(&f.td.config.backward, AIMC_IO_PERFECT));
  for (int dir = 0; dir < 2; ++dir) {
    fr_read_t r = {&f.td, f.w, dir == 0 ? f.x : f.d, (aimc_direction_t)dir, 4, 0};
    size_t differ = fr_expect_bound(&r, AIMC_READ_FAST, dir == 0 ? "perfect forward" : "perfect backward");
    cr_assert_gt(differ, 0, "no output differs from exact: did the fast path run?");
  }
  fr_free(&f);
}

/* With noise (output noise with a per-output spread, additive weight noise,
 * input noise, worst-case bound management hitting a low bound: AbsMaxNPSum)
 * but no quantisation: the same random numbers, so still within the bound. */
Test(fast_read, noisy_unquantised_within_bound) {
  fr_data_t f = fr_data(2, 29, 41, 6, 13);
  aimc_io_desc_t *io = &f.td.config.forward;
  fr_unquantised(io);
  io->out_bound = 0.5f; /* products of about unit spread: most samples hit it */
  io->bound_management = AIMC_BM_ITERATIVE_WORST_CASE; /* its second pass: AbsMaxNPSum */
  io->inp_noise = 0.01f;
  io->out_noise_std = 0.2f;
  io->w_noise_type = AIMC_W_NOISE_ADDITIVE_CONSTANT;
  io->w_noise = 0.02f;
  fr_read_t r = {&f.td, f.w, f.x, AIMC_FORWARD, 6, 0};
  fr_expect_bound(&r, AIMC_READ_FAST, "noisy forward");
  uint64_t pe = 0, pf = 0;
  size_t n = (size_t)(2 * 6 * 29);
  float *e = test_alloc(n), *g = test_alloc(n);
  fr_run(&r, AIMC_BACKEND_CUDA, AIMC_READ_EXACT, e, &pe);
  fr_run(&r, AIMC_BACKEND_CUDA, AIMC_READ_FAST, g, &pf);
  cr_assert_eq(pe, pf, "bound management made %llu passes exact, %llu fast",
               (unsigned long long)pe, (unsigned long long)pf);
  cr_assert_gt(pe, 12, "the low bound forces repeated passes (got %llu for 12 samples)",
               (unsigned long long)pe);
  free(e), free(g);
  fr_free(&f);
}

/* Reads with PCM read noise stay on the exact path in fast mode: the CPU's bits. */
Test(fast_read, pcm_read_noise_stays_exact) {
  fr_data_t f = fr_data(2, 19, 23, 3, 14);
  f.td.config.forward.w_noise_type = AIMC_W_NOISE_PCM_READ;
  f.td.config.forward.w_noise = 0.03f;
  fr_read_t r = {&f.td, f.w, f.x, AIMC_FORWARD, 3, 0};
  size_t n = (size_t)(2 * 3 * 19);
  float *cpu = test_alloc(n), *dev = test_alloc(n);
  fr_run(&r, AIMC_BACKEND_CPU, AIMC_READ_EXACT, cpu, NULL);
  fr_run(&r, AIMC_BACKEND_CUDA, AIMC_READ_FAST, dev, NULL);
  cuda_expect_floats("PCM read noise, fast mode", cpu, dev, n, 3, 19);
  free(cpu), free(dev);
  fr_free(&f);
}

/* The default IO (7-bit DAC, 9-bit ADC, output noise 0.06, iterative bound
 * management): the residuals out - W x have the same statistics in both
 * modes. The modes share every random number, so the only differences are
 * ADC steps where the products' rounding crosses a rounding boundary (and
 * the rare sample whose bound test flips): at most 2% of the outputs differ
 * (expected about 2 * 1e-5 / 0.047, far less); the residual means agree
 * within 1% of the spread and the spreads within 1%. */
Test(fast_read, default_io_noise_statistics) {
  int64_t nt = 4, b = 32;
  int32_t rows = 48, cols = 64;
  fr_data_t f = fr_data(nt, rows, cols, b, 15);
  fr_read_t r = {&f.td, f.w, f.x, AIMC_FORWARD, b, 0};
  size_t n = (size_t)(nt * b * rows);
  float *e = test_alloc(n), *g = test_alloc(n);
  double *abs_sum = calloc(n, sizeof(double)), *plain = calloc(n, sizeof(double));
  cr_assert(abs_sum && plain);
  uint64_t pe = 0, pf = 0;
  fr_run(&r, AIMC_BACKEND_CUDA, AIMC_READ_EXACT, e, &pe);
  fr_run(&r, AIMC_BACKEND_CUDA, AIMC_READ_FAST, g, &pf);
  fr_reference(&r, abs_sum, plain);
  size_t differ = 0;
  double me = 0, mf = 0, se = 0, sf = 0;
  for (size_t i = 0; i < n; ++i) {
    differ += e[i] != g[i];
    double re = e[i] - plain[i], rf = g[i] - plain[i];
    me += re, mf += rf, se += re * re, sf += rf * rf;
  }
  me /= (double)n, mf /= (double)n;
  se = sqrt(se / (double)n - me * me), sf = sqrt(sf / (double)n - mf * mf);
  cr_assert_leq((double)differ, 0.02 * (double)n, "%zu of %zu outputs differ", differ, n);
  cr_assert_gt(se, 0.01, "the IO noise is there (residual spread %g)", se);
  cr_assert_leq(fabs(me - mf), 0.01 * se, "residual means: exact %g, fast %g", me, mf);
  cr_assert_leq(fabs(se - sf), 0.01 * se, "residual spreads: exact %g, fast %g", se, sf);
  cr_assert_leq(llabs((long long)pe - (long long)pf), (long long)(0.02 * (double)(nt * b)) + 1,
                "forward passes: exact %llu, fast %llu", (unsigned long long)pe,
                (unsigned long long)pf);
  free(e), free(g), free(abs_sum), free(plain);
  fr_free(&f);
}

/* All-zero inputs: noise management's zero read, the same (zero) outputs. */
Test(fast_read, zero_inputs) {
  fr_data_t f = fr_data(2, 17, 21, 3, 16);
  memset(f.x, 0, sizeof(float) * 2 * 3 * 21);
  fr_read_t r = {&f.td, f.w, f.x, AIMC_FORWARD, 3, 0};
  size_t n = (size_t)(2 * 3 * 17);
  float *e = test_alloc(n), *g = test_alloc(n);
  uint64_t pe = 0, pf = 0;
  fr_run(&r, AIMC_BACKEND_CUDA, AIMC_READ_EXACT, e, &pe);
  fr_run(&r, AIMC_BACKEND_CUDA, AIMC_READ_FAST, g, &pf);
  cuda_expect_floats("zero inputs, fast vs exact", e, g, n, 3, 17);
  cr_assert_eq(pe, pf);
  free(e), free(g);
  fr_free(&f);
}

CUDA_SUITE_MAIN("test_cuda_fast_read")
