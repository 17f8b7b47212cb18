/* CUDA against CPU, bit for bit: the stream of a CUDA context, device-to-
 * device draws of every model and preset, weight writes, every analog read
 * direction under every IO setting, the pulsed update of every device model
 * and pulse type with and without update/BL management, decay, diffusion
 * and column resets, running out of device memory, and a big shape.
 *
 * Every test runs the same calls with the same seeds and inputs on a CPU
 * and a CUDA context and compares every float array with memcmp and every
 * statistic exactly (tests/cuda_common.h). Without a GPU the suite exits
 * with 77 (skipped). */
#include "cuda_common.h"

typedef struct shape {
  int64_t tiles;
  int32_t rows, cols;
} shape_t;

/* Odd shapes: 1 x 1, sizes off the usual 32/64 multiples, more columns than
 * a 256-wide block. */
static const shape_t shapes[] = {{2, 1, 1}, {3, 7, 13}, {3, 33, 65}, {2, 64, 300}};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))
static const int64_t batches[] = {1, 3, 16};
#define N_BATCHES 3

static aimc_tiles_desc_t desc_of(const shape_t *s, uint64_t seed) {
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = s->tiles;
  td.rows = s->rows;
  td.cols = s->cols;
  td.seed = seed;
  return td;
}

/* ---- Device variants ------------------------------------------------------------------- */

enum { N_DEVICE_VARIANTS = 9 };

static const char *device_variant_name(int v) {
  static const char *names[N_DEVICE_VARIANTS] = {
      "ConstantStep",  "LinearStep",        "SoftBounds",
      "SoftBoundsReference", "SoftBoundsReference (symmetry point)", "ExpStep (std add/slope)",
      "PowStep",       "PiecewiseStep",     "LinearStep (additive noise, device reference)"};
  return v >= 0 && v < N_DEVICE_VARIANTS ? names[v] : "?";
}

/* Every model with device-to-device and cycle-to-cycle variation (the model
 * defaults have both) and, where the model allows it, write noise. */
static void device_variant(aimc_device_desc_t *d, int v) {
  static const aimc_device_model_t models[N_DEVICE_VARIANTS] = {
      AIMC_DEVICE_CONSTANT_STEP,          AIMC_DEVICE_LINEAR_STEP, AIMC_DEVICE_SOFT_BOUNDS,
      AIMC_DEVICE_SOFT_BOUNDS_REFERENCE,  AIMC_DEVICE_SOFT_BOUNDS_REFERENCE,
      AIMC_DEVICE_EXP_STEP,               AIMC_DEVICE_POW_STEP,    AIMC_DEVICE_PIECEWISE_STEP,
      AIMC_DEVICE_LINEAR_STEP};
  CK(aimc_device_desc_default(d, models[v]));
  d->dw_min = 0.004f;
  d->up_down = 0.05f;
  d->up_down_dtod = 0.05f;
  if (models[v] != AIMC_DEVICE_CONSTANT_STEP) d->write_noise_std = 1.5f;
  switch (v) {
    case 1:
      d->gamma_up = 0.1f, d->gamma_down = 0.2f;
      break;
    case 3:
      d->reference_mean = 0.05f, d->reference_std = 0.1f;
      d->slope_up_dtod = 0.05f, d->slope_down_dtod = 0.08f;
      break;
    case 4:
      d->reference_std = 0.05f;
      d->subtract_symmetry_point = 1;
      d->mult_noise = 1;
      break;
    case 5:
      d->dw_min_std_add = 0.1f, d->dw_min_std_slope = 0.2f;
      break;
    case 6:
      d->pow_gamma = 1.5f, d->pow_gamma_dtod = 0.1f;
      d->pow_up_down = 0.1f, d->pow_up_down_dtod = 0.05f;
      break;
    case 7: {
      static const float up[5] = {1.5f, 1.2f, 1.0f, 0.8f, 0.4f};
      d->n_piecewise = 5;
      for (int k = 0; k < 5; ++k) d->piecewise_up[k] = up[k], d->piecewise_down[k] = up[4 - k];
      break;
    }
    case 8:
      d->gamma_up = 0.3f, d->gamma_down = 0.1f;
      d->mult_noise = 0;
      d->mean_bound_reference = 0;
      d->dw_min_dtod_log_normal = 1;
      break;
    default:
      break;
  }
}

/* Non-zero spreads of everything that is drawn per device. */
static void spread_device(aimc_device_desc_t *d, int k) {
  d->dw_min_dtod = 0.3f;
  d->up_down_dtod = 0.05f;
  d->w_max_dtod = 0.2f, d->w_min_dtod = 0.25f;
  d->gamma_up_dtod = 0.05f, d->gamma_down_dtod = 0.07f;
  d->slope_up_dtod = 0.1f, d->slope_down_dtod = 0.08f;
  d->reference_std = 0.1f;
  d->pow_gamma_dtod = 0.1f, d->pow_up_down_dtod = 0.05f;
  d->lifetime = 50.0f + (float)k, d->lifetime_dtod = 0.2f;
  d->diffusion = 0.002f, d->diffusion_dtod = 0.3f;
  d->reset = 0.02f, d->reset_dtod = 0.01f, d->reset_std = 0.02f;
  if (k % 3 == 1) d->corrupt_devices_prob = 0.2f, d->corrupt_devices_range = 0.15f;
  if (k % 4 == 2) d->enforce_consistency = 0;
  if (k % 5 == 3) d->dw_min_dtod_log_normal = 1;
}

/* ---- 1. Streams ------------------------------------------------------------------------ */

/* cudaStreamPerThread of the CUDA runtime (driver_types.h): a valid stream
 * handle every runtime accepts without creating one, so the suite needs
 * nothing but aimc.h. */
#define CUDA_STREAM_PER_THREAD ((void *)0x2)

/* A forward, a backward and an update on a pair, compared. */
static void small_workload(tile_pair_t *tp, test_rng_t *r, const char *what) {
  enum { B = 3 };
  size_t nx = (size_t)tp->n_tiles * B * (size_t)tp->cols;
  size_t nd = (size_t)tp->n_tiles * B * (size_t)tp->rows;
  float *x = test_alloc(nx), *d = test_alloc(nd);
  cuda_fill(r, x, nx, -1, 1, 0);
  cuda_fill(r, d, nd, -1, 1, 0);
  tp_mvm(tp, AIMC_FORWARD, x, B * tp->cols, B, what, NULL);
  tp_mvm(tp, AIMC_BACKWARD, d, B * tp->rows, B, what, NULL);
  tp_update_plain(tp, x, d, B);
  tp_expect_core(tp, what);
  free(x), free(d);
}

