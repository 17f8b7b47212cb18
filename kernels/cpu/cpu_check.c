/* The non-finite policy's data scans on the CPU (host memory): the first bad
 * index is a min-reduction and max|v| a max-reduction, both independent of
 * the thread count. */
#include "kernels/common/hd.h"
#include "kernels/cpu/cpu.h"

aimc_status_t aimc_cpu_scan_finite(aimc_context_t *ctx, const float *v, int64_t rows, int64_t len,
                                   int64_t stride, int64_t *bad, float *max_abs) {
  int64_t n = rows * len, first = n;
  float mx = 0.0f;
#pragma omp parallel for schedule(static) reduction(min : first) reduction(max : mx) \
    num_threads(aimc_cpu_threads(ctx, n))
  for (int64_t e = 0; e < n; ++e) {
    float a = aimc_absf(v[(e / len) * stride + e % len]);
    if (!(a <= 3.40282347e38f)) { /* NaN or infinity */
      if (e < first) first = e;
    } else if (a > mx) {
      mx = a;
    }
  }
  *bad = first < n ? first : -1;
  *max_abs = mx;
  return AIMC_OK;
}

aimc_status_t aimc_cpu_scan_labels(aimc_context_t *ctx, const int32_t *labels, int64_t n,
                                   int32_t classes, int64_t *bad) {
  int64_t first = n;
#pragma omp parallel for schedule(static) reduction(min : first) \
    num_threads(aimc_cpu_threads(ctx, n))
  for (int64_t e = 0; e < n; ++e)
    if ((labels[e] < 0 || labels[e] >= classes) && e < first) first = e;
  *bad = first < n ? first : -1;
  return AIMC_OK;
}
