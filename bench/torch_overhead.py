"""What ctypes and the layer add to a tile-batch call (docs/torch.md).

    OMP_NUM_THREADS=1 build-venv/bin/python bench/torch_overhead.py
"""
import pathlib, sys
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))
import time, ctypes, torch, aimc
from aimc import _lib
from aimc.torch import AnalogLinear
torch.set_num_threads(1)
n=200000
t=time.perf_counter()
for _ in range(n): _lib.lib.aimc_version()
c=(time.perf_counter()-t)/n
print(f"ctypes call (aimc_version): {c*1e6:.2f} us")
for shape,B in (((784,256),64),((64,10),1)):
    l=AnalogLinear(*shape, config=aimc.TileConfig(device="ReRamSB"), max_tile_size=1024)
    x=torch.rand(B,shape[0])
    y=torch.empty(B,shape[1])
    g=l.analog_tiles
    p=lambda t: ctypes.c_void_p(t.data_ptr())
    reps=200
    for _ in range(5): g.tiles.forward(p(x),p(y),B)
    t=time.perf_counter()
    for _ in range(reps): g.tiles.forward(p(x),p(y),B)
    raw=(time.perf_counter()-t)/reps
    with torch.no_grad():
        t=time.perf_counter()
        for _ in range(reps): l(x)
        lay=(time.perf_counter()-t)/reps
    print(f"{shape[0]}x{shape[1]} batch {B}: Tiles.forward {raw*1e6:.1f} us, AnalogLinear forward (no grad) {lay*1e6:.1f} us, overhead {(lay-raw)*1e6:.1f} us")
