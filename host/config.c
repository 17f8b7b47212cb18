/* Descriptor defaults, the table of every configurable field with its range,
 * validation, named access, and resolution into kernel parameters. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/internal.h"
#include "kernels/common/update.h"

_Static_assert(sizeof(aimc_device_model_t) == sizeof(int32_t), "enum fields are 32-bit");
_Static_assert(sizeof(aimc_pulse_type_t) == sizeof(int32_t), "enum fields are 32-bit");

/* ---- Defaults (aihwkit Python-side values) ------------------------------ */

aimc_status_t aimc_device_desc_default(aimc_device_desc_t *d, aimc_device_model_t model) {
  if (!d) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "desc is NULL");
  if ((int)model < 0 || model >= AIMC_DEVICE_MODEL_COUNT)
    return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT,
                      "model = %d is not a device model (allowed: 0..%d)", (int)model,
                      AIMC_DEVICE_MODEL_COUNT - 1);
  memset(d, 0, sizeof *d);
  d->model = model;
  /* PulsedDevice */
  d->dw_min = 0.001f;
  d->dw_min_dtod = 0.3f;
  d->dw_min_std = 0.3f;
  d->up_down = 0.0f;
  d->up_down_dtod = 0.01f;
  d->w_max = 0.6f;
  d->w_min = -0.6f;
  d->w_max_dtod = 0.3f;
  d->w_min_dtod = 0.3f;
  d->enforce_consistency = 1;
  d->corrupt_devices_range = 0.1f;
  d->reset_std = 0.01f;
  d->apply_write_noise_on_set = 1;
  /* LinearStep */
  d->gamma_up_dtod = 0.05f;
  d->gamma_down_dtod = 0.05f;
  d->mean_bound_reference = 1;
  d->mult_noise = model != AIMC_DEVICE_SOFT_BOUNDS_REFERENCE;
  d->reverse_offset = 0.01f;
  /* ExpStep */
  d->A_up = 0.00081f;
  d->A_down = 0.36833f;
  d->gamma_up_exp = 12.44625f;
  d->gamma_down_exp = 12.78785f;
  d->a = 0.244f;
  d->b = 0.2425f;
  /* PowStep */
  d->pow_gamma = 1.0f;
  d->pow_gamma_dtod = 0.1f;
  /* PiecewiseStep */
  d->n_piecewise = 1;
  d->piecewise_up[0] = 1.0f;
  d->piecewise_down[0] = 1.0f;
  return AIMC_OK;
}

aimc_status_t aimc_io_desc_default(aimc_io_desc_t *io, aimc_io_preset_t preset) {
  if (!io) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "desc is NULL");
  if ((int)preset < 0 || (int)preset > AIMC_IO_PERFECT)
    return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT,
                      "preset = %d is not an IO preset (allowed: 0 DEFAULT, 1 PRESET, 2 STANDARD, "
                      "3 PERFECT)",
                      (int)preset);
  memset(io, 0, sizeof *io);
  io->inp_bound = 1.0f;
  io->inp_res = 1.0f / 126.0f;
  io->out_bound = 12.0f;
  io->out_res = 1.0f / 510.0f;
  io->out_noise = 0.06f;
  io->out_scale = 1.0f;
  io->w_noise_type = AIMC_W_NOISE_NONE;
  io->noise_management = AIMC_NM_ABS_MAX;
  io->nm_assumed_wmax = 0.6f;
  io->bound_management = AIMC_BM_ITERATIVE;
  io->max_bm_factor = 1000.0f;
  io->max_bm_res = 0.25f;
  io->bm_test_negative_bound = 1;
  switch (preset) {
    case AIMC_IO_PRESET:
      io->out_bound = 20.0f;
      io->out_noise = 0.1f;
      break;
    case AIMC_IO_STANDARD:
      io->inp_res = 1.0f / 254.0f;
      io->out_res = 1.0f / 254.0f;
      io->out_bound = 10.0f;
      io->out_noise = 0.04f;
      break;
    case AIMC_IO_PERFECT:
      io->is_perfect = 1;
      break;
    default:
      break;
  }
  return AIMC_OK;
}

