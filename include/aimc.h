/* aimc: simulate training on analog in-memory-computing hardware.
 *
 * A tile batch holds n_tiles crossbar tiles of the same shape rows x cols
 * (rows = outputs, cols = inputs). Every operation acts on all tiles of a
 * batch at once: noisy analog matrix-vector multiplies (forward W x,
 * backward W^T d), the stochastic pulsed outer-product update, weight
 * programming, decay/diffusion and reset. Each tile may carry its own device
 * model, IO and update settings.
 *
 * Conventions
 * - Every fallible call returns aimc_status_t (AIMC_OK == 0, errors < 0). A
 *   failing call changes nothing. The message of the last error (naming the
 *   argument, its value and the allowed range) is kept per context
 *   (aimc_context_last_error) and per thread (aimc_last_error).
 * - Descriptors are plain structs; initialise them with the *_default()
 *   functions, change fields, pass them in. Every field is validated.
 * - Data pointers (inputs, outputs, weights) live in the context's memory
 *   space: host memory for the CPU backend, device memory for CUDA. Layouts
 *   are row-major: inputs [tile][batch][cols], outputs [tile][batch][rows],
 *   weights [tile][rows][cols]. Small per-tile arrays (statistics, learning
 *   rates, per-tile configs and seeds) are always host memory.
 * - Results depend only on seeds and inputs: not on the thread count, and
 *   (where the design promises it) not on the backend.
 * - Non-finite numbers (docs/physics.md, "Non-finite numbers"): every call
 *   that changes state (tile updates, set/program weights, learning rates,
 *   network training steps, layer programming, network creation) refuses a
 *   NaN or an infinity in any of its inputs with AIMC_ERR_INVALID_ARGUMENT
 *   and a message naming the argument, the tile, the sample and the index,
 *   before anything changes. Data in context memory is scanned by the
 *   backend (on CUDA: one reduction and one host synchronisation per
 *   checked array). A step that would make the state or the loss
 *   non-finite with finite inputs returns AIMC_ERR_NON_FINITE and changes
 *   nothing: network steps check logits, loss, gradients and the bounds of
 *   every layer and bias before any update; exact
 *   float updates (pulse type NONE, FLOAT_SGD, the mixed-precision
 *   accumulator) refuse when max|state| + lr batch max|x| max|d| reaches
 *   FLT_MAX / 2. Reads (forward, backward, get_*) pass whatever they are
 *   given through: non-finite inputs give non-finite outputs.
 *
 * Defaults follow IBM aihwkit's Python-side defaults; where aihwkit has a
 * known shortcut or bug this library does the physically consistent thing;
 * docs/physics.md lists each difference. */
#ifndef AIMC_H
#define AIMC_H

#include <stddef.h>
#include <stdint.h>

#define AIMC_VERSION_MAJOR 0
#define AIMC_VERSION_MINOR 1
#define AIMC_VERSION_PATCH 0
#define AIMC_VERSION (AIMC_VERSION_MAJOR * 10000 + AIMC_VERSION_MINOR * 100 + AIMC_VERSION_PATCH)

#if defined(_WIN32) && !defined(AIMC_STATIC)
#if defined(AIMC_BUILDING)
#define AIMC_API __declspec(dllexport)
#else
#define AIMC_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define AIMC_API __attribute__((visibility("default")))
#else
#define AIMC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Status, version, errors                                                   */
/* ------------------------------------------------------------------------ */

typedef enum aimc_status {
  AIMC_OK = 0,
  AIMC_ERR_INVALID_ARGUMENT = -1, /* a NULL pointer, a field or value out of range */
  AIMC_ERR_OUT_OF_MEMORY = -2,    /* host or device allocation failed */
  AIMC_ERR_UNSUPPORTED = -3,      /* backend not built or no device present */
  AIMC_ERR_BACKEND = -4,          /* the backend (CUDA, cuBLAS) reported an error */
  AIMC_ERR_IO = -5,               /* a file could not be read or written */
  AIMC_ERR_CORRUPT = -6,          /* a file is truncated, corrupt or mismatched */
  AIMC_ERR_NON_FINITE = -7        /* a training step would make the loss or the state
                                     non-finite (diverged); nothing was changed */
} aimc_status_t;

/* Name of a status code ("AIMC_ERR_INVALID_ARGUMENT", ...). Never NULL. */
AIMC_API const char *aimc_status_string(aimc_status_t status);

/* Version of the linked library: major*10000 + minor*100 + patch. Compare it
 * with AIMC_VERSION to detect a header/library mismatch. */
AIMC_API int aimc_version(void);
AIMC_API const char *aimc_version_string(void);

/* Message of the last error raised on this thread by any aimc call ("" if
 * none). Calls that have no context (descriptor helpers, context creation)
 * report here only. */
AIMC_API const char *aimc_last_error(void);

/* ------------------------------------------------------------------------ */
/* Context                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum aimc_backend {
  AIMC_BACKEND_AUTO = 0, /* CUDA when built with it and a GPU is present, else CPU */
  AIMC_BACKEND_CPU = 1,
  AIMC_BACKEND_CUDA = 2
} aimc_backend_t;

typedef struct aimc_context_desc {
  aimc_backend_t backend; /* default AIMC_BACKEND_AUTO */
  uint64_t seed;          /* default 0: seeds tile batches created without a seed */
  int32_t n_threads;      /* CPU threads; 0 = automatic (default): all cores for large
                             loops, fewer for loops too small to repay a thread team.
                             Results are bit-identical for every setting. */
  int32_t cuda_device;    /* CUDA device ordinal (default 0) */
} aimc_context_desc_t;

typedef struct aimc_context aimc_context_t;

AIMC_API void aimc_context_desc_default(aimc_context_desc_t *desc);
AIMC_API aimc_status_t aimc_context_create(aimc_context_t **ctx, const aimc_context_desc_t *desc);
AIMC_API void aimc_context_destroy(aimc_context_t *ctx);
AIMC_API aimc_backend_t aimc_context_backend(const aimc_context_t *ctx);
/* Message of the last error on this context ("" if none). */
AIMC_API const char *aimc_context_last_error(const aimc_context_t *ctx);
/* Waits until all queued work of the context has finished. */
AIMC_API aimc_status_t aimc_context_synchronize(aimc_context_t *ctx);
/* Whether this build has the CUDA backend and a usable GPU. */
AIMC_API int aimc_cuda_available(void);
/* CUDA contexts queue all their work in order on one CUDA stream: their own,
 * created with the context, or one the caller sets here (a cudaStream_t
 * passed as void *; NULL returns to the context's own). Operations are
 * asynchronous with respect to the host, but copies to or from host memory
 * (aimc_memcpy, get_stats, loss and accuracy results) return when done.
 * Set the stream between operations, not while the caller's own work on the
 * old stream still needs ordering with aimc's. On a CPU context both calls
 * return AIMC_ERR_UNSUPPORTED. */
