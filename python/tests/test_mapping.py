"""Weight scaling (mapping.weight_scaling_omega, aihwkit's MappingParameter):
tiles hold W / alpha, outputs are multiplied by alpha in digital. With perfect
IO and exact updates a scaled layer still equals torch's; the tiles use the
device range up to omega; alpha travels with the state."""
import copy
import io
import pickle

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import aimc  # noqa: E402
from aimc.torch import AnalogSGD, convert_to_analog, per_replica, replicate, sweep  # noqa: E402
from conftest import exact_config  # noqa: E402

# The scaled weights W / alpha * alpha differ from W by an ulp or two; the sums
# as in test_layers.
TOL = dict(rtol=1e-5, atol=1e-6)


def scaled(omega=0.6, **mapping):
    cfg = exact_config()
    cfg["mapping.weight_scaling_omega"] = omega
    for k, v in mapping.items():
        cfg[f"mapping.{k}"] = v
    return cfg


def pair(ref, cfg, **kw):
    torch.manual_seed(0)
    ana = convert_to_analog(copy.deepcopy(ref), cfg, program=False, **kw)
    return ana


def step(model, x, t, opt):
    opt.zero_grad()
    x = x.clone().requires_grad_(True)
    y = model(x)
    ((y - t) ** 2).mean().backward()
    opt.step()
    return y.detach(), x.grad.detach()


def assert_trains_like_torch(ref, ana, x, t, lr, steps=1):
    """Outputs, input gradients and the weights after `steps` SGD steps equal."""
    for _ in range(steps):
        y_ref, g_ref = step(ref, x, t, torch.optim.SGD(ref.parameters(), lr=lr))
        y_ana, g_ana = step(ana, x, t, AnalogSGD(ana.parameters(), lr=lr))
        torch.testing.assert_close(y_ana, y_ref, **TOL)
        torch.testing.assert_close(g_ana, g_ref, **TOL)
    torch.testing.assert_close(ana.weight, ref.weight.data, **TOL)


def tile_weights(layer):
    """[T, rows, cols] as the tiles hold them (W / alpha)."""
    g = layer.analog_tiles
    w = torch.empty((g.n_tiles, g.tile_rows, g.tile_cols))
    g.tiles.get_weights(w.data_ptr())
    return w


@pytest.mark.parametrize("columnwise", [False, True])
@pytest.mark.parametrize("max_tile_size", [512, 7])
def test_scaled_linear_equals_nn_linear(columnwise, max_tile_size):
    torch.manual_seed(0)
    ref = nn.Linear(19, 13)
    ana = pair(ref, scaled(0.6, weight_scaling_columnwise=columnwise),
               max_tile_size=max_tile_size)
    # the tiles hold W / alpha: each tile's (or row's) largest weight at omega
    w = tile_weights(ana)
    peak = w.abs().amax(dim=2) if columnwise else w.abs().amax(dim=(1, 2))
    real = peak[peak > 0]
    torch.testing.assert_close(real, torch.full_like(real, 0.6))
    assert not torch.allclose(ana.analog_tiles.scales, torch.ones(1))
    assert_trains_like_torch(ref, ana, torch.randn(5, 19), torch.randn(5, 13), lr=0.1, steps=2)


def test_scaled_conv2d_equals_nn_conv2d():
    torch.manual_seed(1)
    ref = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    ana = pair(ref, scaled(0.8), max_tile_size=10)
    assert_trains_like_torch(ref, ana, torch.randn(2, 3, 9, 8), torch.randn(2, 4, 5, 4), lr=0.05)


def test_lr_compensation_scales_the_step_by_alpha():
    """With weight_scaling_lr_compensation (one alpha per tile) the tile gets d
    unscaled: the real weights move alpha times plain SGD's step."""
    torch.manual_seed(2)
    ref = nn.Linear(6, 4, bias=False)
    ana = pair(ref, scaled(0.5, weight_scaling_lr_compensation=True))
    alpha = ana.analog_tiles.scales[0, 0].item()
    assert alpha != pytest.approx(1.0)
    w0 = ref.weight.data.clone()
    x, t = torch.randn(3, 6), torch.randn(3, 4)
    step(ref, x, t, torch.optim.SGD(ref.parameters(), lr=0.1))
    step(ana, x, t, AnalogSGD(ana.parameters(), lr=0.1))
    torch.testing.assert_close(ana.weight - w0, alpha * (ref.weight.data - w0), **TOL)


