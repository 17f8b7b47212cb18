/* Device physics shared by both backends: device-to-device sampling of the
 * per-weight parameters and the per-pulse update rule of each model.
 *
 * The device state h is the conductance-like quantity the bounds act on.
 * The visible weight that analog reads see is h - reference (+ write noise).
 * For every model but SoftBoundsReference the reference is 0. */
#ifndef AIMC_COMMON_DEVICES_H
#define AIMC_COMMON_DEVICES_H

#include "params.h"
#include "rng.h"

/* The per-weight values of one device (one element of each plane). */
typedef struct aimc_wparams {
  float bmin, bmax;   /* bounds of h */
  float s_up, s_dn;   /* absolute steps, positive */
  float p_up, p_dn;   /* LinearStep slopes or PowStep exponents */
  float ref;          /* reference subtracted from h to give the weight */
  float decay;        /* decay scale per decay() call */
  float diffusion;    /* diffusion std per decay() call */
  float reset_bias;   /* weight after a reset */
} aimc_wparams_t;

/* One-sided asymmetry split (aihwkit): up_down > 0 shrinks only the down
 * step, up_down < 0 only the up step. */
AIMC_HD void aimc_up_down_bias(float up_down, float *up_bias, float *down_bias) {
  *up_bias = up_down > 0.0f ? 0.0f : up_down;
  *down_bias = up_down > 0.0f ? -up_down : 0.0f;
}

AIMC_HD void aimc_sample_linear_step(const aimc_device_desc_t *d, const float z[16],
                                     aimc_wparams_t *o) {
  int soft = d->model == AIMC_DEVICE_SOFT_BOUNDS;
  float g_up = soft ? 1.0f : d->gamma_up + d->gamma_up_dtod * z[4];
  float g_dn = soft ? 1.0f : d->gamma_down + d->gamma_down_dtod * z[5];
  if (soft || !d->allow_increasing) {
    g_up = aimc_absf(g_up);
    g_dn = aimc_absf(g_dn);
  }
  int mean_ref = soft ? 0 : d->mean_bound_reference;
  float ref_max = mean_ref ? d->w_max : o->bmax;
  float ref_min = mean_ref ? d->w_min : o->bmin;
  float w_ref_up = d->reverse_up ? ref_min - d->reverse_offset : ref_max;
  float w_ref_dn = d->reverse_down ? ref_max + d->reverse_offset : ref_min;
  o->p_up = w_ref_up != 0.0f ? -g_up * o->s_up / w_ref_up : 0.0f;
  o->p_dn = w_ref_dn != 0.0f ? -g_dn * o->s_dn / w_ref_dn : 0.0f;
}

AIMC_HD void aimc_sample_soft_bounds_reference(const aimc_device_desc_t *d, const float z[16],
                                               aimc_wparams_t *o) {
  int straddles = o->bmax > 0.0f && o->bmin < 0.0f && o->s_up > 0.0f && o->s_dn > 0.0f;
  if (straddles) {
    /* spread of the slopes at the bounds: the bounds move, the steps at 0 stay */
    float sl_dn = (-o->s_dn / o->bmin) * aimc_absf(1.0f + d->slope_down_dtod * z[4]);
    float sl_up = (o->s_up / o->bmax) * aimc_absf(1.0f + d->slope_up_dtod * z[5]);
    o->bmax = o->s_up / sl_up;
    o->bmin = -o->s_dn / sl_dn;
  }
  o->ref = d->reference_mean + d->reference_std * z[6];
  if (d->subtract_symmetry_point && straddles) {
    /* where up and down steps are equal: s_up (1 - h/bmax) = s_dn (1 - h/bmin) */
    o->ref += (o->s_up - o->s_dn) / (o->s_up / o->bmax - o->s_dn / o->bmin);
  }
}

