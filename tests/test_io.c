/* The analog IO pipeline of forward, backward and transfer reads (aihwkit's
 * IOParameters semantics): DAC and ADC quantisation and clipping, noise and
 * bound management, the noise sources, nonlinearity and asymmetries, which
 * IO each direction uses, and the forward statistics.
 *
 * Exact checks use weights and inputs that are multiples of powers of two, so
 * every product and sum is exact in float and the expected value is known
 * exactly. Statistical checks use fixed seeds; each bound is derived from the
 * variance of its estimator and stated next to it (expected value, standard
 * error, number of sigmas). */
#include "common.h"

#define N_MAX 256 /* widest tile of this suite */

static aimc_context_t *g_ctx;

static void open_context(void) { g_ctx = test_context(2, 11); }
static void close_context(void) { aimc_context_destroy(g_ctx); }

TestSuite(dac, .init = open_context, .fini = close_context);
TestSuite(adc, .init = open_context, .fini = close_context);
TestSuite(nm, .init = open_context, .fini = close_context);
TestSuite(bm, .init = open_context, .fini = close_context);
TestSuite(noise, .init = open_context, .fini = close_context);
TestSuite(nonideal, .init = open_context, .fini = close_context);
TestSuite(directions, .init = open_context, .fini = close_context);
TestSuite(stats, .init = open_context, .fini = close_context);

/* ---- Tiles and data ------------------------------------------------------ */

/* Default config whose three reads are noise-free, unquantised and
 * unmanaged, on a device without variation; tests switch on what they
 * check. */
static aimc_tile_config_t clean_config(void) {
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  test_ideal_device(&cfg.device);
  test_clean_io(&cfg.forward);
  test_clean_io(&cfg.backward);
  test_clean_io(&cfg.transfer);
  return cfg;
}

/* A clean IO whose DAC covers [-1, 1] with resolution res. */
static void dac_only(aimc_io_desc_t *io, float res) {
  test_clean_io(io);
  io->inp_bound = 1.0f;
  io->inp_res = res;
}

/* A clean IO whose ADC covers [-bound, bound] with resolution res. */
static void adc_only(aimc_io_desc_t *io, float bound, float res) {
  test_clean_io(io);
  io->out_bound = bound;
  io->out_res = res;
}

/* One tile with the given weights ([rows][cols]) and a fixed seed. */
static aimc_tiles_t *tile_with(int32_t rows, int32_t cols, const aimc_tile_config_t *cfg,
                               const float *w) {
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.rows = rows;
  td.cols = cols;
  td.config = *cfg;
  td.seed = 20240607u;
  aimc_tiles_t *t = test_tiles(g_ctx, &td);
  CK(aimc_tiles_set_weights(t, w));
  return t;
}

static float *identity(int32_t n) {
  float *w = test_alloc((size_t)n * (size_t)n);
  for (int32_t i = 0; i < n; ++i) w[(size_t)i * (size_t)n + (size_t)i] = 1.0f;
  return w;
}

static float *filled(int32_t rows, int32_t cols, float v) {
  float *w = test_alloc((size_t)rows * (size_t)cols);
  for (size_t k = 0; k < (size_t)rows * (size_t)cols; ++k) w[k] = v;
  return w;
}

/* Row i of the n x n Sylvester-Hadamard matrix times scale[i]: orthogonal
 * rows, so input noise gives independent outputs. */
static float *hadamard(int32_t n, const float *scale) {
  float *w = test_alloc((size_t)n * (size_t)n);
  for (int32_t i = 0; i < n; ++i)
    for (int32_t j = 0; j < n; ++j) {
      int parity = 0;
      for (unsigned b = (unsigned)(i & j); b; b >>= 1) parity ^= (int)(b & 1u);
      w[(size_t)i * (size_t)n + (size_t)j] = parity ? -scale[i] : scale[i];
    }
  return w;
}

/* Multiples of 1/16 in [-lo16/16, hi16/16]: exact products and sums. */
static void fill_sixteenths(test_rng_t *r, float *v, size_t n, int lo16, int hi16) {
  for (size_t k = 0; k < n; ++k)
    v[k] = (float)(lo16 + (int)(test_next(r) % (uint64_t)(hi16 - lo16 + 1))) / 16.0f;
}

static void forward(aimc_tiles_t *t, const float *x, float *y, int64_t batch) {
  CK(aimc_tiles_forward(t, x, y, batch));
}

static aimc_tile_stats_t stats_of(const aimc_tiles_t *t) {
  aimc_tile_stats_t s[2];
  int64_t n = 0;
  CK(aimc_tiles_shape(t, &n, NULL, NULL));
  cr_assert_leq(n, 2);
  CK(aimc_tiles_get_stats(t, s));
  return s[0];
}

/* Passes of one forward call of batch 1. */
static uint64_t forward_counting(aimc_tiles_t *t, const float *x, float *y) {
  uint64_t before = stats_of(t).forward_passes;
  forward(t, x, y, 1);
  return stats_of(t).forward_passes - before;
}

/* (W x)_i and (W^T d)_j in double. */
static double dot_row(const float *w, int32_t cols, int32_t i, const float *x) {
  double acc = 0.0;
  for (int32_t j = 0; j < cols; ++j) acc += (double)w[(size_t)i * (size_t)cols + (size_t)j] * x[j];
  return acc;
}

static double dot_col(const float *w, int32_t rows, int32_t cols, int32_t j, const float *d) {
  double acc = 0.0;
  for (int32_t i = 0; i < rows; ++i) acc += (double)w[(size_t)i * (size_t)cols + (size_t)j] * d[i];
  return acc;
}

/* ---- Reference model (noise-free forward read, double precision) ------- */

/* DAC/ADC step of a resolution: res > 1 counts steps, 0 switches off. */
static double step_of(float res, float bound) {
  if (!(res > 0.0f)) return 0.0;
  double r = res > 1.0f ? 1.0 / res : res;
  return r * 2.0 * bound;
}

static double quantize(double v, double step) {
  return step > 0.0 ? nearbyint(v / step) * step : v;
}

static double clampd(double v, double b) { return v > b ? b : v < -b ? -b : v; }

/* Noise-management scale s of NM NONE, ABS_MAX, MAX or CONSTANT. */
static double nm_scale(const aimc_io_desc_t *io, const float *x, int32_t n) {
  double amax = 0.0, max = -INFINITY;
  for (int32_t j = 0; j < n; ++j) {
    amax = fmax(amax, fabs(x[j]));
    max = fmax(max, x[j]);
  }
  double t = io->nm_thres;
  switch (io->noise_management) {
    case AIMC_NM_ABS_MAX: return t > 0.0 ? fmin(amax, t) : amax;
    case AIMC_NM_MAX: return t > 0.0 ? fmin(max, t) : max;
    case AIMC_NM_CONSTANT: return t > 0.0 ? t : 1.0;
    default: return 1.0;
  }
}

/* The forward read of one sample as the pipeline in aimc.h describes it:
 * NM scale, then passes with reduction r = 1, 2, 4, ... of DAC, clip,
 * input asymmetry, product, output asymmetry, ADC, clip, until no output
 * saturates or the stop rule ends bound management; then the digital
 * rescale. No noise, no nonlinearity, BM NONE or ITERATIVE. Returns the
 * number of passes. */
static int ref_forward(const aimc_io_desc_t *io, const float *w, int32_t rows, int32_t cols,
                       const float *x, double *y) {
  double in_step = step_of(io->inp_res, io->inp_bound);
  double out_step = step_of(io->out_res, io->out_bound);
  int use_nm = io->noise_management != AIMC_NM_NONE;
  int use_bm = io->bound_management != AIMC_BM_NONE;
  double s = nm_scale(io, x, cols), v[N_MAX];
  if (use_nm && !(s > 0.0)) {
    for (int32_t i = 0; i < rows; ++i) y[i] = 0.0;
    return 1;
  }
  int passes = 0;
  for (double r = 1.0;; r *= 2.0) {
    ++passes;
    double scale = (use_nm ? 1.0 / s : 1.0) / (use_bm ? r : 1.0);
    for (int32_t j = 0; j < cols; ++j) {
      v[j] = clampd(quantize(x[j] * scale, in_step), io->inp_bound);
      if (v[j] < 0.0) v[j] *= 1.0 - io->inp_asymmetry;
    }
    int hit = 0;
    for (int32_t i = 0; i < rows; ++i) {
      double acc = 0.0;
      for (int32_t j = 0; j < cols; ++j) acc += w[(size_t)i * (size_t)cols + (size_t)j] * v[j];
      if (io->out_asymmetry > 0.0f && acc < 0.0) acc *= 1.0 - io->out_asymmetry;
      acc = quantize(acc, out_step);
      if (acc > io->out_bound) {
        acc = io->out_bound;
        hit = 1;
      } else if (acc < -io->out_bound) {
        acc = -io->out_bound;
        hit |= io->bm_test_negative_bound;
      }
      y[i] = acc * io->out_scale / scale;
    }
    if (!use_bm || !hit || r > io->max_bm_factor ||
        (in_step > 0.0 && r > io->max_bm_res / in_step))
      return passes;
  }
}

/* ---- Statistics ---------------------------------------------------------- */

typedef struct moments {
  double n, sum, sum2;
} moments_t;

static void moments_add(moments_t *m, double v) {
  m->n += 1.0;
  m->sum += v;
  m->sum2 += v * v;
}

static double moments_mean(const moments_t *m) { return m->sum / m->n; }

/* Unbiased sample variance. */
static double moments_var(const moments_t *m) {
  double mean = moments_mean(m);
  return (m->sum2 - m->n * mean * mean) / (m->n - 1.0);
}

/* |observed - expected| <= sigmas * se. */
static void expect_near(const char *what, double observed, double expected, double se,
                        double sigmas) {
  cr_expect(fabs(observed - expected) <= sigmas * se,
            "%s: observed %.6g, expected %.6g +- %.3g (%.0f sigma, se %.3g)", what, observed,
            expected, sigmas * se, sigmas, se);
}

/* For n normal samples the sample variance has standard error
 * var * sqrt(2 / (n - 1)); mean 0 with standard error sqrt(var / n). */
static void expect_normal(const char *what, const moments_t *m, double var, double sigmas) {
  char name[128];
  snprintf(name, sizeof name, "%s (mean)", what);
  expect_near(name, moments_mean(m), 0.0, sqrt(var / m->n), sigmas);
  snprintf(name, sizeof name, "%s (variance)", what);
  expect_near(name, moments_var(m), var, var * sqrt(2.0 / (m->n - 1.0)), sigmas);
}

/* ========================================================================== */
/* DAC                                                                        */
/* ========================================================================== */

