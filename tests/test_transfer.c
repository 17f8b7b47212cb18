/* The transfer family: Tiki-Taka v1, TTv2, chopped TTv2 and AGAD.
 *
 * Exact tests run every algorithm with exact updates of A (pulse type
 * NONE), perfect transfer reads and ideal counting devices, beside a
 * reference model written from the rules (docs/algorithms.md) in the same
 * float operations, and compare A, H, M, P and C bit for bit after every
 * sample. Statistical tests check chopper flip rates and schedules; the
 * weight-programming task of the c-TTv2/AGAD paper checks the published
 * behaviour (chopped TTv2 and AGAD beat TTv2 under reference offsets, AGAD
 * does not care about them, analog SGD drifts to the symmetry point). */
#include "common.h"

#define STEP 0.0078125f /* 2^-7: device steps and pulse counts stay exact */
enum { R = 3, C = 4, NW = R * C };

/* Exact A updates, perfect reads, ideal devices. */
static aimc_tile_config_t exact_config(aimc_algorithm_t kind) {
  aimc_tile_config_t c;
  aimc_tile_config_default(&c);
  test_counting_device(&c.device, STEP);
  test_counting_device(&c.fast_device, STEP);
  aimc_tile_config_io_preset(&c, AIMC_IO_PERFECT);
  CK(aimc_tile_config_algorithm(&c, kind));
  c.update.pulse_type = AIMC_PULSE_NONE;
  c.update.learning_rate = 0.25f;
  return c;
}

/* ---- Reference model ----------------------------------------------------------- */

typedef struct ref {
  aimc_tile_config_t cfg;
  float A[NW], Cw[NW], H[NW], M[NW], P[NW];
  int8_t c_in[C], c_out[R];
  uint8_t switched[C];
  int next;
  uint64_t sweeps, samples, reads;
} ref_t;

static float rate_fast(const ref_t *r) {
  const aimc_algorithm_desc_t *a = &r->cfg.algorithm;
  return a->scale_fast_lr ? a->fast_lr * r->cfg.update.learning_rate : a->fast_lr;
}

static float rate_transfer(const ref_t *r) {
  const aimc_algorithm_desc_t *a = &r->cfg.algorithm;
  float t = a->scale_transfer_lr ? a->transfer_lr * r->cfg.update.learning_rate : a->transfer_lr;
  if (a->kind != AIMC_ALGO_TIKI_TAKA && a->gamma > 0.0f) t = t * a->gamma;
  return t;
}

/* n whole steps on the counting device. */
static float steps(float w, int n) {
  for (int q = 0; q < (n < 0 ? -n : n); ++q) w = n > 0 ? w + STEP : w - STEP;
  return w;
}

/* Buffer thresholding of the chopped algorithms. */
static int threshold(const aimc_algorithm_desc_t *a, int cap, float *h) {
  if (!(fabsf(*h) >= 1.0f)) return 0;
  float n = fminf(fmaxf(truncf(*h), (float)-cap), (float)cap);
  float m = fminf(fmaxf(a->momentum, 0.0f), 1.0f);
  *h = a->forget_buffer ? m * *h : *h - (1.0f - m) * n;
  return (int)n;
}

static float sign_of(const ref_t *r, int i, int k) {
  return (r->c_in[k] < 0) != (r->c_out[i] < 0) ? -1.0f : 1.0f;
}

/* One sample through the reference: A update, then a transfer of column
 * k = next if the schedule says so (period `every`). Random chopper flips
 * are taken from the library (flips_in/flips_out: the choppers it reports
 * after the sample); regular flips are predicted. */
