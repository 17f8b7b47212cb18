/* The run-time dispatched vector paths of the CPU backend (AVX2, AVX-512)
 * against the portable path, bit for bit: first each kernel on random and
 * edge-case inputs, then every operation through the public API with the
 * path forced by AIMC_CPU_SIMD, at 1 and 2 threads and with chunked pulse
 * trains (test_determinism covers more thread counts on the default path). A path this CPU lacks is reported and skipped (the CI machine has
 * both). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <criterion/criterion.h>

#include "common.h"
#include "kernels/common/rng.h"
#include "kernels/common/update.h"
#include "kernels/cpu/cpu_simd.h"

static const char *const path_names[] = {"portable", "avx2", "avx512"};

/* The vector paths this CPU runs (portable excluded). */
static int vector_paths(const aimc_simd_ops_t *ops[2]) {
  int n = 0;
  for (int l = AIMC_SIMD_AVX2; l <= AIMC_SIMD_AVX512; ++l) {
    const aimc_simd_ops_t *o = aimc_cpu_simd_level((aimc_simd_level_t)l);
    if (o) ops[n++] = o;
    else cr_log_warn("SIMD path %s not available on this CPU: not compared", path_names[l]);
  }
  return n;
}

static void assert_same_bits(const void *a, const void *b, size_t bytes, const char *what,
                             const char *path) {
  cr_assert(memcmp(a, b, bytes) == 0, "%s: path %s differs from the portable path", what, path);
}

Test(simd, dispatch_honours_the_environment) {
  setenv("AIMC_CPU_SIMD", "portable", 1);
  cr_assert_str_eq(aimc_cpu_simd()->name, "portable");
  const aimc_simd_ops_t *ops[2];
  int n = vector_paths(ops);
  for (int k = 0; k < n; ++k) {
    setenv("AIMC_CPU_SIMD", ops[k]->name, 1);
    cr_assert_str_eq(aimc_cpu_simd()->name, ops[k]->name);
  }
  unsetenv("AIMC_CPU_SIMD");
}

/* Normals of random blocks, and of blocks whose words hit the edges of the
 * mapping (u = 1 for the log, quadrant boundaries for sin/cos), for every
 * count 1..40 (tails of 8 and 16 lanes) and a long run. */
Test(simd, normals_match_aimc_normal4) {
  const aimc_simd_ops_t *ops[2];
  int np = vector_paths(ops);
  enum { N = 20000 };
  uint64_t *blocks = malloc(N * sizeof *blocks);
  float *ref = malloc(4 * N * sizeof *ref), *got = malloc(4 * N * sizeof *got);
  cr_assert(blocks && ref && got);
  test_rng_t r = {42};
  for (int k = 0; k < N; ++k) blocks[k] = k < 64 ? (uint64_t)k : test_next(&r);
  uint64_t key = 0x0123456789abcdefull, sub = aimc_subsequence(AIMC_STREAM_UPDATE_PULSE, 77);
  for (int k = 0; k < N; ++k) aimc_normal4(key, sub, blocks[k], ref + 4 * k);
  aimc_simd_portable.normal4_blocks(key, sub, blocks, N, got);
  assert_same_bits(ref, got, 4 * N * sizeof *ref, "normal4_blocks", "portable");
  for (int p = 0; p < np; ++p) {
    for (int n = 1; n <= 40; ++n) {
      memset(got, 0xff, 4 * (size_t)(n + 1) * sizeof *got);
      ops[p]->normal4_blocks(key, sub, blocks + 3, n, got);
      assert_same_bits(ref + 12, got, 4 * (size_t)n * sizeof *got, "normal4_blocks", ops[p]->name);
      uint32_t sentinel;
      memcpy(&sentinel, got + 4 * n, 4);
      cr_assert_eq(sentinel, 0xffffffffu, "%s wrote past block %d", ops[p]->name, n);
    }
    ops[p]->normal4_blocks(key, sub, blocks, N, got);
    assert_same_bits(ref, got, 4 * N * sizeof *ref, "normal4_blocks", ops[p]->name);
  }
  free(blocks), free(ref), free(got);
}

/* Products of every small shape (tails of 8 columns, remainders of 4 rows),
 * inputs with exact zeros (skipped rows of the transposed product). */
Test(simd, read_products_match) {
  const aimc_simd_ops_t *ops[2];
  int np = vector_paths(ops);
  test_rng_t r = {7};
  enum { R = 13, C = 70 };
  float w[R * C], v[C > R ? C : R], ref[C], got[C];
  for (int rows = 1; rows <= R; ++rows)
    for (int cols = 1; cols <= C; ++cols) {
      test_fill(&r, w, (size_t)(rows * cols), -1.0f, 1.0f);
      test_fill(&r, v, C, -1.0f, 1.0f);
      for (int k = 0; k < C; k += 3) v[k] = 0.0f;
      aimc_simd_portable.dot_rows(w, rows, cols, v, ref);
      for (int p = 0; p < np; ++p) {
        ops[p]->dot_rows(w, rows, cols, v, got);
        assert_same_bits(ref, got, (size_t)rows * sizeof *ref, "dot_rows", ops[p]->name);
      }
      aimc_simd_portable.dot_cols(w, rows, cols, v, ref);
      for (int p = 0; p < np; ++p) {
        ops[p]->dot_cols(w, rows, cols, v, got);
        assert_same_bits(ref, got, (size_t)cols * sizeof *ref, "dot_cols", ops[p]->name);
      }
    }
}

/* The n-sample products against the portable one-sample products, bit for
 * bit: every small shape (tails of 8 and 16 columns, remainders of 4 rows),
 * sample counts 1..19 (blocks of 8 and their remainders, odd counts),
 * strided inputs and outputs, samples with and without exact zeros (the
 * transposed kernel's masked and unmasked paths), and an infinite weight
 * on a zero input (a skipped row must stay skipped: inf * 0 is NaN). */
