/* Internal structures of the host layer (the backend table it calls
 * through is kernels/backend.h). */
#ifndef AIMC_HOST_INTERNAL_H
#define AIMC_HOST_INTERNAL_H

#include "aimc.h"
#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Operation counters: each names the call in the random-stream counter, so
 * every operation draws fresh numbers and the draws of one kind of operation
 * do not depend on how many operations of another kind ran. */
typedef struct aimc_counters {
  uint64_t mvm[4];      /* per aimc_direction_t */
  uint64_t update;
  uint64_t write;       /* write-noise redraws (update, program, decay, reset) */
  uint64_t decay;
  uint64_t reset;
} aimc_counters_t;

struct aimc_tiles {
  aimc_context_t *ctx;
  aimc_tile_config_t *configs;   /* host, n_tiles */
  aimc_tile_params_t *hparams;   /* host, n_tiles */
  aimc_tile_stats_t *stats;      /* backend memory, n_tiles */
  aimc_state_t st;               /* st.params points to the backend copy of hparams */
  float *lr;                     /* backend memory, n_tiles: per-tile rates of algorithm steps */
  uint64_t seed;
  aimc_counters_t counters;
};

/* Config helpers (config.c). */
aimc_status_t aimc_config_check(const aimc_tile_config_t *cfg, const char *prefix, char *msg,
                                size_t msg_len);
void aimc_resolve_params(const aimc_tile_config_t *cfg, uint64_t key, aimc_tile_params_t *p);
float aimc_device_granularity(const aimc_device_desc_t *d);
int32_t aimc_algorithm_arrays(const aimc_algorithm_desc_t *a);
int aimc_is_transfer_family(int32_t kind);

/* The algorithm layer (algorithm.c): what update, weight writes, decay and
 * reset mean for the batch's algorithm, composed from backend primitives. */
aimc_status_t aimc_algorithm_init(aimc_tiles_t *t);
aimc_status_t aimc_algorithm_update(aimc_tiles_t *t, const aimc_update_args_t *a);
aimc_status_t aimc_algorithm_write(aimc_tiles_t *t, const float *w, aimc_write_mode_t mode);
aimc_status_t aimc_algorithm_decay(aimc_tiles_t *t);
aimc_status_t aimc_algorithm_reset_columns(aimc_tiles_t *t, int32_t array, int32_t col_start,
                                           int32_t n_cols, float prob);

/* A backend buffer holding state of a tile batch. */
/* What a state buffer holds, so a loaded checkpoint can be checked before
 * any kernel trusts it. */
typedef enum aimc_blob_kind {
  AIMC_BLOB_DEVICE,  /* floats: weights, device states and parameters (no NaN) */
  AIMC_BLOB_DIGITAL, /* floats: digital algorithm buffers (finite) */
  AIMC_BLOB_SIGNS,   /* int8 choppers: +1 or -1 */
  AIMC_BLOB_FLAGS,   /* uint8: 0 or 1 */
  AIMC_BLOB_ALGO,    /* aimc_algo_state_t per tile */
  AIMC_BLOB_STATS    /* aimc_tile_stats_t per tile (any value) */
} aimc_blob_kind_t;

typedef struct aimc_blob {
  void *ptr;
  size_t bytes;
  aimc_blob_kind_t kind;
} aimc_blob_t;
#define AIMC_MAX_BLOBS (AIMC_MAX_ARRAYS * (AIMC_PLANE_COUNT + 2) + 8)
/* Every state buffer of the batch in a fixed order (checkpoints). */
int aimc_tiles_state_blobs(const aimc_tiles_t *t, aimc_blob_t *out);
/* Whether host bytes are a valid content of blob b of t; *why says what is not. */
int aimc_tiles_blob_valid(const aimc_tiles_t *t, const aimc_blob_t *b, const void *host,
                          const char **why);

/* The non-finite policy (finite.c). A checked argument in context memory
 * holds `rows` rows (row r at v + r * stride) of outer x inner values; the
 * names say what the indices are in the error ("tile", "sample", "col");
 * row NULL: one row named by nothing, outer_name NULL: no outer index. */
typedef struct aimc_check_shape {
  int64_t rows, stride, outer, inner;
  const char *row, *outer_name, *inner_name;
} aimc_check_shape_t;
/* AIMC_ERR_INVALID_ARGUMENT naming the first NaN or infinity of v; *max_abs
 * (may be NULL) gets max |v|. */
aimc_status_t aimc_check_finite(aimc_context_t *ctx, const char *name, const float *v,
                                const aimc_check_shape_t *shape, float *max_abs);
/* AIMC_ERR_INVALID_ARGUMENT naming the first label outside [0, classes). */
aimc_status_t aimc_check_labels(aimc_context_t *ctx, const int32_t *labels, int64_t n,
                                int32_t classes);

/* Largest |value| a float state may reach before an exact update: the sum
 * of a batch in float may exceed the exact sum by a little, so half the
 * float range. */
#define AIMC_EXACT_LIMIT 1.7014117e38
/* The float state an exact update adds to without bounds (the weights of
 * FLOAT_SGD or pulse type NONE, mixed precision's chi), NULL if none;
 * *what names it. */
const float *aimc_tiles_exact_state(const aimc_tiles_t *tiles, const char **what);
/* AIMC_ERR_NON_FINITE when max|state| + the largest step of the update
 * (lr batch x_max d_max; auto-scaled and Tiki-Taka transfer bounds in
 * host/tiles.c) reaches AIMC_EXACT_LIMIT (nothing to check: AIMC_OK). */
aimc_status_t aimc_tiles_exact_bound(aimc_tiles_t *tiles, int64_t batch, float x_max,
                                     float d_max);
/* Whether Tiki-Taka's transfers write C exactly (transfer pulse type NONE):
 * aimc_tiles_exact_bound checks those writes too. */
int aimc_tiles_tt_exact(const aimc_tiles_t *tiles);
/* An update whose arguments the caller has validated and checked (the
 * network's steps): no scans. */
aimc_status_t aimc_tiles_update_trusted(aimc_tiles_t *tiles, const float *x,
                                        int64_t x_tile_stride, const float *d,
                                        int64_t d_tile_stride, const float *y,
                                        int64_t y_tile_stride, int64_t batch);

/* Number of elements of a batch as size_t, or 0 on overflow. */
size_t aimc_checked_count(int64_t a, int64_t b, int64_t c);

#ifdef __cplusplus
}
#endif

#endif
