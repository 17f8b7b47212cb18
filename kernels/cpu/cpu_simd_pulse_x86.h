/* Coincidence counts with the hardware popcount, shared by the AVX2 and
 * AVX-512 files (both compile with -mpopcnt and are chosen only on CPUs
 * with it). The portable path calls the same aimc_coincidences, which
 * without -mpopcnt goes through libgcc's bit-trick popcount. */
#ifndef AIMC_CPU_SIMD_PULSE_X86_H
#define AIMC_CPU_SIMD_PULSE_X86_H

#include "kernels/common/update.h"

static void coincidences_popcnt(const uint32_t *x, int64_t x_line, int64_t x_sample,
                                const uint32_t *d, int64_t d_sample, const int32_t *nwc,
                                int64_t nb, int64_t n, int64_t stride, int32_t *cnt) {
  for (int64_t c = 0; c < nb; ++c) {
    int32_t *row = cnt + c * stride;
    const uint32_t *xc = x + c * x_sample, *dc = d + c * d_sample;
    if (nwc[c] == 0) {
      for (int64_t j = 0; j < n; ++j) row[j] = 0;
    } else if (nwc[c] == 1) { /* BL <= 32, the common case: one word per train */
      uint32_t dw = dc[0];
      for (int64_t j = 0; j < n; ++j) row[j] = __builtin_popcount(xc[j * x_line] & dw);
    } else {
      for (int64_t j = 0; j < n; ++j) row[j] = aimc_coincidences(xc + j * x_line, dc, nwc[c]);
    }
  }
}

#endif
