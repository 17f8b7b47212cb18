/* Device physics of every model, checked through the public API only.
 *
 * - Noise-free response curves against closed forms, or against a
 *   double-precision re-implementation of aihwkit's pulse rules written from
 *   the rules themselves (never by calling the library's kernels).
 * - Clipping at each device's own bounds.
 * - Device-to-device sampling statistics, cycle-to-cycle and write noise,
 *   decay, diffusion, reset, the presets and the update granularity.
 *
 * Deterministic pulsing: with DETERMINISTIC_IMPLICIT, no update management,
 * desired_bl = k and a huge learning rate every line probability clamps to
 * 1, so each device whose x and d are both nonzero gets exactly k pulses per
 * update call. W -= lr d x^T: x > 0 with d < 0 pulses up, d > 0 down.
 *
 * Float rounding bound of the curve checks: every pulse rounds the state once
 * (<= 1/2 ulp of the state) and its step a few times; all maps here are
 * contractions (|dh'/dh| <= 1), so errors add up at most linearly. We allow
 * 1 ulp(state) + 1e-5 |step| per pulse (the relative term covers expf/powf),
 * i.e. at most n ulp(max |bound|) after n pulses.
 *
 * Statistical checks use fixed seeds and allow N_SIGMA standard errors; the
 * expected value and the standard error are stated next to each check. */
#include <float.h>

#include "common.h"

#define N_SIGMA 5.0
#define PI_D 3.14159265358979323846
#define HUGE_LR 1.0e4f

/* ---- Small numeric helpers --------------------------------------------- */

static double clampd(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

static double maxd(double a, double b) { return a > b ? a : b; }

/* Spacing of floats at |x|. */
static double ulp_at(double x) {
  float f = fabsf((float)x);
  return (double)nextafterf(f, INFINITY) - (double)f;
}

/* Standard normal distribution function P(Z < x). */
static double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

static double normal_pdf(double x) { return exp(-0.5 * x * x) / sqrt(2.0 * PI_D); }

/* Mean and sd of |X| for X ~ N(mu, sigma^2): the absolute values that
 * enforce_consistency takes of bounds, steps and exponents. */
static double folded_mean(double mu, double sigma) {
  if (sigma == 0.0) return fabs(mu);
  return sigma * sqrt(2.0 / PI_D) * exp(-mu * mu / (2.0 * sigma * sigma)) +
         mu * erf(mu / (sigma * sqrt(2.0)));
}

static double folded_sd(double mu, double sigma) {
  double m = folded_mean(mu, sigma);
  return sqrt(maxd(mu * mu + sigma * sigma - m * m, 0.0));
}

/* ---- Statistics --------------------------------------------------------- */

typedef struct moments {
  double mean, sd;
  size_t n;
} moments_t;

static moments_t moments_of(const double *v, size_t n) {
  moments_t m = {0.0, 0.0, n};
  for (size_t i = 0; i < n; ++i) m.mean += v[i];
  m.mean /= (double)n;
  double q = 0.0;
  for (size_t i = 0; i < n; ++i) q += (v[i] - m.mean) * (v[i] - m.mean);
  m.sd = n > 1 ? sqrt(q / (double)(n - 1)) : 0.0;
  return m;
}

/* The sample mean of n draws with standard deviation sd is within N_SIGMA
 * standard errors sd / sqrt(n) of the expected mean. */
static void expect_mean(const char *what, moments_t m, double mean, double sd) {
  double se = sd / sqrt((double)m.n);
  cr_expect(fabs(m.mean - mean) <= N_SIGMA * se + 1e-12,
            "%s: mean %.9g, expected %.9g (standard error %.3g, n = %zu, %.1f sigma)", what, m.mean,
            mean, se, m.n, fabs(m.mean - mean) / se);
}

/* The sample sd has standard error sd sqrt((kurtosis - 1) / (4 n)) (delta
 * method; kurtosis 3 for normal data, 1.8 for uniform data). */
static void expect_sd(const char *what, moments_t m, double sd, double kurtosis) {
  double se = sd * sqrt((kurtosis - 1.0) / (4.0 * (double)m.n));
  cr_expect(fabs(m.sd - sd) <= N_SIGMA * se + 1e-12,
            "%s: sd %.9g, expected %.9g (standard error %.3g, n = %zu, %.1f sigma)", what, m.sd, sd,
            se, m.n, fabs(m.sd - sd) / se);
}

static void expect_normal(const char *what, const double *v, size_t n, double mean, double sd) {
  moments_t m = moments_of(v, n);
  expect_mean(what, m, mean, sd);
  expect_sd(what, m, sd, 3.0);
}

/* A count of n Bernoulli(p) trials: standard error sqrt(n p (1 - p)). */
static void expect_binomial(const char *what, size_t count, size_t n, double p) {
  double mean = (double)n * p, se = sqrt((double)n * p * (1.0 - p));
  cr_expect(fabs((double)count - mean) <= N_SIGMA * se + 0.5,
            "%s: %zu of %zu, expected %.1f (standard error %.2f)", what, count, n, mean, se);
}

/* The correlation of n independent pairs has standard error 1 / sqrt(n). */
static void expect_uncorrelated(const char *what, const double *a, const double *b, size_t n) {
  moments_t ma = moments_of(a, n), mb = moments_of(b, n);
  double c = 0.0;
  for (size_t i = 0; i < n; ++i) c += (a[i] - ma.mean) * (b[i] - mb.mean);
  double r = c / ((double)(n - 1) * ma.sd * mb.sd);
  cr_expect(fabs(r) <= N_SIGMA / sqrt((double)n), "%s: correlation %.4f, expected 0 +- %.4f", what,
            r, N_SIGMA / sqrt((double)n));
}

/* Element-wise comparison that reports the first failure and the count. */
typedef struct mismatch {
  size_t count, idx;
  double got, want, tol;
} mismatch_t;

static void note(mismatch_t *m, size_t idx, double got, double want, double tol) {
  if (fabs(got - want) <= tol) return;
  if (m->count++ == 0) {
    m->idx = idx;
    m->got = got;
    m->want = want;
    m->tol = tol;
  }
}

/* Records device idx as failing a condition (value: what it had). */
static void flag(mismatch_t *m, size_t idx, int ok, double value) {
  if (!ok && m->count++ == 0) {
    m->idx = idx;
    m->got = value;
    m->want = NAN;
    m->tol = 0.0;
  }
}

static void expect_no_mismatch(const char *what, const mismatch_t *m) {
  if (isnan(m->want))
    cr_expect_eq(m->count, 0, "%s: %zu failures; first at %zu (%.9g)", what, m->count, m->idx,
                 m->got);
  else
    cr_expect_eq(m->count, 0, "%s: %zu mismatches; first at %zu: got %.9g, want %.9g (tol %.3g)",
                 what, m->count, m->idx, m->got, m->want, m->tol);
}

static double *dalloc(size_t n) {
  double *p = calloc(n, sizeof(double));
  cr_assert_not_null(p);
  return p;
}

/* ---- Tiles -------------------------------------------------------------- */

static aimc_context_t *new_context(void) { return test_context(2, 1234); }

static void device_of(aimc_device_desc_t *d, aimc_device_model_t model) {
  CK(aimc_device_desc_default(d, model));
}

/* Update descriptor for exactly k noise-free-count pulses per call. */
static void set_pulse_update(aimc_update_desc_t *u, int32_t k) {
  u->pulse_type = AIMC_PULSE_DETERMINISTIC_IMPLICIT;
  u->desired_bl = k;
  u->fixed_bl = 1;
  u->update_management = 0;
  u->update_bl_management = 0;
  u->learning_rate = HUGE_LR;
}

/* A batch of n_tiles tiles, tile t with device devs[t], k pulses per call. */
static aimc_tiles_t *make_tiles(aimc_context_t *ctx, const aimc_device_desc_t *devs,
                                int64_t n_tiles, int32_t rows, int32_t cols, int32_t k,
                                uint64_t seed) {
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = n_tiles;
  td.rows = rows;
  td.cols = cols;
  td.seed = seed;
  aimc_tile_config_t *cfgs = calloc((size_t)n_tiles, sizeof *cfgs);
  cr_assert_not_null(cfgs);
  for (int64_t t = 0; t < n_tiles; ++t) {
    aimc_tile_config_default(&cfgs[t]);
    cfgs[t].device = devs[t];
    set_pulse_update(&cfgs[t].update, k);
  }
  td.per_tile = cfgs;
  aimc_tiles_t *tiles = test_tiles(ctx, &td);
  free(cfgs);
  return tiles;
}

static aimc_tiles_t *make_tile(aimc_context_t *ctx, const aimc_device_desc_t *dev, int32_t rows,
                               int32_t cols, int32_t k, uint64_t seed) {
  return make_tiles(ctx, dev, 1, rows, cols, k, seed);
}

enum { DIR_SPLIT, DIR_UP, DIR_DOWN };

/* Whether row i is pulsed up: the upper half of the rows in DIR_SPLIT. */
static int row_up(int32_t i, int32_t rows, int mode) {
  return mode == DIR_UP || (mode == DIR_SPLIT && i < rows / 2);
}

/* One update sample shared by all tiles; x[cols] = x_all except that columns
 * with col_mask[j] == 0 (if given) get x = 0 and are not pulsed. */
static void pulse_masked(aimc_tiles_t *t, int mode, const int *col_mask) {
  int32_t rows, cols;
  CK(aimc_tiles_shape(t, NULL, &rows, &cols));
  float *x = test_alloc((size_t)cols), *d = test_alloc((size_t)rows);
  for (int32_t j = 0; j < cols; ++j) x[j] = col_mask && !col_mask[j] ? 0.0f : 1.0f;
  for (int32_t i = 0; i < rows; ++i) d[i] = row_up(i, rows, mode) ? -1.0f : 1.0f;
  CK(aimc_tiles_update_ex(t, x, 0, d, 0, 1));
  free(x);
  free(d);
}

static void pulse_rows(aimc_tiles_t *t, int mode) { pulse_masked(t, mode, NULL); }

static size_t n_weights(const aimc_tiles_t *t) {
  int64_t n;
  int32_t rows, cols;
  CK(aimc_tiles_shape(t, &n, &rows, &cols));
  return (size_t)n * (size_t)rows * (size_t)cols;
}

static float *read_param(const aimc_tiles_t *t, aimc_device_param_t which) {
  float *p = test_alloc(n_weights(t));
  CK(aimc_tiles_get_device_param(t, which, p));
  return p;
}

static float *read_weights(const aimc_tiles_t *t) {
  float *p = test_alloc(n_weights(t));
  CK(aimc_tiles_get_weights(t, p));
  return p;
}

/* Every per-weight quantity of a batch, read back through the API. */
typedef struct devs {
  size_t n, per_tile;
  int32_t rows, cols;
  float *h, *w, *bmin, *bmax, *s_up, *s_dn, *sl_up, *sl_dn, *g_up, *g_dn, *ref, *decay, *diff,
      *reset;
} devs_t;

static devs_t read_devs(const aimc_tiles_t *t) {
  devs_t d;
  int64_t n_tiles;
  CK(aimc_tiles_shape(t, &n_tiles, &d.rows, &d.cols));
  d.per_tile = (size_t)d.rows * (size_t)d.cols;
  d.n = (size_t)n_tiles * d.per_tile;
  d.h = read_param(t, AIMC_PARAM_HIDDEN_WEIGHT);
  d.w = read_weights(t);
  d.bmin = read_param(t, AIMC_PARAM_MIN_BOUND);
  d.bmax = read_param(t, AIMC_PARAM_MAX_BOUND);
  d.s_up = read_param(t, AIMC_PARAM_STEP_UP);
  d.s_dn = read_param(t, AIMC_PARAM_STEP_DOWN);
  d.sl_up = read_param(t, AIMC_PARAM_SLOPE_UP);
  d.sl_dn = read_param(t, AIMC_PARAM_SLOPE_DOWN);
  d.g_up = read_param(t, AIMC_PARAM_GAMMA_UP);
  d.g_dn = read_param(t, AIMC_PARAM_GAMMA_DOWN);
  d.ref = read_param(t, AIMC_PARAM_REFERENCE);
  d.decay = read_param(t, AIMC_PARAM_DECAY_SCALE);
  d.diff = read_param(t, AIMC_PARAM_DIFFUSION);
  d.reset = read_param(t, AIMC_PARAM_RESET_BIAS);
  return d;
}

/* Re-reads the device state and the visible weights after an operation. */
static void reread_state(const aimc_tiles_t *t, devs_t *d) {
  CK(aimc_tiles_get_device_param(t, AIMC_PARAM_HIDDEN_WEIGHT, d->h));
  CK(aimc_tiles_get_weights(t, d->w));
}

static void free_devs(devs_t *d) {
  float *all[] = {d->h,     d->w,    d->bmin, d->bmax, d->s_up,  d->s_dn, d->sl_up,
                  d->sl_dn, d->g_up, d->g_dn, d->ref,  d->decay, d->diff, d->reset};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) free(all[i]);
}

static float *filled(size_t n, float v) {
  float *p = test_alloc(n);
  for (size_t i = 0; i < n; ++i) p[i] = v;
  return p;
}

/* Tile t of a per-weight array as doubles, (v - shift) * scale. */
static double *slice(const float *v, size_t per_tile, size_t t, double scale, double shift) {
  double *o = dalloc(per_tile);
  for (size_t i = 0; i < per_tile; ++i) o[i] = ((double)v[t * per_tile + i] - shift) * scale;
  return o;
}

/* ---- Double-precision reference of the pulse rules (aihwkit, digest §4) -- */

typedef struct ref_dev {
  double bmin, bmax, s_up, s_dn, p_up, p_dn;
} ref_dev_t;

static ref_dev_t ref_dev_of(const devs_t *d, size_t k, aimc_device_model_t model) {
  ref_dev_t r;
  r.bmin = d->bmin[k];
  r.bmax = d->bmax[k];
  r.s_up = d->s_up[k];
  r.s_dn = d->s_dn[k];
  r.p_up = model == AIMC_DEVICE_POW_STEP ? d->g_up[k] : d->sl_up[k];
  r.p_dn = model == AIMC_DEVICE_POW_STEP ? d->g_dn[k] : d->sl_dn[k];
  return r;
}

/* Relative step of a piecewise device: linear interpolation between n nodes
 * equally spaced over [bmin, bmax]; constant beyond the ends. */
static double ref_piecewise(const float *nodes, int n, double h, double bmin, double bmax) {
  int n_sec = n - 1;
  if (n_sec <= 0 || !(bmax > bmin)) return nodes[0];
  double pos = maxd((h - bmin) / (bmax - bmin) * n_sec, 0.0);
  int k = (int)floor(pos);
  if (k > n_sec - 1) k = n_sec - 1;
  double f = pos - k < 1.0 ? pos - k : 1.0;
  return (1.0 - f) * nodes[k] + f * nodes[k + 1];
}

/* ExpStep's relative step y at state h (digest §4.5). */
static double exp_factor(const aimc_device_desc_t *d, const ref_dev_t *p, double h, int up) {
  double z = 2.0 * (double)d->a * h / (p->bmax - p->bmin) + (double)d->b;
  double y = up ? 1.0 - (double)d->A_up * exp((double)d->gamma_up_exp * z)
                : 1.0 - (double)d->A_down * exp(-(double)d->gamma_down_exp * z);
  return maxd(y, 0.0);
}