void aimc_update_desc_default(aimc_update_desc_t *u) {
  if (!u) return;
  memset(u, 0, sizeof *u);
  u->learning_rate = 0.01f;
  u->pulse_type = AIMC_PULSE_STOCHASTIC_COMPRESSED;
  u->desired_bl = 31;
  u->fixed_bl = 1;
  u->update_management = 1;
  u->update_bl_management = 1;
  u->um_grad_scale = 1.0f;
}

aimc_status_t aimc_tile_config_io_preset(aimc_tile_config_t *cfg, aimc_io_preset_t preset) {
  if (!cfg) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "cfg is NULL");
  aimc_io_desc_t io;
  aimc_status_t s = aimc_io_desc_default(&io, preset);
  if (s != AIMC_OK) return s;
  cfg->forward = io;
  cfg->backward = io;
  cfg->backward.bound_management = AIMC_BM_NONE; /* bound management is forward-only */
  cfg->transfer = io;
  cfg->transfer.noise_management = AIMC_NM_NONE; /* transfer reads of one-hot inputs */
  cfg->transfer.bound_management = AIMC_BM_NONE;
  return AIMC_OK;
}

void aimc_tile_config_default(aimc_tile_config_t *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  aimc_device_desc_default(&cfg->device, AIMC_DEVICE_CONSTANT_STEP);
  aimc_tile_config_io_preset(cfg, AIMC_IO_DEFAULT);
  aimc_update_desc_default(&cfg->update);
}

/* ---- The field table ---------------------------------------------------- */

typedef enum { FT_F32, FT_I32, FT_BOOL } field_type_t;

typedef struct field {
  const char *name;
  size_t offset;
  field_type_t type;
  double lo, hi;
  unsigned char lo_open, hi_open; /* exclusive ends */
  unsigned char inf_ok;           /* +inf allowed */
  unsigned char count;            /* array length, 0 for a scalar */
} field_t;

#define INF HUGE_VAL
#define OFS(member) offsetof(aimc_tile_config_t, member)
/* closed range, open-below range, bool, integer */
/* g is the group member of aimc_tile_config_t (device, forward, ...), f the field */
#define FR(g, f, lo, hi) {#g "." #f, OFS(g.f), FT_F32, lo, hi, 0, 0, 0, 0}
#define FP(g, f) {#g "." #f, OFS(g.f), FT_F32, 0, INF, 1, 0, 0, 0}
#define FA(g, f) {#g "." #f, OFS(g.f), FT_F32, -INF, INF, 0, 0, 0, 0}
#define FB(g, f) {#g "." #f, OFS(g.f), FT_BOOL, 0, 1, 0, 0, 0, 0}
#define FI(g, f, lo, hi) {#g "." #f, OFS(g.f), FT_I32, lo, hi, 0, 0, 0, 0}
#define FINF(g, f) {#g "." #f, OFS(g.f), FT_F32, 0, INF, 1, 0, 1, 0} /* (0, inf] */

#define IO_FIELDS(g)                                                     \
  FB(g, is_perfect), FINF(g, inp_bound),                                 \
      FR(g, inp_res, 0, INF), FB(g, inp_sto_round), FR(g, inp_noise, 0, INF),            \
      FR(g, inp_asymmetry, -1, 1),                                                       \
      FINF(g, out_bound),                                                                \
      FR(g, out_res, 0, INF), FB(g, out_sto_round), FR(g, out_noise, 0, INF),            \
      FR(g, out_noise_std, 0, INF), FA(g, out_scale), FR(g, out_asymmetry, -1, 1),       \
      FR(g, out_nonlinearity, 0, INF), FR(g, out_nonlinearity_std, 0, INF),              \
      FI(g, w_noise_type, 0, 2), FR(g, w_noise, 0, INF), FI(g, noise_management, 0, 4),  \
      FR(g, nm_thres, 0, INF), FP(g, nm_assumed_wmax), FI(g, bound_management, 0, 2),    \
      FR(g, max_bm_factor, 1, INF), FP(g, max_bm_res), FB(g, bm_test_negative_bound)

