/* Per-tile parameters as the kernels read them: the public descriptors
 * resolved once at creation into the numbers the arithmetic needs (DAC and
 * ADC steps, granularity, absolute write noise, ...). One aimc_tile_params_t
 * per tile, in an array the backend keeps in its own memory. */
#ifndef AIMC_COMMON_PARAMS_H
#define AIMC_COMMON_PARAMS_H

#include "aimc.h"
#include "hd.h"

typedef struct aimc_io_params {
  int32_t perfect;
  int32_t nm, bm, w_noise_type;
  int32_t inp_sto_round, out_sto_round, bm_test_negative_bound;
  int32_t has_nonlinearity;   /* out_nonlinearity > 0 */
  float nm_thres, nm_assumed_wmax;
  float inp_bound, inp_step, inp_noise, inp_asymmetry;
  float out_bound, out_step, out_noise, out_noise_std, out_asymmetry;
  float nl_base;              /* out_nonlinearity / out_bound (bound 1 if infinite) */
  float nl_std;
  float w_noise, out_scale;
  float max_bm_factor, max_bm_res;
} aimc_io_params_t;

typedef struct aimc_update_params {
  int32_t pulse_type, desired_bl, fixed_bl, um, ublm, sto_round;
  float lr, um_grad_scale, res, x_res_implicit, d_res_implicit;
  float granularity;          /* the device's mean step, as update management uses it */
} aimc_update_params_t;

/* Per-tile constants of the per-pulse device rule of one array. */
typedef struct aimc_device_params {
  int32_t model;
  int32_t mult_noise;
  int32_t exp_complex_noise;  /* ExpStep with dw_min_std_add or _slope */
  int32_t n_piecewise;
  float dw_min_std;
  float write_noise;          /* absolute: write_noise_std * dw_min */
  float es_A_up, es_A_down, es_gamma_up, es_gamma_down, es_a, es_b;
  float std_add, std_slope;
  float piecewise_up[AIMC_PIECEWISE_MAX];
  float piecewise_down[AIMC_PIECEWISE_MAX];
} aimc_device_params_t;

/* The algorithm's numbers, resolved from aimc_algorithm_desc_t. */
typedef struct aimc_algo_params {
  int32_t kind;               /* aimc_algorithm_t */
  int32_t n_arrays;
  /* transfer family */
  int32_t units_in_mbatch, n_reads, transfer_columns, forget_buffer, in_chop_random;
  int32_t auto_scale, correct_gradient_magnitudes, no_buffer, max_steps;
  int32_t scale_fast_lr, scale_transfer_lr;
  float gamma, fast_lr, transfer_lr, transfer_every, with_reset_prob;
  float thres_scale, step, momentum, in_chop_prob, out_chop_prob, auto_momentum;
  float auto_granularity, buffer_granularity, tail_weightening, buffer_cap;
  float dw_min_fast, dw_min_slow;   /* granularities of A and C */
  /* mixed precision */
  int32_t n_rows_per_transfer, n_x_bins, n_d_bins;
  float mp_granularity;
  /* STELLAR */
  float stellar_c1, stellar_threshold, stellar_c2;
  /* PANTHER */
  int32_t n_slices, slice_bits[AIMC_MAX_ARRAYS], crs_every;
  float weight_step, input_step;
} aimc_algo_params_t;

typedef struct aimc_tile_params {
  uint64_t key;               /* Philox key of the tile */
  aimc_device_desc_t desc[2]; /* device descriptors: 0 = weight array, 1 = fast array */
  aimc_device_params_t dev[2];
  int8_t array_device[AIMC_MAX_ARRAYS]; /* which descriptor each array uses */
  float array_w_max[AIMC_MAX_ARRAYS];   /* per-array mean bounds (slices differ) */
  float array_w_min[AIMC_MAX_ARRAYS];
  aimc_io_params_t io[4];     /* indexed by aimc_direction_t */
  aimc_update_params_t upd[2];/* 0 = gradient updates, 1 = transfer writes */
  aimc_algo_params_t algo;
} aimc_tile_params_t;

/* Per-weight planes of one array, each [n_tiles][rows][cols]; NULL when no
 * tile of the batch needs it. */
enum aimc_plane {
  AIMC_PLANE_MIN_BOUND = 0,
  AIMC_PLANE_MAX_BOUND,
  AIMC_PLANE_STEP_UP,
  AIMC_PLANE_STEP_DOWN,
  AIMC_PLANE_SLOPE_UP,        /* LinearStep slopes or PowStep exponents */
  AIMC_PLANE_SLOPE_DOWN,
  AIMC_PLANE_REFERENCE,
  AIMC_PLANE_DECAY,
  AIMC_PLANE_DIFFUSION,
  AIMC_PLANE_RESET_BIAS,
  AIMC_PLANE_COUNT
};

/* One analog array of every tile of a batch. */
typedef struct aimc_array {
  float *w;                   /* visible weights */
  float *h;                   /* device states; == w when visible == device state */
  float *plane[AIMC_PLANE_COUNT];
} aimc_array_t;

/* Per-tile counters and small state of the algorithm. */
typedef struct aimc_algo_state {
  uint64_t samples;           /* update vectors seen */
  uint64_t batches;           /* update calls (mini-batches) seen */
  uint64_t reads;             /* transfer reads done */
  uint64_t sweeps;            /* completed passes over all columns (rows) */
  int32_t next;               /* next column (row) to transfer */
  int32_t pad;
  float mx, md;               /* auto-scale running maxima of |x| and |d| (< 0: unset) */
} aimc_algo_state_t;

/* The state of a tile batch as the kernels see it (pointers in the backend's
 * memory space). */
typedef struct aimc_state {
  int64_t n_tiles;
  int32_t rows, cols;
  int32_t n_arrays;
  aimc_array_t arr[AIMC_MAX_ARRAYS];
  float *w;                   /* what analog reads see: arr[0].w or a combination */
  /* digital algorithm state, [n_tiles][rows][cols] unless noted; NULL if unused */
  float *H;                   /* transfer buffer (TTv2 family) or chi (mixed precision) */
  float *M, *P;               /* AGAD running and past means */
  int8_t *c_in;               /* [n_tiles][cols] input choppers (+-1) */
  int8_t *c_out;              /* [n_tiles][rows] output choppers */
  uint8_t *switched;          /* [n_tiles][aimc_line_stride] AGAD: the line's chopper
                                 switched since its last read */
  aimc_algo_state_t *algo;    /* [n_tiles] */
  const aimc_tile_params_t *params;      /* [n_tiles], backend memory: what kernels read */
  const aimc_tile_params_t *host_params; /* the same in host memory, for host code that
                                            sizes a launch; kernels never read it */
} aimc_state_t;

/* Entries per tile of per-line state (AGAD's switch flags): one per line a
 * transfer may sweep, columns or rows. */
AIMC_HD int64_t aimc_line_stride(const aimc_state_t *st) {
  return st->rows > st->cols ? st->rows : st->cols;
}

/* Stream counter of array a: the array index takes bits 48..55 of the
 * counter, so the arrays of a tile never share random numbers. */
AIMC_HD uint64_t aimc_array_counter(int32_t a, uint64_t call) {
  return ((uint64_t)(uint32_t)a << 48) | (call & 0x0000ffffffffffffull);
}

#endif
