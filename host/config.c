/* Descriptor defaults, the table of every configurable field with its range,
 * validation, named access, and resolution into kernel parameters. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/internal.h"
#include "kernels/common/devices.h"
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

const char *aimc_algorithm_name(aimc_algorithm_t kind) {
  switch (kind) {
    case AIMC_ALGO_SGD: return "analog SGD";
    case AIMC_ALGO_FLOAT_SGD: return "float SGD";
    case AIMC_ALGO_TIKI_TAKA: return "Tiki-Taka";
    case AIMC_ALGO_TTV2: return "TTv2";
    case AIMC_ALGO_CHOPPED_TTV2: return "chopped TTv2";
    case AIMC_ALGO_AGAD: return "AGAD";
    case AIMC_ALGO_MIXED_PRECISION: return "mixed precision";
    case AIMC_ALGO_STELLAR: return "STELLAR";
    case AIMC_ALGO_PANTHER: return "PANTHER";
    default: return "unknown";
  }
}

aimc_status_t aimc_algorithm_desc_default(aimc_algorithm_desc_t *a, aimc_algorithm_t kind) {
  if (!a) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "desc is NULL");
  if ((int)kind < 0 || kind >= AIMC_ALGO_COUNT)
    return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT,
                      "kind = %d is not an algorithm (allowed: 0..%d)", (int)kind,
                      AIMC_ALGO_COUNT - 1);
  memset(a, 0, sizeof *a);
  a->kind = kind;
  /* TransferCompound (Tiki-Taka v1) */
  a->fast_lr = 1.0f;
  a->transfer_lr = 1.0f;
  a->scale_transfer_lr = 1;
  a->transfer_every = 1.0f;
  a->units_in_mbatch = 1;
  a->n_reads_per_transfer = 1;
  a->transfer_columns = 1;
  /* BufferedTransferCompound (TTv2) */
  a->thres_scale = 1.0f;
  a->step = 1.0f;
  a->momentum = 0.1f;
  a->forget_buffer = 1;
  /* ChoppedTransferCompound, DynamicTransferCompound */
  a->in_chop_prob = 0.1f;
  a->in_chop_random = 1;
  a->auto_momentum = 0.99f;
  a->buffer_granularity = 1.0f;
  a->tail_weightening = 5.0f;
  /* the A rate scales with the tile rate for Tiki-Taka and TTv2 (aihwkit
     2026 scale_fast_lr), not for the chopped algorithms */
  a->scale_fast_lr = kind == AIMC_ALGO_TIKI_TAKA || kind == AIMC_ALGO_TTV2;
  if (kind == AIMC_ALGO_CHOPPED_TTV2 || kind == AIMC_ALGO_AGAD) {
    a->momentum = 0.0f;
    a->units_in_mbatch = 0;
  }
  if (kind == AIMC_ALGO_AGAD) a->in_chop_random = 0;
  /* MixedPrecisionCompound */
  a->n_rows_per_transfer = -1;
  /* STELLAR */
  a->stellar_c1 = 0.4f;
  /* PANTHER: 16-bit fixed point, 4 integer and 12 fraction bits */
  static const int32_t bits[8] = {4, 4, 4, 6, 6, 5, 5, 5};
  a->n_slices = 8;
  memcpy(a->slice_bits, bits, sizeof bits);
  a->crs_every = 64;
  a->weight_step = 1.0f / 4096.0f;
  a->input_step = 1.0f / 256.0f;
  return AIMC_OK;
}

void aimc_tile_config_default(aimc_tile_config_t *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  aimc_device_desc_default(&cfg->device, AIMC_DEVICE_CONSTANT_STEP);
  aimc_device_desc_default(&cfg->fast_device, AIMC_DEVICE_CONSTANT_STEP);
  aimc_tile_config_io_preset(cfg, AIMC_IO_DEFAULT);
  aimc_update_desc_default(&cfg->update);
  aimc_update_desc_default(&cfg->transfer_update);
  aimc_algorithm_desc_default(&cfg->algorithm, AIMC_ALGO_SGD);
}

