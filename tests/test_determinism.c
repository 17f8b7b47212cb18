/* Reproducibility: the same seed gives the same bits; thread counts do not
 * change any bit; different seeds differ; replicas with equal tile seeds
 * evolve identically; reads do not disturb the update's random streams. */
#include "common.h"

enum { T = 3, R = 9, C = 11, B = 5 };

typedef struct record {
  float y[T * B * R], g[T * B * C], y2[T * B * R], col[T * R];
  float w[T * R * C], h[T * R * C];
  aimc_tile_stats_t stats[T];
} record_t;

/* Three tiles with different models and every source of randomness on. */
static void noisy_configs(aimc_tile_config_t cfg[T]) {
  for (int k = 0; k < T; ++k) {
    aimc_tile_config_default(&cfg[k]);
    aimc_io_desc_t *f = &cfg[k].forward;
    f->inp_noise = 0.01f, f->inp_sto_round = 1, f->out_sto_round = 1;
    f->w_noise_type = AIMC_W_NOISE_PCM_READ, f->w_noise = 0.02f;
    f->out_noise_std = 0.2f, f->out_nonlinearity = 0.5f, f->out_nonlinearity_std = 0.1f;
    f->out_bound = 0.3f; /* provoke bound management */
    cfg[k].backward.w_noise_type = AIMC_W_NOISE_ADDITIVE_CONSTANT;
    cfg[k].backward.w_noise = 0.01f;
    cfg[k].transfer.inp_noise = 0.05f;
    cfg[k].update.learning_rate = 0.2f;
  }
  aimc_device_desc_preset(&cfg[0].device, AIMC_PRESET_RERAM_SB);
  cfg[0].device.reference_std = 0.1f;
  aimc_device_desc_preset(&cfg[1].device, AIMC_PRESET_CAPACITOR);
  cfg[1].device.diffusion = 0.001f;
  cfg[1].device.lifetime = 5.0f;
  cfg[1].device.reset = 0.05f, cfg[1].device.reset_dtod = 0.01f;
  aimc_device_desc_default(&cfg[2].device, AIMC_DEVICE_POW_STEP);
  cfg[2].device.corrupt_devices_prob = 0.1f;
  cfg[2].device.write_noise_std = 1.0f;
  cfg[2].update.pulse_type = AIMC_PULSE_STOCHASTIC_COMPRESSED;
  cfg[2].update.sto_round = 1, cfg[2].update.res = 0.05f;
}

