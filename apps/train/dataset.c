/* aimc-train: loading MNIST-style IDX files through the library's reader. */
#define _POSIX_C_SOURCE 200809L
#include "dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aimc.h"

/* The widest layer aimc_network_desc_mlp accepts (2^24). */
#define NETWORK_MAX_INPUTS (1 << 24)

/* <dir>/<stem>.gz if it exists, else <dir>/<stem>. */
static void idx_path(const char *dir, const char *stem, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s.gz", dir, stem);
  if (access(out, R_OK) != 0) snprintf(out, cap, "%s/%s", dir, stem);
}

static int load_idx(const char *dir, const char *stem, int32_t want_dims, aimc_idx_t *idx) {
  char path[2048];
  idx_path(dir, stem, path, sizeof path);
  if (aimc_idx_load(path, idx) != AIMC_OK) {
    fprintf(stderr, "aimc-train: %s\n", aimc_last_error());
    return 2;
  }
  if (idx->n_dims != want_dims) {
    fprintf(stderr, "aimc-train: %s has %d dimensions, expected %d (%s)\n", path, idx->n_dims,
            want_dims, want_dims == 3 ? "images: count x rows x columns" : "labels: count");
    aimc_idx_free(idx);
    return 2;
  }
  return 0;
}

/* Keeps `keep` samples of the idx's first dimension in the order `order`. */
static int gather(aimc_idx_t *idx, const int64_t *order, int64_t keep) {
  int64_t per = idx->count / idx->dims[0];
  uint8_t *src = malloc((size_t)idx->count); /* in place, read through a copy */
  if (!src) return 0;
  memcpy(src, idx->data, (size_t)idx->count);
  for (int64_t i = 0; i < keep; ++i)
    memcpy(idx->data + i * per, src + order[i] * per, (size_t)per);
  free(src);
  return 1;
}

/* Images and labels of one split: the first `keep` samples (0 = all), of a
 * shuffle seeded by *seed when seed is not NULL. */
static int load_split(const char *dir, const char *prefix, const uint64_t *seed, int64_t keep,
                      split_t *s, int32_t *max_label) {
  char img_stem[64], lab_stem[64];
  snprintf(img_stem, sizeof img_stem, "%s-images-idx3-ubyte", prefix);
  snprintf(lab_stem, sizeof lab_stem, "%s-labels-idx1-ubyte", prefix);
  aimc_idx_t img, lab;
  if (load_idx(dir, img_stem, 3, &img)) return 2;
  if (load_idx(dir, lab_stem, 1, &lab)) {
    aimc_idx_free(&img);
    return 2;
  }
  int rc = 0;
  int64_t n = img.dims[0];
  if (lab.dims[0] != n) {
    fprintf(stderr, "aimc-train: %s/%s* holds %lld images but %s* %lld labels\n", dir, img_stem,
            (long long)n, lab_stem, (long long)lab.dims[0]);
    rc = 2;
  }
  /* pixels per image in 64 bits: rows x columns of a header can pass 2^31 */
  int64_t pixels = img.dims[1] * img.dims[2];
  if (!rc && pixels > NETWORK_MAX_INPUTS) {
    fprintf(stderr,
            "aimc-train: %s/%s* images have %lld x %lld = %lld pixels, above the %d inputs a "
            "network layer takes\n",
            dir, img_stem, (long long)img.dims[1], (long long)img.dims[2], (long long)pixels,
            NETWORK_MAX_INPUTS);
    rc = 2;
  }
  s->n = keep > 0 && keep < n ? keep : n;
  s->dim = rc ? 0 : (int32_t)pixels;
  int shuffled = !seed;
  int64_t *order = seed && !rc ? malloc((size_t)n * sizeof *order) : NULL;
  if (order && aimc_permutation(*seed, UINT64_MAX, n, order) == AIMC_OK)
    shuffled = gather(&img, order, s->n) && gather(&lab, order, s->n);
  s->x = rc ? NULL : malloc((size_t)s->n * (size_t)s->dim * sizeof *s->x);
  s->y = rc ? NULL : malloc((size_t)s->n * sizeof *s->y);
  if (!rc && (!s->x || !s->y || !shuffled)) {
    fprintf(stderr, "aimc-train: out of memory for %lld samples\n", (long long)s->n);
    rc = 2;
  }
  img.dims[0] = s->n, img.count = s->n * s->dim; /* the first s->n samples */
  if (!rc) aimc_idx_normalize(&img, 0.0f, 1.0f, s->x); /* pixels to [0, 1] */
  for (int64_t i = 0; !rc && i < s->n; ++i) {
    s->y[i] = lab.data[i];
    if (s->y[i] > *max_label) *max_label = s->y[i];
  }
  free(order);
  aimc_idx_free(&img);
  aimc_idx_free(&lab);
  return rc;
}

int dataset_load(const char *dir, int64_t train_subset, int64_t test_subset, uint64_t seed,
                 dataset_t *d) {
  memset(d, 0, sizeof *d);
  int32_t max_label = 0;
  int rc = load_split(dir, "train", &seed, train_subset, &d->train, &max_label);
  if (!rc) rc = load_split(dir, "t10k", NULL, test_subset, &d->test, &max_label);
  if (!rc && d->train.dim != d->test.dim) {
    fprintf(stderr, "aimc-train: %s: training images have %d pixels, test images %d\n", dir,
            d->train.dim, d->test.dim);
    rc = 2;
  }
  d->classes = max_label + 1;
  if (rc) dataset_free(d);
  return rc;
}

void dataset_free(dataset_t *d) {
  free(d->train.x);
  free(d->train.y);
  free(d->test.x);
  free(d->test.y);
  memset(d, 0, sizeof d[0]);
}