AIMC_API aimc_status_t aimc_context_set_cuda_stream(aimc_context_t *ctx, void *stream);
AIMC_API aimc_status_t aimc_context_get_cuda_stream(const aimc_context_t *ctx, void **stream);

/* How a context computes analog reads (forward, backward, transfer reads).
 * EXACT (the default): the products in a fixed order, bit-identical across
 * backends. FAST: CUDA contexts compute the products with cuBLAS
 * (cublasSgemmStridedBatched, fp32) followed by the same IO epilogue, so a
 * read may differ from the exact one by summation rounding, at most
 * 2.02 n eps sum_j |W_ij| |x'_j| per output before the digital rescale (n the
 * input length, eps 2^-24, x' the prepared inputs), and by one ADC step
 * where that difference crosses a rounding boundary; the random numbers and
 * so the noise are the same. FAST_TF32 also lets cuBLAS round the operands
 * to TF32 (10-bit mantissa): add 2.01 * 2^-10 sum_j |W_ij| |x'_j|. Reads whose IO
 * uses PCM read noise (sum_j |W_ij| x'_j^2) stay exact. CPU contexts accept
 * every mode and keep the exact path (their order is already the fast one). */
typedef enum aimc_read_mode {
  AIMC_READ_EXACT = 0,
  AIMC_READ_FAST = 1,
  AIMC_READ_FAST_TF32 = 2
} aimc_read_mode_t;
AIMC_API aimc_status_t aimc_context_set_read_mode(aimc_context_t *ctx, aimc_read_mode_t mode);
AIMC_API aimc_status_t aimc_context_get_read_mode(const aimc_context_t *ctx,
                                                  aimc_read_mode_t *mode);

/* Memory in the context's memory space. */
typedef enum aimc_copy_kind {
  AIMC_COPY_HOST_TO_CONTEXT = 0,
  AIMC_COPY_CONTEXT_TO_HOST = 1,
  AIMC_COPY_CONTEXT_TO_CONTEXT = 2
} aimc_copy_kind_t;
AIMC_API aimc_status_t aimc_malloc(aimc_context_t *ctx, void **ptr, size_t bytes);
AIMC_API void aimc_free(aimc_context_t *ctx, void *ptr);
AIMC_API aimc_status_t aimc_memcpy(aimc_context_t *ctx, void *dst, const void *src, size_t bytes,
                                   aimc_copy_kind_t kind);

/* ------------------------------------------------------------------------ */
/* Device models (the resistive element at each cross-point)                 */
/* ------------------------------------------------------------------------ */

typedef enum aimc_device_model {
  AIMC_DEVICE_CONSTANT_STEP = 0,        /* w +-= dw (1 + dw_min_std xi) */
  AIMC_DEVICE_LINEAR_STEP = 1,          /* step shrinks linearly toward the bounds by gamma */
  AIMC_DEVICE_SOFT_BOUNDS = 2,          /* linear step reaching 0 at each device's own bound */
  AIMC_DEVICE_SOFT_BOUNDS_REFERENCE = 3,/* soft bounds read against a reference conductance */
  AIMC_DEVICE_EXP_STEP = 4,             /* exponential dependence on the weight */
  AIMC_DEVICE_POW_STEP = 5,             /* power-law dependence on the distance to a bound */
  AIMC_DEVICE_PIECEWISE_STEP = 6,       /* step interpolated from user node vectors */
  AIMC_DEVICE_MODEL_COUNT = 7
} aimc_device_model_t;

#define AIMC_PIECEWISE_MAX 32

/* Every field of every model; fields of other models are ignored. Steps and
 * noise of a device are in units of dw_min unless said otherwise; "dtod" is
 * the device-to-device spread, drawn once per device at creation. */
typedef struct aimc_device_desc {
  aimc_device_model_t model;
  /* Common (aihwkit PulsedDevice) */
  float dw_min;              /* mean step size (0.001) */
  float dw_min_dtod;         /* relative spread of the step, "gain" (0.3) */
  int32_t dw_min_dtod_log_normal; /* gain = exp(dtod xi) instead of 1 + dtod xi (0) */
  float dw_min_std;          /* cycle-to-cycle noise of each pulse, relative (0.3) */
  float up_down;             /* systematic asymmetry: >0 shrinks down steps, <0 up steps (0) */
  float up_down_dtod;        /* spread of the asymmetry, in units of dw_min (0.01) */
  float w_max, w_min;        /* mean bounds (0.6, -0.6); must contain 0 */
  float w_max_dtod, w_min_dtod; /* relative spread of the bounds (0.3, 0.3) */
  int32_t enforce_consistency;  /* make steps positive and bounds straddle 0 (1) */
  float corrupt_devices_prob;   /* probability a device is stuck (0) */
  float corrupt_devices_range;  /* stuck value uniform in +-range, within bounds (0.1) */
  float lifetime;            /* decay time in decay() calls, 0 = no decay (0) */
  float lifetime_dtod;       /* relative spread of the lifetime (0) */
  float diffusion;           /* std of the random walk per decay() call (0) */
  float diffusion_dtod;      /* relative spread of the diffusion rate (0) */
  float reset;               /* mean weight after a reset, decay target (0) */
  float reset_dtod;          /* spread of the reset value (0) */
  float reset_std;           /* cycle-to-cycle spread of a reset (0.01) */
  float write_noise_std;     /* visible = hidden + write_noise_std dw_min xi, redrawn on each
                                write; in units of dw_min (0); not for ConstantStep */
  int32_t apply_write_noise_on_set; /* program_weights adds write noise (1) */
  /* LinearStep (and mult_noise for SoftBounds / SoftBoundsReference) */
  float gamma_up, gamma_down;       /* relative step decrease at the bound (0, 0) */
  float gamma_up_dtod, gamma_down_dtod; /* (0.05, 0.05) */
  int32_t allow_increasing;  /* allow negative gammas (0) */
  int32_t mean_bound_reference; /* slopes use the mean bounds, not the device's (1) */
  int32_t mult_noise;        /* c2c noise multiplies the whole step (1; SoftBoundsReference: 0) */
  int32_t reverse_up, reverse_down; /* slope references mirrored past the bounds (0, 0) */
  float reverse_offset;      /* (0.01) */
  /* SoftBoundsReference */
  float slope_up_dtod, slope_down_dtod; /* spread of the slopes at the bounds (0, 0) */
  float reference_mean, reference_std;  /* reference conductance per device (0, 0) */
  int32_t subtract_symmetry_point;      /* reference also subtracts the symmetry point (0) */
  /* ExpStep */
  float A_up, A_down;        /* (0.00081, 0.36833) */
  float gamma_up_exp, gamma_down_exp; /* aihwkit's ExpStep gamma_up/gamma_down (12.44625, 12.78785) */
  float a, b;                /* (0.244, 0.2425) */
  float dw_min_std_add, dw_min_std_slope; /* extra c2c noise terms (0, 0) */
  /* PowStep */
  float pow_gamma, pow_gamma_dtod, pow_up_down, pow_up_down_dtod; /* (1, 0.1, 0, 0) */
  /* PiecewiseStep: relative step at n_piecewise equally spaced nodes over [w_min, w_max] */
  int32_t n_piecewise;       /* (1) */
  float piecewise_up[AIMC_PIECEWISE_MAX];   /* ({1}) */
  float piecewise_down[AIMC_PIECEWISE_MAX]; /* ({1}) */
} aimc_device_desc_t;