AIMC_HD void aimc_sample_pow_step(const aimc_device_desc_t *d, const float z[16],
                                  aimc_wparams_t *o) {
  float up_bias, down_bias;
  aimc_up_down_bias(d->pow_up_down, &up_bias, &down_bias);
  float gain = 1.0f + d->pow_gamma_dtod * z[4];
  float r = d->pow_up_down_dtod * z[5];
  o->p_up = (up_bias + gain + r) * d->pow_gamma;
  o->p_dn = (down_bias + gain - r) * d->pow_gamma;
  if (d->enforce_consistency) {
    o->p_up = aimc_absf(o->p_up);
    o->p_dn = aimc_absf(o->p_dn);
  }
}

/* The device parameters and descriptor array a of a tile uses. */
AIMC_HD const aimc_device_params_t *aimc_array_dev(const aimc_tile_params_t *tp, int32_t a) {
  return &tp->dev[tp->array_device[a]];
}

/* Device-to-device draw of weight widx of array a of the tile keyed `key`,
 * with the array's mean bounds. Normals z[0..11] and uniforms u[0..1] come
 * from blocks 4*widx .. 4*widx+3 of the array's D2D stream, so the draw is
 * independent of threads and launch shape. */
AIMC_HD void aimc_device_sample(const aimc_tile_params_t *tp, int32_t a, uint64_t widx,
                                aimc_wparams_t *o) {
  aimc_device_desc_t dd = tp->desc[tp->array_device[a]];
  dd.w_max = tp->array_w_max[a];
  dd.w_min = tp->array_w_min[a];
  const aimc_device_desc_t *d = &dd;
  uint64_t key = tp->key;
  uint64_t sub = aimc_subsequence(AIMC_STREAM_DEVICE_D2D, aimc_array_counter(a, 0));
  float z[16];
  aimc_normal4(key, sub, 4 * widx + 0, z + 0);
  aimc_normal4(key, sub, 4 * widx + 1, z + 4);
  aimc_normal4(key, sub, 4 * widx + 2, z + 8);
  aimc_u32x4 uw = aimc_philox_block(key, sub, 4 * widx + 3);

  o->bmax = d->w_max * (1.0f + d->w_max_dtod * z[0]);
  o->bmin = d->w_min * (1.0f + d->w_min_dtod * z[1]);
  float gain = d->dw_min_dtod_log_normal ? aimc_expf(d->dw_min_dtod * z[2])
                                         : 1.0f + d->dw_min_dtod * z[2];
  float r = d->up_down_dtod * z[3];
  float up_bias, down_bias;
  aimc_up_down_bias(d->up_down, &up_bias, &down_bias);
  o->s_up = (up_bias + gain + r) * d->dw_min;
  o->s_dn = (down_bias + gain - r) * d->dw_min;
  if (d->enforce_consistency) {
    o->s_up = aimc_absf(o->s_up);
    o->s_dn = aimc_absf(o->s_dn);
    if (o->bmin > o->bmax) {
      float t = o->bmin;
      o->bmin = o->bmax;
      o->bmax = t;
    }
    o->bmax = aimc_absf(o->bmax);
    o->bmin = -aimc_absf(o->bmin);
  } else if (o->bmin > o->bmax) {
    /* inconsistent bounds: the device is dead at the midpoint */
    o->bmax = o->bmax + (o->bmin - o->bmax) / 2.0f;
    o->bmin = o->bmax;
  }
  if (d->corrupt_devices_prob > aimc_u01(uw.v[0])) {
    float range = aimc_absf(d->corrupt_devices_range);
    float mn = aimc_maxf(aimc_minf(o->bmax, o->bmin), -range);
    float mx = aimc_minf(aimc_maxf(o->bmax, o->bmin), range);
    float v = mn + (mx - mn) * aimc_u01(uw.v[1]);
    o->bmax = v;
    o->bmin = v;
    o->s_up = 0.0f;
    o->s_dn = 0.0f;
  }
  o->p_up = 0.0f;
  o->p_dn = 0.0f;
  o->ref = 0.0f;
  o->reset_bias = d->reset + d->reset_dtod * z[7];
  if (d->lifetime > 0.0f) {
    float t = d->lifetime * (1.0f + d->lifetime_dtod * z[8]);
    o->decay = t > 1.0f ? 1.0f - 1.0f / t : 0.0f;
  } else {
    o->decay = 1.0f;
  }
  o->diffusion = aimc_absf(d->diffusion * (1.0f + d->diffusion_dtod * z[9]));

  switch (d->model) {
    case AIMC_DEVICE_LINEAR_STEP:
    case AIMC_DEVICE_SOFT_BOUNDS:
      aimc_sample_linear_step(d, z, o);
      break;
    case AIMC_DEVICE_SOFT_BOUNDS_REFERENCE:
      aimc_sample_soft_bounds_reference(d, z, o);
      break;
    case AIMC_DEVICE_POW_STEP:
      aimc_sample_pow_step(d, z, o);
      break;
    default:
      break;
  }
}