aimc_status_t aimc_tile_config_algorithm(aimc_tile_config_t *cfg, aimc_algorithm_t kind) {
  if (!cfg) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "cfg is NULL");
  aimc_algorithm_desc_t a;
  aimc_status_t s = aimc_algorithm_desc_default(&a, kind);
  if (s != AIMC_OK) return s;
  cfg->algorithm = a;
  aimc_update_desc_default(&cfg->transfer_update);
  if (kind == AIMC_ALGO_TTV2 || kind == AIMC_ALGO_CHOPPED_TTV2 || kind == AIMC_ALGO_AGAD) {
    cfg->transfer_update.desired_bl = 1; /* one step per threshold crossing */
    cfg->transfer_update.update_management = 0;
    cfg->transfer_update.update_bl_management = 0;
  }
  if (kind == AIMC_ALGO_PANTHER) { /* ideal cells: one level per pulse */
    aimc_device_desc_t *d = &cfg->device;
    aimc_device_desc_default(d, AIMC_DEVICE_CONSTANT_STEP);
    d->dw_min = 1.0f;
    d->dw_min_dtod = d->dw_min_std = d->up_down_dtod = 0.0f;
    d->w_max_dtod = d->w_min_dtod = d->reset_std = 0.0f;
  }
  return AIMC_OK;
}

/* Number of analog arrays an algorithm keeps per tile. */
int32_t aimc_algorithm_arrays(const aimc_algorithm_desc_t *a) {
  switch (a->kind) {
    case AIMC_ALGO_TIKI_TAKA:
    case AIMC_ALGO_TTV2:
    case AIMC_ALGO_CHOPPED_TTV2:
    case AIMC_ALGO_AGAD:
    case AIMC_ALGO_STELLAR:
      return 2;
    case AIMC_ALGO_PANTHER:
      return a->n_slices;
    default:
      return 1;
  }
}

int aimc_is_transfer_family(int32_t kind) {
  return kind == AIMC_ALGO_TIKI_TAKA || kind == AIMC_ALGO_TTV2 ||
         kind == AIMC_ALGO_CHOPPED_TTV2 || kind == AIMC_ALGO_AGAD;
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
  size_t count_offset;            /* arrays: offset of the int32 saying how many are used */
} field_t;

#define INF HUGE_VAL
/* Upper end of the spreads and noise levels (relative, or in units of
 * dw_min or of the signal): far beyond any physical value, and small enough
 * that a drawn device or a noisy read stays a finite float. */