Test(stream, round_trip) {
  cuda_pair_t p = cuda_pair_create(1);
  void *s = (void *)0x1234;
  cr_assert_eq(aimc_context_set_cuda_stream(p.cpu, NULL), AIMC_ERR_UNSUPPORTED);
  cr_assert_neq(aimc_context_last_error(p.cpu)[0], '\0', "the error has a message");
  cr_assert_eq(aimc_context_set_cuda_stream(p.cpu, CUDA_STREAM_PER_THREAD), AIMC_ERR_UNSUPPORTED);
  cr_assert_eq(aimc_context_get_cuda_stream(p.cpu, &s), AIMC_ERR_UNSUPPORTED);
  cr_assert_eq(s, (void *)0x1234, "a failing get leaves the output alone");
  void *own = NULL, *got = NULL;
  CK(aimc_context_get_cuda_stream(p.dev, &own));
  cr_assert_not_null(own, "a CUDA context has its own stream, created with it");
  cr_assert_neq(own, CUDA_STREAM_PER_THREAD);
  cr_assert_eq(aimc_context_get_cuda_stream(p.dev, NULL), AIMC_ERR_INVALID_ARGUMENT);

  shape_t sh = {3, 7, 13};
  aimc_tiles_desc_t td = desc_of(&sh, 11);
  tile_pair_t tp;
  tp_create(&tp, &p, &td); /* created on the context's own stream */
  test_rng_t r = {5};
  float *w = test_alloc(tp.nw);
  cuda_fill(&r, w, tp.nw, -0.5f, 0.5f, 0);
  tp_write(&tp, w, 0);

  CK(aimc_context_set_cuda_stream(p.dev, CUDA_STREAM_PER_THREAD));
  CK(aimc_context_get_cuda_stream(p.dev, &got));
  cr_assert_eq(got, CUDA_STREAM_PER_THREAD, "get returns the stream set");
  small_workload(&tp, &r, "on the caller's stream");
  CK(aimc_context_synchronize(p.dev));

  CK(aimc_context_set_cuda_stream(p.dev, NULL));
  CK(aimc_context_get_cuda_stream(p.dev, &got));
  cr_assert_eq(got, own, "NULL returns to the context's own stream");
  small_workload(&tp, &r, "back on the own stream");
  CK(aimc_context_synchronize(p.dev));

  free(w);
  tp_destroy(&tp);
  cuda_pair_destroy(&p);
}

/* ---- 2. Device-to-device draws ---------------------------------------------------------- */

/* Every parameter of every array, the (zero) buffers, choppers and stats of
 * a freshly created batch. */
static void check_draws(const cuda_pair_t *p, const aimc_tiles_desc_t *td, const char *what) {
  tile_pair_t tp;
  tp_create(&tp, p, td);
  tp_expect_all(&tp, what);
  tp_destroy(&tp);
}

Test(d2d, every_preset) {
  cuda_pair_t p = cuda_pair_create(2);
  char what[128];
  for (int pr = 0; pr < AIMC_PRESET_COUNT; ++pr)
    for (int si = 0; si < 3; ++si) {
      aimc_tiles_desc_t td = desc_of(&shapes[si], 1000 + (uint64_t)(pr * 3 + si));
      CK(aimc_device_desc_preset(&td.config.device, (aimc_device_preset_t)pr));
      check_draws(&p, &td,
                  cuda_fmt(what, sizeof what, "preset %s, %lldx%dx%d",
                           aimc_device_preset_name((aimc_device_preset_t)pr),
                           (long long)shapes[si].tiles, shapes[si].rows, shapes[si].cols));
    }
  cuda_pair_destroy(&p);
}

Test(d2d, every_model_with_spreads) {
  cuda_pair_t p = cuda_pair_create(2);
  char what[160];
  for (int v = 0; v < N_DEVICE_VARIANTS; ++v)
    for (int si = 0; si < 3; ++si) {
      aimc_tiles_desc_t td = desc_of(&shapes[si], 2000 + (uint64_t)(v * 3 + si));
      device_variant(&td.config.device, v);
      spread_device(&td.config.device, v + si);
      check_draws(&p, &td,
                  cuda_fmt(what, sizeof what, "%s with spreads, %lldx%dx%d",
                           device_variant_name(v), (long long)shapes[si].tiles, shapes[si].rows,
                           shapes[si].cols));
    }
  cuda_pair_destroy(&p);
}

/* One batch whose tiles are all different models and presets. */
Test(d2d, mixed_batch_and_fast_device) {
  cuda_pair_t p = cuda_pair_create(2);
  enum { T = N_DEVICE_VARIANTS + AIMC_PRESET_COUNT };
  aimc_tile_config_t cfg[T];
  for (int t = 0; t < T; ++t) {
    aimc_tile_config_default(&cfg[t]);
    if (t < N_DEVICE_VARIANTS) {
      device_variant(&cfg[t].device, t);
      spread_device(&cfg[t].device, t);
    } else {
      CK(aimc_device_desc_preset(&cfg[t].device, (aimc_device_preset_t)(t - N_DEVICE_VARIANTS)));
    }
  }
  shape_t sh = {T, 33, 65};
  aimc_tiles_desc_t td = desc_of(&sh, 3001);
  td.per_tile = cfg;
  tile_pair_t tp;
  tp_create(&tp, &p, &td);
  tp_expect_all(&tp, "mixed batch");
  /* the draws really spread: up steps of tile 0 are not all equal */
  tp_fetch(&tp, 1, AIMC_PARAM_STEP_UP);
  int spread = 0;
  for (size_t k = 1; k < (size_t)(33 * 65); ++k) spread |= tp.h_cpu[k] != tp.h_cpu[0];
  cr_assert(spread, "device-to-device variation is on");
  tp_destroy(&tp);

  /* the transfer family: array 1 (A) has its own device */
  aimc_tiles_desc_t tf = desc_of(&shapes[1], 3002);
  CK(aimc_tile_config_algorithm(&tf.config, AIMC_ALGO_CHOPPED_TTV2));
  CK(aimc_device_desc_preset(&tf.config.device, AIMC_PRESET_RERAM_SB));
  device_variant(&tf.config.fast_device, 6);
  spread_device(&tf.config.fast_device, 4);
  check_draws(&p, &tf, "chopped TTv2, ReRamSB C and spread PowStep A");
  /* per-tile seeds */
  uint64_t seeds[3] = {7, 7, 99};
  aimc_tiles_desc_t ts = desc_of(&shapes[1], 0);
  ts.tile_seeds = seeds;
  device_variant(&ts.config.device, 3);
  check_draws(&p, &ts, "per-tile seeds");
  cuda_pair_destroy(&p);
}

/* ---- 3. Weights --------------------------------------------------------------------------- */

