/* Data sets: IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed, and
 * the library's reproducible permutations for shuffling. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "host/internal.h"
#include "kernels/common/rng.h"

/* Reads exactly n bytes; returns the number read (less at the end of the
 * file), or -1 on a decompression error. */
static int64_t read_all(gzFile f, uint8_t *buf, int64_t n) {
  int64_t got = 0;
  while (got < n) {
    unsigned chunk = (unsigned)(n - got > (1 << 30) ? (1 << 30) : n - got);
    int r = gzread(f, buf + got, chunk);
    if (r < 0) return -1;
    if (r == 0) break;
    got += r;
  }
  return got;
}

static aimc_status_t fail(gzFile f, aimc_status_t s, const char *path, const char *what) {
  int err = 0;
  char zmsg[256] = ""; /* gzerror's string belongs to f: copy it before gzclose */
  if (f) {
    const char *m = gzerror(f, &err);
    snprintf(zmsg, sizeof zmsg, "%s", m ? m : "");
    gzclose(f);
  }
  return aimc_error(NULL, s, "%s: %s%s%s%s", path, what, err < 0 ? " (" : "", err < 0 ? zmsg : "",
                    err < 0 ? ")" : "");
}

aimc_status_t aimc_idx_load(const char *path, aimc_idx_t *out) {
  if (!path) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "path is NULL");
  if (!out) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "out is NULL");
  gzFile f = gzopen(path, "rb");
  if (!f)
    return aimc_error(NULL, AIMC_ERR_IO, "%s: cannot open (%s); expected an IDX file, plain or "
                      "gzip-compressed",
                      path, strerror(errno ? errno : ENOENT));
  uint8_t head[4];
  int64_t got = read_all(f, head, 4);
  if (got < 0) return fail(f, AIMC_ERR_CORRUPT, path, "not a readable gzip stream");
  if (got < 4) return fail(f, AIMC_ERR_CORRUPT, path, "truncated: shorter than the 4-byte IDX magic");
  char msg[160];
  if (head[0] != 0 || head[1] != 0) {
    snprintf(msg, sizeof msg,
             "not an IDX file: magic %02x %02x %02x %02x, expected 00 00 08 <dims>", head[0],
             head[1], head[2], head[3]);
    return fail(f, AIMC_ERR_CORRUPT, path, msg);
  }
  if (head[2] != 0x08) {
    snprintf(msg, sizeof msg, "IDX data type 0x%02x is not supported (expected 0x08, unsigned bytes)",
             head[2]);
    return fail(f, AIMC_ERR_CORRUPT, path, msg);
  }
  int32_t nd = head[3];
  if (nd < 1 || nd > 4) {
    snprintf(msg, sizeof msg, "IDX file with %d dimensions (expected 1 to 4)", (int)nd);
    return fail(f, AIMC_ERR_CORRUPT, path, msg);
  }
  uint8_t dims[16];
  if (read_all(f, dims, 4 * nd) != 4 * nd)
    return fail(f, AIMC_ERR_CORRUPT, path, "truncated in the dimensions of the IDX header");
  aimc_idx_t idx;
  memset(&idx, 0, sizeof idx);
  idx.n_dims = nd;
  idx.count = 1;
  for (int32_t k = 0; k < nd; ++k) {
    const uint8_t *p = dims + 4 * k;
    idx.dims[k] = ((int64_t)p[0] << 24) | ((int64_t)p[1] << 16) | ((int64_t)p[2] << 8) | p[3];
    if (idx.dims[k] < 1 || idx.count > ((int64_t)1 << 34) / idx.dims[k]) {
      snprintf(msg, sizeof msg, "IDX dimension %d is %lld (expected 1 to 2^34 elements in all)",
               (int)k, (long long)idx.dims[k]);
      return fail(f, AIMC_ERR_CORRUPT, path, msg);
    }
    idx.count *= idx.dims[k];
  }
  idx.data = malloc((size_t)idx.count);
  if (!idx.data) {
    gzclose(f);
    return aimc_error(NULL, AIMC_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld bytes", path,
                      (long long)idx.count);
  }
  got = read_all(f, idx.data, idx.count);
  uint8_t extra;
  int64_t more = got == idx.count ? read_all(f, &extra, 1) : 0;
  int zerr = Z_OK;
  if (got == idx.count && more == 0) (void)gzerror(f, &zerr);
  if (zerr != Z_OK) { /* zlib hands out the data of a stream cut before its trailer */
    free(idx.data);
    return fail(f, AIMC_ERR_CORRUPT, path,
                "truncated gzip stream: it ends before its trailer, so its CRC cannot be checked");
  }
  if (got != idx.count || more != 0) {
    free(idx.data);
    if (got < 0 || more < 0) return fail(f, AIMC_ERR_CORRUPT, path, "corrupt gzip stream");
    if (more > 0)
      snprintf(msg, sizeof msg, "has data after the %lld bytes its header announces",
               (long long)idx.count);
    else
      snprintf(msg, sizeof msg, "truncated: %lld of the %lld data bytes its header announces",
               (long long)got, (long long)idx.count);
    return fail(f, AIMC_ERR_CORRUPT, path, msg);
  }
  gzclose(f);
  *out = idx;
  return AIMC_OK;
}

void aimc_idx_free(aimc_idx_t *idx) {
  if (!idx) return;
  free(idx->data);
  idx->data = NULL;
}

aimc_status_t aimc_idx_normalize(const aimc_idx_t *idx, float mean, float std, float *out) {
  if (!idx || (!idx->data && idx->count > 0))
    return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "idx is NULL or holds no data");
  if (idx->count < 0)
    return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT,
                      "idx->count = %lld is out of range [0, 2^34]", (long long)idx->count);
  if (!out) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "out is NULL");
  if (!(std > 0.0f && std < INFINITY) || !(mean > -INFINITY && mean < INFINITY))
    return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT,
                      "mean = %g, std = %g: mean must be finite and std in (0, inf)", (double)mean,
                      (double)std);
  for (int64_t i = 0; i < idx->count; ++i) out[i] = ((float)idx->data[i] / 255.0f - mean) / std;
  return AIMC_OK;
}

aimc_status_t aimc_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *perm) {
  if (n < 0) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "n = %lld is negative", (long long)n);
  if (n > 0 && !perm) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "perm is NULL");
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  uint64_t sub = aimc_subsequence(61, epoch); /* a stream of its own */
  for (int64_t i = n - 1; i > 0; --i) { /* Fisher-Yates with 53-bit uniforms */
    aimc_u32x4 r = aimc_philox_block(seed, sub, (uint64_t)i);
    double u = (double)(((uint64_t)r.v[0] << 21) ^ (r.v[1] >> 11)) * 0x1.0p-53;
    int64_t j = (int64_t)(u * (double)(i + 1));
    int64_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return AIMC_OK;
}