/* aihwkit device presets (src/aihwkit/simulator/presets/devices.py). */
typedef enum aimc_device_preset {
  AIMC_PRESET_IDEALIZED = 0,     /* ConstantStep, ~10000 states, symmetric */
  AIMC_PRESET_GOKMEN_VLASOV = 1, /* ConstantStep, ~1200 states (Gokmen & Vlasov 2016) */
  AIMC_PRESET_RERAM_ES = 2,      /* ExpStep fit to ReRAM (Gong et al. 2018) */
  AIMC_PRESET_RERAM_SB = 3,      /* SoftBoundsReference ReRAM */
  AIMC_PRESET_CAPACITOR = 4,     /* LinearStep with leakage (Li et al. 2018) */
  AIMC_PRESET_ECRAM = 5,         /* LinearStep, Li-ECRAM (Tang et al. 2018) */
  AIMC_PRESET_ECRAM_MO = 6,      /* LinearStep, metal-oxide ECRAM (Kim et al. 2019) */
  AIMC_PRESET_COUNT = 7
} aimc_device_preset_t;

/* Defaults of a model (aihwkit's class defaults). */
AIMC_API aimc_status_t aimc_device_desc_default(aimc_device_desc_t *desc, aimc_device_model_t model);
AIMC_API aimc_status_t aimc_device_desc_preset(aimc_device_desc_t *desc, aimc_device_preset_t preset);
AIMC_API const char *aimc_device_model_name(aimc_device_model_t model);
AIMC_API const char *aimc_device_preset_name(aimc_device_preset_t preset);

/* ------------------------------------------------------------------------ */
/* IO pipeline of an analog read (aihwkit IOParameters)                      */
/* ------------------------------------------------------------------------ */

typedef enum aimc_noise_management {
  AIMC_NM_NONE = 0,
  AIMC_NM_ABS_MAX = 1,        /* scale inputs by max|x| (capped by nm_thres if > 0) */
  AIMC_NM_ABS_MAX_NP_SUM = 2, /* aihwkit's AbsMaxNPSum */
  AIMC_NM_MAX = 3,            /* scale by max x (signed) */
  AIMC_NM_CONSTANT = 4        /* scale by nm_thres (1 if nm_thres <= 0) */
} aimc_noise_management_t;

typedef enum aimc_bound_management {
  AIMC_BM_NONE = 0,
  AIMC_BM_ITERATIVE = 1,           /* redo with inputs halved while an output saturates */
  AIMC_BM_ITERATIVE_WORST_CASE = 2 /* second pass uses the AbsMaxNPSum scale */
} aimc_bound_management_t;

typedef enum aimc_weight_noise {
  AIMC_W_NOISE_NONE = 0,
  AIMC_W_NOISE_ADDITIVE_CONSTANT = 1, /* y_i += w_noise ||x||_2 xi */
  AIMC_W_NOISE_PCM_READ = 2           /* y_i += w_noise sqrt(sum_j |w_ij| x_j^2) xi */
} aimc_weight_noise_t;

typedef struct aimc_io_desc {
  int32_t is_perfect;        /* exact y = out_scale W x, nothing else (0) */
  float inp_bound;           /* DAC range +-inp_bound (1) */
  float inp_res;             /* DAC step as a fraction of the full range 2*inp_bound;
                                > 1 means a number of steps; 0 = no quantisation (1/126) */
  int32_t inp_sto_round;     /* stochastic DAC rounding instead of half-to-even (0) */
  float inp_noise;           /* std of additive input noise after the DAC (0) */
  float inp_asymmetry;       /* negative inputs scaled by (1 - inp_asymmetry) (0) */
  float out_bound;           /* ADC range +-out_bound, may be INFINITY with out_res 0 (12) */
  float out_res;             /* ADC step as a fraction of 2*out_bound, as inp_res (1/510) */
  int32_t out_sto_round;     /* (0) */
  float out_noise;           /* std of additive output noise (0.06) */
  float out_noise_std;       /* per-output spread of out_noise, fixed per tile (0) */
  float out_scale;           /* digital scale of the result (1) */
  float out_asymmetry;       /* negative outputs scaled by (1 - out_asymmetry) (0) */
  float out_nonlinearity;    /* S-shaped y/(1 + |n y|), n = out_nonlinearity/out_bound (0) */
  float out_nonlinearity_std;/* per-output spread of n, fixed per tile (0) */
  aimc_weight_noise_t w_noise_type; /* (NONE) */
  float w_noise;             /* (0) */
  aimc_noise_management_t noise_management; /* (ABS_MAX) */
  float nm_thres;            /* (0) */
  float nm_assumed_wmax;     /* used by ABS_MAX_NP_SUM (0.6) */
  aimc_bound_management_t bound_management; /* forward only (ITERATIVE) */
  float max_bm_factor;       /* stop doubling beyond this reduction (1000) */
  float max_bm_res;          /* ... or beyond max_bm_res / DAC step (0.25) */
  int32_t bm_test_negative_bound; /* an output at -out_bound also triggers BM (1) */
} aimc_io_desc_t;