/* Loads the parameters of weight k from an array's planes; absent planes
 * mean the neutral value (no slope, no reference, no decay, ...). */
AIMC_HD void aimc_load_wparams(const aimc_array_t *arr, size_t k, aimc_wparams_t *o) {
  float *const *pl = arr->plane;
  o->bmin = pl[AIMC_PLANE_MIN_BOUND][k];
  o->bmax = pl[AIMC_PLANE_MAX_BOUND][k];
  o->s_up = pl[AIMC_PLANE_STEP_UP][k];
  o->s_dn = pl[AIMC_PLANE_STEP_DOWN][k];
  o->p_up = pl[AIMC_PLANE_SLOPE_UP] ? pl[AIMC_PLANE_SLOPE_UP][k] : 0.0f;
  o->p_dn = pl[AIMC_PLANE_SLOPE_DOWN] ? pl[AIMC_PLANE_SLOPE_DOWN][k] : 0.0f;
  o->ref = pl[AIMC_PLANE_REFERENCE] ? pl[AIMC_PLANE_REFERENCE][k] : 0.0f;
  o->decay = pl[AIMC_PLANE_DECAY] ? pl[AIMC_PLANE_DECAY][k] : 1.0f;
  o->diffusion = pl[AIMC_PLANE_DIFFUSION] ? pl[AIMC_PLANE_DIFFUSION][k] : 0.0f;
  o->reset_bias = pl[AIMC_PLANE_RESET_BIAS] ? pl[AIMC_PLANE_RESET_BIAS][k] : 0.0f;
}

/* Stores a sampled device into the planes the array has. */
AIMC_HD void aimc_store_wparams(const aimc_array_t *arr, size_t k, const aimc_wparams_t *o) {
  float *const *pl = arr->plane;
  pl[AIMC_PLANE_MIN_BOUND][k] = o->bmin;
  pl[AIMC_PLANE_MAX_BOUND][k] = o->bmax;
  pl[AIMC_PLANE_STEP_UP][k] = o->s_up;
  pl[AIMC_PLANE_STEP_DOWN][k] = o->s_dn;
  if (pl[AIMC_PLANE_SLOPE_UP]) pl[AIMC_PLANE_SLOPE_UP][k] = o->p_up;
  if (pl[AIMC_PLANE_SLOPE_DOWN]) pl[AIMC_PLANE_SLOPE_DOWN][k] = o->p_dn;
  if (pl[AIMC_PLANE_REFERENCE]) pl[AIMC_PLANE_REFERENCE][k] = o->ref;
  if (pl[AIMC_PLANE_DECAY]) pl[AIMC_PLANE_DECAY][k] = o->decay;
  if (pl[AIMC_PLANE_DIFFUSION]) pl[AIMC_PLANE_DIFFUSION][k] = o->diffusion;
  if (pl[AIMC_PLANE_RESET_BIAS]) pl[AIMC_PLANE_RESET_BIAS][k] = o->reset_bias;
}

/* Relative step of a piecewise device at h (linear interpolation between
 * equally spaced nodes over [bmin, bmax]). */
