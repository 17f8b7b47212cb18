/* STELLAR (sign updates of differential pairs W = G+ - G-): which pairs a
 * sample selects (inputs above c1 max x, errors at or above the threshold),
 * the RESET/SET cycle table on even/odd samples across calls, batches and
 * writes, one pulse per selected pair on one device, pulse statistics,
 * magnitude independence, the combined weight reads see, and thread
 * independence. */
#include "common.h"

/* Ideal ConstantStep devices with step 2^-6 and bounds +-1: a pulse moves a
 * conductance by exactly +-STEP, and the weights used here stay well inside. */
#define STEP 0.015625f

static void ideal(aimc_device_desc_t *d) {
  aimc_device_desc_default(d, AIMC_DEVICE_CONSTANT_STEP);
  test_ideal_device(d);
  d->dw_min = STEP;
  d->w_max = 1.0f;
  d->w_min = -1.0f;
}

static void stellar_config(aimc_tile_config_t *cfg) {
  aimc_tile_config_default(cfg);
  ideal(&cfg->device);
  ideal(&cfg->fast_device);
  CK(aimc_algorithm_desc_default(&cfg->algorithm, AIMC_ALGO_STELLAR));
}

static aimc_tiles_desc_t stellar_desc(int64_t n_tiles, int rows, int cols) {
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = n_tiles;
  td.rows = rows;
  td.cols = cols;
  stellar_config(&td.config);
  return td;
}

/* Conductances of both arrays, [n_tiles][rows][cols] each. */
static void get_pair(aimc_tiles_t *t, float *gp, float *gm) {
  CK(aimc_tiles_get_device_param_ex(t, 0, AIMC_PARAM_VISIBLE_WEIGHT, gp));
  CK(aimc_tiles_get_device_param_ex(t, 1, AIMC_PARAM_VISIBLE_WEIGHT, gm));
}

/* Random weights on the grid of 2 STEP, so G+- = +-w/2 are multiples of STEP. */
static void grid_weights(test_rng_t *r, float *w, size_t n) {
  for (size_t k = 0; k < n; ++k) w[k] = 2.0f * STEP * (float)((int)(test_next(r) % 21) - 10);
}

/* ---- Reference model ------------------------------------------------------------ */

/* The rule written out independently, per tile: n counts samples since the
 * last write. */
typedef struct st_ref {
  int64_t n_tiles;
  int rows, cols;
  float c1, th;
  float *gp, *gm;
  uint64_t n;
  uint64_t pulses[2]; /* per array, tile 0 */
} st_ref_t;

static void ref_init(st_ref_t *r, const aimc_tiles_desc_t *td, const float *w0) {
  memset(r, 0, sizeof *r);
  r->n_tiles = td->n_tiles;
  r->rows = td->rows;
  r->cols = td->cols;
  r->c1 = td->config.algorithm.stellar_c1;
  r->th = td->config.algorithm.stellar_threshold;
  size_t nw = (size_t)r->n_tiles * (size_t)(r->rows * r->cols);
  r->gp = test_alloc(nw);
  r->gm = test_alloc(nw);
  for (size_t k = 0; k < nw; ++k) r->gp[k] = 0.5f * w0[k], r->gm[k] = -0.5f * w0[k];
}

static void ref_free(st_ref_t *r) { free(r->gp), free(r->gm); }

static int ref_sign(const st_ref_t *r, float d) {
  float e = -d;
  if (e > 0.0f && e >= r->th) return 1;
  if (e < 0.0f && -e >= r->th) return -1;
  return 0;
}

static void ref_update(st_ref_t *r, const float *x, const float *d, int batch) {
  int R = r->rows, C = r->cols;
  for (int b = 0; b < batch; ++b, ++r->n) {
    int reset = r->n % 2 == 0;
    for (int64_t t = 0; t < r->n_tiles; ++t) {
      const float *xs = x + (t * batch + b) * C, *ds = d + (t * batch + b) * R;
      float xm = xs[0];
      for (int j = 1; j < C; ++j) xm = xs[j] > xm ? xs[j] : xm;
      for (int i = 0; i < R; ++i)
        for (int j = 0; j < C; ++j) {
          int sel = xs[j] > 0.0f && xs[j] > r->c1 * xm;
          int u = sel * ref_sign(r, ds[i]);
          if (!u) continue;
          size_t k = (size_t)((t * R + i) * C + j);
          /* RESET lowers the device that opposes the update, SET raises the
           * one that carries it */
          float *g = (u > 0) == reset ? &r->gm[k] : &r->gp[k];
          *g = reset ? *g - STEP : *g + STEP;
          if (t == 0) r->pulses[g == &r->gm[k]]++;
        }
    }
  }
}