typedef enum aimc_io_preset {
  AIMC_IO_DEFAULT = 0,  /* IOParameters: 7-bit DAC, 9-bit ADC, out_bound 12, out_noise 0.06 */
  AIMC_IO_PRESET = 1,   /* PresetIOParameters of all training presets: out_bound 20, out_noise 0.1 */
  AIMC_IO_STANDARD = 2, /* StandardIOParameters: 8-bit DAC and ADC, out_bound 10, out_noise 0.04 */
  AIMC_IO_PERFECT = 3   /* is_perfect: exact product */
} aimc_io_preset_t;

AIMC_API aimc_status_t aimc_io_desc_default(aimc_io_desc_t *desc, aimc_io_preset_t preset);

/* ------------------------------------------------------------------------ */
/* Pulsed update (aihwkit UpdateParameters)                                  */
/* ------------------------------------------------------------------------ */

typedef enum aimc_pulse_type {
  AIMC_PULSE_NONE = 0,                  /* exact W -= lr sum_b d_b x_b^T, ideal float device */
  AIMC_PULSE_STOCHASTIC_COMPRESSED = 1, /* Bernoulli pulse trains, coincidences pulse the device */
  AIMC_PULSE_NONE_WITH_DEVICE = 3,      /* exact rank-1 step per sample, clipped to the bounds */
  AIMC_PULSE_MEAN_COUNT = 4,            /* n = rint(rint(BL p_d) rint(BL p_x) / BL) pulses */
  AIMC_PULSE_DETERMINISTIC_IMPLICIT = 5 /* n = rint(BL q(p_d) q(p_x)) pulses, no randomness */
} aimc_pulse_type_t;

typedef struct aimc_update_desc {
  float learning_rate;       /* lr >= 0; W moves by -lr d x^T summed over the batch (0.01) */
  aimc_pulse_type_t pulse_type; /* (STOCHASTIC_COMPRESSED) */
  int32_t desired_bl;        /* pulse-train length BL (31) */
  int32_t fixed_bl;          /* always use desired_bl (1) */
  int32_t update_management; /* balance x and d probabilities per sample (1) */
  int32_t update_bl_management; /* shorten BL per sample to what is needed (1) */
  float um_grad_scale;       /* (1) */
  float res;                 /* probability resolution, 0 = none (0) */
  int32_t sto_round;         /* stochastic rounding of probabilities to res (0) */
  float x_res_implicit, d_res_implicit; /* DETERMINISTIC_IMPLICIT quantisation (0, 0) */
} aimc_update_desc_t;

AIMC_API void aimc_update_desc_default(aimc_update_desc_t *desc);

/* ------------------------------------------------------------------------ */
/* Training algorithms (docs/algorithms.md)                                  */
/* ------------------------------------------------------------------------ */

/* Which analog arrays a tile holds, by algorithm (array 0 is always the one
 * holding the weight, read when only one is read):
 *   SGD, FLOAT_SGD, MIXED_PRECISION: 0 = W
 *   TIKI_TAKA, TTV2, CHOPPED_TTV2, AGAD: 0 = C (slow, the weight), 1 = A (fast)
 *   STELLAR: 0 = G+, 1 = G- (W = G+ - G-)
 *   PANTHER: 0 .. n_slices-1 = the weight slices, most significant first */
typedef enum aimc_algorithm {
  AIMC_ALGO_SGD = 0,             /* analog SGD: pulsed updates of W */
  AIMC_ALGO_FLOAT_SGD = 1,       /* digital reference: exact float updates of W */
  AIMC_ALGO_TIKI_TAKA = 2,       /* Tiki-Taka v1 (Gokmen & Haensch 2020) */
  AIMC_ALGO_TTV2 = 3,            /* Tiki-Taka v2: digital buffer H (Gokmen 2021) */
  AIMC_ALGO_CHOPPED_TTV2 = 4,    /* c-TTv2: choppers on A (Rasch et al. 2024) */
  AIMC_ALGO_AGAD = 5,            /* dynamic reference from past chopper periods */
  AIMC_ALGO_MIXED_PRECISION = 6, /* digital accumulator chi (Nandakumar et al. 2020) */
  AIMC_ALGO_STELLAR = 7,         /* sign/threshold updates of device pairs (Zhang et al. 2023) */
  AIMC_ALGO_PANTHER = 8,         /* bit-sliced weights with carry resolution (Ankit et al. 2020) */
  AIMC_ALGO_COUNT = 9
} aimc_algorithm_t;

#define AIMC_MAX_SLICES 8
#define AIMC_MAX_ARRAYS 8 /* analog arrays per tile */