/* One noise-free pulse on a device in state h (conductance), then the
 * bounds. */
static double ref_pulse(const aimc_device_desc_t *d, const ref_dev_t *p, double h, int up) {
  double s = up ? p->s_up : p->s_dn, step = 0.0;
  switch (d->model) {
    case AIMC_DEVICE_CONSTANT_STEP:
      step = s;
      break;
    case AIMC_DEVICE_LINEAR_STEP:
    case AIMC_DEVICE_SOFT_BOUNDS:
      /* slope * w + s, with the slopes as drawn (negative toward the bound) */
      step = up ? p->p_up * h + s : p->p_dn * h + s;
      break;
    case AIMC_DEVICE_SOFT_BOUNDS_REFERENCE:
      step = up ? s * (1.0 - (p->bmax > 0.0 ? h / p->bmax : 0.0))
                : s * (1.0 - (p->bmin < 0.0 ? h / p->bmin : 0.0));
      break;
    case AIMC_DEVICE_EXP_STEP:
      if (!(p->bmax > p->bmin)) return h;
      step = exp_factor(d, p, h, up) * s;
      break;
    case AIMC_DEVICE_POW_STEP: {
      double range = p->bmax - p->bmin;
      if (!(range > 0.0)) return h;
      double base = up ? (p->bmax - h) / range : (h - p->bmin) / range;
      step = s * pow(maxd(base, 0.0), up ? p->p_up : p->p_dn);
      break;
    }
    case AIMC_DEVICE_PIECEWISE_STEP:
      step = s * ref_piecewise(up ? d->piecewise_up : d->piecewise_down, d->n_piecewise, h, p->bmin,
                               p->bmax);
      break;
    default:
      cr_assert_fail("model %d has no reference rule", (int)d->model);
  }
  return clampd(up ? h + step : h - step, p->bmin, p->bmax);
}

/* Closed form of the state after n pulses from h0 (NULL: iterate ref_pulse). */
typedef double (*closed_form_fn)(const aimc_device_desc_t *dev, const ref_dev_t *p, double h0,
                                 int up, double n);

/* Applies `calls` rounds of k pulses (upper half of the rows up, lower half
 * down) and compares every device after every round with the closed form or
 * the double reference, using each device's own parameters read back from
 * the tile. Also checks the visible weight is exactly h - ref (no write
 * noise here) and, at the start, that new tiles sit at h = clip(ref). */
static void check_response(aimc_tiles_t *t, const aimc_device_desc_t *devs, int32_t k, int calls,
                           closed_form_fn closed, const char *what) {
  devs_t d = read_devs(t);
  double *h_ref = dalloc(d.n), *h0 = dalloc(d.n), *tol = dalloc(d.n);
  mismatch_t m_init = {0}, m_vis0 = {0};
  for (size_t i = 0; i < d.n; ++i) {
    h0[i] = h_ref[i] = d.h[i];
    note(&m_init, i, d.h[i], clampd(d.ref[i], d.bmin[i], d.bmax[i]), 0.0);
    note(&m_vis0, i, d.w[i], (double)(d.h[i] - d.ref[i]), 0.0);
  }
  expect_no_mismatch("new tile state == clip(reference)", &m_init);
  expect_no_mismatch("new tile visible == state - reference", &m_vis0);
  double moved = 0.0;
  for (int c = 1; c <= calls; ++c) {
    pulse_rows(t, DIR_SPLIT);
    reread_state(t, &d);
    mismatch_t m = {0}, mv = {0};
    for (size_t i = 0; i < d.n; ++i) {
      const aimc_device_desc_t *dev = &devs[i / d.per_tile];
      int up = row_up((int32_t)((i % d.per_tile) / (size_t)d.cols), d.rows, DIR_SPLIT);
      ref_dev_t p = ref_dev_of(&d, i, dev->model);
      for (int32_t q = 0; q < k; ++q) {
        double prev = h_ref[i];
        h_ref[i] = ref_pulse(dev, &p, prev, up);
        /* one rounding of the state (1/2 ulp), doubled for the step's own
         * roundings, plus a relative error of expf/powf in the step */
        tol[i] += ulp_at(maxd(fabs(prev), fabs(h_ref[i]))) + 1e-5 * fabs(h_ref[i] - prev);
      }
      /* the closed form itself: a few ulp of the bound */
      double extra = closed ? 2.0 * ulp_at(maxd(fabs(p.bmin), fabs(p.bmax))) : 0.0;
      double want = closed ? closed(dev, &p, h0[i], up, (double)k * c) : h_ref[i];
      note(&m, i, d.h[i], want, tol[i] + extra);
      note(&mv, i, d.w[i], (double)(d.h[i] - d.ref[i]), 0.0);
      moved = maxd(moved, fabs(d.h[i] - h0[i]));
    }
    char msg[160];
    snprintf(msg, sizeof msg, "%s after %d pulses", what, k * c);
    expect_no_mismatch(msg, &m);
    snprintf(msg, sizeof msg, "%s visible == state - reference after %d pulses", what, k * c);
    expect_no_mismatch(msg, &mv);
  }
  cr_expect(moved > 0.1, "%s: the devices barely moved (%.3g)", what, moved);
  free(h_ref);
  free(h0);
  free(tol);
  free_devs(&d);
}

/* ---- 1. Noise-free response curves --------------------------------------- */

/* n steps of s from h0, then pinned at the bound. */
static double constant_closed(const aimc_device_desc_t *dev, const ref_dev_t *p, double h0, int up,
                              double n) {
  (void)dev;
  return up ? fmin(h0 + n * p->s_up, p->bmax) : fmax(h0 - n * p->s_dn, p->bmin);
}

Test(curve, constant_step_linear_then_pinned_at_own_bound) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_CONSTANT_STEP);
  dev.dw_min_std = 0.0f; /* keep the device-to-device spread, drop c2c noise */
  dev.up_down = 0.1f;
  aimc_tiles_t *t = make_tile(ctx, &dev, 16, 16, 150, 11);
  /* 150 .. 1500 pulses of ~1e-3: the linear part and the pinned part */
  check_response(t, &dev, 150, 10, constant_closed, "ConstantStep");
  /* saturated devices sit exactly on their own bound, not near it */
  devs_t d = read_devs(t);
  size_t pinned = 0;
  for (size_t i = 0; i < d.n; ++i) {
    int up = row_up((int32_t)(i / (size_t)d.cols), d.rows, DIR_SPLIT);
    double reach = up ? 1500.0 * d.s_up[i] - d.bmax[i] : 1500.0 * d.s_dn[i] + d.bmin[i];
    if (reach < 1e-3) continue;
    pinned++;
    cr_expect_eq(d.h[i], up ? d.bmax[i] : d.bmin[i], "device %zu: %.9g not pinned at bound", i,
                 (double)d.h[i]);
  }
  cr_expect_gt(pinned, d.n / 2, "too few devices reached their bounds (%zu)", pinned);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* SoftBounds: the step s (1 - h / bound) shrinks geometrically toward the
 * device's own bound: h_n = b - (b - h0) (1 - s / |b|)^n. */
static double soft_closed(const aimc_device_desc_t *dev, const ref_dev_t *p, double h0, int up,
                          double n) {
  (void)dev;
  double b = up ? p->bmax : p->bmin, s = up ? p->s_up : p->s_dn;
  return b - (b - h0) * pow(1.0 - s / fabs(b), n);
}

Test(curve, soft_bounds_geometric_toward_own_bounds) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_SOFT_BOUNDS);
  dev.dw_min_std = 0.0f;
  dev.up_down = -0.1f;
  aimc_tiles_t *t = make_tile(ctx, &dev, 16, 16, 400, 12);
  /* the slopes are -s / own bound (gamma 1, device bounds) */
  devs_t d = read_devs(t);
  mismatch_t mu = {0}, md = {0};
  for (size_t i = 0; i < d.n; ++i) {
    double want_up = -(double)d.s_up[i] / d.bmax[i], want_dn = -(double)d.s_dn[i] / d.bmin[i];
    note(&mu, i, d.sl_up[i], want_up, 4.0 * FLT_EPSILON * fabs(want_up));
    note(&md, i, d.sl_dn[i], want_dn, 4.0 * FLT_EPSILON * fabs(want_dn));
  }
  expect_no_mismatch("SoftBounds slope_up == -s_up / bmax", &mu);
  expect_no_mismatch("SoftBounds slope_down == -s_down / bmin", &md);
  free_devs(&d);
  /* up to 2400 pulses: (1 - 1/600)^2400 ~ e^-4, well into the saturation */
  check_response(t, &dev, 400, 6, soft_closed, "SoftBounds");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* LinearStep: step s (1 - g h / w_ref), a geometric approach to the fixed
 * point w_ref / g, cut off by the device bound (the map is increasing, so
 * the clipped sequence is the clipped closed form). The slope is computed
 * here from gamma and the reference bound, not read back. */
static double linear_closed(const aimc_device_desc_t *dev, const ref_dev_t *p, double h0, int up,
                            double n) {
  double g = up ? dev->gamma_up : dev->gamma_down;
  double w_ref =
      dev->mean_bound_reference ? (up ? dev->w_max : dev->w_min) : (up ? p->bmax : p->bmin);
  double s = up ? p->s_up : p->s_dn;
  double slope = -g * s / w_ref; /* d(step)/dh */
  double fix = w_ref / g;
  double hn = up ? fix - (fix - h0) * pow(1.0 + slope, n) : fix - (fix - h0) * pow(1.0 - slope, n);
  return clampd(hn, p->bmin, p->bmax);
}

Test(curve, linear_step_gamma_with_mean_and_device_reference) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[2];
  for (int t = 0; t < 2; ++t) {
    device_of(&devs[t], AIMC_DEVICE_LINEAR_STEP);
    devs[t].dw_min_std = 0.0f;
    devs[t].gamma_up = 0.4f;   /* fixed point 1.5 > bmax: pinned at the bound */
    devs[t].gamma_down = 0.6f; /* fixed point -1: some devices have bmin below it */
    devs[t].gamma_up_dtod = 0.0f;
    devs[t].gamma_down_dtod = 0.0f;
  }
  devs[0].mean_bound_reference = 1;
  devs[1].mean_bound_reference = 0;
  aimc_tiles_t *t = make_tiles(ctx, devs, 2, 16, 16, 250, 13);
  /* the drawn slopes follow -gamma s / w_ref with the mean or own bound */
  devs_t d = read_devs(t);
  mismatch_t mu = {0}, md = {0};
  for (size_t i = 0; i < d.n; ++i) {
    int mean_ref = i < d.per_tile;
    double ru = mean_ref ? devs[0].w_max : d.bmax[i], rd = mean_ref ? devs[0].w_min : d.bmin[i];
    double want_up = -0.4 * d.s_up[i] / ru, want_dn = -0.6 * d.s_dn[i] / rd;
    note(&mu, i, d.sl_up[i], want_up, 4.0 * FLT_EPSILON * fabs(want_up));
    note(&md, i, d.sl_dn[i], want_dn, 4.0 * FLT_EPSILON * fabs(want_dn));
  }
  expect_no_mismatch("LinearStep slope_up == -gamma_up s_up / w_ref", &mu);
  expect_no_mismatch("LinearStep slope_down == -gamma_down s_down / w_ref", &md);
  free_devs(&d);
  check_response(t, devs, 250, 8, linear_closed, "LinearStep");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(curve, soft_bounds_reference_acts_on_conductance) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
  dev.dw_min_std = 0.0f;
  dev.reference_mean = 0.15f; /* the soft bound factor uses h = w + ref, not w */
  dev.reference_std = 0.05f;
  dev.slope_up_dtod = 0.2f;
  dev.slope_down_dtod = 0.2f;
  aimc_tiles_t *t = make_tile(ctx, &dev, 16, 16, 400, 14);
  /* new tiles: h = ref (inside the bounds here), visible exactly 0 */
  devs_t d = read_devs(t);
  for (size_t i = 0; i < d.n; ++i) {
    cr_expect(d.ref[i] != 0.0f, "reference of device %zu is 0", i);
    if (d.ref[i] > d.bmin[i] && d.ref[i] < d.bmax[i]) cr_expect_eq(d.w[i], 0.0f);
  }
  free_devs(&d);
  check_response(t, &dev, 400, 6, soft_closed, "SoftBoundsReference");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* PowStep with exponent 1: step s (b - h) / range, geometric toward b. */
static double pow1_closed(const aimc_device_desc_t *dev, const ref_dev_t *p, double h0, int up,
                          double n) {
  (void)dev;
  double range = p->bmax - p->bmin, b = up ? p->bmax : p->bmin, s = up ? p->s_up : p->s_dn;
  return b - (b - h0) * pow(1.0 - s / range, n);
}

Test(curve, pow_step_exponent_one_geometric) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_POW_STEP);
  dev.dw_min_std = 0.0f;
  dev.pow_gamma = 1.0f;
  dev.pow_gamma_dtod = 0.0f;
  dev.dw_min = 0.002f;
  aimc_tiles_t *t = make_tile(ctx, &dev, 16, 16, 500, 15);
  devs_t d = read_devs(t);
  for (size_t i = 0; i < d.n; ++i) {
    cr_expect_eq(d.g_up[i], 1.0f);
    cr_expect_eq(d.g_dn[i], 1.0f);
  }
  free_devs(&d);
  check_response(t, &dev, 500, 6, pow1_closed, "PowStep gamma 1");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(curve, exp_step_default_matches_reference) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_EXP_STEP);
  dev.dw_min_std = 0.0f;
  aimc_tiles_t *t = make_tile(ctx, &dev, 16, 16, 300, 16);
  check_response(t, &dev, 300, 8, NULL, "ExpStep");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(curve, exp_step_reram_es_preset_matches_reference) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  CK(aimc_device_desc_preset(&dev, AIMC_PRESET_RERAM_ES));
  dev.dw_min_std = 0.0f;
  dev.write_noise_std = 0.0f;
  aimc_tiles_t *t = make_tile(ctx, &dev, 16, 16, 200, 17);
  check_response(t, &dev, 200, 8, NULL, "ReRamES");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(curve, pow_step_per_device_exponents_match_reference) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_POW_STEP);
  dev.dw_min_std = 0.0f;
  dev.dw_min = 0.004f;
  dev.pow_gamma = 1.8f;
  dev.pow_gamma_dtod = 0.1f;
  dev.pow_up_down = 0.3f;
  dev.pow_up_down_dtod = 0.05f;
  aimc_tiles_t *t = make_tile(ctx, &dev, 16, 16, 400, 18);
  check_response(t, &dev, 400, 6, NULL, "PowStep");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(curve, piecewise_step_interpolates_nodes) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_PIECEWISE_STEP);
  dev.dw_min_std = 0.0f;
  /* up steps shrink and down steps grow with h (a soft-bound-like device) */
  static const float up[] = {1.6f, 1.3f, 1.0f, 0.6f, 0.3f, 0.1f};
  static const float dn[] = {0.2f, 0.5f, 0.8f, 1.0f, 1.4f, 1.5f};
  dev.n_piecewise = 6;
  for (int i = 0; i < 6; ++i) {
    dev.piecewise_up[i] = up[i];
    dev.piecewise_down[i] = dn[i];
  }
  aimc_tiles_t *t = make_tile(ctx, &dev, 16, 16, 250, 19);
  check_response(t, &dev, 250, 8, NULL, "PiecewiseStep");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(curve, linear_step_with_spread_gammas_matches_reference) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_LINEAR_STEP);
  dev.dw_min_std = 0.0f;
  dev.gamma_up = 0.3f;
  dev.gamma_down = 0.2f;
  dev.gamma_up_dtod = 0.1f;
  dev.gamma_down_dtod = 0.1f;
  aimc_tiles_t *t = make_tile(ctx, &dev, 16, 16, 300, 20);
  check_response(t, &dev, 300, 6, NULL, "LinearStep with gamma spread");
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- 2. Clipping at each device's own bounds ------------------------------ */

