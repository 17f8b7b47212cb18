/* aimc-train: command-line options and how they become a network. */
#ifndef AIMC_TRAIN_OPTIONS_H
#define AIMC_TRAIN_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#include "aimc.h"

#define TRAIN_PATH_LEN 1024
#define TRAIN_MAX_SETS 32

/* Ranges of the model options: the command line and a resumed checkpoint's
 * trainer block (resume_block.c) accept the same values. */
#define TRAIN_MAX_LAYER_SIZE (1 << 24)
#define TRAIN_MAX_SEEDS 65536
#define TRAIN_MAX_TILE 65536
#define TRAIN_MAX_BATCH (1 << 20)
#define TRAIN_MAX_SEED (1LL << 62)
#define TRAIN_MAX_SUBSET (1LL << 40)
#define TRAIN_MAX_LR 1e6          /* learning rate in [0, TRAIN_MAX_LR) */
#define TRAIN_MAX_STEP_FACTOR 1e6 /* step schedule factor in (0, TRAIN_MAX_STEP_FACTOR] */
#define TRAIN_MAX_EPOCHS 100000

typedef enum { SCHEDULE_CONSTANT = 0, SCHEDULE_STEP = 1, SCHEDULE_COSINE = 2 } schedule_kind_t;

typedef struct field_value {
  char field[AIMC_FIELD_LEN];
  double value;
} field_value_t;

/* What the network and its training are: fixed by a checkpoint on resume. */
typedef struct model_options {
  int32_t sizes[AIMC_MAX_LAYERS + 1];
  int32_t n_sizes;
  aimc_activation_t activation;
  aimc_algorithm_t algorithm;
  aimc_device_preset_t device;
  int32_t io;                     /* aimc_io_preset_t, or -1: the preset's own */
  field_value_t sets[TRAIN_MAX_SETS];
  int32_t n_sets;
  aimc_sweep_t sweeps[AIMC_MAX_SWEEPS];
  int32_t n_sweeps;
  int32_t seeds;                  /* replicas per configuration */
  uint64_t seed;
  int32_t max_tile;
  int32_t batch;
  float lr;
  schedule_kind_t schedule;
  int32_t step_every;             /* SCHEDULE_STEP: epochs between steps */
  float step_factor;              /* SCHEDULE_STEP: rate factor per step */
  int64_t train_subset, test_subset; /* 0 = all */
} model_options_t;

/* How this run goes: free to change on resume. */
typedef struct run_options {
  char data[TRAIN_PATH_LEN];
  char out[TRAIN_PATH_LEN];
  char checkpoint[TRAIN_PATH_LEN]; /* "" = <out>/checkpoint.aimc; "none" = no checkpoints */
  char resume[TRAIN_PATH_LEN];
  int32_t epochs;                  /* total epochs, counting those already done */
  int32_t eval_batch;
  aimc_backend_t backend;
  int32_t threads;
  int32_t progress;                /* -1 auto (bar on a terminal), 0 plain lines, 1 bar */
  int32_t quiet;
} run_options_t;

typedef struct options {
  model_options_t model;
  run_options_t run;
  int model_given;                 /* a model option was on the command line */
  char first_model_option[64];
} options_t;

/* Parses argv; returns 0 to go on, 1 after --help (exit 0), 2 on an error
 * (message printed). */
int options_parse(int argc, char **argv, options_t *o);
void options_usage(FILE *f);

/* The tile configuration of every layer: algorithm preset on the device
 * preset (or defaults where the reference has no preset), IO preset, then
 * the --set overrides. Errors print a message and return non-zero. */
int options_tile_config(const model_options_t *m, aimc_tile_config_t *cfg);
int options_network_desc(const model_options_t *m, aimc_network_desc_t *d);
/* Learning rate of epoch e (0-based) of `epochs`. */
float options_learning_rate(const model_options_t *m, int32_t epoch, int32_t epochs);

/* 1 when x survives the conversion to float: finite, and 0 or a normal
 * float (not rounded to 0, not denormal, not overflowing). */
int options_float_exact_enough(double x);

/* Key of an enum value, "?" when it is none of the accepted ones. */
const char *options_algorithm_key(aimc_algorithm_t a);
const char *options_io_key(int32_t io);
const char *options_device_key(aimc_device_preset_t d);
const char *options_activation_key(aimc_activation_t a);

#endif
