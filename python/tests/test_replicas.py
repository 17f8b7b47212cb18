"""Replicas and sweeps: several configurations of a layer in one tile batch,
stacked along the batch dimension."""
import copy

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import aimc  # noqa: E402
from aimc.torch import (AnalogLinear, AnalogSGD, convert_to_analog, per_replica,  # noqa: E402
                        replicate, sweep)
from conftest import exact_config  # noqa: E402

TOL = dict(rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("max_tile_size", [512, 5])
def test_each_replica_trains_like_its_own_torch_model(max_tile_size):
    """Exact replicas, each fed its own inputs, equal separate torch models."""
    R, N = 3, 4
    torch.manual_seed(0)
    refs = [nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.Flatten(),
                          nn.Linear(3 * 5 * 5, 4)) for _ in range(R)]
    model = convert_to_analog(copy.deepcopy(refs[0]), [exact_config()] * R,
                              max_tile_size=max_tile_size)
    for li in (0, 3):  # replica r starts from reference r's weights and biases
        model[li].set_weights(torch.stack([r[li].weight.data for r in refs]))
        with torch.no_grad():
            model[li].bias.copy_(torch.stack([r[li].bias.data for r in refs]))
    x, t = torch.randn(R * N, 2, 5, 5), torch.randn(R * N, 4)
    opt = AnalogSGD(model.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        y = model(x)
        ((y - t) ** 2).reshape(R, -1).mean(1).sum().backward()  # each replica its own mean
        opt.step()
    for r, ref in enumerate(refs):
        o = torch.optim.SGD(ref.parameters(), lr=0.1)
        for _ in range(2):
            o.zero_grad()
            yr = ref(x[r * N:(r + 1) * N])
            ((yr - t[r * N:(r + 1) * N]) ** 2).mean().backward()
            o.step()
        torch.testing.assert_close(per_replica(model(x), R)[r], ref(x[r * N:(r + 1) * N]), **TOL)
        torch.testing.assert_close(model[0].weight[r], ref[0].weight.data, **TOL)
        torch.testing.assert_close(model[3].bias.data[r], ref[3].bias.data, **TOL)


def pulsed():
    return aimc.TileConfig(device="GokmenVlasov", fields={"forward.out_noise": 0.1})


def train(layer, steps=3):
    g = torch.Generator().manual_seed(9)
    opt = AnalogSGD(layer.parameters(), lr=0.1)
    for _ in range(steps):
        x = replicate(torch.rand(5, 6, generator=g), layer.replicas)
        opt.zero_grad()
        layer(x).pow(2).sum().backward()
        opt.step()


def test_paired_replicas_with_equal_values_evolve_identically():
    layer = AnalogLinear(6, 4, config=sweep(pulsed(), "forward.out_noise", [0.1, 0.1]),
                         seed=5, paired=True, max_tile_size=4)
    train(layer)
    w = layer.weight
    assert torch.equal(w[0], w[1])


def test_unpaired_replicas_draw_their_own_devices():
    layer = AnalogLinear(6, 4, config=[pulsed(), pulsed()], seed=5)
    train(layer)
    assert not torch.equal(layer.weight[0], layer.weight[1])


def test_sweep_sets_each_replica_and_differs_only_there():
    cfgs = sweep(pulsed(), "update.desired_bl", [1, 31])
    assert [c["update.desired_bl"] for c in cfgs] == [1, 31]
    layer = AnalogLinear(6, 4, config=cfgs, seed=5, paired=True)
    assert layer.analog_tiles.tiles.config(0)["update.desired_bl"] == 1
    assert layer.analog_tiles.tiles.config(1)["update.desired_bl"] == 31
    train(layer)
    assert not torch.equal(layer.weight[0], layer.weight[1])


def test_batch_not_a_multiple_of_the_replicas_is_refused():
    layer = AnalogLinear(6, 4, config=[pulsed()] * 3)
    with pytest.raises(ValueError, match="not a multiple"):
        layer(torch.ones(4, 6))


def test_replicas_state_round_trip():
    layer = AnalogLinear(6, 4, config=sweep(pulsed(), "forward.out_noise", [0.0, 0.2]),
                         seed=3, max_tile_size=4)
    train(layer, 2)
    sd = layer.state_dict()
    other = AnalogLinear(6, 4, config=sweep(pulsed(), "forward.out_noise", [0.0, 0.2]), seed=8,
                         max_tile_size=4)
    other.load_state_dict(sd)
    train(layer, 2)
    train(other, 2)
    assert torch.equal(layer.weight, other.weight)