/* Identity weights: output i is prepared input i, exposed exactly. */
Test(dac, default_levels_are_nearest_multiples_of_the_step) {
  enum { N = 64, B = 8 };
  aimc_tile_config_t cfg = clean_config();
  dac_only(&cfg.forward, 1.0f / 126.0f); /* 7 bits: step 2/126 = 1/63 */
  float *w = identity(N), x[B * N], y[B * N];
  aimc_tiles_t *t = tile_with(N, N, &cfg, w);
  test_rng_t rng = {1};
  test_fill(&rng, x, B * N, -1.0f, 1.0f);
  forward(t, x, y, B);
  int checked = 0;
  for (int k = 0; k < B * N; ++k) {
    double level = y[k] * 63.0;
    cr_expect(fabs(level - nearbyint(level)) < 1e-3, "y = %.9g is not on the 1/63 grid", y[k]);
    double frac = fabs(x[k] * 63.0 - trunc(x[k] * 63.0));
    if (fabs(frac - 0.5) < 1e-4) continue; /* a float-vs-double tie, either is right */
    cr_expect_eq(nearbyint(level), nearbyint(x[k] * 63.0), "x = %.9g -> y = %.9g", x[k], y[k]);
    ++checked;
  }
  cr_expect_gt(checked, B * N - 4);
  aimc_tiles_destroy(t);
  free(w);
}

/* Step 1/64 (exact in float) puts (k + 1/2)/64 exactly on a midpoint: half
 * to even, as rint; half away from zero or floor(v + 1/2) give other values. */
Test(dac, midpoints_round_half_to_even) {
  enum { N = 8 };
  aimc_tile_config_t cfg = clean_config();
  dac_only(&cfg.forward, 1.0f / 128.0f);
  float *w = identity(N), y[N];
  const float x[N] = {-3.5f / 64, -2.5f / 64, -1.5f / 64, -0.5f / 64,
                      0.5f / 64,  1.5f / 64,  2.5f / 64,  3.5f / 64};
  const float want[N] = {-4.0f / 64, -2.0f / 64, -2.0f / 64, 0.0f,
                         0.0f,       2.0f / 64,  2.0f / 64,  4.0f / 64};
  aimc_tiles_t *t = tile_with(N, N, &cfg, w);
  forward(t, x, y, 1);
  for (int k = 0; k < N; ++k)
    cr_expect(y[k] == want[k], "x = %g/64 -> y = %.9g/64, want %g/64", x[k] * 64, y[k] * 64,
              want[k] * 64);
  aimc_tiles_destroy(t);
  free(w);
}

/* inp_res = 16 means 16 steps over [-1, 1] (step 1/8), the same DAC as
 * inp_res = 1/16; read as a fraction it would be a step of 32. */
Test(dac, resolution_above_one_counts_steps) {
  enum { N = 64 };
  aimc_tile_config_t steps = clean_config(), fraction = clean_config();
  dac_only(&steps.forward, 16.0f);
  dac_only(&fraction.forward, 1.0f / 16.0f);
  float *w = identity(N), x[N], ys[N], yf[N];
  aimc_tiles_t *ts = tile_with(N, N, &steps, w), *tf = tile_with(N, N, &fraction, w);
  test_rng_t rng = {2};
  test_fill(&rng, x, N, -1.0f, 1.0f);
  forward(ts, x, ys, 1);
  forward(tf, x, yf, 1);
  int nonzero = 0;
  for (int k = 0; k < N; ++k) {
    cr_expect(ys[k] == yf[k], "x = %g: %g (16 steps) vs %g (1/16)", x[k], ys[k], yf[k]);
    cr_expect(ys[k] * 8.0f == nearbyintf(ys[k] * 8.0f), "y = %g not a multiple of 1/8", ys[k]);
    cr_expect_leq(fabs(ys[k] - x[k]), 1.0 / 16.0 + 1e-7, "x = %g -> y = %g", x[k], ys[k]);
    nonzero += ys[k] != 0.0f;
  }
  cr_expect_gt(nonzero, N / 2);
  aimc_tiles_destroy(ts);
  aimc_tiles_destroy(tf);
  free(w);
}

Test(dac, zero_resolution_passes_inputs_unchanged) {
  enum { N = 64 };
  aimc_tile_config_t cfg = clean_config();
  dac_only(&cfg.forward, 0.0f);
  float *w = identity(N), x[N], y[N];
  aimc_tiles_t *t = tile_with(N, N, &cfg, w);
  test_rng_t rng = {3};
  test_fill(&rng, x, N, -1.0f, 1.0f);
  forward(t, x, y, 1);
  for (int k = 0; k < N; ++k) cr_expect(y[k] == x[k], "x = %.9g -> y = %.9g", x[k], y[k]);
  aimc_tiles_destroy(t);
  free(w);
}

/* Bound 0.75 with inp_res 1/128: step 0.75/64, exact. Quantise first, then
 * clip: 0.8 rounds to 68 steps = 0.797 and is clipped to 0.75. */
Test(dac, inputs_clip_at_inp_bound) {
  enum { N = 8 };
  const float x[N] = {-3.0f, -0.9f, -0.75f, -0.1f, 0.7f, 0.8f, 2.0f, 1e9f};
  const double st = 0.75 / 64.0;
  const double want_q[N] = {-0.75, -0.75, -0.75, -9 * st, 60 * st, 0.75, 0.75, 0.75};
  const double want_c[N] = {-0.75, -0.75, -0.75, -0.1f, 0.7f, 0.75, 0.75, 0.75};
  float *w = identity(N), y[N];
  for (int quantised = 0; quantised <= 1; ++quantised) {
    aimc_tile_config_t cfg = clean_config();
    cfg.forward.inp_bound = 0.75f; /* allowed: no noise management */
    cfg.forward.inp_res = quantised ? 1.0f / 128.0f : 0.0f;
    aimc_tiles_t *tq = tile_with(N, N, &cfg, w);
    forward(tq, x, y, 1);
    for (int k = 0; k < N; ++k) {
      double want = quantised ? want_q[k] : want_c[k];
      cr_expect(y[k] == (float)want, "res %d: x = %g -> y = %.9g, want %.9g", quantised, x[k],
                y[k], want);
    }
    aimc_tiles_destroy(tq);
  }
  /* With 63 steps over [-1, 1] the bound is 31.5 steps, not a level: an
   * input beyond it quantises to 32 or more steps and then clips to the
   * bound itself (clipping first would give the level 31/31.5). */
  aimc_tile_config_t odd = clean_config();
  dac_only(&odd.forward, 63.0f);
  aimc_tiles_t *t = tile_with(N, N, &odd, w);
  const float xo[N] = {2.0f, -5.0f, 1.2f, -1.05f, 0.99f, -0.99f, 0.5f, 0.0f};
  forward(t, xo, y, 1);
  for (int k = 0; k < 4; ++k)
    cr_expect(y[k] == copysignf(1.0f, xo[k]), "63 steps: x = %g -> %.9g, want the bound", xo[k],
              y[k]);
  for (int k = 4; k < 6; ++k)
    cr_expect(fabs(y[k] - copysign(31.0 / 31.5, xo[k])) < 1e-6,
              "63 steps: x = %g -> %.9g, want 31 steps", xo[k], y[k]);
  aimc_tiles_destroy(t);
  free(w);
}

/* Runs CALLS reads of inputs (10 + f) steps from a level, f in {0, 1/4, 1/2,
 * 7/8}, signs alternating per group of four, through a tile with identity
 * weights whose only rounding is a stochastic one of the given step, and
 * checks the result. Stochastic rounding gives 10 or 11 steps with P(11) =
 * f, so the error y - x has mean 0 and variance f (1 - f) steps^2. Over
 * n = 16 inputs x 250 calls = 4000 draws per fraction the mean error has
 * standard error sqrt(f (1 - f) / 4000) <= 0.0079 steps; 5 sigma.
 * Deterministic rounding would be off by min(f, 1 - f) >= 0.125 steps;
 * exact levels (f = 0) never move. */
static void check_stochastic_rounding(const aimc_tile_config_t *cfg, double step) {
  enum { N = 64, CALLS = 250, GROUPS = 4 };
  static const double frac[GROUPS] = {0.0, 0.25, 0.5, 0.875};
  float *w = identity(N), x[N], y[N];
  for (int j = 0; j < N; ++j)
    x[j] = (float)(((j / GROUPS) % 2 ? -1.0 : 1.0) * (10.0 + frac[j % GROUPS]) * step);
  aimc_tiles_t *t = tile_with(N, N, cfg, w);
  moments_t err[GROUPS] = {{0}};
  int off_grid = 0, not_neighbour = 0;
  for (int c = 0; c < CALLS; ++c) {
    forward(t, x, y, 1);
    for (int j = 0; j < N; ++j) {
      double k = y[j] / step, v = x[j] / step;
      off_grid += k != nearbyint(k);
      not_neighbour += k != floor(v) && k != ceil(v);
      moments_add(&err[j % GROUPS], k - v);
    }
  }
  cr_expect_eq(off_grid, 0, "%d outputs off the grid", off_grid);
  cr_expect_eq(not_neighbour, 0, "%d outputs not at a neighbouring level", not_neighbour);
  cr_expect(err[0].sum2 == 0.0, "exact levels moved (sum of squared errors %g)", err[0].sum2);
  for (int g = 1; g < GROUPS; ++g) {
    char what[64];
    snprintf(what, sizeof what, "mean rounding error, fraction %.3f", frac[g]);
    expect_near(what, moments_mean(&err[g]), 0.0,
                sqrt(frac[g] * (1.0 - frac[g]) / err[g].n), 5.0);
    /* Both neighbours occur: the error variance is f (1 - f), not 0. */
    cr_expect_gt(moments_var(&err[g]), 0.5 * frac[g] * (1.0 - frac[g]));
  }
  aimc_tiles_destroy(t);
  free(w);
}

Test(dac, stochastic_rounding_is_unbiased_between_neighbours) {
  aimc_tile_config_t cfg = clean_config();
  dac_only(&cfg.forward, 1.0f / 128.0f); /* step 1/64 */
  cfg.forward.inp_sto_round = 1;
  check_stochastic_rounding(&cfg, 1.0 / 64.0);
}

/* ========================================================================== */
/* ADC                                                                        */
/* ========================================================================== */

/* out_bound 4, out_res 1/64: step 0.125, exact; identity weights and an
 * unquantised DAC put the input itself on the ADC. */
