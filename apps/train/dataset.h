/* aimc-train: an image classification data set in host memory. */
#ifndef AIMC_TRAIN_DATASET_H
#define AIMC_TRAIN_DATASET_H

#include <stdint.h>

typedef struct split {
  int64_t n;        /* samples */
  int32_t dim;      /* pixels per sample */
  float *x;         /* [n][dim], pixels scaled to [0, 1] */
  int32_t *y;       /* [n] */
} split_t;

typedef struct dataset {
  split_t train, test;
  int32_t classes;  /* largest label + 1 */
} dataset_t;

/* Loads <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; keeps the
 * first train_subset samples of a fixed shuffle of the training set (seeded,
 * so the subset is the same in every run with that seed) and the first
 * test_subset test samples (0 = all). Prints the error and returns non-zero
 * on failure. */
int dataset_load(const char *dir, int64_t train_subset, int64_t test_subset, uint64_t seed,
                 dataset_t *d);
void dataset_free(dataset_t *d);

#endif
