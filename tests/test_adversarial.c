/* Adversarial use of the public API (issue 11): NULL and out-of-range
 * arguments, NaN and infinities in every data argument, extreme in-range
 * parameters. Every refused call must leave the state bit-identical to a
 * twin that never saw it: weights, every device parameter of every array,
 * the algorithm buffers, the choppers and the statistics, and (by one more
 * identical step on both) the random-stream counters. Every case runs
 * under a time limit, so a hang fails. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp (scratch.h) */
#include <zlib.h>

#include "common.h"
#include "kernels/common/combine.h"
#include "kernels/common/mixed_precision.h"
#include "kernels/common/transfer.h"
#include "kernels/common/update.h"
#include "scratch.h"

#define ROWS 3
#define COLS 4
#define NT 2
#define BATCH 3

static aimc_context_t *cpu(void) { return test_context(1, 11); }

/* ---- Tile batches and their twins ------------------------------------------ */

static aimc_tiles_t *make_tiles(aimc_context_t *ctx, const aimc_tile_config_t *cfg) {
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = NT, td.rows = ROWS, td.cols = COLS, td.seed = 77;
  td.config = *cfg;
  return test_tiles(ctx, &td);
}

/* Asserts that a and b hold the same bits everywhere a user can look. */
static void assert_tiles_equal(const aimc_tiles_t *a, const aimc_tiles_t *b, const char *what) {
  enum { N = NT * ROWS * COLS };
  float va[N], vb[N];
  CK(aimc_tiles_get_weights(a, va));
  CK(aimc_tiles_get_weights(b, vb));
  cr_assert_arr_eq(va, vb, sizeof va, "%s: weights differ", what);
  int32_t arrays = 0;
  CK(aimc_tiles_n_arrays(a, &arrays));
  for (int32_t r = 0; r < arrays; ++r)
    for (int p = 0; p < AIMC_PARAM_COUNT; ++p) {
      CK(aimc_tiles_get_device_param_ex(a, r, (aimc_device_param_t)p, va));
      CK(aimc_tiles_get_device_param_ex(b, r, (aimc_device_param_t)p, vb));
      cr_assert_arr_eq(va, vb, sizeof va, "%s: array %d parameter %d differs", what, r, p);
    }
  for (int k = 0; k < AIMC_BUFFER_COUNT; ++k) {
    CK(aimc_tiles_get_buffer(a, (aimc_buffer_t)k, va));
    CK(aimc_tiles_get_buffer(b, (aimc_buffer_t)k, vb));
    cr_assert_arr_eq(va, vb, sizeof va, "%s: buffer %d differs", what, k);
  }
  int8_t ca[NT * (ROWS + COLS)], cb[NT * (ROWS + COLS)];
  CK(aimc_tiles_get_choppers(a, ca, ca + NT * COLS));
  CK(aimc_tiles_get_choppers(b, cb, cb + NT * COLS));
  cr_assert_arr_eq(ca, cb, sizeof ca, "%s: choppers differ", what);
  aimc_tile_stats_t sa[NT], sb[NT];
  CK(aimc_tiles_get_stats(a, sa));
  CK(aimc_tiles_get_stats(b, sb));
  cr_assert_arr_eq(sa, sb, sizeof sa, "%s: statistics differ", what);
}

/* Weights, device states and statistics of two tile batches of any shape. */
static void assert_tiles_equal_any(const aimc_tiles_t *a, const aimc_tiles_t *b,
                                   const char *what) {
  int64_t n;
  int32_t r, c;
  CK(aimc_tiles_shape(a, &n, &r, &c));
  size_t nw = (size_t)n * (size_t)r * (size_t)c;
  float *wa = test_alloc(nw), *wb = test_alloc(nw);
  for (int p = -1; p < AIMC_PARAM_COUNT; ++p) {
    if (p < 0) {
      CK(aimc_tiles_get_weights(a, wa));
      CK(aimc_tiles_get_weights(b, wb));
    } else {
      CK(aimc_tiles_get_device_param(a, (aimc_device_param_t)p, wa));
      CK(aimc_tiles_get_device_param(b, (aimc_device_param_t)p, wb));
    }
    cr_assert_arr_eq(wa, wb, nw * sizeof(float), "%s: %s %d differs", what,
                     p < 0 ? "weights" : "parameter", p);
  }
  aimc_tile_stats_t *sa = calloc((size_t)n, sizeof *sa), *sb = calloc((size_t)n, sizeof *sb);
  CK(aimc_tiles_get_stats(a, sa));
  CK(aimc_tiles_get_stats(b, sb));
  cr_assert_arr_eq(sa, sb, (size_t)n * sizeof *sa, "%s: statistics differ", what);
  free(wa), free(wb), free(sa), free(sb);
}

/* The same good step on both, then equal again: the random-stream counters
 * (not visible otherwise) did not move either. */
static void assert_twins(aimc_tiles_t *a, aimc_tiles_t *b, const char *what) {
  assert_tiles_equal(a, b, what);
  float x[NT * BATCH * COLS], d[NT * BATCH * ROWS], y[NT * BATCH * ROWS];
  test_rng_t r = {5};
  test_fill(&r, x, sizeof x / sizeof *x, -1.0f, 1.0f);
  test_fill(&r, d, sizeof d / sizeof *d, -1.0f, 1.0f);
  aimc_tiles_t *both[2] = {a, b};
  for (int k = 0; k < 2; ++k) {
    CK(aimc_tiles_forward(both[k], x, y, BATCH));
    CK(aimc_tiles_update(both[k], x, d, BATCH));
  }
  assert_tiles_equal(a, b, what);
}

/* The configurations tried: every algorithm, and SGD with every pulse type. */
static int n_configs(void) { return AIMC_ALGO_COUNT + 4; }
static void config_of(int k, aimc_tile_config_t *cfg, char *name, size_t len) {
  aimc_tile_config_default(cfg);
  if (k < AIMC_ALGO_COUNT) {
    CK(aimc_tile_config_algorithm(cfg, (aimc_algorithm_t)k));
    snprintf(name, len, "%s", aimc_algorithm_name((aimc_algorithm_t)k));
    if (k == AIMC_ALGO_MIXED_PRECISION) cfg->algorithm.transfer_every = 1.0f;
    return;
  }
  static const aimc_pulse_type_t types[4] = {AIMC_PULSE_NONE, AIMC_PULSE_NONE_WITH_DEVICE,
                                             AIMC_PULSE_MEAN_COUNT,
                                             AIMC_PULSE_DETERMINISTIC_IMPLICIT};
  cfg->update.pulse_type = types[k - AIMC_ALGO_COUNT];
  snprintf(name, len, "SGD with pulse type %d", (int)cfg->update.pulse_type);
}

static void expect(aimc_status_t got, aimc_status_t want, const char *needle, const char *what) {
  cr_assert_eq(got, want, "%s: %s (%s), expected %s", what, aimc_status_string(got),
               aimc_last_error(), aimc_status_string(want));
  if (needle)
    cr_assert(strstr(aimc_last_error(), needle), "%s: message \"%s\" lacks \"%s\"", what,
              aimc_last_error(), needle);
}

/* ---- NaN and infinities in update data (each failed before the policy) ---- */

static const float bad_values[3] = {NAN, INFINITY, -INFINITY};

/* NaN, +inf and -inf at (tile 1, sample 2, index 1) of x, d and y of every
 * update entry point, for every algorithm and pulse type: refused naming
 * the element, nothing changed. Before: all accepted, MIXED_PRECISION hung. */
