"""AnalogLinear / AnalogConv2d against torch's layers (perfect IO, exact
updates), split layers against unsplit ones, and the pulsed step against the
same step through the C API."""
import ctypes

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import aimc  # noqa: E402
from aimc.torch import (AnalogConv2d, AnalogLinear, AnalogSGD, analog_layers,  # noqa: E402
                        convert_to_analog)
from conftest import exact_config  # noqa: E402

# Perfect reads and exact updates differ from torch's only in the order of
# float sums: relative differences of a few ulps of the largest term.
TOL = dict(rtol=1e-5, atol=1e-6)


def linear_pair(n_in, n_out, cfg, **kw):
    torch.manual_seed(0)
    ref = nn.Linear(n_in, n_out)
    ana = convert_to_analog(nn.Linear(n_in, n_out), cfg, **kw)
    ana.set_weights(ref.weight.data)
    with torch.no_grad():
        ana.bias.copy_(ref.bias)
    return ref, ana


def train_step(model, x, target, opt):
    opt.zero_grad()
    x = x.clone().requires_grad_(True)
    y = model(x)
    loss = ((y - target) ** 2).mean()
    loss.backward()
    opt.step()
    return y.detach(), x.grad.detach()


@pytest.mark.parametrize("max_tile_size", [512, 7])
def test_linear_equals_nn_linear(exact, max_tile_size):
    ref, ana = linear_pair(19, 13, exact, max_tile_size=max_tile_size)
    x = torch.randn(5, 19)
    t = torch.randn(5, 13)
    y_ref, g_ref = train_step(ref, x, t, torch.optim.SGD(ref.parameters(), lr=0.1))
    y_ana, g_ana = train_step(ana, x, t, AnalogSGD(ana.parameters(), lr=0.1))
    torch.testing.assert_close(y_ana, y_ref, **TOL)
    torch.testing.assert_close(g_ana, g_ref, **TOL)
    torch.testing.assert_close(ana.weight, ref.weight.data, **TOL)
    torch.testing.assert_close(ana.bias.data, ref.bias.data, **TOL)
    assert max_tile_size > 19 or ana.analog_tiles.n_tiles == 2 * 3


@pytest.mark.parametrize("max_tile_size", [512, 10])
def test_conv2d_equals_nn_conv2d(exact, max_tile_size):
    torch.manual_seed(1)
    ref = nn.Conv2d(3, 4, 3, stride=2, padding=1, dilation=1)
    ana = convert_to_analog(nn.Conv2d(3, 4, 3, stride=2, padding=1), exact,
                            max_tile_size=max_tile_size)
    ana.set_weights(ref.weight.data)
    with torch.no_grad():
        ana.bias.copy_(ref.bias)
    assert isinstance(ana, AnalogConv2d)
    x = torch.randn(2, 3, 9, 8)
    t = torch.randn(2, 4, 5, 4)
    y_ref, g_ref = train_step(ref, x, t, torch.optim.SGD(ref.parameters(), lr=0.05))
    y_ana, g_ana = train_step(ana, x, t, AnalogSGD(ana.parameters(), lr=0.05))
    torch.testing.assert_close(y_ana, y_ref, **TOL)
    torch.testing.assert_close(g_ana, g_ref, **TOL)
    torch.testing.assert_close(ana.weight, ref.weight.data, **TOL)


def test_split_layer_equals_unsplit_in_perfect_mode(exact):
    _, whole = linear_pair(40, 30, exact)
    _, split = linear_pair(40, 30, exact, max_tile_size=16)
    assert split.analog_tiles.n_tiles == 2 * 3 and whole.analog_tiles.n_tiles == 1
    x, t = torch.randn(8, 40), torch.randn(8, 30)
    for _ in range(3):
        y_w, g_w = train_step(whole, x, t, AnalogSGD(whole.parameters(), lr=0.1))
        y_s, g_s = train_step(split, x, t, AnalogSGD(split.parameters(), lr=0.1))
        torch.testing.assert_close(y_s, y_w, **TOL)
        torch.testing.assert_close(g_s, g_w, **TOL)
    torch.testing.assert_close(split.weight, whole.weight, **TOL)


