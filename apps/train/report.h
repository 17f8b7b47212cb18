/* aimc-train: what a run produces: progress on the terminal, per-epoch
 * summaries, results.csv, results.json, accuracy.png and the final table. */
#ifndef AIMC_TRAIN_REPORT_H
#define AIMC_TRAIN_REPORT_H

#include <stdint.h>

#include "options.h"

typedef struct replica_result {
  float loss;              /* mean training loss of the epoch */
  float accuracy;          /* test accuracy after the epoch, % */
  float pulses_per_weight; /* device pulses per analog weight since the start */
  float pad;
} replica_result_t;

typedef struct epoch_result {
  double seconds;          /* training and test time of the epoch */
  float lr;
  int32_t pad;
} epoch_result_t;

typedef struct history {
  int32_t replicas, epochs, cap;
  epoch_result_t *epoch;   /* [cap] */
  replica_result_t *rep;   /* [cap][replicas] */
  /* [cap] seconds of the training loop alone (no test, no checks, no files)
   * of the epochs this process trained; NaN for epochs read from a
   * checkpoint (not stored there: the block's format stays as it is) */
  double *train_seconds;
  double *train_cpu_seconds; /* [cap] the same loop's process CPU time (all threads), NaN alike */
} history_t;

int history_init(history_t *h, int32_t replicas, int32_t cap);
void history_free(history_t *h);

/* A replica group with the same swept values, e.g. "fast_device.reference_std=0.5". */
typedef struct configuration {
  char label[160];
  double values[AIMC_MAX_SWEEPS];
} configuration_t;

/* Everything the reports say about the run besides the numbers. */
typedef struct run_info {
  const options_t *opt;
  const char *command;     /* the command line */
  const char *backend;
  const char *machine;
  int32_t replicas, n_configs;
  const configuration_t *configs; /* [n_configs]; replica k belongs to k / seeds */
  int64_t train_samples, test_samples;
  uint64_t weights;        /* analog weights per replica */
  const char *stopped;     /* why the run stopped early, "" or NULL when it did not */
} run_info_t;

/* Progress of one epoch: a bar on a terminal, else a line every tenth. */
typedef struct progress {
  int bar;
  int quiet;
  int32_t epoch, epochs;
  int64_t total, done;
  double start, last_draw, run_rest; /* run_rest: estimated seconds of the later epochs */
  int tenths;
} progress_t;

void progress_start(progress_t *p, const run_options_t *r, int32_t epoch, int32_t epochs,
                    int64_t total, double later_epochs_seconds);
void progress_update(progress_t *p, int64_t done, float loss);
void progress_phase(progress_t *p, const char *what);
void progress_end(progress_t *p);

double now_seconds(void);
/* CPU time of the process (all its threads), seconds. */
double cpu_seconds(void);

void report_epoch(const run_info_t *info, const history_t *h, int32_t e);
/* Writes results.csv and results.json (atomically) in the output folder. */
int report_files(const run_info_t *info, const history_t *h);
/* accuracy.png through gnuplot, or a note that it was skipped. */
void report_plot(const run_info_t *info, const history_t *h);
void report_table(const run_info_t *info, const history_t *h);

#endif
