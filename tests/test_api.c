/* The public API: version and status, contexts, descriptor validation of
 * every field, argument checks of every operation (a failing call changes
 * nothing), named field access, per-tile configurations and seeds. */
#include <stddef.h>
#include <stdio.h>

#include "common.h"

Test(version, numbers_and_strings) {
  cr_assert_eq(aimc_version(), AIMC_VERSION);
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", AIMC_VERSION_MAJOR, AIMC_VERSION_MINOR,
           AIMC_VERSION_PATCH);
  cr_assert_str_eq(aimc_version_string(), want);
}

Test(status, every_code_has_a_name) {
  aimc_status_t codes[7] = {AIMC_OK,          AIMC_ERR_INVALID_ARGUMENT, AIMC_ERR_OUT_OF_MEMORY,
                            AIMC_ERR_UNSUPPORTED, AIMC_ERR_BACKEND,       AIMC_ERR_IO,
                            AIMC_ERR_CORRUPT};
  for (int i = 0; i < 7; ++i) {
    cr_assert(strncmp(aimc_status_string(codes[i]), "AIMC_", 5) == 0);
    for (int j = 0; j < i; ++j)
      cr_assert_str_neq(aimc_status_string(codes[i]), aimc_status_string(codes[j]));
  }
  cr_assert_str_eq(aimc_status_string((aimc_status_t)-99), "AIMC_ERR_UNKNOWN_STATUS");
}

/* ---- Contexts ------------------------------------------------------------------ */

Test(context, rejects_bad_descriptors) {
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  aimc_context_t *ctx = (aimc_context_t *)&cd; /* sentinel: must stay untouched */
  cr_assert_eq(aimc_context_create(NULL, &cd), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_context_create(&ctx, NULL), AIMC_ERR_INVALID_ARGUMENT);
  cd.n_threads = -1;
  cr_assert_eq(aimc_context_create(&ctx, &cd), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "n_threads = -1"));
  aimc_context_desc_default(&cd);
  cd.backend = (aimc_backend_t)9;
  cr_assert_eq(aimc_context_create(&ctx, &cd), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "backend = 9"));
  cr_assert_eq(ctx, (aimc_context_t *)&cd);
}

Test(context, backends) {
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  aimc_context_t *ctx;
  CK(aimc_context_create(&ctx, &cd));
  cr_assert_eq(aimc_context_backend(ctx),
               aimc_cuda_available() ? AIMC_BACKEND_CUDA : AIMC_BACKEND_CPU);
  aimc_context_destroy(ctx);
  if (!aimc_cuda_available()) {
    cd.backend = AIMC_BACKEND_CUDA;
    cr_assert_eq(aimc_context_create(&ctx, &cd), AIMC_ERR_UNSUPPORTED);
    cr_assert(strstr(aimc_last_error(), "CUDA"), "%s", aimc_last_error());
  }
  aimc_context_destroy(NULL); /* allowed, like free */
}

/* Streams belong to CUDA contexts: a CPU context refuses them by name and
 * leaves the output alone; NULL arguments are refused too. */
Test(context, streams_only_on_cuda) {
  aimc_context_t *ctx = test_context(1, 0);
  void *s = (void *)0x1;
  cr_assert_eq(aimc_context_set_cuda_stream(ctx, NULL), AIMC_ERR_UNSUPPORTED);
  cr_assert(strstr(aimc_context_last_error(ctx), "cpu context"), "%s",
            aimc_context_last_error(ctx));
  cr_assert_eq(aimc_context_get_cuda_stream(ctx, &s), AIMC_ERR_UNSUPPORTED);
  cr_assert_eq(s, (void *)0x1);
  cr_assert_eq(aimc_context_get_cuda_stream(ctx, NULL), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_context_set_cuda_stream(NULL, NULL), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_context_get_cuda_stream(NULL, &s), AIMC_ERR_INVALID_ARGUMENT);
  aimc_context_destroy(ctx);
}

Test(context, memory_helpers) {
  aimc_context_t *ctx = test_context(1, 0);
  void *p = NULL;
  cr_assert_eq(aimc_malloc(ctx, &p, 0), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_context_last_error(ctx), "bytes = 0"));
  cr_assert_eq(aimc_malloc(ctx, NULL, 8), AIMC_ERR_INVALID_ARGUMENT);
  CK(aimc_malloc(ctx, &p, 16));
  float a[4] = {1, 2, 3, 4}, b[4] = {0};
  CK(aimc_memcpy(ctx, p, a, sizeof a, AIMC_COPY_HOST_TO_CONTEXT));
  CK(aimc_memcpy(ctx, b, p, sizeof b, AIMC_COPY_CONTEXT_TO_HOST));
  cr_assert_arr_eq(a, b, sizeof a);
  cr_assert_eq(aimc_memcpy(ctx, b, p, sizeof b, (aimc_copy_kind_t)5), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_context_last_error(ctx), "kind = 5"));
  cr_assert_eq(aimc_memcpy(ctx, NULL, p, 4, AIMC_COPY_CONTEXT_TO_HOST), AIMC_ERR_INVALID_ARGUMENT);
  aimc_free(ctx, p);
  CK(aimc_context_synchronize(ctx));
  aimc_context_destroy(ctx);
}

