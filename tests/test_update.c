/* The pulsed update: exact modes against the SGD formula, BL/A/B against
 * aihwkit's update-management formulas, pulse statistics against the
 * coincidence model, the deterministic pulse types, signs, skipping, and
 * independence from how the batch is chunked. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "common.h"
#include "kernels/common/update.h"

/* Step of the counting device (tests/common.h): the pulse count of a call
 * is delta_w / STEP. */
#define STEP 0.0078125f

static aimc_tiles_desc_t counting_desc(int64_t n_tiles, int rows, int cols) {
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = n_tiles;
  td.rows = rows;
  td.cols = cols;
  test_counting_device(&td.config.device, STEP);
  return td;
}

/* ---- Exact modes ----------------------------------------------------------- */

typedef struct shape {
  int64_t tiles;
  int rows, cols, batch;
} shape_t;

static const shape_t shapes[] = {{1, 1, 1, 1}, {3, 1, 7, 2},  {2, 7, 1, 3},
                                 {4, 5, 3, 4}, {2, 33, 65, 5}, {1, 64, 96, 2}};

/* W - lr sum_b d_b x_b^T with the sum over samples in order, in float: the
 * definition of PULSE_NONE, so the comparison is exact. */
static void sgd_reference(const float *w0, const float *x, const float *d, const shape_t *s,
                          const float *lr, float *w) {
  for (int64_t t = 0; t < s->tiles; ++t)
    for (int i = 0; i < s->rows; ++i)
      for (int j = 0; j < s->cols; ++j) {
        float acc = 0.0f;
        for (int b = 0; b < s->batch; ++b)
          acc += d[(t * s->batch + b) * s->rows + i] * x[(t * s->batch + b) * s->cols + j];
        int64_t k = (t * s->rows + i) * s->cols + j;
        w[k] = w0[k] - lr[t] * acc;
      }
}

Test(exact, none_is_sgd) {
  aimc_context_t *ctx = test_context(2, 1);
  test_rng_t r = {11};
  for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; ++c) {
    const shape_t *s = &shapes[c];
    aimc_tiles_desc_t td = counting_desc(s->tiles, s->rows, s->cols);
    td.config.update.pulse_type = AIMC_PULSE_NONE;
    aimc_tiles_t *t = test_tiles(ctx, &td);
    size_t nw = (size_t)s->tiles * s->rows * s->cols;
    size_t nx = (size_t)s->tiles * s->batch * s->cols, nd = (size_t)s->tiles * s->batch * s->rows;
    float *w0 = test_alloc(nw), *w = test_alloc(nw), *want = test_alloc(nw);
    float *x = test_alloc(nx), *d = test_alloc(nd), *lr = test_alloc((size_t)s->tiles);
    test_fill(&r, w0, nw, -0.5f, 0.5f);
    test_fill(&r, x, nx, -1.0f, 1.0f);
    test_fill(&r, d, nd, -1.0f, 1.0f);
    test_fill(&r, lr, (size_t)s->tiles, 0.01f, 0.5f);
    CK(aimc_tiles_set_weights(t, w0));
    CK(aimc_tiles_set_learning_rates(t, lr));
    CK(aimc_tiles_update(t, x, d, s->batch));
    CK(aimc_tiles_get_weights(t, w));
    sgd_reference(w0, x, d, s, lr, want);
    for (size_t k = 0; k < nw; ++k)
      cr_assert_eq(w[k], want[k], "shape %zu weight %zu: %.9g != %.9g", c, k, w[k], want[k]);
    free(w0), free(w), free(want), free(x), free(d), free(lr);
    aimc_tiles_destroy(t);
  }
  aimc_context_destroy(ctx);
}

/* Tile stride 0 feeds every tile the same x and d. */
Test(exact, shared_inputs) {
  aimc_context_t *ctx = test_context(2, 1);
  aimc_tiles_desc_t td = counting_desc(3, 4, 5);
  td.config.update.pulse_type = AIMC_PULSE_NONE;
  td.config.update.learning_rate = 0.25f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t r = {12};
  float x[2 * 5], d[2 * 4], w[3 * 20];
  test_fill(&r, x, 10, -1, 1);
  test_fill(&r, d, 8, -1, 1);
  CK(aimc_tiles_update_ex(t, x, 0, d, 0, 2));
  CK(aimc_tiles_get_weights(t, w));
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 5; ++j) {
      float acc = d[i] * x[j];
      acc += d[4 + i] * x[5 + j];
      for (int k = 0; k < 3; ++k) cr_assert_eq(w[k * 20 + i * 5 + j], 0.0f - 0.25f * acc);
    }
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* NONE_WITH_DEVICE clips after every sample: pushing past the bound and
 * back differs from clipping once at the end. */