typedef struct aimc_algorithm_desc {
  aimc_algorithm_t kind;       /* (SGD) */
  /* Transfer family: W_visible = gamma A + C; A learns, columns of A move to C */
  float gamma;                 /* (0: A is hidden) */
  float fast_lr;               /* learning rate of A updates, scaled by the tile rate if
                                  scale_fast_lr (1) */
  int32_t scale_fast_lr;       /* (0) */
  float transfer_lr;           /* (1) */
  int32_t scale_transfer_lr;   /* multiply transfer_lr by the tile learning rate (1) */
  float transfer_every;        /* samples (or mini-batches, units_in_mbatch) between transfers;
                                  < 0: automatic, |value| x states of A / columns (1) */
  int32_t units_in_mbatch;     /* (TIKI_TAKA 1, others 0) */
  int32_t n_reads_per_transfer;/* columns read per transfer (1) */
  int32_t transfer_columns;    /* read columns of A (1) or rows (0) */
  float with_reset_prob;       /* TIKI_TAKA: reset the read column of A (0) */
  float thres_scale;           /* TTV2: buffer threshold in units of C's step (1) */
  float step;                  /* steps of C per threshold crossing (1) */
  float momentum;              /* buffer kept after a write (TTV2 0.1, others 0) */
  int32_t forget_buffer;       /* after a write H = momentum H, else H -= (1-momentum) n (1) */
  float in_chop_prob;          /* CHOPPED_TTV2, AGAD: input chopper flip probability (0.1) */
  int32_t in_chop_random;      /* random flips (CHOPPED 1) or every max(ceil(1/p),2) reads (AGAD 0) */
  float out_chop_prob;         /* output chopper flip probability per sweep (0) */
  int32_t auto_scale;          /* scale the A update by running maxima of |x|, |d| (0) */
  float auto_momentum;         /* (0.99), in [0, 1) */
  float auto_granularity;      /* buffer granularity factor, 0 = off (0) */
  float buffer_granularity;    /* (1) */
  int32_t correct_gradient_magnitudes; /* (0) */
  int32_t no_buffer;           /* reset H before every read (0) */
  float tail_weightening;      /* AGAD: weight of recent reads in the running mean (5) */
  float buffer_cap;            /* AGAD: cap |H| at buffer_cap x steps when not forgetting (0) */
  /* Mixed precision: chi += lr d x^T digitally; every transfer_every updates
     n = trunc(chi / granularity) pulses go to W, chi -= n granularity */
  float granularity;           /* 0 = the device's step (0) */
  int32_t n_rows_per_transfer; /* -1 = all rows (-1) */
  int32_t n_x_bins, n_d_bins;  /* quantise x and d to this many levels of max |.|, 0 = off (0) */
  /* STELLAR: sign update gated by thresholds, one pulse per selected device */
  float stellar_c1;            /* inputs x_j > stellar_c1 max(x) (and > 0) are selected (0.4) */
  float stellar_threshold;     /* error threshold Th: |d_i| >= Th is selected (0) */
  float stellar_c2;            /* output gate C2 with aimc_tiles_update_gated: y_i >= C2 (0) */
  /* PANTHER: each slice holds a base-4 digit of W / weight_step; cell levels
     D_m in [0, 2^bits_m - 1] around the offset 2^(bits_m - 1) absorb the
     outer-product increments until carry resolution rewrites canonical digits */
  int32_t n_slices;            /* (8: 16-bit weights) */
  int32_t slice_bits[AIMC_MAX_SLICES]; /* cell bits per slice, most significant first
                                  ({4, 4, 4, 6, 6, 5, 5, 5}) */
  int32_t crs_every;           /* carry resolution every this many samples (64) */
  float weight_step;           /* weight of one level of the least significant slice (2^-12) */
  float input_step;            /* x is quantised to multiples of input_step (2^-8); lr d to
                                  multiples of weight_step / input_step, stochastically */
} aimc_algorithm_desc_t;

/* Defaults of an algorithm (aihwkit's class defaults for the transfer family). */
AIMC_API aimc_status_t aimc_algorithm_desc_default(aimc_algorithm_desc_t *desc,
                                                   aimc_algorithm_t kind);
AIMC_API const char *aimc_algorithm_name(aimc_algorithm_t kind);

/* ------------------------------------------------------------------------ */
/* Tile configuration: everything that may differ between tiles of a batch   */
/* ------------------------------------------------------------------------ */

typedef struct aimc_tile_config {
  aimc_device_desc_t device;      /* the weight array (C of the transfer family; both
                                     devices of STELLAR's pairs; PANTHER's slice cells) */
  aimc_device_desc_t fast_device; /* A of the transfer family */
  aimc_io_desc_t forward;   /* W x reads (default IOParameters) */
  aimc_io_desc_t backward;  /* W^T d reads (default IOParameters without BM) */
  aimc_io_desc_t transfer;  /* transfer reads of the algorithms (default without NM and BM) */
  aimc_update_desc_t update;          /* gradient updates (of A for the transfer family) */
  aimc_update_desc_t transfer_update; /* writes of transfers (TIKI_TAKA, MIXED_PRECISION) */
  aimc_algorithm_desc_t algorithm;
} aimc_tile_config_t;

/* ConstantStep devices, default IO, default updates, analog SGD. */
AIMC_API void aimc_tile_config_default(aimc_tile_config_t *cfg);
/* Sets cfg's algorithm to kind with its defaults, including the transfer
 * writes it implies (aihwkit: BL 1 without update management for TTV2,
 * CHOPPED_TTV2 and AGAD; the default update otherwise). For PANTHER the
 * device becomes its ideal cell: ConstantStep, one level per pulse
 * (dw_min 1), no spread or noise. */
AIMC_API aimc_status_t aimc_tile_config_algorithm(aimc_tile_config_t *cfg, aimc_algorithm_t kind);
/* aihwkit's presets (src/aihwkit/simulator/presets/configs.py): devices,
 * PresetIOParameters, update and algorithm settings of SGD, TIKI_TAKA, TTV2,
 * CHOPPED_TTV2, AGAD and MIXED_PRECISION for the device presets that have
 * them (SGD and MIXED_PRECISION: all; the transfer family: all but
 * GOKMEN_VLASOV). As in aihwkit, the TTV2 presets run the chopped algorithm
 * with in_chop_prob 0 (kind CHOPPED_TTV2). */
AIMC_API aimc_status_t aimc_tile_config_preset(aimc_tile_config_t *cfg, aimc_algorithm_t kind,
                                               aimc_device_preset_t device);
/* Sets the forward, backward and transfer IO of cfg to an IO preset, as
 * aihwkit applies it: backward without bound management, transfer reads
 * without noise and bound management. */
AIMC_API aimc_status_t aimc_tile_config_io_preset(aimc_tile_config_t *cfg, aimc_io_preset_t preset);
/* Checks every field; the error names the first bad field, its value and range. */
AIMC_API aimc_status_t aimc_tile_config_validate(const aimc_tile_config_t *cfg);

/* Named access to any numeric field, e.g. "device.dw_min", "forward.out_noise",
 * "update.desired_bl", "device.piecewise_up[3]". Enumerations and flags are set
 * by their numeric value. Unknown names and out-of-range values are errors. */
AIMC_API aimc_status_t aimc_tile_config_set(aimc_tile_config_t *cfg, const char *field, double value);
AIMC_API aimc_status_t aimc_tile_config_get(const aimc_tile_config_t *cfg, const char *field,
                                            double *value);
/* The i-th field name (NULL past the end), for help texts and sweeps. */
AIMC_API const char *aimc_tile_config_field_name(int index);

/* ------------------------------------------------------------------------ */
/* Tile batches                                                              */
/* ------------------------------------------------------------------------ */

#define AIMC_SEED_FROM_CONTEXT UINT64_MAX