/* ---- Every field is validated ---------------------------------------------------- */

typedef enum { F, I } kind_t;

typedef struct bad_field {
  const char *name;
  size_t offset;
  kind_t kind;
  double bad;
} bad_field_t;

#define FLD(path, kind, bad) {#path, offsetof(aimc_tile_config_t, path), kind, bad}
#define IO(g)                                                                                  \
  FLD(g.is_perfect, I, 2), FLD(g.inp_bound, F, 0), FLD(g.inp_res, F, -1),                      \
      FLD(g.inp_sto_round, I, 2), FLD(g.inp_noise, F, -1), FLD(g.inp_asymmetry, F, 1.5),       \
      FLD(g.out_bound, F, -1), FLD(g.out_res, F, -0.1), FLD(g.out_sto_round, I, -1),           \
      FLD(g.out_noise, F, -1), FLD(g.out_noise_std, F, -1), FLD(g.out_scale, F, NAN),          \
      FLD(g.out_asymmetry, F, -2), FLD(g.out_nonlinearity, F, -1),                             \
      FLD(g.out_nonlinearity_std, F, -1), FLD(g.w_noise_type, I, 3), FLD(g.w_noise, F, -1),    \
      FLD(g.noise_management, I, 5), FLD(g.nm_thres, F, -1), FLD(g.nm_assumed_wmax, F, 0),     \
      FLD(g.bound_management, I, 3), FLD(g.max_bm_factor, F, 0.5), FLD(g.max_bm_res, F, 0),    \
      FLD(g.bm_test_negative_bound, I, 2)

#define DEVICE(g)                                                                          \
  FLD(g.model, I, 7), FLD(g.dw_min, F, 0), FLD(g.dw_min_dtod, F, -0.1),                     \
      FLD(g.dw_min_dtod_log_normal, I, 2), FLD(g.dw_min_std, F, -1), FLD(g.up_down, F, NAN), \
      FLD(g.up_down_dtod, F, -1), FLD(g.w_max, F, -0.1), FLD(g.w_min, F, 0.1),              \
      FLD(g.w_max_dtod, F, -1), FLD(g.w_min_dtod, F, -1), FLD(g.enforce_consistency, I, 2), \
      FLD(g.corrupt_devices_prob, F, 1.5), FLD(g.corrupt_devices_range, F, -1),             \
      FLD(g.lifetime, F, -1), FLD(g.lifetime_dtod, F, -1), FLD(g.diffusion, F, -1),         \
      FLD(g.diffusion_dtod, F, -1), FLD(g.reset, F, NAN), FLD(g.reset_dtod, F, -1),         \
      FLD(g.reset_std, F, -1), FLD(g.write_noise_std, F, -1),                               \
      FLD(g.apply_write_noise_on_set, I, -1), FLD(g.gamma_up, F, NAN),                      \
      FLD(g.gamma_down, F, INFINITY), FLD(g.gamma_up_dtod, F, -1),                          \
      FLD(g.gamma_down_dtod, F, -1), FLD(g.allow_increasing, I, 3),                         \
      FLD(g.mean_bound_reference, I, -1), FLD(g.mult_noise, I, 2), FLD(g.reverse_up, I, 2), \
      FLD(g.reverse_down, I, 2), FLD(g.reverse_offset, F, NAN), FLD(g.slope_up_dtod, F, -1), \
      FLD(g.slope_down_dtod, F, -1), FLD(g.reference_mean, F, INFINITY),                    \
      FLD(g.reference_std, F, -1), FLD(g.subtract_symmetry_point, I, 2), FLD(g.A_up, F, NAN), \
      FLD(g.A_down, F, NAN), FLD(g.gamma_up_exp, F, -INFINITY), FLD(g.gamma_down_exp, F, NAN), \
      FLD(g.a, F, NAN), FLD(g.b, F, NAN), FLD(g.dw_min_std_add, F, -1),                     \
      FLD(g.dw_min_std_slope, F, -1), FLD(g.pow_gamma, F, -1), FLD(g.pow_gamma_dtod, F, -1), \
      FLD(g.pow_up_down, F, NAN), FLD(g.pow_up_down_dtod, F, -1), FLD(g.n_piecewise, I, 0),  \
      FLD(g.piecewise_up, F, -1), FLD(g.piecewise_down, F, NAN)
