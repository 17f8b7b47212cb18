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
from torch.utils.weak import WeakIdKeyDictionary

from .. import _lib
from ..config import MAPPING_FIELDS, TileConfig
from ..tiles import BACKEND_CPU, BACKEND_CUDA, Tiles, context, cuda_available

__all__ = ["AnalogLinear", "AnalogConv2d", "AnalogSGD", "convert_to_analog", "TileConfig",
           "analog_layers", "sweep", "replicate", "per_replica"]


# analog_token -> weakref to its layer (see _AnalogLayer._link_token)
_TOKEN_LAYERS = WeakIdKeyDictionary()


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
    columns (zero-padded to one tile shape, as aimc's networks split layers),
    for each of `replicas` replicas, all in one tile batch: tile (i, j) of
    replica r is tile r * grid + i * grid_cols + j, as in aimc's networks.
    Data goes in and out as [replicas, batch, features]."""

    def __init__(self, in_features, out_features, configs, max_tile_size=512, seed=None,
                 device="cpu", tile_seeds=None, replicas=1, _tiles=None, mappings=None):
        self.in_features, self.out_features = in_features, out_features
        self.max_tile_size = max_tile_size
        self.grid_rows = math.ceil(out_features / max_tile_size)
        self.grid_cols = math.ceil(in_features / max_tile_size)
        self.row_sizes = _block_sizes(out_features, self.grid_rows)
        self.col_sizes = _block_sizes(in_features, self.grid_cols)
        self.tile_rows, self.tile_cols = self.row_sizes[0], self.col_sizes[0]
        self.grid = self.grid_rows * self.grid_cols
        if isinstance(configs, (list, tuple)):
            replicas = len(configs)
            mappings = [dict(c.mapping) for c in configs]
            configs = [c for c in configs for _ in range(self.grid)]
        elif configs is not None:
            mappings = [dict(configs.mapping)] * replicas
        self.replicas = replicas
        # aihwkit's weight scaling (mapping.weight_scaling_omega > 0): every tile
        # holds W / alpha and its outputs are multiplied by alpha in digital
        # (one alpha per tile, or per tile row when columnwise); None: no scaling.
        self.mappings = mappings or [dict(MAPPING_FIELDS)] * replicas
        self.scales = self.lr_scales = None
        self.n_tiles = replicas * self.grid
        self.device = torch.device(device)
        self.ctx = _context_for(self.device)
        self.tiles = _tiles or Tiles(self.ctx, self.n_tiles, self.tile_rows, self.tile_cols,
                                     configs, seed=seed, tile_seeds=tile_seeds)
        self.lr = None

    @property
    def split(self):
        return self.grid > 1

    def _sync_stream(self):
        if self.device.type == "cuda":  # aimc's work queues on PyTorch's current stream
            self.ctx.set_cuda_stream(torch.cuda.current_stream(self.device).cuda_stream)

    # ---- data movement between [R, B, n] and [tiles][B][tile n] ---------------
    def _scatter(self, m, sizes, tile_n, along_cols):
        """[R, B, n] -> [T, B, tile_n]: block k of the features, zero-padded, to
        every tile of grid column k (along_cols) or grid row k of its replica."""
        R, B = m.shape[0], m.shape[1]
        blocks = m.new_zeros(R, len(sizes), B, tile_n)
        for k, part in enumerate(torch.split(m, sizes, dim=2)):
            blocks[:, k, :, :part.shape[2]] = part
        if along_cols:  # tile (i, j) gets block j
            out = blocks.unsqueeze(1).expand(-1, self.grid_rows, -1, -1, -1)
        else:           # tile (i, j) gets block i
            out = blocks.unsqueeze(2).expand(-1, -1, self.grid_cols, -1, -1)
        return out.reshape(self.n_tiles, B, tile_n).contiguous()

    def _gather(self, t, sizes, sum_dim):
        """[T, B, tile_n] -> [R, B, n]: partial results summed digitally over the grid."""
        grid = t.view(self.replicas, self.grid_rows, self.grid_cols, t.shape[1], t.shape[2])
        # element-wise adds in grid order (as aimc's networks sum): the same bits on
        # every device, where a reduction kernel may sum in another order
        parts = grid.unbind(dim=sum_dim)
        grid = parts[0]
        for part in parts[1:]:
            grid = grid + part
        return torch.cat([grid[:, k, :, :s] for k, s in enumerate(sizes)], dim=2)

    def tile_inputs(self, x):
        if not self.split:
            return x.contiguous()  # [R][B][cols] already: zero-copy when contiguous
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
        if self.scales is not None:  # alpha (W / alpha) x, as aihwkit's post_forward
            y = y * self.scales.unsqueeze(1)
        return y if not self.split else self._gather(y, self.row_sizes, sum_dim=2)

    def backward(self, d_tiles, batch):
        g = torch.empty((self.n_tiles, batch, self.tile_cols), dtype=torch.float32,
                        device=self.device)
        if self.scales is not None:  # (W / alpha)^T (alpha d), as aihwkit's pre_backward
            d_tiles = (d_tiles * self.scales.unsqueeze(1)).contiguous()
        self._sync_stream()
        self.tiles.backward(_ptr(d_tiles), _ptr(g), batch)
        return g if not self.split else self._gather(g, self.col_sizes, sum_dim=1)

    def update(self, x_tiles, d_tiles, batch, lr):
        if self.scales is not None:
            # d / alpha: the tile (weights W / alpha) then changes by what plain
            # SGD would change W by, divided by alpha (aihwkit's pre_update);
            # lr compensation divides by alpha / mean(alpha) instead.
            d_tiles = (d_tiles / (self.scales * self.lr_scales).unsqueeze(1)).contiguous()
        self._sync_stream()
        if lr != self.lr:
            self.tiles.set_learning_rate(lr)
            self.lr = lr
        self.tiles.update(_ptr(x_tiles), _ptr(d_tiles), batch)

    def decay(self):
        self._sync_stream()
        self.tiles.decay()

    # ---- weights: [R, out, in] ---------------------------------------------------
    def get_weights(self):
        w = torch.empty((self.n_tiles, self.tile_rows, self.tile_cols), dtype=torch.float32,
                        device=self.device)
        self._sync_stream()
        self.tiles.get_weights(_ptr(w))
        if self.scales is not None:
            w = w * self.scales.unsqueeze(2)
        g = w.view(self.replicas, self.grid_rows, self.grid_cols, self.tile_rows, self.tile_cols)
        rows = [torch.cat([g[:, i, j, :r, :c] for j, c in enumerate(self.col_sizes)], 2)
                for i, r in enumerate(self.row_sizes)]
        return torch.cat(rows, 1)

    def set_weights(self, weight, program=False):
        """weight [out, in] (every replica) or [R, out, in]."""
        weight = weight.detach().to(device=self.device, dtype=torch.float32)
        if weight.dim() == 2:
            weight = weight.unsqueeze(0).expand(self.replicas, -1, -1)
        if tuple(weight.shape) != (self.replicas, self.out_features, self.in_features):
            raise ValueError(f"weight has shape {tuple(weight.shape)}, the layer "
                             f"({self.replicas}, {self.out_features}, {self.in_features})")
        w = weight.new_zeros((self.replicas, self.grid_rows, self.grid_cols, self.tile_rows,
                              self.tile_cols))
        ro = 0
        for i, r in enumerate(self.row_sizes):
            co = 0
            for j, c in enumerate(self.col_sizes):
                w[:, i, j, :r, :c] = weight[:, ro:ro + r, co:co + c]
                co += c
            ro += r
        w = w.view(self.n_tiles, self.tile_rows, self.tile_cols)
        self._set_scales(self._weight_scales(w))
        if self.scales is not None:
            w = (w / self.scales.unsqueeze(2)).contiguous()
        self._sync_stream()
        (self.tiles.program_weights if program else self.tiles.set_weights)(_ptr(w))

    # ---- weight scaling (aihwkit's apply_weight_scaling, per tile) -------------
    def _weight_scales(self, w):
        """alpha of every tile row ([T, tile_rows]) for the weights w [T, rows,
        cols] that are about to be set: max|W| / omega over the tile (or over
        each row, columnwise), 1 where a replica does not scale or the max is 0;
        None when no replica scales."""
        if not any(m["weight_scaling_omega"] > 0 for m in self.mappings):
            return None
        alpha = torch.ones((self.n_tiles, self.tile_rows), dtype=torch.float32,
                           device=self.device)
        for r, m in enumerate(self.mappings):
            omega = m["weight_scaling_omega"]
            if omega <= 0:
                continue
            part = w[r * self.grid:(r + 1) * self.grid].abs()  # padding is 0: no effect
            if m["weight_scaling_columnwise"]:
                a = part.amax(dim=2) / omega
            else:
                a = (part.amax(dim=(1, 2)) / omega).unsqueeze(1).expand(-1, self.tile_rows)
            alpha[r * self.grid:(r + 1) * self.grid] = torch.where(a == 0, 1.0, a)
        return alpha

    def _set_scales(self, scales):
        """Keeps alpha and the per-tile learning-rate compensation derived from it
        (1 / mean alpha over the tile's real rows where the mapping asks for it)."""
        self.scales = None if scales is None else scales.to(self.device, torch.float32)
        if self.scales is None:
            self.lr_scales = None
            return
        lr = torch.ones((self.n_tiles, 1), dtype=torch.float32, device=self.device)
        for t in range(self.n_tiles):
            if self.mappings[t // self.grid]["weight_scaling_lr_compensation"]:
                rows = self.row_sizes[(t % self.grid) // self.grid_cols]
                lr[t, 0] = 1.0 / self.scales[t, :rows].mean()
        self.lr_scales = lr

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
        grid = TileGrid(self.in_features, self.out_features, None, self.max_tile_size,
                        device=device, replicas=self.replicas, _tiles=tiles,
                        mappings=self.mappings)
        grid._set_scales(self.scales)
        return grid

    # copy.deepcopy and pickling (torch.save of a whole model) go through the
    # state block: a C handle must never be shared by two grids.
    def __deepcopy__(self, memo):
        return self.moved_to(self.device)

    def __getstate__(self):
        return {"in": self.in_features, "out": self.out_features, "mts": self.max_tile_size,
                "replicas": self.replicas, "device": str(self.device),
                "state": self.state_bytes(), "mappings": self.mappings,
                "scales": None if self.scales is None else self.scales.cpu()}

    def __setstate__(self, st):
        ctx = _context_for(st["device"])
        tiles = Tiles.load_state(ctx, st["state"])
        self.__init__(st["in"], st["out"], None, st["mts"], device=st["device"],
                      replicas=st["replicas"], _tiles=tiles, mappings=st.get("mappings"))
        self._set_scales(st.get("scales"))


class _AnalogMatmul(torch.autograd.Function):
    """y = W x on the tiles; the backward pass reads W^T d on the tiles and
    keeps (x, d) for the layer's pulsed update at the optimizer step. x is
    [replicas, batch, in], the result [replicas, batch, out]."""

    @staticmethod
    def forward(ctx, x, token, layer):
        grid = layer.analog_tiles
        if x.device != grid.device:  # a pointer of another memory space would be read
            raise RuntimeError(f"aimc: input on {x.device}, the layer's tiles on {grid.device}; "
                               "move the model with .to(device)")
        x = x.to(torch.float32)
        x_tiles = grid.tile_inputs(x)
        y = grid.forward(x_tiles, x.shape[1])
        ctx.layer, ctx.x_tiles, ctx.batch = layer, x_tiles, x.shape[1]
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

    def _init_analog(self, in_features, out_features, config, max_tile_size, seed, device,
                     paired):
        config = config if config is not None else TileConfig()
        self.replicas = len(config) if isinstance(config, (list, tuple)) else 1
        grid = math.ceil(out_features / max_tile_size) * math.ceil(in_features / max_tile_size)
        tile_seeds = None
        if paired and self.replicas > 1:  # the same device draws in every replica
            if seed is None:
                raise ValueError("paired replicas need a seed")
            tile_seeds = [(seed << 24) + g for _ in range(self.replicas) for g in range(grid)]
        self.analog_tiles = TileGrid(in_features, out_features, config, max_tile_size, seed,
                                     device or "cpu", tile_seeds=tile_seeds)
        # A one-element parameter that carries no value: its gradient marks the
        # layer for AnalogSGD, which applies the pulsed update instead.
        self.analog_token = nn.Parameter(torch.zeros(1, device=device))
        self._link_token()
        self._pending = []

    def _link_token(self):
        """token -> this layer, for AnalogSGD. Kept in a table weak on both sides
        rather than as an attribute of the parameter, which pickling a whole
        model (torch.save(model)) would have to carry."""
        _TOKEN_LAYERS[self.analog_token] = weakref.ref(self)

    def _weight_shape(self):
        return (self.analog_tiles.out_features, self.analog_tiles.in_features)

    @property
    def weight(self):
        """The visible weights (a copy: they change only through the tiles), with
        a leading replica dimension when the layer has replicas."""
        w = self.analog_tiles.get_weights()
        shape = self._weight_shape()
        return w.reshape(shape) if self.replicas == 1 else w.reshape(self.replicas, *shape)

    def set_weights(self, weight, program=False):
        """Sets the weights exactly (program=True: programs them through the
        devices); the same for every replica unless weight has a replica dimension."""
        out, n_in = self.analog_tiles.out_features, self.analog_tiles.in_features
        if self.replicas > 1 and weight.dim() > 1 and weight.numel() == self.replicas * out * n_in \
                and weight.shape[0] == self.replicas:
            weight = weight.reshape(self.replicas, out, n_in)
        else:
            weight = weight.reshape(out, n_in)
        self.analog_tiles.set_weights(weight, program)

    def _init_bias(self, ref_bias):
        with torch.no_grad():
            self.bias.copy_(ref_bias.detach().expand_as(self.bias))

    def _by_replica(self, x):
        """[replicas * n, ...] -> [replicas, n * ..., features] view of the input."""
        if x.shape[0] % self.replicas:
            raise ValueError(f"aimc: a batch of {x.shape[0]} is not a multiple of the "
                             f"layer's {self.replicas} replicas")
        return x.reshape(self.replicas, -1, x.shape[-1])

    def analog_step(self, lr):
        """The pulsed update with every (x, d) seen since the last step, in
        order, then the per-mini-batch decay/diffusion step."""
        for x_tiles, d_tiles, batch in self._pending:
            self.analog_tiles.update(x_tiles, d_tiles, batch, lr)
        if self._pending:
            self.analog_tiles.decay()
        self._pending = []

    def _matmul(self, x2d):
        # (Re)linked on every call: copies of a model (deepcopy, unpickled) have
        # new tokens, which must lead the optimizer to the copy, not the original.
        self._link_token()
        return _AnalogMatmul.apply(x2d, self.analog_token, self)

    # ---- state_dict: the whole tile-batch state as bytes -------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        blob = self.analog_tiles.state_bytes()
        destination[prefix + "analog_state"] = torch.frombuffer(bytearray(blob),
                                                                dtype=torch.uint8)
        if self.analog_tiles.scales is not None:  # weight scaling's alpha per tile row
            destination[prefix + "analog_scales"] = self.analog_tiles.scales.detach().clone()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        key, scales_key = prefix + "analog_state", prefix + "analog_scales"
        if key in state_dict:
            blob = state_dict[key].cpu().contiguous().numpy().tobytes()
            scales = state_dict.get(scales_key)  # absent: saved without weight scaling
            try:
                grid = self.analog_tiles.moved_to(self.analog_tiles.device, blob)
                want = (grid.n_tiles, grid.tile_rows)
                if scales is not None and tuple(scales.shape) != want:
                    raise ValueError(f"{scales_key} has shape {tuple(scales.shape)}, the "
                                     f"layer needs {want}")
                grid._set_scales(scales)
                self.analog_tiles = grid
                self._pending = []
            except (_lib.AimcError, ValueError) as err:
                error_msgs.append(f"{key}: {err}")
        elif strict:
            missing_keys.append(key)
        rest = {k: v for k, v in state_dict.items() if k not in (key, scales_key)}
        super()._load_from_state_dict(rest, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        device = self.analog_token.device
        if device != self.analog_tiles.device:  # .to(), .cuda(), .cpu(): move the tiles
            self.analog_tiles = self.analog_tiles.moved_to(device)
            self._pending = []
        self._link_token()
        return out


class AnalogLinear(_AnalogLayer):
    """nn.Linear with its weight on analog tiles (aihwkit's AnalogLinear)."""

    def __init__(self, in_features, out_features, bias=True, config=None, max_tile_size=512,
                 seed=None, device=None, paired=False):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._init_analog(in_features, out_features, config, max_tile_size, seed, device, paired)
        shape = (out_features,) if self.replicas == 1 else (self.replicas, out_features)
        self.bias = nn.Parameter(torch.empty(shape, device=device)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        ref = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        self.set_weights(ref.weight.data)
        if self.bias is not None:
            self._init_bias(ref.bias)

    def forward(self, x):
        shape = x.shape
        y = self._matmul(self._by_replica(x))  # [R, n, out]
        if self.bias is not None:
            y = y + (self.bias if self.replicas == 1 else self.bias.unsqueeze(1))
        return y.reshape(*shape[:-1], self.out_features)

    def extra_repr(self):
        g = self.analog_tiles
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, tiles={g.grid_rows}x{g.grid_cols}, "
                f"replicas={self.replicas}")


class AnalogConv2d(_AnalogLayer):
    """nn.Conv2d with its weight on analog tiles: the input is unfolded
    (im2col) and every output position is one analog read of the
    out_channels x (in_channels*kh*kw) matrix, as aihwkit maps convolutions."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, config=None, max_tile_size=512, seed=None, device=None, paired=False):
        super().__init__()
        pair = nn.modules.utils._pair
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = pair(kernel_size), pair(stride)
        self.padding, self.dilation = pair(padding), pair(dilation)
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        self._init_analog(fan_in, out_channels, config, max_tile_size, seed, device, paired)
        shape = (out_channels,) if self.replicas == 1 else (self.replicas, out_channels)
        self.bias = nn.Parameter(torch.empty(shape, device=device)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        ref = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size,
                        bias=self.bias is not None)
        self.set_weights(ref.weight.data)
        if self.bias is not None:
            self._init_bias(ref.bias)

    def _weight_shape(self):
        return (self.out_channels, self.in_channels, *self.kernel_size)

    def forward(self, x):
        n, _, h, w = x.shape
        cols = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)
        ho = (h + 2 * self.padding[0] - self.dilation[0] * (self.kernel_size[0] - 1) - 1) \
            // self.stride[0] + 1
        wo = (w + 2 * self.padding[1] - self.dilation[1] * (self.kernel_size[1] - 1) - 1) \
            // self.stride[1] + 1
        rows = cols.transpose(1, 2)  # [n, positions, in_channels*kh*kw]: one read each
        y = self._matmul(self._by_replica(rows))  # [R, n/R * positions, out]
        y = y.reshape(n, ho * wo, self.out_channels).transpose(1, 2)
        y = y.reshape(n, self.out_channels, ho, wo)
        if self.bias is None:
            return y
        if self.replicas == 1:
            return y + self.bias.view(1, -1, 1, 1)
        y = y.view(self.replicas, -1, self.out_channels, ho, wo)
        return (y + self.bias.view(self.replicas, 1, -1, 1, 1)).view(n, self.out_channels, ho, wo)

    def extra_repr(self):
        g = self.analog_tiles
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, tiles={g.grid_rows}x"
                f"{g.grid_cols}")


def analog_layers(module):
    return [m for m in module.modules() if isinstance(m, _AnalogLayer)]


def convert_to_analog(module, config=None, max_tile_size=512, seed=None, paired=False,
                      program=True):
    """Replaces every nn.Linear and nn.Conv2d of module (in place) by its
    analog twin with the same weights and biases; returns module. seed: the
    k-th converted layer gets seed + k (None: from the context's seed).
    config may be a list of configurations: replicas (see sweep()).
    program=True writes the weights through the devices, as aihwkit's
    convert_to_analog does (its set_weights): clipped to each device's bounds,
    with fresh write noise where the device has apply_write_noise_on_set;
    program=False sets the visible weights exactly."""
    counter = [0]

    def twin(m):
        s = None if seed is None else seed + counter[0]
        counter[0] += 1
        dev = next(m.parameters()).device
        if isinstance(m, nn.Linear):
            a = AnalogLinear(m.in_features, m.out_features, m.bias is not None, config,
                             max_tile_size, s, dev, paired)
        else:
            if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise ValueError(f"convert_to_analog: {m} has groups, padding mode or string "
                                 "padding that AnalogConv2d does not map")
            a = AnalogConv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride,
                             m.padding, m.dilation, m.bias is not None, config, max_tile_size,
                             s, dev, paired)
        a.set_weights(m.weight.data, program=program)
        if m.bias is not None:
            a._init_bias(m.bias)
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


def sweep(config, field, values):
    """Replica configurations: copies of config with field set to each value
    (one list entry per replica; pass the list as a layer's config)."""
    out = []
    for v in values:
        c = config.copy()
        c[field] = v
        out.append(c)
    return out


def replicate(x, replicas):
    """The input of a model with replicas: every replica gets the same batch,
    stacked along the batch dimension ([replicas * n, ...])."""
    return x.repeat(replicas, *([1] * (x.dim() - 1)))


def per_replica(y, replicas):
    """[replicas * n, ...] -> [replicas, n, ...]."""
    return y.reshape(replicas, -1, *y.shape[1:])


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
                ref = _TOKEN_LAYERS.get(p)
                layer = ref() if ref is not None else None
                if layer is not None:
                    layer.analog_step(float(group["lr"]))
                    p.grad = None  # the token carries no value for SGD to change
        super().step()
        return loss
