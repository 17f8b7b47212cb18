/* Per-element steps of the analog IO pipeline (forward, backward and
 * transfer reads), shared by both backends. The backends own the loops and
 * reductions; these functions own the arithmetic, in aihwkit's order:
 *   noise management -> DAC rounding -> input clip -> input noise ->
 *   input asymmetry -> product -> output-referred weight noise ->
 *   nonlinearity -> output asymmetry -> output noise -> ADC -> clip/test,
 *   iterated with a doubled reduction while a forward output hits the bound,
 *   then the digital rescale. */
#ifndef AIMC_COMMON_IO_H
#define AIMC_COMMON_IO_H

#include "params.h"
#include "rng.h"

/* Noise-management scale of type nm for one input vector from its
 * reductions (the bound-management worst case asks for AbsMaxNPSum). */
AIMC_HD float aimc_io_nm_scale(const aimc_io_params_t *p, int32_t nm, float abs_max, float max,
                               float pos_sum, float neg_sum) {
  switch (nm) {
    case AIMC_NM_ABS_MAX:
      return p->nm_thres > 0.0f ? aimc_minf(abs_max, p->nm_thres) : abs_max;
    case AIMC_NM_MAX:
      return p->nm_thres > 0.0f ? aimc_minf(max, p->nm_thres) : max;
    case AIMC_NM_CONSTANT:
      return p->nm_thres > 0.0f ? p->nm_thres : 1.0f;
    case AIMC_NM_ABS_MAX_NP_SUM: {
      float a = p->nm_thres > 0.0f ? aimc_minf(abs_max, p->nm_thres) : abs_max;
      float bound = p->out_bound < AIMC_INF ? p->out_bound : 1.0f;
      float q = aimc_maxf(pos_sum, -neg_sum) * p->nm_assumed_wmax / bound;
      if (p->inp_step > 0.0f) q = aimc_minf(a / p->inp_step * p->max_bm_res, q);
      return aimc_maxf(a, q);
    }
    default:
      return 1.0f;
  }
}

/* Round v to a multiple of step, half to even, or stochastically with a
 * uniform u in [0,1) (round(v/step + u - 1/2)). step <= 0 leaves v alone. */
AIMC_HD float aimc_quantize(float v, float step, int stochastic, float u) {
  if (!(step > 0.0f)) return v;
  float q = v / step;
  if (stochastic) q = q + (u - 0.5f);
  return rintf(q) * step;
}

/* Random words for one element of one pass: w0,w1 -> two normals, w2 -> a
 * rounding uniform. Inputs and outputs use separate streams. */
AIMC_HD aimc_u32x4 aimc_io_words(uint64_t key, int dir, int output, uint64_t call,
                                 uint64_t block) {
  uint32_t kind = (uint32_t)(output ? AIMC_STREAM_MVM_OUTPUT : AIMC_STREAM_MVM_INPUT) +
                  8u * (uint32_t)dir;
  return aimc_philox_block(key, aimc_subsequence(kind, call), block);
}

/* Whether the input / output steps draw random numbers at all. */
AIMC_HD int aimc_io_input_random(const aimc_io_params_t *p) {
  return p->inp_noise > 0.0f || p->inp_sto_round;
}
AIMC_HD int aimc_io_output_random(const aimc_io_params_t *p, float sigma) {
  return sigma > 0.0f || p->out_sto_round ||
         (p->w_noise_type != AIMC_W_NOISE_NONE && p->w_noise > 0.0f);
}

/* Prepare one analog input: scale, DAC, clip, input noise, asymmetry. */
AIMC_HD float aimc_io_input(const aimc_io_params_t *p, float v, float scale, aimc_u32x4 w) {
  v = v * scale;
  v = aimc_quantize(v, p->inp_step, p->inp_sto_round, aimc_u01(w.v[2]));
  v = aimc_clampf(v, -p->inp_bound, p->inp_bound);
  if (p->inp_noise > 0.0f) {
    float z0, z1;
    aimc_normal2(w.v[0], w.v[1], &z0, &z1);
    v = v + p->inp_noise * z0;
  }
  if (p->inp_asymmetry != 0.0f && v < 0.0f) v = v * (1.0f - p->inp_asymmetry);
  return v;
}

/* Finish one analog output y (the product plus weight noise, see
 * aimc_io_weight_noise): nonlinearity with per-output slope nl, output
 * asymmetry, output noise sigma z1 (z1 a standard normal), ADC (rounding
 * word w2), clip. Sets *hit when the bound-management test fails (a clipped
 * output). Takes its random numbers drawn, so that a backend may draw them
 * for many outputs at once (the CPU's vector paths). */