def test_replicas_scale_by_their_own_mapping():
    """A sweep over omega: omega 0 (no scaling) and 0.5 in one tile batch."""
    torch.manual_seed(3)
    ref = nn.Linear(8, 5, bias=False)
    ana = pair(ref, sweep(exact_config(), "mapping.weight_scaling_omega", [0.0, 0.5]))
    s = ana.analog_tiles.scales
    assert torch.equal(s[0], torch.ones_like(s[0]))
    torch.testing.assert_close(s[1], torch.full_like(s[1], ref.weight.abs().max().item() / 0.5))
    w = tile_weights(ana)
    assert torch.equal(w[0], ref.weight.data)
    torch.testing.assert_close(w[1].abs().max(), torch.tensor(0.5))
    y = per_replica(ana(replicate(torch.rand(2, 8), 2)), 2)
    torch.testing.assert_close(y[0], y[1], **TOL)


def trained_scaled_model(seed):
    torch.manual_seed(0)
    cfg = aimc.TileConfig.preset("c-ttv2", "ReRamSB")
    cfg["mapping.weight_scaling_omega"] = 0.6
    cfg["algorithm.transfer_every"] = 1
    net = nn.Sequential(nn.Linear(10, 12), nn.Tanh(), nn.Linear(12, 3))
    return convert_to_analog(net, cfg, max_tile_size=8, seed=seed)


def train(model, n, seed):
    g = torch.Generator().manual_seed(seed)
    opt = AnalogSGD(model.parameters(), lr=0.05)
    for _ in range(n):
        x, labels = torch.rand(4, 10, generator=g), torch.randint(0, 3, (4,), generator=g)
        opt.zero_grad()
        out = model(x)
        nn.functional.cross_entropy(out, labels).backward()
        opt.step()
    return out.detach()


def test_alpha_travels_with_the_state_and_a_resumed_run_continues_bit_for_bit():
    a = trained_scaled_model(seed=5)
    train(a, 2, seed=1)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    assert "0.analog_scales" in a.state_dict()
    out_a = train(a, 3, seed=2)
    b = trained_scaled_model(seed=77)
    with torch.no_grad():  # other weights, so other alphas: all must come from the state
        b[0].set_weights(torch.randn(12, 10))
    buf.seek(0)
    b.load_state_dict(torch.load(buf))
    assert torch.equal(train(b, 3, seed=2), out_a)
    for m in (copy.deepcopy(a), pickle.loads(pickle.dumps(a))):
        assert torch.equal(m[0].analog_tiles.scales, a[0].analog_tiles.scales)
        assert torch.equal(m[0].weight, a[0].weight)


def test_scales_of_the_wrong_shape_are_refused():
    a = trained_scaled_model(seed=5)
    sd = a.state_dict()
    sd["0.analog_scales"] = torch.ones(3, 3)
    with pytest.raises(RuntimeError, match="analog_scales has shape"):
        a.load_state_dict(sd)


def test_bad_mapping_fields_are_refused_and_change_nothing():
    cfg = aimc.TileConfig()
    before = cfg.copy()
    with pytest.raises(ValueError, match=r"mapping.weight_scaling_omega = -1.0 is out of range"):
        cfg["mapping.weight_scaling_omega"] = -1.0
    with pytest.raises(ValueError, match=r"out of range"):
        cfg["mapping.weight_scaling_omega"] = float("nan")
    with pytest.raises(ValueError, match="give 0 or 1"):
        cfg["mapping.weight_scaling_columnwise"] = 0.5
    with pytest.raises(ValueError, match="unknown mapping field.*mapping.weight_scaling_omega"):
        cfg["mapping.max_input_size"] = 256
    assert cfg == before
    cfg["mapping.weight_scaling_omega"] = 0.6
    assert cfg != before and cfg.copy() == cfg
    assert cfg.to_dict()["mapping.weight_scaling_omega"] == 0.6
    assert cfg["mapping.weight_scaling_omega"] == 0.6
