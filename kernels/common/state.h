/* Per-weight state operations shared by both backends: writing weights,
 * decay and diffusion, reset, and refreshing the visible weight from the
 * device state. Each works on one element; the backends own the loops. */
#ifndef AIMC_COMMON_STATE_H
#define AIMC_COMMON_STATE_H

#include "devices.h"

/* Write modes (mirrors aimc_write_mode_t of the host layer). */
#define AIMC_WRITE_MODE_EXACT 0
#define AIMC_WRITE_MODE_PROGRAM 1
#define AIMC_WRITE_MODE_INIT 2

/* Visible weight of element widx of array a after write event
 * `write_call`: the device state minus the reference, plus fresh write noise
 * when the model has it. */
AIMC_HD float aimc_refresh_visible(const aimc_tile_params_t *tp, int32_t a, float h, float ref,
                                   uint64_t write_call, uint64_t widx) {
  const aimc_device_params_t *dp = aimc_array_dev(tp, a);
  float xi = 0.0f;
  if (dp->write_noise > 0.0f)
    xi = aimc_normal1(tp->key,
                      aimc_subsequence(AIMC_STREAM_WRITE_NOISE, aimc_array_counter(a, write_call)),
                      widx);
  return aimc_visible_weight(dp, h, ref, xi);
}

/* Writes target weight v into element widx of array a: exactly (visible =
 * v), or through the device (state clipped to the bounds, write noise on
 * program when the device applies it on set). */
AIMC_HD void aimc_write_element(const aimc_tile_params_t *tp, int32_t a, const aimc_wparams_t *wp,
                                float v, int mode, uint64_t write_call, uint64_t widx, float *h,
                                float *w) {
  if (mode == AIMC_WRITE_MODE_EXACT) {
    *h = v + wp->ref;
    *w = v;
    return;
  }
  float hh = aimc_clampf(v + wp->ref, wp->bmin, wp->bmax);
  *h = hh;
  if (mode == AIMC_WRITE_MODE_PROGRAM && tp->desc[tp->array_device[a]].apply_write_noise_on_set)
    *w = aimc_refresh_visible(tp, a, hh, wp->ref, write_call, widx);
  else
    *w = hh - wp->ref;
}

/* Whether decay() changes array a of tiles with these parameters at all. */
AIMC_HD int aimc_array_decays(const aimc_tile_params_t *tp, int32_t a) {
  const aimc_device_desc_t *d = &tp->desc[tp->array_device[a]];
  return d->lifetime > 0.0f || d->diffusion > 0.0f;
}

/* One decay() step of a device: diffusion h += rho xi (the device cannot
 * leave its bounds, so clip), then relaxation of the weight toward the reset
 * value, then the bounds again. */
AIMC_HD float aimc_decay_element(const aimc_tile_params_t *tp, int32_t a, const aimc_wparams_t *wp,
                                 float h, uint64_t call, uint64_t widx) {
  if (wp->diffusion > 0.0f) {
    h = h + wp->diffusion *
                aimc_normal1(tp->key,
                             aimc_subsequence(AIMC_STREAM_DECAY, aimc_array_counter(a, call)),
                             widx);
    h = aimc_clampf(h, wp->bmin, wp->bmax);
  }
  float rest = wp->reset_bias + wp->ref;
  h = (h - rest) * wp->decay + rest;
  return aimc_clampf(h, wp->bmin, wp->bmax);
}

/* Reset, with probability prob, of element k (widx within the tile) of
 * array a at reset event `call`: the device goes to its reset bias plus
 * reset_std noise, clipped to its bounds, and the visible weight gets the
 * write noise of `write_call`. */
AIMC_HD void aimc_reset_element(const aimc_tile_params_t *tp, aimc_array_t *arr, int32_t a,
                                size_t k, uint64_t widx, float prob, uint64_t call,
                                uint64_t write_call) {
  aimc_u32x4 r = aimc_philox_block(
      tp->key, aimc_subsequence(AIMC_STREAM_RESET, aimc_array_counter(a, call)), widx);
  if (prob < 1.0f && !(aimc_u01(r.v[0]) < prob)) return;
  aimc_wparams_t wp;
  aimc_load_wparams(arr, k, &wp);
  float v = wp.reset_bias + wp.ref;
  float reset_std = tp->desc[tp->array_device[a]].reset_std;
  if (reset_std > 0.0f) {
    float z0, z1;
    aimc_normal2(r.v[2], r.v[3], &z0, &z1);
    v = v + reset_std * z0;
  }
  float h = aimc_clampf(v, wp.bmin, wp.bmax);
  arr->h[k] = h;
  arr->w[k] = aimc_refresh_visible(tp, a, h, wp.ref, write_call, widx);
}

#endif
