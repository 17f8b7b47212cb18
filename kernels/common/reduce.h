/* The one summation order of the read's order-dependent side sums, shared
 * by both backends so that they agree bit for bit while the GPU sums in
 * parallel:
 *   - q_add = sum_j v_j^2 (additive-constant weight noise),
 *   - pos = sum_{x_j > 0} x_j, neg = sum_{x_j <= 0} x_j (AbsMaxNPSum noise
 *     management and worst-case bound management),
 *   - q_i = sum_j |w_ij| v_j^2 (PCM read noise of a forward read).
 * The order is the forward dot product's (kernels/cpu/cpu_mvm.c dot()):
 * AIMC_TREE_WAYS = 8 partial sums, partial l taking the terms j = l mod 8 in
 * increasing j, combined as ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7)).
 *
 * The CPU sums a whole vector with the aimc_tree_* functions. A GPU 8-lane
 * group computes partial l = lane l with the aimc_tree_lane_* functions and
 * combines with butterfly shuffles (xor 1, 2, 4), which give every lane
 * exactly aimc_tree_combine's expression (float addition is commutative, so
 * p1 + p0 == p0 + p1 bit for bit). */
#ifndef AIMC_COMMON_REDUCE_H
#define AIMC_COMMON_REDUCE_H

#include "hd.h"

#include <stdint.h>

#define AIMC_TREE_WAYS 8

/* The terms, one place each. */
AIMC_HD float aimc_tree_square(float v) { return v * v; }
AIMC_HD float aimc_tree_abs_weighted_square(float w, float v) { return aimc_absf(w) * v * v; }
/* x's share of (pos, neg): exactly one of the two gets x */
AIMC_HD int aimc_tree_is_pos(float x) { return x > 0.0f; }

AIMC_HD float aimc_tree_combine(const float p[AIMC_TREE_WAYS]) {
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

/* ---- partial l of a sum (one GPU lane) ----------------------------------- */

AIMC_HD float aimc_tree_lane_squares(const float *v, int64_t n, int64_t l) {
  float p = 0.0f;
  for (int64_t j = l; j < n; j += AIMC_TREE_WAYS) p = p + aimc_tree_square(v[j]);
  return p;
}

AIMC_HD float aimc_tree_lane_pcm(const float *w, const float *v, int64_t n, int64_t l) {
  float p = 0.0f;
  for (int64_t j = l; j < n; j += AIMC_TREE_WAYS) p = p + aimc_tree_abs_weighted_square(w[j], v[j]);
  return p;
}

AIMC_HD void aimc_tree_lane_signed(const float *x, int64_t n, int64_t l, float *pos, float *neg) {
  float ps = 0.0f, ng = 0.0f;
  for (int64_t j = l; j < n; j += AIMC_TREE_WAYS) {
    if (aimc_tree_is_pos(x[j]))
      ps = ps + x[j];
    else
      ng = ng + x[j];
  }
  *pos = ps;
  *neg = ng;
}

/* ---- whole sums (the CPU), the same order -------------------------------- */

AIMC_HD float aimc_tree_squares(const float *v, int64_t n) {
  float p[AIMC_TREE_WAYS];
  for (int l = 0; l < AIMC_TREE_WAYS; ++l) p[l] = aimc_tree_lane_squares(v, n, l);
  return aimc_tree_combine(p);
}

/* sum_j |w_j| v_j^2 */
AIMC_HD float aimc_tree_pcm(const float *w, const float *v, int64_t n) {
  float p[AIMC_TREE_WAYS];
  for (int l = 0; l < AIMC_TREE_WAYS; ++l) p[l] = aimc_tree_lane_pcm(w, v, n, l);
  return aimc_tree_combine(p);
}

AIMC_HD void aimc_tree_signed(const float *x, int64_t n, float *pos, float *neg) {
  float p[AIMC_TREE_WAYS], q[AIMC_TREE_WAYS];
  for (int l = 0; l < AIMC_TREE_WAYS; ++l) aimc_tree_lane_signed(x, n, l, &p[l], &q[l]);
  *pos = aimc_tree_combine(p);
  *neg = aimc_tree_combine(q);
}

#endif
