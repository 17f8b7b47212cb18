/* The non-finite policy on the host side: arguments in context memory are
 * scanned by the backend (scan_finite, scan_labels) before a call changes
 * anything, and the first bad element is named in the error. */
#include <math.h>
#include <stdio.h>

#include "host/internal.h"

/* "[tile 2][sample 0][col 5]" for flat index e of a rows x outer x inner scan. */
static void element_name(const aimc_check_shape_t *sh, int64_t e, char *buf, size_t len) {
  int64_t per_row = sh->outer * sh->inner;
  int64_t r = e / per_row, o = (e % per_row) / sh->inner, i = e % sh->inner;
  char row[48] = "";
  if (sh->row) snprintf(row, sizeof row, "[%s %lld]", sh->row, (long long)r);
  if (sh->outer_name)
    snprintf(buf, len, "%s[%s %lld][%s %lld]", row, sh->outer_name, (long long)o, sh->inner_name,
             (long long)i);
  else
    snprintf(buf, len, "%s[%s %lld]", row, sh->inner_name, (long long)i);
}

aimc_status_t aimc_check_finite(aimc_context_t *ctx, const char *name, const float *v,
                                const aimc_check_shape_t *sh, float *max_abs) {
  int64_t bad = -1;
  float mx = 0.0f;
  int64_t len = sh->outer * sh->inner;
  aimc_status_t s = ctx->ops->scan_finite(ctx, v, sh->rows, len, sh->stride, &bad, &mx);
  if (s != AIMC_OK) return s;
  if (max_abs) *max_abs = mx;
  if (bad < 0) return AIMC_OK;
  float value = NAN;
  const float *at = v + (bad / len) * sh->stride + bad % len;
  if (ctx->ops->copy(ctx, &value, at, sizeof value, AIMC_COPY_CONTEXT_TO_HOST) != AIMC_OK)
    value = NAN;
  char where[160];
  element_name(sh, bad, where, sizeof where);
  return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                    "%s%s = %g is not finite: a call that changes state takes only finite "
                    "numbers (NaN and infinities are refused; see \"Non-finite numbers\" in "
                    "docs/physics.md)",
                    name, where, (double)value);
}

aimc_status_t aimc_check_labels(aimc_context_t *ctx, const int32_t *labels, int64_t n,
                                int32_t classes) {
  int64_t bad = -1;
  aimc_status_t s = ctx->ops->scan_labels(ctx, labels, n, classes, &bad);
  if (s != AIMC_OK || bad < 0) return s;
  int32_t value = 0;
  if ((s = ctx->ops->copy(ctx, &value, labels + bad, sizeof value, AIMC_COPY_CONTEXT_TO_HOST)) !=
      AIMC_OK)
    return s;
  return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                    "labels[%lld] = %d is out of range [0, %d) (the network's classes)",
                    (long long)bad, (int)value, (int)classes);
}
