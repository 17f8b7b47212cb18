"""Contexts and tile batches: thin owners of the C handles. Data arguments
are raw addresses (int) in the context's memory space, so callers pass
tensor storage by pointer with no copy."""
import ctypes
import threading

from . import _lib
from .config import TileConfig

BACKEND_CPU, BACKEND_CUDA = 1, 2
_contexts = {}
_contexts_lock = threading.Lock()


class Context:
    """An aimc_context_t (one per backend and CUDA device, shared by layers)."""

    def __init__(self, backend=BACKEND_CPU, cuda_device=0, seed=0, n_threads=0):
        d = _lib.ContextDesc()
        _lib.lib.aimc_context_desc_default(ctypes.byref(d))
        d.backend, d.cuda_device, d.seed, d.n_threads = backend, cuda_device, seed, n_threads
        h = ctypes.c_void_p()
        _lib.check(_lib.lib.aimc_context_create(ctypes.byref(h), ctypes.byref(d)))
        self.handle = h
        self.backend = backend
        self.cuda_device = cuda_device
        self._stream = None

    def set_cuda_stream(self, stream):
        """Queues the library's work on `stream` (a cudaStream_t as int)."""
        if stream != self._stream:
            _lib.check(_lib.lib.aimc_context_set_cuda_stream(self.handle, ctypes.c_void_p(stream)))
            self._stream = stream

    def synchronize(self):
        _lib.check(_lib.lib.aimc_context_synchronize(self.handle))

    def __del__(self):
        if getattr(self, "handle", None) and _lib is not None and _lib.lib is not None:
            _lib.lib.aimc_context_destroy(self.handle)
            self.handle = None


def cuda_available():
    return bool(_lib.lib.aimc_cuda_available())


def context(backend=BACKEND_CPU, cuda_device=0):
    """The shared context of a backend (and CUDA device)."""
    key = (backend, cuda_device if backend == BACKEND_CUDA else 0)
    with _contexts_lock:
        if key not in _contexts:
            _contexts[key] = Context(backend, key[1])
        return _contexts[key]


class Tiles:
    """An aimc_tiles_t: n_tiles tiles of rows x cols with one config each."""

    def __init__(self, ctx, n_tiles, rows, cols, configs, seed=None, tile_seeds=None, _handle=None):
        self.ctx = ctx
        self.n_tiles, self.rows, self.cols = n_tiles, rows, cols
        if _handle is not None:
            self.handle = _handle
            return
        configs = list(configs) if isinstance(configs, (list, tuple)) else [configs] * n_tiles
        if len(configs) != n_tiles:
            raise ValueError(f"{len(configs)} configs for {n_tiles} tiles")
        d = _lib.TilesDesc()
        _lib.lib.aimc_tiles_desc_default(ctypes.byref(d))
        d.n_tiles, d.rows, d.cols = n_tiles, rows, cols
        arr = (_lib.TileConfigBytes * n_tiles)(*[c._c for c in configs])
        d.per_tile = ctypes.cast(arr, ctypes.POINTER(_lib.TileConfigBytes))
        if seed is not None:
            d.seed = seed
        if tile_seeds is not None:
            seeds = (ctypes.c_uint64 * n_tiles)(*tile_seeds)
            d.tile_seeds = ctypes.cast(seeds, ctypes.POINTER(ctypes.c_uint64))
        h = ctypes.c_void_p()
        _lib.check(_lib.lib.aimc_tiles_create(ctx.handle, ctypes.byref(d), ctypes.byref(h)))
        self.handle = h

    def config(self, tile=0):
        c = _lib.TileConfigBytes()
        _lib.check(_lib.lib.aimc_tiles_get_config(self.handle, tile, ctypes.byref(c)))
        return TileConfig.from_c(c)

    # Data calls: addresses in the context's memory space.
    def forward(self, x, y, batch):
        _lib.check(_lib.lib.aimc_tiles_forward(self.handle, x, y, batch))

    def backward(self, d, x_grad, batch):
        _lib.check(_lib.lib.aimc_tiles_backward(self.handle, d, x_grad, batch))

    def update(self, x, d, batch):
        _lib.check(_lib.lib.aimc_tiles_update(self.handle, x, d, batch))

    def decay(self):
        _lib.check(_lib.lib.aimc_tiles_decay(self.handle))

    def set_learning_rate(self, lr):
        _lib.check(_lib.lib.aimc_tiles_set_learning_rate(self.handle, ctypes.c_float(lr)))

    def get_weights(self, w):
        _lib.check(_lib.lib.aimc_tiles_get_weights(self.handle, w))

    def set_weights(self, w):
        _lib.check(_lib.lib.aimc_tiles_set_weights(self.handle, w))

    def program_weights(self, w):
        _lib.check(_lib.lib.aimc_tiles_program_weights(self.handle, w))

    def save_state(self):
        """Every bit of the batch's state (host bytes), aimc_tiles_save_state."""
        if not _lib.has("aimc_tiles_save_state"):
            raise _lib.AimcError(-3, "this libaimc has no aimc_tiles_save_state")
        n = ctypes.c_size_t()
        _lib.check(_lib.lib.aimc_tiles_save_state(self.handle, None, 0, ctypes.byref(n)))
        buf = ctypes.create_string_buffer(n.value)
        _lib.check(_lib.lib.aimc_tiles_save_state(self.handle, buf, n.value, ctypes.byref(n)))
        return buf.raw[:n.value]

    @classmethod
    def load_state(cls, ctx, blob):
        """A new batch in ctx with the saved state, aimc_tiles_load_state."""
        if not _lib.has("aimc_tiles_load_state"):
            raise _lib.AimcError(-3, "this libaimc has no aimc_tiles_load_state")
        h = ctypes.c_void_p()
        _lib.check(_lib.lib.aimc_tiles_load_state(ctx.handle, blob, len(blob), ctypes.byref(h)))
        n, r, c = ctypes.c_int64(), ctypes.c_int32(), ctypes.c_int32()
        _lib.check(_lib.lib.aimc_tiles_shape(h, ctypes.byref(n), ctypes.byref(r),
                                             ctypes.byref(c)))
        return cls(ctx, n.value, r.value, c.value, None, _handle=h)

    def __del__(self):
        if getattr(self, "handle", None) and getattr(self, "ctx", None) is not None \
                and _lib.lib is not None:
            _lib.lib.aimc_tiles_destroy(self.handle)
            self.handle = None