#define NOISE_MAX 1e6
#define OFS(member) offsetof(aimc_tile_config_t, member)
/* g is the group member of aimc_tile_config_t (device, forward, ...), f the field */
#define FR(g, f, lo, hi) {#g "." #f, OFS(g.f), FT_F32, lo, hi, 0, 0, 0, 0, 0}
#define FP(g, f) {#g "." #f, OFS(g.f), FT_F32, 0, INF, 1, 0, 0, 0, 0}
#define FRO(g, f, lo, hi) {#g "." #f, OFS(g.f), FT_F32, lo, hi, 0, 1, 0, 0, 0} /* [lo, hi) */
#define FA(g, f) {#g "." #f, OFS(g.f), FT_F32, -INF, INF, 0, 0, 0, 0, 0}
#define FB(g, f) {#g "." #f, OFS(g.f), FT_BOOL, 0, 1, 0, 0, 0, 0, 0}
#define FI(g, f, lo, hi) {#g "." #f, OFS(g.f), FT_I32, lo, hi, 0, 0, 0, 0, 0}
#define FINF(g, f) {#g "." #f, OFS(g.f), FT_F32, 0, INF, 1, 0, 1, 0, 0} /* (0, inf] */
#define FARR(g, f, type, lo, hi, n, count) \
  {#g "." #f, OFS(g.f), type, lo, hi, 0, 0, 0, n, OFS(g.count)}

#define DEVICE_FIELDS(g)                                                                \
  FI(g, model, 0, AIMC_DEVICE_MODEL_COUNT - 1), FP(g, dw_min), FR(g, dw_min_dtod, 0, NOISE_MAX), \
      FB(g, dw_min_dtod_log_normal), FR(g, dw_min_std, 0, NOISE_MAX), FA(g, up_down),           \
      FR(g, up_down_dtod, 0, NOISE_MAX), FR(g, w_max, 0, INF), FR(g, w_min, -INF, 0),           \
      FR(g, w_max_dtod, 0, NOISE_MAX), FR(g, w_min_dtod, 0, NOISE_MAX), FB(g, enforce_consistency),   \
      FR(g, corrupt_devices_prob, 0, 1), FR(g, corrupt_devices_range, 0, INF),            \
      FR(g, lifetime, 0, INF), FR(g, lifetime_dtod, 0, NOISE_MAX), FR(g, diffusion, 0, INF),    \
      FR(g, diffusion_dtod, 0, NOISE_MAX), FA(g, reset), FR(g, reset_dtod, 0, NOISE_MAX),             \
      FR(g, reset_std, 0, NOISE_MAX), FR(g, write_noise_std, 0, NOISE_MAX),                           \
      FB(g, apply_write_noise_on_set), FA(g, gamma_up), FA(g, gamma_down),                \
      FR(g, gamma_up_dtod, 0, NOISE_MAX), FR(g, gamma_down_dtod, 0, NOISE_MAX), FB(g, allow_increasing), \
      FB(g, mean_bound_reference), FB(g, mult_noise), FB(g, reverse_up), FB(g, reverse_down), \
      FA(g, reverse_offset), FR(g, slope_up_dtod, 0, NOISE_MAX), FR(g, slope_down_dtod, 0, NOISE_MAX), \
      FA(g, reference_mean), FR(g, reference_std, 0, NOISE_MAX), FB(g, subtract_symmetry_point), \
      FA(g, A_up), FA(g, A_down), FA(g, gamma_up_exp), FA(g, gamma_down_exp), FA(g, a),   \
      FA(g, b), FR(g, dw_min_std_add, 0, NOISE_MAX), FR(g, dw_min_std_slope, 0, NOISE_MAX),           \
      FR(g, pow_gamma, 0, INF), FR(g, pow_gamma_dtod, 0, NOISE_MAX), FA(g, pow_up_down),        \
      FR(g, pow_up_down_dtod, 0, NOISE_MAX), FI(g, n_piecewise, 1, AIMC_PIECEWISE_MAX),         \
      FARR(g, piecewise_up, FT_F32, 0, INF, AIMC_PIECEWISE_MAX, n_piecewise),             \
      FARR(g, piecewise_down, FT_F32, 0, INF, AIMC_PIECEWISE_MAX, n_piecewise)

#define IO_FIELDS(g)                                                                       \
  FB(g, is_perfect), FINF(g, inp_bound), FR(g, inp_res, 0, INF), FB(g, inp_sto_round),     \
      FR(g, inp_noise, 0, NOISE_MAX), FR(g, inp_asymmetry, -1, 1), FINF(g, out_bound),           \
      FR(g, out_res, 0, INF), FB(g, out_sto_round), FR(g, out_noise, 0, NOISE_MAX),              \
      FR(g, out_noise_std, 0, NOISE_MAX), FA(g, out_scale), FR(g, out_asymmetry, -1, 1),         \
      FR(g, out_nonlinearity, 0, INF), FR(g, out_nonlinearity_std, 0, NOISE_MAX),                \
      FI(g, w_noise_type, 0, 2), FR(g, w_noise, 0, NOISE_MAX), FI(g, noise_management, 0, 4),    \
      FR(g, nm_thres, 0, INF), FP(g, nm_assumed_wmax), FI(g, bound_management, 0, 2),      \
      FR(g, max_bm_factor, 1, INF), FP(g, max_bm_res), FB(g, bm_test_negative_bound)

#define UPDATE_FIELDS(g)                                                                   \
  FR(g, learning_rate, 0, INF), FI(g, pulse_type, 0, 5), FI(g, desired_bl, 1, AIMC_MAX_BL), \
      FB(g, fixed_bl), FB(g, update_management), FB(g, update_bl_management),              \
      FP(g, um_grad_scale), FR(g, res, 0, 1), FB(g, sto_round), FR(g, x_res_implicit, 0, 1), \
      FR(g, d_res_implicit, 0, 1)

static const field_t fields[] = {
    DEVICE_FIELDS(device),
    DEVICE_FIELDS(fast_device),
    IO_FIELDS(forward),
    IO_FIELDS(backward),
    IO_FIELDS(transfer),
    UPDATE_FIELDS(update),
    UPDATE_FIELDS(transfer_update),
    FI(algorithm, kind, 0, AIMC_ALGO_COUNT - 1),
    FA(algorithm, gamma),
    FR(algorithm, fast_lr, 0, INF),
    FB(algorithm, scale_fast_lr),
    FR(algorithm, transfer_lr, 0, INF),
    FB(algorithm, scale_transfer_lr),
    FA(algorithm, transfer_every),
    FB(algorithm, units_in_mbatch),
    FI(algorithm, n_reads_per_transfer, 1, AIMC_MAX_DIM),
    FB(algorithm, transfer_columns),
    FR(algorithm, with_reset_prob, 0, 1),
    FP(algorithm, thres_scale),
    FP(algorithm, step),
    FR(algorithm, momentum, 0, 1),
    FB(algorithm, forget_buffer),
    FR(algorithm, in_chop_prob, 0, 1),
    FB(algorithm, in_chop_random),
    FR(algorithm, out_chop_prob, 0, 1),
    FB(algorithm, auto_scale),
    /* below 1: with momentum 1 the running maxima freeze at the first sample's,
     * and no later sample's rate base / (mx md) has a bound (docs/physics.md) */
    FRO(algorithm, auto_momentum, 0, 1),
    FR(algorithm, auto_granularity, 0, INF),
    FP(algorithm, buffer_granularity),
    FB(algorithm, correct_gradient_magnitudes),
    FB(algorithm, no_buffer),
    FR(algorithm, tail_weightening, 0, INF),
    FR(algorithm, buffer_cap, 0, INF),
    FR(algorithm, granularity, 0, INF),
    FI(algorithm, n_rows_per_transfer, -1, AIMC_MAX_DIM),
    FI(algorithm, n_x_bins, 0, 1 << 24),
    FI(algorithm, n_d_bins, 0, 1 << 24),
    FR(algorithm, stellar_c1, 0, 1),
    FR(algorithm, stellar_threshold, 0, INF),
    FA(algorithm, stellar_c2),
    FI(algorithm, n_slices, 1, AIMC_MAX_SLICES),
    FARR(algorithm, slice_bits, FT_I32, 2, 24, AIMC_MAX_SLICES, n_slices),
    FI(algorithm, crs_every, 1, 1 << 30),
    FP(algorithm, weight_step),
    FP(algorithm, input_step),
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
  const aimc_update_desc_t *ups[2] = {&c->update, &c->transfer_update};
  const char *up_names[2] = {"update", "transfer_update"};
  for (int k = 0; k < 2; ++k)
    if (ups[k]->pulse_type == 2) {
      snprintf(msg, len,
               "%s%s%s.pulse_type = 2 (aihwkit STOCHASTIC) is not implemented (allowed: 0 "
               "NONE, 1 STOCHASTIC_COMPRESSED, which has the same statistics, 3 "
               "NONE_WITH_DEVICE, 4 MEAN_COUNT, 5 DETERMINISTIC_IMPLICIT)",
               pre, dot, up_names[k]);
      return AIMC_ERR_INVALID_ARGUMENT;
    }
  const aimc_algorithm_desc_t *al = &c->algorithm;
  if (aimc_is_transfer_family(al->kind) && al->transfer_every == 0.0f) {
    snprintf(msg, len,
             "%s%salgorithm.transfer_every = 0 is out of range: transfers need a positive period "
             "(or a negative one for the automatic period)",
             pre, dot);
    return AIMC_ERR_INVALID_ARGUMENT;
  }
  if (al->kind == AIMC_ALGO_MIXED_PRECISION && al->n_rows_per_transfer == 0) {
    snprintf(msg, len,
             "%s%salgorithm.n_rows_per_transfer = 0 is out of range: -1 (all rows) or [1, rows]",
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
    int n = 1;
    if (f->count) { /* only the entries in use; a bad count is reported on its own */
      n = *(const int32_t *)((const char *)cfg + f->count_offset);
      if (n < 1 || n > f->count) continue;
    }
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
      float up_bias, down_bias;
      aimc_up_down_bias(d->up_down, &up_bias, &down_bias);
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

static void resolve_device(const aimc_device_desc_t *d, aimc_device_params_t *dv) {
  memset(dv, 0, sizeof *dv);
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
}

static void resolve_update(const aimc_update_desc_t *u, float granularity,
                           aimc_update_params_t *up) {
  memset(up, 0, sizeof *up);
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
  up->granularity = granularity;
}

static void resolve_algorithm(const aimc_tile_config_t *cfg, aimc_algo_params_t *p) {
  const aimc_algorithm_desc_t *a = &cfg->algorithm;
  memset(p, 0, sizeof *p);
  p->kind = a->kind;
  p->n_arrays = aimc_algorithm_arrays(a);
  p->units_in_mbatch = a->units_in_mbatch;
  p->n_reads = a->n_reads_per_transfer;
  p->transfer_columns = a->transfer_columns;
  p->forget_buffer = a->forget_buffer;
  p->in_chop_random = a->in_chop_random;
  p->auto_scale = a->auto_scale;
  p->correct_gradient_magnitudes = a->correct_gradient_magnitudes;
  p->no_buffer = a->no_buffer;
  p->max_steps = cfg->transfer_update.desired_bl;
  p->gamma = a->gamma;
  p->fast_lr = a->fast_lr;
  p->scale_fast_lr = a->scale_fast_lr;
  p->transfer_lr = a->transfer_lr;
  p->scale_transfer_lr = a->scale_transfer_lr;
  p->transfer_every = a->transfer_every;
  p->with_reset_prob = a->with_reset_prob;
  p->thres_scale = a->thres_scale;
  p->step = a->step;
  p->momentum = a->momentum;
  p->in_chop_prob = a->in_chop_prob;
  p->out_chop_prob = a->out_chop_prob;
  p->auto_momentum = a->auto_momentum;
  p->auto_granularity = a->auto_granularity;
  p->buffer_granularity = a->buffer_granularity;
  p->tail_weightening = a->tail_weightening;
  p->buffer_cap = a->buffer_cap;
  p->dw_min_fast = aimc_device_granularity(&cfg->fast_device);
  p->dw_min_slow = aimc_device_granularity(&cfg->device);
  p->n_rows_per_transfer = a->n_rows_per_transfer;
  p->n_x_bins = a->n_x_bins;
  p->n_d_bins = a->n_d_bins;
  p->mp_granularity = a->granularity > 0.0f ? a->granularity : p->dw_min_slow;
  p->stellar_c1 = a->stellar_c1;
  p->stellar_threshold = a->stellar_threshold;
  p->stellar_c2 = a->stellar_c2;
  p->n_slices = a->n_slices;
  for (int m = 0; m < AIMC_MAX_SLICES; ++m) p->slice_bits[m] = a->slice_bits[m];
  p->crs_every = a->crs_every;
  p->weight_step = a->weight_step;
  p->input_step = a->input_step;
}

void aimc_resolve_params(const aimc_tile_config_t *cfg, uint64_t key, aimc_tile_params_t *p) {
  memset(p, 0, sizeof *p);
  p->key = key;
  p->desc[0] = cfg->device;
  p->desc[1] = cfg->fast_device;
  resolve_device(&cfg->device, &p->dev[0]);
  resolve_device(&cfg->fast_device, &p->dev[1]);
  resolve_algorithm(cfg, &p->algo);
  int transfer = aimc_is_transfer_family(cfg->algorithm.kind);
  for (int a = 0; a < AIMC_MAX_ARRAYS; ++a) {
    /* A of the transfer family uses the fast device; everything else the main one */
    int d = transfer && a == 1;
    p->array_device[a] = (int8_t)d;
    p->array_w_max[a] = p->desc[d].w_max;
    p->array_w_min[a] = p->desc[d].w_min;
    if (cfg->algorithm.kind == AIMC_ALGO_PANTHER) { /* slice cells hold 0 .. 2^bits - 1 */
      p->array_w_min[a] = 0.0f;
      p->array_w_max[a] = (float)((1 << cfg->algorithm.slice_bits[a]) - 1);
    }
  }

  resolve_io(&cfg->forward, &p->io[AIMC_FORWARD]);
  resolve_io(&cfg->backward, &p->io[AIMC_BACKWARD]);
  resolve_io(&cfg->transfer, &p->io[AIMC_TRANSFER_FORWARD]);
  resolve_io(&cfg->transfer, &p->io[AIMC_TRANSFER_BACKWARD]);

  /* gradient updates go to A in the transfer family, to W otherwise */
  const aimc_device_desc_t *grad = transfer ? &cfg->fast_device : &cfg->device;
  resolve_update(&cfg->update, aimc_device_granularity(grad), &p->upd[0]);
  resolve_update(&cfg->transfer_update, aimc_device_granularity(&cfg->device), &p->upd[1]);
}