Test(nonfinite, update_data_refused_for_every_configuration, .timeout = 120) {
  aimc_context_t *ctx = cpu();
  for (int k = 0; k < n_configs(); ++k) {
    aimc_tile_config_t cfg;
    char name[64], what[160];
    config_of(k, &cfg, name, sizeof name);
    aimc_tiles_t *a = make_tiles(ctx, &cfg), *b = make_tiles(ctx, &cfg);
    for (int v = 0; v < 3; ++v)
      for (int arg = 0; arg < 3; ++arg) {
        float x[NT * BATCH * COLS], d[NT * BATCH * ROWS], y[NT * BATCH * ROWS];
        test_rng_t r = {(uint64_t)(k * 9 + v * 3 + arg)};
        test_fill(&r, x, sizeof x / sizeof *x, -1.0f, 1.0f);
        test_fill(&r, d, sizeof d / sizeof *d, -1.0f, 1.0f);
        test_fill(&r, y, sizeof y / sizeof *y, 0.0f, 1.0f);
        float *target = arg == 0 ? x : arg == 1 ? d : y;
        int64_t width = arg == 0 ? COLS : ROWS;
        target[(1 * BATCH + 2) * width + 1] = bad_values[v];
        snprintf(what, sizeof what, "%s, %g in %s", name, (double)bad_values[v],
                 arg == 0 ? "x" : arg == 1 ? "d" : "y");
        const char *needle = arg == 0 ? "x[tile 1][sample 2][index 1]"
                             : arg == 1 ? "d[tile 1][sample 2][index 1]"
                                        : "y[tile 1][sample 2][index 1]";
        if (arg < 2) expect(aimc_tiles_update(a, x, d, BATCH), AIMC_ERR_INVALID_ARGUMENT, needle,
                            what);
        expect(aimc_tiles_update_gated(a, x, BATCH * COLS, d, BATCH * ROWS, y, BATCH * ROWS,
                                       BATCH),
               AIMC_ERR_INVALID_ARGUMENT, needle, what);
        assert_tiles_equal(a, b, what);
      }
    /* shared data (stride 0): the message says so */
    float xs[BATCH * COLS], ds[BATCH * ROWS];
    test_rng_t r = {3};
    test_fill(&r, xs, BATCH * COLS, -1.0f, 1.0f);
    test_fill(&r, ds, BATCH * ROWS, -1.0f, 1.0f);
    xs[COLS + 3] = NAN;
    expect(aimc_tiles_update_ex(a, xs, 0, ds, 0, BATCH), AIMC_ERR_INVALID_ARGUMENT,
           "x (shared by all tiles)[sample 1][index 3]", name);
    assert_twins(a, b, name);
    aimc_tiles_destroy(a);
    aimc_tiles_destroy(b);
  }
  aimc_context_destroy(ctx);
}

/* set_weights and program_weights refuse NaN and infinities (before: stored). */
Test(nonfinite, weight_writes_refused, .timeout = 60) {
  aimc_context_t *ctx = cpu();
  for (int k = 0; k < n_configs(); ++k) {
    aimc_tile_config_t cfg;
    char name[64];
    config_of(k, &cfg, name, sizeof name);
    aimc_tiles_t *a = make_tiles(ctx, &cfg), *b = make_tiles(ctx, &cfg);
    for (int v = 0; v < 3; ++v) {
      float w[NT * ROWS * COLS] = {0};
      w[(1 * ROWS + 2) * COLS + 3] = bad_values[v];
      expect(aimc_tiles_set_weights(a, w), AIMC_ERR_INVALID_ARGUMENT, "w[tile 1][row 2][col 3]",
             name);
      expect(aimc_tiles_program_weights(a, w), AIMC_ERR_INVALID_ARGUMENT,
             "w[tile 1][row 2][col 3]", name);
      assert_tiles_equal(a, b, name);
    }
    assert_twins(a, b, name);
    aimc_tiles_destroy(a);
    aimc_tiles_destroy(b);
  }
  aimc_context_destroy(ctx);
}

Test(nonfinite, learning_rates_refused, .timeout = 30) {
  aimc_context_t *ctx = cpu();
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  aimc_tiles_t *a = make_tiles(ctx, &cfg), *b = make_tiles(ctx, &cfg);
  const float bad[4] = {NAN, INFINITY, -INFINITY, -1.0f};
  for (int v = 0; v < 4; ++v) {
    expect(aimc_tiles_set_learning_rate(a, bad[v]), AIMC_ERR_INVALID_ARGUMENT, "lr", "one rate");
    float lr[NT] = {0.1f, bad[v]};
    expect(aimc_tiles_set_learning_rates(a, lr), AIMC_ERR_INVALID_ARGUMENT, "lr[1]", "rates");
  }
  expect(aimc_tiles_set_learning_rates(a, NULL), AIMC_ERR_INVALID_ARGUMENT, "lr is NULL", "NULL");
  assert_twins(a, b, "learning rates");
  aimc_tiles_destroy(a);
  aimc_tiles_destroy(b);
  aimc_context_destroy(ctx);
}

/* ---- Divergence with finite inputs: a distinct status, nothing changed ---- */

/* Exact float updates with a rate that overflows the weights (lr 3e38 with
 * pulse NONE, FLOAT_SGD, the mixed-precision accumulator): before, the
 * weights became infinite or NaN with AIMC_OK. */
Test(nonfinite, exact_updates_that_would_overflow_are_refused, .timeout = 60) {
  aimc_context_t *ctx = cpu();
  for (int k = 0; k < 3; ++k) {
    aimc_tile_config_t cfg;
    aimc_tile_config_default(&cfg);
    if (k == 0) cfg.update.pulse_type = AIMC_PULSE_NONE;
    if (k == 1) CK(aimc_tile_config_algorithm(&cfg, AIMC_ALGO_FLOAT_SGD));
    if (k == 2) CK(aimc_tile_config_algorithm(&cfg, AIMC_ALGO_MIXED_PRECISION));
    cfg.update.learning_rate = 3e38f;
    CK(aimc_tile_config_validate(&cfg));
    aimc_tiles_t *a = make_tiles(ctx, &cfg), *b = make_tiles(ctx, &cfg);
    float x[NT * BATCH * COLS], d[NT * BATCH * ROWS];
    for (size_t i = 0; i < sizeof x / sizeof *x; ++i) x[i] = 1.0f;
    for (size_t i = 0; i < sizeof d / sizeof *d; ++i) d[i] = -1.0f;
    expect(aimc_tiles_update(a, x, d, BATCH), AIMC_ERR_NON_FINITE, "non-finite", "lr 3e38");
    assert_tiles_equal(a, b, "lr 3e38");
    /* a sane rate afterwards works on both alike */
    CK(aimc_tiles_set_learning_rate(a, 0.01f));
    CK(aimc_tiles_set_learning_rate(b, 0.01f));
    assert_twins(a, b, "lr 3e38");
    aimc_tiles_destroy(a);
    aimc_tiles_destroy(b);
  }
  cr_assert_str_eq(aimc_status_string(AIMC_ERR_NON_FINITE), "AIMC_ERR_NON_FINITE");
  aimc_context_destroy(ctx);
}

/* A's exact update when the rate is auto-scaled (chopped TTv2, AGAD), and
 * Tiki-Taka's exact writes into C (transfer update of pulse type NONE):
 * before, A or C became infinite with AIMC_OK. */