AIMC_HD float aimc_piecewise_factor(const float *nodes, int32_t n, float h, float bmin,
                                    float bmax) {
  int32_t n_sec = n - 1;
  if (n_sec <= 0 || !(bmax > bmin)) return nodes[0];
  float ws = aimc_maxf((h - bmin) / (bmax - bmin) * (float)n_sec, 0.0f);
  float kf = aimc_minf(floorf(ws), (float)(n_sec - 1));
  int32_t k = (int32_t)kf;
  float t = aimc_minf(ws - kf, 1.0f);
  return (1.0f - t) * nodes[k] + t * nodes[k + 1];
}

/* One pulse on a device in state h, up (weight increase) or down, with the
 * standard normal xi for its cycle-to-cycle noise (ignored when the model's
 * noise is 0). Returns the new state, clipped to the bounds. */
AIMC_HD float aimc_device_pulse(const aimc_device_params_t *p, const aimc_wparams_t *wp, float h,
                                int up, float xi) {
  float sn = p->dw_min_std * xi; /* relative c2c noise of this pulse */
  switch (p->model) {
    case AIMC_DEVICE_CONSTANT_STEP:
      h = up ? h + wp->s_up * (1.0f + sn) : h - wp->s_dn * (1.0f + sn);
      break;
    case AIMC_DEVICE_LINEAR_STEP:
    case AIMC_DEVICE_SOFT_BOUNDS:
      if (p->mult_noise) {
        h = up ? h + (wp->p_up * h + wp->s_up) * (1.0f + sn)
               : h - (wp->p_dn * h + wp->s_dn) * (1.0f + sn);
      } else {
        h = up ? h + (wp->p_up * h + wp->s_up * (1.0f + sn))
               : h - (wp->p_dn * h + wp->s_dn * (1.0f + sn));
      }
      break;
    case AIMC_DEVICE_SOFT_BOUNDS_REFERENCE: {
      float a = up ? (wp->bmax > 0.0f ? h / wp->bmax : 0.0f)
                   : (wp->bmin < 0.0f ? h / wp->bmin : 0.0f);
      float s = up ? wp->s_up : wp->s_dn;
      float step = p->mult_noise ? s * (1.0f - a) * (1.0f + sn) : s * (1.0f - a + sn);
      h = up ? h + step : h - step;
      break;
    }
    case AIMC_DEVICE_EXP_STEP: {
      float range = wp->bmax - wp->bmin;
      if (!(range > 0.0f)) return h; /* stuck device */
      float z = 2.0f * p->es_a * h / range + p->es_b;
      float y = up ? aimc_maxf(1.0f - p->es_A_up * aimc_expf(p->es_gamma_up * z), 0.0f)
                   : aimc_maxf(1.0f - p->es_A_down * aimc_expf(-p->es_gamma_down * z), 0.0f);
      float dw = up ? y * wp->s_up : -y * wp->s_dn;
      if (p->exp_complex_noise) {
        h = h + dw + p->dw_min_std * (aimc_absf(dw) + p->std_add + p->std_slope * aimc_absf(h)) * xi;
      } else {
        h = h + dw * (1.0f + sn);
      }
      break;
    }
    case AIMC_DEVICE_POW_STEP: {
      float range = wp->bmax - wp->bmin;
      if (!(range > 0.0f)) return h;
      if (up) {
        float base = aimc_maxf((wp->bmax - h) / range, 0.0f);
        h = h + wp->s_up * aimc_powf(base, wp->p_up) * (1.0f + sn);
      } else {
        float base = aimc_maxf((h - wp->bmin) / range, 0.0f);
        h = h - wp->s_dn * aimc_powf(base, wp->p_dn) * (1.0f + sn);
      }
      break;
    }
    case AIMC_DEVICE_PIECEWISE_STEP: {
      const float *nodes = up ? p->piecewise_up : p->piecewise_down;
      float f = aimc_piecewise_factor(nodes, p->n_piecewise, h, wp->bmin, wp->bmax);
      h = up ? h + wp->s_up * f * (1.0f + sn) : h - wp->s_dn * f * (1.0f + sn);
      break;
    }
    default:
      break;
  }
  return aimc_clampf(h, wp->bmin, wp->bmax);
}