typedef struct aimc_tiles_desc {
  int64_t n_tiles;                    /* >= 1 (1) */
  int32_t rows, cols;                 /* outputs x inputs, 1..65536 (1, 1) */
  aimc_tile_config_t config;          /* applies to every tile ... */
  const aimc_tile_config_t *per_tile; /* ... unless given here per tile (n_tiles, host) */
  uint64_t seed;                      /* batch seed; AIMC_SEED_FROM_CONTEXT (default)
                                         derives it from the context seed and the
                                         batch's creation index */
  const uint64_t *tile_seeds;         /* optional per-tile seeds (n_tiles, host); tiles
                                         with equal seeds, configs and inputs evolve
                                         identically */
} aimc_tiles_desc_t;

typedef struct aimc_tiles aimc_tiles_t;

AIMC_API void aimc_tiles_desc_default(aimc_tiles_desc_t *desc);
/* Creates the batch, draws every tile's device-to-device parameters and sets
 * all weights to 0 (clipped to the device bounds where 0 lies outside). */
AIMC_API aimc_status_t aimc_tiles_create(aimc_context_t *ctx, const aimc_tiles_desc_t *desc,
                                         aimc_tiles_t **tiles);
AIMC_API void aimc_tiles_destroy(aimc_tiles_t *tiles);
/* Any of n_tiles, rows, cols may be NULL (not wanted). */
AIMC_API aimc_status_t aimc_tiles_shape(const aimc_tiles_t *tiles, int64_t *n_tiles, int32_t *rows,
                                        int32_t *cols);
AIMC_API aimc_status_t aimc_tiles_get_config(const aimc_tiles_t *tiles, int64_t tile,
                                             aimc_tile_config_t *cfg);

typedef enum aimc_direction {
  AIMC_FORWARD = 0,           /* y = W x with the forward IO */
  AIMC_BACKWARD = 1,          /* y = W^T d with the backward IO */
  AIMC_TRANSFER_FORWARD = 2,  /* y = W x with the transfer IO (column reads) */
  AIMC_TRANSFER_BACKWARD = 3  /* y = W^T d with the transfer IO (row reads) */
} aimc_direction_t;

/* y[t][b][:] = analog read of tile t applied to x[t][b][:], for b < batch.
 * Forward: x is [n_tiles][batch][cols], y is [n_tiles][batch][rows]. */
AIMC_API aimc_status_t aimc_tiles_forward(aimc_tiles_t *tiles, const float *x, float *y,
                                          int64_t batch);
/* Backward: d is [n_tiles][batch][rows], the result is [n_tiles][batch][cols]. */
AIMC_API aimc_status_t aimc_tiles_backward(aimc_tiles_t *tiles, const float *d, float *x_grad,
                                           int64_t batch);
/* Any direction; in_tile_stride is the distance between tiles' inputs in
 * floats: batch*n_in for separate inputs, 0 to feed every tile the same one. */
AIMC_API aimc_status_t aimc_tiles_mvm_ex(aimc_tiles_t *tiles, aimc_direction_t dir, const float *in,
                                         int64_t in_tile_stride, float *out, int64_t batch);

/* Pulsed update of every tile with its own learning rate:
 * W_t <- W_t - lr_t sum_b d[t][b] x[t][b]^T, realised as the configured pulse
 * type through the device model. x is [n_tiles][batch][cols], d is
 * [n_tiles][batch][rows]. Samples are applied in order. */
AIMC_API aimc_status_t aimc_tiles_update(aimc_tiles_t *tiles, const float *x, const float *d,
                                         int64_t batch);
/* With tile strides for x and d (0 = shared by all tiles). */
AIMC_API aimc_status_t aimc_tiles_update_ex(aimc_tiles_t *tiles, const float *x,
                                            int64_t x_tile_stride, const float *d,
                                            int64_t d_tile_stride, int64_t batch);
/* With the tiles' outputs y [n_tiles][batch][rows] (after the layer's
 * activation) for algorithms that gate on them: STELLAR selects output i
 * only when y_i >= algorithm.stellar_c2 (the paper's C2). Other algorithms
 * ignore y. y_tile_stride as x's. */
AIMC_API aimc_status_t aimc_tiles_update_gated(aimc_tiles_t *tiles, const float *x,
                                               int64_t x_tile_stride, const float *d,
                                               int64_t d_tile_stride, const float *y,
                                               int64_t y_tile_stride, int64_t batch);
AIMC_API aimc_status_t aimc_tiles_set_learning_rate(aimc_tiles_t *tiles, float lr);
/* Per-tile learning rates (host array of n_tiles). */
AIMC_API aimc_status_t aimc_tiles_set_learning_rates(aimc_tiles_t *tiles, const float *lr);

/* Visible weights [n_tiles][rows][cols]: what the analog reads see. */
AIMC_API aimc_status_t aimc_tiles_get_weights(const aimc_tiles_t *tiles, float *w);
/* Sets the visible weights exactly: no bounds, no noise (the device state is
 * made consistent with them; the next pulse clips to the bounds). */
AIMC_API aimc_status_t aimc_tiles_set_weights(aimc_tiles_t *tiles, const float *w);
/* Programs target weights through the device: the device state is clipped to
 * its bounds (stuck devices keep their value) and, when write_noise_std > 0
 * and apply_write_noise_on_set, the visible weight gets fresh write noise. */
AIMC_API aimc_status_t aimc_tiles_program_weights(aimc_tiles_t *tiles, const float *w);
/* The per-mini-batch physics step: diffusion (w += rho xi) then decay toward
 * the reset value (w <- (w - b)(1 - 1/lifetime) + b), clipped to the bounds. */
AIMC_API aimc_status_t aimc_tiles_decay(aimc_tiles_t *tiles);
/* Resets columns [col_start, col_start + n_cols) (wrapping around; n_cols < 0
 * = all) of array 0 of every tile: each device, with probability prob, to
 * reset_bias + reset_std xi, clipped to its bounds. */
AIMC_API aimc_status_t aimc_tiles_reset_columns(aimc_tiles_t *tiles, int32_t col_start,
                                                int32_t n_cols, float prob);
/* The same for any array (see aimc_algorithm_t for the arrays). */
AIMC_API aimc_status_t aimc_tiles_reset_columns_ex(aimc_tiles_t *tiles, int32_t array,
                                                   int32_t col_start, int32_t n_cols, float prob);
/* Number of analog arrays per tile (1 for SGD, 2 for the transfer family, ...). */
AIMC_API aimc_status_t aimc_tiles_n_arrays(const aimc_tiles_t *tiles, int32_t *n_arrays);

