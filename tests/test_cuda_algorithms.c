/* CUDA against CPU, bit for bit, for every training algorithm: float and
 * analog SGD, Tiki-Taka v1 (column resets, pulsed transfer writes), TTv2,
 * chopped TTv2 (random and regular chopping, output choppers, auto scale,
 * column and row reads), AGAD, mixed precision (binning, rows per
 * transfer), STELLAR (gated on outputs and not) and PANTHER.
 *
 * Each case runs ~20 update calls of 1..8 samples on a few tiles whose
 * configurations differ, with reads and decay steps in between, and after
 * every call requires identical visible weights, hidden and visible weights
 * of every array, algorithm buffers (H, running and past means, chi),
 * choppers and statistics; every drawn device parameter at the start and
 * the end. Without a GPU the suite exits with 77 (skipped). */
#include "cuda_common.h"

enum {
  EXPECT_TRANSFERS = 1, /* the CPU side counted transfers */
  EXPECT_FLIPS = 2,     /* ... chopper flips */
  EXPECT_PULSES = 4,    /* ... device pulses */
  GATED = 8,            /* aimc_tiles_update_gated with outputs y */
  DECAY = 16,           /* a decay step every few calls */
  SHARED = 32           /* every 4th call feeds all tiles the same x (tile stride 0) */
};

#define CALLS 20
#define MAX_BATCH 8

static void run_algorithm(const char *name, const aimc_tile_config_t *cfg, int64_t n_tiles,
                          int32_t rows, int32_t cols, unsigned flags, uint64_t seed) {
  cuda_pair_t p = cuda_pair_create(seed);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = n_tiles;
  td.rows = rows;
  td.cols = cols;
  td.per_tile = cfg;
  td.seed = seed;
  tile_pair_t tp;
  tp_create(&tp, &p, &td);
  char what[192];
  tp_expect_all(&tp, cuda_fmt(what, sizeof what, "%s: created", name));
  test_rng_t r = {seed * 13 + 5};
  float *w = test_alloc(tp.nw);
  cuda_fill(&r, w, tp.nw, -0.3f, 0.3f, 0);
  tp_write(&tp, w, 1);
  tp_expect_all(&tp, cuda_fmt(what, sizeof what, "%s: programmed", name));
  size_t nx = (size_t)n_tiles * MAX_BATCH * (size_t)cols;
  size_t nd = (size_t)n_tiles * MAX_BATCH * (size_t)rows;
  float *x = test_alloc(nx), *d = test_alloc(nd), *y = test_alloc(nd);
  for (int c = 0; c < CALLS; ++c) {
    int64_t B = 1 + (c * 3) % MAX_BATCH; /* 1, 4, 7, 2, 5, 8, 3, 6, ... */
    cuda_fill(&r, x, (size_t)(n_tiles * B * cols), -1, 1, 11);
    cuda_fill(&r, d, (size_t)(n_tiles * B * rows), -1, 1, 0);
    cuda_fill(&r, y, (size_t)(n_tiles * B * rows), -0.2f, 1, 0);
    int shared = (flags & SHARED) && c % 4 == 3;
    int64_t xs = shared ? 0 : B * cols;
    tp_update(&tp, x, xs, d, B * rows, (flags & GATED) ? y : NULL, B * rows, B);
    cuda_fmt(what, sizeof what, "%s: update %d (batch %lld%s)", name, c, (long long)B,
             shared ? ", shared x" : "");
    tp_expect_state(&tp, what);
    if (c % 5 == 4) tp_mvm(&tp, AIMC_FORWARD, x, B * cols, B, what, NULL);
    if ((flags & DECAY) && c % 5 == 2) {
      tp_decay(&tp);
      tp_expect_state(&tp, cuda_fmt(what, sizeof what, "%s: decay after update %d", name, c));
    }
  }
  tp_expect_all(&tp, cuda_fmt(what, sizeof what, "%s: end", name));
  /* the case exercised what it is about */
  if (flags & EXPECT_TRANSFERS)
    cr_assert_gt(TP_STAT(&tp, transfers), 0u, "%s: no transfers happened", name);
  if (flags & EXPECT_FLIPS)
    cr_assert_gt(TP_STAT(&tp, chopper_flips), 0u, "%s: no chopper flipped", name);
  if (flags & EXPECT_PULSES)
    cr_assert_gt(TP_STAT(&tp, pulses_up) + TP_STAT(&tp, pulses_down), 0u, "%s: no pulses", name);
  free(w), free(x), free(d), free(y);
  tp_destroy(&tp);
  cuda_pair_destroy(&p);
}

static void algorithm_config(aimc_tile_config_t *c, aimc_algorithm_t kind) {
  aimc_tile_config_default(c);
  CK(aimc_tile_config_algorithm(c, kind));
}