static const field_t fields[] = {
    FI(device, model, 0, AIMC_DEVICE_MODEL_COUNT - 1),
    FP(device, dw_min),
    FR(device, dw_min_dtod, 0, INF),
    FB(device, dw_min_dtod_log_normal),
    FR(device, dw_min_std, 0, INF),
    FA(device, up_down),
    FR(device, up_down_dtod, 0, INF),
    FR(device, w_max, 0, INF),
    FR(device, w_min, -INF, 0),
    FR(device, w_max_dtod, 0, INF),
    FR(device, w_min_dtod, 0, INF),
    FB(device, enforce_consistency),
    FR(device, corrupt_devices_prob, 0, 1),
    FR(device, corrupt_devices_range, 0, INF),
    FR(device, lifetime, 0, INF),
    FR(device, lifetime_dtod, 0, INF),
    FR(device, diffusion, 0, INF),
    FR(device, diffusion_dtod, 0, INF),
    FA(device, reset),
    FR(device, reset_dtod, 0, INF),
    FR(device, reset_std, 0, INF),
    FR(device, write_noise_std, 0, INF),
    FB(device, apply_write_noise_on_set),
    FA(device, gamma_up),
    FA(device, gamma_down),
    FR(device, gamma_up_dtod, 0, INF),
    FR(device, gamma_down_dtod, 0, INF),
    FB(device, allow_increasing),
    FB(device, mean_bound_reference),
    FB(device, mult_noise),
    FB(device, reverse_up),
    FB(device, reverse_down),
    FA(device, reverse_offset),
    FR(device, slope_up_dtod, 0, INF),
    FR(device, slope_down_dtod, 0, INF),
    FA(device, reference_mean),
    FR(device, reference_std, 0, INF),
    FB(device, subtract_symmetry_point),
    FA(device, A_up),
    FA(device, A_down),
    FA(device, gamma_up_exp),
    FA(device, gamma_down_exp),
    FA(device, a),
    FA(device, b),
    FR(device, dw_min_std_add, 0, INF),
    FR(device, dw_min_std_slope, 0, INF),
    FR(device, pow_gamma, 0, INF),
    FR(device, pow_gamma_dtod, 0, INF),
    FA(device, pow_up_down),
    FR(device, pow_up_down_dtod, 0, INF),
    FI(device, n_piecewise, 1, AIMC_PIECEWISE_MAX),
    {"device.piecewise_up", OFS(device.piecewise_up), FT_F32, 0, INF, 0, 0, 0, AIMC_PIECEWISE_MAX},
    {"device.piecewise_down", OFS(device.piecewise_down), FT_F32, 0, INF, 0, 0, 0,
     AIMC_PIECEWISE_MAX},
    IO_FIELDS(forward),
    IO_FIELDS(backward),
    IO_FIELDS(transfer),
    FR(update, learning_rate, 0, INF),
    FI(update, pulse_type, 0, 5),
    FI(update, desired_bl, 1, AIMC_MAX_BL),
    FB(update, fixed_bl),
    FB(update, update_management),
    FB(update, update_bl_management),
    FP(update, um_grad_scale),
    FR(update, res, 0, 1),
    FB(update, sto_round),
    FR(update, x_res_implicit, 0, 1),
    FR(update, d_res_implicit, 0, 1),
};
#define N_FIELDS ((int)(sizeof fields / sizeof fields[0]))

const char *aimc_tile_config_field_name(int index) {
  return index >= 0 && index < N_FIELDS ? fields[index].name : NULL;
}