static void expect_ref(aimc_tiles_t *t, const st_ref_t *r, const char *what) {
  size_t nw = (size_t)r->n_tiles * (size_t)(r->rows * r->cols);
  float *gp = test_alloc(nw), *gm = test_alloc(nw), *w = test_alloc(nw);
  get_pair(t, gp, gm);
  CK(aimc_tiles_get_weights(t, w));
  for (size_t k = 0; k < nw; ++k) {
    cr_assert_eq(gp[k], r->gp[k], "%s: G+[%zu] = %.9g, expected %.9g", what, k, gp[k], r->gp[k]);
    cr_assert_eq(gm[k], r->gm[k], "%s: G-[%zu] = %.9g, expected %.9g", what, k, gm[k], r->gm[k]);
    cr_assert_eq(w[k], r->gp[k] - r->gm[k], "%s: W[%zu] = %.9g", what, k, w[k]);
  }
  free(gp), free(gm), free(w);
}

/* ---- One sample ------------------------------------------------------------------- */

/* Hand-made selection with c1 = 0.4, Th = 0.25 and max x = 1:
 *   x = {1, 0.4 (= c1 max: not above), 0.41, -0.9, 0, 0.7, 0.39}
 *   selected inputs: 0, 2, 5
 *   d = {-0.3 (e +0.3: +1), 0.25 (e -0.25 = -Th: -1), 0.2 (|e| < Th: 0),
 *        0 (0), -0.25 (e = +Th: +1)}
 * The first sample (n = 0) is a RESET cycle: U = +1 lowers G-, U = -1
 * lowers G+; the second (n = 1) a SET cycle: U = +1 raises G+, U = -1
 * raises G-. Everything else keeps its value exactly. */
enum { OR = 5, OC = 7 };
static const float one_x[OC] = {1.0f, 0.4f, 0.41f, -0.9f, 0.0f, 0.7f, 0.39f};
static const float one_d[OR] = {-0.3f, 0.25f, 0.2f, 0.0f, -0.25f};
static const int one_sel[OC] = {1, 0, 1, 0, 0, 1, 0};
static const int one_sign[OR] = {1, -1, 0, 0, 1};