/* Per-weight device parameters drawn at creation, [n_tiles][rows][cols]. */
typedef enum aimc_device_param {
  AIMC_PARAM_HIDDEN_WEIGHT = 0, /* the device state (conductance incl. reference) */
  AIMC_PARAM_MIN_BOUND = 1,
  AIMC_PARAM_MAX_BOUND = 2,
  AIMC_PARAM_STEP_UP = 3,       /* absolute up step */
  AIMC_PARAM_STEP_DOWN = 4,     /* absolute down step (positive) */
  AIMC_PARAM_SLOPE_UP = 5,      /* LinearStep family: step change per unit weight */
  AIMC_PARAM_SLOPE_DOWN = 6,
  AIMC_PARAM_GAMMA_UP = 7,      /* PowStep exponents */
  AIMC_PARAM_GAMMA_DOWN = 8,
  AIMC_PARAM_REFERENCE = 9,     /* SoftBoundsReference reference (incl. symmetry point) */
  AIMC_PARAM_DECAY_SCALE = 10,  /* 1 - 1/lifetime per decay() */
  AIMC_PARAM_DIFFUSION = 11,    /* diffusion std per decay() */
  AIMC_PARAM_RESET_BIAS = 12,   /* reset value */
  AIMC_PARAM_VISIBLE_WEIGHT = 13, /* the array's own visible weight */
  AIMC_PARAM_COUNT = 14
} aimc_device_param_t;
/* Of array 0. */
AIMC_API aimc_status_t aimc_tiles_get_device_param(const aimc_tiles_t *tiles,
                                                   aimc_device_param_t which, float *out);
AIMC_API aimc_status_t aimc_tiles_get_device_param_ex(const aimc_tiles_t *tiles, int32_t array,
                                                      aimc_device_param_t which, float *out);

/* Digital state of the algorithms, [n_tiles][rows][cols] (host or context
 * memory as the weights). */
typedef enum aimc_buffer {
  AIMC_BUFFER_TRANSFER = 0,  /* H of TTV2 / CHOPPED_TTV2 / AGAD, chi of MIXED_PRECISION */
  AIMC_BUFFER_RUNNING_MEAN = 1, /* AGAD */
  AIMC_BUFFER_PAST_MEAN = 2,    /* AGAD */
  AIMC_BUFFER_COUNT = 3
} aimc_buffer_t;
AIMC_API aimc_status_t aimc_tiles_get_buffer(const aimc_tiles_t *tiles, aimc_buffer_t which,
                                             float *out);
/* Chopper signs (+1 or -1): c_in [n_tiles][cols], c_out [n_tiles][rows], host memory
 * (either may be NULL: not wanted). */
AIMC_API aimc_status_t aimc_tiles_get_choppers(const aimc_tiles_t *tiles, int8_t *c_in,
                                               int8_t *c_out);

/* Per-tile counters since creation (or aimc_tiles_reset_stats). */
typedef struct aimc_tile_stats {
  uint64_t pulses_up;       /* device pulses that increased a weight, all arrays */
  uint64_t pulses_down;     /* device pulses that decreased a weight, all arrays */
  uint64_t array_pulses[AIMC_MAX_ARRAYS]; /* pulses (up + down) per array: endurance */
  uint64_t update_calls;
  uint64_t update_samples;  /* samples that produced pulses (zero x or d are skipped) */
  uint64_t forward_passes;  /* analog forward passes, bound-management repeats included */
  uint64_t forward_samples;
  uint64_t transfers;       /* transfer reads (column or row reads of A; MP row writes) */
  uint64_t chopper_flips;   /* input and output chopper sign changes */
  uint64_t digital_ops;     /* multiply-adds on digital buffers (H, means, chi, slices) */
} aimc_tile_stats_t;
/* stats: host array of n_tiles. */
AIMC_API aimc_status_t aimc_tiles_get_stats(const aimc_tiles_t *tiles, aimc_tile_stats_t *stats);
AIMC_API aimc_status_t aimc_tiles_reset_stats(aimc_tiles_t *tiles);

/* ------------------------------------------------------------------------ */
/* Networks: fully connected layers on tiles, replicas and sweeps            */
/* ------------------------------------------------------------------------ */

typedef enum aimc_activation {
  AIMC_ACT_NONE = 0,
  AIMC_ACT_RELU = 1,
  AIMC_ACT_SIGMOID = 2,
  AIMC_ACT_TANH = 3
} aimc_activation_t;

#define AIMC_MAX_LAYERS 16
#define AIMC_MAX_SWEEPS 2
#define AIMC_MAX_SWEEP_VALUES 64
#define AIMC_FIELD_LEN 64

typedef struct aimc_layer_desc {
  int32_t in, out;              /* a weight matrix of out x in */
  aimc_activation_t activation; /* after this layer (NONE for the last: softmax in the loss) */
  int32_t bias;                 /* digital bias, updated by exact SGD (1) */
  aimc_tile_config_t config;    /* the analog tiles (device, IO, update, algorithm) */
} aimc_layer_desc_t;

/* A swept configuration field: replica values, applied to every layer. */
typedef struct aimc_sweep {
  char field[AIMC_FIELD_LEN];   /* e.g. "fast_device.reference_std" */
  int32_t n_values;
  double values[AIMC_MAX_SWEEP_VALUES];
} aimc_sweep_t;

typedef struct aimc_network_desc {
  int32_t n_layers;
  aimc_layer_desc_t layers[AIMC_MAX_LAYERS];
  int32_t max_tile_size;        /* larger layers split evenly into tiles of at most this many
                                   rows and columns; partial outputs summed digitally (512) */
  int32_t seeds;                /* replicas per sweep point, differing in device draws (1) */
  int32_t n_sweeps;             /* 0, 1 or 2 (a grid of two fields) */
  aimc_sweep_t sweeps[AIMC_MAX_SWEEPS];
  uint64_t seed;                /* AIMC_SEED_FROM_CONTEXT (default) or a fixed seed */
  float learning_rate;          /* of every layer and bias (0.01) */
} aimc_network_desc_t;

typedef struct aimc_network aimc_network_t;

/* n_layers fully connected layers of sizes[0] -> sizes[1] -> ... with the
 * hidden activation, the given tile config everywhere (NULL: the default
 * config), one replica. */
AIMC_API aimc_status_t aimc_network_desc_mlp(aimc_network_desc_t *desc, int32_t n_sizes,
                                             const int32_t *sizes, aimc_activation_t hidden,
                                             const aimc_tile_config_t *config);
/* Replicas: seeds x the sweep values (x the values of a second sweep). Replica k
 * has sweep indices ((k / seeds) / n2, (k / seeds) % n2) and seed index k % seeds;
 * replicas with the same seed index have the same device draws. */