Test(weights, set_program_get) {
  cuda_pair_t p = cuda_pair_create(3);
  enum { T = 6 };
  aimc_tile_config_t cfg[T];
  for (int t = 0; t < T; ++t) aimc_tile_config_default(&cfg[t]);
  device_variant(&cfg[0].device, 1); /* LinearStep, write noise 1.5 */
  cfg[0].device.write_noise_std = 3.0f;
  device_variant(&cfg[1].device, 2); /* SoftBounds, write noise */
  device_variant(&cfg[2].device, 3); /* SoftBoundsReference */
  device_variant(&cfg[3].device, 0); /* ConstantStep, no write noise */
  cfg[3].device.corrupt_devices_prob = 0.2f;
  device_variant(&cfg[4].device, 5); /* ExpStep, write noise only on pulses */
  cfg[4].device.apply_write_noise_on_set = 0;
  CK(aimc_device_desc_preset(&cfg[5].device, AIMC_PRESET_RERAM_ES)); /* write noise 75 */
  const shape_t sh[2] = {{T, 7, 13}, {T, 64, 300}};
  char what[128];
  for (int si = 0; si < 2; ++si) {
    aimc_tiles_desc_t td = desc_of(&sh[si], 4000 + (uint64_t)si);
    td.per_tile = cfg;
    tile_pair_t tp;
    tp_create(&tp, &p, &td);
    test_rng_t r = {41 + (uint64_t)si};
    float *w = test_alloc(tp.nw);
    cuda_fill(&r, w, tp.nw, -0.5f, 0.5f, 9);
    tp_write(&tp, w, 0);
    tp_expect_core(&tp,
                   cuda_fmt(what, sizeof what, "%dx%d: set_weights", sh[si].rows, sh[si].cols));
    for (size_t k = 0; k < tp.nw; ++k)
      cr_assert_eq(tp.h_cpu[k], w[k], "set_weights is exact (visible weight %zu)", k);
    for (int round = 0; round < 3; ++round) {
      cuda_fill(&r, w, tp.nw, -1.5f, 1.5f, 13); /* beyond the bounds: clipped */
      tp_write(&tp, w, 1);
      tp_expect_all(&tp, cuda_fmt(what, sizeof what, "%dx%d: program_weights round %d",
                                  sh[si].rows, sh[si].cols, round));
    }
    /* write noise is on: tile 0's visible weights differ from its states */
    tp_fetch(&tp, 1, AIMC_PARAM_HIDDEN_WEIGHT);
    float *h = test_alloc(tp.nw);
    memcpy(h, tp.h_cpu, tp.nw * sizeof(float));
    tp_fetch(&tp, 0, 0);
    int noisy = 0;
    for (size_t k = 0; k < (size_t)(sh[si].rows * sh[si].cols); ++k) noisy |= h[k] != tp.h_cpu[k];
    cr_assert(noisy, "programming tile 0 added write noise");
    tp_write(&tp, w, 0);
    tp_expect_core(&tp, cuda_fmt(what, sizeof what, "%dx%d: set_weights after programming",
                                 sh[si].rows, sh[si].cols));
    free(w), free(h);
    tp_destroy(&tp);
  }
  cuda_pair_destroy(&p);
}

/* ---- 4. Analog reads ---------------------------------------------------------------------- */

typedef void (*io_mod_t)(aimc_io_desc_t *io, int tile);

/* One IO setting on every direction, shape and batch size. The forward IO
 * gets mod(); backward takes it without bound management and transfer
 * reads without noise and bound management (the library's rules). Tile t
 * of a batch varies the setting through mod(io, t). Inputs scaled by
 * in_scale, with exact zeros and an all-zero sample. */
static void run_mvm(io_mod_t mod, float in_scale, int expect_bm, const char *name) {
  cuda_pair_t p = cuda_pair_create(4);
  char what[192];
  for (int si = 0; si < N_SHAPES; ++si) {
    const shape_t *s = &shapes[si];
    aimc_tile_config_t cfg[4];
    for (int t = 0; t < s->tiles; ++t) {
      aimc_tile_config_default(&cfg[t]);
      mod(&cfg[t].forward, t);
      cfg[t].backward = cfg[t].forward;
      cfg[t].backward.bound_management = AIMC_BM_NONE;
      cfg[t].transfer = cfg[t].forward;
      cfg[t].transfer.noise_management = AIMC_NM_NONE;
      cfg[t].transfer.bound_management = AIMC_BM_NONE;
      cfg[t].transfer.inp_bound = cfg[t].forward.inp_bound;
    }
    aimc_tiles_desc_t td = desc_of(s, 5000 + (uint64_t)si);
    td.per_tile = cfg;
    tile_pair_t tp;
    tp_create(&tp, &p, &td);
    test_rng_t r = {77 + (uint64_t)si};
    float *w = test_alloc(tp.nw);
    cuda_fill(&r, w, tp.nw, -0.5f, 0.5f, 17);
    tp_write(&tp, w, 0);
    for (int bi = 0; bi < N_BATCHES; ++bi) {
      int64_t B = batches[bi], R = s->rows, C = s->cols, T = s->tiles;
      size_t nx = (size_t)(T * B * C), nd = (size_t)(T * B * R);
      int64_t px = B * C + 3, pd = B * R + 5; /* padded tile strides */
      float *x = test_alloc(nx), *d = test_alloc(nd);
      float *xp = test_alloc((size_t)(T * px)), *dp = test_alloc((size_t)(T * pd));
      cuda_fill(&r, x, nx, -in_scale, in_scale, 11);
      cuda_fill(&r, d, nd, -in_scale, in_scale, 7);
      cuda_fill(&r, xp, (size_t)(T * px), -in_scale, in_scale, 0);
      cuda_fill(&r, dp, (size_t)(T * pd), -in_scale, in_scale, 0);
      if (B >= 3) { /* sample 1 of tile 0 is all zeros */
        memset(x + C, 0, (size_t)C * sizeof(float));
        memset(d + R, 0, (size_t)R * sizeof(float));
      }
      cuda_fmt(what, sizeof what, "%s, %lldx%lldx%lld", name, (long long)T, (long long)R,
               (long long)C);
      tp_mvm(&tp, AIMC_FORWARD, x, B * C, B, what, NULL);
      tp_mvm(&tp, AIMC_BACKWARD, d, B * R, B, what, NULL);
      tp_mvm(&tp, AIMC_TRANSFER_FORWARD, x, B * C, B, what, NULL);
      tp_mvm(&tp, AIMC_TRANSFER_BACKWARD, d, B * R, B, what, NULL);
      tp_mvm(&tp, AIMC_FORWARD, x, 0, B, what, NULL); /* shared input */
      tp_mvm(&tp, AIMC_BACKWARD, d, 0, B, what, NULL);
      tp_mvm(&tp, AIMC_TRANSFER_FORWARD, x, 0, B, what, NULL);
      tp_mvm(&tp, AIMC_FORWARD, xp, px, B, what, NULL);
      tp_mvm(&tp, AIMC_TRANSFER_BACKWARD, dp, pd, B, what, NULL);
      tp_expect_stats(&tp, what, NULL);
      free(x), free(d), free(xp), free(dp);
    }
    if (expect_bm && s->cols >= 13)
      cr_assert_gt(TP_STAT(&tp, forward_passes), TP_STAT(&tp, forward_samples),
                   "%s: bound management repeated passes", what);
    free(w);
    tp_destroy(&tp);
  }
  cuda_pair_destroy(&p);
}