static void preset_config(aimc_tile_config_t *c, aimc_algorithm_t kind, aimc_device_preset_t d) {
  CK(aimc_tile_config_preset(c, kind, d));
}

/* ---- SGD --------------------------------------------------------------------------------- */

Test(sgd, float_sgd) {
  aimc_tile_config_t c[3];
  for (int t = 0; t < 3; ++t) {
    algorithm_config(&c[t], AIMC_ALGO_FLOAT_SGD);
    c[t].update.learning_rate = 0.05f * (float)(t + 1);
  }
  CK(aimc_device_desc_preset(&c[1].device, AIMC_PRESET_RERAM_SB));
  run_algorithm("float SGD", c, 3, 7, 13, SHARED, 101);
}

Test(sgd, analog_presets) {
  static const aimc_device_preset_t d[4] = {AIMC_PRESET_RERAM_SB, AIMC_PRESET_RERAM_ES,
                                            AIMC_PRESET_CAPACITOR, AIMC_PRESET_ECRAM};
  aimc_tile_config_t c[4];
  for (int t = 0; t < 4; ++t) preset_config(&c[t], AIMC_ALGO_SGD, d[t]);
  c[2].device.lifetime = 40.0f;
  run_algorithm("analog SGD presets", c, 4, 9, 11, EXPECT_PULSES | DECAY | SHARED, 102);
}

/* ---- Tiki-Taka v1 ------------------------------------------------------------------------ */

Test(tiki_taka, column_resets_and_pulsed_transfers) {
  aimc_tile_config_t c[3];
  for (int t = 0; t < 3; ++t) {
    algorithm_config(&c[t], AIMC_ALGO_TIKI_TAKA);
    c[t].device.dw_min = 0.01f;
    CK(aimc_device_desc_default(&c[t].fast_device, AIMC_DEVICE_LINEAR_STEP));
    c[t].fast_device.dw_min = 0.005f;
    c[t].fast_device.gamma_up = 0.1f, c[t].fast_device.gamma_down = 0.1f;
    c[t].algorithm.with_reset_prob = 0.3f;
    c[t].update.learning_rate = 0.05f;
    c[t].transfer_update.pulse_type = AIMC_PULSE_STOCHASTIC_COMPRESSED; /* pulsed writes */
    c[t].transfer_update.learning_rate = 0.05f;
  }
  c[1].algorithm.n_reads_per_transfer = 2;
  c[1].transfer.inp_noise = 0.02f;
  c[2].algorithm.units_in_mbatch = 0;
  c[2].algorithm.transfer_every = 2.0f;
  c[2].algorithm.with_reset_prob = 1.0f;
  c[2].transfer_update.update_bl_management = 0;
  run_algorithm("Tiki-Taka", c, 3, 7, 13, EXPECT_TRANSFERS | EXPECT_PULSES | SHARED, 201);
}

Test(tiki_taka, presets_with_gamma) {
  static const aimc_device_preset_t d[3] = {AIMC_PRESET_CAPACITOR, AIMC_PRESET_ECRAM,
                                            AIMC_PRESET_IDEALIZED};
  aimc_tile_config_t c[3];
  for (int t = 0; t < 3; ++t) preset_config(&c[t], AIMC_ALGO_TIKI_TAKA, d[t]);
  c[0].algorithm.gamma = 0.1f; /* reads see gamma A + C */
  c[0].device.lifetime = c[0].fast_device.lifetime = 30.0f;
  run_algorithm("Tiki-Taka presets", c, 3, 16, 40, EXPECT_TRANSFERS | DECAY, 202);
}

/* ---- TTv2 -------------------------------------------------------------------------------- */

Test(ttv2, buffered_transfers) {
  aimc_tile_config_t c[3];
  for (int t = 0; t < 3; ++t) {
    algorithm_config(&c[t], AIMC_ALGO_TTV2);
    CK(aimc_device_desc_preset(&c[t].device, AIMC_PRESET_RERAM_SB));
    CK(aimc_device_desc_preset(&c[t].fast_device, AIMC_PRESET_RERAM_ES));
    c[t].update.learning_rate = 0.1f;
  }
  c[0].algorithm.units_in_mbatch = 0;
  c[0].algorithm.transfer_every = 2.0f;
  c[1].algorithm.gamma = 0.2f;
  c[2].algorithm.forget_buffer = 0;
  c[2].algorithm.momentum = 0.3f;
  c[2].algorithm.thres_scale = 0.5f;
  run_algorithm("TTv2", c, 3, 33, 65, EXPECT_TRANSFERS | EXPECT_PULSES, 301);
}