static void ref_sample(ref_t *r, const float *x, const float *d, int every) {
  const aimc_algorithm_desc_t *a = &r->cfg.algorithm;
  int chopped = a->kind == AIMC_ALGO_CHOPPED_TTV2 || a->kind == AIMC_ALGO_AGAD;
  float lr = rate_fast(r);
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) {
      float di = chopped && r->c_out[i] < 0 ? -d[i] : d[i];
      float xj = chopped && r->c_in[j] < 0 ? -x[j] : x[j];
      float acc = 0.0f;
      acc += di * xj;
      r->A[i * C + j] = r->A[i * C + j] - lr * acc;
    }
  r->samples++;
  if (every == 0 || r->samples % (uint64_t)every != 0) return;
  int k = r->next, cap = r->cfg.transfer_update.desired_bl;
  float v[R];
  for (int i = 0; i < R; ++i) v[i] = r->A[i * C + k];
  float lr_t = rate_transfer(r);
  float bg = (a->buffer_granularity > 0 ? a->buffer_granularity : 1.0f) * STEP;
  if (a->auto_granularity > 0) bg = bg * (a->auto_granularity / ((float)C * fabsf(a->transfer_every)));
  float s = fabsf(lr_t) / bg;
  int period = a->in_chop_prob > 0 ? (int)fmaxf(ceilf(1.0f / a->in_chop_prob), 2.0f) : 2;
  switch (a->kind) {
    case AIMC_ALGO_TIKI_TAKA: /* exact write (transfer pulse type NONE) */
      for (int i = 0; i < R; ++i) r->Cw[i * C + k] = r->Cw[i * C + k] + lr_t * v[i];
      break;
    case AIMC_ALGO_TTV2:
      for (int i = 0; i < R; ++i) {
        float *h = &r->H[i * C + k];
        float hh = *h + fabsf(lr_t) * v[i];
        float n = fminf(fmaxf(truncf(hh / STEP), (float)-cap), (float)cap);
        if (n != 0.0f) hh = a->forget_buffer ? a->momentum * hh : hh - (1.0f - a->momentum) * n * STEP;
        *h = hh;
        r->Cw[i * C + k] = steps(r->Cw[i * C + k], (int)n);
      }
      break;
    case AIMC_ALGO_CHOPPED_TTV2:
      for (int i = 0; i < R; ++i) {
        float *h = &r->H[i * C + k];
        *h = *h + s * v[i] * sign_of(r, i, k);
        r->Cw[i * C + k] = steps(r->Cw[i * C + k], threshold(a, cap, h));
      }
      if (a->in_chop_prob > 0 && !a->in_chop_random && (int)(r->sweeps % (uint64_t)period) == period - 1)
        r->c_in[k] = (int8_t)-r->c_in[k];
      break;
    case AIMC_ALGO_AGAD: {
      int sw = r->switched[k];
      r->switched[k] = 0;
      float mom = fminf(a->tail_weightening / (float)period, 1.0f);
      for (int i = 0; i < R; ++i) {
        float *h = &r->H[i * C + k], *M = &r->M[i * C + k], *P = &r->P[i * C + k];
        if (sw) *P = *M;
        *h = *h + (v[i] - *P) * sign_of(r, i, k) * s;
        int n = threshold(a, cap, h);
        if (r->sweeps >= (uint64_t)period) r->Cw[i * C + k] = steps(r->Cw[i * C + k], n);
        *M = (1.0f - mom) * *M + mom * v[i];
      }
      if ((int)(r->sweeps % (uint64_t)period) + 1 == period) {
        r->c_in[k] = (int8_t)-r->c_in[k];
        r->switched[k] = 1;
      }
      break;
    }
    default:
      break;
  }
  r->next = (k + 1) % C;
  if (k == C - 1) r->sweeps++;
  r->reads++;
}

static void ref_init(ref_t *r, const aimc_tile_config_t *cfg) {
  memset(r, 0, sizeof *r);
  r->cfg = *cfg;
  memset(r->c_in, 1, sizeof r->c_in);
  memset(r->c_out, 1, sizeof r->c_out);
}