static void io_default(aimc_io_desc_t *io, int t) {
  io->out_noise = 0.06f * (1.0f + 0.5f * (float)t);
}
static void io_perfect(aimc_io_desc_t *io, int t) {
  CK(aimc_io_desc_default(io, AIMC_IO_PERFECT));
  io->out_scale = t ? 1.5f : 1.0f;
}
static void io_standard(aimc_io_desc_t *io, int t) {
  CK(aimc_io_desc_default(io, t ? AIMC_IO_PRESET : AIMC_IO_STANDARD));
}
static void io_nm_none(aimc_io_desc_t *io, int t) {
  io->noise_management = AIMC_NM_NONE;
  io->bound_management = AIMC_BM_NONE;
  io->inp_bound = t ? 2.0f : 1.0f;
}
static void io_nm_abs_max(aimc_io_desc_t *io, int t) {
  io->noise_management = AIMC_NM_ABS_MAX;
  io->nm_thres = t ? 0.5f : 0.0f;
}
static void io_nm_np_sum(aimc_io_desc_t *io, int t) {
  io->noise_management = AIMC_NM_ABS_MAX_NP_SUM;
  io->nm_assumed_wmax = t ? 0.4f : 0.6f;
}
static void io_nm_max(aimc_io_desc_t *io, int t) {
  io->noise_management = AIMC_NM_MAX;
  io->out_noise = 0.02f * (float)(t + 1);
}
static void io_nm_constant(aimc_io_desc_t *io, int t) {
  io->noise_management = AIMC_NM_CONSTANT;
  io->nm_thres = t ? 2.0f : 0.0f;
}
static void io_bm_iterative(aimc_io_desc_t *io, int t) {
  io->bound_management = AIMC_BM_ITERATIVE;
  io->out_bound = 0.5f + 0.25f * (float)t;
}
static void io_bm_worst_case(aimc_io_desc_t *io, int t) {
  io->bound_management = AIMC_BM_ITERATIVE_WORST_CASE;
  io->out_bound = t ? 0.75f : 0.5f;
}
static void io_bm_without_nm(aimc_io_desc_t *io, int t) {
  io->noise_management = AIMC_NM_NONE;
  io->bound_management = AIMC_BM_ITERATIVE;
  io->out_bound = 1.0f;
  io->max_bm_factor = t ? 8.0f : 1000.0f;
  io->bm_test_negative_bound = t & 1;
}
static void io_sto_round(aimc_io_desc_t *io, int t) {
  io->inp_sto_round = 1;
  io->out_sto_round = t != 1;
}
static void io_inp_noise(aimc_io_desc_t *io, int t) { io->inp_noise = 0.05f + 0.01f * (float)t; }
static void io_out_noise_std(aimc_io_desc_t *io, int t) {
  io->out_noise = 0.1f;
  io->out_noise_std = 0.3f + 0.1f * (float)t;
}
static void io_nonlinearity(aimc_io_desc_t *io, int t) {
  io->out_nonlinearity = 0.5f;
  io->out_nonlinearity_std = 0.2f * (float)(t + 1);
  io->out_bound = 4.0f;
}
static void io_asymmetry(aimc_io_desc_t *io, int t) {
  io->inp_asymmetry = 0.1f;
  io->out_asymmetry = t ? -0.2f : 0.3f;
}
static void io_w_noise_additive(aimc_io_desc_t *io, int t) {
  io->w_noise_type = AIMC_W_NOISE_ADDITIVE_CONSTANT;
  io->w_noise = 0.02f * (float)(t + 1);
}
static void io_w_noise_pcm(aimc_io_desc_t *io, int t) {
  io->w_noise_type = AIMC_W_NOISE_PCM_READ;
  io->w_noise = 0.03f * (float)(t + 1);
}
static void io_unbounded(aimc_io_desc_t *io, int t) {
  io->out_bound = INFINITY;
  io->out_res = 0.0f;
  io->inp_res = t ? 255.0f : 1.0f / 126.0f; /* > 1: a number of steps */
}
static void io_unquantised(aimc_io_desc_t *io, int t) {
  io->inp_res = 0.0f;
  io->out_res = t ? 0.0f : 1.0f / 510.0f;
  io->out_noise = 0.0f;
}
static void io_everything(aimc_io_desc_t *io, int t) {
  io->inp_sto_round = 1, io->out_sto_round = 1;
  io->inp_noise = 0.02f;
  io->out_noise_std = 0.2f;
  io->out_nonlinearity = 0.3f, io->out_nonlinearity_std = 0.1f;
  io->inp_asymmetry = 0.05f, io->out_asymmetry = -0.1f;
  io->w_noise_type = t ? AIMC_W_NOISE_PCM_READ : AIMC_W_NOISE_ADDITIVE_CONSTANT;
  io->w_noise = 0.02f;
  io->out_bound = 0.5f;
  io->out_scale = 0.75f;
  io->bound_management = AIMC_BM_ITERATIVE_WORST_CASE;
  io->noise_management = t ? AIMC_NM_ABS_MAX_NP_SUM : AIMC_NM_ABS_MAX;
}

typedef struct io_variant {
  io_mod_t mod;
  float in_scale; /* input range */
  int expect_bm;  /* the CPU side must have repeated passes */
  const char *name;
} io_variant_t;

static void run_mvm_group(const io_variant_t *v, int n) {
  for (int k = 0; k < n; ++k) run_mvm(v[k].mod, v[k].in_scale, v[k].expect_bm, v[k].name);
}

Test(mvm, default_perfect_standard) {
  const io_variant_t v[] = {{io_default, 1.0f, 0, "default IO"},
                            {io_perfect, 1.0f, 0, "perfect"},
                            {io_standard, 1.0f, 0, "standard/preset IO"}};
  run_mvm_group(v, 3);
}

Test(mvm, noise_management) {
  const io_variant_t v[] = {{io_nm_none, 1.5f, 0, "NM none"},
                            {io_nm_abs_max, 1.0f, 0, "NM abs max"},
                            {io_nm_np_sum, 1.0f, 0, "NM abs max NP sum"},
                            {io_nm_max, 1.0f, 0, "NM max"},
                            {io_nm_constant, 1.0f, 0, "NM constant"}};
  run_mvm_group(v, 5);
}

Test(mvm, bound_management) {
  const io_variant_t v[] = {{io_bm_iterative, 4.0f, 1, "BM iterative"},
                            {io_bm_worst_case, 4.0f, 1, "BM worst case"},
                            {io_bm_without_nm, 4.0f, 1, "BM without NM"}};
  run_mvm_group(v, 3);
}

Test(mvm, noise_and_rounding) {
  const io_variant_t v[] = {{io_sto_round, 1.0f, 0, "sto_round"},
                            {io_inp_noise, 1.0f, 0, "inp_noise"},
                            {io_out_noise_std, 1.0f, 0, "out_noise_std"},
                            {io_w_noise_additive, 1.0f, 0, "additive w noise"},
                            {io_w_noise_pcm, 1.0f, 0, "PCM read noise"}};
  run_mvm_group(v, 5);
}

Test(mvm, nonideal_and_unbounded) {
  const io_variant_t v[] = {{io_nonlinearity, 1.0f, 0, "out_nonlinearity"},
                            {io_asymmetry, 1.0f, 0, "asymmetry"},
                            {io_unbounded, 1.0f, 0, "infinite out_bound"},
                            {io_unquantised, 1.0f, 0, "no DAC/ADC"},
                            {io_everything, 3.0f, 1, "every non-ideality"}};
  run_mvm_group(v, 5);
}

/* ---- 5. Pulsed updates --------------------------------------------------------------------- */