static double field_read(const aimc_tile_config_t *cfg, const field_t *f, int idx) {
  const char *p = (const char *)cfg + f->offset;
  if (f->type == FT_F32) return ((const float *)p)[idx];
  return ((const int32_t *)p)[idx];
}

static void field_write(aimc_tile_config_t *cfg, const field_t *f, int idx, double v) {
  char *p = (char *)cfg + f->offset;
  if (f->type == FT_F32)
    ((float *)p)[idx] = (float)v;
  else
    ((int32_t *)p)[idx] = (int32_t)v;
}

static void format_range(const field_t *f, char *buf, size_t len) {
  char lo[32], hi[32];
  if (isinf(f->lo)) snprintf(lo, sizeof lo, "-inf"); else snprintf(lo, sizeof lo, "%.9g", f->lo);
  if (isinf(f->hi)) snprintf(hi, sizeof hi, "inf"); else snprintf(hi, sizeof hi, "%.9g", f->hi);
  if (f->type == FT_BOOL) {
    snprintf(buf, len, "{0, 1}");
    return;
  }
  int hi_closed = !f->hi_open && (!isinf(f->hi) || f->inf_ok);
  snprintf(buf, len, "%c%s, %s%c%s", f->lo_open || isinf(f->lo) ? '(' : '[', lo, hi,
           hi_closed ? ']' : ')', f->type == FT_I32 ? " (integer)" : "");
}

/* Whether v is allowed for field f. */
static int field_value_ok(const field_t *f, double v) {
  if (isnan(v)) return 0;
  if (isinf(v)) return v > 0 && f->inf_ok;
  if (f->type != FT_F32 && v != floor(v)) return 0;
  if (f->type == FT_F32 && fabs(v) > 3.4028234663852886e38) return 0;
  if (f->lo_open ? !(v > f->lo) : !(v >= f->lo)) return 0;
  if (f->hi_open ? !(v < f->hi) : !(v <= f->hi)) return 0;
  return 1;
}

static aimc_status_t field_error(const char *prefix, const field_t *f, int idx, double v,
                                 char *msg, size_t msg_len) {
  char range[96], name[96];
  format_range(f, range, sizeof range);
  if (f->count)
    snprintf(name, sizeof name, "%s[%d]", f->name, idx);
  else
    snprintf(name, sizeof name, "%s", f->name);
  snprintf(msg, msg_len, "%s%s%s = %.9g is out of range %s", prefix ? prefix : "",
           prefix && *prefix ? "." : "", name, v, range);
  return AIMC_ERR_INVALID_ARGUMENT;
}

