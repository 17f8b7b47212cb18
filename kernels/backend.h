/* The contract between the host layer and the backends: the context as
 * backends see it, the arguments of the backend operations and the table
 * of functions every backend provides. It sits below both: host/ calls
 * through it, kernels/cpu and kernels/cuda implement it, and neither
 * includes the other. */
#ifndef AIMC_KERNELS_BACKEND_H
#define AIMC_KERNELS_BACKEND_H

#include "aimc.h"
#include "kernels/common/params.h"

#ifdef __cplusplus
extern "C" { /* the CUDA backend's .cu files include this header */
#endif

#define AIMC_MAX_DIM 65536
#define AIMC_ERROR_LEN 512

typedef struct aimc_backend_ops aimc_backend_ops_t;

struct aimc_context {
  aimc_backend_t backend;
  const aimc_backend_ops_t *ops;
  uint64_t seed;
  int32_t n_threads;
  int32_t cuda_device;
  uint64_t n_batches_created; /* derives seeds of batches created without one */
  void *backend_data;         /* CUDA: stream, cuBLAS handle */
  int32_t read_mode;          /* aimc_read_mode_t (aimc_context_set_read_mode) */
  char last_error[AIMC_ERROR_LEN];
};

/* Arguments of the backend operations. */
typedef struct aimc_mvm_args {
  int32_t dir;
  const float *in;
  int64_t in_tile_stride;
  float *out;
  int64_t batch;
  uint64_t call;
} aimc_mvm_args_t;

typedef struct aimc_update_args {
  const float *x, *d;
  int64_t x_tile_stride, d_tile_stride;
  int64_t batch;
  uint64_t call;       /* update counter */
  uint64_t write_call; /* write-noise counter */
  int32_t array;       /* the array that receives the pulses */
  int32_t upd;         /* 0: gradient update parameters, 1: transfer-write parameters */
  const float *lr;     /* per-tile learning rates (backend memory), NULL: the update's own */
  int32_t chopped;     /* signs of x and d flipped by the input and output choppers */
  int32_t exact;       /* exact float update whatever the pulse type (FLOAT_SGD) */
  int32_t not_a_call;  /* part of a call already counted in the statistics */
  const float *y;      /* outputs for gated updates (STELLAR), or NULL */
  int64_t y_tile_stride;
} aimc_update_args_t;

/* Where one fully connected layer sits on its tile batch: replica k owns a
 * grid_r x grid_c grid of tiles of tr x tc (rows = outputs), the layer's
 * outputs split evenly over the grid rows, its inputs over the grid
 * columns, tiles zero-padded to the common shape. Tile (k, r, c) is tile
 * (k grid_r + r) grid_c + c of the batch. */
typedef struct aimc_layer_map {
  int32_t in, out;
  int32_t grid_r, grid_c;
  int32_t tr, tc;
  int32_t replicas;
  int32_t activation;
} aimc_layer_map_t;

/* Which side of a layer a per-sample vector belongs to. */
enum { AIMC_SIDE_IN = 0, AIMC_SIDE_OUT = 1 };

typedef enum aimc_write_mode {
  AIMC_WRITE_EXACT = 0,   /* visible = w exactly */
  AIMC_WRITE_PROGRAM = 1, /* device state clipped, write noise when enabled on set */
  AIMC_WRITE_INIT = 2     /* device state clipped, no write noise */
} aimc_write_mode_t;

/* What a backend provides. Every function receives validated arguments. */
struct aimc_backend_ops {
  const char *name;
  aimc_status_t (*init)(aimc_context_t *ctx);
  void (*shutdown)(aimc_context_t *ctx);
  aimc_status_t (*alloc)(aimc_context_t *ctx, void **ptr, size_t bytes);
  void (*release)(aimc_context_t *ctx, void *ptr);
  aimc_status_t (*copy)(aimc_context_t *ctx, void *dst, const void *src, size_t bytes,
                        aimc_copy_kind_t kind);
  aimc_status_t (*zero)(aimc_context_t *ctx, void *ptr, size_t bytes);
  aimc_status_t (*synchronize)(aimc_context_t *ctx);
  /* The stream of a CUDA context (NULL: the backend has none). */
  aimc_status_t (*set_stream)(aimc_context_t *ctx, void *stream);
  void *(*get_stream)(const aimc_context_t *ctx);
  /* Fills every allocated plane of every array with the device-to-device draws. */
  aimc_status_t (*sample_devices)(aimc_context_t *ctx, aimc_state_t *st);
  /* Writes visible weights w (NULL: zeros) into every array, each taking
   * its algorithm's share (aimc_array_targets). */
  aimc_status_t (*write_weights)(aimc_context_t *ctx, aimc_state_t *st, const float *w,
                                 aimc_write_mode_t mode, uint64_t write_call);
  /* Analog reads of st->w. */
  aimc_status_t (*mvm)(aimc_context_t *ctx, const aimc_state_t *st, const aimc_mvm_args_t *a,
                       aimc_tile_stats_t *stats);
  /* Pulsed (or exact) update of one array. */
  aimc_status_t (*update)(aimc_context_t *ctx, aimc_state_t *st, const aimc_update_args_t *a,
                          aimc_tile_stats_t *stats);
  /* Decay and diffusion of every array. */
  aimc_status_t (*decay)(aimc_context_t *ctx, aimc_state_t *st, uint64_t call,
                         uint64_t write_call);
  aimc_status_t (*reset_columns)(aimc_context_t *ctx, aimc_state_t *st, int32_t array,
                                 int32_t col_start, int32_t n_cols, float prob, uint64_t call,
                                 uint64_t write_call);
  /* st->w from the arrays, where the algorithm combines them. */
  aimc_status_t (*combine)(aimc_context_t *ctx, aimc_state_t *st);
  /* Transfer family, one sample of a mini-batch of `batch`: the running
   * maxima and the rates of the A update (into lr[n_tiles]) ... */
  aimc_status_t (*transfer_rates)(aimc_context_t *ctx, aimc_state_t *st, const float *x,
                                  int64_t x_tile_stride, const float *d, int64_t d_tile_stride,
                                  int64_t batch, float *lr);
  /* ... and after A's pulses: count the sample, transfer where due. */
  aimc_status_t (*transfer)(aimc_context_t *ctx, aimc_state_t *st, int64_t batch,
                            const float *count_lr, aimc_tile_stats_t *stats);
  /* One mini-batch of the mixed-precision, STELLAR and PANTHER updates. */
  aimc_status_t (*mixed_precision)(aimc_context_t *ctx, aimc_state_t *st,
                                   const aimc_update_args_t *a, aimc_tile_stats_t *stats);
  aimc_status_t (*stellar)(aimc_context_t *ctx, aimc_state_t *st, const aimc_update_args_t *a,
                           aimc_tile_stats_t *stats);
  aimc_status_t (*panther)(aimc_context_t *ctx, aimc_state_t *st, const aimc_update_args_t *a,
                           aimc_tile_stats_t *stats);

  /* Networks (host/network.c). Vectors of a side: [replicas][batch][n] with
   * n = in or out; v_rep_stride 0 shares one vector among the replicas. */
  /* Tiles' copies [tiles][batch][tc or tr] of the side's vectors, padded. */
  aimc_status_t (*net_gather)(aimc_context_t *ctx, const aimc_layer_map_t *m, int side,
                              const float *v, int64_t v_rep_stride, int64_t batch, float *tiles);
  /* The side's vectors as sums over the other grid dimension of the tiles'. */
  aimc_status_t (*net_reduce)(aimc_context_t *ctx, const aimc_layer_map_t *m, int side,
                              const float *tiles, int64_t batch, float *v);
  /* y = act(y + bias) on the outputs (bias [replicas][out] or NULL). */
  aimc_status_t (*net_activate)(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                const float *bias, int64_t batch, float *y);
  /* d *= act'(y) on the outputs (y the activated outputs). */
  aimc_status_t (*net_activation_grad)(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                       const float *y, int64_t batch, float *d);
  /* Mean softmax cross entropy per replica into loss [replicas] and its
   * gradient w.r.t. the logits into grad [replicas][batch][classes]. */
  aimc_status_t (*net_softmax_ce)(aimc_context_t *ctx, int32_t replicas, int64_t batch,
                                  int32_t classes, const float *logits, const int32_t *labels,
                                  float *grad, float *loss);
  /* bias -= lr sum over the batch of d. */
  aimc_status_t (*net_bias_update)(aimc_context_t *ctx, const aimc_layer_map_t *m, const float *d,
                                   int64_t batch, float lr, float *bias);
  /* correct[k] += number of samples whose largest logit is the label. */
  aimc_status_t (*net_count_correct)(aimc_context_t *ctx, int32_t replicas, int64_t batch,
                                     int32_t classes, const float *logits, const int32_t *labels,
                                     int64_t *correct);
  /* Scans rows x len floats, row r at v + r * stride: *bad gets the flat
   * index r * len + i of the first NaN or infinity (-1 if none), *max_abs
   * the largest |value| (when all are finite). Data checks of the
   * non-finite policy; on CUDA one reduction and one host synchronisation. */
  aimc_status_t (*scan_finite)(aimc_context_t *ctx, const float *v, int64_t rows, int64_t len,
                               int64_t stride, int64_t *bad, float *max_abs);
  /* *bad gets the index of the first label outside [0, classes) (-1 if none). */
  aimc_status_t (*scan_labels)(aimc_context_t *ctx, const int32_t *labels, int64_t n,
                               int32_t classes, int64_t *bad);
  /* Weights between the layer layout [replicas][out][in] and the tiles'
   * [tiles][tr][tc] (to_tiles: padding zeroed). */
  aimc_status_t (*net_weights)(aimc_context_t *ctx, const aimc_layer_map_t *m, int to_tiles,
                               float *layer, float *tiles);
};

extern const aimc_backend_ops_t aimc_cpu_backend;
#if defined(AIMC_WITH_CUDA)
extern const aimc_backend_ops_t aimc_cuda_backend;
int aimc_cuda_device_count(void);
#endif

/* Errors: record the message on the context (may be NULL) and the calling
 * thread, return the status. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
aimc_status_t aimc_error(aimc_context_t *ctx, aimc_status_t status, const char *fmt, ...);
void aimc_clear_error(aimc_context_t *ctx);

#ifdef __cplusplus
}
#endif

#endif