/* Compares the library's single tile with the reference. */
static void expect_state(aimc_tiles_t *t, const ref_t *r, const char *when) {
  float A[NW], Cw[NW], H[NW], M[NW], P[NW];
  CK(aimc_tiles_get_device_param_ex(t, 1, AIMC_PARAM_VISIBLE_WEIGHT, A));
  CK(aimc_tiles_get_device_param_ex(t, 0, AIMC_PARAM_VISIBLE_WEIGHT, Cw));
  for (int k = 0; k < NW; ++k) {
    cr_assert_eq(A[k], r->A[k], "%s: A[%d] %.9g != %.9g", when, k, A[k], r->A[k]);
    cr_assert_eq(Cw[k], r->Cw[k], "%s: C[%d] %.9g != %.9g", when, k, Cw[k], r->Cw[k]);
  }
  int kind = r->cfg.algorithm.kind;
  if (kind == AIMC_ALGO_TIKI_TAKA) return;
  CK(aimc_tiles_get_buffer(t, AIMC_BUFFER_TRANSFER, H));
  for (int k = 0; k < NW; ++k)
    cr_assert_eq(H[k], r->H[k], "%s: H[%d] %.9g != %.9g", when, k, H[k], r->H[k]);
  if (kind != AIMC_ALGO_AGAD) return;
  CK(aimc_tiles_get_buffer(t, AIMC_BUFFER_RUNNING_MEAN, M));
  CK(aimc_tiles_get_buffer(t, AIMC_BUFFER_PAST_MEAN, P));
  for (int k = 0; k < NW; ++k) {
    cr_assert_eq(M[k], r->M[k], "%s: M[%d] %.9g != %.9g", when, k, M[k], r->M[k]);
    cr_assert_eq(P[k], r->P[k], "%s: P[%d] %.9g != %.9g", when, k, P[k], r->P[k]);
  }
}

/* Runs `calls` update calls of `batch` samples through library and
 * reference, comparing after each call (one sample per call when batch 1). */