Test(simd, read_products_of_many_samples_match) {
  const aimc_simd_ops_t *ops[2];
  int np = vector_paths(ops);
  test_rng_t r = {17};
  enum { R = 13, C = 37, NB = 19, VS = 41, YS = 43 };
  float *w = malloc(R * C * sizeof *w), *v = malloc(NB * VS * sizeof *v);
  float *ref = malloc(NB * YS * sizeof *ref), *got = malloc(NB * YS * sizeof *got);
  cr_assert(w && v && ref && got);
  for (int rows = 1; rows <= R; rows += 2)
    for (int cols = 1; cols <= C; ++cols)
      for (int nb = 1; nb <= NB; nb += (nb < 10 ? 1 : 4)) {
        test_fill(&r, w, (size_t)(rows * cols), -1.0f, 1.0f);
        test_fill(&r, v, NB * VS, -1.0f, 1.0f);
        if (cols % 3 == 0) /* zeros in some samples only */
          for (int s = 1; s < nb; s += 3) v[s * VS + (s % (rows < cols ? rows : cols))] = 0.0f;
        if (cols % 5 == 0) { /* a skipped row under an infinite weight */
          w[(rows - 1) * cols] = INFINITY;
          for (int s = 0; s < nb; s += 2) v[s * VS + rows - 1] = 0.0f;
        }
        for (int dir = 0; dir < 2; ++dir) {
          int64_t n_out = dir ? cols : rows;
          memset(ref, 0, NB * YS * sizeof *ref);
          for (int s = 0; s < nb; ++s) {
            if (dir) aimc_simd_portable.dot_cols(w, rows, cols, v + s * VS, ref + s * YS);
            else aimc_simd_portable.dot_rows(w, rows, cols, v + s * VS, ref + s * YS);
          }
          const aimc_simd_ops_t *all[3] = {&aimc_simd_portable, np > 0 ? ops[0] : NULL,
                                           np > 1 ? ops[1] : NULL};
          for (int p = 0; p < 3 && all[p]; ++p) {
            memset(got, 0, NB * YS * sizeof *got);
            if (dir) all[p]->dot_cols_n(w, rows, cols, v, VS, nb, got, YS);
            else all[p]->dot_rows_n(w, rows, cols, v, VS, nb, got, YS);
            for (int s = 0; s < nb; ++s)
              cr_assert(memcmp(ref + s * YS, got + s * YS, (size_t)YS * sizeof *ref) == 0,
                        "%s: path %s differs (rows %d cols %d samples %d, sample %d)",
                        dir ? "dot_cols_n" : "dot_rows_n", all[p]->name, rows, cols, nb, s);
            (void)n_out;
          }
        }
      }
  free(w), free(v), free(ref), free(got);
}

/* IO parameters of one case of the IO-step comparisons: every option the
 * vector steps touch, on or off by the bits of k. */
static aimc_io_params_t io_case(int k) {
  aimc_io_params_t p;
  memset(&p, 0, sizeof p);
  p.inp_bound = k & 1 ? 1.0f : 0.7f;
  p.inp_step = k & 2 ? 2.0f / 126.0f : 0.0f;
  p.inp_asymmetry = k & 4 ? 0.1f : 0.0f;
  p.out_bound = k & 8 ? 12.0f : 0.9f;
  p.out_step = k & 16 ? 2.0f * p.out_bound / 510.0f : 0.0f;
  p.out_sto_round = (k & 32) != 0;
  p.out_asymmetry = k & 64 ? 0.2f : 0.0f;
  p.has_nonlinearity = (k & 128) != 0;
  p.w_noise_type = k & 256 ? AIMC_W_NOISE_PCM_READ
                           : k & 512 ? AIMC_W_NOISE_ADDITIVE_CONSTANT : AIMC_W_NOISE_NONE;
  p.w_noise = k & 1024 ? 0.0f : 0.05f;
  p.bm_test_negative_bound = (k & 2048) != 0;
  p.out_noise = 0.06f;
  return p;
}

/* io_stats, io_inputs and io_outputs of the vector paths against the
 * portable ones (themselves the io.h steps), bit for bit, the hit flag
 * included: lengths 1..40 (tails of 8), values around the bounds, exact
 * zeros, NaN and infinities; outputs with and without random numbers and
 * with some outputs noiseless (sigma 0). */