static const aimc_pulse_type_t pulse_types[5] = {
    AIMC_PULSE_STOCHASTIC_COMPRESSED, AIMC_PULSE_NONE, AIMC_PULSE_NONE_WITH_DEVICE,
    AIMC_PULSE_MEAN_COUNT, AIMC_PULSE_DETERMINISTIC_IMPLICIT};
static const char *pulse_names[5] = {"STOCHASTIC_COMPRESSED", "NONE", "NONE_WITH_DEVICE",
                                     "MEAN_COUNT", "DETERMINISTIC_IMPLICIT"};

/* Programs random weights, then `calls` updates of `batch` samples with
 * fresh inputs (exact zeros included), comparing weights, device states and
 * statistics after each. lr: per-tile rates (host, may be NULL). */
static void run_updates(const cuda_pair_t *p, const aimc_tile_config_t *cfg, const shape_t *s,
                        int64_t batch, int calls, uint64_t seed, const float *lr,
                        const char *name) {
  aimc_tiles_desc_t td = desc_of(s, seed);
  td.per_tile = cfg;
  tile_pair_t tp;
  tp_create(&tp, p, &td);
  if (lr) tp_set_learning_rates(&tp, lr);
  test_rng_t r = {seed * 3 + 1};
  float *w = test_alloc(tp.nw);
  cuda_fill(&r, w, tp.nw, -0.3f, 0.3f, 0);
  tp_write(&tp, w, 1);
  char what[256];
  tp_expect_core(&tp, cuda_fmt(what, sizeof what, "%s: programmed", name));
  size_t nx = (size_t)(s->tiles * batch * s->cols), nd = (size_t)(s->tiles * batch * s->rows);
  float *x = test_alloc(nx), *d = test_alloc(nd);
  for (int c = 0; c < calls; ++c) {
    cuda_fill(&r, x, nx, -1, 1, 7);
    cuda_fill(&r, d, nd, -1, 1, 5);
    tp_update_plain(&tp, x, d, batch);
    tp_expect_core(&tp, cuda_fmt(what, sizeof what, "%s: update %d (%lldx%dx%d, batch %lld)", name,
                                 c, (long long)s->tiles, s->rows, s->cols, (long long)batch));
  }
  free(w), free(x), free(d);
  tp_destroy(&tp);
}

/* One device variant with every pulse type and every combination of update
 * management and BL management; tiles differ in step, resolution, BL and
 * rate. */
static void run_model(int v) {
  cuda_pair_t p = cuda_pair_create(5);
  char name[192];
  for (int pt = 0; pt < 5; ++pt)
    for (int mg = 0; mg < 4; ++mg) {
      const shape_t *s = &shapes[(pt + mg) % N_SHAPES];
      int64_t batch = batches[(pt + 2 * mg) % N_BATCHES];
      aimc_tile_config_t cfg[4];
      for (int t = 0; t < s->tiles; ++t) {
        aimc_tile_config_default(&cfg[t]);
        device_variant(&cfg[t].device, v);
        aimc_update_desc_t *u = &cfg[t].update;
        u->pulse_type = pulse_types[pt];
        u->update_management = mg & 1;
        u->update_bl_management = (mg >> 1) & 1;
        u->fixed_bl = mg != 0;
        u->learning_rate = 0.02f;
        if (t == 1) {
          u->res = 0.02f, u->sto_round = 1;
          u->x_res_implicit = 0.1f, u->d_res_implicit = 0.05f;
          cfg[t].device.dw_min *= 1.5f;
        }
        if (t == 2) u->desired_bl = 7, u->um_grad_scale = 0.5f;
      }
      const float lr[4] = {0.02f, 0.05f, 0.01f, 0.03f};
      cuda_fmt(name, sizeof name, "%s, %s, UM %d, BLM %d", device_variant_name(v),
               pulse_names[pt], mg & 1, (mg >> 1) & 1);
      run_updates(&p, cfg, s, batch, 2, 6000 + (uint64_t)(v * 100 + pt * 4 + mg),
                  mg == 3 ? lr : NULL, name);
    }
  cuda_pair_destroy(&p);
}

Test(update, constant_linear_soft_bounds) {
  for (int v = 0; v <= 2; ++v) run_model(v);
}
Test(update, soft_bounds_reference_exp_step) {
  for (int v = 3; v <= 5; ++v) run_model(v);
}
Test(update, pow_piecewise_linear_additive) {
  for (int v = 6; v <= 8; ++v) run_model(v);
}

/* Trains of `bl` slots (fixed_bl 0 without BL management, lr / dw_min = bl;
 * bl 31 keeps the default fixed BL) for the stochastic and the deterministic
 * pulse types, with and without update management, on rows x cols tiles
 * with `batch` samples per update. */
static void run_trains(int rows, int cols, int batch, int bl, uint64_t seed) {
  cuda_pair_t p = cuda_pair_create(seed);
  enum { T = 6 };
  aimc_tile_config_t cfg[T];
  static const int variant[T] = {0, 1, 3, 5, 0, 1};
  for (int t = 0; t < T; ++t) {
    aimc_tile_config_default(&cfg[t]);
    device_variant(&cfg[t].device, variant[t]);
    aimc_update_desc_t *u = &cfg[t].update;
    if (bl > 31) {
      u->fixed_bl = 0;
      u->update_bl_management = 0;
      u->learning_rate = (float)bl * cfg[t].device.dw_min;
    } else {
      u->learning_rate = 0.05f;
    }
    u->update_management = t & 1;
    u->desired_bl = 31;
    u->pulse_type = t == 4   ? AIMC_PULSE_MEAN_COUNT
                    : t == 5 ? AIMC_PULSE_DETERMINISTIC_IMPLICIT
                             : AIMC_PULSE_STOCHASTIC_COMPRESSED;
  }
  shape_t sh = {T, rows, cols};
  aimc_tiles_desc_t td = desc_of(&sh, seed * 100);
  td.per_tile = cfg;
  tile_pair_t tp;
  tp_create(&tp, &p, &td);
  test_rng_t r = {seed};
  float *w = test_alloc(tp.nw);
  cuda_fill(&r, w, tp.nw, -0.2f, 0.2f, 0);
  tp_write(&tp, w, 1);
  size_t nx = (size_t)T * (size_t)batch * (size_t)cols, nd = (size_t)T * (size_t)batch * (size_t)rows;
  float *x = test_alloc(nx), *d = test_alloc(nd);
  float amp = bl > 31 ? 0.05f : 1.0f; /* a few pulses per weight */
  char what[96];
  for (int c = 0; c < 3; ++c) {
    cuda_fill(&r, x, nx, -amp, amp, 0);
    cuda_fill(&r, d, nd, -amp, amp, 0);
    tp_update_plain(&tp, x, d, batch);
    tp_expect_core(&tp, cuda_fmt(what, sizeof what, "%dx%d, batch %d, BL %d, update %d", rows,
                                 cols, batch, bl, c));
  }
  cr_assert_gt(TP_STAT(&tp, pulses_up) + TP_STAT(&tp, pulses_down), 1000u);
  free(w), free(x), free(d);
  tp_destroy(&tp);
  cuda_pair_destroy(&p);
}

