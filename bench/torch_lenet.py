"""LeNet-5 (or the 4-layer CNN, or the MLP) on Fashion-MNIST with aimc.torch or
aihwkit: float SGD (plain PyTorch), and analog SGD, c-TTv2 and AGAD on ReRamSB
tiles (aihwkit's presets), the same model code, data, order, initial weights,
batch and learning rate for all. Prints one markdown table row per algorithm.

    build-venv/bin/python bench/torch_lenet.py --train 10000 --test 10000 --epochs 1
    python bench/torch_lenet.py --layers aihwkit ...   # aihwkit's layers, same script
"""
import argparse
import gzip
import pathlib
import platform
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))
import aimc  # noqa: E402
from aimc.torch import AnalogConv2d as AimcConv2d, AnalogLinear as AimcLinear  # noqa: E402
from aimc.torch import AnalogSGD, convert_to_analog  # noqa: E402

DATA = pathlib.Path("/usr/share/datasets/fashion-mnist")
ALGORITHMS = {"float": None, "sgd": "sgd", "cttv2": "c-ttv2", "agad": "agad"}
# aihwkit's preset class of each algorithm, "{}" the device: ReRamSBPreset,
# ChoppedTTv2ReRamSBPreset, AGADReRamSBPreset (aimc's TileConfig.preset mirrors them,
# PresetIOParameters for forward and backward on both sides).
AIHWKIT_PRESETS = {"sgd": "{}Preset", "cttv2": "ChoppedTTv2{}Preset", "agad": "AGAD{}Preset"}
LAYERS = ("aimc", "aihwkit")
AIHWKIT_LAYERS = ("AnalogLinear", "AnalogConv2d")


def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split, n):
    prefix = "train" if split == "train" else "t10k"
    x = idx(DATA / f"{prefix}-images-idx3-ubyte.gz")[:n]
    y = idx(DATA / f"{prefix}-labels-idx1-ubyte.gz")[:n]
    x = torch.tensor(x, dtype=torch.float32).unsqueeze(1) / 255.0
    return x, torch.tensor(y, dtype=torch.int64)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))


def mlp():
    """aimc-train's default network: 784-256-128-10, sigmoid."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.Sigmoid(), nn.Linear(256, 128),
                         nn.Sigmoid(), nn.Linear(128, 10))


def cnn4():
    """A 4-layer CNN of 1,014,672 weights (biases not counted): two 3x3
    convolutions (144 and 4608 weights), 1568-640 (1,003,520) and 640-10 (6400)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(32 * 7 * 7, 640), nn.ReLU(), nn.Linear(640, 10))


MODELS = {"lenet5": lenet5, "mlp": mlp, "cnn4": cnn4}


def weight_count(model):
    """Weights of the Linear and Conv2d layers (the ones put on tiles), biases excluded."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))


def evaluate(model, x, y, batch=500):
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def split_name(entry):
    """"agad" (on ReRamSB) or "sgd@Idealized": an algorithm and a device preset."""
    name, _, device = entry.partition("@")
    return name, device or "ReRamSB"


def aihwkit_preset(name, device):
    """aihwkit's rpu_config for the algorithm on the device, e.g. AGADReRamSBPreset()."""
    from aihwkit.simulator import presets
    return getattr(presets, AIHWKIT_PRESETS[name].format(device))()


def set_aihwkit_field(rpu_config, field, value):
    """rpu_config.forward.out_noise = value for "forward.out_noise": aihwkit's
    attribute path, which is aimc's field name for single-device configurations
    (device.*, forward.*, backward.*, update.*), in the attribute's own type."""
    *path, last = field.split(".")
    obj = rpu_config
    for part in path:
        obj = getattr(obj, part)
    old = getattr(obj, last)  # AttributeError names a field aihwkit does not have
    setattr(obj, last, type(old)(value) if isinstance(old, (bool, int, float)) else value)


def analog_model(model, name, device, layers, lr, seed, fields=()):
    """model with every Conv2d and Linear on analog tiles of `layers`, and its
    optimizer: the two libraries' own convert_to_analog and AnalogSGD. fields:
    (name, value) pairs changed in the preset on either side."""
    if layers == "aimc":
        cfg = aimc.TileConfig.preset(ALGORITHMS[name], device)
        for field, value in fields:
            cfg[field] = value
        convert_to_analog(model, cfg, seed=seed)
        return model, AnalogSGD(model.parameters(), lr=lr)
    from aihwkit.nn.conversion import convert_to_analog as aihwkit_convert
    from aihwkit.optim import AnalogSGD as AihwkitSGD
    rpu_config = aihwkit_preset(name, device)
    for field, value in fields:
        set_aihwkit_field(rpu_config, field, value)
    model = aihwkit_convert(model, rpu_config)
    opt = AihwkitSGD(model.parameters(), lr=lr)
    opt.regroup_param_groups(model)
    return model, opt


