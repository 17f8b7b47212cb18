/* Pulsed-update rules shared by both backends: per-sample BL/A/B (update
 * management), firing probabilities, bit-packed Bernoulli pulse trains and
 * the pulse counts of the deterministic pulse types.
 *
 * Coincidence model (Gokmen & Vlasov 2016): in each of BL slots the input
 * line j fires with probability p_x = B|x_j| and the output line i with
 * p_d = A|d_i|, independently; each slot where both fire is one pulse on
 * device (i,j) in direction -sign(d_i x_j). E[n_ij] = BL A B |x_j d_i| =
 * lr |x_j d_i| / granularity. */
#ifndef AIMC_COMMON_UPDATE_H
#define AIMC_COMMON_UPDATE_H

#include "params.h"
#include "rng.h"

#define AIMC_MAX_BL 65535
#define AIMC_TRAIN_WORDS(bl) (((bl) + 31) / 32)

/* A digital write (a transfer into C, a mixed-precision row) applies at most
 * as many pulses to one device as the longest pulse train has slots: more
 * would only pin the device at its bound, and the count must stay an int. */
#define AIMC_MAX_WRITE_PULSES AIMC_MAX_BL

/* The signed pulse count of a write of n (already rounded) steps. */
AIMC_HD int32_t aimc_write_pulses(float n) {
  /* NaN writes nothing (it used to become INT_MIN, 2^31 pulses) */
  return aimc_to_i32(n, -(float)AIMC_MAX_WRITE_PULSES, (float)AIMC_MAX_WRITE_PULSES, 0);
}

typedef struct aimc_blab {
  int32_t bl; /* pulse-train length of this sample; 0 = no pulses */
  float a;    /* d-side scale: p_d = a |d| */
  float b;    /* x-side scale: p_x = b |x| */
} aimc_blab_t;

/* BL, A, B of one sample with max|x| = xmax and max|d| = dmax (aihwkit's
 * calculateBlAB and performUpdateManagement). */
AIMC_HD aimc_blab_t aimc_update_blab(const aimc_update_params_t *u, float xmax, float dmax) {
  aimc_blab_t r;
  float lr = u->lr, g = u->granularity;
  r.bl = 0;
  r.a = 0.0f;
  r.b = 0.0f;
  if (!(lr > 0.0f)) return r;
  if (u->fixed_bl || u->ublm || !(g * (float)u->desired_bl < lr)) {
    r.bl = u->desired_bl;
    r.a = sqrtf(lr / (g * (float)r.bl));
  } else { /* the train grows to lr / g slots (at most AIMC_MAX_BL: longer ones saturate) */
    r.bl = aimc_to_i32(ceilf(lr / g), 1.0f, (float)AIMC_MAX_BL, 1);
    r.a = 1.0f;
  }
  r.b = r.a;
  if (!(u->um || u->ublm)) return r;
  if (xmax == 0.0f || dmax == 0.0f) {
    r.bl = 0;
    return r;
  }
  float xv = xmax, dv = u->um_grad_scale * dmax;
  float k = lr * xv * dv / g;
  if (u->ublm) {
    r.bl = aimc_to_i32(aimc_minf(ceilf(k), (float)u->desired_bl), 0.0f, (float)u->desired_bl, 0);
    r.a = sqrtf(lr / (g * (float)r.bl));
    r.b = r.a;
  }
  if (k > (float)u->desired_bl) dv = dv * (float)u->desired_bl / k; /* clips d, never x */
  r.a = r.a * sqrtf(xv / dv);
  r.b = r.b * sqrtf(dv / xv);
  return r;
}

/* The random streams of one pulsed update of an array: x and d trains,
 * stochastic rounding, and each pulse's cycle-to-cycle noise. */
typedef struct aimc_update_streams {
  uint64_t x, d, round, pulse;
} aimc_update_streams_t;

AIMC_HD aimc_update_streams_t aimc_update_streams(int32_t array, uint64_t call) {
  uint64_t c = aimc_array_counter(array, call);
  aimc_update_streams_t s;
  s.x = aimc_subsequence(AIMC_STREAM_UPDATE_X, c);
  s.d = aimc_subsequence(AIMC_STREAM_UPDATE_D, c);
  s.round = aimc_subsequence(AIMC_STREAM_UPDATE_ROUND, c);
  s.pulse = aimc_subsequence(AIMC_STREAM_UPDATE_PULSE, c);
  return s;
}

/* Firing probability scale*|v|, optionally quantised to res (stochastically
 * with the uniform u). Values >= 1 fire in every slot. */
AIMC_HD float aimc_update_prob(const aimc_update_params_t *u, float v, float scale, float uni) {
  float p = scale * aimc_absf(v);
  if (u->res > 0.0f) {
    float q = p / u->res;
    if (u->sto_round) q = q + (uni - 0.5f);
    p = rintf(q) * u->res;
  }
  return p;
}

/* Random-stream block of slot group k/4 of line `line` (sample-major index
 * b * n_lines + line). Slots k < 2^16, hence the shift. */
AIMC_HD uint64_t aimc_train_block(uint64_t sample_line, int32_t slot) {
  return (sample_line << 14) | (uint64_t)(slot >> 2);
}

/* Word q (0..3) of a Philox block, by selects: r.v[q] with q known only at
 * run time would put the block in GPU local memory. */
AIMC_HD uint32_t aimc_block_word(aimc_u32x4 r, int32_t q) {
  uint32_t lo = (q & 1) ? r.v[1] : r.v[0], hi = (q & 1) ? r.v[3] : r.v[2];
  return (q & 2) ? hi : lo;
}