/* Trains of 3000 slots, far above desired_bl. */
Test(update, long_trains) { run_trains(7, 13, 3, 3000, 6); }

/* The CUDA update's other paths: samples in several shared-memory chunks
 * (long trains on small tiles, or many samples on wide ones), and trains
 * too long for shared memory, counted without being stored. */
Test(update, chunks_and_unstored_trains) {
  run_trains(7, 13, 8, 3000, 61);  /* about 3 samples per chunk */
  run_trains(33, 300, 40, 31, 62); /* about 18 samples per chunk */
  run_trains(40, 300, 2, 3000, 63); /* beyond shared memory */
}

/* Probability resolution with and without stochastic rounding; quantised
 * DETERMINISTIC_IMPLICIT lines. */
Test(update, resolution_and_sto_round) {
  cuda_pair_t p = cuda_pair_create(7);
  enum { T = 5 };
  aimc_tile_config_t cfg[T];
  for (int t = 0; t < T; ++t) {
    aimc_tile_config_default(&cfg[t]);
    device_variant(&cfg[t].device, t % 3);
    cfg[t].update.learning_rate = 0.05f;
  }
  cfg[0].update.res = 0.05f;
  cfg[1].update.res = 0.05f, cfg[1].update.sto_round = 1;
  cfg[2].update.res = 0.2f, cfg[2].update.sto_round = 1, cfg[2].update.update_management = 0;
  cfg[3].update.pulse_type = AIMC_PULSE_DETERMINISTIC_IMPLICIT;
  cfg[3].update.x_res_implicit = 0.1f, cfg[3].update.d_res_implicit = 0.25f;
  cfg[3].update.sto_round = 1;
  cfg[4].update.pulse_type = AIMC_PULSE_MEAN_COUNT;
  cfg[4].update.res = 0.1f, cfg[4].update.sto_round = 1;
  shape_t sh = {T, 33, 65};
  run_updates(&p, cfg, &sh, 3, 3, 7000, NULL, "resolution");
  cuda_pair_destroy(&p);
}

/* Per-tile learning rates (one of them 0), changed between calls. */
Test(update, per_tile_learning_rates) {
  cuda_pair_t p = cuda_pair_create(8);
  enum { T = 5, B = 3 };
  aimc_tile_config_t cfg[T];
  for (int t = 0; t < T; ++t) {
    aimc_tile_config_default(&cfg[t]);
    device_variant(&cfg[t].device, (2 * t) % N_DEVICE_VARIANTS);
  }
  shape_t sh = {T, 7, 13};
  aimc_tiles_desc_t td = desc_of(&sh, 8000);
  td.per_tile = cfg;
  tile_pair_t tp;
  tp_create(&tp, &p, &td);
  test_rng_t r = {81};
  float x[T * B * 13], d[T * B * 7];
  const float lr1[T] = {0.02f, 0.0f, 0.1f, 0.005f, 0.05f};
  const float lr2[T] = {0.0f, 0.04f, 0.01f, 0.2f, 0.0f};
  char what[64];
  for (int c = 0; c < 6; ++c) {
    if (c == 0) tp_set_learning_rates(&tp, lr1);
    if (c == 2) tp_set_learning_rates(&tp, lr2);
    if (c == 4) {
      CK(aimc_tiles_set_learning_rate(tp.cpu, 0.03f));
      CK(aimc_tiles_set_learning_rate(tp.dev, 0.03f));
    }
    cuda_fill(&r, x, sizeof x / sizeof x[0], -1, 1, 0);
    cuda_fill(&r, d, sizeof d / sizeof d[0], -1, 1, 0);
    tp_update_plain(&tp, x, d, B);
    tp_expect_core(&tp, cuda_fmt(what, sizeof what, "per-tile rates, update %d", c));
  }
  tp_destroy(&tp);
  cuda_pair_destroy(&p);
}

/* Shared x or d (tile stride 0) and padded tile strides. */
Test(update, shared_and_strided_inputs) {
  cuda_pair_t p = cuda_pair_create(9);
  enum { T = 4, R = 7, C = 13, B = 3 };
  aimc_tile_config_t cfg[T];
  for (int t = 0; t < T; ++t) {
    aimc_tile_config_default(&cfg[t]);
    device_variant(&cfg[t].device, t + 1);
    cfg[t].update.learning_rate = 0.05f;
  }
  shape_t sh = {T, R, C};
  aimc_tiles_desc_t td = desc_of(&sh, 9000);
  td.per_tile = cfg;
  tile_pair_t tp;
  tp_create(&tp, &p, &td);
  test_rng_t r = {91};
  enum { PX = B * C + 5, PD = B * R + 2 };
  static float x[T * PX], d[T * PD];
  const int64_t xs[5] = {0, B * C, 0, PX, 0}, ds[5] = {B * R, 0, 0, PD, PD};
  char what[96];
  for (int k = 0; k < 5; ++k) {
    cuda_fill(&r, x, T * PX, -1, 1, 0);
    cuda_fill(&r, d, T * PD, -1, 1, 0);
    tp_update(&tp, x, xs[k], d, ds[k], NULL, 0, B);
    tp_expect_core(&tp, cuda_fmt(what, sizeof what, "x_tile_stride %lld, d_tile_stride %lld",
                                 (long long)xs[k], (long long)ds[k]));
  }
  tp_destroy(&tp);
  cuda_pair_destroy(&p);
}

/* Samples with an all-zero x or d produce no pulses and are not counted. */
Test(update, zero_rows) {
  cuda_pair_t p = cuda_pair_create(10);
  enum { T = 4, R = 7, C = 13, B = 4 };
  aimc_tile_config_t cfg[T];
  for (int t = 0; t < T; ++t) {
    aimc_tile_config_default(&cfg[t]);
    device_variant(&cfg[t].device, t);
    cfg[t].update.pulse_type = pulse_types[t];
    cfg[t].update.learning_rate = 0.05f;
  }
  shape_t sh = {T, R, C};
  aimc_tiles_desc_t td = desc_of(&sh, 10000);
  td.per_tile = cfg;
  tile_pair_t tp;
  tp_create(&tp, &p, &td);
  test_rng_t r = {101};
  float x[T * B * C], d[T * B * R];
  char what[64];
  for (int c = 0; c < 3; ++c) {
    cuda_fill(&r, x, T * B * C, -1, 1, 0);
    cuda_fill(&r, d, T * B * R, -1, 1, 0);
    memset(x + (0 * B + 1) * C, 0, C * sizeof(float));     /* tile 0, sample 1: x = 0 */
    memset(d + (1 * B + (c % B)) * R, 0, R * sizeof(float)); /* tile 1: one d = 0 */
    memset(x + 2 * B * C, 0, B * C * sizeof(float));       /* tile 2: every x = 0 */
    memset(d + 3 * B * R, 0, B * R * sizeof(float));       /* tile 3: every d = 0 */
    tp_update_plain(&tp, x, d, B);
    tp_expect_core(&tp, cuda_fmt(what, sizeof what, "zero rows, update %d", c));
  }
  cr_assert_lt(TP_STAT(&tp, update_samples), (uint64_t)(3 * T * B), "zero samples were skipped");
  tp_destroy(&tp);
  cuda_pair_destroy(&p);
}