/* A lower bound of the relative step on the way to the bound for models
 * that reach it in finite steps (0 for soft bounds, which only approach it):
 * for the models set up in fill_clip_models the step is smallest at the
 * bound itself. */
static double min_step_factor(const aimc_device_desc_t *dev, const ref_dev_t *p, int up) {
  double b = up ? p->bmax : p->bmin;
  switch (dev->model) {
    case AIMC_DEVICE_CONSTANT_STEP:
      return 1.0;
    case AIMC_DEVICE_LINEAR_STEP: {
      double g = up ? dev->gamma_up : dev->gamma_down, w_ref = up ? dev->w_max : dev->w_min;
      return 1.0 - g * b / w_ref;
    }
    case AIMC_DEVICE_EXP_STEP:
      return exp_factor(dev, p, b, up);
    case AIMC_DEVICE_PIECEWISE_STEP:
      return 0.5; /* the smallest node */
    default:
      return 0.0;
  }
}

static void fill_clip_models(aimc_device_desc_t devs[AIMC_DEVICE_MODEL_COUNT], float dw_min_std) {
  for (int m = 0; m < AIMC_DEVICE_MODEL_COUNT; ++m) {
    device_of(&devs[m], (aimc_device_model_t)m);
    devs[m].dw_min_std = dw_min_std;
  }
  devs[AIMC_DEVICE_LINEAR_STEP].gamma_up = 0.1f;
  devs[AIMC_DEVICE_LINEAR_STEP].gamma_down = 0.1f;
  devs[AIMC_DEVICE_SOFT_BOUNDS_REFERENCE].reference_mean = 0.1f;
  devs[AIMC_DEVICE_PIECEWISE_STEP].n_piecewise = 3;
  static const float nodes[3] = {1.5f, 1.0f, 0.5f};
  for (int i = 0; i < 3; ++i) {
    devs[AIMC_DEVICE_PIECEWISE_STEP].piecewise_up[i] = nodes[i];
    devs[AIMC_DEVICE_PIECEWISE_STEP].piecewise_down[i] = nodes[2 - i];
  }
}

/* Checks every state after a long pulse train in direction `up`; returns
 * how many devices were required to sit exactly on their bound. */
static size_t check_pinned(const aimc_device_desc_t *devs, const devs_t *d, int up, int exact) {
  mismatch_t inside = {0}, on = {0}, near = {0};
  size_t n_on = 0;
  for (size_t i = 0; i < d->n; ++i) {
    const aimc_device_desc_t *dev = &devs[i / d->per_tile];
    ref_dev_t p = ref_dev_of(d, i, dev->model);
    double h = d->h[i], b = up ? p.bmax : p.bmin;
    if (h < p.bmin || h > p.bmax) note(&inside, i, h, b, 0.0);
    if (!exact) continue;
    double s = up ? p.s_up : p.s_dn, f = min_step_factor(dev, &p, up);
    if (f > 0.0) {
      /* hard bound: if even the smallest step crosses the range twice in
       * 65535 pulses, the device sits exactly on its own bound */
      if (65535.0 * f * s > 2.0 * (p.bmax - p.bmin)) {
        note(&on, i, h, b, 0.0);
        n_on++;
      }
    } else if (s > 0.2 * dev->dw_min) {
      /* soft: 65535 pulses bring any reasonably fast device within 2% of
       * the range of where it stops: the bound, or for ExpStep the state
       * where its step 1 - A exp(+-gamma z) reaches 0 if that comes first */
      if (dev->model == AIMC_DEVICE_EXP_STEP) {
        double z0 = up ? log(1.0 / dev->A_up) / dev->gamma_up_exp
                       : -log(1.0 / dev->A_down) / dev->gamma_down_exp;
        double h0 = (z0 - dev->b) * (p.bmax - p.bmin) / (2.0 * dev->a);
        b = up ? fmin(b, h0) : fmax(b, h0);
      }
      note(&near, i, h, b, 0.02 * (p.bmax - p.bmin));
    }
  }
  expect_no_mismatch(up ? "inside bounds after up pulses" : "inside bounds after down pulses",
                     &inside);
  expect_no_mismatch(up ? "hard models on bmax" : "hard models on bmin", &on);
  expect_no_mismatch(up ? "soft models near bmax" : "soft models near bmin", &near);
  return n_on;
}

Test(clip, long_pulse_trains_stop_at_each_devices_own_bounds) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[AIMC_DEVICE_MODEL_COUNT];
  fill_clip_models(devs, 0.0f);
  /* one tile per model; 65535 noise-free pulses up, then down */
  aimc_tiles_t *t = make_tiles(ctx, devs, AIMC_DEVICE_MODEL_COUNT, 8, 16, 65535, 21);
  pulse_rows(t, DIR_UP);
  devs_t d = read_devs(t);
  /* ConstantStep, LinearStep and PiecewiseStep (3 x 128 devices) and
   * part of ExpStep have hard bounds */
  cr_expect_gt(check_pinned(devs, &d, 1, 1), 3 * d.per_tile);
  pulse_rows(t, DIR_DOWN);
  reread_state(t, &d);
  cr_expect_gt(check_pinned(devs, &d, 0, 1), 3 * d.per_tile);
  /* the bounds are per device: the pinned ConstantStep states spread like
   * bmin (sd 0.18), not at one common bound */
  double *pinned = slice(d.h, d.per_tile, 0, 1.0, 0.0);
  cr_expect_gt(moments_of(pinned, d.per_tile).sd, 0.1, "devices pinned at a common value");
  free(pinned);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(clip, noisy_pulses_never_leave_the_bounds) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[AIMC_DEVICE_MODEL_COUNT];
  fill_clip_models(devs, 1.0f); /* large c2c noise: single pulses may overshoot */
  aimc_tiles_t *t = make_tiles(ctx, devs, AIMC_DEVICE_MODEL_COUNT, 8, 16, 3000, 22);
  devs_t d = read_devs(t);
  for (int c = 0; c < 2; ++c) {
    pulse_rows(t, DIR_UP);
    reread_state(t, &d);
    check_pinned(devs, &d, 1, 0);
    pulse_rows(t, DIR_DOWN);
    reread_state(t, &d);
    check_pinned(devs, &d, 0, 0);
  }
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(clip, set_weights_beyond_bounds_clipped_by_next_pulse) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[2];
  device_of(&devs[0], AIMC_DEVICE_CONSTANT_STEP);
  device_of(&devs[1], AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
  devs[1].reference_mean = 0.1f;
  devs[1].reference_std = 0.02f;
  aimc_tiles_t *t = make_tiles(ctx, devs, 2, 8, 8, 1, 23);
  size_t n = n_weights(t);
  float *target = test_alloc(n);
  for (size_t i = 0; i < n; ++i) target[i] = (i % 3 == 0) ? 1.5f : (i % 3 == 1 ? -1.5f : 0.05f);
  CK(aimc_tiles_set_weights(t, target));
  devs_t d = read_devs(t);
  for (size_t i = 0; i < n; ++i) {
    cr_expect_eq(d.w[i], target[i], "set_weights is exact (no clipping)");
    cr_expect_eq(d.h[i], target[i] + d.ref[i], "state = weight + reference");
  }
  /* one pulse in either direction: the state lands exactly on the near bound */
  pulse_rows(t, DIR_SPLIT);
  reread_state(t, &d);
  for (size_t i = 0; i < n; ++i) {
    if (i % 3 == 2) {
      cr_expect(d.h[i] > d.bmin[i] && d.h[i] < d.bmax[i]);
      continue;
    }
    cr_expect_eq(d.h[i], i % 3 == 0 ? d.bmax[i] : d.bmin[i], "device %zu: %.9g", i, (double)d.h[i]);
    cr_expect_eq(d.w[i], d.h[i] - d.ref[i]);
  }
  free_devs(&d);
  free(target);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- 3. Device-to-device sampling ------------------------------------------ */

Test(d2d, bounds_and_steps_moments_and_one_sided_asymmetry) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[2];
  for (int t = 0; t < 2; ++t) {
    device_of(&devs[t], AIMC_DEVICE_CONSTANT_STEP);
    /* spreads small enough that enforce_consistency's abs() never acts
     * (it would need a 5-sigma draw) so the draws stay exactly normal */
    devs[t].w_max = 0.8f;
    devs[t].w_min = -0.5f;
    devs[t].w_max_dtod = 0.2f;
    devs[t].w_min_dtod = 0.1f;
    devs[t].dw_min = 0.002f;
    devs[t].dw_min_dtod = 0.15f;
    devs[t].up_down_dtod = 0.05f;
  }
  devs[0].up_down = 0.2f;  /* shrinks only the down step */
  devs[1].up_down = -0.2f; /* shrinks only the up step */
  aimc_tiles_t *t = make_tiles(ctx, devs, 2, 64, 128, 1, 31);
  devs_t d = read_devs(t);
  size_t n = d.per_tile;
  double *zmax[2], *zmin[2];
  for (size_t tt = 0; tt < 2; ++tt) {
    /* bmax = w_max (1 + w_max_dtod z): z = (bmax / w_max - 1) / dtod ~ N(0, 1),
     * standard errors 1/sqrt(8192) = 0.011 (mean) and 0.0078 (sd) */
    zmax[tt] = slice(d.bmax, n, tt, 1.0 / (0.8 * 0.2), 0.8);
    zmin[tt] = slice(d.bmin, n, tt, 1.0 / (0.5 * 0.1), -0.5);
    expect_normal("bmax z-score", zmax[tt], n, 0.0, 1.0);
    expect_normal("bmin z-score", zmin[tt], n, 0.0, 1.0);
    double *up = slice(d.s_up, n, tt, 1.0 / 0.002, 0.0), *dn = slice(d.s_dn, n, tt, 500.0, 0.0);
    double *sum = dalloc(n), *dif = dalloc(n);
    for (size_t i = 0; i < n; ++i) {
      sum[i] = up[i] + dn[i];
      dif[i] = up[i] - dn[i];
    }
    /* s_up = (up_bias + gain + r) dw, s_dn = (down_bias + gain - r) dw with
     * gain = 1 + 0.15 z, r = 0.05 z': the sum carries only the gain (mean
     * 2 - 0.2, sd 0.3), the difference only r and the bias (mean +-0.2,
     * sd 0.1); the one-sided bias leaves the other step at mean 1 */
    double sd_step = sqrt(0.15 * 0.15 + 0.05 * 0.05);
    expect_normal("(s_up + s_down) / dw_min", sum, n, 1.8, 0.3);
    expect_normal("(s_up - s_down) / dw_min", dif, n, tt == 0 ? 0.2 : -0.2, 0.1);
    expect_normal("s_up / dw_min", up, n, tt == 0 ? 1.0 : 0.8, sd_step);
    expect_normal("s_down / dw_min", dn, n, tt == 0 ? 0.8 : 1.0, sd_step);
    /* every parameter has its own normal */
    expect_uncorrelated("bmax vs bmin", zmax[tt], zmin[tt], n);
    expect_uncorrelated("bmax vs gain", zmax[tt], sum, n);
    expect_uncorrelated("bmin vs up_down r", zmin[tt], dif, n);
    expect_uncorrelated("gain vs up_down r", sum, dif, n);
    free(up);
    free(dn);
    free(sum);
    free(dif);
  }
  /* tiles of a batch draw independently */
  expect_uncorrelated("tile 0 vs tile 1 bmax", zmax[0], zmax[1], n);
  for (int tt = 0; tt < 2; ++tt) {
    free(zmax[tt]);
    free(zmin[tt]);
  }
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(d2d, log_normal_gain) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_CONSTANT_STEP);
  dev.dw_min_dtod = 0.4f;
  dev.dw_min_dtod_log_normal = 1;
  dev.up_down_dtod = 0.0f;
  aimc_tiles_t *t = make_tile(ctx, &dev, 128, 128, 1, 32);
  devs_t d = read_devs(t);
  double *lg = dalloc(d.n), *g = dalloc(d.n);
  mismatch_t same = {0};
  for (size_t i = 0; i < d.n; ++i) {
    note(&same, i, d.s_dn[i], d.s_up[i], 0.0);
    g[i] = d.s_up[i] / 1e-3;
    lg[i] = log(g[i]);
  }
  expect_no_mismatch("no asymmetry: both steps are gain * dw_min", &same);
  /* gain = exp(0.4 z): log gain ~ N(0, 0.4) (SE 0.0031 mean, 0.0022 sd) */
  expect_normal("log gain", lg, d.n, 0.0, 0.4);
  /* no mean correction: E gain = exp(0.08) = 1.0833, sd sqrt((e^.16 - 1) e^.16) = 0.451,
   * SE 0.0035 (a mean-corrected gain, E = 1, would be 24 SE off) */
  double s2 = 0.16;
  expect_mean("gain", moments_of(g, d.n), exp(s2 / 2.0), sqrt((exp(s2) - 1.0) * exp(s2)));
  free(lg);
  free(g);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* Whether some signs s0, s1 give raw bounds b0 = s0 |lo|, b1 = s1 |hi| with
 * b1 > b0 whose midpoint b0 + (b1 - b0) / 2 is m: the swap-then-abs of an
 * inconsistent draw, seen from its enforce_consistency-off twin. */
static int swapped_abs_matches(double hi, double lo, double m) {
  for (int s0 = -1; s0 <= 1; s0 += 2)
    for (int s1 = -1; s1 <= 1; s1 += 2) {
      double b0 = s0 * fabs(lo), b1 = s1 * fabs(hi);
      if (b1 > b0 && fabs(b0 + (b1 - b0) / 2.0 - m) <= 4.0 * ulp_at(maxd(fabs(b0), fabs(b1))))
        return 1;
    }
  return 0;
}

