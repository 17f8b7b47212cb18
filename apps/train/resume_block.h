/* aimc-train: the trainer's own block in a checkpoint (the library's USER
 * section): the model options and the per-epoch history of the run, so that
 * --resume continues it. The library checks the block's CRC but not its
 * meaning; resume_block_decode validates every field as strictly as the
 * library validates its own sections, because a resumed run divides by,
 * indexes with and trains on these numbers. The fuzz target
 * tests/fuzz/fuzz_checkpoint.c runs the same decoder on every checkpoint that
 * loads. */
#ifndef AIMC_TRAIN_RESUME_BLOCK_H
#define AIMC_TRAIN_RESUME_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "report.h"

#define RESUME_BLOCK_MAGIC "AIMCTRN1"
#define RESUME_MAX_EPOCHS 100000 /* the --epochs range */

/* The block: this header, then epochs x epoch_result_t, then epochs x
 * replicas x replica_result_t (host layout: a block is read back by the same
 * build, the sizes below tell another build's block apart). */
typedef struct resume_block_header {
  char magic[8];
  uint32_t model_size, epoch_size, replica_size;
  int32_t replicas, epochs;
  model_options_t model;
} resume_block_header_t;

/* The block of options m and history h (malloc'ed; NULL when out of memory). */
void *resume_block_encode(const model_options_t *m, const history_t *h, size_t *len);

/* Decodes block buf[len] that came with a network of `replicas` replicas and
 * description net (NULL: not compared). On success returns 0 and fills m and
 * h (history room for max(cap_epochs, saved epochs); free with history_free).
 * Otherwise returns 2, leaves m and h as they were, and err names the field,
 * its value and the allowed range. Out of memory also returns 2 (err says so). */
int resume_block_decode(const void *buf, size_t len, int32_t replicas,
                        const aimc_network_desc_t *net, int32_t cap_epochs,
                        model_options_t *m, history_t *h, char *err, size_t err_cap);

/* Checks the model options on their own (the ranges the command line
 * accepts); 0 or 2 with err set. */
int resume_block_check_model(const model_options_t *m, char *err, size_t err_cap);

#endif