/* A batch of tiles with different models and pulse types, ten consecutive
 * calls of changing batch size with reads in between. */
Test(update, mixed_batch_consecutive_calls) {
  cuda_pair_t p = cuda_pair_create(11);
  enum { T = N_DEVICE_VARIANTS, R = 33, C = 65 };
  aimc_tile_config_t cfg[T];
  for (int t = 0; t < T; ++t) {
    aimc_tile_config_default(&cfg[t]);
    device_variant(&cfg[t].device, t);
    cfg[t].update.pulse_type = pulse_types[t % 5];
    cfg[t].update.update_management = t % 3 != 0;
    cfg[t].update.update_bl_management = t % 2;
    cfg[t].update.learning_rate = 0.01f * (float)(t + 1);
  }
  shape_t sh = {T, R, C};
  aimc_tiles_desc_t td = desc_of(&sh, 11000);
  td.per_tile = cfg;
  tile_pair_t tp;
  tp_create(&tp, &p, &td);
  test_rng_t r = {111};
  float *w = test_alloc(tp.nw);
  cuda_fill(&r, w, tp.nw, -0.3f, 0.3f, 0);
  tp_write(&tp, w, 1);
  float *x = test_alloc((size_t)T * 16 * C), *d = test_alloc((size_t)T * 16 * R);
  char what[64];
  for (int c = 0; c < 10; ++c) {
    int64_t B = batches[c % N_BATCHES];
    cuda_fill(&r, x, (size_t)(T * B * C), -1, 1, 13);
    cuda_fill(&r, d, (size_t)(T * B * R), -1, 1, 0);
    tp_update_plain(&tp, x, d, B);
    cuda_fmt(what, sizeof what, "mixed batch, call %d", c);
    tp_expect_core(&tp, what);
    if (c % 3 == 1) tp_mvm(&tp, AIMC_FORWARD, x, B * C, B, what, NULL);
  }
  free(w), free(x), free(d);
  tp_destroy(&tp);
  cuda_pair_destroy(&p);
}

/* 256 x 256 and 64 x 300 tiles, batch 16. */
Test(update, larger_shapes) {
  cuda_pair_t p = cuda_pair_create(12);
  const shape_t sh[2] = {{2, 256, 256}, {3, 64, 300}};
  for (int si = 0; si < 2; ++si) {
    aimc_tile_config_t cfg[3];
    for (int t = 0; t < 3; ++t) {
      aimc_tile_config_default(&cfg[t]);
      device_variant(&cfg[t].device, 3 * t + si);
      cfg[t].update.learning_rate = 0.02f;
    }
    char name[64];
    run_updates(&p, cfg, &sh[si], 16, 3, 12000 + (uint64_t)si, NULL,
                cuda_fmt(name, sizeof name, "%dx%d", sh[si].rows, sh[si].cols));
  }
  cuda_pair_destroy(&p);
}

/* ---- 6. Decay, diffusion, reset ----------------------------------------------------------- */

static void decay_configs(aimc_tile_config_t cfg[5]) {
  for (int t = 0; t < 5; ++t) aimc_tile_config_default(&cfg[t]);
  device_variant(&cfg[0].device, 0);
  cfg[0].device.lifetime = 10.0f, cfg[0].device.lifetime_dtod = 0.2f;
  cfg[0].device.reset = 0.05f, cfg[0].device.reset_dtod = 0.02f, cfg[0].device.reset_std = 0.03f;
  device_variant(&cfg[1].device, 1); /* write noise */
  cfg[1].device.diffusion = 0.01f, cfg[1].device.diffusion_dtod = 0.3f;
  device_variant(&cfg[2].device, 3); /* reference */
  cfg[2].device.lifetime = 20.0f, cfg[2].device.diffusion = 0.005f;
  CK(aimc_device_desc_preset(&cfg[3].device, AIMC_PRESET_CAPACITOR));
  cfg[3].device.lifetime = 30.0f;
  device_variant(&cfg[4].device, 5); /* no decay, no diffusion */
}

Test(decay, lifetime_and_diffusion) {
  cuda_pair_t p = cuda_pair_create(13);
  aimc_tile_config_t cfg[5];
  decay_configs(cfg);
  const shape_t sh[2] = {{5, 33, 65}, {5, 1, 1}};
  char what[96];
  for (int si = 0; si < 2; ++si) {
    aimc_tiles_desc_t td = desc_of(&sh[si], 13000 + (uint64_t)si);
    td.per_tile = cfg;
    tile_pair_t tp;
    tp_create(&tp, &p, &td);
    test_rng_t r = {131};
    float *w = test_alloc(tp.nw);
    cuda_fill(&r, w, tp.nw, -0.4f, 0.4f, 0);
    tp_write(&tp, w, 1);
    for (int k = 0; k < 4; ++k) {
      tp_decay(&tp);
      tp_expect_core(&tp, cuda_fmt(what, sizeof what, "%dx%d: decay %d", sh[si].rows,
                                   sh[si].cols, k));
    }
    enum { B = 3 };
    size_t nx = (size_t)(5 * B * sh[si].cols), nd = (size_t)(5 * B * sh[si].rows);
    float *x = test_alloc(nx), *d = test_alloc(nd);
    cuda_fill(&r, x, nx, -1, 1, 0);
    cuda_fill(&r, d, nd, -1, 1, 0);
    tp_update_plain(&tp, x, d, B);
    tp_decay(&tp);
    tp_expect_core(&tp, cuda_fmt(what, sizeof what, "%dx%d: update, decay", sh[si].rows,
                                 sh[si].cols));
    tp_mvm(&tp, AIMC_FORWARD, x, B * sh[si].cols, B, what, NULL);
    free(w), free(x), free(d);
    tp_destroy(&tp);
  }
  cuda_pair_destroy(&p);
}