Test(simd, read_io_steps_match) {
  const aimc_simd_ops_t *ops[2];
  int np = vector_paths(ops);
  test_rng_t r = {19};
  enum { N = 40 };
  float x[N], y[N], q[N], nl[N], sigma[N], z0[N], z1[N], ref[N], got[N];
  uint32_t w2[N];
  for (int k = 0; k < 4096; k += 7) {
    aimc_io_params_t p = io_case(k);
    int n = 1 + k % N;
    test_fill(&r, x, N, -1.5f, 1.5f);
    test_fill(&r, y, N, -15.0f, 15.0f);
    test_fill(&r, q, N, 0.0f, 2.0f);
    test_fill(&r, nl, N, 0.0f, 0.5f);
    test_fill(&r, sigma, N, 0.0f, 0.1f);
    test_fill(&r, z0, N, -3.0f, 3.0f);
    test_fill(&r, z1, N, -3.0f, 3.0f);
    for (int j = 0; j < N; ++j) w2[j] = (uint32_t)test_next(&r);
    x[k % n] = 0.0f, y[(k + 1) % n] = 0.0f, sigma[(k + 2) % n] = 0.0f;
    if (k % 3 == 0) x[(k + 3) % n] = NAN, y[(k + 4) % n] = NAN;
    if (k % 5 == 0) x[(k + 5) % n] = -INFINITY, y[(k + 6) % n] = INFINITY;
    if (k % 2 == 0) y[(k + 7) % n] = p.out_bound, x[(k + 8) % n] = -p.inp_bound; /* on the bounds */
    else y[(k + 7) % n] = -p.out_bound, x[(k + 8) % n] = p.inp_bound;
    float sa[4], sb[4];
    aimc_simd_portable.io_stats(x, n, &sa[0], &sa[1], &sa[2], &sa[3]);
    float scale = k % 2 ? 1.0f : 1.0f / 0.37f;
    aimc_simd_portable.io_inputs(&p, x, n, scale, ref);
    int random = k % 4 != 1;
    const float *qo = p.w_noise_type == AIMC_W_NOISE_PCM_READ ? q : NULL;
    float hr[N];
    int hit_ref = aimc_simd_portable.io_outputs(&p, y, qo, 0.8f, nl, sigma, random ? z0 : NULL,
                                                random ? z1 : NULL, random ? w2 : NULL, n, hr);
    for (int pp = 0; pp < np; ++pp) {
      ops[pp]->io_stats(x, n, &sb[0], &sb[1], &sb[2], &sb[3]);
      cr_assert(sa[0] == sb[0] && memcmp(&sa[2], &sb[2], 2 * sizeof(float)) == 0,
                "io_stats: path %s differs (case %d)", ops[pp]->name, k);
      cr_assert(sa[1] == sb[1], "io_stats max: path %s differs (case %d)", ops[pp]->name, k);
      memset(got, 0x55, sizeof got);
      ops[pp]->io_inputs(&p, x, n, scale, got);
      assert_same_bits(ref, got, (size_t)n * sizeof *ref, "io_inputs", ops[pp]->name);
      memset(got, 0x55, sizeof got);
      int hit = ops[pp]->io_outputs(&p, y, qo, 0.8f, nl, sigma, random ? z0 : NULL,
                                    random ? z1 : NULL, random ? w2 : NULL, n, got);
      assert_same_bits(hr, got, (size_t)n * sizeof *hr, "io_outputs", ops[pp]->name);
      cr_assert_eq(hit, hit_ref, "io_outputs hit: path %s differs (case %d)", ops[pp]->name, k);
    }
  }
}

Test(simd, coincidences_match) {
  const aimc_simd_ops_t *ops[2];
  int np = vector_paths(ops);
  test_rng_t r = {9};
  enum { CHUNK = 5, NW = 3, N = 37 };
  uint32_t x[N * CHUNK * NW], d[CHUNK * NW];
  int32_t ref[CHUNK * N], got[CHUNK * N];
  for (size_t k = 0; k < sizeof x / sizeof x[0]; ++k) x[k] = (uint32_t)test_next(&r);
  for (size_t k = 0; k < sizeof d / sizeof d[0]; ++k) d[k] = (uint32_t)test_next(&r);
  for (int32_t nw = 1; nw <= NW; ++nw) {
    int32_t nwc[CHUNK] = {nw, 0, nw, nw, 0};
    /* the update's line-major layout: line j, sample c at (j * CHUNK + c) * NW */
    aimc_simd_portable.coincidences(x, CHUNK * NW, NW, d, NW, nwc, CHUNK, N, N, ref);
    for (int p = 0; p < np; ++p) {
      memset(got, 0x55, sizeof got);
      ops[p]->coincidences(x, CHUNK * NW, NW, d, NW, nwc, CHUNK, N, N, got);
      assert_same_bits(ref, got, sizeof ref, "coincidences", ops[p]->name);
    }
  }
}

/* The pulse kernels (every model with one) on random devices near and at
 * their bounds, stuck and one-sided devices, random
 * signed counts (up to 9 pulses a sample), skipped weights, every kernel,
 * with and without noise, for lengths that leave tails of 8 and 16 lanes. */
Test(simd, pulse_kernels_match) {
  const aimc_simd_ops_t *ops[2];
  int np = vector_paths(ops);
  test_rng_t r = {11};
  enum { N = 45, NB = 6, ZN = N * NB * 9 };
  float bmin[N], bmax[N], s_up[N], s_dn[N], p_up[N], p_dn[N], h0[N], ref[N], got[N];
  float *z = malloc(ZN * sizeof *z);
  int32_t cnt[NB * N], zpos[N];
  cr_assert(z);
  test_fill(&r, z, ZN, -3.0f, 3.0f);
  for (int j = 0; j < N; ++j) {
    bmin[j] = test_uniform(&r, -1.0f, -0.2f);
    bmax[j] = test_uniform(&r, 0.2f, 1.0f);
    s_up[j] = test_uniform(&r, 0.01f, 0.2f);
    s_dn[j] = test_uniform(&r, 0.01f, 0.2f);
    p_up[j] = -s_up[j] / bmax[j];
    p_dn[j] = s_dn[j] / bmin[j];
    h0[j] = test_uniform(&r, bmin[j], bmax[j]);
  }
  h0[0] = bmax[0], h0[1] = bmin[1];
  bmin[5] = bmax[5] = h0[5] = 0.1f; /* a stuck device (ExpStep keeps it unclipped) */
  bmin[6] = 0.05f;                  /* bounds on one side of 0 (SoftBoundsReference) */
  bmax[7] = -0.05f, h0[7] = -0.5f;
  aimc_device_params_t dev;
  memset(&dev, 0, sizeof dev);
  dev.dw_min_std = 0.3f; /* aihwkit's ExpStep constants, and complex-noise terms */
  dev.es_A_up = 0.00081f, dev.es_A_down = 0.36833f;
  dev.es_gamma_up = 12.44625f, dev.es_gamma_down = 12.78785f;
  dev.es_a = 0.244f, dev.es_b = 0.2425f;
  dev.std_add = 0.01f, dev.std_slope = 0.02f;
  int zi = 0;
  for (int j = 0; j < N; ++j) {
    int total = 0;
    for (int c = 0; c < NB; ++c) {
      int32_t n = (int32_t)(test_next(&r) % 19u) - 9;
      cnt[c * N + j] = n;
      total += n < 0 ? -n : n;
    }
    zpos[j] = j % 7 == 3 ? -1 : zi;
    zi += total;
  }
  for (int kernel = 0; kernel <= AIMC_PULSE_KERNEL_EXP_COMPLEX; ++kernel)
    for (int noisy = 0; noisy <= 1; ++noisy)
      for (int n = 1; n <= N; n += 11) {
        aimc_pulse_seg_t ps = {n, NB, N, cnt, ref, bmin, bmax, s_up, s_dn,
                               kernel == 0 ? NULL : p_up, kernel == 0 ? NULL : p_dn,
                               z, zpos, 0.3f, kernel, noisy, &dev};
        memcpy(ref, h0, sizeof h0);
        aimc_simd_portable.pulse_seg(&ps);
        for (int p = 0; p < np; ++p) {
          memcpy(got, h0, sizeof h0);
          ps.h = got;
          ops[p]->pulse_seg(&ps);
          assert_same_bits(ref, got, sizeof ref, "pulse_seg", ops[p]->name);
        }
      }
  free(z);
}

