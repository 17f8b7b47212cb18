/* Device presets (aihwkit src/aihwkit/simulator/presets/devices.py) and names. */
#include "host/internal.h"

const char *aimc_device_model_name(aimc_device_model_t model) {
  switch (model) {
    case AIMC_DEVICE_CONSTANT_STEP: return "ConstantStep";
    case AIMC_DEVICE_LINEAR_STEP: return "LinearStep";
    case AIMC_DEVICE_SOFT_BOUNDS: return "SoftBounds";
    case AIMC_DEVICE_SOFT_BOUNDS_REFERENCE: return "SoftBoundsReference";
    case AIMC_DEVICE_EXP_STEP: return "ExpStep";
    case AIMC_DEVICE_POW_STEP: return "PowStep";
    case AIMC_DEVICE_PIECEWISE_STEP: return "PiecewiseStep";
    default: return "unknown";
  }
}

const char *aimc_device_preset_name(aimc_device_preset_t preset) {
  switch (preset) {
    case AIMC_PRESET_IDEALIZED: return "Idealized";
    case AIMC_PRESET_GOKMEN_VLASOV: return "GokmenVlasov";
    case AIMC_PRESET_RERAM_ES: return "ReRamES";
    case AIMC_PRESET_RERAM_SB: return "ReRamSB";
    case AIMC_PRESET_CAPACITOR: return "Capacitor";
    case AIMC_PRESET_ECRAM: return "EcRam";
    case AIMC_PRESET_ECRAM_MO: return "EcRamMO";
    default: return "unknown";
  }
}

/* Fields every preset sets: step, asymmetry, bounds and their spreads. */
static void set_common(aimc_device_desc_t *d, float dw_min, float up_down, float w_max,
                       float w_min, float dw_min_dtod, float up_down_dtod, float w_max_dtod,
                       float w_min_dtod, float dw_min_std) {
  d->dw_min = dw_min;
  d->up_down = up_down;
  d->w_max = w_max;
  d->w_min = w_min;
  d->dw_min_dtod = dw_min_dtod;
  d->up_down_dtod = up_down_dtod;
  d->w_max_dtod = w_max_dtod;
  d->w_min_dtod = w_min_dtod;
  d->dw_min_std = dw_min_std;
}

static void set_linear(aimc_device_desc_t *d, float gamma_up, float gamma_down, float gamma_dtod,
                       int mult_noise) {
  d->gamma_up = gamma_up;
  d->gamma_down = gamma_down;
  d->gamma_up_dtod = gamma_dtod;
  d->gamma_down_dtod = gamma_dtod;
  d->mult_noise = mult_noise;
  d->mean_bound_reference = 1;
}

aimc_status_t aimc_device_desc_preset(aimc_device_desc_t *d, aimc_device_preset_t preset) {
  if (!d) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "desc is NULL");
  switch (preset) {
    case AIMC_PRESET_IDEALIZED:
      aimc_device_desc_default(d, AIMC_DEVICE_CONSTANT_STEP);
      set_common(d, 0.0002f, 0.0f, 1.0f, -1.0f, 0.3f, 0.0f, 0.3f, 0.3f, 0.3f);
      return AIMC_OK;
    case AIMC_PRESET_GOKMEN_VLASOV:
      aimc_device_desc_default(d, AIMC_DEVICE_CONSTANT_STEP);
      set_common(d, 0.0016f, 0.0f, 1.0f, -1.0f, 0.3f, 0.01f, 0.3f, 0.3f, 0.3f);
      return AIMC_OK;
    case AIMC_PRESET_RERAM_ES:
      aimc_device_desc_default(d, AIMC_DEVICE_EXP_STEP);
      set_common(d, 0.00135f, 0.259359f, 1.0f, -1.0f, 0.2f, 0.05f, 0.3f, 0.3f, 5.0f);
      d->a = -0.5f;
      d->b = -0.5f;
      d->gamma_up_exp = 5.0f;
      d->gamma_down_exp = 5.0f;
      d->A_up = -1.18445f;
      d->A_down = -0.081404f;
      d->write_noise_std = 75.0f;
      return AIMC_OK;
    case AIMC_PRESET_RERAM_SB:
      aimc_device_desc_default(d, AIMC_DEVICE_SOFT_BOUNDS_REFERENCE);
      set_common(d, 0.002f, 0.0f, 1.25f, -0.75f, 0.3f, 0.01f, 0.3f / 1.25f, 0.3f / 0.75f, 3.75f);
      d->mult_noise = 0;
      d->write_noise_std = 56.0f;
      return AIMC_OK;
    case AIMC_PRESET_CAPACITOR:
      aimc_device_desc_default(d, AIMC_DEVICE_LINEAR_STEP);
      set_common(d, 0.005f, 0.0f, 1.0f, -1.0f, 0.1f, 0.06f, 0.07f, 0.07f, 0.3f);
      set_linear(d, 0.05f, 0.05f, 0.01f, 0);
      d->lifetime = 1.0e6f;
      d->lifetime_dtod = 0.3f;
      return AIMC_OK;
    case AIMC_PRESET_ECRAM:
      aimc_device_desc_default(d, AIMC_DEVICE_LINEAR_STEP);
      set_common(d, 0.002f, 0.0f, 1.1724f, -0.8276f, 0.1f, 0.01f, 0.05f, 0.05f, 0.3f);
      set_linear(d, 0.1153f, 0.5085f, 0.05f, 1);
      return AIMC_OK;
    case AIMC_PRESET_ECRAM_MO:
      aimc_device_desc_default(d, AIMC_DEVICE_LINEAR_STEP);
      set_common(d, 2.8214e-4f, 0.0f, 1.1714f, -0.8286f, 0.1f, 0.01f, 0.05f, 0.05f, 2.0f);
      set_linear(d, 0.4152f, 0.7342f, 0.05f, 1);
      return AIMC_OK;
    default:
      return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT,
                        "preset = %d is not a device preset (allowed: 0..%d)", (int)preset,
                        AIMC_PRESET_COUNT - 1);
  }
}

