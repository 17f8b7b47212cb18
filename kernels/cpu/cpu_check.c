/* The non-finite policy's data scans on the CPU (host memory): the first bad
 * index is a min-reduction and max|v| a max-reduction, both independent of
 * the thread count. A scan reads each value once, far cheaper than waking
 * a thread team: only arrays of millions of values are split (whatever
 * n_threads the context asks for). */
#include "kernels/common/hd.h"
#include "kernels/cpu/cpu.h"

enum { SCAN_PARALLEL_MIN = 1 << 22 };

/* Row r of the scan: its first non-finite index (a NaN or infinity: the row
 * stops there) lowers *first, its other values raise *mx. */
static void scan_row(const float *row, int64_t r, int64_t len, int64_t *first, float *mx) {
  for (int64_t i = 0; i < len; ++i) {
    float a = aimc_absf(row[i]);
    if (!(a <= 3.40282347e38f)) {
      if (r * len + i < *first) *first = r * len + i;
      return;
    }
    *mx = a > *mx ? a : *mx;
  }
}

aimc_status_t aimc_cpu_scan_finite(aimc_context_t *ctx, const float *v, int64_t rows, int64_t len,
                                   int64_t stride, int64_t *bad, float *max_abs) {
  int64_t n = rows * len, first = n;
  float mx = 0.0f;
  int nt = n >= SCAN_PARALLEL_MIN ? aimc_cpu_threads(ctx, n) : 1;
  if (nt == 1) {
    for (int64_t r = 0; r < rows; ++r) scan_row(v + r * stride, r, len, &first, &mx);
  } else {
#pragma omp parallel for schedule(static) reduction(min : first) reduction(max : mx) \
    num_threads(nt)
    for (int64_t r = 0; r < rows; ++r) scan_row(v + r * stride, r, len, &first, &mx);
  }
  *bad = first < n ? first : -1;
  *max_abs = mx;
  return AIMC_OK;
}

aimc_status_t aimc_cpu_scan_labels(aimc_context_t *ctx, const int32_t *labels, int64_t n,
                                   int32_t classes, int64_t *bad) {
  int64_t first = n;
  int nt = n >= SCAN_PARALLEL_MIN ? aimc_cpu_threads(ctx, n) : 1;
  if (nt == 1) {
    for (int64_t e = 0; e < n && first == n; ++e)
      if (labels[e] < 0 || labels[e] >= classes) first = e;
  } else {
#pragma omp parallel for schedule(static) reduction(min : first) num_threads(nt)
    for (int64_t e = 0; e < n; ++e)
      if ((labels[e] < 0 || labels[e] >= classes) && e < first) first = e;
  }
  *bad = first < n ? first : -1;
  return AIMC_OK;
}