def build(entry, args):
    """The model (initial weights from the seed, before conversion: the same
    for both layer kinds) and its optimizer."""
    name, device = split_name(entry)
    torch.manual_seed(args.seed)
    model = MODELS[args.model]()
    if ALGORITHMS[name] is None:
        return model, torch.optim.SGD(model.parameters(), lr=args.lr)
    return analog_model(model, name, device, args.layers, args.lr, args.seed,
                        [parse_field(f) for f in args.set])


def parse_field(text):
    field, sep, value = text.partition("=")
    if not sep:
        raise SystemExit(f"--set {text!r}: give field=value, e.g. device.write_noise_std=0")
    return field, float(value)


def tile_weights(model):
    """The weights each Conv2d/Linear (float, or its aimc or aihwkit twin) reads,
    as [out, in] matrices in model order."""
    out = []
    for m in model.modules():
        if type(m).__module__.startswith("aihwkit.nn") and type(m).__name__ in AIHWKIT_LAYERS:
            w = m.get_weights()[0]  # aihwkit's analog layers: [out, in * kh * kw]
        elif isinstance(m, (AimcLinear, AimcConv2d, nn.Linear, nn.Conv2d)):
            w = m.weight.detach().clone()
        else:
            continue
        out.append(w.reshape(w.shape[0], -1))
    return out


def run(entry, args, train, test):
    model, opt = build(entry, args)
    return train_model(entry, model, opt, args, train, test)


def train_model(entry, model, opt, args, train, test):
    x, y = train
    g = torch.Generator().manual_seed(args.seed)
    times, cpus, accs = [], [], []
    for epoch in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), args.batch):
            b = perm[i:i + args.batch]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
        # CPU seconds next to wall seconds: on a shared machine the wall time of
        # a process pinned to one core also counts the other jobs on that core
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        accs.append(evaluate(model, *test))
        print(f"# {entry} epoch {epoch + 1}: test accuracy {accs[-1]:.4f}, "
              f"{times[-1]:.1f} s ({cpus[-1]:.1f} s CPU)", file=sys.stderr, flush=True)
    return accs, times, cpus


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algorithms", default="float,sgd,cttv2,agad",
                   help="comma-separated; name@Device picks another device preset")
    p.add_argument("--model", default="lenet5", choices=sorted(MODELS))
    p.add_argument("--layers", default="aimc", choices=LAYERS,
                   help="whose analog layers and AnalogSGD: aimc.torch or aihwkit's")
    p.add_argument("--train", type=int, default=60000, help="training images used")
    p.add_argument("--test", type=int, default=10000, help="test images used")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change a preset field on both sides (aimc's field name = aihwkit's "
                        "attribute path for single-device presets), e.g. "
                        "device.write_noise_std=0 or mapping.weight_scaling_omega=0.6; "
                        "repeatable")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return p


def _aihwkit_version():
    import aihwkit
    return f"aihwkit {aihwkit.__version__}"


def main(argv=None):
    args = parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    train, test = load("train", args.train), load("test", args.test)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=pathlib.Path(__file__).parent).stdout.strip()
    layers = args.layers if args.layers == "aimc" else _aihwkit_version()
    print(f"{args.model} ({weight_count(MODELS[args.model]())} weights), {layers} layers, "
          f"Fashion-MNIST: {len(train[0])} training / {len(test[0])} test images, "
          f"batch {args.batch}, lr {args.lr}, seed {args.seed}, {args.epochs} epoch(s); "
          f"commit {commit}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{platform.processor() or platform.machine()}; libaimc {aimc.library_path}")
    print("\n| layers | algorithm | device | test accuracy per epoch | seconds per epoch "
          "| CPU seconds per epoch |")
    print("|---|---|---|---|---|---|")
    for entry in args.algorithms.split(","):
        accs, times, cpus = run(entry, args, train, test)
        name, device = split_name(entry)
        dev = "float (PyTorch)" if ALGORITHMS[name] is None else f"{device} preset"
        print(f"| {args.layers} | {name} | {dev} | {', '.join(f'{a:.4f}' for a in accs)} | "
              f"{', '.join(f'{t:.1f}' for t in times)} | "
              f"{', '.join(f'{t:.1f}' for t in cpus)} |", flush=True)


if __name__ == "__main__":
    main()