AIMC_HD float aimc_io_output_z(const aimc_io_params_t *p, float y, float nl, float sigma,
                               float z1, uint32_t w2, int *hit) {
  if (p->has_nonlinearity) y = y / (1.0f + aimc_absf(nl * y));
  if (p->out_asymmetry > 0.0f && y < 0.0f) y = y * (1.0f - p->out_asymmetry);
  if (sigma > 0.0f) y = y + sigma * z1;
  y = aimc_quantize(y, p->out_step, p->out_sto_round, aimc_u01(w2));
  if (y > p->out_bound) {
    y = p->out_bound;
    *hit = 1;
  } else if (y < -p->out_bound) {
    y = -p->out_bound;
    if (p->bm_test_negative_bound) *hit = 1;
  }
  return y;
}

/* aimc_io_output_z with its numbers from the output's words w: the second
 * normal of w0, w1 (drawn only when there is output noise) and w2. */
AIMC_HD float aimc_io_output(const aimc_io_params_t *p, float y, float nl, float sigma,
                             aimc_u32x4 w, int *hit) {
  float z0 = 0.0f, z1 = 0.0f;
  if (sigma > 0.0f) aimc_normal2(w.v[0], w.v[1], &z0, &z1);
  return aimc_io_output_z(p, y, nl, sigma, z1, w.v[2], hit);
}

/* Output-referred weight noise with the standard normal z0: q is ||x'||^2
 * (additive constant) or sum_j |w_ij| x'_j^2 (PCM read), as the backend
 * accumulates it. */
AIMC_HD float aimc_io_weight_noise_z(const aimc_io_params_t *p, float y, float q, float z0) {
  if (p->w_noise_type == AIMC_W_NOISE_NONE || !(p->w_noise > 0.0f)) return y;
  return y + p->w_noise * sqrtf(q) * z0;
}

/* aimc_io_weight_noise_z with z0 the first normal of the output's words. */
AIMC_HD float aimc_io_weight_noise(const aimc_io_params_t *p, float y, float q, aimc_u32x4 w) {
  if (p->w_noise_type == AIMC_W_NOISE_NONE || !(p->w_noise > 0.0f)) return y;
  float z0, z1;
  aimc_normal2(w.v[0], w.v[1], &z0, &z1);
  return aimc_io_weight_noise_z(p, y, q, z0);
}

/* Input scale of one pass: 1/s with noise management, /r with bound
 * management (aihwkit divides in this order). */
AIMC_HD float aimc_io_input_scale(int use_nm, float s, int use_bm, float r) {
  float scale = 1.0f;
  if (use_nm) scale = scale / s;
  if (use_bm) scale = scale / r;
  return scale;
}

/* Digital factor applied to the finished outputs of a pass made with
 * input scale `scale`. */
AIMC_HD float aimc_io_rescale(const aimc_io_params_t *p, float scale) {
  return p->out_scale / scale;
}

/* Per-output constants of a tile, fixed at creation (regenerated from the
 * tile key, never stored): the nonlinearity slope and the output-noise std. */
AIMC_HD void aimc_io_output_constants(const aimc_io_params_t *p, uint64_t key, int dir,
                                      uint64_t output, float *nl, float *sigma) {
  *nl = 0.0f;
  *sigma = p->out_noise;
  if (!p->has_nonlinearity && !(p->out_noise_std > 0.0f)) return;
  aimc_u32x4 r = aimc_philox_block(key, aimc_subsequence(AIMC_STREAM_IO_FIXED, (uint64_t)dir),
                                   output);
  float z0, z1;
  aimc_normal2(r.v[0], r.v[1], &z0, &z1);
  if (p->out_noise_std > 0.0f) *sigma = aimc_absf(p->out_noise * (1.0f + p->out_noise_std * z0));
  if (p->has_nonlinearity) *nl = aimc_absf(p->nl_base * (1.0f + p->nl_std * z1));
}

/* Whether bound management may try a pass with reduction 2r after failing
 * with r (aihwkit's stop rules: r above max_bm_factor, or r above
 * max_bm_res / input step, ends the loop). */
AIMC_HD int aimc_io_bm_continue(const aimc_io_params_t *p, float r) {
  if (r > p->max_bm_factor) return 0;
  if (p->inp_step > 0.0f && r > p->max_bm_res / p->inp_step) return 0;
  return 1;
}

#endif
