/* Test helper of train_cli_reliability.sh: rewrites fields of the
 * aimc-train block in a checkpoint, as an adversarial user with a hex editor
 * would, and saves it again through the library (so every CRC is right and
 * only the trainer's own validation stands between the edit and a resumed
 * run).
 *
 * Usage: train_edit_block IN OUT [FIELD=INTEGER]...
 * Fields: seeds, step_every, n_sets, n_sweeps, n_sizes, train_subset,
 * test_subset, algorithm, activation, schedule, batch, epochs, replicas,
 * and lr_bits (the learning rate's float bits, e.g. 0x7fc00000 for NaN). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimc.h"
#include "resume_block.h"

/* Stores v into the field called name of hd; 0 when the name is known. */
static int edit(resume_block_header_t *hd, const char *name, long long v) {
  model_options_t *m = &hd->model;
  int32_t i = (int32_t)v;
  if (!strcmp(name, "seeds")) m->seeds = i;
  else if (!strcmp(name, "step_every")) m->step_every = i;
  else if (!strcmp(name, "n_sets")) m->n_sets = i;
  else if (!strcmp(name, "n_sweeps")) m->n_sweeps = i;
  else if (!strcmp(name, "n_sizes")) m->n_sizes = i;
  else if (!strcmp(name, "train_subset")) m->train_subset = v;
  else if (!strcmp(name, "test_subset")) m->test_subset = v;
  else if (!strcmp(name, "algorithm")) m->algorithm = (aimc_algorithm_t)i;
  else if (!strcmp(name, "activation")) m->activation = (aimc_activation_t)i;
  else if (!strcmp(name, "schedule")) m->schedule = (schedule_kind_t)i;
  else if (!strcmp(name, "batch")) m->batch = i;
  else if (!strcmp(name, "epochs")) hd->epochs = i;
  else if (!strcmp(name, "replicas")) hd->replicas = i;
  else if (!strcmp(name, "lr_bits")) {
    uint32_t bits = (uint32_t)v;
    memcpy(&m->lr, &bits, sizeof bits);
  } else
    return 1;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s IN OUT [FIELD=INTEGER]...\n", argv[0]);
    return 2;
  }
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = AIMC_BACKEND_CPU;
  aimc_context_t *ctx;
  if (aimc_context_create(&ctx, &cd) != AIMC_OK) return 1;
  size_t cap = (size_t)1 << 22, len = 0;
  char *buf = malloc(cap);
  aimc_network_t *net = NULL;
  if (!buf || aimc_network_load(ctx, argv[1], &net, buf, cap, &len) != AIMC_OK || len > cap ||
      len < sizeof(resume_block_header_t)) {
    fprintf(stderr, "%s: cannot load or no aimc-train block: %s\n", argv[1], aimc_last_error());
    return 1;
  }
  resume_block_header_t hd;
  memcpy(&hd, buf, sizeof hd);
  for (int k = 3; k < argc; ++k) {
    const char *eq = strchr(argv[k], '=');
    char name[64];
    if (!eq || (size_t)(eq - argv[k]) >= sizeof name) return 2;
    snprintf(name, sizeof name, "%.*s", (int)(eq - argv[k]), argv[k]);
    if (edit(&hd, name, strtoll(eq + 1, NULL, 0))) {
      fprintf(stderr, "unknown field %s\n", name);
      return 2;
    }
  }
  memcpy(buf, &hd, sizeof hd);
  aimc_status_t s = aimc_network_save(net, argv[2], buf, len);
  if (s != AIMC_OK) fprintf(stderr, "%s: %s\n", argv[2], aimc_last_error());
  aimc_network_destroy(net);
  aimc_context_destroy(ctx);
  free(buf);
  return s == AIMC_OK ? 0 : 1;
}