Test(d2d, enforce_consistency_takes_absolute_values) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_CONSTANT_STEP);
  /* huge spreads: many raw draws have negative steps or crossed bounds */
  dev.w_max_dtod = 1.5f;
  dev.w_min_dtod = 1.5f;
  dev.dw_min_dtod = 1.5f;
  dev.up_down_dtod = 0.5f;
  dev.enforce_consistency = 0;
  aimc_tiles_t *raw_t = make_tile(ctx, &dev, 128, 128, 1, 33);
  dev.enforce_consistency = 1;
  aimc_tiles_t *fix_t = make_tile(ctx, &dev, 128, 128, 1, 33); /* same seed: same raw draws */
  devs_t r = read_devs(raw_t), f = read_devs(fix_t);
  size_t neg_steps = 0, dead = 0, bad_swap = 0;
  mismatch_t su = {0}, sd = {0}, bu = {0}, bd = {0}, pos = {0}, straddle = {0}, ordered = {0};
  for (size_t i = 0; i < r.n; ++i) {
    flag(&pos, i, f.s_up[i] >= 0.0f && f.s_dn[i] >= 0.0f, fminf(f.s_up[i], f.s_dn[i]));
    flag(&straddle, i, f.bmin[i] <= 0.0f && f.bmax[i] >= 0.0f, f.bmax[i]);
    flag(&ordered, i, r.bmin[i] <= r.bmax[i], r.bmin[i]);
    neg_steps += r.s_up[i] < 0.0f || r.s_dn[i] < 0.0f;
    note(&su, i, f.s_up[i], fabs(r.s_up[i]), 0.0);
    note(&sd, i, f.s_dn[i], fabs(r.s_dn[i]), 0.0);
    if (r.bmin[i] == r.bmax[i]) {
      /* crossed raw bounds: off, the device dies at their midpoint; on,
       * they are swapped before the abs */
      dead++;
      bad_swap += !swapped_abs_matches(f.bmax[i], f.bmin[i], r.bmax[i]);
      continue;
    }
    note(&bu, i, f.bmax[i], fabs(r.bmax[i]), 0.0);
    note(&bd, i, f.bmin[i], -fabs(r.bmin[i]), 0.0);
  }
  expect_no_mismatch("enforced steps are >= 0", &pos);
  expect_no_mismatch("enforced bounds straddle 0", &straddle);
  expect_no_mismatch("unenforced bounds are ordered", &ordered);
  expect_no_mismatch("s_up == |raw s_up|", &su);
  expect_no_mismatch("s_down == |raw s_down|", &sd);
  expect_no_mismatch("bmax == |raw bmax|", &bu);
  expect_no_mismatch("bmin == -|raw bmin|", &bd);
  cr_expect_eq(bad_swap, 0, "%zu crossed devices do not match swap-then-abs", bad_swap);
  cr_expect_gt(neg_steps, 100, "raw draws should include negative steps");
  /* raw bounds cross when 0.6 (1 + 1.5 z0) < -0.6 (1 + 1.5 z1), i.e.
   * z0 + z1 < -4/3 with z0 + z1 ~ N(0, 2): p = Phi(-0.9428) = 0.1729 */
  expect_binomial("dead devices (crossed bounds)", dead, r.n, normal_cdf(-(4.0 / 3.0) / sqrt(2.0)));
  free_devs(&r);
  free_devs(&f);
  aimc_tiles_destroy(raw_t);
  aimc_tiles_destroy(fix_t);
  aimc_context_destroy(ctx);
}

Test(d2d, corrupt_devices_are_stuck) {
  aimc_context_t *ctx = new_context();
  /* one tile per model: a stuck device has no step in any model */
  aimc_device_desc_t devs[AIMC_DEVICE_MODEL_COUNT];
  for (int m = 0; m < AIMC_DEVICE_MODEL_COUNT; ++m) {
    device_of(&devs[m], (aimc_device_model_t)m);
    devs[m].corrupt_devices_prob = 0.1f;
    devs[m].corrupt_devices_range = 0.05f;
  }
  devs[AIMC_DEVICE_LINEAR_STEP].gamma_up = 0.3f;
  devs[AIMC_DEVICE_LINEAR_STEP].gamma_down = 0.3f;
  devs[AIMC_DEVICE_PIECEWISE_STEP].n_piecewise = 2;
  devs[AIMC_DEVICE_PIECEWISE_STEP].piecewise_up[1] = 0.5f;
  devs[AIMC_DEVICE_PIECEWISE_STEP].piecewise_down[1] = 2.0f;
  aimc_tiles_t *t = make_tiles(ctx, devs, AIMC_DEVICE_MODEL_COUNT, 64, 64, 100, 34);
  devs_t d = read_devs(t);
  size_t per = d.per_tile, count[AIMC_DEVICE_MODEL_COUNT] = {0};
  int *stuck = calloc(d.n, sizeof(int));
  double *val = dalloc(d.n);
  size_t n_val = 0;
  mismatch_t half = {0}, range = {0}, at = {0}, slopes = {0};
  for (size_t i = 0; i < d.n; ++i) {
    int zero_steps = d.s_up[i] == 0.0f && d.s_dn[i] == 0.0f;
    stuck[i] = zero_steps && d.bmin[i] == d.bmax[i];
    flag(&half, i, stuck[i] || (d.s_up[i] > 0.0f && d.s_dn[i] > 0.0f && d.bmin[i] < d.bmax[i]),
         d.s_up[i]);
    if (!stuck[i]) continue;
    count[i / per]++;
    val[n_val++] = d.bmax[i];
    flag(&range, i, fabsf(d.bmax[i]) <= 0.05f, d.bmax[i]);
    note(&at, i, d.h[i], d.bmax[i], 0.0);
    int linear = i / per == AIMC_DEVICE_LINEAR_STEP || i / per == AIMC_DEVICE_SOFT_BOUNDS;
    if (linear) flag(&slopes, i, d.sl_up[i] == 0.0f && d.sl_dn[i] == 0.0f, d.sl_up[i]);
  }
  expect_no_mismatch("devices are either fully working or stuck", &half);
  expect_no_mismatch("stuck values within +-corrupt_devices_range", &range);
  expect_no_mismatch("new stuck devices sit at their value", &at);
  expect_no_mismatch("stuck LinearStep/SoftBounds slopes are 0", &slopes);
  /* Binomial(4096, 0.1) per tile: mean 409.6, SE 19.2 */
  for (int m = 0; m < AIMC_DEVICE_MODEL_COUNT; ++m)
    expect_binomial(aimc_device_model_name((aimc_device_model_t)m), count[m], per, 0.1);
  /* stuck values uniform in [-0.05, 0.05] (the bounds are wider): mean 0,
   * sd 0.05 / sqrt(3) = 0.0289, kurtosis 1.8; ~2870 values: SE of the mean 5.4e-4 */
  moments_t m = moments_of(val, n_val);
  expect_mean("stuck values", m, 0.0, 0.05 / sqrt(3.0));
  expect_sd("stuck values", m, 0.05 / sqrt(3.0), 1.8);
  /* neither pulses nor programming move a stuck device */
  pulse_rows(t, DIR_SPLIT);
  reread_state(t, &d);
  mismatch_t moved = {0}, programmed = {0};
  for (size_t i = 0; i < d.n; ++i)
    if (stuck[i]) flag(&moved, i, d.h[i] == d.bmax[i] && d.w[i] == d.bmax[i], d.h[i]);
  expect_no_mismatch("stuck devices do not move under pulses", &moved);
  float *target = filled(d.n, 0.4f);
  CK(aimc_tiles_program_weights(t, target));
  reread_state(t, &d);
  for (size_t i = 0; i < d.n; ++i)
    note(&programmed, i, d.h[i], stuck[i] ? d.bmax[i] : fminf(0.4f, d.bmax[i]), 0.0);
  expect_no_mismatch("programming 0.4 leaves stuck devices at their value", &programmed);
  free(target);
  free(stuck);
  free(val);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* Mean and sd of Z given Z > a (Z standard normal). */
static double trunc_mean(double a) { return normal_pdf(a) / (1.0 - normal_cdf(a)); }

static double trunc_sd(double a) {
  double lam = trunc_mean(a);
  return sqrt(1.0 + a * lam - lam * lam);
}

Test(d2d, lifetime_gives_decay_scale) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[3];
  for (int t = 0; t < 3; ++t) device_of(&devs[t], AIMC_DEVICE_CONSTANT_STEP);
  devs[0].lifetime = 10.0f;
  devs[0].lifetime_dtod = 0.3f;
  devs[1].lifetime = 0.8f; /* t <= 1: the scale is 0, decay snaps to the reset value */
  devs[2].lifetime = 0.0f; /* no decay: scale 1 */
  aimc_tiles_t *t = make_tiles(ctx, devs, 3, 128, 128, 1, 35);
  devs_t d = read_devs(t);
  size_t per = d.per_tile, zero = 0, n_z = 0;
  double *z = dalloc(per);
  mismatch_t in01 = {0}, zero_s = {0}, one_s = {0};
  for (size_t i = 0; i < per; ++i) {
    float s = d.decay[i];
    flag(&in01, i, s >= 0.0f && s < 1.0f, s);
    if (s == 0.0f) {
      zero++;
      continue;
    }
    /* t = lifetime (1 + dtod z) = 1 / (1 - scale) */
    z[n_z++] = (1.0 / (1.0 - (double)s) / 10.0 - 1.0) / 0.3;
  }
  /* t <= 1 iff z <= -3: Binomial(16384, Phi(-3) = 0.00135), mean 22.1 */
  expect_binomial("devices with lifetime <= 1", zero, per, normal_cdf(-3.0));
  /* the others are z | z > -3: mean 0.0044, sd 0.9933 (SE 0.0078, 0.0055) */
  moments_t m = moments_of(z, n_z);
  expect_mean("lifetime z-score", m, trunc_mean(-3.0), trunc_sd(-3.0));
  expect_sd("lifetime z-score", m, trunc_sd(-3.0), 3.0);
  for (size_t i = 0; i < per; ++i) {
    note(&zero_s, i, d.decay[per + i], 0.0, 0.0);
    note(&one_s, i, d.decay[2 * per + i], 1.0, 0.0);
  }
  expect_no_mismatch("scales in [0, 1)", &in01);
  expect_no_mismatch("lifetime 0.8: scale 0", &zero_s);
  expect_no_mismatch("lifetime 0: scale 1", &one_s);
  free(z);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(d2d, diffusion_rate_and_reset_bias) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_CONSTANT_STEP);
  dev.diffusion = 0.01f;
  dev.diffusion_dtod = 0.2f; /* relative: rho = |0.01 (1 + 0.2 z)| */
  dev.reset = 0.05f;
  dev.reset_dtod = 0.02f; /* additive: b = 0.05 + 0.02 z */
  aimc_tiles_t *t = make_tile(ctx, &dev, 128, 128, 1, 36);
  devs_t d = read_devs(t);
  double *zr = slice(d.diff, d.n, 0, 1.0 / (0.01 * 0.2), 0.01);
  double *zb = slice(d.reset, d.n, 0, 1.0 / 0.02, 0.05);
  /* both z-scores N(0, 1): SE 0.0078 (mean), 0.0055 (sd) */
  expect_normal("diffusion z-score", zr, d.n, 0.0, 1.0);
  expect_normal("reset bias z-score", zb, d.n, 0.0, 1.0);
  expect_uncorrelated("diffusion vs reset bias", zr, zb, d.n);
  free(zr);
  free(zb);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* The symmetry point of a soft-bounds-reference device, where
 * s_up (1 - h / bmax) = s_dn (1 - h / bmin). */
static double symmetry_point(double s_up, double s_dn, double bmax, double bmin) {
  return (s_up - s_dn) / (s_up / bmax - s_dn / bmin);
}

Test(d2d, reference_and_symmetry_point) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
  dev.up_down = 0.3f; /* s_up > s_dn on average: symmetry points ~ +0.1 */
  dev.reference_mean = 0.1f;
  dev.reference_std = 0.05f;
  dev.slope_up_dtod = 0.1f;
  dev.slope_down_dtod = 0.1f;
  aimc_tiles_t *plain = make_tile(ctx, &dev, 128, 128, 1, 37);
  dev.subtract_symmetry_point = 1;
  aimc_tiles_t *sym = make_tile(ctx, &dev, 128, 128, 1, 37); /* same draws */
  devs_t a = read_devs(plain), b = read_devs(sym);
  /* ref = 0.1 + 0.05 z: z-score N(0, 1), SE 0.0078 / 0.0055 */
  double *zr = slice(a.ref, a.n, 0, 1.0 / 0.05, 0.1);
  expect_normal("reference z-score", zr, a.n, 0.0, 1.0);
  mismatch_t m = {0}, same = {0};
  double *sp = dalloc(a.n);
  for (size_t i = 0; i < a.n; ++i) {
    note(&same, i, b.bmax[i] - a.bmax[i] + b.s_up[i] - a.s_up[i], 0.0, 0.0);
    sp[i] = symmetry_point(b.s_up[i], b.s_dn[i], b.bmax[i], b.bmin[i]);
    /* float evaluation of sp (a few roundings) plus the final addition */
    note(&m, i, (double)b.ref[i] - a.ref[i], sp[i], 1e-5 * fabs(sp[i]) + 2.0 * ulp_at(b.ref[i]));
  }
  expect_no_mismatch("symmetry point leaves bounds and steps alone", &same);
  expect_no_mismatch("reference shift == (s_up - s_dn) / (s_up/bmax - s_dn/bmin)", &m);
  cr_expect_gt(moments_of(sp, a.n).mean, 0.05, "symmetry points should be clearly nonzero");
  free(zr);
  free(sp);
  free_devs(&a);
  free_devs(&b);
  aimc_tiles_destroy(plain);
  aimc_tiles_destroy(sym);
  aimc_context_destroy(ctx);
}

/* Physics of the shift: at visible weight 0 (h = symmetry point when the
 * reference is otherwise 0) one up and one down pulse move the device by
 * the same amount; without the shift they differ by the asymmetry. */
Test(d2d, symmetry_point_equalises_steps_at_zero) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
  dev.dw_min_std = 0.0f;
  dev.up_down = 0.3f;
  dev.slope_up_dtod = 0.1f;
  dev.slope_down_dtod = 0.1f;
  for (int shift = 0; shift <= 1; ++shift) {
    dev.subtract_symmetry_point = shift;
    aimc_tiles_t *up_t = make_tile(ctx, &dev, 16, 16, 1, 38);
    aimc_tiles_t *dn_t = make_tile(ctx, &dev, 16, 16, 1, 38);
    devs_t u0 = read_devs(up_t);
    pulse_rows(up_t, DIR_UP);
    pulse_rows(dn_t, DIR_DOWN);
    devs_t u = read_devs(up_t), dn = read_devs(dn_t);
    size_t unequal = 0;
    for (size_t i = 0; i < u.n; ++i) {
      double du = u.w[i], dd = -dn.w[i]; /* visible moves from exactly 0 */
      cr_expect_eq(u0.w[i], 0.0f);
      if (fabs(du - dd) > 1e-4 * u.s_up[i] + 4.0 * ulp_at(u0.h[i])) unequal++;
    }
    if (shift)
      cr_expect_eq(unequal, 0, "%zu devices have unequal steps at their symmetry point", unequal);
    else
      cr_expect_eq(unequal, u.n, "steps at h = 0 should differ by the asymmetry");
    free_devs(&u0);
    free_devs(&u);
    free_devs(&dn);
    aimc_tiles_destroy(up_t);
    aimc_tiles_destroy(dn_t);
  }
  aimc_context_destroy(ctx);
}

