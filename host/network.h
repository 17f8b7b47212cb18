/* Networks: the structure shared by network.c and checkpoint.c. */
#ifndef AIMC_HOST_NETWORK_H
#define AIMC_HOST_NETWORK_H

#include "host/internal.h"

struct aimc_network {
  aimc_context_t *ctx;
  aimc_network_desc_t desc;
  uint64_t seed;
  int32_t replicas;
  aimc_layer_map_t map[AIMC_MAX_LAYERS];
  aimc_tiles_t *tiles[AIMC_MAX_LAYERS];
  float *bias[AIMC_MAX_LAYERS];   /* [replicas][out], context memory */
  float lr;                       /* bias rate once set_learning_rate was called */
  int32_t lr_override;
  /* batch-sized buffers, context memory */
  int64_t capacity;
  float *act[AIMC_MAX_LAYERS];    /* activated outputs [replicas][batch][out] */
  float *tin, *tout, *tgrad;      /* tile-side vectors [tiles][batch][width] */
  float *grad[AIMC_MAX_LAYERS];   /* loss gradients w.r.t. the activated outputs, as act */
  float *loss;                    /* [replicas] */
  /* statistics of every layer's tiles before a training step, restored when
   * the step is refused as diverged (context memory, one per layer) */
  aimc_tile_stats_t *stats_backup[AIMC_MAX_LAYERS];
  int64_t *correct;               /* [replicas] */
};

int32_t aimc_network_replica_count(const aimc_network_desc_t *d);
/* Validates a network description (every layer and replica configuration). */
aimc_status_t aimc_network_check(aimc_context_t *ctx, const aimc_network_desc_t *d);
aimc_status_t aimc_network_replica_config(const aimc_network_desc_t *d, int32_t l, int32_t k,
                                          aimc_tile_config_t *cfg);
/* The network's structure and tile batches, without initial weights. */
aimc_status_t aimc_network_build(aimc_context_t *ctx, const aimc_network_desc_t *desc,
                                 uint64_t seed, aimc_network_t **out);
void aimc_network_free(aimc_network_t *n);
aimc_status_t aimc_network_write_layer(aimc_network_t *n, int32_t l, const float *w,
                                       const float *b, int from_host);

#endif