Test(nonfinite, auto_scaled_and_tiki_taka_exact_updates_that_would_overflow_are_refused,
     .timeout = 60) {
  aimc_context_t *ctx = cpu();
  for (int k = 0; k < 6; ++k) {
    aimc_tile_config_t cfg;
    aimc_tile_config_default(&cfg);
    const char *what = k == 0   ? "chopped TTv2 auto_scale"
                       : k == 1 ? "AGAD auto_scale"
                       : k == 2 ? "Tiki-Taka"
                       : k == 3 ? "Tiki-Taka, perfect transfer reads"
                       : k == 4 ? "Tiki-Taka, perfect transfer reads of a pulsed A"
                                : "Tiki-Taka, transfer reads without an output bound";
    if (k < 2) {
      CK(aimc_tile_config_algorithm(&cfg, k == 0 ? AIMC_ALGO_CHOPPED_TTV2 : AIMC_ALGO_AGAD));
      cfg.update.pulse_type = AIMC_PULSE_NONE;
      cfg.algorithm.auto_scale = 1;
      cfg.algorithm.fast_lr = 3e38f;
    } else {
      CK(aimc_tile_config_algorithm(&cfg, AIMC_ALGO_TIKI_TAKA));
      cfg.update.pulse_type = AIMC_PULSE_NONE;
      cfg.transfer_update.pulse_type = AIMC_PULSE_NONE;
      cfg.algorithm.transfer_lr = 3e38f;
      cfg.algorithm.scale_transfer_lr = 0;
      cfg.algorithm.transfer_every = 1;
      cfg.update.learning_rate = 1.0f;
      cfg.transfer.is_perfect = k == 3 || k == 4;
      if (k == 4) cfg.update.pulse_type = AIMC_PULSE_STOCHASTIC_COMPRESSED;
      if (k == 5) cfg.transfer.out_bound = INFINITY, cfg.transfer.out_res = 0.0f;
    }
    CK(aimc_tile_config_validate(&cfg));
    aimc_tiles_t *a = make_tiles(ctx, &cfg), *b = make_tiles(ctx, &cfg);
    float x[NT * BATCH * COLS], d[NT * BATCH * ROWS];
    for (size_t i = 0; i < sizeof x / sizeof *x; ++i) x[i] = 1.0f;
    for (size_t i = 0; i < sizeof d / sizeof *d; ++i) d[i] = -1.0f;
    aimc_status_t s = AIMC_OK;
    for (int step = 0; step < 4 && s == AIMC_OK; ++step) {
      s = aimc_tiles_update(a, x, d, BATCH);
      if (s == AIMC_OK) CK(aimc_tiles_update(b, x, d, BATCH));
      /* finite state after every accepted step */
      float w[NT * ROWS * COLS];
      for (int arr = 0; arr < 2; ++arr) {
        CK(aimc_tiles_get_device_param_ex(a, arr, AIMC_PARAM_HIDDEN_WEIGHT, w));
        for (size_t i = 0; i < sizeof w / sizeof *w; ++i)
          cr_assert(isfinite(w[i]), "%s: step %d array %d element %zu is %g", what, step, arr, i,
                    (double)w[i]);
      }
    }
    expect(s, AIMC_ERR_NON_FINITE, "non-finite", what);
    assert_tiles_equal(a, b, what);
    aimc_tiles_destroy(a);
    aimc_tiles_destroy(b);
  }
  aimc_context_destroy(ctx);
}

/* ---- Float-to-int conversions of kernels/common are total ----------------- */

/* Each of these was undefined behaviour for NaN, infinities or huge values
 * (UBSan aborts; on x86 NaN became INT_MIN: 2^31 pulses, the MP hang). */
Test(totality, float_to_int_conversions, .timeout = 10) {
  cr_assert_eq(aimc_write_pulses(NAN), 0);
  cr_assert_eq(aimc_write_pulses(INFINITY), AIMC_MAX_WRITE_PULSES);
  cr_assert_eq(aimc_write_pulses(-INFINITY), -AIMC_MAX_WRITE_PULSES);
  cr_assert_eq(aimc_write_pulses(-3.0f), -3);
  aimc_algo_params_t p;
  memset(&p, 0, sizeof p);
  p.step = 1.0f;
  cr_assert_eq(aimc_slow_steps(&p, INT32_MIN), -AIMC_MAX_WRITE_PULSES);
  cr_assert_eq(aimc_slow_steps(&p, -7), -7);
  p.step = NAN;
  cr_assert_eq(aimc_slow_steps(&p, 5), 0);
  p.transfer_every = 3e38f;
  cr_assert_gt(aimc_mp_period(&p), (int64_t)1 << 60);
  p.transfer_every = NAN;
  cr_assert_eq(aimc_mp_period(&p), 1);
  p.transfer_every = 2.6f;
  cr_assert_eq(aimc_mp_period(&p), 3);
  p.transfer_every = 3e38f;
  cr_assert_gt(aimc_transfer_period(&p, 1, 4, 100.0f), (int64_t)1 << 60);
  cr_assert_eq(aimc_chop_period(1e-45f), (int64_t)AIMC_I64_FLOAT_MAX);
  cr_assert_eq(aimc_chop_period(0.25f), 4);
  cr_assert_eq(aimc_implicit_count(AIMC_PULSE_MEAN_COUNT, 31, NAN, 3.0f), 0);
  cr_assert_eq(aimc_implicit_count(AIMC_PULSE_DETERMINISTIC_IMPLICIT, 31, 1.0f, 0.5f), 16);
  p.max_steps = 10;
  p.thres_scale = 1.0f;
  p.dw_min_slow = 1.0f;
  p.momentum = 0.0f;
  aimc_tile_params_t tp;
  memset(&tp, 0, sizeof tp);
  tp.algo = p;
  float h = NAN;
  cr_assert_eq(aimc_ttv2_element(&tp, 1.0f, &h), 0);
  p.n_slices = 2;
  p.slice_bits[0] = p.slice_bits[1] = 4;
  float levels[2];
  aimc_panther_levels(&p, NAN, levels);
  cr_assert_eq(levels[0], 8.0f);
  cr_assert_eq(levels[1], 8.0f);
}

/* ---- Extreme parameters -------------------------------------------------- */

/* Spreads and noise levels beyond 1e6 are refused (before: accepted up to
 * FLT_MAX, giving infinite devices or NaN reads). */
Test(ranges, noise_and_spread_fields_are_bounded, .timeout = 10) {
  static const char *fields[] = {"device.dw_min_std", "device.dw_min_dtod", "device.w_max_dtod",
                                 "device.w_min_dtod", "fast_device.reset_dtod",
                                 "transfer.inp_noise", "forward.out_noise", "backward.w_noise"};
  for (size_t k = 0; k < sizeof fields / sizeof *fields; ++k) {
    aimc_tile_config_t cfg;
    aimc_tile_config_default(&cfg);
    CK(aimc_tile_config_set(&cfg, fields[k], 1e6));
    expect(aimc_tile_config_set(&cfg, fields[k], 3e38), AIMC_ERR_INVALID_ARGUMENT, fields[k],
           fields[k]);
  }
}

/* Fields each in range whose product is not a float: creation refuses the
 * drawn devices instead of starting with infinite state. */
Test(ranges, devices_drawn_non_finite_are_refused, .timeout = 10) {
  aimc_context_t *ctx = cpu();
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  cfg.device.w_max = 3e38f;
  cfg.device.w_min = -3e38f;
  cfg.device.w_max_dtod = 1e6f;
  cfg.device.w_min_dtod = 1e6f;
  CK(aimc_tile_config_validate(&cfg));
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.rows = ROWS, td.cols = COLS, td.config = cfg;
  aimc_tiles_t *t = NULL;
  expect(aimc_tiles_create(ctx, &td, &t), AIMC_ERR_INVALID_ARGUMENT, "not finite", "bounds 3e38");
  cr_assert_null(t);
  aimc_context_destroy(ctx);
}

/* The largest noise allowed still gives finite weights after updates. */
Test(ranges, largest_noise_keeps_state_finite, .timeout = 60) {
  aimc_context_t *ctx = cpu();
  for (int model = 0; model < AIMC_DEVICE_MODEL_COUNT; ++model) {
    aimc_tile_config_t cfg;
    aimc_tile_config_default(&cfg);
    CK(aimc_device_desc_default(&cfg.device, (aimc_device_model_t)model));
    cfg.device.dw_min_std = 1e6f;
    cfg.forward.inp_noise = 1e6f;
    cfg.forward.out_noise = 1e6f;
    aimc_tiles_t *t = make_tiles(ctx, &cfg);
    float x[NT * BATCH * COLS], d[NT * BATCH * ROWS], w[NT * ROWS * COLS];
    test_rng_t r = {(uint64_t)model};
    for (int step = 0; step < 5; ++step) {
      test_fill(&r, x, sizeof x / sizeof *x, -1.0f, 1.0f);
      test_fill(&r, d, sizeof d / sizeof *d, -1.0f, 1.0f);
      CK(aimc_tiles_update(t, x, d, BATCH));
    }
    CK(aimc_tiles_get_weights(t, w));
    for (size_t i = 0; i < sizeof w / sizeof *w; ++i)
      cr_assert(isfinite(w[i]), "model %d: weight %zu = %g", model, i, (double)w[i]);
    aimc_tiles_destroy(t);
  }
  aimc_context_destroy(ctx);
}

/* The largest learning rate a field accepts, for every configuration:
 * each update either succeeds with finite state everywhere or is refused
 * with AIMC_ERR_NON_FINITE. */
