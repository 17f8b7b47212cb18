/* PANTHER (bit-sliced weights with deferred carries): descriptor defaults
 * and slice bounds, the canonical digits a write stores, exact
 * accumulation of the quantised outer product until a slice saturates,
 * saturation, carry resolution (canonical digits, value kept) and its
 * schedule, signs, quantisation of x and lr d, a long run against an
 * independent model, and thread independence. */
#include "common.h"

/* The default fixed point: weight_step 2^-12, input_step 2^-8, so lr d is
 * counted in units of weight_step / input_step = 1/16. */
#define WS 0x1.0p-12f
#define IS 0x1.0p-8f
#define DU 0.0625f /* one unit of lr d */
#define MAXS AIMC_MAX_SLICES

/* Ideal devices with a step of one level: a pulse moves a cell by exactly 1
 * inside [0, 2^bits - 1]. No carry resolution unless a test asks for it. */
static void panther_config(aimc_tile_config_t *cfg) {
  aimc_tile_config_default(cfg);
  aimc_device_desc_default(&cfg->device, AIMC_DEVICE_CONSTANT_STEP);
  test_ideal_device(&cfg->device);
  cfg->device.dw_min = 1.0f;
  CK(aimc_algorithm_desc_default(&cfg->algorithm, AIMC_ALGO_PANTHER));
  cfg->algorithm.crs_every = 1 << 30;
  cfg->update.learning_rate = 1.0f;
}

static aimc_tiles_desc_t panther_desc(int64_t n_tiles, int rows, int cols) {
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = n_tiles;
  td.rows = rows;
  td.cols = cols;
  panther_config(&td.config);
  return td;
}

/* Levels of every slice: lev[m * nw + k] for array m, weight k. */
static void get_levels(aimc_tiles_t *t, int n, size_t nw, float *lev) {
  for (int m = 0; m < n; ++m)
    CK(aimc_tiles_get_device_param_ex(t, m, AIMC_PARAM_VISIBLE_WEIGHT, lev + (size_t)m * nw));
}

static int64_t place(int m, int n) { return (int64_t)1 << (2 * (n - 1 - m)); }
static int offset(int bits) { return 1 << (bits - 1); }

/* ---- Independent model ---------------------------------------------------------- */

typedef struct pa_ref {
  int n, bits[MAXS], crs_every;
  int64_t n_tiles;
  int rows, cols;
  size_t nw;
  float lr;
  int32_t *lev;      /* [m][nw] */
  uint64_t samples;  /* since the last write */
  uint64_t up, down; /* pulses of tile 0 */
  int saturated;     /* some increment was cut at a bound */
} pa_ref_t;

/* Balanced base-4 digits {-2, -1, 0, 1} of v, clamped to what n digits
 * represent, as levels (offset + digit), most significant first. */
static void encode(const pa_ref_t *r, int64_t v, int32_t *lev, size_t stride) {
  int64_t top = 0;
  for (int p = 0; p < r->n; ++p) top = 4 * top + 1; /* 11...1 in base 4 */
  v = v > top ? top : v < -2 * top ? -2 * top : v;
  for (int p = 0; p < r->n; ++p) { /* p = 0: least significant */
    int64_t digit = ((v % 4) + 4) % 4;
    if (digit >= 2) digit -= 4;
    v = (v - digit) / 4;
    int m = r->n - 1 - p;
    lev[(size_t)m * stride] = offset(r->bits[m]) + (int32_t)digit;
  }
}

static int64_t value(const pa_ref_t *r, size_t k) {
  int64_t v = 0;
  for (int m = 0; m < r->n; ++m)
    v += place(m, r->n) * (r->lev[(size_t)m * r->nw + k] - offset(r->bits[m]));
  return v;
}

static void ref_init(pa_ref_t *r, const aimc_tiles_desc_t *td, const float *w0) {
  memset(r, 0, sizeof *r);
  const aimc_algorithm_desc_t *a = &td->config.algorithm;
  r->n = a->n_slices;
  for (int m = 0; m < r->n; ++m) r->bits[m] = a->slice_bits[m];
  r->crs_every = a->crs_every;
  r->n_tiles = td->n_tiles;
  r->rows = td->rows;
  r->cols = td->cols;
  r->nw = (size_t)td->n_tiles * (size_t)(td->rows * td->cols);
  r->lr = td->config.update.learning_rate;
  r->lev = calloc(r->nw * (size_t)r->n, sizeof *r->lev);
  cr_assert_not_null(r->lev);
  for (size_t k = 0; k < r->nw; ++k) encode(r, (int64_t)rintf(w0[k] / WS), r->lev + k, r->nw);
}