/* The vector pulse kernels run several chunks of 16 (AVX-512) or 8 (AVX2)
 * weights interleaved, each at its own sample and pulse, and replace a
 * finished chunk with the next one: a long segment where chunks finish at
 * very different times (counts up to 40 in some, 0 or 1 in others), whole
 * chunks without pulses or skipped, samples without pulses, and lengths
 * that end on partial chunks. Every kernel, with and without noise. */
Test(simd, pulse_kernels_interleaved_chunks_match) {
  const aimc_simd_ops_t *ops[2];
  int np = vector_paths(ops);
  test_rng_t r = {17};
  enum { N = 389, NB = 7 };
  float *buf = malloc(9 * N * sizeof *buf);
  int32_t *cnt = malloc(NB * N * sizeof *cnt), *zpos = malloc(N * sizeof *zpos);
  cr_assert(buf && cnt && zpos);
  float *bmin = buf, *bmax = buf + N, *s_up = buf + 2 * N, *s_dn = buf + 3 * N, *p_up = buf + 4 * N,
        *p_dn = buf + 5 * N, *h0 = buf + 6 * N, *ref = buf + 7 * N, *got = buf + 8 * N;
  for (int j = 0; j < N; ++j) {
    bmin[j] = test_uniform(&r, -1.0f, -0.2f);
    bmax[j] = test_uniform(&r, 0.2f, 1.0f);
    s_up[j] = test_uniform(&r, 0.001f, 0.05f);
    s_dn[j] = test_uniform(&r, 0.001f, 0.05f);
    p_up[j] = -s_up[j] / bmax[j];
    p_dn[j] = s_dn[j] / bmin[j];
    h0[j] = test_uniform(&r, bmin[j], bmax[j]);
  }
  bmin[70] = bmax[70] = h0[70] = -0.1f; /* stuck */
  aimc_device_params_t dev;
  memset(&dev, 0, sizeof dev);
  dev.dw_min_std = 0.3f;
  dev.es_A_up = 0.00081f, dev.es_A_down = 0.36833f;
  dev.es_gamma_up = 12.44625f, dev.es_gamma_down = 12.78785f;
  dev.es_a = 0.244f, dev.es_b = 0.2425f;
  dev.std_add = 0.01f, dev.std_slope = 0.02f;
  int zi = 0;
  for (int j = 0; j < N; ++j) {
    int chunk = j / 16, total = 0;
    /* chunk 2 has no pulses, chunk 5 is skipped, chunks 3 and 9 take many */
    uint32_t span = chunk == 2 ? 1u : (chunk == 3 || chunk == 9) ? 81u : (chunk % 4 == 1) ? 3u : 13u;
    for (int c = 0; c < NB; ++c) {
      int32_t n = (int32_t)(test_next(&r) % span) - (int32_t)(span / 2u);
      if (c == 4 && chunk % 3 == 0) n = 0; /* a sample without pulses in some chunks */
      cnt[c * N + j] = n;
      total += n < 0 ? -n : n;
    }
    zpos[j] = chunk == 5 || j % 11 == 7 ? -1 : zi;
    zi += total;
  }
  float *z = malloc((size_t)(zi + 1) * sizeof *z);
  cr_assert(z);
  test_fill(&r, z, (size_t)zi + 1, -3.0f, 3.0f);
  const int lengths[] = {N, 200, 64, 63, 17};
  for (int kernel = 0; kernel <= AIMC_PULSE_KERNEL_EXP_COMPLEX; ++kernel)
    for (int noisy = 0; noisy <= 1; ++noisy)
      for (int li = 0; li < 5; ++li) {
        aimc_pulse_seg_t ps = {lengths[li], NB, N, cnt, ref, bmin, bmax, s_up, s_dn,
                               kernel == 0 ? NULL : p_up, kernel == 0 ? NULL : p_dn,
                               z, zpos, 0.3f, kernel, noisy, &dev};
        memcpy(ref, h0, N * sizeof *ref);
        aimc_simd_portable.pulse_seg(&ps);
        for (int p = 0; p < np; ++p) {
          memcpy(got, h0, N * sizeof *got);
          ps.h = got;
          ops[p]->pulse_seg(&ps);
          assert_same_bits(ref, got, N * sizeof *ref, "pulse_seg (interleaved)", ops[p]->name);
        }
      }
  free(z), free(buf), free(cnt), free(zpos);
}

