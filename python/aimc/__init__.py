"""aimc: analog in-memory-computing training on the aimc C library.

`aimc.torch` holds the PyTorch layers (AnalogLinear, AnalogConv2d), the
model conversion and the AnalogSGD optimizer; importing `aimc` alone needs no
torch."""
from ._lib import AimcError, library_path, version
from .config import TileConfig, field_names
from .tiles import Context, Tiles, context, cuda_available

__all__ = ["AimcError", "library_path", "version", "TileConfig", "field_names", "Context",
           "Tiles", "context", "cuda_available"]
__version__ = "0.1.0"