Test(ranges, largest_rates_keep_state_finite, .timeout = 120) {
  aimc_context_t *ctx = cpu();
  for (int k = 0; k < 2 * n_configs(); ++k)
    for (int which = 0; which < 3; ++which) {
      aimc_tile_config_t cfg;
      char name[64], what[128];
      config_of(k % n_configs(), &cfg, name, sizeof name);
      if (k >= n_configs()) { /* exact gradient updates (of A for the transfer family) */
        if (cfg.update.pulse_type == AIMC_PULSE_NONE) continue;
        cfg.update.pulse_type = AIMC_PULSE_NONE;
        strncat(name, ", exact updates", sizeof name - strlen(name) - 1);
      }
      if (which == 0) cfg.update.learning_rate = 3.4e38f;
      if (which == 1) cfg.algorithm.fast_lr = 3.4e38f, cfg.update.learning_rate = 1.0f;
      if (which == 2) cfg.algorithm.transfer_lr = 3.4e38f, cfg.transfer_update.pulse_type =
                                                               AIMC_PULSE_NONE;
      snprintf(what, sizeof what, "%s, rate %d", name, which);
      if (aimc_tile_config_validate(&cfg) != AIMC_OK) continue;
      aimc_tiles_t *t = make_tiles(ctx, &cfg);
      float x[NT * BATCH * COLS], d[NT * BATCH * ROWS], v[NT * ROWS * COLS];
      test_rng_t r = {(uint64_t)k};
      for (int step = 0; step < 4; ++step) {
        test_fill(&r, x, sizeof x / sizeof *x, -1.0f, 1.0f);
        test_fill(&r, d, sizeof d / sizeof *d, -1.0f, 1.0f);
        aimc_status_t s = aimc_tiles_update(t, x, d, BATCH);
        cr_assert(s == AIMC_OK || s == AIMC_ERR_NON_FINITE, "%s: %s", what, aimc_last_error());
      }
      int32_t arrays;
      CK(aimc_tiles_n_arrays(t, &arrays));
      for (int32_t a = 0; a < arrays; ++a)
        for (int p = 0; p < AIMC_PARAM_COUNT; ++p) {
          CK(aimc_tiles_get_device_param_ex(t, a, (aimc_device_param_t)p, v));
          for (int i = 0; i < NT * ROWS * COLS; ++i)
            cr_assert(isfinite(v[i]), "%s: array %d parameter %d [%d] = %g", what, a, p, i,
                      (double)v[i]);
        }
      for (int b = 0; b < AIMC_BUFFER_COUNT; ++b) {
        CK(aimc_tiles_get_buffer(t, (aimc_buffer_t)b, v));
        for (int i = 0; i < NT * ROWS * COLS; ++i)
          cr_assert(isfinite(v[i]), "%s: buffer %d [%d] = %g", what, b, i, (double)v[i]);
      }
      CK(aimc_tiles_get_weights(t, v));
      for (int i = 0; i < NT * ROWS * COLS; ++i)
        cr_assert(isfinite(v[i]), "%s: weight [%d] = %g", what, i, (double)v[i]);
      aimc_tiles_destroy(t);
    }
  aimc_context_destroy(ctx);
}

/* A batch so large that batch * cols overflows int64 is refused as a batch
 * (before: the stride product overflowed first, UB). */