Test(adc, levels_and_midpoints) {
  enum { N = 64, TIES = 8 };
  aimc_tile_config_t cfg = clean_config();
  adc_only(&cfg.forward, 4.0f, 1.0f / 64.0f);
  float *w = identity(N), x[N], y[N];
  const float ties[TIES] = {0.0625f, 0.1875f, 0.3125f, -0.0625f, -0.1875f, -0.3125f,
                            1.4375f, -1.5625f};
  const float want[TIES] = {0.0f, 0.25f, 0.25f, 0.0f, -0.25f, -0.25f, 1.5f, -1.5f};
  test_rng_t rng = {4};
  test_fill(&rng, x, N, -3.9f, 3.9f);
  memcpy(x, ties, sizeof ties);
  aimc_tiles_t *t = tile_with(N, N, &cfg, w);
  forward(t, x, y, 1);
  for (int k = 0; k < TIES; ++k)
    cr_expect(y[k] == want[k], "midpoint %g -> %g, want %g", x[k], y[k], want[k]);
  for (int k = TIES; k < N; ++k)
    cr_expect(y[k] == nearbyintf(x[k] * 8.0f) / 8.0f, "x = %.9g -> y = %.9g", x[k], y[k]);
  aimc_tiles_destroy(t);

  /* The default ADC: 9 bits over [-12, 12], step 24/510. */
  aimc_tile_config_t def = clean_config();
  adc_only(&def.forward, 12.0f, 1.0f / 510.0f);
  test_fill(&rng, x, N, -11.9f, 11.9f);
  t = tile_with(N, N, &def, w);
  forward(t, x, y, 1);
  for (int k = 0; k < N; ++k) {
    double level = y[k] * 510.0 / 24.0, v = x[k] * 510.0 / 24.0;
    cr_expect(fabs(level - nearbyint(level)) < 1e-3, "y = %.9g is off the 24/510 grid", y[k]);
    if (fabs(fabs(v - trunc(v)) - 0.5) > 1e-4)
      cr_expect_eq(nearbyint(level), nearbyint(v), "x = %.9g -> y = %.9g", x[k], y[k]);
  }
  aimc_tiles_destroy(t);
  free(w);
}

/* Without bound management outputs clip to +-out_bound, quantised or not. */
Test(adc, outputs_clip_at_out_bound) {
  enum { N = 8 };
  const float x[N] = {5.0f, -5.0f, 100.0f, -100.0f, 4.3f, -4.3f, 3.99f, 3.5f};
  const float want_q[N] = {4.0f, -4.0f, 4.0f, -4.0f, 4.0f, -4.0f, 4.0f, 3.5f};
  const float want_c[N] = {4.0f, -4.0f, 4.0f, -4.0f, 4.0f, -4.0f, 3.99f, 3.5f};
  float *w = identity(N), y[N];
  for (int quantised = 0; quantised <= 1; ++quantised) {
    aimc_tile_config_t cfg = clean_config();
    adc_only(&cfg.forward, 4.0f, quantised ? 1.0f / 64.0f : 0.0f);
    aimc_tiles_t *t = tile_with(N, N, &cfg, w);
    forward(t, x, y, 1);
    for (int k = 0; k < N; ++k) {
      float want = quantised ? want_q[k] : want_c[k];
      cr_expect(y[k] == want, "res %d: x = %g -> %g, want %g", quantised, x[k], y[k], want);
    }
    aimc_tiles_destroy(t);
  }
  free(w);
}

/* out_res = 0: no ADC quantisation; out_res = 16: 16 steps over [-4, 4]. */
Test(adc, zero_resolution_and_step_count) {
  enum { N = 64 };
  float *w = identity(N), x[N], y[N];
  test_rng_t rng = {5};
  test_fill(&rng, x, N, -3.9f, 3.9f);
  aimc_tile_config_t cfg = clean_config();
  adc_only(&cfg.forward, 4.0f, 0.0f);
  aimc_tiles_t *t = tile_with(N, N, &cfg, w);
  forward(t, x, y, 1);
  for (int k = 0; k < N; ++k) cr_expect(y[k] == x[k], "x = %.9g -> y = %.9g", x[k], y[k]);
  aimc_tiles_destroy(t);

  adc_only(&cfg.forward, 4.0f, 16.0f);
  t = tile_with(N, N, &cfg, w);
  forward(t, x, y, 1);
  for (int k = 0; k < N; ++k) {
    cr_expect(y[k] * 2.0f == nearbyintf(y[k] * 2.0f), "y = %g is off the 0.5 grid", y[k]);
    cr_expect_leq(fabs(y[k] - x[k]), 0.25 + 1e-6, "x = %g -> y = %g", x[k], y[k]);
  }
  aimc_tiles_destroy(t);
  free(w);
}

/* out_sto_round: the same unbiased rounding to the neighbouring ADC levels
 * (step 0.125). */
Test(adc, stochastic_rounding_is_unbiased_between_neighbours) {
  aimc_tile_config_t cfg = clean_config();
  adc_only(&cfg.forward, 4.0f, 1.0f / 64.0f);
  cfg.forward.out_sto_round = 1;
  check_stochastic_rounding(&cfg, 0.125);
}

/* ========================================================================== */
/* Noise management                                                          */
/* ========================================================================== */

/* With ABS_MAX the DAC sees x / max|x|, so scaling x by c scales y by c:
 * exactly for powers of two (every operation is then exact), to float
 * rounding otherwise, and y stays within the DAC error of W x, which is
 * max|x| * step/2 * ||w_i||_1. Without noise management small inputs would
 * all round to zero and large ones clip. */
Test(nm, abs_max_makes_reads_scale_invariant) {
  enum { R = 16, C = 32, NC = 4 };
  static const double cs[NC] = {0x1p-12, 0x1p10, 3.7e-3, 1234.5};
  aimc_tile_config_t cfg = clean_config();
  dac_only(&cfg.forward, 1.0f / 126.0f);
  cfg.forward.noise_management = AIMC_NM_ABS_MAX;
  float w[R * C], x[C], xc[C], y[R], yc[R];
  test_rng_t rng = {6};
  test_fill(&rng, w, R * C, -0.3f, 0.3f);
  test_fill(&rng, x, C, -0.8f, 0.8f);
  aimc_tiles_t *t = tile_with(R, C, &cfg, w);
  forward(t, x, y, 1);
  double amax = 0.0, ymax = 0.0;
  for (int j = 0; j < C; ++j) amax = fmax(amax, fabs(x[j]));
  for (int i = 0; i < R; ++i) {
    double l1 = 0.0;
    for (int j = 0; j < C; ++j) l1 += fabs(w[i * C + j]);
    double bound = amax * (1.0 / 126.0) * l1 + 1e-5;
    cr_expect_leq(fabs(y[i] - dot_row(w, C, i, x)), bound, "row %d: %g vs W x = %g", i, y[i],
                  dot_row(w, C, i, x));
    ymax = fmax(ymax, fabs(y[i]));
  }
  for (int k = 0; k < NC; ++k) {
    for (int j = 0; j < C; ++j) xc[j] = (float)(cs[k] * x[j]);
    forward(t, xc, yc, 1);
    double tol = k < 2 ? 1e-6 : 1e-4; /* exact for powers of two */
    for (int i = 0; i < R; ++i)
      cr_expect_leq(fabs(yc[i] / cs[k] - y[i]), tol * ymax, "c = %g row %d: %.9g vs %.9g",
                    cs[k], i, yc[i] / cs[k], y[i]);
  }
  aimc_tiles_destroy(t);
}

/* nm_thres caps the ABS_MAX scale: with cap 0.5 and max|x| = 2 the DAC sees
 * x / 0.5, which clips at 1, so 2 reads as 0.5. Below the cap the scale is
 * max|x| itself: 0.113 / 0.25 = 28.9 steps -> 29/256, where a scale of 0.5
 * would give 28/256. Step 1/64 keeps every other value exact. */
Test(nm, abs_max_threshold_caps_the_scale) {
  enum { N = 4 };
  aimc_tile_config_t cfg = clean_config();
  dac_only(&cfg.forward, 1.0f / 128.0f);
  cfg.forward.noise_management = AIMC_NM_ABS_MAX;
  cfg.forward.nm_thres = 0.5f;
  const float x[2 * N] = {2.0f, 0.25f, -1.0f, 0.125f, 0.25f, 0.113f, -0.0625f, 0.0f};
  const float want[2 * N] = {0.5f, 0.25f, -0.5f, 0.125f, 0.25f, 29.0f / 256, -0.0625f, 0.0f};
  float *w = identity(N), y[2 * N];
  aimc_tiles_t *t = tile_with(N, N, &cfg, w);
  forward(t, x, y, 2);
  for (int k = 0; k < 2 * N; ++k)
    cr_expect(fabsf(y[k] - want[k]) <= 1e-7f, "x = %g -> %.9g, want %.9g", x[k], y[k], want[k]);
  aimc_tiles_destroy(t);
  free(w);
}

/* MAX uses the signed maximum: x = (0.5, -2, 0.25) is scaled by 1/0.5, so
 * -2 clips to -1 and reads as -0.5 (ABS_MAX would return x). nm_thres caps
 * it as well. */
Test(nm, max_uses_the_signed_maximum) {
  enum { N = 3 };
  aimc_tile_config_t cfg = clean_config();
  dac_only(&cfg.forward, 1.0f / 128.0f);
  cfg.forward.noise_management = AIMC_NM_MAX;
  const float x[N] = {0.5f, -2.0f, 0.25f};
  const float want[N] = {0.5f, -0.5f, 0.25f}, want_capped[N] = {0.25f, -0.25f, 0.25f};
  float *w = identity(N), y[N];
  aimc_tiles_t *t = tile_with(N, N, &cfg, w);
  forward(t, x, y, 1);
  for (int k = 0; k < N; ++k)
    cr_expect(y[k] == want[k], "x = %g -> %g, want %g", x[k], y[k], want[k]);
  aimc_tiles_destroy(t);
  cfg.forward.nm_thres = 0.25f;
  t = tile_with(N, N, &cfg, w);
  forward(t, x, y, 1);
  for (int k = 0; k < N; ++k)
    cr_expect(y[k] == want_capped[k], "capped: x = %g -> %g, want %g", x[k], y[k],
              want_capped[k]);
  aimc_tiles_destroy(t);
  free(w);
}

/* CONSTANT divides by nm_thres whatever the input (1 when nm_thres is 0). */
Test(nm, constant_divides_by_the_threshold) {
  enum { N = 4 };
  aimc_tile_config_t cfg = clean_config();
  dac_only(&cfg.forward, 1.0f / 128.0f);
  cfg.forward.noise_management = AIMC_NM_CONSTANT;
  cfg.forward.nm_thres = 4.0f;
  const float x[N] = {2.0f, -3.0f, 5.0f, 0.25f}, want4[N] = {2.0f, -3.0f, 4.0f, 0.25f};
  const float x1[N] = {0.5f, 2.0f, -1.5f, 0.25f}, want1[N] = {0.5f, 1.0f, -1.0f, 0.25f};
  float *w = identity(N), y[N];
  aimc_tiles_t *t = tile_with(N, N, &cfg, w);
  forward(t, x, y, 1);
  for (int k = 0; k < N; ++k)
    cr_expect(y[k] == want4[k], "thres 4: x = %g -> %g, want %g", x[k], y[k], want4[k]);
  aimc_tiles_destroy(t);
  cfg.forward.nm_thres = 0.0f;
  t = tile_with(N, N, &cfg, w);
  forward(t, x1, y, 1);
  for (int k = 0; k < N; ++k)
    cr_expect(y[k] == want1[k], "thres 0: x = %g -> %g, want %g", x1[k], y[k], want1[k]);
  aimc_tiles_destroy(t);
  free(w);
}