Test(d2d, soft_bounds_reference_slope_spread_moves_bounds_only) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
  aimc_tiles_t *a_t = make_tile(ctx, &dev, 128, 128, 1, 39);
  dev.slope_up_dtod = 0.2f;
  dev.slope_down_dtod = 0.3f;
  aimc_tiles_t *b_t = make_tile(ctx, &dev, 128, 128, 1, 39);
  devs_t a = read_devs(a_t), b = read_devs(b_t);
  double *ru = dalloc(a.n), *rd = dalloc(a.n);
  mismatch_t steps = {0};
  for (size_t i = 0; i < a.n; ++i) {
    note(&steps, i, b.s_up[i], a.s_up[i], 0.0);
    note(&steps, i, b.s_dn[i], a.s_dn[i], 0.0);
    ru[i] = (double)a.bmax[i] / b.bmax[i];
    rd[i] = (double)a.bmin[i] / b.bmin[i];
  }
  expect_no_mismatch("steps at 0 unchanged by the slope spread", &steps);
  /* the slope at each bound is multiplied by |1 + dtod z|, so the bound is
   * divided by it: ratios ~ |N(1, 0.2)| and |N(1, 0.3)| (SE 0.0016, 0.0023) */
  moments_t mu = moments_of(ru, a.n), md = moments_of(rd, a.n);
  expect_mean("bmax ratio", mu, folded_mean(1.0, 0.2), folded_sd(1.0, 0.2));
  expect_sd("bmax ratio", mu, folded_sd(1.0, 0.2), 3.0);
  expect_mean("bmin ratio", md, folded_mean(1.0, 0.3), folded_sd(1.0, 0.3));
  expect_sd("bmin ratio", md, folded_sd(1.0, 0.3), 3.0);
  expect_uncorrelated("up vs down slope spread", ru, rd, a.n);
  free(ru);
  free(rd);
  free_devs(&a);
  free_devs(&b);
  aimc_tiles_destroy(a_t);
  aimc_tiles_destroy(b_t);
  aimc_context_destroy(ctx);
}

Test(d2d, linear_step_slopes_per_device) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[5];
  for (int t = 0; t < 5; ++t) {
    device_of(&devs[t], AIMC_DEVICE_LINEAR_STEP);
    devs[t].gamma_up = 0.3f;
    devs[t].gamma_down = 0.5f;
    devs[t].gamma_up_dtod = 0.05f;
    devs[t].gamma_down_dtod = 0.08f;
  }
  devs[1].mean_bound_reference = 0; /* slopes against the device's bounds */
  devs[2].reverse_up = 1;           /* up reference mirrored: w_min - offset */
  devs[2].reverse_down = 1;         /* down reference: w_max + offset */
  for (int t = 3; t < 5; ++t) {     /* gammas straddling 0 */
    devs[t].gamma_up = 0.02f;
    devs[t].gamma_down = -0.02f;
    devs[t].gamma_up_dtod = 0.05f;
    devs[t].gamma_down_dtod = 0.05f;
  }
  devs[4].allow_increasing = 1;
  aimc_tiles_t *t = make_tiles(ctx, devs, 5, 64, 64, 1, 40);
  devs_t d = read_devs(t);
  size_t n = d.per_tile;
  for (size_t tt = 0; tt < 5; ++tt) {
    const aimc_device_desc_t *dv = &devs[tt];
    double *gu = dalloc(n), *gd = dalloc(n);
    for (size_t j = 0; j < n; ++j) {
      size_t i = tt * n + j;
      double ru = dv->w_max, rd = dv->w_min;
      if (!dv->mean_bound_reference) {
        ru = d.bmax[i];
        rd = d.bmin[i];
      }
      if (dv->reverse_up) ru = dv->w_min - dv->reverse_offset;
      if (dv->reverse_down) rd = dv->w_max + dv->reverse_offset;
      /* slope = -g s / w_ref, so g = -slope w_ref / s */
      gu[j] = -(double)d.sl_up[i] * ru / d.s_up[i];
      gd[j] = -(double)d.sl_dn[i] * rd / d.s_dn[i];
    }
    char what[64];
    snprintf(what, sizeof what, "tile %zu gamma_up", tt);
    /* SE of the mean 0.05/64 = 7.8e-4 (gamma_up), 0.08/64 = 1.25e-3 */
    if (tt < 3) {
      expect_normal(what, gu, n, 0.3, 0.05);
      snprintf(what, sizeof what, "tile %zu gamma_down", tt);
      expect_normal(what, gd, n, 0.5, 0.08);
      expect_uncorrelated("gamma_up vs gamma_down", gu, gd, n);
    } else if (tt == 3) {
      /* no increasing steps: |N(0.02, 0.05)| and |N(-0.02, 0.05)| */
      moments_t mu = moments_of(gu, n), md = moments_of(gd, n);
      expect_mean(what, mu, folded_mean(0.02, 0.05), folded_sd(0.02, 0.05));
      expect_mean("gamma_down folded", md, folded_mean(-0.02, 0.05), folded_sd(-0.02, 0.05));
      mismatch_t neg = {0};
      for (size_t j = 0; j < n; ++j)
        flag(&neg, j, gu[j] >= 0.0 && gd[j] >= 0.0, fmin(gu[j], gd[j]));
      expect_no_mismatch("no increasing steps without allow_increasing", &neg);
    } else {
      expect_normal(what, gu, n, 0.02, 0.05);
      expect_normal("gamma_down allow_increasing", gd, n, -0.02, 0.05);
    }
    free(gu);
    free(gd);
  }
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(d2d, pow_step_exponents) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[3];
  for (int t = 0; t < 3; ++t) {
    device_of(&devs[t], AIMC_DEVICE_POW_STEP);
    devs[t].pow_gamma = 2.0f;
    devs[t].pow_gamma_dtod = 0.1f;
    devs[t].pow_up_down_dtod = 0.05f;
  }
  devs[0].pow_up_down = 0.3f;
  devs[1].pow_up_down = -0.3f;
  devs[2].pow_gamma_dtod = 1.0f; /* half the raw exponents... many negative: abs */
  devs[2].pow_up_down_dtod = 0.0f;
  aimc_tiles_t *t = make_tiles(ctx, devs, 3, 64, 128, 1, 41);
  devs_t d = read_devs(t);
  size_t n = d.per_tile;
  for (size_t tt = 0; tt < 2; ++tt) {
    double *sum = dalloc(n), *dif = dalloc(n), *steps = dalloc(n);
    for (size_t j = 0; j < n; ++j) {
      sum[j] = (double)d.g_up[tt * n + j] + d.g_dn[tt * n + j];
      dif[j] = (double)d.g_up[tt * n + j] - d.g_dn[tt * n + j];
      steps[j] = (double)d.s_up[tt * n + j] + d.s_dn[tt * n + j];
    }
    /* g_up = (up_bias + gain + r) 2, g_dn = (down_bias + gain - r) 2 with
     * gain = 1 + 0.1 z, r = 0.05 z': sum mean 2 (2 - 0.3) = 3.4, sd 0.4;
     * difference mean +-0.6, sd 0.2 (SE 0.0044, 0.0022) */
    expect_normal("pow exponent sum", sum, n, 3.4, 0.4);
    expect_normal("pow exponent difference", dif, n, tt == 0 ? 0.6 : -0.6, 0.2);
    expect_uncorrelated("pow gain vs r", sum, dif, n);
    expect_uncorrelated("pow gain vs step gain", sum, steps, n);
    free(sum);
    free(dif);
    free(steps);
  }
  double *g = dalloc(n);
  mismatch_t same = {0};
  for (size_t j = 0; j < n; ++j) {
    note(&same, j, d.g_up[2 * n + j], d.g_dn[2 * n + j], 0.0);
    g[j] = d.g_up[2 * n + j];
  }
  expect_no_mismatch("no up/down spread: equal exponents", &same);
  /* enforce_consistency: 2 |1 + z|, mean 2 * 1.1666, sd 2 * 0.800 (SE 0.018) */
  expect_mean("folded exponent", moments_of(g, n), 2.0 * folded_mean(1.0, 1.0),
              2.0 * folded_sd(1.0, 1.0));
  free(g);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- 4. Cycle-to-cycle noise ---------------------------------------------- */

/* Normalised noise of the pulses since the previous state: for n ConstantStep
 * pulses of size s (1 + sigma xi) the sum of xi / sqrt(n) is N(0, 1). */
static void constant_step_noise(const devs_t *d, const float *h_prev, int32_t n, double sigma,
                                double *xi) {
  for (size_t i = 0; i < d->n; ++i) {
    int up = row_up((int32_t)((i % d->per_tile) / (size_t)d->cols), d->rows, DIR_SPLIT);
    double moved = up ? (double)d->h[i] - h_prev[i] : (double)h_prev[i] - d->h[i];
    double s = up ? d->s_up[i] : d->s_dn[i];
    xi[i] = (moved / s - n) / (sigma * sqrt((double)n));
  }
}

Test(c2c, constant_step_pulse_noise_is_relative_and_fresh) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_CONSTANT_STEP); /* dw_min_std 0.3, spreads on */
  for (int32_t k = 1; k <= 4; k *= 4) {
    aimc_tiles_t *t = make_tile(ctx, &dev, 128, 128, k, 50 + (uint64_t)k);
    devs_t d = read_devs(t);
    float *h0 = read_param(t, AIMC_PARAM_HIDDEN_WEIGHT);
    double *xi1 = dalloc(d.n), *xi2 = dalloc(d.n);
    pulse_rows(t, DIR_SPLIT);
    reread_state(t, &d);
    constant_step_noise(&d, h0, k, 0.3, xi1);
    float *h1 = read_param(t, AIMC_PARAM_HIDDEN_WEIGHT);
    pulse_rows(t, DIR_SPLIT);
    reread_state(t, &d);
    constant_step_noise(&d, h1, k, 0.3, xi2);
    /* each pulse s (1 + 0.3 xi) with its own xi: the normalised sum is
     * N(0, 1) for k = 1 and k = 4 (a noise shared by the k pulses of a
     * call would give sd 2 for k = 4). SE 0.0078 (mean), 0.0055 (sd) */
    expect_normal(k == 1 ? "single pulse xi" : "4-pulse xi", xi1, d.n, 0.0, 1.0);
    expect_normal(k == 1 ? "single pulse xi, call 2" : "4-pulse xi, call 2", xi2, d.n, 0.0, 1.0);
    expect_uncorrelated("noise of call 1 vs call 2", xi1, xi2, d.n);
    expect_uncorrelated("noise of neighbouring devices", xi1, xi1 + 1, d.n - 1);
    free(h0);
    free(h1);
    free(xi1);
    free(xi2);
    free_devs(&d);
    aimc_tiles_destroy(t);
  }
  aimc_context_destroy(ctx);
}

/* One pulse from a set state h0 on every device; returns the normalised
 * noise of each under the multiplicative and the additive hypothesis. */
typedef double (*det_step_fn)(const aimc_device_desc_t *dev, const ref_dev_t *p, double h, int up,
                              double *noise_scale_mult, double *noise_scale_add);