/* Pulse trains of many lines of one sample: every train length across word
 * boundaries (1 .. 100 slots), line counts that leave tails of 8 and 16
 * lanes, line numbers whose counters fill the high word, probabilities 0,
 * negative, NaN, tiny, 1 and above, with strided probabilities and words. */
Test(simd, pulse_trains_match) {
  const aimc_simd_ops_t *ops[2];
  int np = vector_paths(ops);
  test_rng_t r = {23};
  enum { N = 41, PS = 3, MAXW = 4, WS = MAXW + 1 };
  float p[N * PS];
  test_fill(&r, p, N * PS, -0.05f, 1.05f);
  p[0] = 0.0f, p[PS] = -0.0f, p[2 * PS] = aimc_bits_float(0x7fc00000u), p[3 * PS] = 1e-7f;
  p[4 * PS] = 1.0f, p[5 * PS] = 2.0f;
  uint64_t key = 0x0badc0ffee123457ull, sub = aimc_subsequence(AIMC_STREAM_UPDATE_X, 99);
  const int32_t bls[] = {1, 3, 4, 5, 31, 32, 33, 64, 65, 100};
  const uint64_t line0s[] = {0, 12345, (1ull << 40) + 7};
  uint32_t ref[N * WS], got[N * WS];
  for (size_t bi = 0; bi < sizeof bls / sizeof bls[0]; ++bi)
    for (int li = 0; li < 3; ++li)
      for (int n = 1; n <= N; n += (n < 18 ? 1 : 7)) {
        memset(ref, 0xa5, sizeof ref);
        aimc_simd_portable.make_trains(key, sub, line0s[li], p, PS, n, bls[bi], ref, WS);
        for (int k = 0; k < n; ++k) { /* the portable path is aimc_make_train */
          uint32_t one[MAXW];
          aimc_make_train(key, sub, line0s[li] + (uint64_t)k, p[k * PS], bls[bi], one);
          assert_same_bits(one, ref + k * WS, (size_t)AIMC_TRAIN_WORDS(bls[bi]) * 4, "make_trains",
                           "portable");
        }
        for (int q = 0; q < np; ++q) {
          memset(got, 0xa5, sizeof got);
          ops[q]->make_trains(key, sub, line0s[li], p, PS, n, bls[bi], got, WS);
          /* the words of each train, and nothing else touched */
          assert_same_bits(ref, got, sizeof ref, "make_trains", ops[q]->name);
        }
      }
}

/* The write noise of a pulsed update's single chunk: the first normal of
 * io_normals' blocks is aimc_normal1 of the same block (the per-weight
 * draw of aimc_refresh_visible), on every path, for every count 1..40. */
Test(simd, write_noise_normals_match_aimc_normal1) {
  const aimc_simd_ops_t *ops[3];
  ops[0] = &aimc_simd_portable;
  int np = 1 + vector_paths(ops + 1);
  uint64_t key = 0xfedcba9876543210ull, sub = aimc_subsequence(AIMC_STREAM_WRITE_NOISE, 12345);
  enum { N = 40 };
  float ref[N], z0[N + 1], z1[N];
  uint32_t w2[N];
  uint64_t first = (5ull << 32) + 77u;
  for (int k = 0; k < N; ++k) ref[k] = aimc_normal1(key, sub, first + (uint64_t)k);
  for (int p = 0; p < np; ++p)
    for (int n = 1; n <= N; ++n) {
      memset(z0, 0xff, sizeof z0);
      ops[p]->io_normals(key, sub, first, n, z0, z1, w2);
      assert_same_bits(ref, z0, (size_t)n * sizeof *z0, "io_normals (write noise)", ops[p]->name);
      uint32_t sentinel;
      memcpy(&sentinel, z0 + n, 4);
      cr_assert_eq(sentinel, 0xffffffffu, "%s wrote past block %d", ops[p]->name, n);
    }
}

/* ---- Every operation through the API, each path and thread count --------- */

typedef struct scenario {
  aimc_algorithm_t algo;
  aimc_device_model_t model;
  aimc_pulse_type_t pulse;
  int mult_noise, io_variant;
} scenario_t;

/* Updates then forward and backward reads of three tiles; the hash of the
 * weights and outputs after each step. */