def test_convert_replaces_every_linear_and_conv():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(),
                          nn.Sequential(nn.Linear(8, 4), nn.Tanh(), nn.Linear(4, 2, bias=False)))
    before = model(torch.ones(1, 1, 4, 4))
    # program=False: exact weights. The default programs them through the devices, as
    # aihwkit does, which clips weights beyond a device's drawn bound (the default
    # device's are 0.6 +- 30%, the Conv2d's initial weights up to 1/3).
    convert_to_analog(model, exact_config(), program=False)
    assert len(analog_layers(model)) == 3
    assert not any(type(m) in (nn.Linear, nn.Conv2d) for m in model.modules())
    torch.testing.assert_close(model(torch.ones(1, 1, 4, 4)), before, **TOL)


def pulsed_config():
    return aimc.TileConfig(device="GokmenVlasov", fields={"forward.out_noise": 0.1})


def test_pulsed_step_equals_the_c_api_bit_for_bit():
    """forward -> backward -> update -> decay through the layer, and the same
    calls made directly on a tile batch of the same config and seed."""
    torch.manual_seed(3)
    layer = AnalogLinear(6, 4, bias=False, config=pulsed_config(), seed=1234)
    w0 = torch.randn(4, 6) * 0.1
    layer.set_weights(w0)
    x = torch.rand(3, 6)
    d = torch.randn(3, 4)
    y = layer(x.requires_grad_(True))
    y.backward(d)
    AnalogSGD(layer.parameters(), lr=0.05).step()

    ctx = aimc.context()
    tiles = aimc.Tiles(ctx, 1, 4, 6, pulsed_config(), seed=1234)
    p = lambda t: ctypes.c_void_p(t.data_ptr())  # noqa: E731
    w = w0.clone()
    tiles.set_weights(p(w))
    xc = x.detach().clone()
    y_c, g_c = torch.empty(3, 4), torch.empty(3, 6)
    tiles.forward(p(xc), p(y_c), 3)
    tiles.backward(p(d), p(g_c), 3)
    tiles.set_learning_rate(0.05)
    tiles.update(p(xc), p(d), 3)
    tiles.decay()
    w_c = torch.empty(4, 6)
    tiles.get_weights(p(w_c))

    assert torch.equal(y.detach(), y_c)
    assert torch.equal(x.grad, g_c)
    assert torch.equal(layer.weight, w_c)
    assert not torch.equal(w_c, w0)  # the step did change the weights


def test_layer_without_input_gradient_still_updates():
    layer = AnalogLinear(5, 3, config=exact_config())
    w0 = layer.weight
    layer(torch.ones(2, 5)).sum().backward()
    AnalogSGD(layer.parameters(), lr=0.5).step()
    torch.testing.assert_close(layer.weight, w0 - 0.5 * 2 * torch.ones(3, 5), **TOL)


def test_input_on_another_device_is_refused():
    layer = AnalogLinear(3, 2)
    with pytest.raises(RuntimeError, match="move the model"):
        layer(torch.ones(1, 3, device="meta"))


def test_contiguous_tensors_are_passed_by_pointer():
    """Zero-copy: the library reads the input tensor's own storage and writes
    straight into the tensor the layer returns."""
    layer = AnalogLinear(5, 3, bias=False, config=exact_config())
    seen = []
    tiles = layer.analog_tiles.tiles
    real = tiles.forward
    tiles.forward = lambda x, y, b: (seen.append((x.value, y.value)), real(x, y, b))
    x = torch.rand(4, 5)
    y = layer(x)
    assert seen == [(x.data_ptr(), y.data_ptr())]