#define UPDATE(g)                                                                          \
  FLD(g.learning_rate, F, -0.1), FLD(g.pulse_type, I, 6), FLD(g.desired_bl, I, 0),          \
      FLD(g.fixed_bl, I, 2), FLD(g.update_management, I, 2),                                \
      FLD(g.update_bl_management, I, -1), FLD(g.um_grad_scale, F, 0), FLD(g.res, F, 1.5),   \
      FLD(g.sto_round, I, 2), FLD(g.x_res_implicit, F, -0.1), FLD(g.d_res_implicit, F, 1.1)

/* One invalid value for every field, written independently of the
 * library's table. Unbounded fields take NaN or infinity. */
static const bad_field_t bad_fields[] = {
    DEVICE(device),
    DEVICE(fast_device),
    IO(forward),
    IO(backward),
    IO(transfer),
    UPDATE(update),
    UPDATE(transfer_update),
    FLD(algorithm.kind, I, 9),
    FLD(algorithm.gamma, F, NAN),
    FLD(algorithm.fast_lr, F, -1),
    FLD(algorithm.scale_fast_lr, I, 2),
    FLD(algorithm.transfer_lr, F, -1),
    FLD(algorithm.scale_transfer_lr, I, 2),
    FLD(algorithm.transfer_every, F, NAN),
    FLD(algorithm.units_in_mbatch, I, 2),
    FLD(algorithm.n_reads_per_transfer, I, 0),
    FLD(algorithm.transfer_columns, I, 2),
    FLD(algorithm.with_reset_prob, F, 1.5),
    FLD(algorithm.thres_scale, F, 0),
    FLD(algorithm.step, F, 0),
    FLD(algorithm.momentum, F, 1.5),
    FLD(algorithm.forget_buffer, I, 2),
    FLD(algorithm.in_chop_prob, F, -0.1),
    FLD(algorithm.in_chop_random, I, 2),
    FLD(algorithm.out_chop_prob, F, 2),
    FLD(algorithm.auto_scale, I, 2),
    FLD(algorithm.auto_momentum, F, 1.0), /* [0, 1): 1 is refused */
    FLD(algorithm.auto_granularity, F, -1),
    FLD(algorithm.buffer_granularity, F, 0),
    FLD(algorithm.correct_gradient_magnitudes, I, 2),
    FLD(algorithm.no_buffer, I, 2),
    FLD(algorithm.tail_weightening, F, -1),
    FLD(algorithm.buffer_cap, F, -1),
    FLD(algorithm.granularity, F, -1),
    FLD(algorithm.n_rows_per_transfer, I, -2),
    FLD(algorithm.n_x_bins, I, -1),
    FLD(algorithm.n_d_bins, I, -1),
    FLD(algorithm.stellar_c1, F, 1.5),
    FLD(algorithm.stellar_threshold, F, -1),
    FLD(algorithm.stellar_c2, F, NAN),
    FLD(algorithm.n_slices, I, 0),
    FLD(algorithm.slice_bits, I, 1),
    FLD(algorithm.crs_every, I, 0),
    FLD(algorithm.weight_step, F, 0),
    FLD(algorithm.input_step, F, -1),
};
#define N_BAD ((int)(sizeof bad_fields / sizeof bad_fields[0]))

static void inject(aimc_tile_config_t *cfg, const bad_field_t *f) {
  char *p = (char *)cfg + f->offset;
  if (f->kind == F) {
    float v = (float)f->bad;
    memcpy(p, &v, sizeof v);
  } else {
    int32_t v = (int32_t)f->bad;
    memcpy(p, &v, sizeof v);
  }
}

/* The name as the library reports it: arrays show their first element. */
static void reported_name(const bad_field_t *f, char *buf, size_t len) {
  int array = strstr(f->name, "piecewise_") || strstr(f->name, "slice_bits");
  snprintf(buf, len, "%s%s", f->name, array ? "[0]" : "");
}

Test(validation, the_table_covers_every_field) {
  int n = 0;
  while (aimc_tile_config_field_name(n)) ++n;
  cr_assert_eq(n, N_BAD, "the library has %d fields, this test knows %d", n, N_BAD);
  for (int i = 0; i < n; ++i) {
    int found = 0;
    for (int k = 0; k < N_BAD; ++k) found |= strcmp(bad_fields[k].name, aimc_tile_config_field_name(i)) == 0;
    cr_assert(found, "field %s is not in this test's table", aimc_tile_config_field_name(i));
  }
  cr_assert_null(aimc_tile_config_field_name(-1));
  cr_assert_null(aimc_tile_config_field_name(n));
}

