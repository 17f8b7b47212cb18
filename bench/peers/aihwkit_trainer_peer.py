#!/usr/bin/env python3
"""aihwkit's side of the trainer rows of bench/run_cpu_vs_aihwkit.sh.

    python aihwkit_trainer_peer.py --config sgd-gokmen-vlasov --samples 2000 --reps 3

Trains aihwkit's AnalogSequential of AnalogLinear layers 784-256-128-10
(sigmoid hidden layers, linear logits, softmax cross entropy averaged over
the mini-batch, digital biases, tiles of at most 512 x 512: the network
aimc-train builds by default) with AnalogSGD on Fashion-MNIST, and prints

    trainer <config> <samples> <batch> <median seconds> <median CPU seconds>

(the training loop's wall-clock time and its process CPU time, all threads:
on a shared machine the CPU time of a one-thread run is the steadier measure).

The training loop is every mini-batch's zero_grad, forward, loss, backward
and optimizer step over <samples> samples (one epoch of aimc-train
--train-subset <samples>); loading, normalising and batching the data and
building the network happen before the clock starts, and nothing is
evaluated. Each repeat trains a fresh network on the same samples; the
median of --reps repeats is printed. Configurations (aimc-train's
--algorithm/--device and the aihwkit preset it follows, each with the
preset's own IO, PresetIOParameters, as aimc-train uses by default):
  sgd-gokmen-vlasov: --algorithm sgd --device gokmen-vlasov, GokmenVlasovPreset
  cttv2-reramsb:     --algorithm c-ttv2 --device reram-sb, ChoppedTTv2ReRamSBPreset
  agad-reramsb:      --algorithm agad --device reram-sb, AGADReRamSBPreset
Pixels are scaled to [0, 1] as aimc-train does; the samples are the first
<samples> of a fixed shuffle (seeded torch.randperm: not aimc's permutation,
the same kind of data).
"""
import argparse
import gzip
import pathlib
import statistics
import time

import numpy as np
import torch
from torch import nn

from aihwkit.nn import AnalogLinear, AnalogSequential
from aihwkit.optim import AnalogSGD
from aihwkit.simulator.presets import (AGADReRamSBPreset, ChoppedTTv2ReRamSBPreset,
                                       GokmenVlasovPreset)

PRESETS = {
    "sgd-gokmen-vlasov": GokmenVlasovPreset,
    "cttv2-reramsb": ChoppedTTv2ReRamSBPreset,
    "agad-reramsb": AGADReRamSBPreset,
}
SIZES = (784, 256, 128, 10)


def read_idx(path):
    """An IDX file (optionally .gz) as a numpy array of its unsigned bytes."""
    p = pathlib.Path(path)
    if not p.exists():
        p = p.with_name(p.name + ".gz")
    raw = gzip.open(p, "rb").read() if p.suffix == ".gz" else p.read_bytes()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_batches(data, samples, batch, seed):
    images = read_idx(f"{data}/train-images-idx3-ubyte")
    labels = read_idx(f"{data}/train-labels-idx1-ubyte")
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:samples]
    x = torch.from_numpy(images.reshape(len(labels), -1).astype(np.float32) / 255.0)[order]
    y = torch.from_numpy(labels.astype(np.int64))[order]
    return [(x[i:i + batch].contiguous(), y[i:i + batch].contiguous())
            for i in range(0, samples, batch)]


def rpu_config(name, max_tile):
    cfg = PRESETS[name]()
    cfg.mapping.digital_bias = True
    cfg.mapping.max_input_size = max_tile
    cfg.mapping.max_output_size = max_tile
    return cfg


def network(name, max_tile):
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(AnalogLinear(a, b, bias=True, rpu_config=rpu_config(name, max_tile)))
        if i + 2 < len(SIZES):
            layers.append(nn.Sigmoid())
    return AnalogSequential(*layers)


def train_seconds(name, batches, lr, max_tile):
    """Wall-clock and CPU seconds of one epoch's training loop on a fresh network."""
    model = network(name, max_tile)
    model.train()
    opt = AnalogSGD(model.parameters(), lr=lr)
    opt.regroup_param_groups(model)
    loss_fn = nn.CrossEntropyLoss()
    t0, c0 = time.perf_counter(), time.process_time()
    for x, y in batches:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, time.process_time() - c0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, choices=sorted(PRESETS))
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=10, help="aimc-train's default")
    ap.add_argument("--lr", type=float, default=0.1, help="aimc-train's default")
    ap.add_argument("--max-tile", type=int, default=512, help="aimc-train's default")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()
    if args.samples < 1 or args.batch < 1 or args.reps < 1:
        ap.error("--samples, --batch and --reps must be at least 1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    batches = load_batches(args.data, args.samples, args.batch, args.seed)
    times = [train_seconds(args.config, batches, args.lr, args.max_tile) for _ in range(args.reps)]
    wall = statistics.median(t[0] for t in times)
    cpu = statistics.median(t[1] for t in times)
    print(f"trainer {args.config} {args.samples} {args.batch} {wall:.6e} {cpu:.6e}", flush=True)


if __name__ == "__main__":
    main()