static void mult_vs_add(const aimc_device_desc_t devs[2], float w0, det_step_fn det,
                        uint64_t seed) {
  aimc_context_t *ctx = new_context();
  aimc_tiles_t *t = make_tiles(ctx, devs, 2, 64, 128, 1, seed);
  size_t n = n_weights(t);
  float *w = filled(n, w0);
  CK(aimc_tiles_set_weights(t, w));
  devs_t d = read_devs(t);
  float *h0 = read_param(t, AIMC_PARAM_HIDDEN_WEIGHT);
  pulse_rows(t, DIR_SPLIT);
  reread_state(t, &d);
  size_t per = d.per_tile;
  for (size_t tt = 0; tt < 2; ++tt) {
    const aimc_device_desc_t *dev = &devs[tt];
    double *xm = dalloc(per), *xa = dalloc(per);
    for (size_t j = 0; j < per; ++j) {
      size_t i = tt * per + j;
      int up = row_up((int32_t)(j / (size_t)d.cols), d.rows, DIR_SPLIT);
      ref_dev_t p = ref_dev_of(&d, i, dev->model);
      double sm, sa, mean = det(dev, &p, h0[i], up, &sm, &sa);
      double moved = (double)d.h[i] - h0[i];
      xm[j] = (moved - mean) / (dev->dw_min_std * sm);
      xa[j] = (moved - mean) / (dev->dw_min_std * sa);
    }
    /* the right hypothesis gives N(0, 1) (SE 0.011 mean, 0.0078 sd); the
     * other one an sd off by the ratio of the scales (0.5 .. 0.75 here) */
    expect_normal(dev->mult_noise ? "multiplicative noise" : "additive noise",
                  dev->mult_noise ? xm : xa, per, 0.0, 1.0);
    /* rows 0 .. rows/2 - 1 went up, the rest down: the wrong hypothesis
     * is off in each half (in opposite directions) */
    const double *other = dev->mult_noise ? xa : xm;
    moments_t o_up = moments_of(other, per / 2), o_dn = moments_of(other + per / 2, per / 2);
    cr_expect(fabs(o_up.sd - 1.0) > 0.1 && fabs(o_dn.sd - 1.0) > 0.1,
              "mult and add noise indistinguishable (sd %.3f up, %.3f down)", o_up.sd, o_dn.sd);
    free(xm);
    free(xa);
  }
  free(w);
  free(h0);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* LinearStep: step slope h + s; noise (slope h + s) xi or s xi. */
static double linear_det(const aimc_device_desc_t *dev, const ref_dev_t *p, double h, int up,
                         double *sm, double *sa) {
  (void)dev;
  double s = up ? p->s_up : p->s_dn, step = (up ? p->p_up : p->p_dn) * h + s;
  *sm = fabs(step);
  *sa = s;
  return up ? step : -step;
}

Test(c2c, linear_step_multiplicative_vs_additive_noise) {
  aimc_device_desc_t devs[2];
  for (int t = 0; t < 2; ++t) {
    device_of(&devs[t], AIMC_DEVICE_LINEAR_STEP);
    devs[t].w_max_dtod = 0.0f; /* h0 = 0.3 stays well inside every device */
    devs[t].w_min_dtod = 0.0f;
    devs[t].gamma_up = 0.5f; /* at h = 0.3: up step 0.75 s, down step 1.25 s */
    devs[t].gamma_down = 0.5f;
  }
  devs[0].mult_noise = 1;
  devs[1].mult_noise = 0;
  mult_vs_add(devs, 0.3f, linear_det, 51);
}

/* SoftBoundsReference: step s (1 - h / b) on the conductance h = w + ref;
 * noise s (1 - h / b) xi or s xi. */
static double sbr_det(const aimc_device_desc_t *dev, const ref_dev_t *p, double h, int up,
                      double *sm, double *sa) {
  (void)dev;
  double s = up ? p->s_up : p->s_dn, f = 1.0 - h / (up ? p->bmax : p->bmin);
  *sm = s * f;
  *sa = s;
  return up ? s * f : -s * f;
}

Test(c2c, soft_bounds_reference_multiplicative_vs_additive_noise) {
  aimc_device_desc_t devs[2];
  for (int t = 0; t < 2; ++t) {
    device_of(&devs[t], AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
    devs[t].w_max_dtod = 0.0f;
    devs[t].w_min_dtod = 0.0f;
    /* visible 0.1 is h = 0.3: the soft-bound factors are 0.5 (up) and 1.5
     * (down); computed from the visible weight they would be 5/6 and 7/6 */
    devs[t].reference_mean = 0.2f;
  }
  devs[0].mult_noise = 1;
  devs[1].mult_noise = 0; /* the model's default */
  mult_vs_add(devs, 0.1f, sbr_det, 52);
}

/* ExpStep, PowStep and PiecewiseStep scale their whole step by (1 + sigma xi);
 * ExpStep with dw_min_std_add / _slope instead adds
 * sigma (|dw| + add + slope |h|) xi in absolute units. */
Test(c2c, exp_pow_piecewise_noise_scales_the_step) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[4];
  device_of(&devs[0], AIMC_DEVICE_EXP_STEP);
  device_of(&devs[1], AIMC_DEVICE_EXP_STEP);
  devs[1].dw_min_std_add = 0.002f;
  devs[1].dw_min_std_slope = 0.01f;
  device_of(&devs[2], AIMC_DEVICE_POW_STEP);
  devs[2].pow_gamma = 1.5f;
  device_of(&devs[3], AIMC_DEVICE_PIECEWISE_STEP);
  devs[3].n_piecewise = 3;
  static const float up[3] = {1.5f, 1.0f, 0.5f}, dn[3] = {0.5f, 1.0f, 1.5f};
  for (int i = 0; i < 3; ++i) {
    devs[3].piecewise_up[i] = up[i];
    devs[3].piecewise_down[i] = dn[i];
  }
  for (int t = 0; t < 4; ++t) {
    devs[t].w_max_dtod = 0.0f; /* h0 = 0.1 far from every bound */
    devs[t].w_min_dtod = 0.0f;
  }
  aimc_tiles_t *t = make_tiles(ctx, devs, 4, 64, 64, 1, 53);
  size_t n = n_weights(t);
  float *w = filled(n, 0.1f);
  CK(aimc_tiles_set_weights(t, w));
  devs_t d = read_devs(t);
  pulse_rows(t, DIR_SPLIT);
  float *h1 = read_param(t, AIMC_PARAM_HIDDEN_WEIGHT);
  size_t per = d.per_tile;
  double *xi = dalloc(per);
  static const char *what[4] = {"ExpStep noise", "ExpStep add/slope noise", "PowStep noise",
                                "PiecewiseStep noise"};
  for (size_t tt = 0; tt < 4; ++tt) {
    const aimc_device_desc_t *dev = &devs[tt];
    for (size_t j = 0; j < per; ++j) {
      size_t i = tt * per + j;
      int dir_up = row_up((int32_t)(j / (size_t)d.cols), d.rows, DIR_SPLIT);
      ref_dev_t p = ref_dev_of(&d, i, dev->model);
      double h0 = d.h[i], dw = ref_pulse(dev, &p, h0, dir_up) - h0, moved = (double)h1[i] - h0;
      double scale = tt == 1 ? 0.3 * (fabs(dw) + 0.002 + 0.01 * fabs(h0)) : 0.3 * fabs(dw);
      xi[j] = (moved - dw) / scale;
    }
    /* N(0, 1) over 4096 devices: SE 0.016 (mean), 0.011 (sd) */
    expect_normal(what[tt], xi, per, 0.0, 1.0);
  }
  free(xi);
  free(h1);
  free(w);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- 5. Write noise --------------------------------------------------------- */

/* visible - (hidden - ref) of every device: the write noise of its last write. */
static double *write_noise_of(const devs_t *d) {
  double *e = dalloc(d->n);
  for (size_t i = 0; i < d->n; ++i) e[i] = (double)d->w[i] - ((double)d->h[i] - d->ref[i]);
  return e;
}

Test(write_noise, every_model_programs_with_noise_in_units_of_dw_min) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[AIMC_DEVICE_MODEL_COUNT];
  for (int m = 0; m < AIMC_DEVICE_MODEL_COUNT; ++m) {
    device_of(&devs[m], (aimc_device_model_t)m);
    devs[m].write_noise_std = 2.0f; /* allowed for every model here, ConstantStep included */
    devs[m].dw_min = 0.002f;
  }
  devs[AIMC_DEVICE_SOFT_BOUNDS_REFERENCE].reference_mean = 0.1f;
  aimc_tiles_t *t = make_tiles(ctx, devs, AIMC_DEVICE_MODEL_COUNT, 64, 64, 1, 60);
  size_t n = n_weights(t);
  /* new tiles carry no write noise: visible exactly h - ref */
  devs_t d = read_devs(t);
  mismatch_t clean = {0};
  for (size_t i = 0; i < n; ++i) note(&clean, i, d.w[i], d.h[i] - d.ref[i], 0.0);
  expect_no_mismatch("new tiles: visible == state - ref", &clean);
  float *target = filled(n, 0.1f);
  CK(aimc_tiles_program_weights(t, target));
  reread_state(t, &d);
  double *e = write_noise_of(&d);
  for (int m = 0; m < AIMC_DEVICE_MODEL_COUNT; ++m) {
    /* std write_noise_std * dw_min = 0.004 (SE 6.2e-5 mean, 4.4e-5 sd) */
    char what[64];
    snprintf(what, sizeof what, "%s write noise", aimc_device_model_name((aimc_device_model_t)m));
    expect_normal(what, e + (size_t)m * d.per_tile, d.per_tile, 0.0, 0.004);
  }
  free(e);
  free(target);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(write_noise, only_pulsed_devices_are_redrawn) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_LINEAR_STEP);
  dev.gamma_up = 0.2f;
  dev.gamma_down = 0.2f;
  dev.write_noise_std = 3.0f; /* 0.003 absolute */
  dev.w_max_dtod = 0.1f;      /* bounds beyond +-0.3: no programmed state at a bound */
  dev.w_min_dtod = 0.1f;
  aimc_tiles_t *t = make_tile(ctx, &dev, 128, 128, 10, 61);
  size_t n = n_weights(t);
  float *target = test_alloc(n);
  test_rng_t rng = {61};
  test_fill(&rng, target, n, -0.3f, 0.3f);
  CK(aimc_tiles_program_weights(t, target));
  devs_t d = read_devs(t);
  float *w_before = read_weights(t), *h_before = read_param(t, AIMC_PARAM_HIDDEN_WEIGHT);
  double *e_before = write_noise_of(&d);
  /* SE 2.3e-5 (mean), 1.7e-5 (sd) */
  expect_normal("write noise after programming", e_before, n, 0.0, 0.003);
  int *even = calloc((size_t)d.cols, sizeof(int));
  for (int32_t j = 0; j < d.cols; j += 2) even[j] = 1;
  pulse_masked(t, DIR_SPLIT, even); /* only even columns get pulses */
  reread_state(t, &d);
  double *e_after = write_noise_of(&d);
  double *pulsed_before = dalloc(n), *pulsed_after = dalloc(n);
  size_t np = 0, moved = 0;
  mismatch_t kept = {0};
  for (size_t i = 0; i < n; ++i) {
    if (!even[i % (size_t)d.cols]) {
      /* untouched devices keep their visible weight bit for bit */
      note(&kept, i, d.w[i], w_before[i], 0.0);
      note(&kept, i, d.h[i], h_before[i], 0.0);
      continue;
    }
    moved += d.h[i] != h_before[i];
    pulsed_before[np] = e_before[i];
    pulsed_after[np++] = e_after[i];
  }
  expect_no_mismatch("unpulsed devices unchanged", &kept);
  cr_expect_eq(moved, np, "every pulsed device moved");
  /* pulsed devices: fresh noise of the same size, unrelated to the old one
   * (n = 8192: SE 3.3e-5 mean, 2.3e-5 sd, 0.011 correlation) */
  expect_normal("write noise after pulses", pulsed_after, np, 0.0, 0.003);
  expect_uncorrelated("old vs new write noise", pulsed_before, pulsed_after, np);
  free(even);
  free(pulsed_before);
  free(pulsed_after);
  free(e_before);
  free(e_after);
  free(w_before);
  free(h_before);
  free(target);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(write_noise, program_clips_then_adds_noise_unless_disabled) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[2];
  for (int t = 0; t < 2; ++t) {
    device_of(&devs[t], AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
    devs[t].reference_mean = 0.1f;
    devs[t].reference_std = 0.05f;
    devs[t].write_noise_std = 2.0f; /* 0.002 absolute */
  }
  devs[1].apply_write_noise_on_set = 0;
  aimc_tiles_t *t = make_tiles(ctx, devs, 2, 64, 128, 1, 62);
  size_t n = n_weights(t);
  float *target = test_alloc(n);
  test_rng_t rng = {62};
  test_fill(&rng, target, n, -1.5f, 1.5f); /* many beyond the bounds */
  CK(aimc_tiles_program_weights(t, target));
  devs_t d = read_devs(t);
  mismatch_t clip = {0}, exact = {0};
  size_t clipped = 0;
  for (size_t i = 0; i < n; ++i) {
    /* the state is the target conductance clipped to the device bounds */
    float hc = fminf(fmaxf(target[i] + d.ref[i], d.bmin[i]), d.bmax[i]);
    note(&clip, i, d.h[i], hc, 0.0);
    clipped += hc != target[i] + d.ref[i];
    if (i >= d.per_tile) note(&exact, i, d.w[i], d.h[i] - d.ref[i], 0.0);
  }
  expect_no_mismatch("programmed state == clip(target + ref)", &clip);
  expect_no_mismatch("no write noise when apply_write_noise_on_set = 0", &exact);
  cr_expect_gt(clipped, n / 4, "the targets should exercise the clipping");
  double *e = write_noise_of(&d);
  /* SE 2.2e-5 (mean), 1.6e-5 (sd) */
  expect_normal("program write noise", e, d.per_tile, 0.0, 0.002);
  free(e);
  /* apply_write_noise_on_set only concerns programming: pulses still redraw */
  pulse_rows(t, DIR_SPLIT);
  reread_state(t, &d);
  e = write_noise_of(&d);
  expect_normal("pulse write noise with apply_write_noise_on_set = 0", e + d.per_tile, d.per_tile,
                0.0, 0.002);
  free(e);
  free(target);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(write_noise, set_weights_is_exact) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[2];
  device_of(&devs[0], AIMC_DEVICE_LINEAR_STEP);
  device_of(&devs[1], AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
  devs[1].reference_mean = -0.1f;
  devs[1].reference_std = 0.05f;
  for (int t = 0; t < 2; ++t) devs[t].write_noise_std = 5.0f;
  aimc_tiles_t *t = make_tiles(ctx, devs, 2, 32, 32, 1, 63);
  size_t n = n_weights(t);
  float *target = test_alloc(n);
  test_rng_t rng = {63};
  test_fill(&rng, target, n, -2.0f, 2.0f);
  CK(aimc_tiles_set_weights(t, target));
  devs_t d = read_devs(t);
  for (size_t i = 0; i < n; ++i) {
    cr_expect_eq(d.w[i], target[i], "visible weight %zu not exact", i);
    cr_expect_eq(d.h[i], target[i] + d.ref[i], "state %zu != weight + ref", i);
  }
  free(target);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(write_noise, new_tiles_start_at_zero_or_at_the_clipped_reference) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[2];
  for (int t = 0; t < 2; ++t) {
    device_of(&devs[t], AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
    devs[t].write_noise_std = 4.0f;
    devs[t].reference_std = 0.02f;
  }
  devs[0].reference_mean = 0.2f; /* inside most devices: visible 0 */
  devs[1].reference_mean = 3.0f; /* above every bmax: state pinned at bmax */
  aimc_tiles_t *t = make_tiles(ctx, devs, 2, 32, 32, 1, 64);
  devs_t d = read_devs(t);
  size_t inside = 0;
  for (size_t i = 0; i < d.n; ++i) {
    if (i < d.per_tile) {
      cr_expect_eq(d.h[i], fminf(d.ref[i], d.bmax[i]));
      cr_expect_eq(d.w[i], d.h[i] - d.ref[i]);
      if (d.ref[i] < d.bmax[i]) {
        cr_expect_eq(d.w[i], 0.0f);
        inside++;
      }
    } else {
      cr_expect_eq(d.h[i], d.bmax[i]);
      cr_expect_eq(d.w[i], d.bmax[i] - d.ref[i]);
    }
  }
  cr_expect_gt(inside, d.per_tile * 9 / 10);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- 6. Decay, diffusion and reset ----------------------------------------- */

/* One decay() of the reference model: relax toward the reset bias in
 * visible space (b + ref in conductance), then the bounds. */
static double ref_decay(const devs_t *d, size_t i, double h) {
  double rest = (double)d->reset[i] + d->ref[i];
  return clampd((h - rest) * d->decay[i] + rest, d->bmin[i], d->bmax[i]);
}

Test(decay, lifetime_relaxes_to_reset_bias) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[2];
  device_of(&devs[0], AIMC_DEVICE_CONSTANT_STEP);
  device_of(&devs[1], AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
  devs[1].reference_mean = 0.1f;
  devs[1].reference_std = 0.05f;
  for (int t = 0; t < 2; ++t) {
    devs[t].lifetime = 20.0f;
    devs[t].lifetime_dtod = 0.3f;
    devs[t].reset = 0.1f;
    devs[t].reset_dtod = 0.05f;
  }
  aimc_tiles_t *t = make_tiles(ctx, devs, 2, 32, 32, 1, 70);
  size_t n = n_weights(t);
  float *target = test_alloc(n);
  test_rng_t rng = {70};
  test_fill(&rng, target, n, -0.4f, 0.4f);
  CK(aimc_tiles_set_weights(t, target));
  devs_t d = read_devs(t);
  double *h = dalloc(n), *tol = dalloc(n);
  for (size_t i = 0; i < n; ++i) h[i] = d.h[i];
  const int calls = 300;
  for (int c = 1; c <= calls; ++c) {
    CK(aimc_tiles_decay(t));
    if (c > 5 && c < calls) continue; /* compare after calls 1..5 and at the end */
    reread_state(t, &d);
    mismatch_t m = {0}, mv = {0};
    for (size_t i = 0; i < n; ++i) {
      /* each call rounds three times; the map is a contraction (scale < 1) */
      for (int q = c > 5 ? 6 : c; q <= c; ++q) {
        h[i] = ref_decay(&d, i, h[i]);
        tol[i] += 3.0 * ulp_at(maxd(fabs(h[i]), fabs(d.bmax[i]) + fabs(d.bmin[i])));
      }
      note(&m, i, d.h[i], h[i], tol[i]);
      note(&mv, i, d.w[i], (double)(d.h[i] - d.ref[i]), 0.0);
    }
    char msg[96];
    snprintf(msg, sizeof msg, "decayed state after %d calls", c);
    expect_no_mismatch(msg, &m);
    expect_no_mismatch("visible == state - ref after decay", &mv);
  }
  /* devices with lifetime <= 20 are within 0.95^300 * 0.6 < 1e-6 of the
   * reset bias: in visible space, whatever their reference */
  size_t checked = 0;
  for (size_t i = 0; i < n; ++i) {
    if (d.decay[i] > 0.95f) continue;
    checked++;
    double b = clampd((double)d.reset[i] + d.ref[i], d.bmin[i], d.bmax[i]) - d.ref[i];
    cr_expect(fabs(d.w[i] - b) < 1e-6, "device %zu: visible %.9g, reset bias %.9g", i,
              (double)d.w[i], b);
  }
  cr_expect_gt(checked, n / 3);
  free(h);
  free(tol);
  free(target);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(decay, diffusion_is_a_fresh_random_walk) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_CONSTANT_STEP);
  dev.diffusion = 0.02f;
  dev.diffusion_dtod = 0.3f;
  dev.w_max_dtod = 0.0f; /* bounds at +-0.6, 20 sd away: no clipping */
  dev.w_min_dtod = 0.0f;
  aimc_tiles_t *t = make_tile(ctx, &dev, 128, 128, 1, 71);
  devs_t d = read_devs(t);
  float *h0 = read_param(t, AIMC_PARAM_HIDDEN_WEIGHT);
  CK(aimc_tiles_decay(t));
  float *h1 = read_param(t, AIMC_PARAM_HIDDEN_WEIGHT);
  CK(aimc_tiles_decay(t));
  reread_state(t, &d);
  double *x1 = dalloc(d.n), *x2 = dalloc(d.n);
  mismatch_t clean = {0};
  for (size_t i = 0; i < d.n; ++i) {
    x1[i] = ((double)h1[i] - h0[i]) / d.diff[i];
    x2[i] = ((double)d.h[i] - h1[i]) / d.diff[i];
    note(&clean, i, d.w[i], d.h[i], 0.0);
  }
  expect_no_mismatch("no write noise: visible == state", &clean);
  /* increments rho_ij xi with each device's own rate: xi ~ N(0, 1) per call
   * (SE 0.0078 mean, 0.0055 sd), independent between calls */
  expect_normal("diffusion call 1", x1, d.n, 0.0, 1.0);
  expect_normal("diffusion call 2", x2, d.n, 0.0, 1.0);
  expect_uncorrelated("diffusion call 1 vs 2", x1, x2, d.n);
  free(x1);
  free(x2);
  free(h0);
  free(h1);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(decay, diffusion_comes_before_the_decay) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_CONSTANT_STEP);
  dev.diffusion = 0.02f;
  dev.lifetime = 2.0f;   /* scale 0.5 */
  dev.w_max_dtod = 0.0f; /* no device bound near the states: no clipping */
  dev.w_min_dtod = 0.0f;
  dev.reset = 0.0f;
  aimc_tiles_t *t = make_tile(ctx, &dev, 128, 128, 1, 72);
  size_t n = n_weights(t);
  float *w = filled(n, 0.2f);
  CK(aimc_tiles_set_weights(t, w));
  CK(aimc_tiles_decay(t));
  float *h = read_param(t, AIMC_PARAM_HIDDEN_WEIGHT);
  double *v = dalloc(n);
  for (size_t i = 0; i < n; ++i) v[i] = h[i];
  /* (0.2 + 0.02 xi) * 0.5: mean 0.1, sd 0.01 (SE 7.8e-5 mean, 5.5e-5 sd);
   * decaying first would leave sd 0.02 */
  expect_normal("diffuse-then-decay", v, n, 0.1, 0.01);
  free(v);
  free(h);
  free(w);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(decay, noop_without_lifetime_or_diffusion_redraw_otherwise) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[3];
  device_of(&devs[0], AIMC_DEVICE_CONSTANT_STEP);
  device_of(&devs[1], AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
  device_of(&devs[2], AIMC_DEVICE_LINEAR_STEP);
  devs[1].reference_mean = 0.1f;
  devs[2].lifetime = 10.0f; /* only this tile decays */
  for (int t = 0; t < 3; ++t) devs[t].write_noise_std = 3.0f;
  aimc_tiles_t *t = make_tiles(ctx, devs, 3, 64, 64, 1, 73);
  size_t n = n_weights(t);
  float *zero = filled(n, 0.0f);
  CK(aimc_tiles_program_weights(t, zero)); /* state = reset value 0 of tile 2 */
  float *w0 = read_weights(t), *h0 = read_param(t, AIMC_PARAM_HIDDEN_WEIGHT);
  CK(aimc_tiles_decay(t));
  devs_t d = read_devs(t);
  size_t per = d.per_tile, redrawn = 0;
  mismatch_t same = {0}, state = {0};
  double *e = dalloc(per);
  for (size_t i = 0; i < n; ++i) {
    if (i < 2 * per) {
      note(&same, i, d.w[i], w0[i], 0.0);
      note(&same, i, d.h[i], h0[i], 0.0);
      continue;
    }
    note(&state, i, d.h[i], 0.0, 0.0); /* already at the reset value */
    redrawn += d.w[i] != w0[i];
    e[i - 2 * per] = d.w[i];
  }
  expect_no_mismatch("tiles without decay or diffusion are untouched", &same);
  expect_no_mismatch("state at the reset value stays", &state);
  cr_expect_eq(redrawn, per, "decay redraws the write noise of every weight (%zu of %zu)", redrawn,
               per);
  expect_normal("write noise after decay", e, per, 0.0, 0.003); /* SE 4.7e-5 */
  free(e);
  free(zero);
  free(w0);
  free(h0);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(reset, columns_wrap_around_and_others_stay) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[2];
  for (int t = 0; t < 2; ++t) {
    device_of(&devs[t], AIMC_DEVICE_CONSTANT_STEP);
    devs[t].reset = 0.05f;
    devs[t].reset_dtod = 0.02f;
    devs[t].reset_std = 0.01f;
  }
  devs[1].write_noise_std = 2.0f; /* the other columns keep even their write noise */
  aimc_tiles_t *t = make_tiles(ctx, devs, 2, 32, 40, 1, 74);
  size_t n = n_weights(t);
  float *w = filled(n, 0.5f);
  CK(aimc_tiles_set_weights(t, w));
  CK(aimc_tiles_reset_columns(t, 35, 10, 1.0f)); /* columns 35..39 and 0..4 */
  devs_t d = read_devs(t);
  double *z = dalloc(n);
  size_t nz = 0, wrong = 0, noisy = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t j = i % 40;
    int in = j >= 35 || j < 5;
    if (!in) {
      wrong += d.h[i] != 0.5f || d.w[i] != 0.5f;
      continue;
    }
    if (i < d.per_tile)
      wrong += d.w[i] != d.h[i];
    else
      noisy += d.w[i] != d.h[i]; /* reset devices get fresh write noise */
    z[nz++] = ((double)d.h[i] - d.reset[i]) / 0.01;
  }
  cr_expect_eq(wrong, 0, "%zu devices outside the reset columns changed", wrong);
  cr_expect_eq(noisy, nz / 2, "reset devices with write noise: %zu of %zu redrawn", noisy, nz / 2);
  /* reset values b_ij + 0.01 xi: xi ~ N(0, 1) over 640 devices (SE 0.040) */
  expect_normal("reset value z-score", z, nz, 0.0, 1.0);
  /* invalid arguments are refused and change nothing */
  typedef struct {
    int32_t start, n_cols;
    float prob;
  } bad_args_t;
  const bad_args_t bad[] = {{-1, 4, 0.5f}, {40, 4, 0.5f}, {0, 41, 0.5f},
                            {0, 4, 1.5f},  {0, 4, -0.1f}, {0, 4, NAN}};
  float *w_ok = read_weights(t);
  for (size_t b = 0; b < sizeof bad / sizeof bad[0]; ++b)
    cr_expect_eq(aimc_tiles_reset_columns(t, bad[b].start, bad[b].n_cols, bad[b].prob),
                 AIMC_ERR_INVALID_ARGUMENT, "reset_columns(%d, %d, %g)", bad[b].start,
                 bad[b].n_cols, (double)bad[b].prob);
  reread_state(t, &d);
  mismatch_t kept = {0};
  for (size_t i = 0; i < n; ++i) note(&kept, i, d.w[i], w_ok[i], 0.0);
  expect_no_mismatch("refused reset changes nothing", &kept);
  free(w_ok);
  /* prob 0 changes nothing; n_cols < 0 resets every column */
  float *before = read_weights(t);
  CK(aimc_tiles_reset_columns(t, 3, 40, 0.0f));
  reread_state(t, &d);
  mismatch_t none = {0};
  for (size_t i = 0; i < n; ++i) note(&none, i, d.w[i], before[i], 0.0);
  expect_no_mismatch("prob 0 resets nothing", &none);
  CK(aimc_tiles_reset_columns(t, 7, -1, 1.0f));
  reread_state(t, &d);
  size_t untouched = 0;
  for (size_t i = 0; i < n; ++i) untouched += d.h[i] == 0.5f;
  cr_expect_eq(untouched, 0, "n_cols < 0 should reset all columns");
  free(before);
  free(z);
  free(w);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(reset, probability_and_value_statistics) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_CONSTANT_STEP);
  dev.reset = 0.05f;
  dev.reset_dtod = 0.02f;
  dev.reset_std = 0.01f;
  aimc_tiles_t *t = make_tile(ctx, &dev, 128, 128, 1, 75);
  size_t n = n_weights(t);
  float *w = filled(n, 0.5f);
  CK(aimc_tiles_set_weights(t, w));
  CK(aimc_tiles_reset_columns(t, 0, -1, 0.3f));
  devs_t d = read_devs(t);
  double *z = dalloc(n);
  size_t nz = 0;
  for (size_t i = 0; i < n; ++i)
    if (d.h[i] != 0.5f) z[nz++] = ((double)d.h[i] - d.reset[i]) / 0.01;
  /* Binomial(16384, 0.3): mean 4915.2, SE 58.7 */
  expect_binomial("reset devices", nz, n, 0.3);
  /* reset values: z ~ N(0, 1) (SE 0.014 mean, 0.010 sd) */
  expect_normal("reset value z-score", z, nz, 0.0, 1.0);
  /* a second reset draws new values: uncorrelated with the first (SE 0.014) */
  CK(aimc_tiles_reset_columns(t, 0, -1, 1.0f));
  float *h2 = read_param(t, AIMC_PARAM_HIDDEN_WEIGHT);
  double *z2 = dalloc(n);
  size_t n2 = 0;
  for (size_t i = 0; i < n; ++i)
    if (d.h[i] != 0.5f) z2[n2++] = ((double)h2[i] - d.reset[i]) / 0.01;
  expect_uncorrelated("first vs second reset value", z, z2, nz);
  free(h2);
  free(z2);
  free(z);
  free(w);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

Test(reset, values_are_visible_and_clipped) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[3];
  device_of(&devs[0], AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
  devs[0].reference_mean = 0.2f;
  devs[0].reference_std = 0.05f;
  devs[0].reset = 0.05f;
  devs[0].reset_std = 0.01f;
  devs[0].w_max_dtod = 0.0f; /* every reset target 0.25 +- 0.05 inside the bounds */
  devs[0].w_min_dtod = 0.0f;
  device_of(&devs[1], AIMC_DEVICE_CONSTANT_STEP);
  devs[1].reset = 3.0f; /* beyond every bmax */
  device_of(&devs[2], AIMC_DEVICE_CONSTANT_STEP);
  devs[2].reset = -3.0f;
  aimc_tiles_t *t = make_tiles(ctx, devs, 3, 64, 64, 1, 76);
  CK(aimc_tiles_reset_columns(t, 0, -1, 1.0f));
  devs_t d = read_devs(t);
  size_t per = d.per_tile;
  double *v = dalloc(per);
  mismatch_t vis = {0}, pinned = {0};
  for (size_t i = 0; i < per; ++i) {
    note(&vis, i, d.w[i], d.h[i] - d.ref[i], 0.0);
    v[i] = d.w[i];
  }
  expect_no_mismatch("visible == state - ref after reset", &vis);
  /* the reset bias is a visible weight: h = 0.05 + ref + 0.01 xi, so the
   * visible weight has mean 0.05 and sd 0.01 (SE 1.6e-4, 1.1e-4) */
  expect_normal("visible weight after reset", v, per, 0.05, 0.01);
  for (size_t i = per; i < 2 * per; ++i) note(&pinned, i, d.h[i], d.bmax[i], 0.0);
  for (size_t i = 2 * per; i < 3 * per; ++i) note(&pinned, i, d.h[i], d.bmin[i], 0.0);
  expect_no_mismatch("reset values beyond the bounds are clipped", &pinned);
  free(v);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- 7. Presets (aihwkit presets/devices.py, digest §2) ------------------- */

typedef struct preset_row {
  aimc_device_preset_t preset;
  aimc_device_model_t model;
  double dw_min, up_down, w_max, w_min, dw_min_dtod, up_down_dtod, w_max_dtod, w_min_dtod,
      dw_min_std, write_noise_std;
  double gamma_up, gamma_down, gamma_dtod, lifetime; /* LinearStep presets */
  int mult_noise;
} preset_row_t;

/* The numbers of aihwkit's presets, typed in from the digest. */
static const preset_row_t preset_rows[AIMC_PRESET_COUNT] = {
    {AIMC_PRESET_IDEALIZED, AIMC_DEVICE_CONSTANT_STEP, 0.0002, 0.0, 1.0, -1.0, 0.3, 0.0, 0.3, 0.3,
     0.3, 0.0, 0, 0, 0, 0, 1},
    {AIMC_PRESET_GOKMEN_VLASOV, AIMC_DEVICE_CONSTANT_STEP, 0.0016, 0.0, 1.0, -1.0, 0.3, 0.01, 0.3,
     0.3, 0.3, 0.0, 0, 0, 0, 0, 1},
    {AIMC_PRESET_RERAM_ES, AIMC_DEVICE_EXP_STEP, 0.00135, 0.259359, 1.0, -1.0, 0.2, 0.05, 0.3, 0.3,
     5.0, 75.0, 0, 0, 0, 0, 1},
    {AIMC_PRESET_RERAM_SB, AIMC_DEVICE_SOFT_BOUNDS_REFERENCE, 0.002, 0.0, 1.25, -0.75, 0.3, 0.01,
     0.24, 0.4, 3.75, 56.0, 0, 0, 0, 0, 0},
    {AIMC_PRESET_CAPACITOR, AIMC_DEVICE_LINEAR_STEP, 0.005, 0.0, 1.0, -1.0, 0.1, 0.06, 0.07, 0.07,
     0.3, 0.0, 0.05, 0.05, 0.01, 1.0e6, 0},
    {AIMC_PRESET_ECRAM, AIMC_DEVICE_LINEAR_STEP, 0.002, 0.0, 1.1724, -0.8276, 0.1, 0.01, 0.05, 0.05,
     0.3, 0.0, 0.1153, 0.5085, 0.05, 0, 1},
    {AIMC_PRESET_ECRAM_MO, AIMC_DEVICE_LINEAR_STEP, 2.8214e-4, 0.0, 1.1714, -0.8286, 0.1, 0.01,
     0.05, 0.05, 2.0, 0.0, 0.4152, 0.7342, 0.05, 0, 1},
};

static void expect_close(const char *preset, const char *field, double got, double want) {
  cr_expect(fabs(got - want) <= 1e-6 * fabs(want) + 1e-12, "%s.%s = %.9g, aihwkit %.9g", preset,
            field, got, want);
}

/* ---- Defaults of every model (aihwkit class defaults, digest §1) ------------ */

Test(defaults, every_model_matches_aihwkit_class_defaults) {
  for (int m = 0; m < AIMC_DEVICE_MODEL_COUNT; ++m) {
    aimc_device_desc_t d;
    CK(aimc_device_desc_default(&d, (aimc_device_model_t)m));
    const char *name = aimc_device_model_name((aimc_device_model_t)m);
    cr_expect_eq(d.model, m);
    typedef struct {
      const char *field;
      double got, want;
    } field_value_t;
    /* clang-format off */
#define FIELD(f, v) {#f, d.f, v}
    const field_value_t common[] = {
        FIELD(dw_min, 0.001), FIELD(dw_min_dtod, 0.3), FIELD(dw_min_std, 0.3),
        FIELD(up_down, 0.0), FIELD(up_down_dtod, 0.01), FIELD(w_max, 0.6), FIELD(w_min, -0.6),
        FIELD(w_max_dtod, 0.3), FIELD(w_min_dtod, 0.3), FIELD(corrupt_devices_prob, 0.0),
        FIELD(corrupt_devices_range, 0.1), FIELD(lifetime, 0.0), FIELD(lifetime_dtod, 0.0),
        FIELD(diffusion, 0.0), FIELD(diffusion_dtod, 0.0), FIELD(reset, 0.0),
        FIELD(reset_dtod, 0.0), FIELD(reset_std, 0.01), FIELD(write_noise_std, 0.0),
        FIELD(gamma_up, 0.0), FIELD(gamma_down, 0.0), FIELD(gamma_up_dtod, 0.05),
        FIELD(gamma_down_dtod, 0.05), FIELD(reverse_offset, 0.01), FIELD(slope_up_dtod, 0.0),
        FIELD(slope_down_dtod, 0.0), FIELD(reference_mean, 0.0), FIELD(reference_std, 0.0),
        FIELD(A_up, 0.00081), FIELD(A_down, 0.36833), FIELD(gamma_up_exp, 12.44625),
        FIELD(gamma_down_exp, 12.78785), FIELD(a, 0.244), FIELD(b, 0.2425),
        FIELD(dw_min_std_add, 0.0), FIELD(dw_min_std_slope, 0.0), FIELD(pow_gamma, 1.0),
        FIELD(pow_gamma_dtod, 0.1), FIELD(pow_up_down, 0.0), FIELD(pow_up_down_dtod, 0.0),
        FIELD(piecewise_up[0], 1.0), FIELD(piecewise_down[0], 1.0)};
#undef FIELD
    /* clang-format on */
    for (size_t f = 0; f < sizeof common / sizeof common[0]; ++f)
      expect_close(name, common[f].field, common[f].got, common[f].want);
    cr_expect(d.dw_min_dtod_log_normal == 0 && d.enforce_consistency == 1 &&
                  d.apply_write_noise_on_set == 1 && d.allow_increasing == 0 &&
                  d.mean_bound_reference == 1 && d.reverse_up == 0 && d.reverse_down == 0 &&
                  d.subtract_symmetry_point == 0 && d.n_piecewise == 1,
              "%s flags", name);
    /* additive noise is SoftBoundsReference's default, multiplicative the others' */
    cr_expect_eq(d.mult_noise, m != AIMC_DEVICE_SOFT_BOUNDS_REFERENCE, "%s mult_noise", name);
  }
}

Test(preset, descriptors_match_aihwkit_numbers) {
  for (int p = 0; p < AIMC_PRESET_COUNT; ++p) {
    const preset_row_t *r = &preset_rows[p];
    aimc_device_desc_t d;
    CK(aimc_device_desc_preset(&d, r->preset));
    const char *name = aimc_device_preset_name(r->preset);
    cr_expect_str_neq(name, "unknown");
    cr_expect_eq(d.model, r->model, "%s model", name);
    expect_close(name, "dw_min", d.dw_min, r->dw_min);
    expect_close(name, "up_down", d.up_down, r->up_down);
    expect_close(name, "w_max", d.w_max, r->w_max);
    expect_close(name, "w_min", d.w_min, r->w_min);
    expect_close(name, "dw_min_dtod", d.dw_min_dtod, r->dw_min_dtod);
    expect_close(name, "up_down_dtod", d.up_down_dtod, r->up_down_dtod);
    expect_close(name, "w_max_dtod", d.w_max_dtod, r->w_max_dtod);
    expect_close(name, "w_min_dtod", d.w_min_dtod, r->w_min_dtod);
    expect_close(name, "dw_min_std", d.dw_min_std, r->dw_min_std);
    expect_close(name, "write_noise_std", d.write_noise_std, r->write_noise_std);
    cr_expect_eq(d.enforce_consistency, 1, "%s enforce_consistency", name);
    if (r->model == AIMC_DEVICE_LINEAR_STEP) {
      expect_close(name, "gamma_up", d.gamma_up, r->gamma_up);
      expect_close(name, "gamma_down", d.gamma_down, r->gamma_down);
      expect_close(name, "gamma_up_dtod", d.gamma_up_dtod, r->gamma_dtod);
      expect_close(name, "gamma_down_dtod", d.gamma_down_dtod, r->gamma_dtod);
      expect_close(name, "lifetime", d.lifetime, r->lifetime);
      expect_close(name, "lifetime_dtod", d.lifetime_dtod, r->lifetime > 0 ? 0.3 : 0.0);
      cr_expect_eq(d.mean_bound_reference, 1, "%s mean_bound_reference", name);
    }
    if (r->model != AIMC_DEVICE_CONSTANT_STEP && r->model != AIMC_DEVICE_EXP_STEP)
      cr_expect_eq(d.mult_noise, r->mult_noise, "%s mult_noise", name);
    if (r->preset == AIMC_PRESET_RERAM_ES) {
      expect_close(name, "a", d.a, -0.5);
      expect_close(name, "b", d.b, -0.5);
      expect_close(name, "gamma_up_exp", d.gamma_up_exp, 5.0);
      expect_close(name, "gamma_down_exp", d.gamma_down_exp, 5.0);
      expect_close(name, "A_up", d.A_up, -1.18445);
      expect_close(name, "A_down", d.A_down, -0.081404);
    }
    if (r->preset == AIMC_PRESET_RERAM_SB) {
      cr_expect_eq(d.subtract_symmetry_point, 0, "ReRamSB keeps the symmetry point");
      cr_expect(d.reference_mean == 0.0f && d.reference_std == 0.0f);
    }
  }
  aimc_device_desc_t d;
  cr_expect_neq(aimc_device_desc_preset(&d, AIMC_PRESET_COUNT), AIMC_OK);
}

Test(preset, every_preset_draws_its_mean_bounds_steps_and_slopes) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t devs[AIMC_PRESET_COUNT];
  for (int p = 0; p < AIMC_PRESET_COUNT; ++p)
    CK(aimc_device_desc_preset(&devs[p], preset_rows[p].preset));
  /* one tile per preset in a single mixed batch */
  aimc_tiles_t *t = make_tiles(ctx, devs, AIMC_PRESET_COUNT, 64, 64, 100, 80);
  devs_t d = read_devs(t);
  size_t per = d.per_tile;
  double *v = dalloc(per);
  mismatch_t refs = {0}, scales = {0};
  for (int p = 0; p < AIMC_PRESET_COUNT; ++p) {
    const preset_row_t *r = &preset_rows[p];
    const char *name = aimc_device_preset_name(r->preset);
    aimc_tile_config_t cfg;
    CK(aimc_tiles_get_config(t, p, &cfg));
    cr_expect_eq(cfg.device.model, r->model, "%s tile model", name);
    const float *planes[4] = {d.bmax + p * per, d.bmin + p * per, d.s_up + p * per,
                              d.s_dn + p * per};
    /* enforce_consistency folds the normal draws: E|N(mu, sigma)|; steps
     * (bias + gain + r) dw with gain + r ~ N(1, sqrt(dtod^2 + ud_dtod^2)),
     * the bias on one side only. n = 4096: SE = folded sd / 64 */
    double up_bias = r->up_down > 0 ? 0.0 : r->up_down;
    double dn_bias = r->up_down > 0 ? -r->up_down : 0.0;
    double sg = hypot(r->dw_min_dtod, r->up_down_dtod);
    double mu[4] = {r->w_max, -r->w_min, 1.0 + up_bias, 1.0 + dn_bias};
    double sig[4] = {r->w_max * r->w_max_dtod, -r->w_min * r->w_min_dtod, sg, sg};
    double scale[4] = {1.0, -1.0, r->dw_min, r->dw_min};
    static const char *what[4] = {"bmax", "bmin", "s_up", "s_down"};
    for (int q = 0; q < 4; ++q) {
      for (size_t i = 0; i < per; ++i) v[i] = planes[q][i] / scale[q];
      char msg[64];
      snprintf(msg, sizeof msg, "%s %s", name, what[q]);
      expect_mean(msg, moments_of(v, per), folded_mean(mu[q], sig[q]), folded_sd(mu[q], sig[q]));
    }
    if (r->model == AIMC_DEVICE_LINEAR_STEP) {
      /* slope_up = -g s_up / w_max with g = |N(gamma_up, gamma_dtod)|
       * independent of s_up: E = -E g E s / w_max, sd from the moments */
      for (int dir = 0; dir < 2; ++dir) {
        double g = dir ? r->gamma_down : r->gamma_up, w_ref = dir ? r->w_min : r->w_max;
        double eg = folded_mean(g, r->gamma_dtod), eg2 = g * g + r->gamma_dtod * r->gamma_dtod;
        double es = r->dw_min * folded_mean(mu[2 + dir], sg);
        double es2 = r->dw_min * r->dw_min * (mu[2 + dir] * mu[2 + dir] + sg * sg);
        double mean = -eg * es / w_ref, sd = sqrt(eg2 * es2 - eg * eg * es * es) / fabs(w_ref);
        const float *sl = (dir ? d.sl_dn : d.sl_up) + p * per;
        for (size_t i = 0; i < per; ++i) v[i] = sl[i];
        char msg[64];
        snprintf(msg, sizeof msg, "%s slope_%s", name, dir ? "down" : "up");
        expect_mean(msg, moments_of(v, per), mean, sd);
      }
    }
    for (size_t i = 0; i < per; ++i) {
      size_t k = p * per + i;
      if (r->model == AIMC_DEVICE_SOFT_BOUNDS_REFERENCE) note(&refs, k, d.ref[k], 0.0, 0.0);
      /* Capacitor: lifetime 1e6 (1 + 0.3 z): scale 1 - 1/t just below 1 */
      if (r->lifetime > 0)
        flag(&scales, k, d.decay[k] == 0.0f || (d.decay[k] >= 0.999f && d.decay[k] < 1.0f),
             d.decay[k]);
      else
        note(&scales, k, d.decay[k], 1.0, 0.0);
    }
  }
  expect_no_mismatch("ReRamSB keeps a zero reference", &refs);
  expect_no_mismatch("decay scales", &scales);
  /* 100 pulses with the presets' own c2c noise stay finite and in bounds */
  pulse_rows(t, DIR_SPLIT);
  reread_state(t, &d);
  mismatch_t inside = {0}, finite = {0};
  for (size_t k = 0; k < d.n; ++k) {
    flag(&inside, k, d.h[k] >= d.bmin[k] && d.h[k] <= d.bmax[k], d.h[k]);
    flag(&finite, k, isfinite(d.w[k]), d.w[k]);
  }
  expect_no_mismatch("preset states within bounds after pulses", &inside);
  expect_no_mismatch("preset visible weights finite", &finite);
  free(v);
  free_devs(&d);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* ---- Update granularity (the mean step update management assumes) -------- */

/* Pulses on a 1x1 tile for x = d = 1 with BL = 4000 and lr = 2000 g: the
 * probabilities are sqrt(lr / (g_lib BL)) each, so the count is
 * rint(2000 g / g_lib): 2000 exactly when the library's granularity g_lib
 * is g. */
static uint64_t pulses_for_granularity(aimc_context_t *ctx, const aimc_device_desc_t *dev,
                                       double g) {
  aimc_tiles_t *t = make_tile(ctx, dev, 1, 1, 4000, 90);
  CK(aimc_tiles_set_learning_rate(t, (float)(2000.0 * g)));
  float x = 1.0f, d = 1.0f;
  CK(aimc_tiles_update(t, &x, &d, 1));
  aimc_tile_stats_t st;
  CK(aimc_tiles_get_stats(t, &st));
  cr_expect_eq(st.pulses_up, 0);
  aimc_tiles_destroy(t);
  return st.pulses_down;
}

/* ExpStep's step at w = 0 (z = b) with the one-sided asymmetry. */
static double exp_granularity(const aimc_device_desc_t *d) {
  double up_bias = d->up_down > 0 ? 0.0 : d->up_down, dn_bias = d->up_down > 0 ? -d->up_down : 0;
  double g_up = (1.0 + up_bias) * d->dw_min * (1.0 - d->A_up * exp(d->gamma_up_exp * d->b));
  double g_dn = (1.0 + dn_bias) * d->dw_min * (1.0 - d->A_down * exp(-d->gamma_down_exp * d->b));
  return (g_up + g_dn) / 2.0; /* this library's choice: the mean of up and down */
}

Test(granularity, per_model_mean_step) {
  aimc_context_t *ctx = new_context();
  aimc_device_desc_t dev;
  device_of(&dev, AIMC_DEVICE_CONSTANT_STEP);
  cr_expect_eq(pulses_for_granularity(ctx, &dev, dev.dw_min), 2000, "ConstantStep: dw_min");
  device_of(&dev, AIMC_DEVICE_POW_STEP);
  dev.pow_gamma = 2.0f;
  cr_expect_eq(pulses_for_granularity(ctx, &dev, dev.dw_min * 0.25), 2000,
               "PowStep: the step at mid-range dw_min 0.5^gamma");
  device_of(&dev, AIMC_DEVICE_PIECEWISE_STEP);
  dev.n_piecewise = 5;
  static const float nodes[5] = {1.4f, 1.1f, 0.7f, 0.5f, 0.3f};
  for (int i = 0; i < 5; ++i) dev.piecewise_up[i] = dev.piecewise_down[i] = nodes[i];
  cr_expect_eq(pulses_for_granularity(ctx, &dev, dev.dw_min * 0.7), 2000,
               "PiecewiseStep: dw_min piecewise_up[n / 2]");
  device_of(&dev, AIMC_DEVICE_EXP_STEP);
  cr_expect_eq(pulses_for_granularity(ctx, &dev, exp_granularity(&dev)), 2000, "ExpStep");
  /* ReRamES: up 1.0972 dw_min, down 1.4751 dw_min; the mean 1.2862 dw_min
   * differs from aihwkit's down-only 1.4751 dw_min (which would give 1744) */
  CK(aimc_device_desc_preset(&dev, AIMC_PRESET_RERAM_ES));
  cr_expect_eq(pulses_for_granularity(ctx, &dev, exp_granularity(&dev)), 2000, "ReRamES");
  aimc_context_destroy(ctx);
}
