/* Mixed precision (digital accumulator chi beside the analog W): exact
 * accumulation of lr d x^T, the transfer of whole granularity steps into W
 * with the predicted pulses, the row schedule (rows per transfer, wrapping
 * pointer, period in update calls), binning of x and d with unbiased
 * stochastic rounding, the reset on writes, and thread independence. */
#include "common.h"

/* Ideal ConstantStep device with step 2^-6 and bounds far from the weights
 * used here, so every pulse moves W by exactly +-STEP. */
#define STEP 0.015625f
#define AIMC_TEST_MAX_WRITE_PULSES 65535u /* kernels/common/update.h */

static void mp_config(aimc_tile_config_t *cfg) {
  aimc_tile_config_default(cfg);
  aimc_device_desc_default(&cfg->device, AIMC_DEVICE_CONSTANT_STEP);
  test_ideal_device(&cfg->device);
  cfg->device.dw_min = STEP;
  cfg->device.w_max = 4.0f;
  cfg->device.w_min = -4.0f;
  CK(aimc_algorithm_desc_default(&cfg->algorithm, AIMC_ALGO_MIXED_PRECISION));
  cfg->update.learning_rate = 0.5f;
}

static aimc_tiles_desc_t mp_desc(int64_t n_tiles, int rows, int cols) {
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = n_tiles;
  td.rows = rows;
  td.cols = cols;
  mp_config(&td.config);
  return td;
}

/* ---- Reference model ------------------------------------------------------------ */

/* The rule written out independently: chi += (lr d_i) x_j per sample in
 * order; after every period-th call, n_rows rows from the pointer move
 * m = trunc(chi / g) steps: chi -= m g, rint(|m| transfer_lr g / dw_min)
 * pulses of STEP on W, down for m > 0. */
typedef struct mp_ref {
  int64_t n_tiles;
  int rows, cols;
  float g, tlr;
  int64_t period;
  int n_rows;
  float *lr, *chi, *w, *acc; /* acc: chi after accumulation, before the transfer */
  int64_t calls;
  int next;
  uint64_t transfers, up, down, ops;
} mp_ref_t;

static void ref_init(mp_ref_t *r, const aimc_tiles_desc_t *td, const float *lr, const float *w0) {
  memset(r, 0, sizeof *r);
  r->n_tiles = td->n_tiles;
  r->rows = td->rows;
  r->cols = td->cols;
  const aimc_algorithm_desc_t *a = &td->config.algorithm;
  r->g = a->granularity > 0.0f ? a->granularity : td->config.device.dw_min;
  r->tlr = a->transfer_lr;
  float e = rintf(a->transfer_every);
  r->period = e < 1.0f ? 1 : (int64_t)e;
  r->n_rows = a->n_rows_per_transfer < 0 ? td->rows : a->n_rows_per_transfer;
  size_t nw = (size_t)r->n_tiles * (size_t)r->rows * (size_t)r->cols;
  r->lr = test_alloc((size_t)r->n_tiles);
  r->chi = test_alloc(nw);
  r->w = test_alloc(nw);
  r->acc = test_alloc(nw);
  for (int64_t t = 0; t < r->n_tiles; ++t) r->lr[t] = lr ? lr[t] : td->config.update.learning_rate;
  if (w0) memcpy(r->w, w0, nw * sizeof(float));
}

static void ref_free(mp_ref_t *r) { free(r->lr), free(r->chi), free(r->w), free(r->acc); }

/* Whether row i was written by the last call's transfer. */
static int ref_transferred(const mp_ref_t *r, int first_row, int i) {
  for (int k = 0; k < r->n_rows; ++k)
    if ((first_row + k) % r->rows == i) return 1;
  return 0;
}

