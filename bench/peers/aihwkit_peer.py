#!/usr/bin/env python3
"""aihwkit's side of the side-by-side CPU benchmark (bench/run_cpu_vs_aihwkit.sh).

Reads the same configuration lines as bench/bench_peer.c from stdin,
    <op> <config> <tiles> <rows> <cols> <batch> [<reps>]
and prints "<op> ... <batch> <median seconds per call>": the median of <reps>
timed calls (default --reps), after one untimed warm-up call when reps > 1.
Each tile is an aihwkit AnalogTile whose C++ simulator tile
(``AnalogTile(...).tile``) is driven directly, so Python overhead is one call
per tile and operation. A call of
the operation covers every tile (a loop over the tiles, as aimc does in one
call). Configurations:
  softbounds | constant | exp: SingleRPUConfig with SoftBoundsDevice,
      ConstantStepDevice, ExpStepDevice (aihwkit defaults: dw_min 0.001,
      dtod 0.3, c2c dw_min_std 0.3; default update: BL 31, update and BL
      management; default IO: 7-bit DAC, 9-bit ADC, noise and bound management)
  cttv2-reramsb | agad-reramsb: aihwkit's ChoppedTTv2ReRamSBPreset and
      AGADReRamSBPreset.
Learning rate 0.01 everywhere (aimc's default). x and d uniform in [-1, 1],
weights uniform in [-0.3, 0.3].
"""
import argparse
import statistics
import sys
import time

import torch

from aihwkit.simulator.configs import SingleRPUConfig
from aihwkit.simulator.configs.devices import (ConstantStepDevice, ExpStepDevice,
                                               SoftBoundsDevice)
from aihwkit.simulator.presets import AGADReRamSBPreset, ChoppedTTv2ReRamSBPreset
from aihwkit.simulator.tiles import AnalogTile


def rpu_config(name):
    if name == "softbounds":
        return SingleRPUConfig(device=SoftBoundsDevice())
    if name == "constant":
        return SingleRPUConfig(device=ConstantStepDevice())
    if name == "exp":
        return SingleRPUConfig(device=ExpStepDevice())
    if name == "cttv2-reramsb":
        return ChoppedTTv2ReRamSBPreset()
    if name == "agad-reramsb":
        return AGADReRamSBPreset()
    raise SystemExit(f"aihwkit_peer: unknown config '{name}'")


def run_line(op, config, tiles, rows, cols, batch, reps, gen):
    sims = []
    for _ in range(tiles):
        t = AnalogTile(rows, cols, rpu_config(config))
        t.set_learning_rate(0.01)
        t.set_weights((torch.rand(rows, cols, generator=gen) * 2 - 1) * 0.3)
        sims.append(t.tile)
    xs = [torch.rand(batch, cols, generator=gen) * 2 - 1 for _ in range(tiles)]
    ds = [torch.rand(batch, rows, generator=gen) * 2 - 1 for _ in range(tiles)]
    if op == "update":
        def call():
            for s, x, d in zip(sims, xs, ds):
                s.update(x, d, False, False, False, False)
    elif op == "forward":
        def call():
            for s, x in zip(sims, xs):
                s.forward(x, False, False, False, False, False)
    elif op == "backward":
        def call():
            for s, d in zip(sims, ds):
                s.backward(d, False, False, False, False)
    else:
        raise SystemExit(f"aihwkit_peer: unknown op '{op}'")
    times = []
    for r in range(-1 if reps > 1 else 0, reps):
        t0 = time.perf_counter()
        call()
        if r >= 0:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(1)
    for line in sys.stdin:
        f = line.split()
        if len(f) < 6:
            continue
        op, config = f[0], f[1]
        tiles, rows, cols, batch = (int(v) for v in f[2:6])
        reps = max(1, int(f[6])) if len(f) > 6 else args.reps
        m = run_line(op, config, tiles, rows, cols, batch, reps, gen)
        print(f"{op} {config} {tiles} {rows} {cols} {batch} {m:.6e}", flush=True)


if __name__ == "__main__":
    main()