/* Bernoulli pulse train of one line with probability p over bl slots, packed
 * 32 slots per word (slot k in word k/32, bit k%32). */
AIMC_HD void aimc_make_train(uint64_t key, uint64_t subsequence, uint64_t sample_line, float p,
                             int32_t bl, uint32_t *words) {
  int32_t nw = AIMC_TRAIN_WORDS(bl);
  for (int32_t w = 0; w < nw; ++w) words[w] = 0u;
  if (!(p > 0.0f)) return;
  aimc_u32x4 r;
  r.v[0] = r.v[1] = r.v[2] = r.v[3] = 0u;
  for (int32_t k = 0; k < bl; ++k) {
    if ((k & 3) == 0) r = aimc_philox_block(key, subsequence, aimc_train_block(sample_line, k));
    if (aimc_u01(aimc_block_word(r, k & 3)) < p) words[k >> 5] |= 1u << (k & 31);
  }
}

AIMC_HD int32_t aimc_popcount32(uint32_t v) {
#if defined(__CUDA_ARCH__)
  return __popc(v);
#else
  return __builtin_popcount(v);
#endif
}

/* Coincidences of two packed trains. */
AIMC_HD int32_t aimc_coincidences(const uint32_t *x, const uint32_t *d, int32_t nw) {
  int32_t n = 0;
  for (int32_t w = 0; w < nw; ++w) n += aimc_popcount32(x[w] & d[w]);
  return n;
}

/* DETERMINISTIC_IMPLICIT: quantised, clamped probability of one line. */
AIMC_HD float aimc_implicit_q(const aimc_update_params_t *u, float v, float scale, float res,
                              float uni) {
  float p = scale * aimc_absf(v);
  if (res > 0.0f) {
    float q = p / res;
    if (u->sto_round) q = q + (uni - 0.5f);
    p = rintf(q) * res;
  }
  return aimc_clampf(p, 0.0f, 1.0f);
}

/* Pulse count of a weight for the deterministic pulse types, from the
 * per-line values cx (x side) and cd (d side): for DETERMINISTIC_IMPLICIT
 * they are the clamped probabilities q, for MEAN_COUNT the line counts
 * clamp(rint(BL p), 0, BL). */
AIMC_HD int32_t aimc_implicit_count(int32_t pulse_type, int32_t bl, float cx, float cd) {
  float n = pulse_type == AIMC_PULSE_MEAN_COUNT ? rintf(cd / (float)bl * cx)
                                               : rintf((float)bl * cd * cx);
  /* n is in [0, bl] for the levels the lines give; the conversion must still be
   * total. The GPU's conversion already is (NaN gives 0, it saturates) and
   * costs the register-tight pulse kernel nothing more; the host's needs the
   * test. Both agree on every value in [0, AIMC_MAX_BL] and on NaN. */
#if defined(__CUDA_ARCH__)
  return (int32_t)n;
#else
  return n > 0.0f ? (int32_t)aimc_minf(n, (float)AIMC_MAX_BL) : 0;
#endif
}

AIMC_HD float aimc_mean_count(int32_t bl, float p) {
  return aimc_clampf(rintf((float)bl * p), 0.0f, (float)bl);
}

/* What a line of value v (sample_line = b n + line, n the number of x or of
 * d lines) brings to one sample with scale `scale` (A or B) and train length bl: its
 * firing probability for STOCHASTIC_COMPRESSED (the train is drawn from it),
 * its level for MEAN_COUNT and DETERMINISTIC_IMPLICIT. Stochastic rounding
 * takes word 0 (x lines) or 1 (d lines) of the line's block of sub_round. */
AIMC_HD float aimc_line_level(const aimc_update_params_t *u, uint64_t key, uint64_t sub_round,
                              uint64_t sample_line, int is_x, float v, float scale, int32_t bl) {
  if (bl == 0) return 0.0f;
  float uni = 0.0f;
  if (u->sto_round) {
    aimc_u32x4 r = aimc_philox_block(key, sub_round, sample_line);
    uni = aimc_u01(is_x ? r.v[0] : r.v[1]);
  }
  if (u->pulse_type == AIMC_PULSE_STOCHASTIC_COMPRESSED || u->pulse_type == AIMC_PULSE_MEAN_COUNT) {
    float p = aimc_update_prob(u, v, scale, uni);
    return u->pulse_type == AIMC_PULSE_MEAN_COUNT ? aimc_mean_count(bl, p) : p;
  }
  return aimc_implicit_q(u, v, scale, is_x ? u->x_res_implicit : u->d_res_implicit, uni);
}

/* The coincidences of the two trains aimc_make_train would draw, counted
 * without storing them (for trains too long to keep): slot k fires on both
 * lines when both uniforms of slot k fall below their probabilities. */
AIMC_HD int32_t aimc_coincidences_direct(uint64_t key, uint64_t sub_x, uint64_t line_x, float px,
                                         uint64_t sub_d, uint64_t line_d, float pd, int32_t bl) {
  if (!(px > 0.0f) || !(pd > 0.0f)) return 0;
  int32_t n = 0;
  for (int32_t k = 0; k < bl; k += 4) {
    aimc_u32x4 rx = aimc_philox_block(key, sub_x, aimc_train_block(line_x, k));
    aimc_u32x4 rd = aimc_philox_block(key, sub_d, aimc_train_block(line_d, k));
    for (int32_t q = 0; q < 4 && k + q < bl; ++q)
      n += (aimc_u01(rx.v[q]) < px && aimc_u01(rd.v[q]) < pd) ? 1 : 0;
  }
  return n;
}

#endif