/* One update call; returns the first row transferred, or -1 if none. */
static int ref_update(mp_ref_t *r, const float *x, const float *d, int batch) {
  int R = r->rows, C = r->cols;
  for (int64_t t = 0; t < r->n_tiles; ++t) {
    float *chi = r->chi + t * R * C;
    for (int b = 0; b < batch; ++b)
      for (int i = 0; i < R; ++i) {
        float di = r->lr[t] * d[(t * batch + b) * R + i];
        for (int j = 0; j < C; ++j) chi[i * C + j] += di * x[(t * batch + b) * C + j];
      }
  }
  r->ops += (uint64_t)batch * (uint64_t)(R * C);
  memcpy(r->acc, r->chi, (size_t)r->n_tiles * (size_t)(R * C) * sizeof(float));
  if (++r->calls % r->period != 0) return -1;
  int first = r->next;
  for (int64_t t = 0; t < r->n_tiles; ++t)
    for (int k = 0; k < r->n_rows; ++k) {
      int i = (first + k) % R;
      for (int j = 0; j < C; ++j) {
        float *c = &r->chi[(t * R + i) * C + j], *w = &r->w[(t * R + i) * C + j];
        float m = truncf(*c / r->g);
        if (m == 0.0f) continue;
        *c = *c - m * r->g;
        int n = (int)rintf(fabsf(m) * r->tlr * r->g / STEP);
        for (int q = 0; q < n; ++q) *w = m > 0.0f ? *w - STEP : *w + STEP;
        if (t == 0) {
          if (m > 0.0f)
            r->down += (uint64_t)n;
          else
            r->up += (uint64_t)n;
        }
      }
    }
  r->transfers += (uint64_t)r->n_rows;
  r->ops += (uint64_t)r->n_rows * (uint64_t)C;
  r->next = (first + r->n_rows) % R;
  return first;
}

/* Library chi and W equal the reference bit for bit. */
static void expect_state(aimc_tiles_t *t, const mp_ref_t *r, const char *what) {
  size_t nw = (size_t)r->n_tiles * (size_t)r->rows * (size_t)r->cols;
  float *chi = test_alloc(nw), *w = test_alloc(nw);
  CK(aimc_tiles_get_buffer(t, AIMC_BUFFER_TRANSFER, chi));
  CK(aimc_tiles_get_weights(t, w));
  for (size_t k = 0; k < nw; ++k) {
    cr_assert_eq(chi[k], r->chi[k], "%s: chi[%zu] = %.9g, expected %.9g", what, k, chi[k],
                 r->chi[k]);
    cr_assert_eq(w[k], r->w[k], "%s: W[%zu] = %.9g, expected %.9g", what, k, w[k], r->w[k]);
  }
  free(chi), free(w);
}

/* ---- Accumulation --------------------------------------------------------------- */

/* With the transfer far away chi is exactly the float sum of (lr d_i) x_j
 * in sample order, with each tile's own learning rate, and W is untouched. */