static uint64_t run_scenario(const scenario_t *sc, int threads) {
  aimc_context_t *ctx = test_context(threads, 5);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = 3, td.rows = 29, td.cols = 43, td.seed = 3;
  if (sc->algo != AIMC_ALGO_SGD) CK(aimc_tile_config_algorithm(&td.config, sc->algo));
  aimc_device_desc_default(&td.config.device, sc->model);
  aimc_device_desc_default(&td.config.fast_device, sc->model);
  td.config.device.mult_noise = sc->mult_noise;
  td.config.fast_device.mult_noise = sc->mult_noise;
  td.config.update.pulse_type = sc->pulse;
  td.config.update.learning_rate = 0.2f;
  if (sc->io_variant == 1) { /* the IO options that draw more random numbers */
    aimc_io_desc_t *io[2] = {&td.config.forward, &td.config.backward};
    for (int k = 0; k < 2; ++k) {
      io[k]->inp_noise = 0.02f;
      io[k]->inp_sto_round = 1;
      io[k]->out_sto_round = 1;
      io[k]->w_noise_type = AIMC_W_NOISE_PCM_READ;
      io[k]->w_noise = 0.01f;
      io[k]->out_noise_std = 0.1f;
      io[k]->out_nonlinearity = 0.5f;
      io[k]->noise_management = AIMC_NM_ABS_MAX_NP_SUM;
    }
    td.config.forward.bound_management = AIMC_BM_ITERATIVE_WORST_CASE;
  } else if (sc->io_variant == 2) {
    td.config.forward.w_noise_type = AIMC_W_NOISE_ADDITIVE_CONSTANT;
    td.config.forward.w_noise = 0.02f;
    td.config.backward.is_perfect = 1;
  } else if (sc->io_variant == 3) { /* bound management at work: small output bounds */
    aimc_io_desc_t *io[2] = {&td.config.forward, &td.config.backward};
    for (int k = 0; k < 2; ++k) {
      io[k]->out_bound = 0.3f;
      io[k]->inp_res = 1.0f / 62.0f;
      io[k]->out_res = 1.0f / 254.0f;
      io[k]->inp_asymmetry = 0.05f;
      io[k]->out_asymmetry = 0.1f;
      io[k]->w_noise_type = AIMC_W_NOISE_ADDITIVE_CONSTANT;
      io[k]->w_noise = 0.01f;
      io[k]->noise_management = AIMC_NM_MAX;
    }
    td.config.forward.bound_management = AIMC_BM_ITERATIVE_WORST_CASE;
  } else if (sc->io_variant == 4) { /* no noise at all, DAC/ADC only; forward perfect */
    td.config.forward.is_perfect = 1;
    td.config.backward.out_noise = 0.0f;
    td.config.backward.noise_management = AIMC_NM_CONSTANT;
    td.config.backward.nm_thres = 0.5f;
    td.config.backward.bound_management = AIMC_BM_NONE;
  }
  aimc_tiles_t *t = test_tiles(ctx, &td);
  enum { B = 9 };
  size_t nx = 3 * B * 43, nd = 3 * B * 29, nw = 3 * 29 * 43;
  float *x = test_alloc(nx), *d = test_alloc(nd), *y = test_alloc(nx + nd), *w = test_alloc(nw);
  test_rng_t r = {13};
  test_fill(&r, x, nx, -1.0f, 1.0f);
  test_fill(&r, d, nd, -1.0f, 1.0f);
  for (size_t k = 0; k < nx; k += 5) x[k] = 0.0f;
  uint64_t h = TEST_FNV_START;
  for (int step = 0; step < 3; ++step) {
    CK(aimc_tiles_update(t, x, d, B));
    CK(aimc_tiles_get_weights(t, w));
    h = test_fnv(w, nw * sizeof *w, h);
    CK(aimc_tiles_forward(t, x, y, B));
    h = test_fnv(y, nd * sizeof *y, h);
    CK(aimc_tiles_backward(t, d, y, B));
    h = test_fnv(y, nx * sizeof *y, h);
  }
  if (sc->io_variant == 3) { /* the case is there to repeat passes: make sure it does */
    aimc_tile_stats_t stats[3];
    CK(aimc_tiles_get_stats(t, stats));
    cr_assert_gt(stats[0].forward_passes, stats[0].forward_samples,
                 "io variant 3 made no bound-management repeat");
    h = test_fnv(stats, sizeof stats, h);
  }
  free(x), free(d), free(y), free(w);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
  return h;
}

/* The hash of a scenario on every available path must equal the portable
 * path's at 1 thread: each path once at 1 thread with whole trains and once
 * at 2 threads with trains chunked a few samples at a time (the portable
 * path too), so threads and chunking are crossed with every path. */
static void check_scenario(const scenario_t *sc) {
  setenv("AIMC_CPU_SIMD", "portable", 1);
  unsetenv("AIMC_CPU_TRAIN_BUDGET");
  uint64_t ref = run_scenario(sc, 1);
  const aimc_simd_ops_t *ops[2];
  int np = vector_paths(ops);
  for (int p = -1; p < np; ++p) {
    const char *name = p < 0 ? "portable" : ops[p]->name;
    setenv("AIMC_CPU_SIMD", name, 1);
    for (int threads = p < 0 ? 2 : 1; threads <= 2; ++threads) {
      int chunked = threads == 2;
      if (chunked) setenv("AIMC_CPU_TRAIN_BUDGET", "1500", 1);
      else unsetenv("AIMC_CPU_TRAIN_BUDGET");
      uint64_t h = run_scenario(sc, threads);
      cr_assert_eq(h, ref,
                   "algorithm %d device %d pulse %d mult_noise %d io %d: path %s, %d threads, "
                   "chunked %d differs from portable at 1 thread",
                   sc->algo, sc->model, sc->pulse, sc->mult_noise, sc->io_variant, name, threads,
                   chunked);
    }
  }
  unsetenv("AIMC_CPU_SIMD");
  unsetenv("AIMC_CPU_TRAIN_BUDGET");
}

/* Whether the model's pulse rule reads mult_noise. */
static int has_mult_noise(int model) {
  return model == AIMC_DEVICE_LINEAR_STEP || model == AIMC_DEVICE_SOFT_BOUNDS ||
         model == AIMC_DEVICE_SOFT_BOUNDS_REFERENCE;
}

Test(simd, sgd_every_device_and_pulse_type) {
  const aimc_pulse_type_t pulses[] = {AIMC_PULSE_STOCHASTIC_COMPRESSED, AIMC_PULSE_MEAN_COUNT,
                                      AIMC_PULSE_DETERMINISTIC_IMPLICIT, AIMC_PULSE_NONE,
                                      AIMC_PULSE_NONE_WITH_DEVICE};
  for (int m = 0; m < AIMC_DEVICE_MODEL_COUNT; ++m) {
    if (m == AIMC_DEVICE_PIECEWISE_STEP) continue; /* needs node vectors (test_devices) */
    for (size_t p = 0; p < sizeof pulses / sizeof pulses[0]; ++p)
      for (int mult = 0; mult <= has_mult_noise(m); ++mult) {
        scenario_t sc = {AIMC_ALGO_SGD, (aimc_device_model_t)m, pulses[p], mult, 0};
        check_scenario(&sc);
      }
  }
}