/* ABS_MAX_NP_SUM: with a = max|x| and S the larger of the positive and
 * negative input sums, s = max(a, min(a / inp_step * max_bm_res,
 * S nm_assumed_wmax / out_bound)). Here a = 1 and S = 29.8 (against 9.3):
 * wmax 0.6 gives s = 29.8 * 0.6 / 12 = 1.49; with wmax 8 the step cap
 * 63 * 0.25 = 15.75 wins over 19.9. Each output is DAC(x / s) * s. */
Test(nm, abs_max_np_sum_scale) {
  enum { N = 64 };
  static const float wmax[2] = {0.6f, 8.0f};
  float *w = identity(N), x[N], y[N];
  x[0] = 1.0f;
  for (int j = 1; j < N; ++j) x[j] = (j % 2 ? 0.9f : -0.3f);
  double pos = 1.0 + 32 * (double)0.9f; /* negatives sum to -9.3 */
  for (int c = 0; c < 2; ++c) {
    aimc_tile_config_t cfg = clean_config();
    dac_only(&cfg.forward, 1.0f / 126.0f);
    cfg.forward.noise_management = AIMC_NM_ABS_MAX_NP_SUM;
    cfg.forward.nm_assumed_wmax = wmax[c];
    cfg.forward.out_bound = 12.0f; /* enters the scale; no ADC (out_res 0) */
    aimc_tiles_t *t = tile_with(N, N, &cfg, w);
    forward(t, x, y, 1);
    double s = fmax(1.0, fmin(63.0 * 0.25, pos * wmax[c] / 12.0));
    for (int k = 0; k < N; ++k) {
      double want = clampd(quantize(x[k] / s, 1.0 / 63.0), 1.0) * s;
      cr_expect(fabs(y[k] - want) < 1e-5, "wmax %g: x = %g -> %.7g, want %.7g (s = %g)",
                wmax[c], x[k], y[k], want, s);
    }
    aimc_tiles_destroy(t);
  }
  free(w);
}

/* An all-zero input (or, for MAX, an all-negative one) has scale <= 0: the
 * read returns exact zeros, output noise included. In a forward read with
 * input noise the scaling is skipped instead and the noise shows; backward
 * reads return zeros regardless. */
Test(nm, zero_scale_returns_exact_zeros) {
  enum { R = 8, C = 16, B = 4 };
  float w[R * C], x[B * C] = {0}, y[B * R], d[B * R] = {0}, g[B * C];
  test_rng_t rng = {7};
  test_fill(&rng, w, R * C, -0.5f, 0.5f);
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg); /* out_noise 0.06, ABS_MAX, iterative BM */
  aimc_tiles_t *t = tile_with(R, C, &cfg, w);
  for (int rep = 0; rep < 3; ++rep) {
    forward(t, x, y, B);
    for (int k = 0; k < B * R; ++k) cr_expect(y[k] == 0.0f, "y[%d] = %g", k, y[k]);
  }
  CK(aimc_tiles_backward(t, d, g, B));
  for (int k = 0; k < B * C; ++k) cr_expect(g[k] == 0.0f, "backward x_grad[%d] = %g", k, g[k]);
  aimc_tiles_destroy(t);

  cfg.forward.noise_management = AIMC_NM_MAX;
  t = tile_with(R, C, &cfg, w);
  test_fill(&rng, x, B * C, -1.0f, -0.01f);
  forward(t, x, y, B);
  for (int k = 0; k < B * R; ++k) cr_expect(y[k] == 0.0f, "MAX, negative x: y[%d] = %g", k, y[k]);
  aimc_tiles_destroy(t);

  aimc_tile_config_default(&cfg);
  cfg.forward.inp_noise = 0.1f;
  cfg.backward.inp_noise = 0.1f;
  t = tile_with(R, C, &cfg, w);
  memset(x, 0, sizeof x);
  forward(t, x, y, B);
  int nonzero = 0;
  for (int k = 0; k < B * R; ++k) nonzero += y[k] != 0.0f;
  cr_expect_gt(nonzero, B * R / 2, "forward with input noise: only %d of %d outputs nonzero",
               nonzero, B * R);
  CK(aimc_tiles_backward(t, d, g, B));
  for (int k = 0; k < B * C; ++k)
    cr_expect(g[k] == 0.0f, "backward with input noise: x_grad[%d] = %g", k, g[k]);
  aimc_tiles_destroy(t);
}

/* ========================================================================== */
/* Bound management                                                           */
/* ========================================================================== */

/* Row 0 sums 64 inputs of 1: W x = 64 > out_bound 12. Passes with r = 1, 2,
 * 4 saturate (64, 32, 16); r = 8 reads 8 and is scaled back to 64. Step 1/64
 * makes the DAC exact (1/8 is a level), so the error is the ADC's,
 * r * step/2 = 8 * 24/510 / 2. */
Test(bm, saturated_output_is_recovered) {
  enum { R = 2, C = 64 };
  float w[R * C], x[C], y[R];
  for (int j = 0; j < C; ++j) {
    w[j] = 1.0f;
    w[C + j] = 0.1f;
    x[j] = 1.0f;
  }
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  cfg.forward.inp_res = 1.0f / 128.0f;
  cfg.forward.out_noise = 0.0f;
  aimc_tiles_t *t = tile_with(R, C, &cfg, w);
  uint64_t passes = forward_counting(t, x, y);
  cr_expect_eq(passes, 4u, "passes %llu, want 4 (r = 1, 2, 4, 8)", (unsigned long long)passes);
  double err = 8.0 * (24.0 / 510.0) / 2.0 + 1e-4;
  cr_expect_leq(fabs(y[0] - 64.0), err, "y0 = %g, want 64", y[0]);
  cr_expect_leq(fabs(y[1] - 6.4), err, "y1 = %g, want 6.4", y[1]);
  aimc_tile_stats_t st = stats_of(t);
  cr_expect_eq(st.forward_samples, 1u);
  aimc_tiles_destroy(t);

  cfg.forward.bound_management = AIMC_BM_NONE;
  t = tile_with(R, C, &cfg, w);
  passes = forward_counting(t, x, y);
  cr_expect_eq(passes, 1u);
  cr_expect(y[0] == 12.0f, "without BM y0 = %g, want the bound 12", y[0]);
  aimc_tiles_destroy(t);
}

/* Random rows of growing gain and inputs with 8..64 active entries need 1 to
 * 3 passes. Passes and outputs match the reference model, and every output
 * is within the quantisation error times the final reduction of W x:
 * s r (||w_i||_1 inp_step/2 + out_step/2). */
Test(bm, passes_and_error_follow_the_reduction) {
  enum { R = 8, C = 64, B = 8 };
  float w[R * C], x[C], y[R];
  double ref[R];
  test_rng_t rng = {8};
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) w[i * C + j] = (0.5f + 0.25f * (float)i) * test_uniform(&rng, 0, 1);
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  cfg.forward.out_noise = 0.0f;
  aimc_tiles_t *t = tile_with(R, C, &cfg, w);
  const double in_step = 2.0 / 126.0, out_step = 24.0 / 510.0;
  int seen[6] = {0};
  for (int b = 0; b < B; ++b) {
    int active = 8 * (b + 1);
    for (int j = 0; j < C; ++j) x[j] = j < active ? test_uniform(&rng, 0.0f, 1.0f) : 0.0f;
    uint64_t passes = forward_counting(t, x, y);
    int want = ref_forward(&cfg.forward, w, R, C, x, ref);
    cr_expect_eq(passes, (uint64_t)want, "sample %d: %llu passes, want %d", b,
                 (unsigned long long)passes, want);
    if (want < 6) seen[want]++;
    double s = nm_scale(&cfg.forward, x, C), r = ldexp(1.0, want - 1);
    for (int i = 0; i < R; ++i) {
      cr_expect_leq(fabs(y[i] - ref[i]), 1e-5 * (1.0 + fabs(ref[i])), "sample %d row %d", b, i);
      double l1 = 0.0;
      for (int j = 0; j < C; ++j) l1 += fabs(w[i * C + j]);
      double bound = s * r * (l1 * in_step / 2.0 + out_step / 2.0) + 1e-4;
      double exact = dot_row(w, C, i, x);
      cr_expect_leq(fabs(y[i] - exact), bound, "sample %d row %d: %g vs W x = %g (r = %g)", b, i,
                    y[i], exact, r);
    }
  }
  cr_expect(seen[1] && seen[2] && seen[3], "pass counts 1/2/3 seen %d/%d/%d", seen[1], seen[2],
            seen[3]);
  aimc_tiles_destroy(t);
}

/* An output that never fits: 64 inputs of 1 through weights 1 against
 * out_bound 1 (0.25 when only max_bm_factor limits). After a failed pass
 * with reduction r the loop stops when r > max_bm_factor or r > max_bm_res /
 * inp_step; the last pass reads the bound, so y = out_bound * r_last.
 *   7-bit (1/126): limit 15.75 -> r = 1..16, 5 passes
 *   8-bit (1/254 or 254 steps): limit 31.75 -> 6 passes
 *   1/128: limit exactly 16 is not exceeded by 16 -> 6 passes
 *   1/62: limit 7.75 -> r = 1..8, 4 passes
 *   no DAC, max_bm_factor 100 -> r = 1..128, 8 passes */
Test(bm, stop_rule_limits_the_passes) {
  enum { C = 64, CASES = 6 };
  static const struct {
    float inp_res, max_bm_factor, out_bound;
    unsigned passes;
  } cases[CASES] = {{1.0f / 126.0f, 1000.0f, 1.0f, 5}, {1.0f / 254.0f, 1000.0f, 1.0f, 6},
                    {254.0f, 1000.0f, 1.0f, 6},        {1.0f / 128.0f, 1000.0f, 1.0f, 6},
                    {1.0f / 62.0f, 1000.0f, 1.0f, 4},  {0.0f, 100.0f, 0.25f, 8}};
  float *w = filled(1, C, 1.0f), *x = filled(1, C, 1.0f), y[1];
  for (int c = 0; c < CASES; ++c) {
    aimc_tile_config_t cfg;
    aimc_tile_config_default(&cfg);
    cfg.forward.inp_res = cases[c].inp_res;
    cfg.forward.max_bm_factor = cases[c].max_bm_factor;
    cfg.forward.out_bound = cases[c].out_bound;
    cfg.forward.out_noise = 0.0f;
    aimc_tiles_t *t = tile_with(1, C, &cfg, w);
    uint64_t passes = forward_counting(t, x, y);
    cr_expect_eq(passes, (uint64_t)cases[c].passes, "case %d (inp_res %g): %llu passes, want %u",
                 c, cases[c].inp_res, (unsigned long long)passes, cases[c].passes);
    float want = cases[c].out_bound * (float)(1u << (cases[c].passes - 1));
    cr_expect(fabsf(y[0] - want) <= 1e-4f * want, "case %d: y = %g, want %g", c, y[0], want);
    aimc_tiles_destroy(t);
  }
  /* The Standard preset is such an 8-bit DAC. */
  aimc_tile_config_t std;
  aimc_tile_config_default(&std);
  CK(aimc_tile_config_io_preset(&std, AIMC_IO_STANDARD));
  std.forward.out_bound = 1.0f;
  std.forward.out_noise = 0.0f;
  aimc_tiles_t *t = tile_with(1, C, &std, w);
  cr_expect_eq(forward_counting(t, x, y), 6u);
  aimc_tiles_destroy(t);
  free(w);
  free(x);
}