/* Rules between fields; msg names every field involved. */
static aimc_status_t check_cross(const aimc_tile_config_t *c, const char *pre, char *msg,
                                 size_t len) {
  const char *dot = pre && *pre ? "." : "";
  if (pre == NULL) pre = "";
  const aimc_device_desc_t *d = &c->device;
  if (!(d->w_max > d->w_min)) {
    snprintf(msg, len,
             "%s%sdevice.w_max = %.9g and %s%sdevice.w_min = %.9g leave no weight range "
             "(need w_min <= 0 <= w_max and w_max > w_min)",
             pre, dot, d->w_max, pre, dot, d->w_min);
    return AIMC_ERR_INVALID_ARGUMENT;
  }
  const aimc_io_desc_t *ios[3] = {&c->forward, &c->backward, &c->transfer};
  const char *names[3] = {"forward", "backward", "transfer"};
  for (int k = 0; k < 3; ++k) {
    const aimc_io_desc_t *io = ios[k];
    if (io->is_perfect) continue;
    if (isinf(io->inp_bound) && io->inp_res > 0) {
      snprintf(msg, len,
               "%s%s%s.inp_res = %.9g must be 0 when %s.inp_bound is infinite (the DAC step "
               "would be infinite)",
               pre, dot, names[k], io->inp_res, names[k]);
      return AIMC_ERR_INVALID_ARGUMENT;
    }
    if (isinf(io->out_bound) && io->out_res > 0) {
      snprintf(msg, len,
               "%s%s%s.out_res = %.9g must be 0 when %s.out_bound is infinite (the ADC step "
               "would be infinite)",
               pre, dot, names[k], io->out_res, names[k]);
      return AIMC_ERR_INVALID_ARGUMENT;
    }
    if (io->noise_management != AIMC_NM_NONE && io->inp_bound != 1.0f) {
      snprintf(msg, len,
               "%s%s%s.inp_bound = %.9g must be 1 when %s.noise_management = %d (noise "
               "management scales inputs to [-1, 1])",
               pre, dot, names[k], io->inp_bound, names[k], (int)io->noise_management);
      return AIMC_ERR_INVALID_ARGUMENT;
    }
  }
  /* (a perfect read has no management at all, so these rules skip it) */
  if (!c->backward.is_perfect && c->backward.bound_management != AIMC_BM_NONE) {
    snprintf(msg, len,
             "%s%sbackward.bound_management = %d is not supported: bound management is "
             "forward-only (allowed: 0 NONE)",
             pre, dot, (int)c->backward.bound_management);
    return AIMC_ERR_INVALID_ARGUMENT;
  }
  if (!c->transfer.is_perfect && (c->transfer.noise_management != AIMC_NM_NONE ||
                                  c->transfer.bound_management != AIMC_BM_NONE)) {
    snprintf(msg, len,
             "%s%stransfer.noise_management = %d, transfer.bound_management = %d: transfer "
             "reads use neither (allowed: 0 NONE for both)",
             pre, dot, (int)c->transfer.noise_management, (int)c->transfer.bound_management);
    return AIMC_ERR_INVALID_ARGUMENT;
  }
  const aimc_update_desc_t *u = &c->update;
  if (u->pulse_type == 2) {
    snprintf(msg, len,
             "%s%supdate.pulse_type = 2 (aihwkit STOCHASTIC) is not implemented (allowed: 0 "
             "NONE, 1 STOCHASTIC_COMPRESSED, which has the same statistics, 3 NONE_WITH_DEVICE, "
             "4 MEAN_COUNT, 5 DETERMINISTIC_IMPLICIT)",
             pre, dot);
    return AIMC_ERR_INVALID_ARGUMENT;
  }
  if (!u->fixed_bl && !u->update_bl_management) {
    float g = aimc_device_granularity(d);
    if (g * (float)u->desired_bl < u->learning_rate &&
        ceilf(u->learning_rate / g) > (float)AIMC_MAX_BL) {
      snprintf(msg, len,
               "%s%supdate.learning_rate = %.9g needs a pulse train of %.0f slots with "
               "update.fixed_bl = 0 (granularity %.9g); at most %d are allowed",
               pre, dot, u->learning_rate, ceilf(u->learning_rate / g), g, AIMC_MAX_BL);
      return AIMC_ERR_INVALID_ARGUMENT;
    }
  }
  return AIMC_OK;
}

aimc_status_t aimc_config_check(const aimc_tile_config_t *cfg, const char *prefix, char *msg,
                                size_t msg_len) {
  for (int i = 0; i < N_FIELDS; ++i) {
    const field_t *f = &fields[i];
    int n = f->count ? cfg->device.n_piecewise : 1;
    if (f->count && (n < 1 || n > f->count)) continue; /* n_piecewise reported on its own */
    for (int k = 0; k < n; ++k) {
      double v = field_read(cfg, f, k);
      if (!field_value_ok(f, v)) return field_error(prefix, f, k, v, msg, msg_len);
    }
  }
  return check_cross(cfg, prefix, msg, msg_len);
}