AIMC_API aimc_status_t aimc_network_create(aimc_context_t *ctx, const aimc_network_desc_t *desc,
                                           aimc_network_t **net);
AIMC_API void aimc_network_destroy(aimc_network_t *net);
AIMC_API aimc_status_t aimc_network_replicas(const aimc_network_t *net, int32_t *replicas);
/* The value sweep s has for replica k. */
AIMC_API aimc_status_t aimc_network_sweep_value(const aimc_network_t *net, int32_t replica,
                                                int32_t sweep, double *value);
AIMC_API aimc_status_t aimc_network_desc_get(const aimc_network_t *net, aimc_network_desc_t *desc);
/* The tile batch of layer l (all replicas' tiles; replica k owns a grid of tiles). */
AIMC_API aimc_status_t aimc_network_layer_tiles(aimc_network_t *net, int32_t layer,
                                                aimc_tiles_t **tiles);

/* Logits of every replica: x [batch][inputs] (shared by the replicas),
 * y [replicas][batch][outputs], context memory. */
AIMC_API aimc_status_t aimc_network_forward(aimc_network_t *net, const float *x, float *y,
                                            int64_t batch);
/* One SGD step of every replica on a mini-batch: forward, softmax cross
 * entropy (mean over the batch), backward, update of every layer, then the
 * layers' decay step. labels [batch] int32 in context memory; loss (host, one
 * per replica, may be NULL). */
AIMC_API aimc_status_t aimc_network_train_batch(aimc_network_t *net, const float *x,
                                                const int32_t *labels, int64_t batch, float *loss);
/* Correct predictions of every replica (host array) on x [n][inputs] with
 * labels [n] (context memory), read in batches of `batch`. */
AIMC_API aimc_status_t aimc_network_evaluate(aimc_network_t *net, const float *x,
                                             const int32_t *labels, int64_t n, int64_t batch,
                                             int64_t *correct);
AIMC_API aimc_status_t aimc_network_set_learning_rate(aimc_network_t *net, float lr);
/* Device pulses applied so far, per replica (host arrays of replicas): total
 * pulses and number of analog weights (all arrays counted once). */
AIMC_API aimc_status_t aimc_network_pulses(const aimc_network_t *net, uint64_t *pulses,
                                           uint64_t *weights);
/* Digital biases of layer l, [replicas][out] (context memory). */
AIMC_API aimc_status_t aimc_network_get_bias(const aimc_network_t *net, int32_t layer, float *b);
/* Programs the weights of layer l of every replica, w [replicas][out][in]
 * (context memory), through the devices; bias [replicas][out] or NULL. */
AIMC_API aimc_status_t aimc_network_program_layer(aimc_network_t *net, int32_t layer,
                                                  const float *w, const float *bias);
/* The visible weights of layer l, [replicas][out][in] (context memory). */
AIMC_API aimc_status_t aimc_network_get_layer(const aimc_network_t *net, int32_t layer, float *w);

/* ------------------------------------------------------------------------ */
/* Checkpoints: every bit of state, written atomically, verified when read   */
/* ------------------------------------------------------------------------ */

/* Writes the whole network (configuration, weights, device parameters,
 * algorithm buffers, choppers, counters, statistics, random-stream
 * positions) and an opaque user block (e.g. the training schedule) to path,
 * atomically (a temporary file renamed into place). */
AIMC_API aimc_status_t aimc_network_save(const aimc_network_t *net, const char *path,
                                         const void *user, size_t user_len);
/* Recreates a saved network in ctx. The user block is copied to user (at
 * most user_cap bytes; user may be NULL when user_cap is 0) and *user_len
 * gets its size (user_len may be NULL). Truncated, corrupt or
 * mismatched files are refused with AIMC_ERR_CORRUPT and a message. */
AIMC_API aimc_status_t aimc_network_load(aimc_context_t *ctx, const char *path,
                                         aimc_network_t **net, void *user, size_t user_cap,
                                         size_t *user_len);

/* ------------------------------------------------------------------------ */
/* Tile-batch state in memory (host/tiles_checkpoint.c)                      */
/* ------------------------------------------------------------------------ */

/* Every bit of a tile batch's state (shape, per-tile configs and keys,
 * weights, device states and parameters, algorithm buffers, choppers,
 * counters, statistics, random-stream positions) as one checksummed block
 * of host memory, for callers that keep their own files. With buf NULL only
 * *len is set (the size needed); otherwise cap must be at least that. */
AIMC_API aimc_status_t aimc_tiles_save_state(const aimc_tiles_t *tiles, void *buf, size_t cap,
                                             size_t *len);
/* A new tile batch in ctx (any backend) from a saved block: it continues bit
 * for bit as the saved one would have. Truncated, corrupt or mismatched
 * blocks are refused with AIMC_ERR_CORRUPT and a message; nothing is created. */
AIMC_API aimc_status_t aimc_tiles_load_state(aimc_context_t *ctx, const void *buf, size_t len,
                                             aimc_tiles_t **tiles);

/* ------------------------------------------------------------------------ */
/* Data: IDX files (MNIST, Fashion-MNIST), optionally gzip-compressed        */
/* ------------------------------------------------------------------------ */

typedef struct aimc_idx {
  int32_t n_dims;
  int64_t dims[4];
  int64_t count;       /* product of dims */
  uint8_t *data;       /* unsigned bytes, host memory, free with aimc_idx_free */
} aimc_idx_t;

/* Reads an IDX file of unsigned bytes (type 0x08), gzip-compressed or not.
 * Missing, truncated or malformed files are refused with a message naming
 * the path and what was expected. */
AIMC_API aimc_status_t aimc_idx_load(const char *path, aimc_idx_t *out);
AIMC_API void aimc_idx_free(aimc_idx_t *idx);
/* Normalised floats of an IDX file's bytes: out[i] = (data[i] / 255 - mean) / std
 * (mean 0, std 1 gives [0, 1]). out: host array of idx->count floats; std > 0. */
AIMC_API aimc_status_t aimc_idx_normalize(const aimc_idx_t *idx, float mean, float std, float *out);

/* A permutation of 0..n-1 for (seed, epoch), from the library's Philox
 * stream: the same on every machine. perm: host array of n. */
AIMC_API aimc_status_t aimc_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *perm);

#ifdef __cplusplus
}
#endif

#endif /* AIMC_H */
