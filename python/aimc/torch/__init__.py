"""PyTorch layers on aimc tile batches.

AnalogLinear and AnalogConv2d hold their weight on analog tiles of the C
library; forward runs aimc_tiles_forward, backward aimc_tiles_backward (via
torch.autograd.Function), and AnalogSGD.step() applies the pulsed update
with the inputs and errors the layer saw (aimc_tiles_update, which also runs
the algorithm's transfer schedule), then the per-mini-batch physics step
(aimc_tiles_decay), as aimc's own trainer does. Biases are digital
parameters updated by plain SGD. No physics is computed in Python: Python
only moves data (padding, im2col, summing partial outputs of split layers).
"""
import ctypes
import math
import weakref

import torch
import torch.nn.functional as F
from torch import nn

from .. import _lib
from ..config import TileConfig
from ..tiles import BACKEND_CPU, BACKEND_CUDA, Tiles, context, cuda_available

__all__ = ["AnalogLinear", "AnalogConv2d", "AnalogSGD", "convert_to_analog", "TileConfig",
           "analog_layers"]


def _block_sizes(n, g):
    """Even split of n into g blocks, the first n % g one larger (as the trainer)."""
    return [n // g + (1 if i < n % g else 0) for i in range(g)]


def _ptr(t):
    return ctypes.c_void_p(t.data_ptr())


def _context_for(device):
    device = torch.device(device)
    if device.type == "cpu":
        return context(BACKEND_CPU)
    if device.type == "cuda":
        if not cuda_available():
            raise RuntimeError("aimc: this libaimc was built without CUDA or sees no GPU")
        return context(BACKEND_CUDA, device.index if device.index is not None
                       else torch.cuda.current_device())
    raise RuntimeError(f"aimc: no backend for device {device}")


class TileGrid:
    """An out x in matrix on a grid of tiles of at most max_tile_size rows and
    columns (zero-padded to one tile shape, as aimc's networks split layers).
    Tile (i, j) of the grid is tile i * grid_cols + j of one tile batch."""

    def __init__(self, in_features, out_features, config, max_tile_size=512, seed=None,
                 device="cpu", tile_seeds=None, _tiles=None):
        self.in_features, self.out_features = in_features, out_features
        self.max_tile_size = max_tile_size
        self.grid_rows = math.ceil(out_features / max_tile_size)
        self.grid_cols = math.ceil(in_features / max_tile_size)
        self.row_sizes = _block_sizes(out_features, self.grid_rows)
        self.col_sizes = _block_sizes(in_features, self.grid_cols)
        self.tile_rows, self.tile_cols = self.row_sizes[0], self.col_sizes[0]
        self.n_tiles = self.grid_rows * self.grid_cols
        self.device = torch.device(device)
        self.ctx = _context_for(self.device)
        self.tiles = _tiles or Tiles(self.ctx, self.n_tiles, self.tile_rows, self.tile_cols,
                                     config, seed=seed, tile_seeds=tile_seeds)
        self.lr = None

    @property
    def split(self):
        return self.n_tiles > 1

    def _sync_stream(self):
        if self.device.type == "cuda":  # aimc's work queues on PyTorch's current stream
            self.ctx.set_cuda_stream(torch.cuda.current_stream(self.device).cuda_stream)

    # ---- data movement between a [B, n] matrix and [tiles][B][tile n] --------
    def _scatter(self, m, sizes, tile_n, along_cols):
        """[B, n] -> [T, B, tile_n]: block k of the features, zero-padded, to every
        tile of grid column k (along_cols) or grid row k."""
        B = m.shape[0]
        blocks = m.new_zeros(len(sizes), B, tile_n)
        for k, part in enumerate(torch.split(m, sizes, dim=1)):
            blocks[k, :, :part.shape[1]] = part
        if along_cols:  # tile (i, j) gets block j
            out = blocks.unsqueeze(0).expand(self.grid_rows, -1, -1, -1)
        else:           # tile (i, j) gets block i
            out = blocks.unsqueeze(1).expand(-1, self.grid_cols, -1, -1)
        return out.reshape(self.n_tiles, B, tile_n).contiguous()

    def _gather(self, t, sizes, sum_dim):
        """[T, B, tile_n] -> [B, n]: partial results summed digitally over the grid."""
        grid = t.view(self.grid_rows, self.grid_cols, t.shape[1], t.shape[2]).sum(dim=sum_dim)
        return torch.cat([grid[k, :, :s] for k, s in enumerate(sizes)], dim=1)

    def tile_inputs(self, x):
        if not self.split:
            return x.contiguous()  # zero-copy when already contiguous
        return self._scatter(x, self.col_sizes, self.tile_cols, along_cols=True)

    def tile_errors(self, d):
        if not self.split:
            return d.contiguous()
        return self._scatter(d, self.row_sizes, self.tile_rows, along_cols=False)

    def forward(self, x_tiles, batch):
        y = torch.empty((self.n_tiles, batch, self.tile_rows), dtype=torch.float32,
                        device=self.device)
        self._sync_stream()
        self.tiles.forward(_ptr(x_tiles), _ptr(y), batch)
        return y[0] if not self.split else self._gather(y, self.row_sizes, sum_dim=1)

    def backward(self, d_tiles, batch):
        g = torch.empty((self.n_tiles, batch, self.tile_cols), dtype=torch.float32,
                        device=self.device)
        self._sync_stream()
        self.tiles.backward(_ptr(d_tiles), _ptr(g), batch)
        return g[0] if not self.split else self._gather(g, self.col_sizes, sum_dim=0)

    def update(self, x_tiles, d_tiles, batch, lr):
        self._sync_stream()
        if lr != self.lr:
            self.tiles.set_learning_rate(lr)
            self.lr = lr
        self.tiles.update(_ptr(x_tiles), _ptr(d_tiles), batch)

    def decay(self):
        self._sync_stream()
        self.tiles.decay()

    # ---- weights ---------------------------------------------------------------
    def get_weights(self):
        w = torch.empty((self.n_tiles, self.tile_rows, self.tile_cols), dtype=torch.float32,
                        device=self.device)
        self._sync_stream()
        self.tiles.get_weights(_ptr(w))
        grid = w.view(self.grid_rows, self.grid_cols, self.tile_rows, self.tile_cols)
        rows = []
        for i, r in enumerate(self.row_sizes):
            rows.append(torch.cat([grid[i, j, :r, :c] for j, c in enumerate(self.col_sizes)], 1))
        return torch.cat(rows, 0)

    def set_weights(self, weight, program=False):
        weight = weight.detach().to(device=self.device, dtype=torch.float32)
        if tuple(weight.shape) != (self.out_features, self.in_features):
            raise ValueError(f"weight has shape {tuple(weight.shape)}, the layer "
                             f"({self.out_features}, {self.in_features})")
        w = weight.new_zeros((self.n_tiles, self.tile_rows, self.tile_cols))
        ro = 0
        for i, r in enumerate(self.row_sizes):
            co = 0
            for j, c in enumerate(self.col_sizes):
                w[i * self.grid_cols + j, :r, :c] = weight[ro:ro + r, co:co + c]
                co += c
            ro += r
        self._sync_stream()
        (self.tiles.program_weights if program else self.tiles.set_weights)(_ptr(w))

    # ---- state -----------------------------------------------------------------
    def state_bytes(self):
        self._sync_stream()
        return self.tiles.save_state()

    def moved_to(self, device, blob=None):
        """The same grid on another device (or rebuilt from a saved block)."""
        blob = self.state_bytes() if blob is None else blob
        ctx = _context_for(device)
        tiles = Tiles.load_state(ctx, blob)
        if (tiles.n_tiles, tiles.rows, tiles.cols) != (self.n_tiles, self.tile_rows,
                                                      self.tile_cols):
            raise ValueError(f"saved tiles are {tiles.n_tiles} x {tiles.rows} x {tiles.cols}, "
                             f"the layer needs {self.n_tiles} x {self.tile_rows} x "
                             f"{self.tile_cols}")
        return TileGrid(self.in_features, self.out_features, None, self.max_tile_size,
                        device=device, _tiles=tiles)


    # copy.deepcopy and pickling (torch.save of a whole model) go through the
    # state block: a C handle must never be shared by two grids.
    def __deepcopy__(self, memo):
        return self.moved_to(self.device)

    def __getstate__(self):
        return {"in": self.in_features, "out": self.out_features, "mts": self.max_tile_size,
                "device": str(self.device), "state": self.state_bytes()}

    def __setstate__(self, st):
        ctx = _context_for(st["device"])
        tiles = Tiles.load_state(ctx, st["state"])
        self.__init__(st["in"], st["out"], None, st["mts"], device=st["device"], _tiles=tiles)


class _AnalogMatmul(torch.autograd.Function):
    """y = W x on the tiles; the backward pass reads W^T d on the tiles and
    keeps (x, d) for the layer's pulsed update at the optimizer step."""

    @staticmethod
    def forward(ctx, x, token, layer):
        grid = layer.analog_tiles
        if x.device != grid.device:  # a pointer of another memory space would be read
            raise RuntimeError(f"aimc: input on {x.device}, the layer's tiles on {grid.device}; "
                               "move the model with .to(device)")
        x = x.to(torch.float32)
        x_tiles = grid.tile_inputs(x)
        y = grid.forward(x_tiles, x.shape[0])
        ctx.layer, ctx.x_tiles, ctx.batch = layer, x_tiles, x.shape[0]
        return y

    @staticmethod
    def backward(ctx, dy):
        layer, batch = ctx.layer, ctx.batch
        grid = layer.analog_tiles
        d_tiles = grid.tile_errors(dy.to(torch.float32))
        dx = grid.backward(d_tiles, batch) if ctx.needs_input_grad[0] else None
        layer._pending.append((ctx.x_tiles, d_tiles, batch))
        ctx.x_tiles = None
        return dx, torch.zeros_like(layer.analog_token), None


class _AnalogLayer(nn.Module):
    """What AnalogLinear and AnalogConv2d share: the tile grid, the token
    parameter through which the optimizer finds the layer, pending updates,
    the analog state in state_dict, and moves between devices."""

    def _init_analog(self, in_features, out_features, config, max_tile_size, seed, device):
        config = config if config is not None else TileConfig()
        self.analog_tiles = TileGrid(in_features, out_features, config, max_tile_size, seed,
                                     device or "cpu")
        # A one-element parameter that carries no value: its gradient marks the
        # layer for AnalogSGD, which applies the pulsed update instead.
        self.analog_token = nn.Parameter(torch.zeros(1, device=device))
        self.analog_token._aimc_layer = weakref.ref(self)
        self._pending = []

    @property
    def weight(self):
        """The visible weights [out, in] (a copy: they change only through the tiles)."""
        return self.analog_tiles.get_weights()

    def set_weights(self, weight, program=False):
        """Sets the weights exactly (program=True: programs them through the devices)."""
        self.analog_tiles.set_weights(weight.reshape(self.analog_tiles.out_features, -1), program)

    def analog_step(self, lr):
        """The pulsed update with every (x, d) seen since the last step, in
        order, then the per-mini-batch decay/diffusion step."""
        for x_tiles, d_tiles, batch in self._pending:
            self.analog_tiles.update(x_tiles, d_tiles, batch, lr)
        if self._pending:
            self.analog_tiles.decay()
        self._pending = []

    def _matmul(self, x2d):
        # (Re)linked on every call: copies of a model (deepcopy) share the
        # weakref object otherwise, and the optimizer would step the original.
        self.analog_token._aimc_layer = weakref.ref(self)
        return _AnalogMatmul.apply(x2d, self.analog_token, self)

    # ---- state_dict: the whole tile-batch state as bytes -------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        blob = self.analog_tiles.state_bytes()
        destination[prefix + "analog_state"] = torch.frombuffer(bytearray(blob),
                                                                dtype=torch.uint8)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        key = prefix + "analog_state"
        if key in state_dict:
            blob = state_dict[key].cpu().contiguous().numpy().tobytes()
            try:
                self.analog_tiles = self.analog_tiles.moved_to(self.analog_tiles.device, blob)
                self._pending = []
            except (_lib.AimcError, ValueError) as err:
                error_msgs.append(f"{key}: {err}")
        elif strict:
            missing_keys.append(key)
        rest = {k: v for k, v in state_dict.items() if k != key}
        super()._load_from_state_dict(rest, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        device = self.analog_token.device
        if device != self.analog_tiles.device:  # .to(), .cuda(), .cpu(): move the tiles
            self.analog_tiles = self.analog_tiles.moved_to(device)
            self._pending = []
        self.analog_token._aimc_layer = weakref.ref(self)
        return out


class AnalogLinear(_AnalogLayer):
    """nn.Linear with its weight on analog tiles (aihwkit's AnalogLinear)."""

    def __init__(self, in_features, out_features, bias=True, config=None, max_tile_size=512,
                 seed=None, device=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._init_analog(in_features, out_features, config, max_tile_size, seed, device)
        self.bias = nn.Parameter(torch.empty(out_features, device=device)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        ref = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        self.set_weights(ref.weight.data)
        if self.bias is not None:
            with torch.no_grad():
                self.bias.copy_(ref.bias.data)

    def forward(self, x):
        shape = x.shape
        y = self._matmul(x.reshape(-1, self.in_features))
        y = y.reshape(*shape[:-1], self.out_features)
        return y + self.bias if self.bias is not None else y

    def extra_repr(self):
        g = self.analog_tiles
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, tiles={g.grid_rows}x{g.grid_cols}")


class AnalogConv2d(_AnalogLayer):
    """nn.Conv2d with its weight on analog tiles: the input is unfolded
    (im2col) and every output position is one analog read of the
    out_channels x (in_channels*kh*kw) matrix, as aihwkit maps convolutions."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, config=None, max_tile_size=512, seed=None, device=None):
        super().__init__()
        pair = nn.modules.utils._pair
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = pair(kernel_size), pair(stride)
        self.padding, self.dilation = pair(padding), pair(dilation)
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        self._init_analog(fan_in, out_channels, config, max_tile_size, seed, device)
        self.bias = nn.Parameter(torch.empty(out_channels, device=device)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        ref = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size,
                        bias=self.bias is not None)
        self.set_weights(ref.weight.data)
        if self.bias is not None:
            with torch.no_grad():
                self.bias.copy_(ref.bias.data)

    @property
    def weight(self):
        return self.analog_tiles.get_weights().reshape(self.out_channels, self.in_channels,
                                                       *self.kernel_size)

    def forward(self, x):
        n, _, h, w = x.shape
        cols = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)
        ho = (h + 2 * self.padding[0] - self.dilation[0] * (self.kernel_size[0] - 1) - 1) \
            // self.stride[0] + 1
        wo = (w + 2 * self.padding[1] - self.dilation[1] * (self.kernel_size[1] - 1) - 1) \
            // self.stride[1] + 1
        x2d = cols.transpose(1, 2).reshape(n * ho * wo, -1)
        y = self._matmul(x2d).reshape(n, ho * wo, self.out_channels).transpose(1, 2)
        y = y.reshape(n, self.out_channels, ho, wo)
        return y + self.bias.view(1, -1, 1, 1) if self.bias is not None else y

    def extra_repr(self):
        g = self.analog_tiles
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, tiles={g.grid_rows}x"
                f"{g.grid_cols}")


def analog_layers(module):
    return [m for m in module.modules() if isinstance(m, _AnalogLayer)]


def convert_to_analog(module, config=None, max_tile_size=512, seed=None):
    """Replaces every nn.Linear and nn.Conv2d of module (in place) by its
    analog twin with the same weights and biases; returns module. seed: the
    k-th converted layer gets seed + k (None: from the context's seed)."""
    counter = [0]

    def twin(m):
        s = None if seed is None else seed + counter[0]
        counter[0] += 1
        dev = next(m.parameters()).device
        if isinstance(m, nn.Linear):
            a = AnalogLinear(m.in_features, m.out_features, m.bias is not None, config,
                             max_tile_size, s, dev)
        else:
            if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise ValueError(f"convert_to_analog: {m} has groups, padding mode or string "
                                 "padding that AnalogConv2d does not map")
            a = AnalogConv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride,
                             m.padding, m.dilation, m.bias is not None, config, max_tile_size,
                             s, dev)
        a.set_weights(m.weight.data)
        if m.bias is not None:
            with torch.no_grad():
                a.bias.copy_(m.bias.data)
        return a

    def walk(parent):
        for name, child in parent.named_children():
            if type(child) in (nn.Linear, nn.Conv2d):
                setattr(parent, name, twin(child))
            else:
                walk(child)

    if type(module) in (nn.Linear, nn.Conv2d):
        return twin(module)
    walk(module)
    return module


class AnalogSGD(torch.optim.SGD):
    """SGD whose step applies, for every analog layer among the parameters,
    the pulsed update on its tiles (learning rate: the group's lr) and plain
    SGD (with the usual options) to every other parameter, such as biases."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                ref = getattr(p, "_aimc_layer", None)
                layer = ref() if ref is not None else None
                if layer is not None:
                    layer.analog_step(float(group["lr"]))
                    p.grad = None  # the token carries no value for SGD to change
        super().step()
        return loss