Test(ttv2, presets) {
  aimc_tile_config_t c[2];
  preset_config(&c[0], AIMC_ALGO_TTV2, AIMC_PRESET_RERAM_ES); /* chopped, no flips */
  preset_config(&c[1], AIMC_ALGO_TTV2, AIMC_PRESET_ECRAM_MO);
  run_algorithm("TTv2 presets", c, 2, 16, 40, EXPECT_TRANSFERS | SHARED, 302);
}

/* ---- Chopped TTv2 ------------------------------------------------------------------------- */

Test(chopped_ttv2, random_chopping_auto_scale) {
  aimc_tile_config_t c[3];
  for (int t = 0; t < 3; ++t) {
    preset_config(&c[t], AIMC_ALGO_CHOPPED_TTV2, AIMC_PRESET_RERAM_SB); /* auto_scale on */
    c[t].algorithm.in_chop_prob = 0.3f;
    c[t].algorithm.out_chop_prob = 0.2f;
  }
  c[1].algorithm.transfer_every = -0.5f; /* automatic period */
  c[2].algorithm.n_reads_per_transfer = 3;
  c[2].algorithm.correct_gradient_magnitudes = 1;
  c[2].transfer.inp_noise = 0.01f;
  run_algorithm("chopped TTv2, random chopping", c, 3, 7, 13,
                EXPECT_TRANSFERS | EXPECT_FLIPS | EXPECT_PULSES | SHARED, 401);
}

Test(chopped_ttv2, regular_chopping_row_reads) {
  aimc_tile_config_t c[3];
  for (int t = 0; t < 3; ++t) {
    preset_config(&c[t], AIMC_ALGO_CHOPPED_TTV2, AIMC_PRESET_CAPACITOR);
    c[t].algorithm.in_chop_random = 0;
    c[t].algorithm.in_chop_prob = 0.5f;
    c[t].algorithm.out_chop_prob = 0.3f;
    c[t].algorithm.transfer_columns = 0; /* row reads */
  }
  c[1].algorithm.no_buffer = 1;
  c[2].algorithm.auto_scale = 0;
  c[2].algorithm.buffer_granularity = 2.0f;
  run_algorithm("chopped TTv2, regular chopping, rows", c, 3, 9, 7,
                EXPECT_TRANSFERS | EXPECT_FLIPS | DECAY, 402);
}

Test(chopped_ttv2, column_reads_odd_shape) {
  aimc_tile_config_t c[2];
  for (int t = 0; t < 2; ++t) {
    preset_config(&c[t], AIMC_ALGO_CHOPPED_TTV2, t ? AIMC_PRESET_ECRAM : AIMC_PRESET_RERAM_ES);
    c[t].algorithm.in_chop_prob = 0.2f;
    c[t].algorithm.out_chop_prob = 0.1f;
    c[t].algorithm.forget_buffer = 0;
    c[t].algorithm.momentum = 0.1f;
  }
  c[1].algorithm.gamma = 0.05f;
  run_algorithm("chopped TTv2, 33x65", c, 2, 33, 65, EXPECT_TRANSFERS | EXPECT_FLIPS, 403);
}

/* ---- AGAD ---------------------------------------------------------------------------------- */

Test(agad, preset_regular_chopping) {
  aimc_tile_config_t c[3];
  for (int t = 0; t < 3; ++t) {
    preset_config(&c[t], AIMC_ALGO_AGAD, AIMC_PRESET_RERAM_SB);
    c[t].algorithm.in_chop_prob = 0.25f; /* a flip every 4 sweeps */
    c[t].algorithm.out_chop_prob = 0.1f;
  }
  c[1].algorithm.buffer_cap = 2.0f;
  c[1].algorithm.forget_buffer = 0;
  c[2].algorithm.tail_weightening = 2.0f;
  run_algorithm("AGAD", c, 3, 7, 13, EXPECT_TRANSFERS | EXPECT_FLIPS | EXPECT_PULSES | SHARED,
                501);
}

Test(agad, random_chopping_row_reads) {
  aimc_tile_config_t c[2];
  for (int t = 0; t < 2; ++t) {
    preset_config(&c[t], AIMC_ALGO_AGAD, t ? AIMC_PRESET_CAPACITOR : AIMC_PRESET_ECRAM);
    c[t].algorithm.in_chop_random = 1;
    c[t].algorithm.in_chop_prob = 0.3f;
    c[t].algorithm.transfer_columns = 0;
  }
  c[1].algorithm.gamma = 0.1f;
  run_algorithm("AGAD, random chopping, rows", c, 2, 33, 65, EXPECT_TRANSFERS | DECAY, 502);
}

/* ---- Mixed precision ----------------------------------------------------------------------- */