/* A row of -1 reads -64: with bm_test_negative_bound it is recovered like a
 * positive one (4 passes); without, it stays clipped at -12 after one pass.
 * A positively saturated row still triggers BM, and then both recover. */
Test(bm, negative_bound_test_flag) {
  enum { C = 64 };
  float w[2 * C], x[C], y[2];
  for (int j = 0; j < C; ++j) {
    w[j] = -1.0f;
    w[C + j] = 0.1f;
    x[j] = 1.0f;
  }
  const double err = 8.0 * (24.0 / 510.0) / 2.0 + 1e-4;
  for (int flag = 0; flag <= 1; ++flag) {
    aimc_tile_config_t cfg;
    aimc_tile_config_default(&cfg);
    cfg.forward.inp_res = 1.0f / 128.0f;
    cfg.forward.out_noise = 0.0f;
    cfg.forward.bm_test_negative_bound = flag;
    aimc_tiles_t *t = tile_with(2, C, &cfg, w);
    uint64_t passes = forward_counting(t, x, y);
    if (flag) {
      cr_expect_eq(passes, 4u, "flag 1: %llu passes", (unsigned long long)passes);
      cr_expect_leq(fabs(y[0] + 64.0), err, "flag 1: y0 = %g, want -64", y[0]);
    } else {
      cr_expect_eq(passes, 1u, "flag 0: %llu passes", (unsigned long long)passes);
      cr_expect(y[0] == -12.0f, "flag 0: y0 = %g, want -12", y[0]);
    }
    aimc_tiles_destroy(t);
  }
  for (int j = 0; j < C; ++j) w[C + j] = 1.0f; /* now row 1 saturates positively */
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  cfg.forward.inp_res = 1.0f / 128.0f;
  cfg.forward.out_noise = 0.0f;
  cfg.forward.bm_test_negative_bound = 0;
  aimc_tiles_t *t = tile_with(2, C, &cfg, w);
  cr_expect_eq(forward_counting(t, x, y), 4u);
  cr_expect_leq(fabs(y[0] + 64.0), err, "y0 = %g, want -64", y[0]);
  cr_expect_leq(fabs(y[1] - 64.0), err, "y1 = %g, want 64", y[1]);
  aimc_tiles_destroy(t);
}

/* ITERATIVE_WORST_CASE: after a failed first pass the second uses the
 * ABS_MAX_NP_SUM scale with r = 1: 64 inputs of 1 give s = 64 * 0.6 / 12 =
 * 3.2, so the DAC sees 1/3.2 = 20/64 (exact with step 1/64). Weights 0.5
 * read 10: 2 passes (plain ITERATIVE needs r = 4: 3 passes). Weights 1 read
 * 20 > 12, and the loop goes on doubling from there: r = 2 reads 10, 3
 * passes (plain: 4). Weights 0.1 fit at once. */
Test(bm, worst_case_second_pass_uses_np_sum_scale) {
  enum { C = 64, CASES = 3 };
  static const struct {
    float w;
    unsigned worst, plain;
  } cases[CASES] = {{0.5f, 2, 3}, {1.0f, 3, 4}, {0.1f, 1, 1}};
  float x[C], y[1];
  for (int j = 0; j < C; ++j) x[j] = 1.0f;
  for (int c = 0; c < CASES; ++c) {
    float *w = filled(1, C, cases[c].w);
    for (int worst = 0; worst <= 1; ++worst) {
      aimc_tile_config_t cfg;
      aimc_tile_config_default(&cfg);
      cfg.forward.inp_res = 1.0f / 128.0f;
      cfg.forward.out_res = 0.0f;
      cfg.forward.out_noise = 0.0f;
      cfg.forward.bound_management = worst ? AIMC_BM_ITERATIVE_WORST_CASE : AIMC_BM_ITERATIVE;
      aimc_tiles_t *t = tile_with(1, C, &cfg, w);
      uint64_t passes = forward_counting(t, x, y);
      unsigned want = worst ? cases[c].worst : cases[c].plain;
      cr_expect_eq(passes, (uint64_t)want, "w %g worst %d: %llu passes, want %u", cases[c].w,
                   worst, (unsigned long long)passes, want);
      double exact = 64.0 * cases[c].w;
      cr_expect_leq(fabs(y[0] - exact), 1e-4 * exact, "w %g worst %d: y = %g, want %g",
                    cases[c].w, worst, y[0], exact);
      aimc_tiles_destroy(t);
    }
    free(w);
  }
}

/* Output noise is added at the ADC, before the digital rescale, so after
 * bound management it is amplified by the final reduction: 64 ones read at
 * r = 8 (4 passes, always: 16 +- 0.06 never fits at r = 4 and 8 +- 0.06
 * always fits at r = 8) have std 8 * 0.06 = 0.48. 16 rows x 200 calls =
 * 3200 independent draws: variance 0.2304 with se 0.2304 sqrt(2/3199); 5 sigma. */
Test(bm, output_noise_scales_with_the_reduction) {
  enum { R = 16, C = 64, CALLS = 200 };
  float *w = filled(R, C, 1.0f), *x = filled(1, C, 1.0f), y[R];
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  cfg.forward.inp_res = 1.0f / 128.0f;
  cfg.forward.out_res = 0.0f;
  aimc_tiles_t *t = tile_with(R, C, &cfg, w);
  moments_t m = {0};
  for (int c = 0; c < CALLS; ++c) {
    forward(t, x, y, 1);
    for (int i = 0; i < R; ++i) moments_add(&m, y[i] - 64.0);
  }
  aimc_tile_stats_t st = stats_of(t);
  cr_expect_eq(st.forward_passes, 4u * CALLS);
  expect_normal("noise after BM", &m, 0.48 * 0.48, 5.0);
  aimc_tiles_destroy(t);
  free(w);
  free(x);
}

/* ========================================================================== */
/* Noise                                                                      */
/* ========================================================================== */

/* Runs `calls` forward reads of one input; y gets [call][row]. */
static void repeat_forward(aimc_tiles_t *t, const float *x, int calls, int32_t rows, float *y) {
  for (int c = 0; c < calls; ++c) forward(t, x, y + (size_t)c * (size_t)rows, 1);
}

/* out_noise 0.1 on an otherwise clean read: residuals y - W x over 64 rows x
 * 200 calls are 12800 independent N(0, 0.01) draws. Mean: se 0.1/sqrt(12800);
 * variance: se 0.01 sqrt(2/12799); lag-one correlation between calls (fresh
 * noise each call): se 1/sqrt(64 * 199); 5 sigma each. With noise
 * management the noise is output-referred: scaled by s = max|x| = 4. */
Test(noise, out_noise_std_with_fresh_draws_per_call) {
  enum { R = 64, C = 8, CALLS = 200 };
  float w[R * C], x[C], *y = test_alloc((size_t)CALLS * R);
  test_rng_t rng = {9};
  test_fill(&rng, w, R * C, -1.0f, 1.0f);
  test_fill(&rng, x, C, -1.0f, 1.0f);
  aimc_tile_config_t cfg = clean_config();
  cfg.forward.out_noise = 0.1f;
  aimc_tiles_t *t = tile_with(R, C, &cfg, w);
  repeat_forward(t, x, CALLS, R, y);
  moments_t m = {0}, lag = {0};
  for (int c = 0; c < CALLS; ++c)
    for (int i = 0; i < R; ++i) {
      double e = y[c * R + i] - dot_row(w, C, i, x);
      moments_add(&m, e);
      if (c > 0) moments_add(&lag, e * (y[(c - 1) * R + i] - dot_row(w, C, i, x)) / 0.01);
    }
  expect_normal("out_noise 0.1", &m, 0.01, 5.0);
  expect_near("lag-one correlation", moments_mean(&lag), 0.0, 1.0 / sqrt(lag.n), 5.0);
  /* Samples of one batch draw their own noise too. */
  float x2[2 * C], y2[2 * R];
  memcpy(x2, x, sizeof x);
  memcpy(x2 + C, x, sizeof x);
  forward(t, x2, y2, 2);
  int same = 0;
  for (int i = 0; i < R; ++i) same += y2[i] == y2[R + i];
  cr_expect_eq(same, 0, "%d of %d outputs equal between two samples of one batch", same, R);
  aimc_tiles_destroy(t);

  /* max|x| = 4: std 0.4. */
  for (int j = 0; j < C; ++j) x[j] = j == 0 ? 4.0f : 0.5f * x[j];
  cfg.forward.inp_bound = 1.0f;
  cfg.forward.noise_management = AIMC_NM_ABS_MAX;
  t = tile_with(R, C, &cfg, w);
  repeat_forward(t, x, CALLS, R, y);
  moments_t ms = {0};
  for (int c = 0; c < CALLS; ++c)
    for (int i = 0; i < R; ++i) moments_add(&ms, y[c * R + i] - dot_row(w, C, i, x));
  expect_normal("out_noise 0.1 at scale 4", &ms, 0.16, 5.0);
  aimc_tiles_destroy(t);
  free(y);
}

/* Input noise is added to each prepared input (after the clip), so output i
 * gets inp_noise ||w_i||_2 N(0, 1). Hadamard rows scaled by 0.1 .. 1 are
 * orthogonal, making the outputs independent. Inputs up to 2 clip at the
 * bound 1 first, so the mean is W clip(x). Normalised residuals over 64 rows
 * x 200 calls: 12800 N(0, 1) draws; mean se 1/sqrt(12800), variance se
 * sqrt(2/12799); 5 sigma. */