static void ref_free(pa_ref_t *r) { free(r->lev); }

/* Increment of the slice at position p for |x| = xq, |lr d| = dq (units):
 * digit p of dq 2^j for every set bit j of xq, the top slice taking all
 * higher digits. */
static uint32_t increment(const pa_ref_t *r, uint32_t xq, uint32_t dq, int p) {
  uint64_t inc = 0;
  for (int j = 0; j < 16; ++j) {
    if (!(xq & (1u << j))) continue;
    uint64_t v = ((uint64_t)dq << j) >> (2 * p);
    inc += p == r->n - 1 ? v : v % 4;
  }
  return (uint32_t)inc;
}

/* One call. lr d must be a whole number of units (so the stochastic
 * rounding is exact); the model asserts it. */
static void ref_update(pa_ref_t *r, const float *x, const float *d, int batch) {
  int R = r->rows, C = r->cols;
  for (int b = 0; b < batch; ++b) {
    r->samples++;
    for (int64_t t = 0; t < r->n_tiles; ++t)
      for (int i = 0; i < R; ++i)
        for (int j = 0; j < C; ++j) {
          float xv = x[(t * batch + b) * C + j], dv = d[(t * batch + b) * R + i];
          float qd = fabsf(r->lr * dv) / DU;
          cr_assert_eq(qd, floorf(qd), "test data: lr d = %g is not whole units", r->lr * dv);
          uint32_t xq = (uint32_t)fminf(rintf(fabsf(xv) / IS), 32767.0f), dq = (uint32_t)qd;
          size_t k = (size_t)((t * R + i) * C + j);
          int up = (xv < 0.0f) != (dv < 0.0f);
          for (int p = 0; p < r->n && xq && dq; ++p) {
            int m = r->n - 1 - p, hi = (1 << r->bits[m]) - 1;
            int64_t inc = increment(r, xq, dq, p);
            int64_t l = r->lev[(size_t)m * r->nw + k] + (up ? inc : -inc);
            if (l < 0 || l > hi) r->saturated = 1;
            r->lev[(size_t)m * r->nw + k] = (int32_t)(l < 0 ? 0 : l > hi ? hi : l);
            if (t == 0) *(up ? &r->up : &r->down) += (uint64_t)inc;
          }
          if (r->samples % (uint64_t)r->crs_every == 0) encode(r, value(r, k), r->lev + k, r->nw);
        }
  }
}

/* Library levels and weights equal the model's. */
static void expect_ref(aimc_tiles_t *t, const pa_ref_t *r, const char *what) {
  float *lev = test_alloc(r->nw * (size_t)r->n), *w = test_alloc(r->nw);
  get_levels(t, r->n, r->nw, lev);
  CK(aimc_tiles_get_weights(t, w));
  for (size_t k = 0; k < r->nw; ++k) {
    for (int m = 0; m < r->n; ++m)
      cr_assert_eq(lev[(size_t)m * r->nw + k], (float)r->lev[(size_t)m * r->nw + k],
                   "%s: weight %zu slice %d level %g, expected %d", what, k, m,
                   lev[(size_t)m * r->nw + k], r->lev[(size_t)m * r->nw + k]);
    cr_assert_eq(w[k], (float)value(r, k) * WS, "%s: W[%zu] = %.9g, expected %.9g", what, k,
                 w[k], (float)value(r, k) * WS);
  }
  free(lev), free(w);
}

/* Whether all digits (level - offset) of weight k are canonical. */
static int canonical(const pa_ref_t *r, const float *lev, size_t k) {
  for (int m = 0; m < r->n; ++m) {
    float digit = lev[(size_t)m * r->nw + k] - (float)offset(r->bits[m]);
    if (digit < -2.0f || digit > 1.0f) return 0;
  }
  return 1;
}

/* Whole-unit test data: x = kx IS and lr d = kd DU with |kx|, |kd| <= span. */
static void dyadic(test_rng_t *rng, float *v, size_t n, int span, float unit) {
  for (size_t k = 0; k < n; ++k)
    v[k] = unit * (float)((int)(test_next(rng) % (uint64_t)(2 * span + 1)) - span);
}

static void random_steps(test_rng_t *rng, float *w, size_t n, int span) {
  dyadic(rng, w, n, span, WS);
}