Test(exact, none_with_device_clips_each_sample) {
  aimc_context_t *ctx = test_context(1, 1);
  aimc_tiles_desc_t td = counting_desc(1, 1, 2);
  td.config.device.w_max = 0.5f;
  td.config.device.w_min = -0.5f;
  td.config.update.pulse_type = AIMC_PULSE_NONE_WITH_DEVICE;
  td.config.update.learning_rate = 1.0f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float w0[2] = {0.4f, -0.1f}, w[2];
  /* sample 0 moves both up by 0.3 (W -= d x with d = -1, x = 0.3); sample 1
   * moves both down by 0.2 */
  float x[4] = {0.3f, 0.3f, 0.2f, 0.2f}, d[2] = {-1.0f, 1.0f};
  CK(aimc_tiles_set_weights(t, w0));
  CK(aimc_tiles_update(t, x, d, 2));
  CK(aimc_tiles_get_weights(t, w));
  cr_assert_eq(w[0], 0.5f - 0.2f, "clipped at 0.5 after sample 0, got %.9g", w[0]);
  cr_assert_eq(w[1], (-0.1f + 0.3f) - 0.2f);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- BL, A, B ---------------------------------------------------------------- */

typedef struct ref_blab {
  int bl;
  double a, b;
} ref_blab_t;

/* aihwkit calculateBlAB + performUpdateManagement, in double. */
static ref_blab_t reference_blab(double lr, double g, int desired, int fixed, int um, int ublm,
                                 double gscale, double xm, double dm) {
  ref_blab_t r = {0, 0, 0};
  if (lr <= 0) return r;
  if (fixed || ublm || !(g * desired < lr)) {
    r.bl = desired;
    r.a = r.b = sqrt(lr / (g * desired));
  } else {
    r.bl = (int)ceil(lr / g);
    r.a = r.b = 1;
  }
  if (!(um || ublm)) return r;
  if (xm == 0 || dm == 0) {
    r.bl = 0;
    return r;
  }
  double dv = gscale * dm, k = lr * xm * dv / g;
  if (ublm) {
    r.bl = (int)fmin(ceil(k), desired);
    r.a = r.b = sqrt(lr / (g * r.bl));
  }
  if (k > desired) dv *= desired / k;
  r.a *= sqrt(xm / dv);
  r.b *= sqrt(dv / xm);
  return r;
}

static aimc_update_params_t params_of(float lr, float g, int desired, int fixed, int um, int ublm,
                                      float gscale) {
  aimc_update_params_t u;
  memset(&u, 0, sizeof u);
  u.lr = lr, u.granularity = g, u.desired_bl = desired, u.fixed_bl = fixed;
  u.um = um || ublm, u.ublm = ublm, u.um_grad_scale = gscale;
  return u;
}

Test(blab, matches_update_management_formulas) {
  test_rng_t r = {21};
  for (int i = 0; i < 20000; ++i) {
    float lr = expf(test_uniform(&r, -8, 1)), g = expf(test_uniform(&r, -9, -3));
    int desired = 1 + (int)(test_next(&r) % 100);
    int fixed = (int)(test_next(&r) & 1), um = (int)(test_next(&r) & 1),
        ublm = (int)(test_next(&r) & 1);
    float gs = test_uniform(&r, 0.5f, 2.0f);
    float xm = expf(test_uniform(&r, -6, 2)), dm = expf(test_uniform(&r, -6, 2));
    if (test_next(&r) % 17 == 0) xm = 0.0f;
    if (!fixed && !ublm && g * desired < lr && ceilf(lr / g) > AIMC_MAX_BL) continue;
    aimc_update_params_t u = params_of(lr, g, desired, fixed, um, ublm, gs);
    aimc_blab_t got = aimc_update_blab(&u, xm, dm);
    ref_blab_t want = reference_blab(lr, g, desired, fixed, um, ublm, gs, xm, dm);
    cr_assert_eq(got.bl, want.bl, "case %d: BL %d != %d", i, got.bl, want.bl);
    if (want.bl == 0) continue;
    cr_assert_lt(fabs(got.a - want.a), 2e-6 * want.a, "case %d: A %g != %g", i, got.a, want.a);
    cr_assert_lt(fabs(got.b - want.b), 2e-6 * want.b, "case %d: B %g != %g", i, got.b, want.b);
  }
}

/* A train longer than AIMC_MAX_BL is cut to AIMC_MAX_BL slots (saturation)
 * instead of overflowing the slot count: the case of a run-time rate (the
 * transfer family's auto-scaled A rate) that validation cannot see. */
Test(blab, variable_bl_is_capped) {
  aimc_update_params_t u = params_of(1e3f, 1e-3f, 31, 0, 0, 0, 1.0f); /* lr / g = 1e6 */
  aimc_blab_t r = aimc_update_blab(&u, 1.0f, 1.0f);
  cr_assert_eq(r.bl, AIMC_MAX_BL);
  u = params_of(1e30f, 1e-3f, 31, 0, 0, 0, 1.0f); /* lr / g beyond int range */
  cr_assert_eq(aimc_update_blab(&u, 1.0f, 1.0f).bl, AIMC_MAX_BL);
}

/* Counting coincidences without storing the trains (the CUDA backend's path
 * for very long trains) gives exactly the popcount of the stored trains. */
Test(trains, direct_count_equals_stored_trains) {
  test_rng_t r = {77};
  uint32_t xw[AIMC_TRAIN_WORDS(3000)], dw[AIMC_TRAIN_WORDS(3000)];
  int nonzero = 0;
  for (int c = 0; c < 2000; ++c) {
    int32_t bl = 1 + (int32_t)(test_next(&r) % (c < 1000 ? 70 : 3000));
    float px = test_uniform(&r, -0.2f, 1.2f), pd = test_uniform(&r, -0.2f, 1.2f);
    uint64_t key = test_next(&r), lx = test_next(&r) >> 20, ld = test_next(&r) >> 20;
    uint64_t sx = aimc_subsequence(AIMC_STREAM_UPDATE_X, (uint64_t)c);
    uint64_t sd = aimc_subsequence(AIMC_STREAM_UPDATE_D, (uint64_t)c);
    aimc_make_train(key, sx, lx, px, bl, xw);
    aimc_make_train(key, sd, ld, pd, bl, dw);
    int32_t want = aimc_coincidences(xw, dw, AIMC_TRAIN_WORDS(bl));
    int32_t got = aimc_coincidences_direct(key, sx, lx, px, sd, ld, pd, bl);
    cr_assert_eq(got, want, "case %d (bl %d, px %g, pd %g): %d != %d", c, bl, px, pd, got, want);
    nonzero += want > 0;
  }
  cr_assert_gt(nonzero, 1000, "the cases must mostly have coincidences");
}

/* Update management: the largest probabilities of both lines are equal
 * (sqrt(k/BL)) unless k > BL, where x saturates at 1 and d is clipped. */
Test(blab, balances_and_clips) {
  aimc_update_params_t u = params_of(0.01f, 0.001f, 31, 1, 1, 1, 1.0f);
  aimc_blab_t r = aimc_update_blab(&u, 4.0f, 0.25f); /* k = 10 */
  cr_assert_eq(r.bl, 10);
  cr_assert_float_eq(r.b * 4.0f, 1.0f, 1e-6);
  cr_assert_float_eq(r.a * 0.25f, 1.0f, 1e-6);
  r = aimc_update_blab(&u, 4.0f, 25.0f); /* k = 1000 > 31 */
  cr_assert_eq(r.bl, 31);
  cr_assert_float_eq(r.b * 4.0f, 1.0f, 1e-6);
  cr_assert_float_eq(r.a * 25.0f, 1000.0f / 31.0f, 1e-4);
  r = aimc_update_blab(&u, 0.0f, 1.0f);
  cr_assert_eq(r.bl, 0);
}

/* ---- Pulse statistics ------------------------------------------------------ */

/* Pulse count of every 1x1 tile over `calls` update calls (one sample each). */
static void count_pulses(aimc_tiles_t *t, int64_t n, const float *x, const float *d, int calls,
                         int32_t *counts) {
  float *w0 = test_alloc((size_t)n), *w1 = test_alloc((size_t)n);
  CK(aimc_tiles_get_weights(t, w0));
  for (int c = 0; c < calls; ++c) {
    CK(aimc_tiles_update(t, x, d, 1));
    CK(aimc_tiles_get_weights(t, w1));
    for (int64_t k = 0; k < n; ++k) {
      float steps = (w1[k] - w0[k]) / STEP;
      cr_assert_eq(steps, rintf(steps), "not a whole number of steps");
      /* all pulses of one sample on one device go one way: -sign(x d) */
      if (steps != 0.0f) cr_assert_eq(steps > 0, (x[k] > 0) != (d[k] > 0), "wrong direction");
      counts[(size_t)c * (size_t)n + (size_t)k] = (int32_t)fabsf(steps);
      w0[k] = w1[k];
    }
  }
  free(w0), free(w1);
}

/* Checks per-tile pulse counts against Binomial(bl_t, p_t). With m calls the
 * tile means give z_t = (mean - bl p) / sqrt(var / m); over T independent
 * tiles: sum z / sqrt(T) ~ N(0,1) (bias), sum z^2 has mean T and variance
 * sum (2 + kurt_t / m) (spread), and the sample variances s_t^2 / var_t have
 * mean 1 and variance (3 + kurt_t - (m-3)/(m-1)) / m. Each within 5 sigma. */
static void check_binomial(const int32_t *counts, int64_t T, int m, const int *bl,
                           const double *p) {
  double sum_z = 0, sum_z2 = 0, var_z2 = 0, sum_v = 0, var_v = 0;
  int used = 0;
  for (int64_t t = 0; t < T; ++t) {
    double mu = bl[t] * p[t], var = bl[t] * p[t] * (1 - p[t]);
    double s = 0, s2 = 0;
    for (int c = 0; c < m; ++c) {
      double n = counts[(size_t)c * (size_t)T + (size_t)t];
      s += n, s2 += n * n;
    }
    if (var <= 0) {
      cr_assert_eq(s, mu * m, "tile %lld: deterministic count", (long long)t);
      continue;
    }
    double mean = s / m, sv = (s2 - s * s / m) / (m - 1);
    double kurt = (1 - 6 * p[t] * (1 - p[t])) / var; /* excess kurtosis */
    double z = (mean - mu) / sqrt(var / m);
    sum_z += z, sum_z2 += z * z, var_z2 += 2 + kurt / m;
    sum_v += sv / var - 1, var_v += (3 + kurt - (m - 3.0) / (m - 1.0)) / m;
    used++;
  }
  cr_assert_gt(used, T / 2);
  cr_assert_lt(fabs(sum_z) / sqrt(used), 5, "mean counts biased: sum z / sqrt(T) = %g",
               sum_z / sqrt(used));
  cr_assert_lt(fabs(sum_z2 - used) / sqrt(var_z2), 5, "count means spread: chi2 %g for T=%d",
               sum_z2, used);
  cr_assert_lt(fabs(sum_v) / sqrt(var_v), 5, "count variances off: %g sigma",
               sum_v / sqrt(var_v));
}

typedef struct stat_case {
  int fixed, um, ublm, desired;
  float lr, res;
} stat_case_t;

/* 2048 independent 1x1 tiles with their own x and d, 48 calls each. */
static void run_statistics(const stat_case_t *sc) {
  enum { T = 2048, M = 48 };
  aimc_context_t *ctx = test_context(2, 5);
  aimc_tiles_desc_t td = counting_desc(T, 1, 1);
  td.config.update.fixed_bl = sc->fixed;
  td.config.update.update_management = sc->um;
  td.config.update.update_bl_management = sc->ublm;
  td.config.update.desired_bl = sc->desired;
  td.config.update.learning_rate = sc->lr;
  td.config.update.res = sc->res;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float *x = test_alloc(T), *d = test_alloc(T);
  int *bl = calloc(T, sizeof *bl);
  double *p = calloc(T, sizeof *p);
  int32_t *counts = calloc((size_t)T * M, sizeof *counts);
  cr_assert(bl && p && counts);
  test_rng_t r = {31};
  for (int k = 0; k < T; ++k) {
    x[k] = test_uniform(&r, 0.05f, 1.0f) * (test_next(&r) & 1 ? 1.0f : -1.0f);
    d[k] = test_uniform(&r, 0.05f, 1.5f) * (test_next(&r) & 1 ? 1.0f : -1.0f);
    ref_blab_t rb = reference_blab(sc->lr, STEP, sc->desired, sc->fixed, sc->um, sc->ublm, 1.0,
                                   fabs(x[k]), fabs(d[k]));
    double px = rb.b * fabs(x[k]), pd = rb.a * fabs(d[k]);
    if (sc->res > 0) px = rint(px / sc->res) * sc->res, pd = rint(pd / sc->res) * sc->res;
    bl[k] = rb.bl;
    p[k] = fmin(px, 1.0) * fmin(pd, 1.0);
  }
  count_pulses(t, T, x, d, M, counts);
  check_binomial(counts, T, M, bl, p);
  aimc_tile_stats_t *st = calloc(T, sizeof *st);
  CK(aimc_tiles_get_stats(t, st));
  for (int k = 0; k < T; ++k) {
    uint64_t total = 0;
    for (int c = 0; c < M; ++c) total += (uint64_t)counts[(size_t)c * T + (size_t)k];
    cr_assert_eq(st[k].pulses_up + st[k].pulses_down, total, "tile %d pulse statistics", k);
    cr_assert_eq(st[k].update_calls, (uint64_t)M);
  }
  free(st), free(x), free(d), free(bl), free(p), free(counts);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(statistics, fixed_bl_without_management) {
  stat_case_t sc = {1, 0, 0, 31, 0.8f * STEP * 31, 0.0f}; /* A = B = sqrt(0.8) */
  run_statistics(&sc);
}

Test(statistics, default_update_management) {
  stat_case_t sc = {1, 1, 1, 31, 0.05f, 0.0f}; /* k from 0.016 to 9.6: BL 1..10 */
  run_statistics(&sc);
}

Test(statistics, management_with_clipping) {
  stat_case_t sc = {1, 1, 0, 7, 0.1f, 0.0f}; /* k up to 19 > 7: d saturates */
  run_statistics(&sc);
}

Test(statistics, probability_resolution) {
  stat_case_t sc = {1, 0, 0, 20, 0.5f * STEP * 20, 0.1f};
  run_statistics(&sc);
}

/* Without update management and with a rate above g*BL the train length
 * grows to ceil(lr/g) with A = B = 1. */
Test(statistics, variable_bl) {
  stat_case_t sc = {0, 0, 0, 5, 12.5f * STEP, 0.0f}; /* BL = 13 */
  run_statistics(&sc);
}

/* Coincidences share the line trains: in a 2x2 tile the counts of two
 * weights in one row covary by BL px0 px1 pd (1 - pd), of one column by
 * BL pd0 pd1 px (1 - px), and weights sharing no line are independent.
 * Each sample covariance over N = tiles*calls draws within 5 standard errors
 * (SE from the product moments, sqrt(var_a var_b / N) bounds it for the
 * independent pair and approximately for the others). */
Test(statistics, lines_are_shared) {
  enum { T = 1024, M = 32 };
  aimc_context_t *ctx = test_context(2, 7);
  aimc_tiles_desc_t td = counting_desc(T, 2, 2);
  td.config.update.update_management = 0;
  td.config.update.update_bl_management = 0;
  td.config.update.desired_bl = 10;
  td.config.update.learning_rate = STEP * 10; /* A = B = 1 */
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float x[2] = {0.6f, 0.3f}, d[2] = {-0.7f, -0.4f}, *w0 = test_alloc(4 * T),
        *w1 = test_alloc(4 * T);
  double sum[4] = {0}, prod[3] = {0}, sq[4] = {0};
  for (int c = 0; c < M; ++c) {
    CK(aimc_tiles_get_weights(t, w0));
    CK(aimc_tiles_update_ex(t, x, 0, d, 0, 1));
    CK(aimc_tiles_get_weights(t, w1));
    for (int k = 0; k < T; ++k) {
      double n[4];
      for (int e = 0; e < 4; ++e) n[e] = (w1[4 * k + e] - w0[4 * k + e]) / STEP;
      for (int e = 0; e < 4; ++e) sum[e] += n[e], sq[e] += n[e] * n[e];
      prod[0] += n[0] * n[1]; /* row 0: weights (0,0) and (0,1) */
      prod[1] += n[0] * n[2]; /* column 0: weights (0,0) and (1,0) */
      prod[2] += n[0] * n[3]; /* no shared line */
    }
  }
  double N = (double)T * M, bl = 10;
  double want[3] = {bl * x[0] * x[1] * 0.7 * (1 - 0.7), bl * 0.7 * 0.4 * x[0] * (1 - x[0]), 0};
  int other[3] = {1, 2, 3};
  for (int q = 0; q < 3; ++q) {
    int e = other[q];
    double cov = prod[q] / N - (sum[0] / N) * (sum[e] / N);
    double va = sq[0] / N - (sum[0] / N) * (sum[0] / N), vb = sq[e] / N - (sum[e] / N) * (sum[e] / N);
    cr_assert_lt(fabs(cov - want[q]), 5 * sqrt(va * vb / N), "pair %d covariance %g, expected %g",
                 q, cov, want[q]);
  }
  free(w0), free(w1);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- Deterministic pulse types ---------------------------------------------- */

/* Pulse count a 1x1 tile must get from one sample (the definition, in the
 * same float operations: probabilities B|x|, A|d| with A = B =
 * sqrtf(lr/(g BL)), optional quantisation, clamp; n = rint(BL qd qx)). */
static int32_t implicit_count(int mean_count, float lr, int bl, float xres, float dres, float x,
                              float d) {
  float a = sqrtf(lr / (STEP * (float)bl));
  float px = a * fabsf(x), pd = a * fabsf(d);
  if (mean_count) {
    float cx = fminf(fmaxf(rintf((float)bl * px), 0.0f), (float)bl);
    float cd = fminf(fmaxf(rintf((float)bl * pd), 0.0f), (float)bl);
    return (int32_t)rintf(cd / (float)bl * cx);
  }
  if (xres > 0) px = rintf(px / xres) * xres;
  if (dres > 0) pd = rintf(pd / dres) * dres;
  px = fminf(fmaxf(px, 0.0f), 1.0f), pd = fminf(fmaxf(pd, 0.0f), 1.0f);
  return (int32_t)rintf((float)bl * pd * px);
}

static void check_deterministic(aimc_pulse_type_t type, float xres, float dres) {
  enum { T = 400 };
  aimc_context_t *ctx = test_context(2, 3);
  aimc_tiles_desc_t td = counting_desc(T, 1, 1);
  td.config.update.pulse_type = type;
  td.config.update.update_management = 0;
  td.config.update.update_bl_management = 0;
  td.config.update.desired_bl = 17;
  td.config.update.learning_rate = 0.09f;
  td.config.update.x_res_implicit = xres;
  td.config.update.d_res_implicit = dres;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float x[T], d[T];
  int32_t counts[T];
  test_rng_t r = {41};
  test_fill(&r, x, T, -1.2f, 1.2f);
  test_fill(&r, d, T, -1.2f, 1.2f);
  count_pulses(t, T, x, d, 1, counts);
  int nonzero = 0;
  for (int k = 0; k < T; ++k) {
    int32_t want = implicit_count(type == AIMC_PULSE_MEAN_COUNT, 0.09f, 17, xres, dres, x[k], d[k]);
    cr_assert_eq(counts[k], want, "tile %d (x %g, d %g): %d pulses, expected %d", k, x[k], d[k],
                 counts[k], want);
    nonzero += want != 0;
  }
  cr_assert_gt(nonzero, T / 2);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(deterministic, implicit_counts) { check_deterministic(AIMC_PULSE_DETERMINISTIC_IMPLICIT, 0, 0); }
Test(deterministic, implicit_counts_quantised) {
  check_deterministic(AIMC_PULSE_DETERMINISTIC_IMPLICIT, 0.1f, 0.25f);
}
Test(deterministic, mean_counts) { check_deterministic(AIMC_PULSE_MEAN_COUNT, 0, 0); }

/* ---- Signs, skipping, no-ops ----------------------------------------------- */

/* W -= lr d x^T: same signs decrease the weight, opposite signs increase it. */
Test(signs, direction_of_every_quadrant) {
  aimc_context_t *ctx = test_context(1, 1);
  aimc_tiles_desc_t td = counting_desc(1, 2, 2);
  td.config.update.pulse_type = AIMC_PULSE_DETERMINISTIC_IMPLICIT;
  td.config.update.update_management = 0;
  td.config.update.update_bl_management = 0;
  td.config.update.desired_bl = 3;
  td.config.update.learning_rate = 100.0f; /* probabilities clamp to 1: 3 pulses */
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float x[2] = {1.0f, -1.0f}, d[2] = {1.0f, -1.0f}, w[4];
  CK(aimc_tiles_update(t, x, d, 1));
  CK(aimc_tiles_get_weights(t, w));
  cr_assert_eq(w[0], -3 * STEP); /* d>0, x>0 */
  cr_assert_eq(w[1], 3 * STEP);  /* d>0, x<0 */
  cr_assert_eq(w[2], 3 * STEP);  /* d<0, x>0 */
  cr_assert_eq(w[3], -3 * STEP); /* d<0, x<0 */
  aimc_tile_stats_t st;
  CK(aimc_tiles_get_stats(t, &st));
  cr_assert_eq(st.pulses_up, 6u);
  cr_assert_eq(st.pulses_down, 6u);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(signs, zero_samples_and_zero_rate_do_nothing) {
  aimc_context_t *ctx = test_context(2, 1);
  aimc_tiles_desc_t td = counting_desc(2, 3, 4);
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float x[2 * 3 * 4] = {0}, d[2 * 3 * 3], w[2 * 12];
  test_rng_t r = {51};
  test_fill(&r, d, 18, -1, 1);
  for (int j = 0; j < 4; ++j) x[4 + j] = 0.5f; /* tile 0 sample 1 is the only nonzero x */
  CK(aimc_tiles_update(t, x, d, 3));
  aimc_tile_stats_t st[2];
  CK(aimc_tiles_get_stats(t, st));
  cr_assert_eq(st[0].update_samples, 1u);
  cr_assert_eq(st[1].update_samples, 0u);
  cr_assert_eq(st[1].pulses_up + st[1].pulses_down, 0u);
  CK(aimc_tiles_get_weights(t, w));
  for (int k = 12; k < 24; ++k) cr_assert_eq(w[k], 0.0f);
  float before[24];
  memcpy(before, w, sizeof w);
  CK(aimc_tiles_set_learning_rate(t, 0.0f));
  for (int k = 0; k < 24; ++k) x[k] = 1.0f;
  CK(aimc_tiles_update(t, x, d, 3));
  CK(aimc_tiles_get_weights(t, w));
  cr_assert_arr_eq(w, before, sizeof w);
  CK(aimc_tiles_update(t, x, d, 0)); /* batch 0: a no-op */
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- Chunking --------------------------------------------------------------- */

/* n_tiles tiles of ReRamSB (cycle-to-cycle and write noise), learning rate 0.2. */
static aimc_tiles_t *reram_tiles(aimc_context_t *ctx, int64_t n_tiles, int32_t rows,
                                 int32_t cols) {
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = n_tiles, td.rows = rows, td.cols = cols;
  aimc_device_desc_preset(&td.config.device, AIMC_PRESET_RERAM_SB);
  td.config.update.learning_rate = 0.2f;
  return test_tiles(ctx, &td);
}

static void run_noisy_updates(float *w, float *h, aimc_tile_stats_t *st) {
  aimc_context_t *ctx = test_context(2, 9);
  aimc_tiles_t *t = reram_tiles(ctx, 3, 8, 9);
  enum { B = 37 };
  float x[3 * B * 9], d[3 * B * 8];
  test_rng_t r = {61};
  test_fill(&r, x, sizeof x / sizeof x[0], -1, 1);
  test_fill(&r, d, sizeof d / sizeof d[0], -1, 1);
  for (int k = 0; k < 3; ++k) CK(aimc_tiles_update(t, x, d, B));
  CK(aimc_tiles_get_weights(t, w));
  CK(aimc_tiles_get_device_param(t, AIMC_PARAM_HIDDEN_WEIGHT, h));
  CK(aimc_tiles_get_stats(t, st));
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* Processing the batch in chunks of 1, 2 or 5 samples gives the same bits
 * as one chunk: each weight's noise stream resumes where it stopped. */
Test(chunking, results_do_not_depend_on_chunk_size) {
  float w_ref[216], h_ref[216], w[216], h[216];
  aimc_tile_stats_t st_ref[3], st[3];
  unsetenv("AIMC_CPU_TRAIN_BUDGET");
  run_noisy_updates(w_ref, h_ref, st_ref);
  cr_assert_gt(st_ref[0].pulses_up + st_ref[0].pulses_down, 100u);
  /* (8 + 9) lines x (4 + 4 + 1) bytes = 153 bytes per sample: chunks of 1, 2, 5 */
  const char *budgets[3] = {"1", "306", "765"};
  for (int c = 0; c < 3; ++c) {
    setenv("AIMC_CPU_TRAIN_BUDGET", budgets[c], 1);
    run_noisy_updates(w, h, st);
    cr_assert_arr_eq(w, w_ref, sizeof w, "budget %s: visible weights differ", budgets[c]);
    cr_assert_arr_eq(h, h_ref, sizeof h, "budget %s: device states differ", budgets[c]);
    cr_assert_arr_eq(st, st_ref, sizeof st, "budget %s: statistics differ", budgets[c]);
  }
  unsetenv("AIMC_CPU_TRAIN_BUDGET");
}

/* Sparse updates (a few pulsed weights per row): a single chunk draws the
 * write noise of whole row segments in one vector call and keeps the pulsed
 * weights' values; chunks of one sample take the per-weight rule
 * (aimc_refresh_visible) at the end. Same bits. */
static uint64_t run_sparse_noisy(aimc_tile_stats_t *st) {
  aimc_context_t *ctx = test_context(1, 9);
  aimc_tiles_t *t = reram_tiles(ctx, 1, 6, 64);
  enum { B = 3 };
  float x[B * 64], d[B * 6], w[6 * 64];
  test_rng_t r = {63};
  test_fill(&r, x, sizeof x / sizeof x[0], -1, 1);
  test_fill(&r, d, sizeof d / sizeof d[0], -0.002f, 0.002f);
  for (int k = 0; k < 20; ++k) CK(aimc_tiles_update(t, x, d, B));
  CK(aimc_tiles_get_weights(t, w));
  CK(aimc_tiles_get_stats(t, st));
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
  return test_fnv(w, sizeof w, TEST_FNV_START);
}

Test(chunking, sparse_write_noise_matches_the_per_weight_rule) {
  aimc_tile_stats_t st_ref, st;
  unsetenv("AIMC_CPU_TRAIN_BUDGET");
  uint64_t ref = run_sparse_noisy(&st_ref);
  /* sparse: pulses, but far fewer than 1 in 8 of the 20 x 3 x 384 weight-samples */
  uint64_t pulses = st_ref.pulses_up + st_ref.pulses_down;
  cr_assert(pulses > 10u && pulses < 20u * 3u * 384u / 8u, "%llu pulses: not a sparse update",
            (unsigned long long)pulses);
  setenv("AIMC_CPU_TRAIN_BUDGET", "1", 1); /* chunks of one sample */
  uint64_t h = run_sparse_noisy(&st);
  unsetenv("AIMC_CPU_TRAIN_BUDGET");
  cr_assert_eq(h, ref, "chunked and single-chunk weights differ");
  cr_assert_arr_eq(&st, &st_ref, sizeof st);
}

/* ---- Scratch kept by the context ------------------------------------------- */

/* The transfer family (per-sample steps) and a larger SGD tile updated in
 * turn with batches of several sizes; one context for both, or one each
 * (ctx_b NULL: the same as ctx_a). The scratch one call leaves in the
 * context must not change the next call's result. */
static void run_interleaved(int threads, int shared, uint64_t *ha, uint64_t *hb,
                            uint64_t *pulses) {
  aimc_context_t *ctx_a = test_context(threads, 3);
  aimc_context_t *ctx_b = shared ? ctx_a : test_context(threads, 3);
  aimc_tiles_desc_t ta, tb;
  aimc_tiles_desc_default(&ta);
  ta.n_tiles = 2, ta.rows = 8, ta.cols = 9, ta.seed = 4;
  CK(aimc_tile_config_preset(&ta.config, AIMC_ALGO_CHOPPED_TTV2, AIMC_PRESET_RERAM_SB));
  aimc_tiles_desc_default(&tb);
  tb.n_tiles = 1, tb.rows = 24, tb.cols = 31, tb.seed = 5;
  aimc_device_desc_preset(&tb.config.device, AIMC_PRESET_RERAM_SB);
  tb.config.update.learning_rate = 0.2f;
  aimc_tiles_t *a = test_tiles(ctx_a, &ta), *b = test_tiles(ctx_b, &tb);
  enum { BMAX = 37 };
  static float xa[2 * BMAX * 9], da[2 * BMAX * 8], xb[BMAX * 31], db[BMAX * 24];
  test_rng_t r = {71};
  const int64_t batches[] = {37, 1, 5, 1, 37, 2};
  for (int k = 0; k < 6; ++k) {
    int64_t n = batches[k];
    test_fill(&r, xa, (size_t)(2 * n * 9), -1, 1);
    test_fill(&r, da, (size_t)(2 * n * 8), -0.5f, 0.5f);
    test_fill(&r, xb, (size_t)(n * 31), -1, 1);
    test_fill(&r, db, (size_t)(n * 24), -1, 1);
    CK(aimc_tiles_update(a, xa, da, n));
    CK(aimc_tiles_update(b, xb, db, 38 - n)); /* large after small and back */
  }
  float wa[2 * 8 * 9], wb[24 * 31];
  aimc_tile_stats_t sa[2];
  CK(aimc_tiles_get_weights(a, wa));
  CK(aimc_tiles_get_weights(b, wb));
  CK(aimc_tiles_get_stats(a, sa));
  *pulses = sa[0].pulses_up + sa[0].pulses_down + sa[1].pulses_up + sa[1].pulses_down;
  *ha = test_fnv(wa, sizeof wa, TEST_FNV_START);
  *hb = test_fnv(wb, sizeof wb, TEST_FNV_START);
  aimc_tiles_destroy(a);
  aimc_tiles_destroy(b);
  aimc_context_destroy(ctx_a);
  if (!shared) aimc_context_destroy(ctx_b);
}

Test(scratch, kept_across_calls_of_other_shapes_and_batches) {
  for (int threads = 1; threads <= 2; ++threads) {
    uint64_t ha, hb, pa, ha_own, hb_own, pa_own;
    run_interleaved(threads, 0, &ha_own, &hb_own, &pa_own);
    cr_assert_gt(pa_own, 0u, "the transfer tiles were never pulsed (test tests nothing)");
    run_interleaved(threads, 1, &ha, &hb, &pa);
    cr_assert_eq(ha, ha_own, "%d threads: transfer tiles differ on a shared context", threads);
    cr_assert_eq(hb, hb_own, "%d threads: SGD tile differs on a shared context", threads);
  }
}
