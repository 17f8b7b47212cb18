/* The checkpoint file layout (host/checkpoint.c writes and reads it; the
 * tests edit files through it). */
#ifndef AIMC_HOST_CHECKPOINT_FORMAT_H
#define AIMC_HOST_CHECKPOINT_FORMAT_H

#include "host/network.h"

#define AIMC_CKPT_MAGIC "AIMCCKPT"
/* 2: the header carries its own CRC-32 */
#define AIMC_CKPT_FORMAT 2u

enum { TAG_NETW = 0x5754454e, TAG_TILS = 0x534c4954, TAG_BLOB = 0x424f4c42,
       TAG_BIAS = 0x53414942, TAG_USER = 0x52455355, TAG_END = 0x2e444e45 };

typedef struct file_header {
  char magic[8];
  uint32_t format, library_version;
  uint32_t desc_size, config_size, counters_size, algo_state_size, stats_size;
  uint32_t n_sections;
  uint32_t header_crc; /* CRC-32 of the bytes before it */
  uint32_t pad;
} file_header_t;

/* The CRC-32 a header must carry. */
uint32_t aimc_ckpt_header_crc(const file_header_t *fh);

typedef struct section_header {
  uint32_t tag, index;
  uint64_t length;
  uint32_t crc, pad;
} section_header_t;

typedef struct net_record {
  aimc_network_desc_t desc;
  uint64_t seed;
  float lr;
  int32_t lr_override;
} net_record_t;

typedef struct tiles_record {
  aimc_counters_t counters;
  uint64_t seed;
  int64_t n_tiles;
  int32_t rows, cols, n_arrays, n_blobs;
} tiles_record_t;

#endif