/* ---- Defaults ------------------------------------------------------------------- */

Test(defaults, descriptor_values_and_slice_bounds) {
  aimc_algorithm_desc_t a;
  CK(aimc_algorithm_desc_default(&a, AIMC_ALGO_PANTHER));
  const int32_t bits[8] = {4, 4, 4, 6, 6, 5, 5, 5};
  cr_assert_eq(a.kind, AIMC_ALGO_PANTHER);
  cr_assert_eq(a.n_slices, 8);
  for (int m = 0; m < 8; ++m) cr_assert_eq(a.slice_bits[m], bits[m], "slice %d", m);
  cr_assert_eq(a.crs_every, 64);
  cr_assert_eq(a.weight_step, 0x1.0p-12f);
  cr_assert_eq(a.input_step, 0x1.0p-8f);
  /* a tile holds one array per slice, each bounded to its cell levels */
  aimc_context_t *ctx = test_context(1, 1);
  aimc_tiles_desc_t td = panther_desc(2, 2, 3);
  aimc_tiles_t *t = test_tiles(ctx, &td);
  int32_t n_arrays = 0;
  CK(aimc_tiles_n_arrays(t, &n_arrays));
  cr_assert_eq(n_arrays, 8);
  float lo[12], hi[12], lev[12];
  for (int m = 0; m < 8; ++m) {
    CK(aimc_tiles_get_device_param_ex(t, m, AIMC_PARAM_MIN_BOUND, lo));
    CK(aimc_tiles_get_device_param_ex(t, m, AIMC_PARAM_MAX_BOUND, hi));
    CK(aimc_tiles_get_device_param_ex(t, m, AIMC_PARAM_VISIBLE_WEIGHT, lev));
    for (int k = 0; k < 12; ++k) {
      cr_assert_eq(lo[k], 0.0f, "slice %d min bound %g", m, lo[k]);
      cr_assert_eq(hi[k], (float)((1 << bits[m]) - 1), "slice %d max bound %g", m, hi[k]);
      cr_assert_eq(lev[k], (float)(1 << (bits[m] - 1)), "slice %d: W = 0 is digit 0", m);
    }
  }
  aimc_tiles_destroy(t);
  /* a custom slice count gives that many arrays */
  td.config.algorithm.n_slices = 3;
  t = test_tiles(ctx, &td);
  CK(aimc_tiles_n_arrays(t, &n_arrays));
  cr_assert_eq(n_arrays, 3);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- Encoding ------------------------------------------------------------------- */

/* Every written weight is stored as digits (level - offset) in {-2,...,1}
 * whose place-value sum is rint(w / weight_step), clamped to
 * [-2 (4^n - 1)/3, (4^n - 1)/3]; the digits of a value are unique, so this
 * pins down every level. Reads see the encoded value. set_weights and
 * program_weights store the same levels. */
static void check_encoding(int n, const int32_t *bits, const double *steps, const int64_t *want,
                           int count) {
  aimc_context_t *ctx = test_context(1, 2);
  aimc_tiles_desc_t td = panther_desc(1, 1, count);
  td.config.algorithm.n_slices = n;
  for (int m = 0; m < n; ++m) td.config.algorithm.slice_bits[m] = bits[m];
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float *w0 = test_alloc((size_t)count), *w = test_alloc((size_t)count);
  float *lev = test_alloc((size_t)(n * count)), *lev2 = test_alloc((size_t)(n * count));
  for (int k = 0; k < count; ++k) w0[k] = (float)(steps[k] * (double)WS);
  for (int mode = 0; mode < 2; ++mode) {
    CK(mode ? aimc_tiles_program_weights(t, w0) : aimc_tiles_set_weights(t, w0));
    get_levels(t, n, (size_t)count, mode ? lev2 : lev);
  }
  cr_assert_arr_eq(lev, lev2, sizeof(float) * (size_t)(n * count), "program = set");
  CK(aimc_tiles_get_weights(t, w));
  for (int k = 0; k < count; ++k) {
    int64_t v = 0;
    for (int m = 0; m < n; ++m) {
      float digit = lev[m * count + k] - (float)offset(bits[m]);
      cr_assert(digit == rintf(digit) && digit >= -2.0f && digit <= 1.0f,
                "w = %g steps, slice %d: level %g is not canonical", steps[k], m,
                lev[m * count + k]);
      v += place(m, n) * (int64_t)digit;
    }
    cr_assert_eq(v, want[k], "w = %g steps encodes %lld, expected %lld", steps[k], (long long)v,
                 (long long)want[k]);
    cr_assert_eq(w[k], (float)want[k] * WS, "w = %g steps reads %.9g", steps[k], w[k]);
  }
  free(w0), free(w), free(lev), free(lev2);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(encode, default_slices) {
  /* range [-43690, 21845]: 21845 = 11111111 and -43690 = -2-2-2... in base 4 */
  const double steps[] = {0,     1,      -1,     2,      -2,     3,     -3,    7,
                          -37,   1000,   -12345, 21845,  -43690, 21846, 1e6,   -43691,
                          -1e6,  2.4,    -3.6,   0.49,   -5461,  5461};
  const int64_t want[] = {0,     1,      -1,     2,      -2,     3,     -3,    7,
                          -37,   1000,   -12345, 21845,  -43690, 21845, 21845, -43690,
                          -43690, 2,     -4,     0,      -5461,  5461};
  const int32_t bits[8] = {4, 4, 4, 6, 6, 5, 5, 5};
  check_encoding(8, bits, steps, want, (int)(sizeof want / sizeof want[0]));
}

/* Three slices of 2, 3 and 4 bits: range [-42, 21]; a 2-bit cell holds
 * exactly the four digits. */
Test(encode, small_slices) {
  const double steps[] = {0, 21, 22, -42, -43, 13, -17, -1, 6};
  const int64_t want[] = {0, 21, 21, -42, -42, 13, -17, -1, 6};
  const int32_t bits[3] = {2, 3, 4};
  check_encoding(3, bits, steps, want, (int)(sizeof want / sizeof want[0]));
}

/* ---- Accumulation --------------------------------------------------------------- */

/* Small whole-unit samples (|x| <= 3 IS, |lr d| <= 3 DU) from random
 * weights: no cell reaches a bound, so W = W0 - sum lr d x^T exactly (all
 * dyadic, far below 2^24 steps), and every slice level is the model's. */
Test(accumulate, exact_until_saturation) {
  enum { T = 2, R = 4, C = 5, B = 2, CALLS = 3 };
  aimc_context_t *ctx = test_context(2, 3);
  aimc_tiles_desc_t td = panther_desc(T, R, C);
  td.config.update.learning_rate = 0.5f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t rng = {31};
  float w0[T * R * C], want[T * R * C], w[T * R * C], x[T * B * C], d[T * B * R];
  random_steps(&rng, w0, T * R * C, 3000);
  CK(aimc_tiles_set_weights(t, w0));
  memcpy(want, w0, sizeof w0);
  pa_ref_t ref;
  ref_init(&ref, &td, w0);
  expect_ref(t, &ref, "written");
  for (int c = 0; c < CALLS; ++c) {
    dyadic(&rng, x, T * B * C, 3, IS);
    dyadic(&rng, d, T * B * R, 3, 2.0f * DU); /* lr = 0.5 */
    CK(aimc_tiles_update(t, x, d, B));
    ref_update(&ref, x, d, B);
    for (int k = 0; k < T; ++k)
      for (int b = 0; b < B; ++b)
        for (int i = 0; i < R; ++i)
          for (int j = 0; j < C; ++j)
            want[(k * R + i) * C + j] -= 0.5f * d[(k * B + b) * R + i] * x[(k * B + b) * C + j];
    CK(aimc_tiles_get_weights(t, w));
    for (int k = 0; k < T * R * C; ++k)
      cr_assert_eq(w[k], want[k], "call %d W[%d] = %.9g, W0 - sum lr d x = %.9g", c, k, w[k],
                   want[k]);
    expect_ref(t, &ref, "accumulating");
  }
  cr_assert_not(ref.saturated, "test data: no cell may reach a bound here");
  /* no level sits on a bound, in the library either */
  float lev[MAXS * T * R * C];
  get_levels(t, ref.n, ref.nw, lev);
  for (int m = 0; m < ref.n; ++m)
    for (size_t k = 0; k < ref.nw; ++k) {
      float l = lev[(size_t)m * ref.nw + k];
      cr_assert(l > 0.0f && l < (float)((1 << ref.bits[m]) - 1), "slice %d at a bound", m);
    }
  int changed = 0;
  for (int k = 0; k < T * R * C; ++k) changed += w[k] != w0[k];
  cr_assert_gt(changed, T * R * C / 2);
  aimc_tile_stats_t st[T];
  CK(aimc_tiles_get_stats(t, st));
  cr_assert_eq(st[0].pulses_up, ref.up);
  cr_assert_eq(st[0].pulses_down, ref.down);
  cr_assert_eq(st[0].transfers, 0u);
  ref_free(&ref);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* Two samples of |x| = 255 IS and |lr d| = 15 DU give the low slices more
 * increments than a cell holds: weight 0 (going up) pins some cell at
 * 2^bits - 1, weight 1 (going down) some cell at 0, and W is no longer
 * W0 - lr d x^T; the levels still follow the clipping model. */
Test(accumulate, saturation_detected) {
  aimc_context_t *ctx = test_context(1, 4);
  aimc_tiles_desc_t td = panther_desc(1, 1, 2);
  aimc_tiles_t *t = test_tiles(ctx, &td);
  const float x[4] = {255 * IS, -255 * IS, 255 * IS, -255 * IS};
  const float d[2] = {-15 * DU, -15 * DU}, w0[2] = {0.0f, 0.0f};
  CK(aimc_tiles_set_weights(t, w0));
  pa_ref_t ref;
  ref_init(&ref, &td, w0);
  CK(aimc_tiles_update(t, x, d, 2));
  ref_update(&ref, x, d, 2);
  expect_ref(t, &ref, "saturating");
  cr_assert(ref.saturated);
  float w[2], lev[MAXS * 2];
  CK(aimc_tiles_get_weights(t, w));
  get_levels(t, ref.n, 2, lev);
  const float exact = 2.0f * 255.0f * 15.0f * WS;
  cr_assert_neq(w[0], exact, "weight 0 saturated: %.9g", w[0]);
  cr_assert_neq(w[1], -exact, "weight 1 saturated: %.9g", w[1]);
  cr_assert_lt(w[0], exact, "a saturated climb falls short");
  cr_assert_gt(w[1], -exact);
  int at_top = 0, at_bottom = 0;
  for (int m = 0; m < ref.n; ++m) {
    at_top += lev[m * 2 + 0] == (float)((1 << ref.bits[m]) - 1);
    at_bottom += lev[m * 2 + 1] == 0.0f;
  }
  cr_assert_gt(at_top, 0);
  cr_assert_gt(at_bottom, 0);
  ref_free(&ref);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* The most significant slice takes every digit above its position, not
 * just one base-4 digit: lr d = -5 units with x = 64 (bit 14), 96 (bits
 * 13, 14) and 127 (bits 8..14) give the top cell 5, 2 + 5 = 7 and
 * 1 + 2 + 5 = 8 increments: 8 + 7 = 15 just fits a 4-bit cell, 8 + 8
 * saturates. W = 5 xq steps for the first two, beyond the canonical range
 * (non-canonical digits hold it until a carry resolution clamps it). */
Test(accumulate, top_slice_takes_the_high_digits) {
  aimc_context_t *ctx = test_context(1, 11);
  aimc_tiles_desc_t td = panther_desc(1, 1, 3);
  aimc_tiles_t *t = test_tiles(ctx, &td);
  const float x[3] = {64.0f, 96.0f, 127.0f}, d[1] = {-5 * DU}, w0[3] = {0, 0, 0};
  pa_ref_t ref;
  ref_init(&ref, &td, w0);
  CK(aimc_tiles_update(t, x, d, 1));
  ref_update(&ref, x, d, 1);
  expect_ref(t, &ref, "top slice");
  float w[3], top[3];
  CK(aimc_tiles_get_weights(t, w));
  CK(aimc_tiles_get_device_param_ex(t, 0, AIMC_PARAM_VISIBLE_WEIGHT, top));
  cr_assert_eq(w[0], 5.0f * 16384 * WS, "W[0] = %.9g", w[0]);
  cr_assert_eq(w[1], 5.0f * 24576 * WS, "W[1] = %.9g", w[1]);
  cr_assert_eq(top[0], 13.0f);
  cr_assert_eq(top[1], 15.0f);
  cr_assert_eq(top[2], 15.0f, "saturated");
  cr_assert_lt(w[2], 5.0f * 32512 * WS);
  ref_free(&ref);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- Carry resolution ----------------------------------------------------------- */

/* crs_every = 2: after one sample some digits have left {-2,...,1}; the
 * second sample triggers carry resolution, which leaves only canonical
 * digits and keeps W = W0 - sum lr d x^T exactly. */
Test(crs, restores_canonical_digits_and_keeps_the_value) {
  enum { R = 3, C = 4 };
  aimc_context_t *ctx = test_context(1, 5);
  aimc_tiles_desc_t td = panther_desc(1, R, C);
  td.config.algorithm.crs_every = 2;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t rng = {51};
  float w0[R * C], want[R * C], w[R * C], x[C], d[R], lev[MAXS * R * C];
  random_steps(&rng, w0, R * C, 5000);
  CK(aimc_tiles_set_weights(t, w0));
  memcpy(want, w0, sizeof w0);
  pa_ref_t ref;
  ref_init(&ref, &td, w0);
  for (int s = 0; s < 2; ++s) {
    dyadic(&rng, x, C, 7, IS);
    dyadic(&rng, d, R, 7, DU);
    x[0] = 5 * IS, d[0] = -6 * DU; /* weight (0, 0): 3 increments up at position 1 */
    CK(aimc_tiles_update(t, x, d, 1));
    ref_update(&ref, x, d, 1);
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < C; ++j) want[i * C + j] -= d[i] * x[j];
    get_levels(t, ref.n, ref.nw, lev);
    int n_canonical = 0;
    for (size_t k = 0; k < ref.nw; ++k) n_canonical += canonical(&ref, lev, k);
    if (s == 0)
      cr_assert_lt(n_canonical, R * C, "one sample leaves non-canonical digits");
    else
      cr_assert_eq(n_canonical, R * C, "carry resolution makes every digit canonical");
  }
  cr_assert_not(ref.saturated);
  CK(aimc_tiles_get_weights(t, w));
  for (int k = 0; k < R * C; ++k)
    cr_assert_eq(w[k], want[k], "W[%d] = %.9g, expected %.9g", k, w[k], want[k]);
  expect_ref(t, &ref, "resolved");
  aimc_tile_stats_t st;
  CK(aimc_tiles_get_stats(t, &st));
  cr_assert_eq(st.transfers, 1u, "one carry resolution of the tile");
  cr_assert_eq(st.digital_ops, (uint64_t)R * C * 8, "each weight reads its 8 slices");
  ref_free(&ref);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* Carry resolution runs after every crs_every-th sample since the last
 * write, counted across calls: crs_every 3 and 4 with batches 2, 2, 5, 1
 * (samples 2, 4, 9, 10) give 0, 1, 3, 3 and 0, 1, 2, 2 events; after a
 * write batches 2, 1 add 0, 1 and 0, 0. stats.transfers counts events per
 * tile, digital_ops one read per slice and weight per event. */
Test(crs, schedule_counts_samples_since_the_write) {
  enum { T = 2, R = 2, C = 3 };
  aimc_context_t *ctx = test_context(2, 6);
  aimc_tile_config_t cfg[T];
  panther_config(&cfg[0]);
  panther_config(&cfg[1]);
  cfg[0].algorithm.crs_every = 3;
  cfg[1].algorithm.crs_every = 4;
  aimc_tiles_desc_t td = panther_desc(T, R, C);
  td.per_tile = cfg;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  const int batches[6] = {2, 2, 5, 1, 2, 1};
  const uint64_t events[T][6] = {{0, 1, 3, 3, 3, 4}, {0, 1, 2, 2, 2, 2}};
  float x[5 * C], d[5 * R], w0[T * R * C];
  for (int k = 0; k < 5 * C; ++k) x[k] = (float)(k % 3 + 1) * IS;
  for (int k = 0; k < 5 * R; ++k) d[k] = (k % 2 ? -1.0f : 1.0f) * DU;
  memset(w0, 0, sizeof w0);
  for (int c = 0; c < 6; ++c) {
    if (c == 4) CK(aimc_tiles_set_weights(t, w0));
    CK(aimc_tiles_update_ex(t, x, 0, d, 0, batches[c]));
    aimc_tile_stats_t st[T];
    CK(aimc_tiles_get_stats(t, st));
    for (int k = 0; k < T; ++k) {
      cr_assert_eq(st[k].transfers, events[k][c], "tile %d call %d: %llu events", k, c,
                   (unsigned long long)st[k].transfers);
      cr_assert_eq(st[k].digital_ops, events[k][c] * R * C * 8);
    }
  }
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* A long run with carry resolution every 5 samples and large enough
 * samples that cells saturate now and then, against the model, levels and
 * weights bit for bit after every call. */
Test(crs, long_run_matches_the_model) {
  enum { T = 3, R = 4, C = 4, B = 3, CALLS = 12 };
  aimc_context_t *ctx = test_context(2, 7);
  aimc_tiles_desc_t td = panther_desc(T, R, C);
  td.config.algorithm.crs_every = 5;
  td.config.update.learning_rate = 0.25f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  test_rng_t rng = {71};
  float w0[T * R * C], x[T * B * C], d[T * B * R];
  random_steps(&rng, w0, T * R * C, 20000);
  CK(aimc_tiles_set_weights(t, w0));
  pa_ref_t ref;
  ref_init(&ref, &td, w0);
  for (int c = 0; c < CALLS; ++c) {
    dyadic(&rng, x, T * B * C, 127, IS);
    dyadic(&rng, d, T * B * R, 15, 4.0f * DU); /* lr = 0.25 */
    CK(aimc_tiles_update(t, x, d, B));
    ref_update(&ref, x, d, B);
    expect_ref(t, &ref, "long run");
  }
  cr_assert(ref.saturated, "test data: some cell saturated");
  aimc_tile_stats_t st[T];
  CK(aimc_tiles_get_stats(t, st));
  cr_assert_eq(st[0].pulses_up, ref.up);
  cr_assert_eq(st[0].pulses_down, ref.down);
  for (int k = 0; k < T; ++k) cr_assert_eq(st[k].transfers, (uint64_t)(CALLS * B / 5));
  ref_free(&ref);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- Signs and quantisation ---------------------------------------------------------- */

/* x = (3, -3, 0) IS, lr d = (5, -5) DU: W_ij = -lr d_i x_j = -+15 steps.
 * xq = 3 and dq = 5 put 3 increments on each of the two lowest slices
 * (5 + 10 = 3 + 3 * 4), up where x and d differ in sign. Zero x moves
 * nothing. */
Test(signs, four_combinations) {
  enum { R = 2, C = 3 };
  aimc_context_t *ctx = test_context(1, 8);
  aimc_tiles_desc_t td = panther_desc(1, R, C);
  td.config.update.learning_rate = 0.5f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  const float x[C] = {3 * IS, -3 * IS, 0.0f}, d[R] = {10 * DU, -10 * DU};
  float w[R * C], lev[MAXS * R * C];
  CK(aimc_tiles_update(t, x, d, 1));
  CK(aimc_tiles_get_weights(t, w));
  const float want[R * C] = {-15 * WS, 15 * WS, 0.0f, 15 * WS, -15 * WS, 0.0f};
  for (int k = 0; k < R * C; ++k) cr_assert_eq(w[k], want[k], "W[%d] = %.9g", k, w[k]);
  get_levels(t, 8, R * C, lev);
  const int bits[8] = {4, 4, 4, 6, 6, 5, 5, 5};
  for (int k = 0; k < R * C; ++k)
    for (int m = 0; m < 8; ++m) {
      float digit = lev[m * R * C + k] - (float)offset(bits[m]);
      float inc = m >= 6 ? 3.0f : 0.0f, sign = want[k] > 0 ? 1.0f : want[k] < 0 ? -1.0f : 0.0f;
      cr_assert_eq(digit, sign * inc, "weight %d slice %d digit %g", k, m, digit);
    }
  aimc_tile_stats_t st;
  CK(aimc_tiles_get_stats(t, &st));
  cr_assert_eq(st.pulses_up, 12u, "two weights up, 6 pulses each");
  cr_assert_eq(st.pulses_down, 12u);
  cr_assert_eq(st.array_pulses[7], 12u);
  cr_assert_eq(st.array_pulses[6], 12u);
  cr_assert_eq(st.array_pulses[5], 0u);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* |x| is rounded to the nearest multiple of input_step and capped at
 * 32767: 2.4 -> 2, 2.6 -> 3, 0.4 -> 0, 200 / IS = 51200 -> 32767 (held as
 * non-canonical digits 3 in the low slices, no saturation). With lr d = -1
 * unit, W = xq steps. */
Test(quantise, input_rounding_and_cap) {
  aimc_context_t *ctx = test_context(1, 9);
  aimc_tiles_desc_t td = panther_desc(1, 1, 4);
  aimc_tiles_t *t = test_tiles(ctx, &td);
  const float x[4] = {2.4f * IS, -2.6f * IS, 0.4f * IS, 200.0f}, d[1] = {-DU};
  float w[4];
  CK(aimc_tiles_update(t, x, d, 1));
  CK(aimc_tiles_get_weights(t, w));
  const float want[4] = {2 * WS, -3 * WS, 0.0f, 32767 * WS};
  for (int k = 0; k < 4; ++k) cr_assert_eq(w[k], want[k], "W[%d] = %.9g", k, w[k]);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* lr d of 0.3 and 2.7 units rounds stochastically to floor or ceil with
 * P(ceil) = the fraction, so over N = 4096 tiles (independent streams)
 * the mean of W / step (x = 1 input step) is within 5 SE of the value,
 * SE = sqrt(f (1 - f) / N) = 0.0072 for f = 0.3 and 0.7; each draw is one
 * of the two neighbours. */
Test(quantise, delta_rounding_is_unbiased) {
  enum { T = 4096 };
  aimc_context_t *ctx = test_context(2, 10);
  aimc_tiles_desc_t td = panther_desc(T, 2, 1);
  aimc_tiles_t *t = test_tiles(ctx, &td);
  const float x[1] = {IS}, d[2] = {-0.3f * DU, -2.7f * DU}, v[2] = {0.3f, 2.7f};
  float *w = test_alloc(2 * T);
  CK(aimc_tiles_update_ex(t, x, 0, d, 0, 1));
  CK(aimc_tiles_get_weights(t, w));
  for (int i = 0; i < 2; ++i) {
    double sum = 0.0;
    for (int k = 0; k < T; ++k) {
      float q = w[2 * k + i] / WS;
      cr_assert(q == floorf(v[i]) || q == floorf(v[i]) + 1.0f, "tile %d: %g units", k, q);
      sum += q;
    }
    double f = v[i] - floor(v[i]), se = sqrt(f * (1.0 - f) / T);
    cr_assert_leq(fabs(sum / T - v[i]), 5.0 * se, "mean %.4f for %g units (SE %.4f)", sum / T,
                  v[i], se);
  }
  free(w);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- Threads -------------------------------------------------------------------- */

enum { TT = 4, TR = 5, TC = 6, TB = 4 };

typedef struct pa_record {
  float w[TT * TR * TC], lev[MAXS * TT * TR * TC];
  aimc_tile_stats_t stats[TT];
} pa_record_t;

/* Device spreads and cycle noise on, random (stochastically rounded) lr d,
 * carry resolution inside the calls. */
static void run_threads(int threads, pa_record_t *rec) {
  memset(rec, 0, sizeof *rec);
  aimc_context_t *ctx = test_context(threads, 321);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = TT, td.rows = TR, td.cols = TC;
  aimc_tile_config_default(&td.config);
  td.config.device.dw_min = 1.0f;
  td.config.device.dw_min_std = 0.2f;
  td.config.device.w_max_dtod = 0.0f; /* slice bounds stay whole levels */
  td.config.device.w_min_dtod = 0.0f;
  CK(aimc_algorithm_desc_default(&td.config.algorithm, AIMC_ALGO_PANTHER));
  td.config.algorithm.crs_every = 3;
  td.config.update.learning_rate = 0.1f;
  aimc_tiles_t *t = test_tiles(ctx, &td);
  static float w0[TT * TR * TC], x[TT * TB * TC], d[TT * TB * TR];
  test_rng_t r = {707};
  test_fill(&r, w0, TT * TR * TC, -1.0f, 1.0f);
  CK(aimc_tiles_program_weights(t, w0));
  for (int c = 0; c < 5; ++c) {
    test_fill(&r, x, TT * TB * TC, -1.0f, 1.0f);
    test_fill(&r, d, TT * TB * TR, -1.0f, 1.0f);
    CK(aimc_tiles_update(t, x, d, TB));
  }
  CK(aimc_tiles_get_weights(t, rec->w));
  for (int m = 0; m < 8; ++m)
    CK(aimc_tiles_get_device_param_ex(t, m, AIMC_PARAM_HIDDEN_WEIGHT,
                                      rec->lev + (size_t)m * TT * TR * TC));
  CK(aimc_tiles_get_stats(t, rec->stats));
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(threads, one_and_three_threads_agree) {
  static pa_record_t a, b;
  run_threads(1, &a);
  run_threads(3, &b);
  cr_assert_arr_eq(a.w, b.w, sizeof a.w, "weights");
  cr_assert_arr_eq(a.lev, b.lev, sizeof a.lev, "slice states");
  cr_assert_arr_eq(a.stats, b.stats, sizeof a.stats, "statistics");
  cr_assert_gt(a.stats[0].pulses_up + a.stats[0].pulses_down, 0u);
  cr_assert_gt(a.stats[0].transfers, 0u);
}