Test(simd, reads_with_every_io_option) {
  for (int io = 0; io <= 4; ++io) {
    scenario_t sc = {AIMC_ALGO_SGD, AIMC_DEVICE_SOFT_BOUNDS, AIMC_PULSE_STOCHASTIC_COMPRESSED, 0,
                     io};
    check_scenario(&sc);
  }
}

Test(simd, algorithm_steps) {
  const aimc_algorithm_t algos[] = {AIMC_ALGO_TIKI_TAKA, AIMC_ALGO_TTV2, AIMC_ALGO_CHOPPED_TTV2,
                                    AIMC_ALGO_AGAD, AIMC_ALGO_MIXED_PRECISION,
                                    AIMC_ALGO_STELLAR, AIMC_ALGO_PANTHER, AIMC_ALGO_FLOAT_SGD};
  for (size_t a = 0; a < sizeof algos / sizeof algos[0]; ++a) {
    aimc_device_model_t m = algos[a] == AIMC_ALGO_PANTHER ? AIMC_DEVICE_CONSTANT_STEP
                                                          : AIMC_DEVICE_SOFT_BOUNDS;
    scenario_t sc = {algos[a], m, AIMC_PULSE_STOCHASTIC_COMPRESSED, 0, 0};
    check_scenario(&sc);
  }
}

/* The presets the benchmark runs: c-TTv2 and AGAD on ReRamSB. */
Test(simd, reram_presets) {
  const aimc_algorithm_t algos[] = {AIMC_ALGO_CHOPPED_TTV2, AIMC_ALGO_AGAD};
  for (int a = 0; a < 2; ++a) {
    uint64_t ref = 0;
    const aimc_simd_ops_t *ops[2];
    int np = vector_paths(ops);
    for (int p = -1; p < np; ++p) {
      setenv("AIMC_CPU_SIMD", p < 0 ? "portable" : ops[p]->name, 1);
      for (int threads = 1; threads <= 2; ++threads) {
        aimc_context_t *ctx = test_context(threads, 5);
        aimc_tiles_desc_t td;
        aimc_tiles_desc_default(&td);
        td.n_tiles = 2, td.rows = 24, td.cols = 31, td.seed = 8;
        CK(aimc_tile_config_preset(&td.config, algos[a], AIMC_PRESET_RERAM_SB));
        aimc_tiles_t *t = test_tiles(ctx, &td);
        enum { B = 4 };
        float x[2 * B * 31], d[2 * B * 24], w[2 * 24 * 31];
        test_rng_t r = {21};
        test_fill(&r, x, sizeof x / sizeof x[0], -1.0f, 1.0f);
        test_fill(&r, d, sizeof d / sizeof d[0], -1.0f, 1.0f);
        for (int s = 0; s < 40; ++s) CK(aimc_tiles_update(t, x, d, B));
        CK(aimc_tiles_get_weights(t, w));
        uint64_t h = test_fnv(w, sizeof w, TEST_FNV_START);
        if (p < 0 && threads == 1) ref = h;
        cr_assert_eq(h, ref, "algorithm %d: path %s, %d threads differs", algos[a],
                     p < 0 ? "portable" : ops[p]->name, threads);
        aimc_tiles_destroy(t);
        aimc_context_destroy(ctx);
      }
    }
    unsetenv("AIMC_CPU_SIMD");
  }
}

/* ---- Sparse updates: rows without pulses skipped --------------------------
 *
 * The row loop skips the rows of a chunk whose output line has no pulse in
 * any sample (no counting, no normals, no walk). These cases make such rows
 * common: whole rows and columns at zero, outputs mostly 100 times smaller
 * than their sample's largest (trains almost always empty at this small
 * rate), samples 3 to 5 without any output (at a budget of 3 samples per
 * chunk, a chunk where every line is empty), then updates that can pulse
 * only one weight. Every path, 1 and 2 threads, whole and chunked trains,
 * must give the bits of the portable path walking every row
 * (AIMC_CPU_UPDATE_DENSE=1) at 1 thread. */

typedef struct sparse_case {
  aimc_algorithm_t algo;
  aimc_device_model_t model;
  float write_noise, dw_min_std;
  int mult_noise;
} sparse_case_t;

enum { SP_TILES = 2, SP_ROWS = 37, SP_COLS = 140, SP_B = 8, SP_I = 11, SP_J = 20 };

/* The sparse inputs of tile t: columns j % 3 == 0 and 64 .. 127 (a whole
 * block of lines drawn together) and rows i % 2 == 0 zero, outputs of rows
 * i % 7 != 1 scaled by 0.01, samples 3..5 without outputs. */
static void sparse_inputs(test_rng_t *r, float *x, float *d) {
  for (int t = 0; t < SP_TILES; ++t)
    for (int b = 0; b < SP_B; ++b) {
      float *xb = x + ((size_t)t * SP_B + (size_t)b) * SP_COLS;
      float *db = d + ((size_t)t * SP_B + (size_t)b) * SP_ROWS;
      for (int j = 0; j < SP_COLS; ++j) xb[j] = (j % 3 == 0 || (j >= 64 && j < 128)) ? 0.0f : test_uniform(r, -1.0f, 1.0f);
      for (int i = 0; i < SP_ROWS; ++i) {
        float v = test_uniform(r, -1.0f, 1.0f) * (i % 7 == 1 ? 1.0f : 0.01f);
        db[i] = (i % 2 == 0 || (b >= 3 && b <= 5)) ? 0.0f : v;
      }
    }
}

/* Hash of the weights after each update and of the pulse counts; *changed
 * (when not NULL) gets whether the single-weight updates moved weight
 * (SP_I, SP_J) of tile 0, and the test fails if they moved any other. */
