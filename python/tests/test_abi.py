"""The struct sizes and offsets aimc/_lib.py assumes, checked against
include/aimc.h by the C compiler (the only layout facts Python relies on)."""
import ctypes
import pathlib
import shutil
import subprocess

import pytest

import aimc
from aimc import _lib

HEADER_DIR = pathlib.Path(__file__).resolve().parents[2] / "include"

PROGRAM = r"""
#include <stdio.h>
#include <stddef.h>
#include "aimc.h"
int main(void) {
  printf("%zu %zu %zu %zu\n", sizeof(aimc_tile_config_t), sizeof(aimc_tile_stats_t),
         offsetof(aimc_tile_config_t, fast_device), (size_t)AIMC_VERSION);
  printf("%zu %zu %zu %zu %zu %zu %zu %zu\n", sizeof(aimc_tiles_desc_t),
         offsetof(aimc_tiles_desc_t, n_tiles), offsetof(aimc_tiles_desc_t, rows),
         offsetof(aimc_tiles_desc_t, cols), offsetof(aimc_tiles_desc_t, config),
         offsetof(aimc_tiles_desc_t, per_tile), offsetof(aimc_tiles_desc_t, seed),
         offsetof(aimc_tiles_desc_t, tile_seeds));
  printf("%zu %zu %zu %zu %zu\n", sizeof(aimc_context_desc_t),
         offsetof(aimc_context_desc_t, backend), offsetof(aimc_context_desc_t, seed),
         offsetof(aimc_context_desc_t, n_threads), offsetof(aimc_context_desc_t, cuda_device));
  return 0;
}
"""


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not (HEADER_DIR / "aimc.h").exists():
        pytest.skip("needs a C compiler and the repository's include/aimc.h")
    d = tmp_path_factory.mktemp("abi")
    (d / "abi.c").write_text(PROGRAM)
    subprocess.run([cc, f"-I{HEADER_DIR}", str(d / "abi.c"), "-o", str(d / "abi")], check=True)
    out = subprocess.run([str(d / "abi")], check=True, capture_output=True, text=True).stdout
    return [list(map(int, line.split())) for line in out.splitlines()]


def test_config_and_stats_layout(c_layout):
    assert c_layout[0] == [_lib.CONFIG_SIZE, _lib.TILE_STATS_SIZE, _lib.FAST_DEVICE_OFFSET,
                           _lib.ABI_VERSION]
    assert ctypes.sizeof(_lib.TileConfigBytes) == _lib.CONFIG_SIZE


def test_descriptor_layouts(c_layout):
    T = _lib.TilesDesc
    assert c_layout[1] == [ctypes.sizeof(T), T.n_tiles.offset, T.rows.offset, T.cols.offset,
                           T.config.offset, T.per_tile.offset, T.seed.offset,
                           T.tile_seeds.offset]
    C = _lib.ContextDesc
    assert c_layout[2] == [ctypes.sizeof(C), C.backend.offset, C.seed.offset,
                           C.n_threads.offset, C.cuda_device.offset]


def test_library_version_matches_package():
    assert aimc.version() == "%d.%d.%d" % (_lib.ABI_VERSION // 10000,
                                           _lib.ABI_VERSION // 100 % 100, _lib.ABI_VERSION % 100)