Test(validation, every_invalid_field_is_rejected_by_name) {
  aimc_context_t *ctx = test_context(1, 3);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = 3, td.rows = 2, td.cols = 2;
  aimc_tile_config_t per_tile[3];
  char name[96], want[160];
  for (int k = 0; k < N_BAD; ++k) {
    const bad_field_t *f = &bad_fields[k];
    reported_name(f, name, sizeof name);
    /* the setter refuses the value and leaves the config alone */
    aimc_tile_config_t cfg, before;
    aimc_tile_config_default(&cfg);
    before = cfg;
    cr_assert_eq(aimc_tile_config_set(&cfg, name, f->bad), AIMC_ERR_INVALID_ARGUMENT, "%s", name);
    cr_assert(strstr(aimc_last_error(), name), "set %s: %s", name, aimc_last_error());
    cr_assert_eq(memcmp(&cfg, &before, sizeof cfg), 0);
    /* validate, create from config, create from per_tile[2] */
    inject(&cfg, f);
    cr_assert_eq(aimc_tile_config_validate(&cfg), AIMC_ERR_INVALID_ARGUMENT, "%s", name);
    snprintf(want, sizeof want, "cfg.%s", name);
    cr_assert(strstr(aimc_last_error(), want), "validate %s: %s", name, aimc_last_error());
    aimc_tiles_t *t = (aimc_tiles_t *)&td; /* sentinel */
    td.config = cfg;
    td.per_tile = NULL;
    cr_assert_eq(aimc_tiles_create(ctx, &td, &t), AIMC_ERR_INVALID_ARGUMENT, "%s", name);
    snprintf(want, sizeof want, "desc->config.%s", name);
    cr_assert(strstr(aimc_context_last_error(ctx), want), "%s", aimc_context_last_error(ctx));
    cr_assert_eq(t, (aimc_tiles_t *)&td);
    aimc_tile_config_default(&td.config);
    for (int i = 0; i < 3; ++i) per_tile[i] = td.config;
    per_tile[2] = cfg;
    td.per_tile = per_tile;
    cr_assert_eq(aimc_tiles_create(ctx, &td, &t), AIMC_ERR_INVALID_ARGUMENT, "%s", name);
    snprintf(want, sizeof want, "desc->per_tile[2].%s", name);
    cr_assert(strstr(aimc_context_last_error(ctx), want), "%s", aimc_context_last_error(ctx));
    td.per_tile = NULL;
  }
  aimc_context_destroy(ctx);
}

typedef struct cross_case {
  const char *field;
  double value;
  const char *field2;
  double value2;
  const char *expect; /* a phrase of the message */
} cross_case_t;

Test(validation, rules_between_fields) {
  const cross_case_t cases[] = {
      {"device.w_max", 0, "device.w_min", 0, "device.w_min = 0"},
      {"forward.inp_bound", INFINITY, "forward.noise_management", 0, "forward.inp_res"},
      {"backward.out_bound", INFINITY, NULL, 0, "backward.out_res"},
      {"forward.inp_bound", 2, NULL, 0, "forward.inp_bound = 2"},
      {"backward.bound_management", 1, NULL, 0, "backward.bound_management = 1"},
      {"transfer.noise_management", 1, NULL, 0, "transfer.noise_management = 1"},
      {"transfer.bound_management", 2, NULL, 0, "transfer.bound_management = 2"},
      {"update.pulse_type", 2, NULL, 0, "update.pulse_type = 2"},
      {"algorithm.kind", AIMC_ALGO_TTV2, "algorithm.transfer_every", 0,
       "algorithm.transfer_every = 0"},
      {"algorithm.kind", AIMC_ALGO_MIXED_PRECISION, "algorithm.n_rows_per_transfer", 0,
       "algorithm.n_rows_per_transfer = 0"},
      {"update.fixed_bl", 0, "update.update_bl_management", 0, NULL},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    aimc_tile_config_t cfg;
    aimc_tile_config_default(&cfg);
    CK(aimc_tile_config_set(&cfg, cases[c].field, cases[c].value));
    if (cases[c].field2) CK(aimc_tile_config_set(&cfg, cases[c].field2, cases[c].value2));
    if (!cases[c].expect) { /* needs a huge rate too */
      CK(aimc_tile_config_validate(&cfg));
      CK(aimc_tile_config_set(&cfg, "update.learning_rate", 1000.0));
      cr_assert_eq(aimc_tile_config_validate(&cfg), AIMC_ERR_INVALID_ARGUMENT);
      cr_assert(strstr(aimc_last_error(), "update.learning_rate = 1000"), "%s", aimc_last_error());
      continue;
    }
    cr_assert_eq(aimc_tile_config_validate(&cfg), AIMC_ERR_INVALID_ARGUMENT, "case %zu", c);
    cr_assert(strstr(aimc_last_error(), cases[c].expect), "case %zu: %s", c, aimc_last_error());
  }
}

Test(validation, batch_shape) {
  aimc_context_t *ctx = test_context(1, 3);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  aimc_tiles_t *t;
  struct {
    int64_t n;
    int32_t r, c;
    const char *msg;
  } cases[] = {{0, 1, 1, "desc->n_tiles = 0"},
               {1, 0, 1, "desc->rows = 0"},
               {1, 65537, 1, "desc->rows = 65537"},
               {1, 1, -3, "desc->cols = -3"},
               {(int64_t)1 << 40, 65536, 65536, "overflows"}};
  for (int k = 0; k < 5; ++k) {
    td.n_tiles = cases[k].n, td.rows = cases[k].r, td.cols = cases[k].c;
    cr_assert_eq(aimc_tiles_create(ctx, &td, &t), AIMC_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(aimc_context_last_error(ctx), cases[k].msg), "%s",
              aimc_context_last_error(ctx));
  }
  cr_assert_eq(aimc_tiles_create(NULL, &td, &t), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_tiles_create(ctx, NULL, &t), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_tiles_create(ctx, &td, NULL), AIMC_ERR_INVALID_ARGUMENT);
  aimc_context_destroy(ctx);
}

