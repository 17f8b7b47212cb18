"""state_dict carries every bit of analog state: a resumed run continues bit
for bit."""
import copy
import io

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import aimc  # noqa: E402
from aimc.torch import AnalogSGD, convert_to_analog  # noqa: E402


def model_with(cfg, seed):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    return convert_to_analog(net, cfg, max_tile_size=16, seed=seed)


def steps(model, n, seed):
    g = torch.Generator().manual_seed(seed)
    opt = AnalogSGD(model.parameters(), lr=0.05)
    out = None
    for _ in range(n):
        x = torch.rand(4, 1, 6, 6, generator=g)
        labels = torch.randint(0, 5, (4,), generator=g)
        opt.zero_grad()
        out = model(x)
        nn.functional.cross_entropy(out, labels).backward()
        opt.step()
    return out.detach()


@pytest.mark.parametrize("algorithm", ["sgd", "agad", "c-ttv2"])
def test_resumed_run_continues_bit_for_bit(algorithm):
    cfg = aimc.TileConfig.preset(algorithm, "ReRamSB")
    cfg["algorithm.transfer_every"] = 1 if algorithm != "sgd" else cfg["algorithm.transfer_every"]
    a = model_with(cfg, seed=7)
    steps(a, 3, seed=1)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    out_a = steps(a, 3, seed=2)

    b = model_with(cfg, seed=99)  # other device draws: all must come from the state
    buf.seek(0)
    b.load_state_dict(torch.load(buf))
    out_b = steps(b, 3, seed=2)
    assert torch.equal(out_a, out_b)
    for la, lb in zip(a.modules(), b.modules()):
        if hasattr(la, "analog_tiles"):
            assert torch.equal(la.weight, lb.weight)
            assert la.analog_tiles.state_bytes() == lb.analog_tiles.state_bytes()


def test_corrupt_state_is_refused_with_the_library_message():
    m = model_with(aimc.TileConfig(), seed=1)
    sd = m.state_dict()
    key = "0.analog_state"
    sd[key] = sd[key].clone()
    sd[key][-1] ^= 0xFF
    w = m[0].weight
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        m.load_state_dict(sd)
    assert torch.equal(m[0].weight, w)
    sd[key] = sd[key][:10]
    with pytest.raises(RuntimeError, match="shorter than its header"):
        m.load_state_dict(sd)


def test_deepcopy_is_independent():
    m = model_with(aimc.TileConfig(), seed=3)
    c = copy.deepcopy(m)
    assert torch.equal(c[3].weight, m[3].weight)
    steps(c, 1, seed=5)
    assert not torch.equal(c[3].weight, m[3].weight)


def test_whole_model_saved_with_torch_save_trains_on_bit_for_bit():
    """torch.save(model) pickles the layers (their tiles through the state
    block); the loaded copy and the original continue alike, independently."""
    m = model_with(aimc.TileConfig.preset("agad", "ReRamSB"), seed=4)
    steps(m, 2, seed=1)
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    c = torch.load(buf, weights_only=False)
    assert torch.equal(steps(c, 2, seed=6), steps(m, 2, seed=6))
    assert torch.equal(c[3].weight, m[3].weight)
    steps(c, 1, seed=7)  # the copy's optimizer steps the copy only
    assert c[3].analog_tiles.state_bytes() != m[3].analog_tiles.state_bytes()


cuda = pytest.mark.skipif(not (torch.cuda.is_available() and aimc.cuda_available()),
                          reason="needs a GPU and a libaimc built with CUDA")


@cuda
def test_cuda_layer_equals_cpu_layer_bit_for_bit():
    """The backends agree bit for bit (the library's promise): the same layer,
    moved to the GPU, given the same x and d. It runs on PyTorch's current
    stream with CUDA tensors passed by pointer."""
    from aimc.torch import AnalogLinear
    cfg = aimc.TileConfig.preset("agad", "ReRamSB")
    cfg["algorithm.transfer_every"] = 1
    cpu = AnalogLinear(10, 6, bias=False, config=cfg, max_tile_size=4, seed=11)
    gpu = copy.deepcopy(cpu).cuda()
    assert gpu.analog_tiles.device.type == "cuda"
    g = torch.Generator().manual_seed(4)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        for _ in range(3):
            x, d = torch.rand(5, 10, generator=g), torch.randn(5, 6, generator=g)
            xg = x.cuda().requires_grad_(True)
            xc = x.clone().requires_grad_(True)
            yc, yg = cpu(xc), gpu(xg)
            yc.backward(d)
            yg.backward(d.cuda())
            AnalogSGD(cpu.parameters(), lr=0.05).step()
            AnalogSGD(gpu.parameters(), lr=0.05).step()
            assert torch.equal(yg.detach().cpu(), yc.detach())
            assert torch.equal(xg.grad.cpu(), xc.grad)
    torch.cuda.synchronize()
    assert torch.equal(gpu.weight.cpu(), cpu.weight)
    assert gpu.analog_tiles.ctx._stream == stream.cuda_stream
    back = copy.deepcopy(gpu).cpu()
    assert back.analog_tiles.state_bytes() == cpu.analog_tiles.state_bytes()


def test_block_with_a_valid_checksum_but_bad_content_is_refused():
    """The checksum only catches accidents: the content is checked too. Here
    a configuration value the library refuses, with the checksum redone."""
    import struct
    import zlib
    layer = model_with(aimc.TileConfig(), seed=2)[3]
    blob = bytearray(layer.analog_tiles.state_bytes())
    # where device.dw_min sits in a config: the byte that changes when it is set
    a, b = aimc.TileConfig(), aimc.TileConfig()
    b["device.dw_min"] = 0.5
    off = next(i for i, (x, y) in enumerate(zip(bytes(a._c), bytes(b._c))) if x != y) & ~3
    header, record = 48, 96  # tiles_block_header_t, tiles_record_t
    struct.pack_into("<f", blob, header + record + off, -1.0)
    struct.pack_into("<I", blob, 36, zlib.crc32(bytes(blob[header:])))
    with pytest.raises(aimc.AimcError, match="tile state block: .*dw_min"):
        aimc.Tiles.load_state(aimc.context(), bytes(blob))