Test(ranges, huge_batch, .timeout = 10) {
  aimc_context_t *ctx = cpu();
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  aimc_tiles_t *t = make_tiles(ctx, &cfg);
  float v[16] = {0};
  expect(aimc_tiles_update(t, v, v, INT64_MAX), AIMC_ERR_INVALID_ARGUMENT, "batch", "update");
  expect(aimc_tiles_forward(t, v, v, INT64_MAX), AIMC_ERR_INVALID_ARGUMENT, "batch", "forward");
  expect(aimc_tiles_backward(t, v, v, INT64_MAX), AIMC_ERR_INVALID_ARGUMENT, "batch", "backward");
  expect(aimc_tiles_update(t, v, v, INT64_MIN), AIMC_ERR_INVALID_ARGUMENT, "batch", "negative");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(ranges, presets_and_transfer_pulse_type, .timeout = 10) {
  aimc_tile_config_t cfg;
  expect(aimc_tile_config_preset(&cfg, (aimc_algorithm_t)99, AIMC_PRESET_IDEALIZED),
         AIMC_ERR_INVALID_ARGUMENT, "kind = 99 is not an algorithm (allowed: 0..8", "preset 99");
  aimc_tile_config_default(&cfg);
  CK(aimc_tile_config_algorithm(&cfg, AIMC_ALGO_TIKI_TAKA));
  CK(aimc_tile_config_validate(&cfg));
  cfg.transfer_update.pulse_type = (aimc_pulse_type_t)2;
  expect(aimc_tile_config_validate(&cfg), AIMC_ERR_INVALID_ARGUMENT,
         "transfer_update.pulse_type = 2", "Tiki-Taka transfer pulse type 2");
}

/* ---- Networks --------------------------------------------------------------- */

#define IN 6
#define HID 5
#define CLS 3
#define NB 4

static aimc_network_t *make_net(aimc_context_t *ctx, const aimc_tile_config_t *cfg) {
  aimc_network_desc_t nd;
  int32_t sizes[3] = {IN, HID, CLS};
  CK(aimc_network_desc_mlp(&nd, 3, sizes, AIMC_ACT_TANH, cfg));
  nd.seed = 99;
  nd.seeds = 2;
  aimc_network_t *n = NULL;
  CK(aimc_network_create(ctx, &nd, &n));
  return n;
}

static void assert_nets_equal(const aimc_network_t *a, const aimc_network_t *b,
                              const char *what) {
  for (int32_t l = 0; l < 2; ++l) {
    aimc_tiles_t *ta, *tb;
    CK(aimc_network_layer_tiles((aimc_network_t *)a, l, &ta));
    CK(aimc_network_layer_tiles((aimc_network_t *)b, l, &tb));
    int64_t n;
    int32_t r, c;
    CK(aimc_tiles_shape(ta, &n, &r, &c));
    size_t nw = (size_t)n * (size_t)r * (size_t)c;
    float *wa = test_alloc(nw), *wb = test_alloc(nw);
    CK(aimc_tiles_get_weights(ta, wa));
    CK(aimc_tiles_get_weights(tb, wb));
    cr_assert_arr_eq(wa, wb, nw * sizeof(float), "%s: layer %d weights", what, l);
    CK(aimc_tiles_get_device_param(ta, AIMC_PARAM_HIDDEN_WEIGHT, wa));
    CK(aimc_tiles_get_device_param(tb, AIMC_PARAM_HIDDEN_WEIGHT, wb));
    cr_assert_arr_eq(wa, wb, nw * sizeof(float), "%s: layer %d device states", what, l);
    aimc_tile_stats_t *sa = calloc((size_t)n, sizeof *sa), *sb = calloc((size_t)n, sizeof *sb);
    CK(aimc_tiles_get_stats(ta, sa));
    CK(aimc_tiles_get_stats(tb, sb));
    cr_assert_arr_eq(sa, sb, (size_t)n * sizeof *sa, "%s: layer %d statistics", what, l);
    float ba[2 * HID], bb[2 * HID];
    CK(aimc_network_get_bias(a, l, ba));
    CK(aimc_network_get_bias(b, l, bb));
    cr_assert_arr_eq(ba, bb, (size_t)(2 * (l ? CLS : HID)) * sizeof(float), "%s: layer %d bias",
                     what, l);
    free(wa), free(wb), free(sa), free(sb);
  }
}

static void good_batch(float *x, int32_t *labels, uint64_t seed) {
  test_rng_t r = {seed};
  test_fill(&r, x, NB * IN, 0.0f, 1.0f);
  for (int b = 0; b < NB; ++b) labels[b] = b % CLS;
}

/* Equal, then one identical good step on both gives equal losses and state. */
static void assert_net_twins(aimc_network_t *a, aimc_network_t *b, const char *what) {
  assert_nets_equal(a, b, what);
  float x[NB * IN], la[2], lb[2];
  int32_t labels[NB];
  good_batch(x, labels, 42);
  CK(aimc_network_train_batch(a, x, labels, NB, la));
  CK(aimc_network_train_batch(b, x, labels, NB, lb));
  cr_assert_arr_eq(la, lb, sizeof la, "%s: losses of the next step differ", what);
  assert_nets_equal(a, b, what);
}

/* One NaN or infinite pixel, for analog SGD, float SGD and mixed precision
 * (before: AIMC_OK, biases NaN forever; mixed precision hung). */
Test(network, nonfinite_pixels_refused, .timeout = 120) {
  aimc_context_t *ctx = cpu();
  const aimc_algorithm_t kinds[3] = {AIMC_ALGO_SGD, AIMC_ALGO_FLOAT_SGD,
                                     AIMC_ALGO_MIXED_PRECISION};
  for (int k = 0; k < 3; ++k) {
    aimc_tile_config_t cfg;
    aimc_tile_config_default(&cfg);
    CK(aimc_tile_config_algorithm(&cfg, kinds[k]));
    aimc_network_t *a = make_net(ctx, &cfg), *b = make_net(ctx, &cfg);
    for (int v = 0; v < 3; ++v) {
      float x[NB * IN], loss[2] = {-7.0f, -7.0f};
      int32_t labels[NB];
      good_batch(x, labels, 1);
      x[2 * IN + 4] = bad_values[v];
      expect(aimc_network_train_batch(a, x, labels, NB, loss), AIMC_ERR_INVALID_ARGUMENT,
             "x[sample 2][index 4]", aimc_algorithm_name(kinds[k]));
      cr_assert_eq(loss[0], -7.0f, "the loss output was written");
      assert_nets_equal(a, b, "non-finite pixel");
    }
    assert_net_twins(a, b, "non-finite pixel");
    aimc_network_destroy(a);
    aimc_network_destroy(b);
  }
  aimc_context_destroy(ctx);
}

/* Labels outside [0, classes) in training and evaluation (before: 1 << 30
 * segfaulted, -1 read before the logits, 3..5 used a neighbour's). */
Test(network, labels_out_of_range_refused, .timeout = 60) {
  aimc_context_t *ctx = cpu();
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  aimc_network_t *a = make_net(ctx, &cfg), *b = make_net(ctx, &cfg);
  const int32_t bad[4] = {-1, CLS, 1 << 30, INT32_MIN};
  for (int v = 0; v < 4; ++v) {
    float x[NB * IN];
    int32_t labels[NB];
    good_batch(x, labels, 2);
    labels[3] = bad[v];
    char needle[64];
    snprintf(needle, sizeof needle, "labels[3] = %d is out of range [0, %d)", (int)bad[v], CLS);
    expect(aimc_network_train_batch(a, x, labels, NB, NULL), AIMC_ERR_INVALID_ARGUMENT, needle,
           "train");
    int64_t correct[2] = {-5, -5};
    expect(aimc_network_evaluate(a, x, labels, NB, 3, correct), AIMC_ERR_INVALID_ARGUMENT, needle,
           "evaluate");
    cr_assert_eq(correct[0], -5);
    assert_nets_equal(a, b, "bad label");
  }
  assert_net_twins(a, b, "bad label");
  aimc_network_destroy(a);
  aimc_network_destroy(b);
  aimc_context_destroy(ctx);
}

/* Weights so large that the logits overflow with finite inputs: the step
 * is refused as diverged before any update (before: AIMC_OK, loss NaN). */
Test(network, diverged_step_changes_nothing, .timeout = 60) {
  aimc_context_t *ctx = cpu();
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  CK(aimc_tile_config_algorithm(&cfg, AIMC_ALGO_FLOAT_SGD));
  CK(aimc_tile_config_io_preset(&cfg, AIMC_IO_PERFECT));
  cfg.device.w_max = 3e38f;
  cfg.device.w_min = -3e38f;
  cfg.device.w_max_dtod = cfg.device.w_min_dtod = 0.0f;
  aimc_network_t *a = make_net(ctx, &cfg), *b = make_net(ctx, &cfg);
  float w1[2 * CLS * HID];
  for (int i = 0; i < 2 * CLS * HID; ++i) w1[i] = (i % 2 ? -1.0f : 1.0f) * 3e38f;
  CK(aimc_network_program_layer(a, 1, w1, NULL));
  CK(aimc_network_program_layer(b, 1, w1, NULL));
  float x[NB * IN], loss[2] = {-7.0f, -7.0f};
  int32_t labels[NB];
  good_batch(x, labels, 3);
  expect(aimc_network_train_batch(a, x, labels, NB, loss), AIMC_ERR_NON_FINITE, "diverged",
         "huge weights");
  cr_assert_eq(loss[0], -7.0f);
  assert_nets_equal(a, b, "diverged");
  aimc_network_destroy(a);
  aimc_network_destroy(b);
  aimc_context_destroy(ctx);
}

/* A rate that overflows only the first layer (float SGD; the last layer is
 * pulsed and has no bias): refused before any layer is updated, so the
 * pulsed last layer is unchanged too; and a rate that overflows the biases. */
Test(network, layer_bounds_checked_before_any_update, .timeout = 60) {
  aimc_context_t *ctx = cpu();
  for (int k = 0; k < 2; ++k) {
    aimc_network_desc_t nd;
    int32_t sizes[3] = {IN, HID, CLS};
    CK(aimc_network_desc_mlp(&nd, 3, sizes, AIMC_ACT_TANH, NULL));
    nd.seed = 5;
    if (k == 0) {
      CK(aimc_tile_config_algorithm(&nd.layers[0].config, AIMC_ALGO_FLOAT_SGD));
      nd.layers[1].bias = 0;
      nd.layers[0].bias = 0;
    }
    nd.learning_rate = 3e38f;
    aimc_network_t *a = NULL, *b = NULL;
    CK(aimc_network_create(ctx, &nd, &a));
    CK(aimc_network_create(ctx, &nd, &b));
    float x[NB * IN], loss[1] = {-7.0f};
    int32_t labels[NB];
    good_batch(x, labels, 4);
    for (int i = 0; i < NB * IN; ++i) x[i] *= 1e6f; /* finite, but lr x |x| |d| is not */
    expect(aimc_network_train_batch(a, x, labels, NB, loss), AIMC_ERR_NON_FINITE,
           k == 0 ? "make the weights non-finite" : "biases would", k == 0 ? "layer 0 exact" : "biases");
    cr_assert_eq(loss[0], -7.0f);
    for (int32_t l = 0; l < 2; ++l) {
      aimc_tiles_t *ta, *tb;
      CK(aimc_network_layer_tiles(a, l, &ta));
      CK(aimc_network_layer_tiles(b, l, &tb));
      assert_tiles_equal_any(ta, tb, "layer bounds");
    }
    aimc_network_destroy(a);
    aimc_network_destroy(b);
  }
  aimc_context_destroy(ctx);
}

Test(network, program_layer_refuses_nonfinite, .timeout = 30) {
  aimc_context_t *ctx = cpu();
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  aimc_network_t *a = make_net(ctx, &cfg), *b = make_net(ctx, &cfg);
  float w[2 * HID * IN] = {0}, bias[2 * HID] = {0};
  for (int v = 0; v < 3; ++v) {
    w[(1 * HID + 2) * IN + 5] = bad_values[v];
    expect(aimc_network_program_layer(a, 0, w, NULL), AIMC_ERR_INVALID_ARGUMENT,
           "w[replica 1][out 2][in 5]", "weights");
    w[(1 * HID + 2) * IN + 5] = 0.0f;
    bias[HID + 4] = bad_values[v];
    expect(aimc_network_program_layer(a, 0, w, bias), AIMC_ERR_INVALID_ARGUMENT,
           "bias[replica 1][out 4]", "bias");
    bias[HID + 4] = 0.0f;
  }
  assert_net_twins(a, b, "program_layer");
  aimc_network_destroy(a);
  aimc_network_destroy(b);
  aimc_context_destroy(ctx);
}

Test(network, descriptors_and_rates, .timeout = 30) {
  aimc_context_t *ctx = cpu();
  aimc_network_desc_t nd;
  int32_t zero[3] = {IN, 0, CLS}, neg[3] = {IN, -6, CLS}, ok[3] = {IN, HID, CLS};
  expect(aimc_network_desc_mlp(&nd, 3, zero, AIMC_ACT_RELU, NULL), AIMC_ERR_INVALID_ARGUMENT,
         "sizes[1] = 0", "size 0");
  expect(aimc_network_desc_mlp(&nd, 3, neg, AIMC_ACT_RELU, NULL), AIMC_ERR_INVALID_ARGUMENT,
         "sizes[1] = -6", "size -6");
  expect(aimc_network_desc_mlp(&nd, 3, ok, (aimc_activation_t)9, NULL), AIMC_ERR_INVALID_ARGUMENT,
         "hidden = 9", "activation 9");
  CK(aimc_network_desc_mlp(&nd, 3, ok, AIMC_ACT_RELU, NULL));
  aimc_network_t *n = NULL;
  nd.learning_rate = NAN;
  expect(aimc_network_create(ctx, &nd, &n), AIMC_ERR_INVALID_ARGUMENT, "learning_rate", "lr NaN");
  nd.learning_rate = 0.01f;
  nd.layers[1].config.update.learning_rate = NAN;
  expect(aimc_network_create(ctx, &nd, &n), AIMC_ERR_INVALID_ARGUMENT,
         "desc->layers[1].config.update.learning_rate = nan", "layer lr NaN");
  cr_assert_null(n);
  nd.layers[1].config.update.learning_rate = 0.01f;
  CK(aimc_network_create(ctx, &nd, &n));
  float x[NB * IN] = {0};
  expect(aimc_network_forward(n, x, NULL, NB), AIMC_ERR_INVALID_ARGUMENT, "y is NULL", "y NULL");
  cr_assert_null(strstr(aimc_last_error(), "labels"));
  expect(aimc_network_set_learning_rate(n, NAN), AIMC_ERR_INVALID_ARGUMENT, "lr", "net lr NaN");
  expect(aimc_network_set_learning_rate(n, INFINITY), AIMC_ERR_INVALID_ARGUMENT, "lr", "net lr inf");
  aimc_network_destroy(n);
  aimc_context_destroy(ctx);
}

/* Reads pass non-finite inputs through (documented), without hanging. */
Test(network, reads_pass_nonfinite_through, .timeout = 30) {
  aimc_context_t *ctx = cpu();
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  CK(aimc_tile_config_io_preset(&cfg, AIMC_IO_PERFECT));
  aimc_network_t *n = make_net(ctx, &cfg);
  float x[NB * IN] = {0}, y[2 * NB * CLS];
  x[0] = NAN;
  CK(aimc_network_forward(n, x, y, NB));
  cr_assert(isnan(y[0]), "sample 0 of replica 0 reads NaN: %g", (double)y[0]);
  cr_assert(isfinite(y[CLS]), "sample 1 is untouched by sample 0's NaN");
  aimc_network_destroy(n);
  aimc_context_destroy(ctx);
}

/* ---- Data ------------------------------------------------------------------ */

Test(data, normalize_refuses_negative_count, .timeout = 10) {
  uint8_t bytes[4] = {0, 1, 2, 3};
  aimc_idx_t idx = {1, {4, 0, 0, 0}, -5, bytes};
  float out[4];
  expect(aimc_idx_normalize(&idx, 0.0f, 1.0f, out), AIMC_ERR_INVALID_ARGUMENT,
         "idx->count = -5", "count -5");
}

/* A gzip stream cut before its 8-byte trailer (CRC and length): before,
 * loaded as if whole. */
TestSuite(data, .init = make_tmp_dir, .fini = remove_tmp_dir);

Test(data, gzip_without_trailer_refused, .timeout = 10) {
  uint8_t raw[8 + 6] = {0, 0, 8, 1, 0, 0, 0, 6, 10, 20, 30, 40, 50, 60};
  uint8_t gz[256];
  z_stream z;
  memset(&z, 0, sizeof z);
  cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  z.next_in = raw, z.avail_in = sizeof raw, z.next_out = gz, z.avail_out = sizeof gz;
  cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
  size_t n = sizeof gz - z.avail_out;
  deflateEnd(&z);
  char path[512];
  snprintf(path, sizeof path, "%s/cut.gz", tmp_dir);
  aimc_idx_t idx;
  for (int cut = 0; cut < 2; ++cut) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(gz, 1, cut ? n - 8 : n, f), cut ? n - 8 : n);
    fclose(f);
    aimc_status_t s = aimc_idx_load(path, &idx);
    if (!cut) {
      cr_assert_eq(s, AIMC_OK, "%s", aimc_last_error());
      aimc_idx_free(&idx);
    } else {
      expect(s, AIMC_ERR_CORRUPT, "trailer", "no trailer");
    }
  }
}