Test(noise, inp_noise_scales_with_the_row_norm) {
  enum { N = 64, CALLS = 200 };
  float scale[N], x[N], xc[N], *y = test_alloc((size_t)CALLS * N);
  for (int i = 0; i < N; ++i) scale[i] = 0.1f + 0.9f * (float)i / (N - 1);
  float *w = hadamard(N, scale);
  test_rng_t rng = {10};
  test_fill(&rng, x, N, -2.0f, 2.0f);
  for (int j = 0; j < N; ++j) xc[j] = (float)clampd(x[j], 1.0);
  aimc_tile_config_t cfg = clean_config();
  cfg.forward.inp_bound = 1.0f;
  cfg.forward.inp_noise = 0.05f;
  aimc_tiles_t *t = tile_with(N, N, &cfg, w);
  repeat_forward(t, x, CALLS, N, y);
  moments_t m = {0};
  for (int c = 0; c < CALLS; ++c)
    for (int i = 0; i < N; ++i) {
      double sigma = 0.05 * scale[i] * sqrt((double)N);
      moments_add(&m, (y[c * N + i] - dot_row(w, N, i, xc)) / sigma);
    }
  expect_normal("input noise / (inp_noise ||w_i||)", &m, 1.0, 5.0);
  aimc_tiles_destroy(t);
  free(w);
  free(y);
}

/* ADDITIVE_CONSTANT weight noise: w_noise ||x'||_2 N(0, 1) on every output,
 * x' the prepared (clipped) input, whatever the weights. ||x|| would be
 * about sqrt(2) times larger here. 64 rows x 200 calls of independent
 * draws; normalised variance v with se v sqrt(2/12799); 5 sigma. */
Test(noise, additive_weight_noise_uses_the_prepared_input_norm) {
  enum { R = 64, C = 16, CALLS = 200 };
  float w[R * C], x[C], xc[C], *y = test_alloc((size_t)CALLS * R);
  test_rng_t rng = {11};
  test_fill(&rng, w, R * C, -1.0f, 1.0f);
  test_fill(&rng, x, C, -2.0f, 2.0f);
  double norm2 = 0.0;
  for (int j = 0; j < C; ++j) {
    xc[j] = (float)clampd(x[j], 1.0);
    norm2 += (double)xc[j] * xc[j];
  }
  aimc_tile_config_t cfg = clean_config();
  cfg.forward.inp_bound = 1.0f;
  cfg.forward.w_noise_type = AIMC_W_NOISE_ADDITIVE_CONSTANT;
  cfg.forward.w_noise = 0.02f;
  aimc_tiles_t *t = tile_with(R, C, &cfg, w);
  repeat_forward(t, x, CALLS, R, y);
  moments_t m = {0};
  double sigma = 0.02 * sqrt(norm2);
  for (int c = 0; c < CALLS; ++c)
    for (int i = 0; i < R; ++i) moments_add(&m, (y[c * R + i] - dot_row(w, C, i, xc)) / sigma);
  expect_normal("additive weight noise / (w_noise ||x'||)", &m, 1.0, 5.0);
  aimc_tiles_destroy(t);

  /* With output noise of the same std the two add in variance (2 sigma^2;
   * one shared normal would give 4 sigma^2). */
  cfg.forward.out_noise = (float)sigma;
  t = tile_with(R, C, &cfg, w);
  repeat_forward(t, x, CALLS, R, y);
  moments_t both = {0};
  for (int c = 0; c < CALLS; ++c)
    for (int i = 0; i < R; ++i)
      moments_add(&both, (y[c * R + i] - dot_row(w, C, i, xc)) / sigma);
  expect_normal("weight plus output noise / sigma", &both, 2.0, 5.0);
  aimc_tiles_destroy(t);
  free(y);
}

/* PCM_READ: output i gets w_noise sqrt(sum_j |w_ij| x_j^2) N(0, 1). Rows of
 * random signs with magnitude 0.25 or 1 separate it from w^2 (variance off
 * by 4 for the 0.25 rows) and from the additive type (off by 4 the other
 * way). Per group 32 rows x 200 calls = 6400 draws; normalised variance se
 * sqrt(2/6399); 5 sigma. */
Test(noise, pcm_read_noise_follows_abs_weights) {
  enum { R = 64, C = 16, CALLS = 200 };
  float w[R * C], x[C], *y = test_alloc((size_t)CALLS * R);
  test_rng_t rng = {12};
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j)
      w[i * C + j] = (test_next(&rng) & 1u ? -1.0f : 1.0f) * (i % 2 ? 1.0f : 0.25f);
  test_fill(&rng, x, C, -1.0f, 1.0f);
  aimc_tile_config_t cfg = clean_config();
  cfg.forward.w_noise_type = AIMC_W_NOISE_PCM_READ;
  cfg.forward.w_noise = 0.03f;
  aimc_tiles_t *t = tile_with(R, C, &cfg, w);
  repeat_forward(t, x, CALLS, R, y);
  moments_t m[2] = {{0, 0, 0}, {0, 0, 0}};
  for (int i = 0; i < R; ++i) {
    double q = 0.0;
    for (int j = 0; j < C; ++j) q += fabs(w[i * C + j]) * x[j] * x[j];
    for (int c = 0; c < CALLS; ++c)
      moments_add(&m[i % 2], (y[c * R + i] - dot_row(w, C, i, x)) / (0.03 * sqrt(q)));
  }
  expect_normal("PCM noise, |w| = 0.25", &m[0], 1.0, 5.0);
  expect_normal("PCM noise, |w| = 1", &m[1], 1.0, 5.0);
  aimc_tiles_destroy(t);
  free(y);
}

/* out_noise_std: sigma_i = |0.1 (1 + 0.5 xi_i)|, drawn once per output.
 * 256 outputs x 400 calls, per-output sample variances v_i:
 * - mean_i v_i estimates E sigma_i^2 = 0.01 * 1.25; the spread of sigma_i^2
 *   is 0.01 sqrt(1.125) (plus estimation noise 0.0125 sqrt(2/399)), se of the
 *   mean 0.01064/16; 5 sigma. Drawing sigma_i = 0.1 * 0.5 |xi| would give 0.0025.
 * - the spread of sqrt(v_i)/0.1 is std|1 + 0.5 xi| = 0.483 (0.484 with the
 *   estimation noise), se about 0.484/sqrt(2 * 255); 5 sigma. A common sigma
 *   would give 0.035.
 * - fixed across calls: d_i = ln(v_i first half / v_i second half) has
 *   variance 2 * 2/199 = 0.0201 for a fixed sigma_i; mean_i d_i^2 has se
 *   0.0201 sqrt(2/256); 5 sigma. */
Test(noise, out_noise_std_gives_fixed_per_output_sigmas) {
  enum { R = 256, C = 4, CALLS = 400 };
  float w[R * C], x[C], *y = test_alloc((size_t)CALLS * R);
  test_rng_t rng = {13};
  test_fill(&rng, w, R * C, -1.0f, 1.0f);
  test_fill(&rng, x, C, -1.0f, 1.0f);
  aimc_tile_config_t cfg = clean_config();
  cfg.forward.out_noise = 0.1f;
  cfg.forward.out_noise_std = 0.5f;
  aimc_tiles_t *t = tile_with(R, C, &cfg, w);
  repeat_forward(t, x, CALLS, R, y);
  moments_t var_mean = {0}, sd = {0}, d2 = {0};
  for (int i = 0; i < R; ++i) {
    moments_t all = {0}, half[2] = {{0, 0, 0}, {0, 0, 0}};
    for (int c = 0; c < CALLS; ++c) {
      double e = y[c * R + i] - dot_row(w, C, i, x);
      moments_add(&all, e);
      moments_add(&half[c >= CALLS / 2], e);
    }
    moments_add(&var_mean, moments_var(&all));
    moments_add(&sd, sqrt(moments_var(&all)) / 0.1);
    double d = log(moments_var(&half[0]) / moments_var(&half[1]));
    moments_add(&d2, d * d);
  }
  expect_near("mean of per-output variances", moments_mean(&var_mean), 0.0125, 0.01064 / 16.0,
              5.0);
  expect_near("spread of per-output sigmas / out_noise", sqrt(moments_var(&sd)), 0.484,
              0.484 / sqrt(2.0 * (R - 1)), 5.0);
  double v = 2.0 * 2.0 / (CALLS / 2 - 1);
  cr_expect_leq(moments_mean(&d2), v + 5.0 * v * sqrt(2.0 / R),
                "per-output sigmas change between calls: mean d^2 = %g, want %g",
                moments_mean(&d2), v);
  aimc_tiles_destroy(t);
  free(y);
}

/* ========================================================================== */
/* Nonlinearity and asymmetry                                                 */
/* ========================================================================== */

/* y / (1 + |n y|) with n = out_nonlinearity / out_bound = 0.5 / 10, then the
 * clip: 500 bends to 19.2 and clips to 10. */
Test(nonideal, output_nonlinearity_formula) {
  enum { N = 32 };
  aimc_tile_config_t cfg = clean_config();
  cfg.forward.out_bound = 10.0f;
  cfg.forward.out_nonlinearity = 0.5f;
  float *w = identity(N), x[N], y[N];
  test_rng_t rng = {14};
  test_fill(&rng, x, N, -9.0f, 9.0f);
  x[0] = 500.0f;
  x[1] = -500.0f;
  aimc_tiles_t *t = tile_with(N, N, &cfg, w);
  forward(t, x, y, 1);
  for (int k = 0; k < N; ++k) {
    double want = clampd(x[k] / (1.0 + fabs(0.05 * x[k])), 10.0);
    cr_expect_leq(fabs(y[k] - want), 1e-5 * (1.0 + fabs(want)), "x = %g -> %.7g, want %.7g",
                  x[k], y[k], want);
  }
  aimc_tiles_destroy(t);

  /* An infinite out_bound counts as 1: n = 0.5, and nothing clips. */
  cfg.forward.out_bound = INFINITY;
  t = tile_with(N, N, &cfg, w);
  forward(t, x, y, 1);
  for (int k = 0; k < N; ++k) {
    double want = x[k] / (1.0 + fabs(0.5 * x[k]));
    cr_expect_leq(fabs(y[k] - want), 1e-5 * (1.0 + fabs(want)),
                  "infinite bound: x = %g -> %.7g, want %.7g", x[k], y[k], want);
  }
  aimc_tiles_destroy(t);
  free(w);
}

/* Output noise is added after the nonlinearity: with n = 2 / 10 an output
 * of 5 bends to 2.5 where the slope is 1/4, yet the noise keeps its std 0.1
 * (noise before the bend would shrink to 0.025). 64 rows x 100 calls;
 * variance se 0.01 sqrt(2/6399); 5 sigma. */
Test(nonideal, output_noise_follows_the_nonlinearity) {
  enum { N = 64, CALLS = 100 };
  aimc_tile_config_t cfg = clean_config();
  cfg.forward.out_bound = 10.0f;
  cfg.forward.out_nonlinearity = 2.0f;
  cfg.forward.out_noise = 0.1f;
  float *w = identity(N), *x = filled(1, N, 5.0f), y[N];
  aimc_tiles_t *t = tile_with(N, N, &cfg, w);
  moments_t m = {0};
  for (int c = 0; c < CALLS; ++c) {
    forward(t, x, y, 1);
    for (int i = 0; i < N; ++i) moments_add(&m, y[i] - 2.5);
  }
  expect_normal("output noise after the nonlinearity", &m, 0.01, 5.0);
  aimc_tiles_destroy(t);
  free(w);
  free(x);
}