aimc_status_t aimc_tile_config_validate(const aimc_tile_config_t *cfg) {
  if (!cfg) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "cfg is NULL");
  char msg[AIMC_ERROR_LEN];
  aimc_status_t s = aimc_config_check(cfg, "cfg", msg, sizeof msg);
  if (s != AIMC_OK) return aimc_error(NULL, s, "%s", msg);
  return AIMC_OK;
}

/* "group.name" or "group.name[i]" -> field and index. */
static const field_t *lookup(const char *name, int *idx) {
  *idx = 0;
  if (!name) return NULL;
  const char *br = strchr(name, '[');
  size_t base = br ? (size_t)(br - name) : strlen(name);
  for (int i = 0; i < N_FIELDS; ++i) {
    const field_t *f = &fields[i];
    if (strlen(f->name) != base || strncmp(f->name, name, base) != 0) continue;
    if (!f->count) return br ? NULL : f;
    if (!br) return NULL;
    char *end = NULL;
    long k = strtol(br + 1, &end, 10);
    if (end == br + 1 || *end != ']' || end[1] != '\0' || k < 0 || k >= f->count) return NULL;
    *idx = (int)k;
    return f;
  }
  return NULL;
}

static aimc_status_t unknown_field(const char *field) {
  return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT,
                    "field = \"%s\" is not a configuration field (see "
                    "aimc_tile_config_field_name for the list, e.g. \"device.dw_min\", "
                    "\"forward.out_noise\", \"device.piecewise_up[0]\")",
                    field ? field : "(null)");
}

aimc_status_t aimc_tile_config_set(aimc_tile_config_t *cfg, const char *field, double value) {
  if (!cfg) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "cfg is NULL");
  int idx;
  const field_t *f = lookup(field, &idx);
  if (!f) return unknown_field(field);
  if (!field_value_ok(f, value)) {
    char msg[AIMC_ERROR_LEN];
    field_error(NULL, f, idx, value, msg, sizeof msg);
    return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "%s", msg);
  }
  field_write(cfg, f, idx, value);
  return AIMC_OK;
}

aimc_status_t aimc_tile_config_get(const aimc_tile_config_t *cfg, const char *field,
                                   double *value) {
  if (!cfg) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "cfg is NULL");
  if (!value) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "value is NULL");
  int idx;
  const field_t *f = lookup(field, &idx);
  if (!f) return unknown_field(field);
  *value = field_read(cfg, f, idx);
  return AIMC_OK;
}

/* ---- Resolution into kernel parameters ---------------------------------- */

/* Weight change of one mean pulse, as update management uses it (aihwkit's
 * weight granularity). For ExpStep the mean of the up and down steps at
 * w = 0 (aihwkit averages the down step with itself). */
float aimc_device_granularity(const aimc_device_desc_t *d) {
  switch (d->model) {
    case AIMC_DEVICE_POW_STEP:
      return d->dw_min * powf(0.5f, d->pow_gamma);
    case AIMC_DEVICE_PIECEWISE_STEP: {
      float g = d->dw_min * d->piecewise_up[d->n_piecewise / 2];
      return g > 0.0f ? g : d->dw_min;
    }
    case AIMC_DEVICE_EXP_STEP: {
      float up_bias = d->up_down > 0.0f ? 0.0f : d->up_down;
      float down_bias = d->up_down > 0.0f ? -d->up_down : 0.0f;
      float g_up = (1.0f + up_bias) * d->dw_min *
                   fmaxf(1.0f - d->A_up * expf(d->gamma_up_exp * d->b), 0.0f);
      float g_dn = (1.0f + down_bias) * d->dw_min *
                   fmaxf(1.0f - d->A_down * expf(-d->gamma_down_exp * d->b), 0.0f);
      float g = (g_up + g_dn) / 2.0f;
      return g > 0.0f ? g : d->dw_min;
    }
    default:
      return d->dw_min;
  }
}

static float res_step(float res, float bound) {
  if (!(res > 0.0f)) return 0.0f;
  if (res > 1.0f) res = 1.0f / res; /* given as a number of steps */
  return res * 2.0f * bound;
}