Test(one_sample, exactly_the_selected_pairs_move_one_step) {
  aimc_context_t *ctx = test_context(1, 1);
  aimc_tiles_desc_t td = stellar_desc(1, OR, OC);
  td.config.algorithm.stellar_threshold = 0.25f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t rng = {11};
  float w0[OR * OC], gp0[OR * OC], gm0[OR * OC], gp[OR * OC], gm[OR * OC];
  grid_weights(&rng, w0, OR * OC);
  CK(aimc_tiles_set_weights(t, w0));
  get_pair(t, gp0, gm0);
  for (int k = 0; k < OR * OC; ++k) {
    cr_assert_eq(gp0[k], 0.5f * w0[k], "a write splits w into G+ = w/2 ...");
    cr_assert_eq(gm0[k], -0.5f * w0[k], "... and G- = -w/2");
  }
  int n_plus = 0, n_minus = 0;
  for (int cycle = 0; cycle < 2; ++cycle) { /* 0: RESET sample, 1: SET sample */
    CK(aimc_tiles_update(t, one_x, one_d, 1));
    get_pair(t, gp, gm);
    for (int i = 0; i < OR; ++i)
      for (int j = 0; j < OC; ++j) {
        int k = i * OC + j, u = one_sign[i] * one_sel[j];
        float dp = 0.0f, dm = 0.0f;
        if (cycle == 0 && u > 0) dm = -STEP;
        if (cycle == 0 && u < 0) dp = -STEP;
        if (cycle == 1 && u > 0) dp = STEP;
        if (cycle == 1 && u < 0) dm = STEP;
        cr_assert_eq(gp[k], gp0[k] + dp, "cycle %d (%d, %d) U = %d: G+ %.9g -> %.9g", cycle, i,
                     j, u, gp0[k], gp[k]);
        cr_assert_eq(gm[k], gm0[k] + dm, "cycle %d (%d, %d) U = %d: G- %.9g -> %.9g", cycle, i,
                     j, u, gm0[k], gm[k]);
        if (cycle == 0) n_plus += u > 0, n_minus += u < 0;
      }
    memcpy(gp0, gp, sizeof gp);
    memcpy(gm0, gm, sizeof gm);
  }
  cr_assert_eq(n_plus, 6, "rows 0 and 4 times inputs 0, 2, 5");
  cr_assert_eq(n_minus, 3, "row 1 times inputs 0, 2, 5");
  /* RESET: U = +1 pulses G-, U = -1 pulses G+, all down; SET: the other way
   * round, all up */
  aimc_tile_stats_t st;
  CK(aimc_tiles_get_stats(t, &st));
  cr_assert_eq(st.array_pulses[0], (uint64_t)(n_minus + n_plus));
  cr_assert_eq(st.array_pulses[1], (uint64_t)(n_plus + n_minus));
  cr_assert_eq(st.pulses_down, (uint64_t)(n_plus + n_minus));
  cr_assert_eq(st.pulses_up, (uint64_t)(n_plus + n_minus));
  cr_assert_eq(st.update_samples, 2u);
  cr_assert_eq(st.update_calls, 2u);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* No input above zero, or no error at the threshold: nothing moves and the
 * sample does not count as producing pulses, but it still takes its place
 * in the RESET/SET alternation. */
Test(one_sample, unselected_samples_change_nothing) {
  aimc_context_t *ctx = test_context(1, 2);
  aimc_tiles_desc_t td = stellar_desc(1, 2, 3);
  td.config.algorithm.stellar_threshold = 0.5f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float w0[6] = {0.125f, -0.25f, 0.0f, 0.5f, 0.0625f, -0.03125f}, gp[6], gm[6], w[6];
  CK(aimc_tiles_set_weights(t, w0));
  /* all x <= 0 (max x = 0); errors large */
  const float x1[3] = {-0.5f, 0.0f, -1.0f}, d1[2] = {-1.0f, 1.0f};
  /* inputs fine, errors below the threshold */
  const float x2[3] = {0.5f, 0.9f, 1.0f}, d2[2] = {-0.49f, 0.499f};
  CK(aimc_tiles_update(t, x1, d1, 1));
  CK(aimc_tiles_update(t, x2, d2, 1));
  get_pair(t, gp, gm);
  CK(aimc_tiles_get_weights(t, w));
  for (int k = 0; k < 6; ++k) {
    cr_assert_eq(gp[k], 0.5f * w0[k]);
    cr_assert_eq(gm[k], -0.5f * w0[k]);
    cr_assert_eq(w[k], w0[k]);
  }
  aimc_tile_stats_t st;
  CK(aimc_tiles_get_stats(t, &st));
  cr_assert_eq(st.pulses_up + st.pulses_down, 0u);
  cr_assert_eq(st.update_samples, 0u);
  /* the third sample is n = 2: a RESET cycle, so U = +1 lowers G- */
  const float x3[3] = {0.0f, 0.0f, 1.0f}, d3[2] = {-0.5f, 0.0f};
  CK(aimc_tiles_update(t, x3, d3, 1));
  get_pair(t, gp, gm);
  cr_assert_eq(gm[2], -0.5f * w0[2] - STEP, "pair (0, 2) RESET on sample 2");
  cr_assert_eq(gp[2], 0.5f * w0[2]);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- Cycles --------------------------------------------------------------------- */

/* Random data through calls of different batch sizes: the parity of the
 * running sample count decides the cycle, not the position in the batch,
 * so the state after each call matches the reference bit for bit. */
Test(cycles, alternate_across_calls_and_batches) {
  enum { T = 3, R = 4, C = 6 };
  const int batches[] = {3, 1, 2, 4, 1, 5};
  aimc_context_t *ctx = test_context(2, 3);
  aimc_tiles_desc_t td = stellar_desc(T, R, C);
  td.config.algorithm.stellar_threshold = 0.1f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t rng = {33};
  float w0[T * R * C], x[T * 5 * C], d[T * 5 * R];
  grid_weights(&rng, w0, T * R * C);
  CK(aimc_tiles_set_weights(t, w0));
  st_ref_t ref;
  ref_init(&ref, &td, w0);
  int samples = 0;
  for (size_t c = 0; c < sizeof batches / sizeof batches[0]; ++c) {
    int B = batches[c];
    test_fill(&rng, x, (size_t)(T * B * C), -1.0f, 1.0f);
    test_fill(&rng, d, (size_t)(T * B * R), -1.0f, 1.0f);
    CK(aimc_tiles_update(t, x, d, B));
    ref_update(&ref, x, d, B);
    samples += B;
    expect_ref(t, &ref, "after a call");
  }
  /* RESET and SET both happened on both arrays */
  cr_assert_gt(ref.pulses[0], 0u);
  cr_assert_gt(ref.pulses[1], 0u);
  aimc_tile_stats_t st[T];
  CK(aimc_tiles_get_stats(t, st));
  cr_assert_eq(st[0].array_pulses[0], ref.pulses[0]);
  cr_assert_eq(st[0].array_pulses[1], ref.pulses[1]);
  cr_assert_eq(st[0].pulses_up + st[0].pulses_down, ref.pulses[0] + ref.pulses[1]);
  for (int k = 0; k < T; ++k) cr_assert_leq(st[k].update_samples, (uint64_t)samples);
  ref_free(&ref);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* The sample count restarts at 0 on a write: after an odd number of
 * samples, the first sample after set_weights or program_weights is a
 * RESET cycle again (without the restart it would be a SET cycle). */
Test(cycles, writes_restart_at_a_reset_cycle) {
  aimc_context_t *ctx = test_context(1, 4);
  const float x[1] = {1.0f}, d[1] = {-1.0f}, w0[1] = {0.25f}; /* U = +1 */
  float gp, gm;
  for (int mode = 0; mode < 2; ++mode) {
    aimc_tiles_desc_t td = stellar_desc(1, 1, 1);
    aimc_tiles_t *t = test_tiles(ctx, &td);
    CK(aimc_tiles_update(t, x, d, 1));
    CK(mode ? aimc_tiles_program_weights(t, w0) : aimc_tiles_set_weights(t, w0));
    CK(aimc_tiles_update(t, x, d, 1));
    get_pair(t, &gp, &gm);
    cr_assert_eq(gp, 0.125f, "write %d: G+ untouched by a RESET with U = +1", mode);
    cr_assert_eq(gm, -0.125f - STEP, "write %d: G- lowered by the RESET", mode);
    aimc_tiles_destroy(t);
  }
  aimc_context_destroy(ctx);
}

/* ---- Magnitude independence ---------------------------------------------------------- */

/* The update is ternary and has no learning rate: x and d scaled by 10 and
 * a different learning rate give the same bits, with noisy devices too
 * (equal tile seeds, so the same noise draws), and with ideal devices the
 * reference agrees. Th = 0, so the scale cannot change the error selection. */
static void run_scaled(int noisy, float scale, float lr, const float *x, const float *d,
                       float *gp, float *gm) {
  enum { T = 2, R = 5, C = 8, B = 6 };
  aimc_context_t *ctx = test_context(2, 5);
  aimc_tiles_desc_t td = stellar_desc(T, R, C);
  if (noisy) {
    aimc_device_desc_default(&td.config.device, AIMC_DEVICE_CONSTANT_STEP);
    td.config.device.dw_min = 0.01f;
    td.config.fast_device = td.config.device;
  }
  td.config.update.learning_rate = lr;
  uint64_t seeds[T] = {77, 78};
  td.tile_seeds = seeds;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float xs[T * B * C], ds[T * B * R], w0[T * R * C];
  for (int k = 0; k < T * B * C; ++k) xs[k] = scale * x[k];
  for (int k = 0; k < T * B * R; ++k) ds[k] = scale * d[k];
  test_rng_t rng = {55};
  grid_weights(&rng, w0, T * R * C);
  CK(aimc_tiles_set_weights(t, w0));
  CK(aimc_tiles_update(t, xs, ds, B));
  get_pair(t, gp, gm);
  if (!noisy) {
    st_ref_t ref;
    ref_init(&ref, &td, w0);
    ref_update(&ref, x, d, B);
    expect_ref(t, &ref, "scaled");
    cr_assert_gt(ref.pulses[0] + ref.pulses[1], 0u);
    ref_free(&ref);
  }
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(ternary, independent_of_magnitude_and_learning_rate) {
  enum { N = 2 * 5 * 8 };
  float x[2 * 6 * 8], d[2 * 6 * 5], gp[2][N], gm[2][N];
  test_rng_t rng = {66};
  /* quarter-integers: 10 x is exact, so the selection cannot flip by rounding */
  for (int k = 0; k < 2 * 6 * 8; ++k) x[k] = 0.25f * (float)((int)(test_next(&rng) % 9) - 4);
  for (int k = 0; k < 2 * 6 * 5; ++k) d[k] = 0.25f * (float)((int)(test_next(&rng) % 9) - 4);
  for (int noisy = 0; noisy < 2; ++noisy) {
    run_scaled(noisy, 1.0f, 0.01f, x, d, gp[0], gm[0]);
    run_scaled(noisy, 10.0f, 0.7f, x, d, gp[1], gm[1]);
    cr_assert_arr_eq(gp[0], gp[1], sizeof gp[0], "noisy %d: G+ depends on the scale", noisy);
    cr_assert_arr_eq(gm[0], gm[1], sizeof gm[0], "noisy %d: G- depends on the scale", noisy);
  }
}

/* ---- Reads ---------------------------------------------------------------------- */

/* Reads see W = G+ - G-: get_weights and a perfect forward pass (one-hot
 * inputs read columns, a dyadic input the whole product, exact in float). */
Test(reads, combined_weight) {
  enum { T = 2, R = 3, C = 4 };
  aimc_context_t *ctx = test_context(2, 6);
  aimc_tiles_desc_t td = stellar_desc(T, R, C);
  CK(aimc_tile_config_io_preset(&td.config, AIMC_IO_PERFECT));
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t rng = {77};
  float w0[T * R * C], x[T * 3 * C], d[T * 3 * R];
  grid_weights(&rng, w0, T * R * C);
  CK(aimc_tiles_set_weights(t, w0));
  for (int c = 0; c < 3; ++c) {
    test_fill(&rng, x, T * 3 * C, -1.0f, 1.0f);
    test_fill(&rng, d, T * 3 * R, -1.0f, 1.0f);
    CK(aimc_tiles_update(t, x, d, 3));
  }
  float gp[T * R * C], gm[T * R * C], w[T * R * C];
  get_pair(t, gp, gm);
  CK(aimc_tiles_get_weights(t, w));
  int differs = 0;
  for (int k = 0; k < T * R * C; ++k) {
    cr_assert_eq(w[k], gp[k] - gm[k], "W[%d] = %.9g, G+ - G- = %.9g", k, w[k], gp[k] - gm[k]);
    differs += w[k] != w0[k];
  }
  cr_assert_gt(differs, 0, "the updates changed some weights");
  /* columns through one-hot inputs, then a dyadic input */
  float in[T * (C + 1) * C], y[T * (C + 1) * R];
  memset(in, 0, sizeof in);
  for (int k = 0; k < T; ++k) {
    for (int j = 0; j < C; ++j) in[(k * (C + 1) + j) * C + j] = 1.0f;
    for (int j = 0; j < C; ++j) in[(k * (C + 1) + C) * C + j] = 0.25f * (float)(j + 1) - 0.5f;
  }
  CK(aimc_tiles_forward(t, in, y, C + 1));
  for (int k = 0; k < T; ++k)
    for (int i = 0; i < R; ++i) {
      float full = 0.0f;
      for (int j = 0; j < C; ++j) {
        float wij = gp[(k * R + i) * C + j] - gm[(k * R + i) * C + j];
        cr_assert_eq(y[(k * (C + 1) + j) * R + i], wij, "tile %d column %d row %d", k, j, i);
        full += wij * in[(k * (C + 1) + C) * C + j];
      }
      cr_assert_eq(y[(k * (C + 1) + C) * R + i], full, "tile %d row %d: W x", k, i);
    }
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- Threads -------------------------------------------------------------------- */

enum { TT = 4, TR = 7, TC = 5, TB = 4 };

typedef struct st_record {
  float w[TT * TR * TC], gp[TT * TR * TC], gm[TT * TR * TC];
  aimc_tile_stats_t stats[TT];
} st_record_t;

/* Default (noisy) ConstantStep devices: each pulse draws cycle noise. */
static void run_threads(int threads, st_record_t *rec) {
  memset(rec, 0, sizeof *rec);
  aimc_context_t *ctx = test_context(threads, 123);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = TT, td.rows = TR, td.cols = TC;
  aimc_tile_config_default(&td.config);
  CK(aimc_algorithm_desc_default(&td.config.algorithm, AIMC_ALGO_STELLAR));
  td.config.algorithm.stellar_threshold = 0.2f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  static float w0[TT * TR * TC], x[TT * TB * TC], d[TT * TB * TR];
  test_rng_t r = {606};
  test_fill(&r, w0, TT * TR * TC, -0.3f, 0.3f);
  CK(aimc_tiles_program_weights(t, w0));
  for (int c = 0; c < 5; ++c) {
    test_fill(&r, x, TT * TB * TC, -1.0f, 1.0f);
    test_fill(&r, d, TT * TB * TR, -1.0f, 1.0f);
    CK(aimc_tiles_update(t, x, d, TB));
  }
  CK(aimc_tiles_get_weights(t, rec->w));
  get_pair(t, rec->gp, rec->gm);
  CK(aimc_tiles_get_stats(t, rec->stats));
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(threads, one_and_three_threads_agree) {
  static st_record_t a, b;
  run_threads(1, &a);
  run_threads(3, &b);
  cr_assert_arr_eq(a.w, b.w, sizeof a.w, "weights");
  cr_assert_arr_eq(a.gp, b.gp, sizeof a.gp, "G+");
  cr_assert_arr_eq(a.gm, b.gm, sizeof a.gm, "G-");
  cr_assert_arr_eq(a.stats, b.stats, sizeof a.stats, "statistics");
  cr_assert_gt(a.stats[0].array_pulses[1], 0u);
}

/* The output gate C2 (aimc_tiles_update_gated): output i is selected only
 * when its activation y_i >= stellar_c2; without y every output may be. */
Test(one_sample, output_gate_c2) {
  aimc_context_t *ctx = test_context(1, 1);
  aimc_tiles_desc_t td = stellar_desc(1, OR, OC);
  td.config.algorithm.stellar_threshold = 0.25f;
  td.config.algorithm.stellar_c2 = 0.5f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  const float y[OR] = {0.6f, 0.5f, 0.9f, 0.9f, 0.49f}; /* output 4 is gated off */
  float gp0[OR * OC], gm0[OR * OC], gp[OR * OC], gm[OR * OC];
  get_pair(t, gp0, gm0);
  CK(aimc_tiles_update_gated(t, one_x, 0, one_d, 0, y, 0, 1)); /* a RESET sample */
  get_pair(t, gp, gm);
  int moved = 0;
  for (int i = 0; i < OR; ++i)
    for (int j = 0; j < OC; ++j) {
      int k = i * OC + j, u = (i == 4 ? 0 : one_sign[i]) * one_sel[j];
      cr_assert_eq(gm[k], gm0[k] - (u > 0 ? STEP : 0.0f), "(%d, %d)", i, j);
      cr_assert_eq(gp[k], gp0[k] - (u < 0 ? STEP : 0.0f), "(%d, %d)", i, j);
      moved += u != 0;
    }
  cr_assert_eq(moved, 6, "rows 0 and 1 times inputs 0, 2, 5; row 4 gated");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}