/* ---- NULL arguments of the calls this suite touches ------------------------- */

Test(null, arguments, .timeout = 10) {
  aimc_context_t *ctx = cpu();
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  aimc_tiles_t *t = make_tiles(ctx, &cfg);
  float v[NT * BATCH * (ROWS + COLS)] = {0};
  expect(aimc_tiles_update(NULL, v, v, 1), AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL", "tiles");
  expect(aimc_tiles_update(t, NULL, v, 1), AIMC_ERR_INVALID_ARGUMENT, "x is NULL", "x");
  expect(aimc_tiles_update(t, v, NULL, 1), AIMC_ERR_INVALID_ARGUMENT, "d is NULL", "d");
  expect(aimc_tiles_set_weights(t, NULL), AIMC_ERR_INVALID_ARGUMENT, "w is NULL", "w");
  expect(aimc_tiles_program_weights(NULL, v), AIMC_ERR_INVALID_ARGUMENT, "tiles is NULL", "t");
  expect(aimc_network_train_batch(NULL, v, NULL, 1, NULL), AIMC_ERR_INVALID_ARGUMENT,
         "net is NULL", "net");
  expect(aimc_network_program_layer(NULL, 0, v, NULL), AIMC_ERR_INVALID_ARGUMENT, "net is NULL",
         "net");
  expect(aimc_idx_normalize(NULL, 0.0f, 1.0f, v), AIMC_ERR_INVALID_ARGUMENT, "idx", "idx");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- NULL in every pointer argument of every public function --------------- */

/* Each public function taking pointers, called with NULL in each pointer
 * argument where NULL is not documented as allowed (one at a time, the
 * others valid): an error status, no crash, and a message naming the
 * argument. */
typedef struct nfx {
  aimc_context_t *ctx;
  aimc_tiles_t *tiles, *chopped;
  aimc_network_t *net;
  aimc_tile_config_t cfg;
  aimc_tiles_desc_t td;
  aimc_network_desc_t nd;
  aimc_context_desc_t cd;
  aimc_idx_t idx;
  float v[4096];
  int32_t labels[64];
  int32_t sizes[3];
  int64_t i64[8];
  uint64_t u64a[8], u64b[8];
  int8_t c_in[64], c_out[64];
  unsigned char blob[1 << 16];
  size_t blob_len;
  char path[128], missing[128];
} nfx_t;

#define P(i, x) (k == (i) ? NULL : (x))
#define NF(fn, body) \
  static aimc_status_t nc_##fn(nfx_t *f, int k) { return body; }

NF(aimc_context_create, aimc_context_create(P(0, &(aimc_context_t *){NULL}), P(1, &f->cd)))
NF(aimc_context_synchronize, aimc_context_synchronize(P(0, f->ctx)))
NF(aimc_context_set_cuda_stream, aimc_context_set_cuda_stream(P(0, f->ctx), NULL))
NF(aimc_context_get_cuda_stream, aimc_context_get_cuda_stream(P(0, f->ctx), P(1, &(void *){NULL})))
NF(aimc_context_set_read_mode, aimc_context_set_read_mode(P(0, f->ctx), AIMC_READ_EXACT))
NF(aimc_context_get_read_mode,
   aimc_context_get_read_mode(P(0, f->ctx), P(1, &(aimc_read_mode_t){AIMC_READ_EXACT})))
NF(aimc_malloc, aimc_malloc(P(0, f->ctx), P(1, &(void *){NULL}), 16))
NF(aimc_memcpy, aimc_memcpy(P(0, f->ctx), P(1, f->v), P(2, f->v + 8), 16, AIMC_COPY_HOST_TO_CONTEXT))
NF(aimc_device_desc_default, aimc_device_desc_default(P(0, &f->cfg.device), AIMC_DEVICE_CONSTANT_STEP))
NF(aimc_device_desc_preset, aimc_device_desc_preset(P(0, &f->cfg.device), AIMC_PRESET_IDEALIZED))
NF(aimc_io_desc_default, aimc_io_desc_default(P(0, &f->cfg.forward), AIMC_IO_DEFAULT))
NF(aimc_algorithm_desc_default, aimc_algorithm_desc_default(P(0, &f->cfg.algorithm), AIMC_ALGO_SGD))
NF(aimc_tile_config_algorithm, aimc_tile_config_algorithm(P(0, &f->cfg), AIMC_ALGO_SGD))
NF(aimc_tile_config_preset,
   aimc_tile_config_preset(P(0, &f->cfg), AIMC_ALGO_SGD, AIMC_PRESET_IDEALIZED))
NF(aimc_tile_config_io_preset, aimc_tile_config_io_preset(P(0, &f->cfg), AIMC_IO_DEFAULT))
NF(aimc_tile_config_validate, aimc_tile_config_validate(P(0, &f->cfg)))
NF(aimc_tile_config_set, aimc_tile_config_set(P(0, &f->cfg), P(1, "update.learning_rate"), 0.1))
NF(aimc_tile_config_get,
   aimc_tile_config_get(P(0, &f->cfg), P(1, "update.learning_rate"), P(2, &(double){0})))
NF(aimc_tiles_create, aimc_tiles_create(P(0, f->ctx), P(1, &f->td), P(2, &(aimc_tiles_t *){NULL})))
NF(aimc_tiles_shape, aimc_tiles_shape(P(0, f->tiles), P(1, &(int64_t){0}), P(2, &(int32_t){0}),
                                      P(3, &(int32_t){0})))
NF(aimc_tiles_get_config, aimc_tiles_get_config(P(0, f->tiles), 0, P(1, &f->cfg)))
NF(aimc_tiles_forward, aimc_tiles_forward(P(0, f->tiles), P(1, f->v), P(2, f->v + 1024), 1))
NF(aimc_tiles_backward, aimc_tiles_backward(P(0, f->tiles), P(1, f->v), P(2, f->v + 1024), 1))
NF(aimc_tiles_mvm_ex, aimc_tiles_mvm_ex(P(0, f->tiles), AIMC_FORWARD, P(1, f->v), COLS,
                                        P(2, f->v + 1024), 1))
NF(aimc_tiles_update, aimc_tiles_update(P(0, f->tiles), P(1, f->v), P(2, f->v + 1024), 1))
NF(aimc_tiles_update_ex,
   aimc_tiles_update_ex(P(0, f->tiles), P(1, f->v), COLS, P(2, f->v + 1024), ROWS, 1))
NF(aimc_tiles_update_gated, aimc_tiles_update_gated(P(0, f->tiles), P(1, f->v), COLS,
                                                    P(2, f->v + 1024), ROWS, NULL, 0, 1))
NF(aimc_tiles_set_learning_rate, aimc_tiles_set_learning_rate(P(0, f->tiles), 0.1f))
NF(aimc_tiles_set_learning_rates, aimc_tiles_set_learning_rates(P(0, f->tiles), P(1, f->v + 2048)))
NF(aimc_tiles_get_weights, aimc_tiles_get_weights(P(0, f->tiles), P(1, f->v)))
NF(aimc_tiles_set_weights, aimc_tiles_set_weights(P(0, f->tiles), P(1, f->v)))
NF(aimc_tiles_program_weights, aimc_tiles_program_weights(P(0, f->tiles), P(1, f->v)))
NF(aimc_tiles_decay, aimc_tiles_decay(P(0, f->tiles)))
NF(aimc_tiles_reset_columns, aimc_tiles_reset_columns(P(0, f->tiles), 0, 1, 1.0f))
NF(aimc_tiles_reset_columns_ex, aimc_tiles_reset_columns_ex(P(0, f->tiles), 0, 0, 1, 1.0f))
NF(aimc_tiles_n_arrays, aimc_tiles_n_arrays(P(0, f->tiles), P(1, &(int32_t){0})))
NF(aimc_tiles_get_device_param,
   aimc_tiles_get_device_param(P(0, f->tiles), AIMC_PARAM_HIDDEN_WEIGHT, P(1, f->v)))
NF(aimc_tiles_get_device_param_ex,
   aimc_tiles_get_device_param_ex(P(0, f->tiles), 0, AIMC_PARAM_HIDDEN_WEIGHT, P(1, f->v)))
NF(aimc_tiles_get_buffer, aimc_tiles_get_buffer(P(0, f->chopped), AIMC_BUFFER_TRANSFER, P(1, f->v)))
NF(aimc_tiles_get_choppers, aimc_tiles_get_choppers(P(0, f->chopped), P(1, f->c_in), P(2, f->c_out)))
NF(aimc_tiles_get_stats, aimc_tiles_get_stats(P(0, f->tiles), P(1, &(aimc_tile_stats_t[NT]){0}[0])))
NF(aimc_tiles_reset_stats, aimc_tiles_reset_stats(P(0, f->tiles)))
NF(aimc_network_desc_mlp,
   aimc_network_desc_mlp(P(0, &f->nd), 3, P(1, f->sizes), AIMC_ACT_TANH, P(2, &f->cfg)))
NF(aimc_network_create,
   aimc_network_create(P(0, f->ctx), P(1, &f->nd), P(2, &(aimc_network_t *){NULL})))
NF(aimc_network_replicas, aimc_network_replicas(P(0, f->net), P(1, &(int32_t){0})))
NF(aimc_network_sweep_value, aimc_network_sweep_value(P(0, f->net), 0, 0, P(1, &(double){0})))
NF(aimc_network_desc_get, aimc_network_desc_get(P(0, f->net), P(1, &f->nd)))
NF(aimc_network_layer_tiles,
   aimc_network_layer_tiles(P(0, f->net), 0, P(1, &(aimc_tiles_t *){NULL})))
NF(aimc_network_forward, aimc_network_forward(P(0, f->net), P(1, f->v), P(2, f->v + 1024), 1))
NF(aimc_network_train_batch,
   aimc_network_train_batch(P(0, f->net), P(1, f->v), P(2, f->labels), 1, NULL))
NF(aimc_network_evaluate,
   aimc_network_evaluate(P(0, f->net), P(1, f->v), P(2, f->labels), 1, 1, P(3, f->i64)))
NF(aimc_network_set_learning_rate, aimc_network_set_learning_rate(P(0, f->net), 0.1f))
NF(aimc_network_pulses, aimc_network_pulses(P(0, f->net), P(1, f->u64a), P(2, f->u64b)))
NF(aimc_network_get_bias, aimc_network_get_bias(P(0, f->net), 0, P(1, f->v)))
NF(aimc_network_program_layer,
   aimc_network_program_layer(P(0, f->net), 0, P(1, f->v + 2048), NULL))
NF(aimc_network_get_layer, aimc_network_get_layer(P(0, f->net), 0, P(1, f->v)))
NF(aimc_network_save, aimc_network_save(P(0, f->net), P(1, f->path), P(2, "user"), 4))
NF(aimc_network_load, aimc_network_load(P(0, f->ctx), P(1, f->path), P(2, &(aimc_network_t *){NULL}),
                                        P(3, f->blob), sizeof f->blob, P(4, &(size_t){0})))
NF(aimc_tiles_save_state,
   aimc_tiles_save_state(P(0, f->tiles), f->blob, sizeof f->blob, P(2, &(size_t){0})))
NF(aimc_tiles_load_state,
   aimc_tiles_load_state(P(0, f->ctx), P(1, f->blob), f->blob_len, P(2, &(aimc_tiles_t *){NULL})))
NF(aimc_idx_load, aimc_idx_load(P(0, f->missing), P(1, &f->idx)))
NF(aimc_idx_normalize, aimc_idx_normalize(P(0, &f->idx), 0.0f, 1.0f, P(1, f->v)))
NF(aimc_permutation, aimc_permutation(1, 0, 8, P(0, f->i64)))

typedef struct ncase {
  const char *fn;
  const char *args[6]; /* the pointer arguments in order; "" where NULL is allowed */
  aimc_status_t (*call)(nfx_t *, int);
} ncase_t;

#define NC(fn, ...) {#fn, {__VA_ARGS__}, nc_##fn}
static const ncase_t null_cases[] = {
    NC(aimc_context_create, "ctx", "desc"),
    NC(aimc_context_synchronize, "ctx"),
    NC(aimc_context_set_cuda_stream, "ctx"),
    NC(aimc_context_get_cuda_stream, "ctx", "stream"),
    NC(aimc_context_set_read_mode, "ctx"),
    NC(aimc_context_get_read_mode, "ctx", "mode"),
    NC(aimc_malloc, "ctx", "ptr"),
    NC(aimc_memcpy, "ctx", "dst", "src"),
    NC(aimc_device_desc_default, "desc"),
    NC(aimc_device_desc_preset, "desc"),
    NC(aimc_io_desc_default, "desc"),
    NC(aimc_algorithm_desc_default, "desc"),
    NC(aimc_tile_config_algorithm, "cfg"),
    NC(aimc_tile_config_preset, "cfg"),
    NC(aimc_tile_config_io_preset, "cfg"),
    NC(aimc_tile_config_validate, "cfg"),
    NC(aimc_tile_config_set, "cfg", "field"),
    NC(aimc_tile_config_get, "cfg", "field", "value"),
    NC(aimc_tiles_create, "ctx", "desc", "tiles"),
    NC(aimc_tiles_shape, "tiles"), /* outputs may be NULL */
    NC(aimc_tiles_get_config, "tiles", "cfg"),
    NC(aimc_tiles_forward, "tiles", "x", "y"),
    NC(aimc_tiles_backward, "tiles", "d", "x_grad"),
    NC(aimc_tiles_mvm_ex, "tiles", "in", "out"),
    NC(aimc_tiles_update, "tiles", "x", "d"),
    NC(aimc_tiles_update_ex, "tiles", "x", "d"),
    NC(aimc_tiles_update_gated, "tiles", "x", "d"),
    NC(aimc_tiles_set_learning_rate, "tiles"),
    NC(aimc_tiles_set_learning_rates, "tiles", "lr"),
    NC(aimc_tiles_get_weights, "tiles", "w"),
    NC(aimc_tiles_set_weights, "tiles", "w"),
    NC(aimc_tiles_program_weights, "tiles", "w"),
    NC(aimc_tiles_decay, "tiles"),
    NC(aimc_tiles_reset_columns, "tiles"),
    NC(aimc_tiles_reset_columns_ex, "tiles"),
    NC(aimc_tiles_n_arrays, "tiles", "n_arrays"),
    NC(aimc_tiles_get_device_param, "tiles", "out"),
    NC(aimc_tiles_get_device_param_ex, "tiles", "out"),
    NC(aimc_tiles_get_buffer, "tiles", "out"),
    NC(aimc_tiles_get_choppers, "tiles"), /* c_in, c_out may be NULL */
    NC(aimc_tiles_get_stats, "tiles", "stats"),
    NC(aimc_tiles_reset_stats, "tiles"),
    NC(aimc_network_desc_mlp, "desc", "sizes"), /* config NULL: default */
    NC(aimc_network_create, "ctx", "desc", "net"),
    NC(aimc_network_replicas, "net", "replicas"),
    NC(aimc_network_sweep_value, "net", "value"),
    NC(aimc_network_desc_get, "net", "desc"),
    NC(aimc_network_layer_tiles, "net", "tiles"),
    NC(aimc_network_forward, "net", "x", "y"),
    NC(aimc_network_train_batch, "net", "x", "labels"),
    NC(aimc_network_evaluate, "net", "x", "labels", "correct"),
    NC(aimc_network_set_learning_rate, "net"),
    NC(aimc_network_pulses, "net", "pulses", "weights"),
    NC(aimc_network_get_bias, "net", "b"),
    NC(aimc_network_program_layer, "net", "w"),
    NC(aimc_network_get_layer, "net", "w"),
    NC(aimc_network_save, "net", "path", "user"),
    NC(aimc_network_load, "ctx", "path", "net", "user"), /* user_len may be NULL */
    NC(aimc_tiles_save_state, "tiles", "", "len"),
    NC(aimc_tiles_load_state, "ctx", "buf", "tiles"),
    NC(aimc_idx_load, "path", "out"),
    NC(aimc_idx_normalize, "idx", "out"),
    NC(aimc_permutation, "perm"),
};

Test(nulls, every_pointer_argument_of_every_public_function, .init = make_tmp_dir,
     .fini = remove_tmp_dir, .timeout = 60) {
  static nfx_t fx;
  nfx_t *f = &fx;
  memset(f, 0, sizeof *f);
  f->ctx = cpu();
  aimc_tile_config_default(&f->cfg);
  f->tiles = make_tiles(f->ctx, &f->cfg);
  aimc_tile_config_t cc;
  CK(aimc_tile_config_preset(&cc, AIMC_ALGO_CHOPPED_TTV2, AIMC_PRESET_IDEALIZED));
  f->chopped = make_tiles(f->ctx, &cc);
  f->net = make_net(f->ctx, &f->cfg);
  aimc_context_desc_default(&f->cd);
  f->cd.backend = AIMC_BACKEND_CPU;
  aimc_tiles_desc_default(&f->td);
  f->td.rows = ROWS, f->td.cols = COLS, f->td.n_tiles = NT, f->td.config = f->cfg;
  f->sizes[0] = IN, f->sizes[1] = HID, f->sizes[2] = CLS;
  CK(aimc_network_desc_mlp(&f->nd, 3, f->sizes, AIMC_ACT_TANH, &f->cfg));
  for (size_t i = 0; i < sizeof f->v / sizeof *f->v; ++i) f->v[i] = 0.01f;
  snprintf(f->path, sizeof f->path, "%s/net.aimc", tmp_dir);
  snprintf(f->missing, sizeof f->missing, "%s/missing.idx", tmp_dir);
  CK(aimc_network_save(f->net, f->path, NULL, 0));
  CK(aimc_tiles_save_state(f->tiles, f->blob, sizeof f->blob, &f->blob_len));
  static uint8_t idx_data[4] = {1, 2, 3, 4};
  f->idx.n_dims = 1, f->idx.dims[0] = 4, f->idx.count = 4, f->idx.data = idx_data;
  /* every call is valid with no NULL (k = -1) except those meant to fail */
  int checked = 0, failed = 0;
  for (size_t c = 0; c < sizeof null_cases / sizeof *null_cases; ++c) {
    const ncase_t *nc = &null_cases[c];
    for (int k = 0; k < 6 && nc->args[k]; ++k) {
      if (!nc->args[k][0]) continue;
      aimc_status_t s = nc->call(f, k);
      if (s == AIMC_OK || !strstr(aimc_last_error(), nc->args[k])) {
        fprintf(stderr, "%s with %s NULL: %s \"%s\"\n", nc->fn, nc->args[k],
                aimc_status_string(s), s == AIMC_OK ? "" : aimc_last_error());
        ++failed;
      }
      ++checked;
    }
  }
  cr_assert_eq(failed, 0, "%d of %d NULL arguments not refused by name (listed above)", failed,
               checked);
  cr_assert_gt(checked, 120);
  /* documented optional pointers */
  CK(aimc_tiles_shape(f->tiles, NULL, NULL, NULL));
  CK(aimc_tiles_get_choppers(f->chopped, NULL, NULL));
  CK(aimc_network_desc_mlp(&f->nd, 3, f->sizes, AIMC_ACT_TANH, NULL));
  aimc_network_t *loaded = NULL;
  CK(aimc_network_load(f->ctx, f->path, &loaded, NULL, 0, NULL));
  aimc_network_destroy(loaded);
  size_t need = 0;
  CK(aimc_tiles_save_state(f->tiles, NULL, 0, &need));
  cr_assert_eq(need, f->blob_len);
  /* NULL is allowed (documented) where these functions have nothing to do */
  aimc_context_desc_default(NULL);
  aimc_update_desc_default(NULL);
  aimc_tile_config_default(NULL);
  aimc_tiles_desc_default(NULL);
  aimc_tiles_destroy(NULL);
  aimc_network_destroy(NULL);
  aimc_context_destroy(NULL);
  aimc_idx_free(NULL);
  aimc_free(f->ctx, NULL);
  aimc_free(NULL, NULL);
  (void)aimc_context_backend(NULL);
  (void)aimc_context_last_error(NULL);
  aimc_network_destroy(f->net);
  aimc_tiles_destroy(f->tiles);
  aimc_tiles_destroy(f->chopped);
  aimc_context_destroy(f->ctx);
}