Test(reset, columns_wrap_and_probability) {
  cuda_pair_t p = cuda_pair_create(14);
  aimc_tile_config_t cfg[5];
  decay_configs(cfg);
  shape_t sh = {5, 7, 13};
  aimc_tiles_desc_t td = desc_of(&sh, 14000);
  td.per_tile = cfg;
  tile_pair_t tp;
  tp_create(&tp, &p, &td);
  test_rng_t r = {141};
  float *w = test_alloc(tp.nw);
  /* {start, n, prob}: all; a wrapping range; all from 12 on; nothing; part */
  static const struct { int32_t start, n; float prob; } cases[] = {
      {0, -1, 1.0f}, {10, 7, 0.3f}, {12, 13, 0.3f}, {5, 0, 1.0f}, {3, 4, 1.0f}, {11, 5, 0.3f}};
  char what[96];
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
    cuda_fill(&r, w, tp.nw, -0.4f, 0.4f, 0);
    tp_write(&tp, w, 1);
    if (k % 2) {
      CK(aimc_tiles_reset_columns(tp.cpu, cases[k].start, cases[k].n, cases[k].prob));
      CK(aimc_tiles_reset_columns(tp.dev, cases[k].start, cases[k].n, cases[k].prob));
    } else {
      tp_reset_columns(&tp, 0, cases[k].start, cases[k].n, cases[k].prob);
    }
    tp_expect_core(&tp, cuda_fmt(what, sizeof what, "reset columns %d + %d, prob %g",
                                 (int)cases[k].start, (int)cases[k].n, (double)cases[k].prob));
  }
  free(w);
  tp_destroy(&tp);

  /* array 1 (A) of a transfer-family batch; a 1 x 1 batch */
  aimc_tiles_desc_t tf = desc_of(&shapes[1], 14001);
  CK(aimc_tile_config_algorithm(&tf.config, AIMC_ALGO_TTV2));
  device_variant(&tf.config.fast_device, 2);
  tf.config.fast_device.reset_std = 0.05f;
  tp_create(&tp, &p, &tf);
  tp_reset_columns(&tp, 1, 11, 5, 0.5f);
  tp_expect_core(&tp, "TTv2 array 1 reset 11 + 5");
  tp_reset_columns(&tp, 0, 0, -1, 1.0f);
  tp_expect_core(&tp, "TTv2 array 0 reset all");
  tp_destroy(&tp);
  aimc_tiles_desc_t t1 = desc_of(&shapes[0], 14002);
  device_variant(&t1.config.device, 1);
  tp_create(&tp, &p, &t1);
  tp_reset_columns(&tp, 0, 0, 1, 1.0f);
  tp_expect_core(&tp, "1x1 reset");
  tp_destroy(&tp);
  cuda_pair_destroy(&p);
}

/* ---- 7. Out of device memory ---------------------------------------------------------------- */

/* The largest power-of-two allocation from 256 MiB to 1 TiB that succeeds
 * (0 if none). */
static size_t largest_allocation(aimc_context_t *ctx) {
  size_t best = 0;
  for (size_t bytes = (size_t)1 << 28; bytes <= ((size_t)1 << 40); bytes <<= 1) {
    void *q = NULL;
    if (aimc_malloc(ctx, &q, bytes) != AIMC_OK) break;
    aimc_free(ctx, q);
    best = bytes;
  }
  return best;
}

static void expect_oom(aimc_context_t *ctx, const aimc_tiles_desc_t *td, const char *what) {
  aimc_tiles_t *t = NULL;
  aimc_status_t s = aimc_tiles_create(ctx, td, &t);
  cr_assert_eq(s, AIMC_ERR_OUT_OF_MEMORY, "%s: %s (%s)", what, aimc_status_string(s),
               aimc_last_error());
  cr_assert_null(t, "%s: a failing create leaves the output alone", what);
  cr_assert_neq(aimc_last_error()[0], '\0', "%s: the error has a message", what);
  cr_assert_neq(aimc_context_last_error(ctx)[0], '\0', "%s: the context has the message", what);
}

Test(memory, out_of_device_memory) {
  if (cuda_sanitizer_mode()) cr_skip_test("AIMC_CUDA_TEST_SANITIZER: allocation failures are intended");
  cuda_pair_t p = cuda_pair_create(15);
  /* 2^15 tiles of 4096 x 4096: 2 TiB per array, 2^39 weights (no overflow) */
  aimc_tiles_desc_t huge;
  aimc_tiles_desc_default(&huge);
  huge.n_tiles = (int64_t)1 << 15;
  huge.rows = huge.cols = 4096;
  huge.seed = 1;
  expect_oom(p.dev, &huge, "2 TiB per array");
  /* a batch whose first arrays fit and whose total does not: the failure
   * comes after some allocations succeeded, which must all be freed */
  size_t cap = largest_allocation(p.dev);
  cr_assert_geq(cap, (size_t)1 << 28, "at least 256 MiB of device memory");
  aimc_tiles_desc_t part;
  aimc_tiles_desc_default(&part);
  part.rows = part.cols = 1024; /* 4 MiB per tile and array */
  part.n_tiles = (int64_t)(cap / 2 / ((size_t)4 << 20)); /* cap / 2 per array, >= 5 arrays */
  part.seed = 2;
  expect_oom(p.dev, &part, "half the memory per array");
  expect_oom(p.dev, &part, "again");
  void *q = NULL;
  cr_assert_eq(aimc_malloc(p.dev, &q, cap), AIMC_OK,
               "the failed creations freed what they had allocated (%zu bytes): %s", cap,
               aimc_last_error());
  aimc_free(p.dev, q);
  /* the context still works */
  aimc_tiles_desc_t td = desc_of(&shapes[2], 15001);
  tile_pair_t tp;
  tp_create(&tp, &p, &td);
  test_rng_t r = {151};
  float *w = test_alloc(tp.nw);
  cuda_fill(&r, w, tp.nw, -0.5f, 0.5f, 0);
  tp_write(&tp, w, 0);
  small_workload(&tp, &r, "after running out of memory");
  free(w);
  tp_destroy(&tp);
  cuda_pair_destroy(&p);
}

/* ---- 8. Big shapes --------------------------------------------------------------------------- */

static void run_big(const shape_t *s, int64_t batch, uint64_t seed) {
  cuda_pair_t p = cuda_pair_create(16);
  aimc_tiles_desc_t td = desc_of(s, seed);
  CK(aimc_device_desc_preset(&td.config.device, AIMC_PRESET_GOKMEN_VLASOV));
  td.config.forward.w_noise_type = AIMC_W_NOISE_PCM_READ;
  td.config.forward.w_noise = 0.01f;
  td.config.update.learning_rate = 0.05f;
  tile_pair_t tp;
  tp_create(&tp, &p, &td);
  test_rng_t r = {seed};
  float *w = test_alloc(tp.nw);
  cuda_fill(&r, w, tp.nw, -0.5f, 0.5f, 0);
  tp_write(&tp, w, 1);
  size_t nx = (size_t)(s->tiles * batch * s->cols), nd = (size_t)(s->tiles * batch * s->rows);
  float *x = test_alloc(nx), *d = test_alloc(nd);
  char what[64];
  cuda_fmt(what, sizeof what, "%lldx%dx%d", (long long)s->tiles, s->rows, s->cols);
  for (int c = 0; c < 2; ++c) {
    cuda_fill(&r, x, nx, -1, 1, 0);
    cuda_fill(&r, d, nd, -1, 1, 0);
    tp_mvm(&tp, AIMC_FORWARD, x, batch * s->cols, batch, what, NULL);
    tp_mvm(&tp, AIMC_BACKWARD, d, batch * s->rows, batch, what, NULL);
    tp_update_plain(&tp, x, d, batch);
    tp_expect_core(&tp, what);
  }
  free(w), free(x), free(d);
  tp_destroy(&tp);
  cuda_pair_destroy(&p);
}

Test(big, four_tiles_1024) {
  if (cuda_small_mode()) cr_skip_test("AIMC_CUDA_TEST_SMALL");
  shape_t s = {4, 1024, 1024};
  run_big(&s, 16, 16001);
}

Test(big, one_tile_4096) {
  if (cuda_small_mode()) cr_skip_test("AIMC_CUDA_TEST_SMALL");
  shape_t s = {1, 4096, 4096};
  run_big(&s, 4, 16002);
}

CUDA_SUITE_MAIN("test_cuda_core")
