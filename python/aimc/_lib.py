"""The C library through ctypes: locating libaimc, declaring the calls used,
and turning status codes into Python exceptions that carry the library's
message.

Why ctypes: the package stays pure Python (nothing to compile at pip-install
time, so it installs with the library it was built with, from any prefix),
and a call costs about a microsecond, which is small next to the work of one
tile-batch call (docs/torch.md has the measurement)."""
import ctypes
import os
import pathlib

_SONAME = "libaimc.so.0"

# The ABI of include/aimc.h this package was written for. The structs below
# are passed by pointer; python/tests/test_abi.py compiles a C program that
# checks these sizes and offsets against the header.
CONFIG_SIZE = 1476          # sizeof(aimc_tile_config_t)
TILE_STATS_SIZE = 136       # sizeof(aimc_tile_stats_t)
FAST_DEVICE_OFFSET = 460    # offsetof(aimc_tile_config_t, fast_device)
ABI_VERSION = 100           # AIMC_VERSION the layout was taken from


class AimcError(RuntimeError):
    """A failed aimc call: .status is the aimc_status_t code, the message is
    the library's (it names the argument, its value and the allowed range)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class TileConfigBytes(ctypes.Structure):
    """aimc_tile_config_t as opaque bytes: fields are reached by name through
    aimc_tile_config_set/get, never by offset, so Python cannot disagree with
    the C layout of a field."""
    _fields_ = [("raw", ctypes.c_int32 * (CONFIG_SIZE // 4))]


class ContextDesc(ctypes.Structure):
    _fields_ = [("backend", ctypes.c_int32), ("seed", ctypes.c_uint64),
                ("n_threads", ctypes.c_int32), ("cuda_device", ctypes.c_int32)]


class TilesDesc(ctypes.Structure):
    _fields_ = [("n_tiles", ctypes.c_int64), ("rows", ctypes.c_int32), ("cols", ctypes.c_int32),
                ("config", TileConfigBytes), ("per_tile", ctypes.POINTER(TileConfigBytes)),
                ("seed", ctypes.c_uint64), ("tile_seeds", ctypes.POINTER(ctypes.c_uint64))]


def _candidates():
    """Where libaimc is looked for, first match wins (docs/torch.md)."""
    env = os.environ.get("AIMC_LIBRARY")
    if env:
        yield pathlib.Path(env)
        return
    here = pathlib.Path(__file__).resolve().parent
    # 1. shipped inside the package by `pip install ./python` (setup.py)
    yield here / "_libs" / _SONAME
    # 2. installed by CMake: <prefix>/<libdir>/python3/site-packages/aimc
    yield here.parents[2] / _SONAME
    # 3. the source tree: <repo>/python/aimc next to <repo>/build*
    repo = here.parents[1]
    for build in sorted(repo.glob("build*")):
        yield build / _SONAME
    # 4. the system's search path (ldconfig, LD_LIBRARY_PATH)
    yield pathlib.Path(_SONAME)


def _load():
    tried = []
    for path in _candidates():
        if path.name != str(path) and not path.exists():
            tried.append(str(path))
            continue
        try:
            return ctypes.CDLL(str(path)), str(path)
        except OSError as err:
            tried.append(f"{path} ({err})")
    raise ImportError("aimc: libaimc.so.0 not found; set AIMC_LIBRARY to its path. Tried: "
                      + "; ".join(tried))


lib, library_path = _load()

_P = ctypes.c_void_p
_I32, _I64, _U64 = ctypes.c_int32, ctypes.c_int64, ctypes.c_uint64
_F = ctypes.c_float
_S = ctypes.c_size_t
_CFG = ctypes.POINTER(TileConfigBytes)

_SIGNATURES = {
    "aimc_status_string": (ctypes.c_char_p, [_I32]),
    "aimc_version": (ctypes.c_int, []),
    "aimc_version_string": (ctypes.c_char_p, []),
    "aimc_last_error": (ctypes.c_char_p, []),
    "aimc_context_desc_default": (None, [ctypes.POINTER(ContextDesc)]),
    "aimc_context_create": (_I32, [ctypes.POINTER(_P), ctypes.POINTER(ContextDesc)]),
    "aimc_context_destroy": (None, [_P]),
    "aimc_context_backend": (_I32, [_P]),
    "aimc_context_synchronize": (_I32, [_P]),
    "aimc_cuda_available": (ctypes.c_int, []),
    "aimc_context_set_cuda_stream": (_I32, [_P, _P]),
    "aimc_device_preset_name": (ctypes.c_char_p, [_I32]),
    "aimc_tile_config_default": (None, [_CFG]),
    "aimc_tile_config_algorithm": (_I32, [_CFG, _I32]),
    "aimc_tile_config_preset": (_I32, [_CFG, _I32, _I32]),
    "aimc_tile_config_io_preset": (_I32, [_CFG, _I32]),
    "aimc_tile_config_validate": (_I32, [_CFG]),
    "aimc_tile_config_set": (_I32, [_CFG, ctypes.c_char_p, ctypes.c_double]),
    "aimc_tile_config_get": (_I32, [_CFG, ctypes.c_char_p, ctypes.POINTER(ctypes.c_double)]),
    "aimc_tile_config_field_name": (ctypes.c_char_p, [ctypes.c_int]),
    "aimc_device_desc_preset": (_I32, [_P, _I32]),
    "aimc_tiles_desc_default": (None, [ctypes.POINTER(TilesDesc)]),
    "aimc_tiles_create": (_I32, [_P, ctypes.POINTER(TilesDesc), ctypes.POINTER(_P)]),
    "aimc_tiles_destroy": (None, [_P]),
    "aimc_tiles_get_config": (_I32, [_P, _I64, _CFG]),
    "aimc_tiles_shape": (_I32, [_P, _P, _P, _P]),
    "aimc_tiles_forward": (_I32, [_P, _P, _P, _I64]),
    "aimc_tiles_backward": (_I32, [_P, _P, _P, _I64]),
    "aimc_tiles_update": (_I32, [_P, _P, _P, _I64]),
    "aimc_tiles_decay": (_I32, [_P]),
    "aimc_tiles_set_learning_rate": (_I32, [_P, _F]),
    "aimc_tiles_get_weights": (_I32, [_P, _P]),
    "aimc_tiles_set_weights": (_I32, [_P, _P]),
    "aimc_tiles_program_weights": (_I32, [_P, _P]),
    "aimc_tiles_get_stats": (_I32, [_P, _P]),
}
# The tile-batch state block (host/tiles_checkpoint.c); absent from older builds.
_OPTIONAL = {
    "aimc_tiles_save_state": (_I32, [_P, _P, _S, ctypes.POINTER(_S)]),
    "aimc_tiles_load_state": (_I32, [_P, _P, _S, ctypes.POINTER(_P)]),
}

for _name, (_res, _args) in {**_SIGNATURES, **_OPTIONAL}.items():
    if _name in _OPTIONAL and not hasattr(lib, _name):
        continue
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args


def has(name):
    """Whether the loaded library exports `name`."""
    return hasattr(lib, name)


def check(status):
    """Raises AimcError with the library's message when status is an error."""
    if status != 0:
        msg = lib.aimc_last_error().decode(errors="replace")
        name = lib.aimc_status_string(status).decode()
        raise AimcError(status, f"{name}: {msg}")
    return status


def version():
    return lib.aimc_version_string().decode()


if lib.aimc_version() // 100 != ABI_VERSION // 100:
    raise ImportError(f"aimc: library {library_path} is version {version()}, this package "
                      f"expects {ABI_VERSION // 10000}.{ABI_VERSION // 100 % 100}.x")