static uint64_t run_sparse(const sparse_case_t *sc, int threads, int *changed) {
  aimc_context_t *ctx = test_context(threads, 17);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = SP_TILES, td.rows = SP_ROWS, td.cols = SP_COLS, td.seed = 23;
  if (sc->algo != AIMC_ALGO_SGD) CK(aimc_tile_config_algorithm(&td.config, sc->algo));
  aimc_device_desc_t *dev[2] = {&td.config.device, &td.config.fast_device};
  for (int k = 0; k < 2; ++k) {
    aimc_device_desc_default(dev[k], sc->model);
    dev[k]->write_noise_std = sc->write_noise;
    dev[k]->dw_min_std = sc->dw_min_std;
    dev[k]->mult_noise = sc->mult_noise;
  }
  td.config.update.learning_rate = 0.002f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  size_t nx = (size_t)SP_TILES * SP_B * SP_COLS, nd = (size_t)SP_TILES * SP_B * SP_ROWS;
  size_t nw = (size_t)SP_TILES * SP_ROWS * SP_COLS;
  float *x = test_alloc(nx), *d = test_alloc(nd), *w = test_alloc(nw), *w0 = test_alloc(nw);
  test_rng_t r = {31};
  uint64_t h = TEST_FNV_START;
  for (int step = 0; step < 3; ++step) {
    sparse_inputs(&r, x, d);
    CK(aimc_tiles_update(t, x, d, SP_B));
    CK(aimc_tiles_get_weights(t, w));
    h = test_fnv(w, nw * sizeof *w, h);
  }
  /* one sample, one input and one output line: only weight (SP_I, SP_J)
   * of tile 0 can take a pulse */
  memset(x, 0, nx * sizeof *x);
  memset(d, 0, nd * sizeof *d);
  x[SP_J] = 0.9f;
  d[SP_I] = -1.0f;
  CK(aimc_tiles_get_weights(t, w0));
  for (int step = 0; step < 6; ++step) CK(aimc_tiles_update(t, x, d, 1));
  CK(aimc_tiles_get_weights(t, w));
  for (size_t k = 0; k < nw; ++k)
    if (k != (size_t)SP_I * SP_COLS + SP_J)
      cr_assert(memcmp(&w[k], &w0[k], sizeof *w) == 0, "weight %zu moved without a pulse", k);
  if (changed) *changed = memcmp(&w[SP_I * SP_COLS + SP_J], &w0[SP_I * SP_COLS + SP_J], 4) != 0;
  h = test_fnv(w, nw * sizeof *w, h);
  aimc_tile_stats_t stats[SP_TILES];
  CK(aimc_tiles_get_stats(t, stats));
  for (int k = 0; k < SP_TILES; ++k) {
    h = test_fnv(&stats[k].pulses_up, sizeof stats[k].pulses_up, h);
    h = test_fnv(&stats[k].pulses_down, sizeof stats[k].pulses_down, h);
  }
  free(x), free(d), free(w), free(w0);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
  return h;
}

static void check_sparse(const sparse_case_t *sc) {
  static const char *const budgets[] = {NULL, "1500", "7000"}; /* whole; 1 and 3 samples */
  setenv("AIMC_CPU_SIMD", "portable", 1);
  setenv("AIMC_CPU_UPDATE_DENSE", "1", 1);
  unsetenv("AIMC_CPU_TRAIN_BUDGET");
  int changed = 0;
  uint64_t ref = run_sparse(sc, 1, &changed);
  /* (an algorithm with a fast array shows its pulses only at a transfer) */
  cr_assert(changed || sc->algo != AIMC_ALGO_SGD,
            "model %d: the single-weight updates gave no pulse (case tests nothing)", sc->model);
  unsetenv("AIMC_CPU_UPDATE_DENSE");
  const aimc_simd_ops_t *ops[2];
  int np = vector_paths(ops);
  for (int p = -1; p < np; ++p) {
    const char *name = p < 0 ? "portable" : ops[p]->name;
    setenv("AIMC_CPU_SIMD", name, 1);
    for (int threads = 1; threads <= 2; ++threads)
      for (int k = 0; k < 3; ++k) {
        if (budgets[k]) setenv("AIMC_CPU_TRAIN_BUDGET", budgets[k], 1);
        else unsetenv("AIMC_CPU_TRAIN_BUDGET");
        uint64_t h = run_sparse(sc, threads, NULL);
        cr_assert_eq(h, ref,
                     "algorithm %d model %d write noise %g: path %s, %d threads, budget %s "
                     "differs from the dense walk",
                     sc->algo, sc->model, (double)sc->write_noise, name, threads,
                     budgets[k] ? budgets[k] : "whole");
      }
  }
  unsetenv("AIMC_CPU_SIMD");
  unsetenv("AIMC_CPU_TRAIN_BUDGET");
}

Test(simd, sparse_updates_match_the_dense_walk) {
  const sparse_case_t cases[] = {
      {AIMC_ALGO_SGD, AIMC_DEVICE_SOFT_BOUNDS, 1.0f, 0.3f, 0},  /* write noise */
      {AIMC_ALGO_SGD, AIMC_DEVICE_SOFT_BOUNDS, 0.0f, 0.3f, 1},
      {AIMC_ALGO_SGD, AIMC_DEVICE_CONSTANT_STEP, 0.0f, 0.0f, 0}, /* no normals at all */
      {AIMC_ALGO_SGD, AIMC_DEVICE_SOFT_BOUNDS_REFERENCE, 0.5f, 0.3f, 0},
      {AIMC_ALGO_SGD, AIMC_DEVICE_EXP_STEP, 0.0f, 0.3f, 0},
      {AIMC_ALGO_SGD, AIMC_DEVICE_POW_STEP, 1.0f, 0.3f, 0}, /* the scalar pulse rule */
      {AIMC_ALGO_CHOPPED_TTV2, AIMC_DEVICE_SOFT_BOUNDS, 0.0f, 0.3f, 0},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) check_sparse(&cases[k]);
}