/* out_nonlinearity_std 0.2: n_i = |0.05 (1 + 0.2 xi_i)| per output, fixed:
 * two calls agree exactly (there is no noise). From y_i = 5 / (1 + 5 n_i)
 * over 256 outputs: mean n_i / 0.05 = 1 with se 0.2/16, std 0.2 with se
 * 0.2/sqrt(510); 5 sigma. */
Test(nonideal, nonlinearity_spread_is_fixed_per_output) {
  enum { N = 256 };
  aimc_tile_config_t cfg = clean_config();
  cfg.forward.out_bound = 10.0f;
  cfg.forward.out_nonlinearity = 0.5f;
  cfg.forward.out_nonlinearity_std = 0.2f;
  float *w = identity(N), *x = filled(1, N, 5.0f), y[N], y2[N];
  aimc_tiles_t *t = tile_with(N, N, &cfg, w);
  forward(t, x, y, 1);
  forward(t, x, y2, 1);
  moments_t m = {0};
  for (int i = 0; i < N; ++i) {
    cr_expect(y[i] == y2[i], "output %d changed between calls: %g vs %g", i, y[i], y2[i]);
    moments_add(&m, (5.0 / y[i] - 1.0) / 5.0 / 0.05);
  }
  expect_near("mean slope / nominal", moments_mean(&m), 1.0, 0.2 / 16.0, 5.0);
  expect_near("spread of slopes / nominal", sqrt(moments_var(&m)), 0.2, 0.2 / sqrt(2.0 * N),
              5.0);
  aimc_tiles_destroy(t);
  free(w);
  free(x);
}

/* Input asymmetry scales negative prepared inputs by (1 - a) before the
 * product; output asymmetry scales negative outputs (only for a > 0).
 * W = [[1, 1], [1, -2]]: x = (0.5, -0.5) has a negative input but outputs
 * (0, 1.5); x = (0.5, 0.5) has positive inputs and outputs (1, -0.5). */
Test(nonideal, input_and_output_asymmetry) {
  enum { CASES = 5 };
  static const struct {
    float inp, out;
    float want[4]; /* y(0.5, -0.5), then y(0.5, 0.5) */
  } cases[CASES] = {
      {0.0f, 0.0f, {0.0f, 1.5f, 1.0f, -0.5f}},
      {0.25f, 0.0f, {0.125f, 1.25f, 1.0f, -0.5f}},   /* -0.5 -> -0.375 */
      {-0.5f, 0.0f, {-0.25f, 2.0f, 1.0f, -0.5f}},    /* -0.5 -> -0.75 */
      {0.0f, 0.25f, {0.0f, 1.5f, 1.0f, -0.375f}},    /* -0.5 out -> -0.375 */
      {0.0f, -0.25f, {0.0f, 1.5f, 1.0f, -0.5f}},     /* negative: no effect */
  };
  const float w[4] = {1.0f, 1.0f, 1.0f, -2.0f}, x[4] = {0.5f, -0.5f, 0.5f, 0.5f};
  float y[4];
  for (int c = 0; c < CASES; ++c) {
    aimc_tile_config_t cfg = clean_config();
    cfg.forward.inp_asymmetry = cases[c].inp;
    cfg.forward.out_asymmetry = cases[c].out;
    aimc_tiles_t *t = tile_with(2, 2, &cfg, w);
    forward(t, x, y, 2);
    for (int k = 0; k < 4; ++k)
      cr_expect(y[k] == cases[c].want[k], "inp_asym %g out_asym %g: y[%d] = %g, want %g",
                cases[c].inp, cases[c].out, k, y[k], cases[c].want[k]);
    aimc_tiles_destroy(t);
  }
}

/* ========================================================================== */
/* Directions: backward, transfer, perfect, out_scale                         */
/* ========================================================================== */

/* Backward reads W^T d through the backward IO: here an ADC of step 0.125
 * over [-4, 4] and out_noise 0.2 while the forward read is clean. Weights
 * and inputs are multiples of 1/16, so W^T d is exact and the noise-free
 * result is rint(8 W^T d) / 8 clipped to 4. Backward noise: 40 outputs x 100
 * calls, normalised variance se sqrt(2/3999); 5 sigma. */
Test(directions, backward_uses_the_backward_io) {
  enum { R = 24, C = 40, CALLS = 100 };
  float w[R * C], x[C], d[R], y[R], g[C];
  test_rng_t rng = {15};
  fill_sixteenths(&rng, w, R * C, -12, 12);
  fill_sixteenths(&rng, x, C, -16, 16);
  fill_sixteenths(&rng, d, R, -16, 16);
  aimc_tile_config_t cfg = clean_config();
  adc_only(&cfg.backward, 4.0f, 1.0f / 64.0f);
  aimc_tiles_t *t = tile_with(R, C, &cfg, w);
  CK(aimc_tiles_backward(t, d, g, 1));
  int off_grid = 0;
  for (int j = 0; j < C; ++j) {
    double exact = dot_col(w, R, C, j, d);
    double want = clampd(nearbyint(exact * 8.0) / 8.0, 4.0);
    cr_expect(g[j] == (float)want, "col %d: %g, want %g (W^T d = %g)", j, g[j], want, exact);
    off_grid += exact * 8.0 != nearbyint(exact * 8.0);
  }
  cr_expect_gt(off_grid, C / 2, "test needs W^T d off the ADC grid");
  forward(t, x, y, 1);
  for (int i = 0; i < R; ++i)
    cr_expect(y[i] == (float)dot_row(w, C, i, x), "forward row %d: %g vs %g", i, y[i],
              dot_row(w, C, i, x));
  aimc_tiles_destroy(t);

  cfg = clean_config();
  cfg.backward.out_noise = 0.2f;
  t = tile_with(R, C, &cfg, w);
  moments_t m = {0};
  float y0[R];
  forward(t, x, y0, 1);
  for (int c = 0; c < CALLS; ++c) {
    CK(aimc_tiles_backward(t, d, g, 1));
    for (int j = 0; j < C; ++j) moments_add(&m, (g[j] - dot_col(w, R, C, j, d)) / 0.2);
    forward(t, x, y, 1);
    for (int i = 0; i < R; ++i) cr_expect(y[i] == y0[i], "forward read picked up noise");
  }
  expect_normal("backward out_noise 0.2", &m, 1.0, 5.0);
  aimc_tiles_destroy(t);

  /* Noise management and DAC of the backward IO act on d: the read is
   * W^T (DAC(d / max|d|) max|d|), step 1/64. */
  cfg = clean_config();
  dac_only(&cfg.backward, 1.0f / 128.0f);
  cfg.backward.noise_management = AIMC_NM_ABS_MAX;
  t = tile_with(R, C, &cfg, w);
  float dn[R], dq[R];
  test_fill(&rng, dn, R, -1.5f, 1.5f);
  double amax = 0.0;
  for (int i = 0; i < R; ++i) amax = fmax(amax, fabs(dn[i]));
  for (int i = 0; i < R; ++i) dq[i] = (float)(quantize(dn[i] / amax, 1.0 / 64.0) * amax);
  CK(aimc_tiles_backward(t, dn, g, 1));
  for (int j = 0; j < C; ++j) {
    double want = dot_col(w, R, C, j, dq);
    cr_expect_leq(fabs(g[j] - want), 1e-5 * (1.0 + fabs(want)), "NM col %d: %g, want %g", j,
                  g[j], want);
  }
  aimc_tiles_destroy(t);
}

/* Transfer reads (column reads with TRANSFER_FORWARD, row reads with
 * TRANSFER_BACKWARD) use the transfer IO: no noise management, so an input
 * of 2 clips at inp_bound 1 and is not scaled back; an ADC of step 0.125.
 * Forward and backward reads are noisy, transfer reads are not. */
Test(directions, transfer_reads_use_the_transfer_io) {
  enum { R = 6, C = 10 };
  float w[R * C], e[C], f[R], y[R], y2[R], g[C], g2[C];
  test_rng_t rng = {16};
  fill_sixteenths(&rng, w, R * C, -40, 40);
  aimc_tile_config_t cfg = clean_config();
  cfg.forward.out_noise = 0.3f;
  cfg.backward.out_noise = 0.3f;
  adc_only(&cfg.transfer, 2.0f, 1.0f / 32.0f); /* step 0.125, clip 2 */
  cfg.transfer.inp_bound = 1.0f;
  aimc_tiles_t *t = tile_with(R, C, &cfg, w);
  for (int col = 0; col < C; ++col) {
    memset(e, 0, sizeof e);
    e[col] = 2.0f;
    CK(aimc_tiles_mvm_ex(t, AIMC_TRANSFER_FORWARD, e, 0, y, 1));
    CK(aimc_tiles_mvm_ex(t, AIMC_TRANSFER_FORWARD, e, 0, y2, 1));
    for (int i = 0; i < R; ++i) {
      double want = clampd(nearbyint(w[i * C + col] * 8.0) / 8.0, 2.0);
      cr_expect(y[i] == (float)want, "column %d row %d: %g, want %g", col, i, y[i], want);
      cr_expect(y2[i] == y[i], "transfer read is noisy");
    }
  }
  for (int row = 0; row < R; ++row) {
    memset(f, 0, sizeof f);
    f[row] = 2.0f;
    CK(aimc_tiles_mvm_ex(t, AIMC_TRANSFER_BACKWARD, f, 0, g, 1));
    CK(aimc_tiles_mvm_ex(t, AIMC_TRANSFER_BACKWARD, f, 0, g2, 1));
    for (int j = 0; j < C; ++j) {
      double want = clampd(nearbyint(w[row * C + j] * 8.0) / 8.0, 2.0);
      cr_expect(g[j] == (float)want, "row %d col %d: %g, want %g", row, j, g[j], want);
      cr_expect(g2[j] == g[j], "transfer read is noisy");
    }
  }
  /* The same column read forward and backward carries the 0.3 noise. */
  memset(e, 0, sizeof e);
  e[0] = 1.0f;
  memset(f, 0, sizeof f);
  f[0] = 1.0f;
  forward(t, e, y, 1);
  CK(aimc_tiles_backward(t, f, g, 1));
  int noisy = 0;
  for (int i = 0; i < R; ++i) noisy += y[i] != w[i * C];
  for (int j = 0; j < C; ++j) noisy += g[j] != w[j];
  cr_expect_gt(noisy, (R + C) / 2, "forward/backward reads should be noisy");
  aimc_tiles_destroy(t);
}

/* is_perfect ignores every other field: y = out_scale W x exactly (inputs
 * beyond the DAC bound, outputs beyond the ADC bound, noise configured). The
 * preset sets all three IOs; multiples of 1/16 keep the products exact. */