/* Whether a pulse rule needs its noise draw (skip the RNG when it does not). */
AIMC_HD int aimc_device_needs_noise(const aimc_device_params_t *p) {
  return p->dw_min_std != 0.0f;
}

/* Visible weight of a device state: h - ref, plus write noise xi * write_noise. */
AIMC_HD float aimc_visible_weight(const aimc_device_params_t *p, float h, float ref, float xi) {
  float w = h - ref;
  if (p->write_noise > 0.0f) w = w + p->write_noise * xi;
  return w;
}

/* Cached normals for one weight within one operation: normal k comes from
 * block base + k/4, so the k-th pulse's noise is independent of how many
 * normals other weights consumed. */
typedef struct aimc_normal_stream {
  uint64_t key, subsequence, base;
  uint32_t next;
  uint32_t w[4]; /* the Philox block of normals next & ~3 .. next | 3 */
  float z[2];    /* the Box-Muller pair of normals next & ~1, next | 1 */
} aimc_normal_stream_t;

AIMC_HD void aimc_normal_stream_init(aimc_normal_stream_t *s, uint64_t key, uint64_t subsequence,
                                     uint64_t base) {
  s->key = key;
  s->subsequence = subsequence;
  s->base = base;
  s->next = 0;
  /* defined before the first load, so the selects below never read garbage */
  s->w[0] = s->w[1] = s->w[2] = s->w[3] = 0u;
  s->z[0] = s->z[1] = 0.0f;
}

/* Loads what normal `next` needs: its Philox block at a block boundary or a
 * seek, its Box-Muller pair at a pair boundary. Pairs are made only when
 * used (most pulsed weights take one or two pulses per update), with the
 * values aimc_normal4 gives. */
AIMC_HD void aimc_normal_stream_load(aimc_normal_stream_t *s, int block) {
  if (block) {
    aimc_u32x4 w = aimc_philox_block(s->key, s->subsequence, s->base + (s->next >> 2));
    s->w[0] = w.v[0];
    s->w[1] = w.v[1];
    s->w[2] = w.v[2];
    s->w[3] = w.v[3];
  }
  /* selects, not s->w[next & 2]: an index known only at run time puts the
   * words in GPU local memory inside the per-pulse loop */
  int hi = (s->next & 2u) != 0u;
  aimc_normal2(hi ? s->w[2] : s->w[0], hi ? s->w[3] : s->w[1], &s->z[0], &s->z[1]);
}

/* Resume a stream at normal `next` (e.g. after an earlier chunk of samples). */
AIMC_HD void aimc_normal_stream_seek(aimc_normal_stream_t *s, uint32_t next) {
  s->next = next;
  if (next & 3u) aimc_normal_stream_load(s, 1);
}

AIMC_HD float aimc_normal_stream_next(aimc_normal_stream_t *s) {
  uint32_t k = s->next & 3u;
  if ((k & 1u) == 0u) aimc_normal_stream_load(s, k == 0u);
  s->next++;
  return (k & 1u) ? s->z[1] : s->z[0];
}

/* n pulses in one direction on a device from its noise stream (drawn only
 * when the model has cycle-to-cycle noise). Returns the new state. */
AIMC_HD float aimc_device_pulses(const aimc_device_params_t *p, const aimc_wparams_t *wp, float h,
                                 int up, uint32_t n, aimc_normal_stream_t *ns) {
  int noisy = aimc_device_needs_noise(p);
  for (uint32_t q = 0; q < n; ++q)
    h = aimc_device_pulse(p, wp, h, up, noisy ? aimc_normal_stream_next(ns) : 0.0f);
  return h;
}

#endif