/* ---- Failing operations change nothing -------------------------------------------- */

typedef struct snapshot {
  float w[2 * 3 * 4], h[2 * 3 * 4];
  aimc_tile_stats_t stats[2];
  aimc_tile_config_t cfg[2];
} snapshot_t;

static void take(aimc_tiles_t *t, snapshot_t *s) {
  memset(s, 0, sizeof *s);
  CK(aimc_tiles_get_weights(t, s->w));
  CK(aimc_tiles_get_device_param(t, AIMC_PARAM_HIDDEN_WEIGHT, s->h));
  CK(aimc_tiles_get_stats(t, s->stats));
  for (int k = 0; k < 2; ++k) CK(aimc_tiles_get_config(t, k, &s->cfg[k]));
}

/* Runs a call that must fail with a message containing phrase and leave the
 * batch exactly as snapshot s0 recorded it. */
#define EXPECT_FAIL(call, phrase)                                                          \
  do {                                                                                     \
    aimc_status_t st_ = (call);                                                            \
    cr_assert_eq(st_, AIMC_ERR_INVALID_ARGUMENT, "%s: %s", #call, aimc_status_string(st_)); \
    cr_assert(strstr(aimc_last_error(), phrase), "%s: message \"%s\" lacks \"%s\"", #call, \
              aimc_last_error(), phrase);                                                  \
    cr_assert(strstr(aimc_context_last_error(ctx), phrase), "%s", #call);                 \
    take(t, &s1);                                                                          \
    cr_assert_eq(memcmp(&s0, &s1, sizeof s0), 0, "%s changed the tile batch", #call);      \
  } while (0)

Test(arguments, failing_calls_change_nothing) {
  aimc_context_t *ctx = test_context(1, 3);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = 2, td.rows = 3, td.cols = 4;
  td.config.device.write_noise_std = 2.0f; /* separate device state */
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float x[2 * 2 * 4], d[2 * 2 * 3], y[2 * 2 * 4], w[24];
  test_rng_t r = {3};
  test_fill(&r, x, 16, -1, 1);
  test_fill(&r, d, 12, -1, 1);
  test_fill(&r, w, 24, -0.3f, 0.3f);
  CK(aimc_tiles_program_weights(t, w));
  CK(aimc_tiles_update(t, x, d, 2));
  snapshot_t s0, s1;
  take(t, &s0);
  EXPECT_FAIL(aimc_tiles_forward(t, NULL, y, 2), "x (the input array) is NULL");
  EXPECT_FAIL(aimc_tiles_forward(t, x, NULL, 2), "y (the output array) is NULL");
  EXPECT_FAIL(aimc_tiles_forward(t, x, y, -1), "batch = -1");
  EXPECT_FAIL(aimc_tiles_backward(t, NULL, y, 2), "d (the input array) is NULL");
  EXPECT_FAIL(aimc_tiles_mvm_ex(t, AIMC_FORWARD, NULL, 8, y, 2), "in (the input array) is NULL");
  EXPECT_FAIL(aimc_tiles_mvm_ex(t, (aimc_direction_t)4, x, 8, y, 2), "dir = 4");
  EXPECT_FAIL(aimc_tiles_mvm_ex(t, AIMC_FORWARD, x, 3, y, 2), "in_tile_stride = 3");
  EXPECT_FAIL(aimc_tiles_update(t, NULL, d, 2), "x is NULL");
  EXPECT_FAIL(aimc_tiles_update(t, x, NULL, 2), "d is NULL");
  EXPECT_FAIL(aimc_tiles_update(t, x, d, -5), "batch = -5");
  EXPECT_FAIL(aimc_tiles_update_ex(t, x, 7, d, 0, 2), "x_tile_stride = 7");
  EXPECT_FAIL(aimc_tiles_update_ex(t, x, 0, d, -1, 2), "d_tile_stride = -1");
  EXPECT_FAIL(aimc_tiles_update_gated(t, x, 0, d, 0, y, 5, 2), "y_tile_stride = 5");
  EXPECT_FAIL(aimc_tiles_set_learning_rate(t, -0.5f), "lr = -0.5");
  EXPECT_FAIL(aimc_tiles_set_learning_rate(t, NAN), "lr = nan");
  EXPECT_FAIL(aimc_tiles_set_learning_rates(t, ((float[]){0.1f, -2.0f})), "lr[1] = -2");
  EXPECT_FAIL(aimc_tiles_set_learning_rates(t, NULL), "lr is NULL");
  EXPECT_FAIL(aimc_tiles_set_weights(t, NULL), "w is NULL");
  EXPECT_FAIL(aimc_tiles_program_weights(t, NULL), "w is NULL");
  EXPECT_FAIL(aimc_tiles_get_weights(t, NULL), "w is NULL");
  EXPECT_FAIL(aimc_tiles_reset_columns(t, -1, 1, 1.0f), "col_start = -1");
  EXPECT_FAIL(aimc_tiles_reset_columns(t, 4, 1, 1.0f), "col_start = 4");
  EXPECT_FAIL(aimc_tiles_reset_columns(t, 0, 5, 1.0f), "n_cols = 5");
  EXPECT_FAIL(aimc_tiles_reset_columns(t, 0, 1, 1.5f), "prob = 1.5");
  EXPECT_FAIL(aimc_tiles_get_device_param(t, AIMC_PARAM_COUNT, y), "which = 14");
  EXPECT_FAIL(aimc_tiles_get_device_param_ex(t, 1, AIMC_PARAM_MIN_BOUND, y), "array = 1");
  EXPECT_FAIL(aimc_tiles_reset_columns_ex(t, -1, 0, 1, 1.0f), "array = -1");
  EXPECT_FAIL(aimc_tiles_get_buffer(t, AIMC_BUFFER_COUNT, y), "which = 3");
  EXPECT_FAIL(aimc_tiles_get_buffer(t, AIMC_BUFFER_TRANSFER, NULL), "out is NULL");
  EXPECT_FAIL(aimc_tiles_get_device_param(t, AIMC_PARAM_MIN_BOUND, NULL), "out is NULL");
  EXPECT_FAIL(aimc_tiles_get_config(t, 2, &s1.cfg[0]), "tile = 2");
  EXPECT_FAIL(aimc_tiles_get_stats(t, NULL), "stats is NULL");
  /* the learning rate of tile 0 was not applied by the failing per-tile call */
  cr_assert_eq(s1.cfg[0].update.learning_rate, td.config.update.learning_rate);
  CK(aimc_tiles_forward(t, x, y, 0)); /* batch 0 is a no-op, with any pointers */
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- Named access ----------------------------------------------------------------- */

Test(named, set_get_round_trip) {
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  CK(aimc_tile_config_set(&cfg, "device.dw_min", 0.004));
  CK(aimc_tile_config_set(&cfg, "device.model", AIMC_DEVICE_POW_STEP));
  CK(aimc_tile_config_set(&cfg, "device.piecewise_up[5]", 0.75));
  CK(aimc_tile_config_set(&cfg, "forward.out_bound", INFINITY));
  CK(aimc_tile_config_set(&cfg, "forward.out_res", 0));
  CK(aimc_tile_config_set(&cfg, "update.desired_bl", 100));
  cr_assert_eq(cfg.device.dw_min, 0.004f);
  cr_assert_eq(cfg.device.model, AIMC_DEVICE_POW_STEP);
  cr_assert_eq(cfg.device.piecewise_up[5], 0.75f);
  cr_assert(isinf(cfg.forward.out_bound));
  cr_assert_eq(cfg.update.desired_bl, 100);
  double v;
  CK(aimc_tile_config_get(&cfg, "device.piecewise_up[5]", &v));
  cr_assert_eq(v, 0.75);
  CK(aimc_tile_config_get(&cfg, "backward.out_noise", &v));
  cr_assert_eq(v, (double)0.06f);
  CK(aimc_tile_config_validate(&cfg));
  const char *bad[] = {"device.nope", "nope", "device.piecewise_up", "device.piecewise_up[32]",
                       "device.piecewise_up[-1]", "device.piecewise_up[x]", "device.dw_min[0]",
                       "device.piecewise_up[3]x", ""};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; ++k) {
    cr_assert_eq(aimc_tile_config_set(&cfg, bad[k], 1.0), AIMC_ERR_INVALID_ARGUMENT, "%s", bad[k]);
    cr_assert(strstr(aimc_last_error(), "is not a configuration field"), "%s", aimc_last_error());
    cr_assert_eq(aimc_tile_config_get(&cfg, bad[k], &v), AIMC_ERR_INVALID_ARGUMENT);
  }
  cr_assert_eq(aimc_tile_config_set(&cfg, "update.desired_bl", 2.5), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "(integer)"), "%s", aimc_last_error());
  cr_assert_eq(aimc_tile_config_set(NULL, "device.dw_min", 1), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_tile_config_get(&cfg, "device.dw_min", NULL), AIMC_ERR_INVALID_ARGUMENT);
}

Test(named, presets_and_defaults_validate) {
  aimc_tile_config_t cfg;
  aimc_tile_config_default(&cfg);
  CK(aimc_tile_config_validate(&cfg));
  for (int p = 0; p < AIMC_PRESET_COUNT; ++p) {
    CK(aimc_device_desc_preset(&cfg.device, (aimc_device_preset_t)p));
    CK(aimc_tile_config_validate(&cfg));
    cr_assert_str_neq(aimc_device_preset_name((aimc_device_preset_t)p), "unknown");
  }
  for (int m = 0; m < AIMC_DEVICE_MODEL_COUNT; ++m) {
    CK(aimc_device_desc_default(&cfg.device, (aimc_device_model_t)m));
    CK(aimc_tile_config_validate(&cfg));
    cr_assert_str_neq(aimc_device_model_name((aimc_device_model_t)m), "unknown");
  }
  for (int p = 0; p <= AIMC_IO_PERFECT; ++p) {
    CK(aimc_tile_config_io_preset(&cfg, (aimc_io_preset_t)p));
    CK(aimc_tile_config_validate(&cfg));
  }
  aimc_device_desc_t d = cfg.device;
  cr_assert_eq(aimc_device_desc_preset(&d, AIMC_PRESET_COUNT), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(memcmp(&d, &cfg.device, sizeof d), 0);
  cr_assert_eq(aimc_device_desc_default(&d, AIMC_DEVICE_MODEL_COUNT), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_io_desc_default(&cfg.forward, (aimc_io_preset_t)9), AIMC_ERR_INVALID_ARGUMENT);
}

/* ---- Per-tile configurations and seeds ------------------------------------------- */

static double mean_param(aimc_tiles_t *t, aimc_device_param_t which, int64_t tile, int n) {
  float *v = test_alloc((size_t)n * 4);
  CK(aimc_tiles_get_device_param(t, which, v));
  double s = 0;
  for (int k = 0; k < n; ++k) s += v[tile * n + k];
  free(v);
  return s / n;
}

Test(per_tile, configs_apply_to_their_tile) {
  aimc_context_t *ctx = test_context(2, 3);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = 4, td.rows = 16, td.cols = 16;
  aimc_tile_config_t cfg[4];
  for (int k = 0; k < 4; ++k) {
    aimc_tile_config_default(&cfg[k]);
    cfg[k].device.dw_min = 0.001f * (float)(k + 1);
    cfg[k].device.dw_min_dtod = 0.0f, cfg[k].device.up_down_dtod = 0.0f;
  }
  aimc_device_desc_preset(&cfg[3].device, AIMC_PRESET_CAPACITOR);
  td.per_tile = cfg;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  for (int k = 0; k < 3; ++k)
    cr_assert_float_eq(mean_param(t, AIMC_PARAM_STEP_UP, k, 256), 0.001 * (k + 1), 1e-9);
  aimc_tile_config_t got;
  CK(aimc_tiles_get_config(t, 3, &got));
  cr_assert_eq(memcmp(&got, &cfg[3], sizeof got), 0);
  cr_assert_eq(got.device.model, AIMC_DEVICE_LINEAR_STEP);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

static void bounds_of(aimc_context_t *ctx, aimc_tiles_desc_t *td, float *out) {
  aimc_tiles_t *t = test_tiles(ctx, td);
  CK(aimc_tiles_get_device_param(t, AIMC_PARAM_MAX_BOUND, out));
  aimc_tiles_destroy(t);
}

Test(seeds, derivation_and_overrides) {
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = 2, td.rows = 4, td.cols = 4;
  float a[32], b[32], c[32], e[32];
  aimc_context_t *c1 = test_context(1, 77), *c2 = test_context(2, 77), *c3 = test_context(1, 78);
  bounds_of(c1, &td, a); /* first batch of context seed 77 */
  bounds_of(c2, &td, b);
  cr_assert_arr_eq(a, b, sizeof a, "same context seed, same first batch");
  bounds_of(c2, &td, b); /* second batch: a new derived seed */
  cr_assert(memcmp(a, b, sizeof a) != 0);
  bounds_of(c3, &td, c);
  cr_assert(memcmp(a, c, sizeof a) != 0, "another context seed");
  /* a failed creation does not advance the derivation */
  aimc_context_t *c4 = test_context(1, 77);
  aimc_tiles_t *t;
  td.rows = 0;
  cr_assert_eq(aimc_tiles_create(c4, &td, &t), AIMC_ERR_INVALID_ARGUMENT);
  td.rows = 4;
  bounds_of(c4, &td, e);
  cr_assert_arr_eq(a, e, sizeof a);
  /* explicit batch seeds and per-tile seeds */
  td.seed = 5;
  bounds_of(c1, &td, a);
  bounds_of(c3, &td, b);
  cr_assert_arr_eq(a, b, sizeof a, "an explicit seed ignores the context");
  uint64_t seeds[2] = {9, 9};
  td.tile_seeds = seeds;
  bounds_of(c1, &td, a);
  cr_assert_arr_eq(a, a + 16, 16 * sizeof(float), "equal tile seeds, equal devices");
  seeds[1] = 10;
  bounds_of(c1, &td, b);
  cr_assert_arr_eq(a, b, 16 * sizeof(float));
  cr_assert(memcmp(a, b + 16, 16 * sizeof(float)) != 0);
  aimc_context_destroy(c1), aimc_context_destroy(c2), aimc_context_destroy(c3);
  aimc_context_destroy(c4);
}

/* aihwkit's algorithm presets: every defined combination validates and
 * carries the table's numbers; undefined ones are refused by name. */
Test(presets, algorithm_presets) {
  aimc_tile_config_t cfg, before;
  aimc_algorithm_t kinds[6] = {AIMC_ALGO_SGD,  AIMC_ALGO_TIKI_TAKA, AIMC_ALGO_TTV2,
                               AIMC_ALGO_CHOPPED_TTV2, AIMC_ALGO_AGAD, AIMC_ALGO_MIXED_PRECISION};
  for (int k = 0; k < 6; ++k)
    for (int p = 0; p < AIMC_PRESET_COUNT; ++p) {
      aimc_status_t s = aimc_tile_config_preset(&cfg, kinds[k], (aimc_device_preset_t)p);
      int family = k >= 1 && k <= 4;
      if (family && p == AIMC_PRESET_GOKMEN_VLASOV) {
        cr_assert_eq(s, AIMC_ERR_UNSUPPORTED);
        cr_assert(strstr(aimc_last_error(), "GokmenVlasov"), "%s", aimc_last_error());
        continue;
      }
      CK(s);
      CK(aimc_tile_config_validate(&cfg));
      cr_assert_eq(cfg.forward.out_bound, 20.0f, "PresetIOParameters");
      cr_assert_eq(cfg.transfer.noise_management, AIMC_NM_NONE);
    }
  CK(aimc_tile_config_preset(&cfg, AIMC_ALGO_TTV2, AIMC_PRESET_RERAM_SB));
  cr_assert_eq(cfg.algorithm.kind, AIMC_ALGO_CHOPPED_TTV2);
  cr_assert_eq(cfg.algorithm.in_chop_prob, 0.0f);
  cr_assert_eq(cfg.algorithm.fast_lr, 0.5f);
  cr_assert_eq(cfg.algorithm.auto_granularity, 1000.0f);
  cr_assert(cfg.device.subtract_symmetry_point && cfg.fast_device.subtract_symmetry_point);
  cr_assert_eq(cfg.transfer_update.desired_bl, 1);
  CK(aimc_tile_config_preset(&cfg, AIMC_ALGO_AGAD, AIMC_PRESET_ECRAM));
  cr_assert_eq(cfg.algorithm.auto_granularity, 750.0f);
  cr_assert_eq(cfg.algorithm.tail_weightening, 50.0f);
  cr_assert_eq(cfg.update.desired_bl, 31);
  CK(aimc_tile_config_preset(&cfg, AIMC_ALGO_CHOPPED_TTV2, AIMC_PRESET_ECRAM_MO));
  cr_assert_eq(cfg.algorithm.in_chop_prob, 0.001f);
  cr_assert_eq(cfg.update.desired_bl, 100);
  before = cfg;
  cr_assert_eq(aimc_tile_config_preset(&cfg, AIMC_ALGO_STELLAR, AIMC_PRESET_IDEALIZED),
               AIMC_ERR_UNSUPPORTED);
  cr_assert_eq(memcmp(&cfg, &before, sizeof cfg), 0, "a refused preset changes nothing");
  CK(aimc_tile_config_algorithm(&cfg, AIMC_ALGO_AGAD));
  cr_assert_eq(cfg.algorithm.in_chop_random, 0);
  cr_assert_eq(cfg.transfer_update.update_management, 0);
  CK(aimc_tile_config_algorithm(&cfg, AIMC_ALGO_TIKI_TAKA));
  cr_assert_eq(cfg.transfer_update.desired_bl, 31);
  cr_assert_eq(cfg.algorithm.units_in_mbatch, 1);
  cr_assert_eq(aimc_tile_config_algorithm(&cfg, AIMC_ALGO_COUNT), AIMC_ERR_INVALID_ARGUMENT);
}

/* All tiles of a batch must run the same algorithm. */
Test(presets, one_algorithm_per_batch) {
  aimc_context_t *ctx = test_context(1, 3);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = 2;
  aimc_tile_config_t cfg[2];
  aimc_tile_config_default(&cfg[0]);
  aimc_tile_config_default(&cfg[1]);
  CK(aimc_tile_config_algorithm(&cfg[1], AIMC_ALGO_AGAD));
  td.per_tile = cfg;
  aimc_tiles_t *t;
  cr_assert_eq(aimc_tiles_create(ctx, &td, &t), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_context_last_error(ctx), "desc->per_tile[1].algorithm.kind = 5"), "%s",
            aimc_context_last_error(ctx));
  aimc_context_destroy(ctx);
}
