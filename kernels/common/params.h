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

/* Per-tile constants of the per-pulse device rule. */
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

typedef struct aimc_tile_params {
  uint64_t key;               /* Philox key of the tile */
  aimc_device_desc_t desc;    /* the device descriptor, for device-to-device sampling */
  aimc_device_params_t dev;
  aimc_io_params_t io[4];     /* indexed by aimc_direction_t */
  aimc_update_params_t upd;
} aimc_tile_params_t;

/* Per-weight planes of a tile batch, each [n_tiles][rows][cols]; NULL when
 * no tile of the batch needs it. */
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

/* The state of a tile batch as the kernels see it (pointers in the backend's
 * memory space). */
typedef struct aimc_state {
  int64_t n_tiles;
  int32_t rows, cols;
  float *w;                   /* visible weights */
  float *h;                   /* device state; == w when visible == device state */
  float *plane[AIMC_PLANE_COUNT];
  const aimc_tile_params_t *params;
} aimc_state_t;

#endif