static void run_exact(const aimc_tile_config_t *cfg, int calls, int batch, int every) {
  aimc_context_t *ctx = test_context(2, 17);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.rows = R, td.cols = C, td.config = *cfg;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  ref_t r;
  ref_init(&r, cfg);
  test_rng_t g = {91};
  float *x = test_alloc((size_t)batch * C), *d = test_alloc((size_t)batch * R);
  char when[64];
  for (int c = 0; c < calls; ++c) {
    CK(aimc_tiles_get_choppers(t, r.c_in, r.c_out));
    test_fill(&g, x, (size_t)batch * C, -1, 1);
    test_fill(&g, d, (size_t)batch * R, -1, 1);
    CK(aimc_tiles_update(t, x, d, batch));
    for (int b = 0; b < batch; ++b) ref_sample(&r, x + b * C, d + b * R, every);
    snprintf(when, sizeof when, "%s, call %d", aimc_algorithm_name(cfg->algorithm.kind), c);
    expect_state(t, &r, when);
    int8_t in[C], out[R];
    CK(aimc_tiles_get_choppers(t, in, out));
    if (cfg->algorithm.in_chop_random) /* random flips: the library decides */
      memcpy(r.c_in, in, sizeof in);
    else
      cr_assert_arr_eq(in, r.c_in, sizeof in, "%s: regular chopper flips", when);
  }
  aimc_tile_stats_t st;
  CK(aimc_tiles_get_stats(t, &st));
  cr_assert_eq(st.transfers, r.reads, "transfers %llu, expected %llu", (unsigned long long)st.transfers,
               (unsigned long long)r.reads);
  cr_assert_gt(r.reads, 0u);
  free(x), free(d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(exact, tiki_taka_moves_columns_of_a_into_c) {
  aimc_tile_config_t c = exact_config(AIMC_ALGO_TIKI_TAKA);
  c.transfer_update.pulse_type = AIMC_PULSE_NONE;
  run_exact(&c, 9, 5, 5); /* units_in_mbatch: one transfer after each call of 5 */
}

Test(exact, ttv2_buffer_writes_single_steps) {
  aimc_tile_config_t c = exact_config(AIMC_ALGO_TTV2);
  c.algorithm.units_in_mbatch = 0; /* a transfer after every sample */
  run_exact(&c, 40, 1, 1);
}

Test(exact, ttv2_keeps_remainder_without_forgetting) {
  aimc_tile_config_t c = exact_config(AIMC_ALGO_TTV2);
  c.algorithm.units_in_mbatch = 0;
  c.algorithm.forget_buffer = 0;
  c.algorithm.momentum = 0.25f;
  c.transfer_update.desired_bl = 2;
  run_exact(&c, 40, 1, 1);
}

Test(exact, chopped_ttv2_regular_chopping) {
  aimc_tile_config_t c = exact_config(AIMC_ALGO_CHOPPED_TTV2);
  c.algorithm.in_chop_random = 0;
  c.algorithm.in_chop_prob = 0.5f; /* flip every 2nd sweep */
  c.algorithm.auto_granularity = 3.0f;
  run_exact(&c, 60, 1, 1);
}

Test(exact, chopped_ttv2_random_chopping) {
  aimc_tile_config_t c = exact_config(AIMC_ALGO_CHOPPED_TTV2);
  c.algorithm.in_chop_prob = 0.3f;
  c.algorithm.buffer_granularity = 2.0f;
  run_exact(&c, 60, 1, 1);
}

Test(exact, agad_dynamic_reference) {
  aimc_tile_config_t c = exact_config(AIMC_ALGO_AGAD);
  c.algorithm.in_chop_prob = 0.25f; /* period 4 sweeps */
  c.algorithm.tail_weightening = 2.0f;
  run_exact(&c, 80, 1, 1);
}

/* ---- Schedules ------------------------------------------------------------------ */

static uint64_t transfers_after(aimc_tile_config_t c, int calls, int batch) {
  aimc_context_t *ctx = test_context(1, 3);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.rows = R, td.cols = C, td.config = c;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float *x = test_alloc((size_t)batch * C), *d = test_alloc((size_t)batch * R);
  test_rng_t g = {5};
  for (int k = 0; k < calls; ++k) {
    test_fill(&g, x, (size_t)batch * C, -1, 1);
    test_fill(&g, d, (size_t)batch * R, -1, 1);
    CK(aimc_tiles_update(t, x, d, batch));
  }
  aimc_tile_stats_t st;
  CK(aimc_tiles_get_stats(t, &st));
  cr_assert_eq(st.update_calls, (uint64_t)calls);
  free(x), free(d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
  return st.transfers;
}

Test(schedule, transfer_periods) {
  aimc_tile_config_t c = exact_config(AIMC_ALGO_TIKI_TAKA);
  cr_assert_eq(transfers_after(c, 3, 5), 3u); /* every mini-batch */
  c.algorithm.transfer_every = 0.5f;          /* ceil(0.5 x 5) = 3 samples */
  cr_assert_eq(transfers_after(c, 3, 5), 5u);
  c.algorithm.n_reads_per_transfer = 3;
  cr_assert_eq(transfers_after(c, 3, 5), 15u);
  c = exact_config(AIMC_ALGO_TTV2);
  c.algorithm.units_in_mbatch = 0;
  c.algorithm.transfer_every = 2.0f; /* every 2 samples, across calls */
  cr_assert_eq(transfers_after(c, 3, 5), 7u);
  c = exact_config(AIMC_ALGO_CHOPPED_TTV2);
  c.fast_device.w_max = 1.0f, c.fast_device.w_min = -1.0f; /* 2 / 2^-7 = 256 states */
  c.algorithm.transfer_every = -0.25f; /* rint(256 / 4 cols x 0.25) = 16 samples */
  cr_assert_eq(transfers_after(c, 10, 5), 3u);
  c.algorithm.transfer_every = 0.0f;
  cr_assert_eq(aimc_tile_config_validate(&c), AIMC_ERR_INVALID_ARGUMENT);
}

/* Columns advance in order and wrap; rows are read with transfer_columns 0. */
Test(schedule, rows_are_read_when_asked) {
  aimc_tile_config_t c = exact_config(AIMC_ALGO_TTV2);
  c.algorithm.units_in_mbatch = 0;
  c.algorithm.transfer_columns = 0;
  c.algorithm.thres_scale = 0.125f;
  aimc_context_t *ctx = test_context(1, 3);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.rows = R, td.cols = C, td.config = c;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float x[C] = {1, 0, 0, 0}, d[R] = {-1, -1, -1}; /* A grows in column 0 only */
  float H[NW];
  for (int k = 0; k < R; ++k) CK(aimc_tiles_update(t, x, d, 1));
  CK(aimc_tiles_get_buffer(t, AIMC_BUFFER_TRANSFER, H));
  /* three row reads (rows 0, 1, 2) saw A[i][0] = 0.25 (i+1 samples): only
     column 0 of H is touched */
  for (int i = 0; i < R; ++i)
    for (int j = 1; j < C; ++j) cr_assert_eq(H[i * C + j], 0.0f);
  aimc_tile_stats_t st;
  CK(aimc_tiles_get_stats(t, &st));
  cr_assert_eq(st.transfers, (uint64_t)R);
  cr_assert_gt(st.array_pulses[0], 0u, "row reads wrote C");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* AGAD reading rows of tiles with more rows than columns: each tile keeps
 * one switch flag per row, so identical replicas stay identical (a flag
 * array of one entry per column let tile 0 overwrite tile 1's flags and the
 * last tile write past the buffer). */
Test(schedule, agad_row_reads_of_tall_tiles) {
  enum { T = 3, TR = 6, TC = 2 };
  aimc_tile_config_t c;
  CK(aimc_tile_config_preset(&c, AIMC_ALGO_AGAD, AIMC_PRESET_RERAM_SB));
  c.algorithm.transfer_columns = 0;
  c.algorithm.transfer_every = 1.0f;
  c.algorithm.in_chop_prob = 0.5f;
  c.update.learning_rate = 0.5f;
  aimc_context_t *ctx = test_context(1, 5);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  uint64_t seeds[T] = {9, 9, 9};
  td.n_tiles = T, td.rows = TR, td.cols = TC, td.config = c, td.tile_seeds = seeds;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t rng = {31};
  float x[TC], d[TR], w[T * TR * TC];
  for (int n = 0; n < 60; ++n) {
    test_fill(&rng, x, TC, -1.0f, 1.0f);
    test_fill(&rng, d, TR, -1.0f, 1.0f);
    CK(aimc_tiles_update_ex(t, x, 0, d, 0, 1));
  }
  CK(aimc_tiles_get_weights(t, w));
  for (int k = 1; k < T; ++k)
    cr_assert_eq(memcmp(w, w + k * TR * TC, sizeof(float) * TR * TC), 0,
                 "replica %d differs from replica 0", k);
  aimc_tile_stats_t st[T];
  CK(aimc_tiles_get_stats(t, st));
  cr_assert_gt(st[0].chopper_flips, 0u);
  cr_assert_gt(st[0].array_pulses[0], 0u, "the row reads wrote C");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* With gamma > 0 reads see gamma A + C, A de-chopped. */
Test(schedule, gamma_makes_a_visible) {
  aimc_algorithm_t kinds[2] = {AIMC_ALGO_TIKI_TAKA, AIMC_ALGO_CHOPPED_TTV2};
  for (int q = 0; q < 2; ++q) {
    aimc_tile_config_t c = exact_config(kinds[q]);
    c.algorithm.gamma = 0.5f;
    c.algorithm.in_chop_prob = 0.5f;
    aimc_context_t *ctx = test_context(1, 3);
    aimc_tiles_desc_t td;
    aimc_tiles_desc_default(&td);
    td.rows = R, td.cols = C, td.config = c;
    aimc_tiles_t *t = test_tiles(ctx, &td);
    test_rng_t g = {8};
    float x[C], d[R], w[NW], A[NW], Cw[NW], y[R], e[C] = {0, 1, 0, 0};
    int8_t in[C], out[R];
    for (int k = 0; k < 20; ++k) {
      test_fill(&g, x, C, -1, 1);
      test_fill(&g, d, R, -1, 1);
      CK(aimc_tiles_update(t, x, d, 1));
    }
    CK(aimc_tiles_get_weights(t, w));
    CK(aimc_tiles_get_device_param_ex(t, 1, AIMC_PARAM_VISIBLE_WEIGHT, A));
    CK(aimc_tiles_get_device_param_ex(t, 0, AIMC_PARAM_VISIBLE_WEIGHT, Cw));
    CK(aimc_tiles_get_choppers(t, in, out));
    CK(aimc_tiles_forward(t, e, y, 1));
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < C; ++j) {
        float sign = (in[j] < 0) != (out[i] < 0) ? -1.0f : 1.0f;
        cr_assert_eq(w[i * C + j], 0.5f * sign * A[i * C + j] + Cw[i * C + j]);
        if (j == 1) cr_assert_eq(y[i], w[i * C + j]);
      }
    aimc_tiles_destroy(t);
    aimc_context_destroy(ctx);
  }
}

/* ---- Chopper statistics ------------------------------------------------------------ */

/* Flips of n_tiles tiles of R x C after `samples` samples (one read each). */
static void flip_counts(aimc_tile_config_t c, int64_t n_tiles, int samples, uint64_t *flips,
                        int8_t *in, int8_t *out) {
  aimc_context_t *ctx = test_context(2, 21);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = n_tiles, td.rows = R, td.cols = C, td.config = c;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float x[C] = {0.5f, -0.25f, 0.75f, 1.0f}, d[R] = {0.1f, -0.2f, 0.3f};
  for (int k = 0; k < samples; ++k) CK(aimc_tiles_update_ex(t, x, 0, d, 0, 1));
  aimc_tile_stats_t *st = calloc((size_t)n_tiles, sizeof *st);
  CK(aimc_tiles_get_stats(t, st));
  *flips = 0;
  for (int64_t k = 0; k < n_tiles; ++k) *flips += st[k].chopper_flips;
  CK(aimc_tiles_get_choppers(t, in, out));
  free(st);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* Random input flips: Binomial(reads, p) over all tiles, within 5 sigma. */
Test(choppers, random_flip_rate) {
  enum { T = 200, S = 100 }; /* 20000 reads */
  aimc_tile_config_t c = exact_config(AIMC_ALGO_CHOPPED_TTV2);
  c.algorithm.in_chop_prob = 0.2f;
  uint64_t flips;
  static int8_t in[T * C], out[T * R];
  flip_counts(c, T, S, &flips, in, out);
  double n = (double)T * S, p = 0.2;
  cr_assert_lt(fabs((double)flips - n * p), 5 * sqrt(n * p * (1 - p)), "%llu flips",
               (unsigned long long)flips);
}

/* Output flips: per sweep every row with probability p: Binomial(T R sweeps). */
Test(choppers, random_output_flip_rate) {
  enum { T = 200, S = 100 }; /* 25 sweeps */
  aimc_tile_config_t c = exact_config(AIMC_ALGO_CHOPPED_TTV2);
  c.algorithm.in_chop_prob = 0.0f;
  c.algorithm.out_chop_prob = 0.3f;
  uint64_t flips;
  static int8_t in[T * C], out[T * R];
  flip_counts(c, T, S, &flips, in, out);
  double n = (double)T * R * (S / C), p = 0.3;
  cr_assert_lt(fabs((double)flips - n * p), 5 * sqrt(n * p * (1 - p)), "%llu flips",
               (unsigned long long)flips);
  for (int k = 0; k < T * C; ++k) cr_assert_eq(in[k], 1, "input choppers never flip");
}

/* Regular flips: each column after every N = max(ceil(1/p), 2) sweeps,
 * exactly; AGAD's regular period is the same. */
Test(choppers, regular_flip_period) {
  aimc_algorithm_t kinds[2] = {AIMC_ALGO_CHOPPED_TTV2, AIMC_ALGO_AGAD};
  for (int q = 0; q < 2; ++q) {
    aimc_tile_config_t c = exact_config(kinds[q]);
    c.algorithm.in_chop_random = 0;
    c.algorithm.in_chop_prob = 0.3f; /* N = 4 sweeps */
    uint64_t flips;
    int8_t in[2 * C], out[2 * R];
    flip_counts(c, 2, 4 * 13, &flips, in, out); /* 13 sweeps: 3 flips per column */
    cr_assert_eq(flips, 2u * C * 3u, "%s: %llu flips", aimc_algorithm_name(kinds[q]),
                 (unsigned long long)flips);
    for (int k = 0; k < 2 * C; ++k) cr_assert_eq(in[k], -1, "odd number of flips");
  }
}

/* ---- The weight-programming task ------------------------------------------------- */

/* A fixed target W* is learned through the update rule from random inputs
 * x and d = W x - W* x (the c-TTv2/AGAD paper's Fig. 4 task): SoftBounds-
 * Reference devices of `states` states on [-1, 1], 30 % step and bound
 * spread, up/down spread 0.1, reference offsets of std ref_std on the
 * gradient array (A, or W for SGD), 8-bit IO. Returns the RMS error of W
 * per tile. */
static void program_errors(aimc_algorithm_t kind, float ref_std, int states, int n_tiles,
                           int samples, double *err) {
  enum { N = 10, B = 10 };
  aimc_tile_config_t c;
  aimc_tile_config_default(&c);
  aimc_device_desc_t *dv = &c.device;
  aimc_device_desc_default(dv, AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
  dv->dw_min = 2.0f / (float)states, dv->w_max = 1.0f, dv->w_min = -1.0f;
  dv->dw_min_dtod = 0.3f, dv->up_down_dtod = 0.1f, dv->dw_min_std = 0.3f;
  dv->w_max_dtod = dv->w_min_dtod = 0.0f, dv->subtract_symmetry_point = 1;
  c.fast_device = *dv;
  c.fast_device.w_max_dtod = c.fast_device.w_min_dtod = 0.3f;
  c.fast_device.reference_std = ref_std;
  if (kind == AIMC_ALGO_SGD) c.device = c.fast_device;
  aimc_tile_config_io_preset(&c, AIMC_IO_STANDARD);
  CK(aimc_tile_config_algorithm(&c, kind == AIMC_ALGO_TTV2 ? AIMC_ALGO_CHOPPED_TTV2 : kind));
  c.update.learning_rate = 0.1f;
  aimc_algorithm_desc_t *a = &c.algorithm;
  a->fast_lr = 0.1f, a->auto_scale = 1, a->auto_granularity = 200.0f;
  a->in_chop_prob = kind == AIMC_ALGO_TTV2 ? 0.0f : 0.1f;
  a->in_chop_random = 0;
  aimc_context_t *ctx = test_context(2, 1);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = n_tiles, td.rows = N, td.cols = N, td.config = c;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t g = {2023};
  float target[N * N], x[B * N];
  float *y = test_alloc((size_t)n_tiles * B * N), *d = test_alloc((size_t)n_tiles * B * N);
  float *w = test_alloc((size_t)n_tiles * N * N);
  test_fill(&g, target, N * N, -0.3f, 0.3f);
  for (int s = 0; s < samples / B; ++s) {
    test_fill(&g, x, B * N, -1, 1);
    CK(aimc_tiles_mvm_ex(t, AIMC_FORWARD, x, 0, y, B));
    for (int k = 0; k < n_tiles; ++k)
      for (int b = 0; b < B; ++b)
        for (int i = 0; i < N; ++i) {
          float want = 0;
          for (int j = 0; j < N; ++j) want += target[i * N + j] * x[b * N + j];
          d[(k * B + b) * N + i] = y[(k * B + b) * N + i] - want;
        }
    CK(aimc_tiles_update_ex(t, x, 0, d, B * N, B));
  }
  CK(aimc_tiles_get_weights(t, w));
  for (int k = 0; k < n_tiles; ++k) {
    double se = 0;
    for (int q = 0; q < N * N; ++q) se += pow(w[k * N * N + q] - target[q], 2);
    err[k] = sqrt(se / (N * N));
  }
  free(y), free(d), free(w);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

static void mean_sd(const double *v, int n, double *mean, double *sd) {
  double s = 0, s2 = 0;
  for (int k = 0; k < n; ++k) s += v[k], s2 += v[k] * v[k];
  *mean = s / n;
  *sd = sqrt(fmax(s2 / n - *mean * *mean, 0) * n / (n - 1));
}

/* 20 states, reference offsets of std 0.5: chopped TTv2 and AGAD end at
 * least 2x closer to the target than TTv2 (the paper's central result;
 * observed here about 11x). */
Test(programming, chopped_and_agad_beat_ttv2, .timeout = 300) {
  enum { T = 8, S = 20000 };
  double e[3][T], m[3], sd[3];
  aimc_algorithm_t kinds[3] = {AIMC_ALGO_TTV2, AIMC_ALGO_CHOPPED_TTV2, AIMC_ALGO_AGAD};
  for (int q = 0; q < 3; ++q) {
    program_errors(kinds[q], 0.5f, 20, T, S, e[q]);
    mean_sd(e[q], T, &m[q], &sd[q]);
  }
  cr_assert_lt(2 * m[1], m[0], "chopped TTv2 %.4f vs TTv2 %.4f", m[1], m[0]);
  cr_assert_lt(2 * m[2], m[0], "AGAD %.4f vs TTv2 %.4f", m[2], m[0]);
}

/* AGAD's error does not depend on the reference offsets: the mean errors at
 * reference_std 0 and 1 differ by less than 4 standard errors of their
 * difference (sd / sqrt(T) from the tile spread). The same criterion must
 * reject TTv2, whose error depends strongly on them. */
Test(programming, agad_ignores_reference_offsets, .timeout = 300) {
  enum { T = 16, S = 20000 };
  double a0[T], a1[T], t0[T], t1[T], m0, m1, s0, s1, n0, n1, u0, u1;
  program_errors(AIMC_ALGO_AGAD, 0.0f, 20, T, S, a0);
  program_errors(AIMC_ALGO_AGAD, 1.0f, 20, T, S, a1);
  mean_sd(a0, T, &m0, &s0);
  mean_sd(a1, T, &m1, &s1);
  double se = sqrt((s0 * s0 + s1 * s1) / T);
  cr_assert_lt(fabs(m1 - m0), 4 * se, "AGAD %.4f (std 0) vs %.4f (std 1), SE %.4f", m0, m1, se);
  program_errors(AIMC_ALGO_TTV2, 0.0f, 20, T, S, t0);
  program_errors(AIMC_ALGO_TTV2, 1.0f, 20, T, S, t1);
  mean_sd(t0, T, &n0, &u0);
  mean_sd(t1, T, &n1, &u1);
  double se_t = sqrt((u0 * u0 + u1 * u1) / T);
  cr_assert_gt(fabs(n1 - n0), 4 * se_t, "TTv2 %.4f vs %.4f should differ", n0, n1);
}

/* Analog SGD on an asymmetric device is biased toward its symmetry point:
 * under zero-mean random updates an ideal device would not move on average,
 * but soft bounds with up/down asymmetry pull each weight to the point where
 * its up and down steps are equal, sp = (s_up - s_dn) / (s_up/b_max -
 * s_dn/b_min). Observed (1000 steps, up_down 0.3, this seed): correlation
 * of w with sp 0.87, mean |w - sp| 0.08 against mean |sp| 0.21; the bounds
 * below leave room for the random walk around sp (a few steps of 0.01). */
Test(programming, sgd_settles_at_symmetry_points) {
  enum { T = 4, N = 16, B = 8, S = 1000, NW_ALL = T * N * N };
  aimc_context_t *ctx = test_context(2, 3);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = T, td.rows = N, td.cols = N;
  aimc_device_desc_t *dv = &td.config.device;
  aimc_device_desc_default(dv, AIMC_DEVICE_SOFT_BOUNDS);
  dv->dw_min = 0.01f, dv->w_max = 1.0f, dv->w_min = -1.0f, dv->up_down = 0.3f;
  dv->up_down_dtod = 0.1f;
  td.config.update.learning_rate = 0.05f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t g = {3};
  float x[B * N], d[T * B * N];
  for (int s = 0; s < S; ++s) {
    test_fill(&g, x, B * N, -1, 1);
    test_fill(&g, d, T * B * N, -1, 1);
    CK(aimc_tiles_update_ex(t, x, 0, d, B * N, B));
  }
  static float w[NW_ALL], su[NW_ALL], sd[NW_ALL], hi[NW_ALL], lo[NW_ALL];
  CK(aimc_tiles_get_weights(t, w));
  CK(aimc_tiles_get_device_param(t, AIMC_PARAM_STEP_UP, su));
  CK(aimc_tiles_get_device_param(t, AIMC_PARAM_STEP_DOWN, sd));
  CK(aimc_tiles_get_device_param(t, AIMC_PARAM_MAX_BOUND, hi));
  CK(aimc_tiles_get_device_param(t, AIMC_PARAM_MIN_BOUND, lo));
  double s_sp = 0, s_err = 0, sxy = 0, sx = 0, sy = 0, sxx = 0, syy = 0;
  for (int k = 0; k < NW_ALL; ++k) {
    double sp = (su[k] - sd[k]) / (su[k] / hi[k] - sd[k] / lo[k]);
    s_sp += fabs(sp), s_err += fabs(w[k] - sp);
    sxy += w[k] * sp, sx += w[k], sy += sp, sxx += (double)w[k] * w[k], syy += sp * sp;
  }
  double n = NW_ALL, r = (sxy / n - sx / n * sy / n) /
                         sqrt((sxx / n - sx * sx / n / n) * (syy / n - sy * sy / n / n));
  cr_assert_gt(r, 0.7, "correlation of weights with symmetry points %.3f", r);
  cr_assert_lt(s_err, 0.5 * s_sp, "mean |w - sp| %.3f, mean |sp| %.3f", s_err / n, s_sp / n);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}
