"""bench/torch_lenet.py (issue 10's benchmark): a tiny run of every model,
algorithm and layer kind (aimc's; aihwkit's where it is installed), the 4-layer
CNN's weight count, and convert_to_analog writing the initial weights through
the devices as aihwkit's conversion does. Synthetic images: no data set needed."""
import importlib.util
import pathlib

import pytest
import torch
from torch import nn

import aimc
from aimc.torch import analog_layers, convert_to_analog

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench" / "torch_lenet.py"
ALGORITHMS = ["float", "sgd", "cttv2", "agad"]


@pytest.fixture(scope="module")
def bench():
    if not BENCH.exists():
        pytest.skip("bench/torch_lenet.py is not next to this package (installed copy)")
    spec = importlib.util.spec_from_file_location("torch_lenet", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def synthetic(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def analog_state(model, layers):
    """Per layer, everything the pulsed update may change: aimc's state block,
    aihwkit's hidden parameters (c-TTv2 and AGAD change the visible weight only
    at a transfer, so the visible weight alone cannot show that an update ran)."""
    if layers == "aimc":
        return [torch.frombuffer(bytearray(m.analog_tiles.state_bytes()), dtype=torch.uint8)
                for m in analog_layers(model)]
    return [torch.cat([v.flatten() for v in t.get_hidden_parameters().values()])
            for t in model.analog_tiles()]


def tiny_run(bench, model_name, algorithm, layers):
    args = bench.parser().parse_args(["--model", model_name, "--layers", layers,
                                      "--batch", "16", "--lr", "0.1"])
    model, opt = bench.build(algorithm, args)
    weights = bench.tile_weights(model)
    state = analog_state(model, layers) if algorithm != "float" else []
    biases = [m.bias.detach().clone() for m in model.modules()
              if getattr(m, "bias", None) is not None and isinstance(m.bias, torch.Tensor)]
    data = synthetic(16)  # one mini-batch
    accs, times, cpus = bench.train_model(algorithm, model, opt, args, data, data)
    assert len(accs) == 1 and 0.0 <= accs[0] <= 1.0 and times[0] > 0 and cpus[0] > 0
    after = bench.tile_weights(model)
    assert len(after) == len(weights) == (4 if model_name == "cnn4" else 5)
    assert all(torch.isfinite(w).all() for w in after)
    new_biases = [m.bias.detach() for m in model.modules()
                  if getattr(m, "bias", None) is not None and isinstance(m.bias, torch.Tensor)]
    assert any(not torch.equal(a, b) for a, b in zip(biases, new_biases)), "no bias trained"
    if algorithm in ("float", "sgd"):  # the visible weight of every layer moves
        assert all(not torch.equal(a, b) for a, b in zip(weights, after))
    else:  # the fast devices of every layer were pulsed
        assert all(not torch.equal(a, b) for a, b in zip(state, analog_state(model, layers)))


def test_cnn4_has_about_a_million_weights(bench):
    model = bench.cnn4()
    assert bench.weight_count(model) == 1_014_672
    assert len([m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]) == 4


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("model_name", ["lenet5", "cnn4"])
def test_tiny_run_on_aimc_layers(bench, model_name, algorithm):
    tiny_run(bench, model_name, algorithm, "aimc")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("model_name", ["lenet5", "cnn4"])
def test_tiny_run_on_aihwkit_layers(bench, model_name, algorithm):
    pytest.importorskip("aihwkit")
    tiny_run(bench, model_name, algorithm, "aihwkit")


def test_both_layer_kinds_start_from_the_same_model(bench):
    """Before conversion the two sides hold the same torch model (seeded)."""
    a = bench.tile_weights(bench.build("float", bench.parser().parse_args(["--model", "cnn4"]))[0])
    b = bench.tile_weights(bench.build("float", bench.parser().parse_args(
        ["--model", "cnn4", "--layers", "aihwkit"]))[0])
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def programmed_deviation(convert, cfg, weights_of):
    """Std of (converted layer's weights - the nn.Linear's) for a 64 x 64 layer."""
    torch.manual_seed(3)
    ref = nn.Linear(64, 64)
    w0 = ref.weight.detach().clone()
    return (weights_of(convert(ref, cfg)).reshape(64, 64) - w0).std().item()


def test_convert_to_analog_programs_the_weights():
    """ReRamSB: write noise of std write_noise_std * dw_min = 56 * 0.002 = 0.112 on
    every one of 4096 weights (the weights, |w| <= 1/8, are inside every device's
    bounds but for a few with a drawn bound near 0). The standard error of a
    4096-sample std is 0.112 / sqrt(8192) = 0.0012, so [0.09, 0.13] is wide;
    program=False sets the weights exactly."""
    cfg = aimc.TileConfig.preset("sgd", "ReRamSB")
    noisy = programmed_deviation(lambda m, c: convert_to_analog(m, c, seed=1), cfg,
                                 lambda layer: layer.weight)
    assert 0.09 < noisy < 0.13
    exact = programmed_deviation(lambda m, c: convert_to_analog(m, c, seed=1, program=False),
                                 cfg, lambda layer: layer.weight)
    assert exact == 0.0


def test_aihwkit_conversion_programs_the_weights_alike():
    """aihwkit's convert_to_analog of the same layer with ReRamSBPreset: the same
    write noise (std 0.112), within the bound of the test above."""
    pytest.importorskip("aihwkit")
    from aihwkit.nn.conversion import convert_to_analog as aihwkit_convert
    from aihwkit.simulator.presets import ReRamSBPreset
    noisy = programmed_deviation(aihwkit_convert, ReRamSBPreset(),
                                 lambda layer: layer.get_weights()[0])
    assert 0.09 < noisy < 0.13


def test_set_changes_the_field_on_aimc_layers(bench):
    args = bench.parser().parse_args(["--model", "lenet5", "--set", "forward.out_noise=0.05",
                                      "--set", "device.write_noise_std=0"])
    model, _ = bench.build("sgd", args)
    for layer in analog_layers(model):
        cfg = layer.analog_tiles.tiles.config(0)
        assert cfg["forward.out_noise"] == pytest.approx(0.05)
        assert cfg["device.write_noise_std"] == 0.0
    bad = bench.parser().parse_args(["--model", "lenet5", "--set", "device.no_such_field=1"])
    with pytest.raises(aimc.AimcError, match="no_such_field"):
        bench.build("sgd", bad)


def test_set_mapping_gives_aihwkits_alpha_on_both_layer_kinds(bench):
    """--set mapping.weight_scaling_omega=0.6: every layer's alpha is
    max|W| / 0.6 of the model's initial weights (the same seed on both layer
    kinds), and the tiles hold W / alpha."""
    argv = ["--model", "lenet5", "--set", "mapping.weight_scaling_omega=0.6"]
    args = bench.parser().parse_args(argv)
    torch.manual_seed(args.seed)
    want = [m.weight.abs().max().item() / 0.6 for m in bench.MODELS["lenet5"]().modules()
            if isinstance(m, (nn.Linear, nn.Conv2d))]
    model, _ = bench.build("sgd", args)
    layers = analog_layers(model)
    got = [layer.analog_tiles.scales for layer in layers]
    assert [tuple(a.shape) for a in got] == [(1, layer.analog_tiles.tile_rows) for layer in layers]
    for a, w in zip(got, want):
        torch.testing.assert_close(a, torch.full_like(a, w), rtol=1e-6, atol=0)
    if importlib.util.find_spec("aihwkit") is None:
        return
    model, _ = bench.build("sgd", bench.parser().parse_args(argv + ["--layers", "aihwkit"]))
    theirs = [t.get_scales().item() for t in model.analog_tiles()]
    assert theirs == pytest.approx(want, rel=1e-6)


def test_set_changes_the_field_on_aihwkit_layers(bench):
    pytest.importorskip("aihwkit")
    args = bench.parser().parse_args(["--model", "lenet5", "--layers", "aihwkit",
                                      "--set", "forward.out_noise=0.05",
                                      "--set", "device.write_noise_std=0"])
    model, _ = bench.build("sgd", args)
    tiles = list(model.analog_tiles())
    assert len(tiles) == 5
    for tile in tiles:
        assert tile.rpu_config.forward.out_noise == pytest.approx(0.05)
        assert tile.rpu_config.device.write_noise_std == 0
    bad = bench.parser().parse_args(["--model", "lenet5", "--layers", "aihwkit",
                                     "--set", "device.no_such_field=1"])
    with pytest.raises(AttributeError, match="no_such_field"):
        bench.build("sgd", bad)