Test(directions, perfect_reads_are_exact) {
  enum { R = 12, C = 20, B = 3 };
  float w[R * C], x[B * C], d[B * R], y[B * R], g[B * C], e[C], f[R], t_out[C];
  test_rng_t rng = {17};
  fill_sixteenths(&rng, w, R * C, -32, 32);
  fill_sixteenths(&rng, x, B * C, -64, 64);
  fill_sixteenths(&rng, d, B * R, -64, 64);
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  CK(aimc_tile_config_io_preset(&cfg, AIMC_IO_PERFECT));
  cfg.forward.out_noise = 1.0f;
  cfg.forward.out_bound = 0.01f;
  cfg.forward.inp_res = 0.5f;
  cfg.forward.w_noise_type = AIMC_W_NOISE_ADDITIVE_CONSTANT;
  cfg.forward.w_noise = 1.0f;
  cfg.backward.inp_noise = 1.0f;
  cfg.forward.out_scale = 2.0f;
  aimc_tiles_t *t = tile_with(R, C, &cfg, w);
  forward(t, x, y, B);
  CK(aimc_tiles_backward(t, d, g, B));
  for (int b = 0; b < B; ++b) {
    for (int i = 0; i < R; ++i)
      cr_expect(y[b * R + i] == (float)(2.0 * dot_row(w, C, i, x + b * C)), "forward %d %d", b,
                i);
    for (int j = 0; j < C; ++j)
      cr_expect(g[b * C + j] == (float)dot_col(w, R, C, j, d + b * R), "backward %d %d", b, j);
  }
  memcpy(e, x, sizeof e);
  CK(aimc_tiles_mvm_ex(t, AIMC_TRANSFER_FORWARD, e, 0, y, 1));
  for (int i = 0; i < R; ++i) cr_expect(y[i] == (float)dot_row(w, C, i, e), "transfer fwd %d", i);
  memcpy(f, d, sizeof f);
  CK(aimc_tiles_mvm_ex(t, AIMC_TRANSFER_BACKWARD, f, 0, t_out, 1));
  for (int j = 0; j < C; ++j)
    cr_expect(t_out[j] == (float)dot_col(w, R, C, j, f), "transfer bwd %d", j);
  aimc_tiles_destroy(t);
}

/* out_scale multiplies the finished result: y = out_scale W x on a clean
 * read, and with noise and bound management on (noise off) the result for
 * out_scale -3 is -3 times that for 1, bound-management rescale included. */
Test(directions, out_scale_multiplies_the_result) {
  enum { R = 8, C = 64 };
  float w[R * C], x[C], y1[R], y3[R], g[C], d[R];
  test_rng_t rng = {18};
  test_fill(&rng, w, R * C, 0.0f, 1.0f);
  test_fill(&rng, x, C, 0.0f, 1.0f);
  test_fill(&rng, d, R, -1.0f, 1.0f);
  aimc_tile_config_t cfg = clean_config();
  cfg.forward.out_scale = 2.5f;
  cfg.backward.out_scale = -0.5f;
  aimc_tiles_t *t = tile_with(R, C, &cfg, w);
  forward(t, x, y1, 1);
  CK(aimc_tiles_backward(t, d, g, 1));
  for (int i = 0; i < R; ++i) {
    double want = 2.5 * dot_row(w, C, i, x);
    cr_expect_leq(fabs(y1[i] - want), 1e-5 * fabs(want), "row %d: %g vs %g", i, y1[i], want);
  }
  for (int j = 0; j < C; ++j) {
    double want = -0.5 * dot_col(w, R, C, j, d);
    cr_expect_leq(fabs(g[j] - want), 1e-5 * (1.0 + fabs(want)), "col %d: %g vs %g", j, g[j],
                  want);
  }
  aimc_tiles_destroy(t);

  aimc_tile_config_default(&cfg);
  cfg.forward.out_noise = 0.0f;
  t = tile_with(R, C, &cfg, w);
  uint64_t p1 = forward_counting(t, x, y1);
  aimc_tiles_destroy(t);
  cfg.forward.out_scale = -3.0f;
  t = tile_with(R, C, &cfg, w);
  uint64_t p3 = forward_counting(t, x, y3);
  cr_expect_eq(p1, p3);
  cr_expect_gt(p1, 1u, "the case should need bound management");
  for (int i = 0; i < R; ++i)
    cr_expect_leq(fabs(y3[i] + 3.0 * y1[i]), 1e-6 * fabs(y1[i]) * 3.0, "row %d: %g vs -3 * %g",
                  i, y3[i], y1[i]);
  aimc_tiles_destroy(t);
}

/* aimc_tile_config_io_preset sets the three IOs consistently (bound
 * management forward-only, transfer reads unmanaged), and validation
 * rejects what the reads do not support. */
Test(directions, io_preset_and_validation) {
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  CK(aimc_tile_config_io_preset(&cfg, AIMC_IO_STANDARD));
  const aimc_io_desc_t *ios[3] = {&cfg.forward, &cfg.backward, &cfg.transfer};
  for (int k = 0; k < 3; ++k) {
    cr_expect_float_eq(ios[k]->inp_res, 1.0f / 254.0f, 1e-9f);
    cr_expect_float_eq(ios[k]->out_res, 1.0f / 254.0f, 1e-9f);
    cr_expect_eq(ios[k]->out_bound, 10.0f);
    cr_expect_eq(ios[k]->out_noise, 0.04f);
    cr_expect_eq(ios[k]->is_perfect, 0);
  }
  cr_expect_eq(cfg.forward.bound_management, AIMC_BM_ITERATIVE);
  cr_expect_eq(cfg.forward.noise_management, AIMC_NM_ABS_MAX);
  cr_expect_eq(cfg.backward.bound_management, AIMC_BM_NONE);
  cr_expect_eq(cfg.backward.noise_management, AIMC_NM_ABS_MAX);
  cr_expect_eq(cfg.transfer.bound_management, AIMC_BM_NONE);
  cr_expect_eq(cfg.transfer.noise_management, AIMC_NM_NONE);
  CK(aimc_tile_config_validate(&cfg));

  aimc_tile_config_t bad = cfg;
  bad.backward.bound_management = AIMC_BM_ITERATIVE;
  cr_expect_eq(aimc_tile_config_validate(&bad), AIMC_ERR_INVALID_ARGUMENT);
  cr_expect_not_null(strstr(aimc_last_error(), "backward.bound_management"), "%s",
                     aimc_last_error());
  bad = cfg;
  bad.transfer.noise_management = AIMC_NM_ABS_MAX;
  cr_expect_eq(aimc_tile_config_validate(&bad), AIMC_ERR_INVALID_ARGUMENT);
  bad = cfg;
  bad.transfer.bound_management = AIMC_BM_ITERATIVE;
  cr_expect_eq(aimc_tile_config_validate(&bad), AIMC_ERR_INVALID_ARGUMENT);
  bad = cfg;
  bad.forward.inp_bound = 2.0f; /* noise management scales inputs to [-1, 1] */
  cr_expect_eq(aimc_tile_config_validate(&bad), AIMC_ERR_INVALID_ARGUMENT);
  cr_expect_not_null(strstr(aimc_last_error(), "forward.inp_bound"), "%s", aimc_last_error());
}

/* ========================================================================== */
/* Statistics                                                                 */
/* ========================================================================== */

/* forward_samples counts forward samples of each tile, forward_passes their
 * passes (bound-management repeats included); backward and transfer reads
 * count neither. */
Test(stats, forward_counts_samples_and_passes_only) {
  enum { R = 4, C = 64 };
  float w[R * C], x[3 * C], y[2 * 3 * R], d[3 * R], g[2 * 3 * C];
  test_rng_t rng = {19};
  test_fill(&rng, w, R * C, -0.05f, 0.05f);
  for (int j = 0; j < C; ++j) w[j] = 1.0f; /* row 0 saturates on all-ones inputs */
  test_fill(&rng, x, 3 * C, -1.0f, 1.0f);
  for (int b = 0; b < 3; ++b) { /* zero sum: row 0 reads 0, far from the bound */
    double mean = 0.0;
    for (int j = 0; j < C; ++j) mean += x[b * C + j] / C;
    for (int j = 0; j < C; ++j) x[b * C + j] -= (float)mean;
  }
  test_fill(&rng, d, 3 * R, -1.0f, 1.0f);
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  cfg.forward.inp_res = 1.0f / 128.0f;
  cfg.forward.out_noise = 0.0f;
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = 2;
  td.rows = R;
  td.cols = C;
  td.config = cfg;
  td.seed = 5;
  aimc_tiles_t *t = test_tiles(g_ctx, &td);
  float w2[2 * R * C];
  memcpy(w2, w, sizeof w);
  memcpy(w2 + R * C, w, sizeof w);
  CK(aimc_tiles_set_weights(t, w2));

  /* Three samples that fit in one pass each. */
  aimc_tile_stats_t st[2];
  CK(aimc_tiles_mvm_ex(t, AIMC_FORWARD, x, 0, y, 3));
  CK(aimc_tiles_get_stats(t, st));
  for (int k = 0; k < 2; ++k) {
    cr_expect_eq(st[k].forward_samples, 3u, "tile %d", k);
    cr_expect_eq(st[k].forward_passes, 3u, "tile %d", k);
  }
  CK(aimc_tiles_mvm_ex(t, AIMC_BACKWARD, d, 0, g, 3));
  CK(aimc_tiles_mvm_ex(t, AIMC_TRANSFER_FORWARD, x, 0, y, 3));
  CK(aimc_tiles_mvm_ex(t, AIMC_TRANSFER_BACKWARD, d, 0, g, 3));
  CK(aimc_tiles_get_stats(t, st));
  for (int k = 0; k < 2; ++k) {
    cr_expect_eq(st[k].forward_samples, 3u, "tile %d after other reads", k);
    cr_expect_eq(st[k].forward_passes, 3u, "tile %d after other reads", k);
  }
  /* All ones: 4 passes (r = 8), plus one sample of one pass. */
  for (int j = 0; j < C; ++j) x[j] = 1.0f;
  CK(aimc_tiles_mvm_ex(t, AIMC_FORWARD, x, 0, y, 2));
  CK(aimc_tiles_get_stats(t, st));
  for (int k = 0; k < 2; ++k) {
    cr_expect_eq(st[k].forward_samples, 5u, "tile %d", k);
    cr_expect_eq(st[k].forward_passes, 3u + 4u + 1u, "tile %d", k);
    cr_expect_eq(st[k].update_calls, 0u);
  }
  CK(aimc_tiles_reset_stats(t));
  CK(aimc_tiles_get_stats(t, st));
  cr_expect_eq(st[0].forward_samples + st[1].forward_passes, 0u);
  aimc_tiles_destroy(t);
}