Test(mixed_precision, presets) {
  static const aimc_device_preset_t d[3] = {AIMC_PRESET_RERAM_SB, AIMC_PRESET_CAPACITOR,
                                            AIMC_PRESET_GOKMEN_VLASOV};
  aimc_tile_config_t c[3];
  for (int t = 0; t < 3; ++t) {
    preset_config(&c[t], AIMC_ALGO_MIXED_PRECISION, d[t]);
    c[t].update.learning_rate = 0.1f;
  }
  c[1].device.lifetime = 25.0f;
  run_algorithm("mixed precision presets", c, 3, 7, 13,
                EXPECT_TRANSFERS | EXPECT_PULSES | DECAY | SHARED, 601);
}

Test(mixed_precision, binning_and_rows_per_transfer) {
  aimc_tile_config_t c[3];
  for (int t = 0; t < 3; ++t) {
    algorithm_config(&c[t], AIMC_ALGO_MIXED_PRECISION);
    CK(aimc_device_desc_default(&c[t].device, AIMC_DEVICE_LINEAR_STEP));
    c[t].device.dw_min = 0.01f;
    c[t].device.gamma_up = 0.1f, c[t].device.gamma_down = 0.2f;
    c[t].device.write_noise_std = 1.0f;
    c[t].update.learning_rate = 0.1f;
    c[t].algorithm.n_x_bins = 16;
    c[t].algorithm.n_d_bins = 8;
    c[t].algorithm.n_rows_per_transfer = 2;
    c[t].algorithm.transfer_every = 2.0f;
  }
  c[1].algorithm.granularity = 0.02f;
  c[1].algorithm.n_rows_per_transfer = -1;
  c[2].algorithm.n_x_bins = 0;
  c[2].algorithm.n_d_bins = 4;
  c[2].algorithm.n_rows_per_transfer = 5;
  c[2].transfer_update.pulse_type = AIMC_PULSE_NONE_WITH_DEVICE;
  run_algorithm("mixed precision, binning", c, 3, 33, 65, EXPECT_TRANSFERS | EXPECT_PULSES, 602);
}

/* ---- STELLAR --------------------------------------------------------------------------------- */

Test(stellar, gated_on_outputs) {
  aimc_tile_config_t c[3];
  for (int t = 0; t < 3; ++t) {
    algorithm_config(&c[t], AIMC_ALGO_STELLAR);
    c[t].device.dw_min = 0.01f;
    c[t].algorithm.stellar_c2 = 0.3f;
    c[t].algorithm.stellar_threshold = 0.05f;
  }
  c[1].algorithm.stellar_c1 = 0.2f;
  CK(aimc_device_desc_default(&c[2].device, AIMC_DEVICE_SOFT_BOUNDS));
  c[2].algorithm.stellar_c2 = -1.0f; /* every output passes */
  run_algorithm("STELLAR gated", c, 3, 7, 13, EXPECT_PULSES | GATED, 701);
}

Test(stellar, ungated) {
  aimc_tile_config_t c[2];
  for (int t = 0; t < 2; ++t) {
    algorithm_config(&c[t], AIMC_ALGO_STELLAR);
    CK(aimc_device_desc_preset(&c[t].device, t ? AIMC_PRESET_RERAM_SB : AIMC_PRESET_GOKMEN_VLASOV));
  }
  c[1].algorithm.stellar_threshold = 0.2f;
  run_algorithm("STELLAR", c, 2, 33, 65, EXPECT_PULSES | SHARED, 702);
}

/* ---- PANTHER --------------------------------------------------------------------------------- */

Test(panther, carry_resolution) {
  aimc_tile_config_t c[3];
  for (int t = 0; t < 3; ++t) {
    algorithm_config(&c[t], AIMC_ALGO_PANTHER);
    c[t].algorithm.crs_every = 5;
    c[t].update.learning_rate = 0.5f;
  }
  c[1].algorithm.crs_every = 3;
  c[1].algorithm.input_step = 1.0f / 64.0f;
  c[2].update.learning_rate = 0.05f;
  run_algorithm("PANTHER", c, 3, 7, 13, EXPECT_PULSES | SHARED, 801);
}

Test(panther, three_slices) {
  aimc_tile_config_t c[2];
  for (int t = 0; t < 2; ++t) {
    algorithm_config(&c[t], AIMC_ALGO_PANTHER);
    c[t].algorithm.n_slices = 3;
    c[t].algorithm.slice_bits[0] = 6;
    c[t].algorithm.slice_bits[1] = 5;
    c[t].algorithm.slice_bits[2] = 5;
    c[t].algorithm.weight_step = 1.0f / 256.0f;
    c[t].algorithm.crs_every = 7;
    c[t].update.learning_rate = 0.3f;
  }
  run_algorithm("PANTHER, 3 slices", c, 2, 33, 65, EXPECT_PULSES, 802);
}

CUDA_SUITE_MAIN("test_cuda_algorithms")