Test(accumulate, exact_before_transfer) {
  enum { T = 3, R = 5, C = 7, B = 4, CALLS = 3 };
  aimc_context_t *ctx = test_context(2, 1);
  aimc_tiles_desc_t td = mp_desc(T, R, C);
  td.config.algorithm.transfer_every = 1.0e6f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t rng = {101};
  float lr[T] = {0.5f, 0.037f, 1.3f}, w0[T * R * C], x[T * B * C], d[T * B * R];
  test_fill(&rng, w0, T * R * C, -0.5f, 0.5f);
  CK(aimc_tiles_set_weights(t, w0));
  CK(aimc_tiles_set_learning_rates(t, lr));
  mp_ref_t ref;
  ref_init(&ref, &td, lr, w0);
  for (int c = 0; c < CALLS; ++c) {
    test_fill(&rng, x, T * B * C, -1.0f, 1.0f);
    test_fill(&rng, d, T * B * R, -1.0f, 1.0f);
    d[2] = 0.0f; /* a zero gradient adds nothing */
    CK(aimc_tiles_update(t, x, d, B));
    ref_update(&ref, x, d, B);
    expect_state(t, &ref, "accumulation");
  }
  /* chi is not trivially small: several granularity steps are pending */
  float big = 0.0f;
  for (int k = 0; k < T * R * C; ++k) big = fmaxf(big, fabsf(ref.chi[k]));
  cr_assert_gt(big, 4.0f * STEP);
  aimc_tile_stats_t st[T];
  CK(aimc_tiles_get_stats(t, st));
  for (int k = 0; k < T; ++k) {
    cr_assert_eq(st[k].transfers, 0u);
    cr_assert_eq(st[k].array_pulses[0], 0u);
    cr_assert_eq(st[k].update_calls, (uint64_t)CALLS);
    cr_assert_eq(st[k].digital_ops, (uint64_t)CALLS * B * R * C, "tile %d: %llu ops", k,
                 (unsigned long long)st[k].digital_ops);
  }
  ref_free(&ref);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- Transfer ------------------------------------------------------------------- */

/* One call with a transfer of every row: afterwards |chi| < g everywhere,
 * chi keeps exactly the remainder, W moved by -m g in STEP pulses, and the
 * pulse statistics count |m| per element in the right direction. */
static void check_one_transfer(float granularity, float transfer_lr, int pulses_per_step) {
  enum { R = 4, C = 6, B = 3 };
  aimc_context_t *ctx = test_context(2, 2);
  aimc_tiles_desc_t td = mp_desc(1, R, C);
  td.config.algorithm.granularity = granularity;
  td.config.algorithm.transfer_lr = transfer_lr;
  td.config.update.learning_rate = 0.25f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t rng = {202};
  float w0[R * C], x[B * C], d[B * R], chi[R * C], w[R * C];
  for (int k = 0; k < R * C; ++k) w0[k] = STEP * (float)((int)(test_next(&rng) % 41) - 20);
  test_fill(&rng, x, B * C, -1.0f, 1.0f);
  test_fill(&rng, d, B * R, -1.0f, 1.0f);
  CK(aimc_tiles_set_weights(t, w0));
  mp_ref_t ref;
  ref_init(&ref, &td, NULL, w0);
  CK(aimc_tiles_update(t, x, d, B));
  cr_assert_eq(ref_update(&ref, x, d, B), 0);
  expect_state(t, &ref, "one transfer");
  CK(aimc_tiles_get_buffer(t, AIMC_BUFFER_TRANSFER, chi));
  CK(aimc_tiles_get_weights(t, w));
  float g = ref.g;
  uint64_t up = 0, down = 0;
  for (int k = 0; k < R * C; ++k) {
    cr_assert_lt(fabsf(chi[k]), g, "chi[%d] = %.9g not below g = %.9g", k, chi[k], g);
    /* m from the accumulated value; W moved by -m steps of g, as pulses */
    float m = truncf(ref.acc[k] / g);
    float n_pulses = (w[k] - w0[k]) / STEP;
    cr_assert_eq(n_pulses, -m * (float)pulses_per_step, "W[%d] moved %g pulses, m = %g", k,
                 n_pulses, m);
    if (m > 0) down += (uint64_t)(m * (float)pulses_per_step);
    if (m < 0) up += (uint64_t)(-m * (float)pulses_per_step);
  }
  cr_assert_gt(up, 0u, "the data must move some weights up");
  cr_assert_gt(down, 0u, "... and some down");
  aimc_tile_stats_t st;
  CK(aimc_tiles_get_stats(t, &st));
  cr_assert_eq(st.pulses_up, up);
  cr_assert_eq(st.pulses_down, down);
  cr_assert_eq(st.array_pulses[0], up + down);
  cr_assert_eq(st.transfers, (uint64_t)R, "one transfer counts its %d rows", R);
  cr_assert_eq(st.digital_ops, (uint64_t)B * R * C + (uint64_t)R * C);
  ref_free(&ref);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(transfer, whole_steps_of_the_device_granularity) { check_one_transfer(0.0f, 1.0f, 1); }

/* g = 4 dw_min with transfer_lr 0.5: each step of g is rint(0.5 * 4) = 2
 * pulses of dw_min. */
Test(transfer, granularity_and_transfer_lr) { check_one_transfer(4.0f * STEP, 0.5f, 2); }

/* A write asks for more pulses than a device can take (transfer_lr 1e9):
 * each device receives exactly AIMC_MAX_WRITE_PULSES = 65535 pulses, enough
 * to pin it at its bound, and chi still keeps only the remainder. */
Test(transfer, pulses_per_write_are_capped) {
  enum { R = 2, C = 3, B = 2 };
  aimc_context_t *ctx = test_context(1, 3);
  aimc_tiles_desc_t td = mp_desc(1, R, C);
  td.config.algorithm.transfer_lr = 1e9f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float x[B * C], d[B * R], chi[R * C], w[R * C];
  for (int k = 0; k < B * C; ++k) x[k] = k % 2 ? 0.75f : -0.5f;
  for (int k = 0; k < B * R; ++k) d[k] = k % 3 ? 0.5f : -1.0f;
  CK(aimc_tiles_update(t, x, d, B));
  CK(aimc_tiles_get_buffer(t, AIMC_BUFFER_TRANSFER, chi));
  CK(aimc_tiles_get_weights(t, w));
  aimc_tile_stats_t st;
  CK(aimc_tiles_get_stats(t, &st));
  uint64_t moved = 0;
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) {
      float acc = 0.0f; /* chi after accumulation: sum_b lr d x */
      for (int b = 0; b < B; ++b) acc += 0.5f * d[b * R + i] * x[b * C + j];
      float m = truncf(acc / STEP);
      cr_assert_lt(fabsf(chi[i * C + j]), STEP);
      if (m == 0.0f) continue;
      moved++;
      cr_assert_eq(w[i * C + j], m > 0.0f ? -4.0f : 4.0f, "W[%d][%d] = %g not at its bound", i,
                   j, w[i * C + j]);
    }
  cr_assert_gt(moved, 0u);
  cr_assert_eq(st.array_pulses[0], moved * AIMC_TEST_MAX_WRITE_PULSES);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* Two rows per transfer from a pointer that wraps around 5 rows: calls
 * write rows {0,1}, {2,3}, {4,0}, {1,2}, ... Rows not written keep their
 * whole accumulated chi; written rows keep less than g. */
Test(transfer, rows_per_transfer_and_wrapping_pointer) {
  enum { T = 2, R = 5, C = 3, B = 2, CALLS = 7 };
  aimc_context_t *ctx = test_context(2, 3);
  aimc_tiles_desc_t td = mp_desc(T, R, C);
  td.config.algorithm.n_rows_per_transfer = 2;
  td.config.update.learning_rate = 0.1f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t rng = {303};
  mp_ref_t ref;
  ref_init(&ref, &td, NULL, NULL);
  float x[T * B * C], d[T * B * R], chi[T * R * C];
  for (int c = 0; c < CALLS; ++c) {
    test_fill(&rng, x, T * B * C, -1.0f, 1.0f);
    test_fill(&rng, d, T * B * R, -1.0f, 1.0f);
    CK(aimc_tiles_update(t, x, d, B));
    int first = ref_update(&ref, x, d, B);
    cr_assert_eq(first, (2 * c) % R, "call %d starts at row %d", c, first);
    expect_state(t, &ref, "wrapping rows");
    CK(aimc_tiles_get_buffer(t, AIMC_BUFFER_TRANSFER, chi));
    for (int k = 0; k < T * R * C; ++k) {
      int i = (k / C) % R;
      if (ref_transferred(&ref, first, i))
        cr_assert_lt(fabsf(chi[k]), ref.g, "call %d row %d written: chi %.9g", c, i, chi[k]);
      else
        cr_assert_eq(chi[k], ref.acc[k], "call %d row %d not written: chi changed", c, i);
    }
  }
  /* the data must have made some untransferred row exceed g, or the
   * distinction above would be vacuous */
  int pending = 0;
  for (int k = 0; k < T * R * C; ++k) pending += fabsf(ref.chi[k]) >= ref.g;
  cr_assert_gt(pending, 0);
  aimc_tile_stats_t st[T];
  CK(aimc_tiles_get_stats(t, st));
  for (int k = 0; k < T; ++k) {
    cr_assert_eq(st[k].transfers, (uint64_t)(2 * CALLS));
    cr_assert_eq(st[k].digital_ops, ref.ops);
  }
  cr_assert_eq(st[0].pulses_up, ref.up);
  cr_assert_eq(st[0].pulses_down, ref.down);
  ref_free(&ref);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* transfer_every counts update calls (not samples) and is rounded to an
 * integer >= 1: 3 and 2.6 transfer after calls 3, 6, 9; 0.2 and 1 after
 * every call. */
Test(transfer, period_in_update_calls) {
  enum { T = 4, R = 3, C = 2, B = 3, CALLS = 10 }; /* B = 3: counting samples would differ */
  const float every[T] = {3.0f, 2.6f, 0.2f, 1.0f};
  const int period[T] = {3, 3, 1, 1};
  aimc_context_t *ctx = test_context(2, 4);
  aimc_tile_config_t cfg[T];
  for (int k = 0; k < T; ++k) {
    mp_config(&cfg[k]);
    cfg[k].algorithm.transfer_every = every[k];
  }
  aimc_tiles_desc_t td = mp_desc(T, R, C);
  td.per_tile = cfg;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  const float x[B * C] = {0.3f, -0.2f, 0.1f, 0.7f, -0.5f, 0.25f};
  const float d[B * R] = {0.5f, -0.1f, 0.2f, 0.3f, 0.9f, -0.4f, 0.6f, 0.0f, -0.8f};
  for (int c = 1; c <= CALLS; ++c) {
    CK(aimc_tiles_update_ex(t, x, 0, d, 0, B));
    aimc_tile_stats_t st[T];
    CK(aimc_tiles_get_stats(t, st));
    for (int k = 0; k < T; ++k) {
      uint64_t events = (uint64_t)(c / period[k]);
      cr_assert_eq(st[k].transfers, events * R, "tile %d after call %d: %llu row transfers", k,
                   c, (unsigned long long)st[k].transfers);
      cr_assert_eq(st[k].digital_ops, (uint64_t)c * B * R * C + events * R * C);
    }
  }
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- Binning -------------------------------------------------------------------- */

/* x binned with n_x_bins = 8 (half = 4) of max|x| = 1: width 0.25. With
 * d = 1 and lr = 1 the chi row of a single sample is qx itself. Every value
 * is a multiple of the width and one of the two neighbours of x (floor or
 * ceil); the largest |x| maps to itself. */
Test(binning, values_are_neighbouring_multiples_of_the_width) {
  enum { T = 64, C = 6 };
  aimc_context_t *ctx = test_context(2, 5);
  aimc_tiles_desc_t td = mp_desc(T, 1, C);
  td.config.algorithm.transfer_every = 1.0e6f;
  td.config.algorithm.n_x_bins = 8;
  td.config.update.learning_rate = 1.0f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  const float x[C] = {-1.0f, 0.3f, -0.61f, 0.125f, 0.97f, 0.0f}, d[1] = {1.0f};
  const float width = 0.25f;
  float chi[T * C];
  CK(aimc_tiles_update_ex(t, x, 0, d, 0, 1));
  CK(aimc_tiles_get_buffer(t, AIMC_BUFFER_TRANSFER, chi));
  int rounded_up = 0, rounded_down = 0;
  for (int k = 0; k < T; ++k)
    for (int j = 0; j < C; ++j) {
      float q = chi[k * C + j] / width, lo = floorf(x[j] / width);
      cr_assert_eq(q, rintf(q), "tile %d x[%d]: %.9g is not a multiple of %g", k, j,
                   chi[k * C + j], width);
      cr_assert(q == lo || q == lo + 1.0f, "tile %d x[%d] = %g binned to %g bins", k, j, x[j], q);
      cr_assert_leq(fabsf(q), 4.0f);
      if (x[j] == lo * width) cr_assert_eq(q, lo, "exact multiples (-1, 0) stay");
      rounded_up += q > lo && x[j] != lo * width;
      rounded_down += q == lo && x[j] != lo * width;
    }
  /* stochastic, not nearest: both directions occur (P(all one way) ~ 2^-200) */
  cr_assert_gt(rounded_up, 0);
  cr_assert_gt(rounded_down, 0);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* Unbiased stochastic rounding: B samples per call accumulate in chi, so
 * chi / (T B) is the mean binned value over N = T B draws. A draw is
 * width * (lo + Bernoulli(f)) with f = frac(v / width): variance
 * width^2 f (1 - f), standard error width sqrt(f (1 - f) / N); the mean must
 * be within 5 SE of v (exact when f = 0). Checked for x (n_x_bins = 9,
 * half 4, max 1: width 0.25) and for d (n_d_bins = 6, half 3, max 1.5:
 * width 0.5). Dyadic widths keep the sums in chi exact. */
static void check_unbiased(int bin_x) {
  enum { T = 16, B = 1024, N = 5 };
  aimc_context_t *ctx = test_context(2, 6);
  int rows = bin_x ? 1 : N, cols = bin_x ? N : 1;
  aimc_tiles_desc_t td = mp_desc(T, rows, cols);
  td.config.algorithm.transfer_every = 1.0e6f;
  td.config.update.learning_rate = 1.0f;
  if (bin_x)
    td.config.algorithm.n_x_bins = 9;
  else
    td.config.algorithm.n_d_bins = 6;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  const float v[N] = {1.0f, -0.33f, 0.51f, -1.0f, 0.07f};
  const float dv[N] = {-1.5f, 0.33f, 1.1f, -0.61f, 0.2f};
  const float *vals = bin_x ? v : dv;
  float width = bin_x ? 0.25f : 0.5f;
  float *x = test_alloc((size_t)B * cols), *d = test_alloc((size_t)B * rows);
  for (int b = 0; b < B; ++b) {
    for (int k = 0; k < N; ++k) (bin_x ? x : d)[b * N + k] = vals[k];
    (bin_x ? d : x)[b] = 1.0f; /* the other factor is exactly 1 */
  }
  float chi[T * N];
  CK(aimc_tiles_update_ex(t, x, 0, d, 0, B));
  CK(aimc_tiles_get_buffer(t, AIMC_BUFFER_TRANSFER, chi));
  for (int k = 0; k < N; ++k) {
    double sum = 0.0;
    for (int tt = 0; tt < T; ++tt) sum += chi[tt * N + k];
    double mean = sum / (T * B), u = (double)vals[k] / width;
    double f = u - floor(u), se = width * sqrt(f * (1.0 - f) / (T * B));
    cr_assert_leq(fabs(mean - vals[k]), 5.0 * se + 1e-6, "%s[%d] = %g: mean %.6f, SE %.2g",
                  bin_x ? "x" : "d", k, vals[k], mean, se);
  }
  free(x), free(d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(binning, x_rounding_is_unbiased) { check_unbiased(1); }
Test(binning, d_rounding_is_unbiased) { check_unbiased(0); }

/* ---- Writes reset the algorithm ------------------------------------------------------ */

/* set_weights and program_weights zero chi, restart the period count and
 * put the row pointer back at row 0. */
Test(state, writes_reset_chi_period_and_pointer) {
  enum { R = 3, C = 4 };
  aimc_context_t *ctx = test_context(1, 7);
  aimc_tiles_desc_t td = mp_desc(1, R, C);
  td.config.algorithm.transfer_every = 2.0f;
  td.config.algorithm.n_rows_per_transfer = 1;
  td.config.update.learning_rate = 0.2f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t rng = {404};
  float x[C], d[R], chi[R * C], w1[R * C], w[R * C];
  for (int k = 0; k < R * C; ++k) w1[k] = STEP * (float)k;
  mp_ref_t ref;
  ref_init(&ref, &td, NULL, NULL);
  for (int mode = 0; mode < 2; ++mode) {
    /* calls 1, 2 (transfer of row 0 or, after a write, again row 0), 3 */
    for (int c = 0; c < 3; ++c) {
      test_fill(&rng, x, C, -1.0f, 1.0f);
      test_fill(&rng, d, R, -1.0f, 1.0f);
      CK(aimc_tiles_update(t, x, d, 1));
      int first = ref_update(&ref, x, d, 1);
      cr_assert_eq(first, c == 1 ? 0 : -1, "write %d call %d", mode, c);
      expect_state(t, &ref, "before the write");
    }
    CK(aimc_tiles_get_buffer(t, AIMC_BUFFER_TRANSFER, chi));
    int nonzero = 0;
    for (int k = 0; k < R * C; ++k) nonzero += chi[k] != 0.0f;
    cr_assert_gt(nonzero, 0, "chi holds something to reset");
    CK(mode ? aimc_tiles_program_weights(t, w1) : aimc_tiles_set_weights(t, w1));
    CK(aimc_tiles_get_buffer(t, AIMC_BUFFER_TRANSFER, chi));
    CK(aimc_tiles_get_weights(t, w));
    for (int k = 0; k < R * C; ++k) {
      cr_assert_eq(chi[k], 0.0f, "write %d: chi[%d] = %g", mode, k, chi[k]);
      cr_assert_eq(w[k], w1[k]);
    }
    /* the reference restarts: chi 0, no calls since the write, pointer 0 */
    memset(ref.chi, 0, sizeof(float) * R * C);
    memcpy(ref.w, w1, sizeof w1);
    ref.calls = 0;
    ref.next = 0;
  }
  aimc_tile_stats_t st;
  CK(aimc_tiles_get_stats(t, &st));
  cr_assert_eq(st.transfers, 2u, "one row transfer per write period");
  ref_free(&ref);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- Threads -------------------------------------------------------------------- */

enum { TT = 4, TR = 6, TC = 5, TB = 3 };

typedef struct mp_record {
  float w[TT * TR * TC], h[TT * TR * TC], chi[TT * TR * TC];
  aimc_tile_stats_t stats[TT];
} mp_record_t;

/* Noisy devices (default ConstantStep spreads and cycle noise) and binning,
 * so every random stream of the algorithm is used. */
static void run_threads(int threads, mp_record_t *rec) {
  memset(rec, 0, sizeof *rec);
  aimc_context_t *ctx = test_context(threads, 99);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = TT, td.rows = TR, td.cols = TC;
  aimc_tile_config_default(&td.config);
  CK(aimc_algorithm_desc_default(&td.config.algorithm, AIMC_ALGO_MIXED_PRECISION));
  td.config.algorithm.n_x_bins = 7;
  td.config.algorithm.n_d_bins = 5;
  td.config.algorithm.transfer_every = 2.0f;
  td.config.algorithm.n_rows_per_transfer = 4;
  td.config.update.learning_rate = 0.05f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  static float w0[TT * TR * TC], x[TT * TB * TC], d[TT * TB * TR];
  test_rng_t r = {505};
  test_fill(&r, w0, TT * TR * TC, -0.3f, 0.3f);
  CK(aimc_tiles_program_weights(t, w0));
  for (int c = 0; c < 6; ++c) {
    test_fill(&r, x, TT * TB * TC, -1.0f, 1.0f);
    test_fill(&r, d, TT * TB * TR, -1.0f, 1.0f);
    CK(aimc_tiles_update(t, x, d, TB));
  }
  CK(aimc_tiles_get_weights(t, rec->w));
  CK(aimc_tiles_get_device_param(t, AIMC_PARAM_HIDDEN_WEIGHT, rec->h));
  CK(aimc_tiles_get_buffer(t, AIMC_BUFFER_TRANSFER, rec->chi));
  CK(aimc_tiles_get_stats(t, rec->stats));
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(threads, one_and_three_threads_agree) {
  static mp_record_t a, b;
  run_threads(1, &a);
  run_threads(3, &b);
  cr_assert_arr_eq(a.w, b.w, sizeof a.w, "weights");
  cr_assert_arr_eq(a.h, b.h, sizeof a.h, "device states");
  cr_assert_arr_eq(a.chi, b.chi, sizeof a.chi, "chi");
  cr_assert_arr_eq(a.stats, b.stats, sizeof a.stats, "statistics");
  cr_assert_gt(a.stats[0].array_pulses[0], 0u, "transfers did pulse the devices");
}