static void run_scenario(int threads, uint64_t seed, record_t *rec) {
  memset(rec, 0, sizeof *rec);
  aimc_context_t *ctx = test_context(threads, seed);
  aimc_tile_config_t cfg[T];
  noisy_configs(cfg);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = T, td.rows = R, td.cols = C, td.per_tile = cfg;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  static float w0[T * R * C], x[T * B * C], d[T * B * R];
  test_rng_t r = {2024}; /* the data is the same in every run */
  test_fill(&r, w0, T * R * C, -0.4f, 0.4f);
  test_fill(&r, x, T * B * C, -1, 1);
  test_fill(&r, d, T * B * R, -1, 1);
  float e[C] = {0};
  e[3] = 1.0f;
  CK(aimc_tiles_program_weights(t, w0));
  CK(aimc_tiles_forward(t, x, rec->y, B));
  CK(aimc_tiles_backward(t, d, rec->g, B));
  for (int k = 0; k < 3; ++k) CK(aimc_tiles_update(t, x, d, B));
  CK(aimc_tiles_decay(t));
  CK(aimc_tiles_reset_columns(t, 9, 4, 0.5f)); /* columns 9, 10, 0, 1 */
  CK(aimc_tiles_forward(t, x, rec->y2, B));
  CK(aimc_tiles_mvm_ex(t, AIMC_TRANSFER_FORWARD, e, 0, rec->col, 1));
  CK(aimc_tiles_get_weights(t, rec->w));
  CK(aimc_tiles_get_device_param(t, AIMC_PARAM_HIDDEN_WEIGHT, rec->h));
  CK(aimc_tiles_get_stats(t, rec->stats));
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

static void expect_equal(const record_t *a, const record_t *b, const char *what) {
  cr_assert_arr_eq(a->y, b->y, sizeof a->y, "%s: forward", what);
  cr_assert_arr_eq(a->g, b->g, sizeof a->g, "%s: backward", what);
  cr_assert_arr_eq(a->w, b->w, sizeof a->w, "%s: weights", what);
  cr_assert_arr_eq(a->h, b->h, sizeof a->h, "%s: device states", what);
  cr_assert_arr_eq(a->y2, b->y2, sizeof a->y2, "%s: second forward", what);
  cr_assert_arr_eq(a->col, b->col, sizeof a->col, "%s: transfer read", what);
  cr_assert_arr_eq(a->stats, b->stats, sizeof a->stats, "%s: statistics", what);
}

Test(determinism, same_seed_same_bits) {
  static record_t a, b;
  run_scenario(2, 42, &a);
  run_scenario(2, 42, &b);
  expect_equal(&a, &b, "rerun");
  cr_assert_gt(a.stats[0].pulses_up + a.stats[0].pulses_down, 0u);
  cr_assert_gt(a.stats[0].forward_passes, a.stats[0].forward_samples, "BM was exercised");
}

/* 1 and 2 threads spread the 3 tiles over threads; 3 and 4 threads split
 * lines and rows inside each tile. */
Test(determinism, thread_count_does_not_matter) {
  static record_t a, b;
  run_scenario(1, 42, &a);
  for (int threads = 2; threads <= 4; ++threads) {
    run_scenario(threads, 42, &b);
    char what[32];
    snprintf(what, sizeof what, "%d threads", threads);
    expect_equal(&a, &b, what);
  }
}

Test(determinism, different_seeds_differ) {
  static record_t a, b;
  run_scenario(2, 42, &a);
  run_scenario(2, 43, &b);
  cr_assert(memcmp(a.y, b.y, sizeof a.y) != 0);
  cr_assert(memcmp(a.w, b.w, sizeof a.w) != 0);
  cr_assert(memcmp(a.col, b.col, sizeof a.col) != 0);
}

/* Two tiles with the same seed, config and inputs are replicas: identical
 * forever. A third with another seed differs. */
Test(determinism, replicas_with_equal_seeds) {
  aimc_context_t *ctx = test_context(2, 1);
  aimc_tile_config_t cfg[T];
  noisy_configs(cfg);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = 3, td.rows = R, td.cols = C, td.config = cfg[0];
  uint64_t seeds[3] = {7, 7, 8};
  td.tile_seeds = seeds;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float x[B * C], d[B * R], y[3 * B * R], w[3 * R * C];
  test_rng_t r = {3};
  test_fill(&r, x, B * C, -1, 1);
  test_fill(&r, d, B * R, -1, 1);
  for (int k = 0; k < 4; ++k) {
    CK(aimc_tiles_mvm_ex(t, AIMC_FORWARD, x, 0, y, B));
    CK(aimc_tiles_update_ex(t, x, 0, d, 0, B));
  }
  CK(aimc_tiles_get_weights(t, w));
  cr_assert_arr_eq(w, w + R * C, R * C * sizeof(float));
  cr_assert_arr_eq(y, y + B * R, B * R * sizeof(float));
  cr_assert(memcmp(w, w + 2 * R * C, R * C * sizeof(float)) != 0);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* Each operation kind has its own counter in the random streams, so extra
 * reads (an evaluation pass) leave training noise unchanged. */
Test(determinism, reads_do_not_shift_update_noise) {
  float wa[T * R * C], wb[T * R * C];
  for (int extra = 0; extra < 2; ++extra) {
    aimc_context_t *ctx = test_context(2, 5);
    aimc_tile_config_t cfg[T];
    noisy_configs(cfg);
    aimc_tiles_desc_t td;
    aimc_tiles_desc_default(&td);
    td.n_tiles = T, td.rows = R, td.cols = C, td.per_tile = cfg;
    aimc_tiles_t *t = test_tiles(ctx, &td);
    static float x[T * B * C], d[T * B * R], y[T * B * R];
    test_rng_t r = {11};
    test_fill(&r, x, T * B * C, -1, 1);
    test_fill(&r, d, T * B * R, -1, 1);
    CK(aimc_tiles_update(t, x, d, B));
    for (int k = 0; k < 3 * extra; ++k) CK(aimc_tiles_forward(t, x, y, B));
    CK(aimc_tiles_update(t, x, d, B));
    CK(aimc_tiles_get_weights(t, extra ? wb : wa));
    aimc_tiles_destroy(t);
    aimc_context_destroy(ctx);
  }
  cr_assert_arr_eq(wa, wb, sizeof wa);
}

/* Every transfer-family algorithm, with its aihwkit preset (device noise,
 * write noise, noisy transfer reads, random choppers), gives the same bits
 * with 1 to 4 threads over 3 tiles (4 threads split rows inside tiles). */
Test(determinism, transfer_family_thread_count_does_not_matter) {
  aimc_algorithm_t kinds[4] = {AIMC_ALGO_TIKI_TAKA, AIMC_ALGO_TTV2, AIMC_ALGO_CHOPPED_TTV2,
                               AIMC_ALGO_AGAD};
  for (int q = 0; q < 4; ++q) {
    float ref[2 * T * R * C], w[2 * T * R * C];
    aimc_tile_stats_t st_ref[T], st[T];
    for (int threads = 1; threads <= 4; ++threads) {
      aimc_context_t *ctx = test_context(threads, 11);
      aimc_tiles_desc_t td;
      aimc_tiles_desc_default(&td);
      td.n_tiles = T, td.rows = R, td.cols = C;
      CK(aimc_tile_config_preset(&td.config, kinds[q], AIMC_PRESET_RERAM_SB));
      td.config.algorithm.in_chop_prob = 0.2f;
      td.config.algorithm.out_chop_prob = 0.1f;
      td.config.transfer.inp_noise = 0.01f;
      aimc_tiles_t *t = test_tiles(ctx, &td);
      static float x[T * B * C], d[T * B * R];
      test_rng_t r = {19};
      test_fill(&r, x, T * B * C, -1, 1);
      test_fill(&r, d, T * B * R, -1, 1);
      for (int k = 0; k < 6; ++k) CK(aimc_tiles_update(t, x, d, B));
      CK(aimc_tiles_get_device_param_ex(t, 0, AIMC_PARAM_VISIBLE_WEIGHT, w));
      CK(aimc_tiles_get_device_param_ex(t, 1, AIMC_PARAM_VISIBLE_WEIGHT, w + T * R * C));
      CK(aimc_tiles_get_stats(t, st));
      if (threads == 1) {
        memcpy(ref, w, sizeof w);
        memcpy(st_ref, st, sizeof st);
        cr_assert_gt(st[0].transfers, 0u);
      } else {
        cr_assert_arr_eq(w, ref, sizeof w, "%s, %d threads: arrays differ",
                         aimc_algorithm_name(kinds[q]), threads);
        cr_assert_arr_eq(st, st_ref, sizeof st, "%s, %d threads: statistics differ",
                         aimc_algorithm_name(kinds[q]), threads);
      }
      aimc_tiles_destroy(t);
      aimc_context_destroy(ctx);
    }
  }
}