/* Per-device numbers of aihwkit's transfer-family presets. */
typedef struct family_preset {
  float fast_lr, auto_granularity, chop_prob, agad_fast_lr, agad_granularity, agad_chop_prob;
  float tail_weightening;
  int32_t bl, agad_bl;
  float chopped_fast_lr;
} family_preset_t;

static int family_numbers(aimc_device_preset_t d, family_preset_t *f) {
  switch (d) {
    case AIMC_PRESET_RERAM_ES:
    case AIMC_PRESET_RERAM_SB:
      *f = (family_preset_t){0.5f, 1000, 0.01f, 0.5f, 1000, 0.02f, 5, 31, 31, 0.5f};
      return 1;
    case AIMC_PRESET_CAPACITOR:
      *f = (family_preset_t){0.1f, 1000, 0.01f, 0.1f, 1000, 0.01f, 20, 31, 31, 0.1f};
      return 1;
    case AIMC_PRESET_ECRAM: /* aihwkit leaves fast_lr at 1 in ChoppedTTv2EcRamPreset */
      *f = (family_preset_t){0.1f, 500, 0.01f, 0.1f, 750, 0.005f, 50, 100, 31, 1.0f};
      return 1;
    case AIMC_PRESET_ECRAM_MO:
    case AIMC_PRESET_IDEALIZED:
      *f = (family_preset_t){0.1f, 500, 0.001f, 0.1f, 500, 0.005f, 50, 100, 100, 0.1f};
      return 1;
    default:
      return 0;
  }
}

aimc_status_t aimc_tile_config_preset(aimc_tile_config_t *cfg, aimc_algorithm_t kind,
                                      aimc_device_preset_t device) {
  if (!cfg) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "cfg is NULL");
  if ((int)kind < 0 || kind >= AIMC_ALGO_COUNT)
    return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT,
                      "kind = %d is not an algorithm (allowed: 0..%d; presets exist for 0 SGD, "
                      "2 TIKI_TAKA, 3 TTV2, 4 CHOPPED_TTV2, 5 AGAD and 6 MIXED_PRECISION)",
                      (int)kind, AIMC_ALGO_COUNT - 1);
  aimc_tile_config_t c;
  aimc_tile_config_default(&c);
  aimc_status_t s = aimc_device_desc_preset(&c.device, device);
  if (s != AIMC_OK) return s;
  c.fast_device = c.device;
  aimc_tile_config_io_preset(&c, AIMC_IO_PRESET);
  family_preset_t f = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  int family = kind == AIMC_ALGO_TIKI_TAKA || kind == AIMC_ALGO_TTV2 ||
               kind == AIMC_ALGO_CHOPPED_TTV2 || kind == AIMC_ALGO_AGAD;
  if (family && !family_numbers(device, &f))
    return aimc_error(NULL, AIMC_ERR_UNSUPPORTED,
                      "kind = %s has no preset for device = %s (aihwkit defines the transfer "
                      "family for ReRamES, ReRamSB, Capacitor, EcRam, EcRamMO and Idealized)",
                      aimc_algorithm_name(kind), aimc_device_preset_name(device));
  if (kind != AIMC_ALGO_SGD && kind != AIMC_ALGO_MIXED_PRECISION && !family)
    return aimc_error(NULL, AIMC_ERR_UNSUPPORTED,
                      "kind = %s has no aihwkit preset (presets exist for SGD, TIKI_TAKA, TTV2, "
                      "CHOPPED_TTV2, AGAD and MIXED_PRECISION)",
                      aimc_algorithm_name(kind));
  /* aihwkit's TTv2 presets are the chopped algorithm without flips */
  aimc_algorithm_t run = kind == AIMC_ALGO_TTV2 ? AIMC_ALGO_CHOPPED_TTV2 : kind;
  aimc_tile_config_algorithm(&c, run);
  if (family && device == AIMC_PRESET_RERAM_SB)
    c.device.subtract_symmetry_point = c.fast_device.subtract_symmetry_point = 1;
  aimc_algorithm_desc_t *a = &c.algorithm;
  switch (kind) {
    case AIMC_ALGO_TTV2:
    case AIMC_ALGO_CHOPPED_TTV2:
      a->auto_scale = 1;
      a->fast_lr = kind == AIMC_ALGO_TTV2 ? f.fast_lr : f.chopped_fast_lr;
      a->auto_granularity = f.auto_granularity;
      a->in_chop_prob = kind == AIMC_ALGO_TTV2 ? 0.0f : f.chop_prob;
      c.update.desired_bl = f.bl;
      break;
    case AIMC_ALGO_AGAD:
      a->auto_scale = 1;
      a->fast_lr = f.agad_fast_lr;
      a->auto_granularity = f.agad_granularity;
      a->in_chop_prob = f.agad_chop_prob;
      a->tail_weightening = f.tail_weightening;
      c.update.desired_bl = f.agad_bl;
      break;
    default:
      break;
  }
  *cfg = c;
  return AIMC_OK;
}