static void resolve_io(const aimc_io_desc_t *io, aimc_io_params_t *p) {
  memset(p, 0, sizeof *p);
  p->perfect = io->is_perfect;
  p->nm = io->noise_management;
  p->bm = io->bound_management;
  p->w_noise_type = io->w_noise_type;
  p->inp_sto_round = io->inp_sto_round;
  p->out_sto_round = io->out_sto_round;
  p->bm_test_negative_bound = io->bm_test_negative_bound;
  p->has_nonlinearity = io->out_nonlinearity > 0.0f;
  p->nm_thres = io->nm_thres;
  p->nm_assumed_wmax = io->nm_assumed_wmax;
  p->inp_bound = io->inp_bound;
  p->inp_step = res_step(io->inp_res, io->inp_bound);
  p->inp_noise = io->inp_noise;
  p->inp_asymmetry = io->inp_asymmetry;
  p->out_bound = io->out_bound;
  p->out_step = res_step(io->out_res, io->out_bound);
  p->out_noise = io->out_noise;
  p->out_noise_std = io->out_noise_std;
  p->out_asymmetry = io->out_asymmetry;
  p->nl_base = io->out_nonlinearity / (isinf(io->out_bound) ? 1.0f : io->out_bound);
  p->nl_std = io->out_nonlinearity_std;
  p->w_noise = io->w_noise;
  p->out_scale = io->out_scale;
  p->max_bm_factor = io->max_bm_factor;
  p->max_bm_res = io->max_bm_res;
}

void aimc_resolve_params(const aimc_tile_config_t *cfg, uint64_t key, aimc_tile_params_t *p) {
  memset(p, 0, sizeof *p);
  p->key = key;
  p->desc = cfg->device;
  const aimc_device_desc_t *d = &cfg->device;
  aimc_device_params_t *dv = &p->dev;
  dv->model = d->model;
  dv->mult_noise = d->mult_noise;
  dv->exp_complex_noise =
      d->dw_min_std > 0.0f && (d->dw_min_std_add != 0.0f || d->dw_min_std_slope != 0.0f);
  dv->n_piecewise = d->n_piecewise;
  dv->dw_min_std = d->dw_min_std;
  dv->write_noise = d->write_noise_std * d->dw_min;
  dv->es_A_up = d->A_up;
  dv->es_A_down = d->A_down;
  dv->es_gamma_up = d->gamma_up_exp;
  dv->es_gamma_down = d->gamma_down_exp;
  dv->es_a = d->a;
  dv->es_b = d->b;
  dv->std_add = d->dw_min_std_add;
  dv->std_slope = d->dw_min_std_slope;
  memcpy(dv->piecewise_up, d->piecewise_up, sizeof dv->piecewise_up);
  memcpy(dv->piecewise_down, d->piecewise_down, sizeof dv->piecewise_down);

  resolve_io(&cfg->forward, &p->io[AIMC_FORWARD]);
  resolve_io(&cfg->backward, &p->io[AIMC_BACKWARD]);
  resolve_io(&cfg->transfer, &p->io[AIMC_TRANSFER_FORWARD]);
  resolve_io(&cfg->transfer, &p->io[AIMC_TRANSFER_BACKWARD]);

  const aimc_update_desc_t *u = &cfg->update;
  aimc_update_params_t *up = &p->upd;
  up->pulse_type = u->pulse_type;
  up->desired_bl = u->desired_bl;
  up->fixed_bl = u->fixed_bl;
  up->um = u->update_management || u->update_bl_management;
  up->ublm = u->update_bl_management;
  up->sto_round = u->sto_round;
  up->lr = u->learning_rate;
  up->um_grad_scale = u->um_grad_scale;
  up->res = u->res;
  up->x_res_implicit = u->x_res_implicit;
  up->d_res_implicit = u->d_res_implicit;
  up->granularity = aimc_device_granularity(d);
}
