"""Tile configurations by name: every aimc_tile_config_t field through
aimc_tile_config_set/get ("device.dw_min", "forward.out_noise", ...), the
library's device, IO and algorithm presets by name, and the layer mapping
("mapping.weight_scaling_omega", ...) that aimc.torch applies around the tiles."""
import ctypes
import re

from . import _lib

ALGORITHMS = {"sgd": 0, "floatsgd": 1, "tikitaka": 2, "ttv2": 3, "choppedttv2": 4, "cttv2": 4,
              "agad": 5, "mixedprecision": 6, "stellar": 7, "panther": 8}
IO_PRESETS = {"default": 0, "preset": 1, "standard": 2, "perfect": 3}
PULSE_TYPES = {"none": 0, "stochasticcompressed": 1, "nonewithdevice": 3, "meancount": 4,
               "deterministicimplicit": 5}


def _key(name):
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _device_presets():
    out = {}
    for i in range(64):
        name = _lib.lib.aimc_device_preset_name(i).decode()
        if name == "unknown":
            break
        out[_key(name)] = i
        out[_key(name) + "preset"] = i  # aihwkit's class names: ReRamSBPreset
    return out


DEVICE_PRESETS = _device_presets()


def _lookup(table, name, what):
    if isinstance(name, int):
        return name
    try:
        return table[_key(name)]
    except KeyError:
        raise ValueError(f"unknown {what} {name!r}; known: "
                         f"{sorted(set(k for k in table if not k.endswith('preset')))}") from None


def field_names():
    """Every name aimc_tile_config_set accepts (arrays as name[i])."""
    names, i = [], 0
    while True:
        n = _lib.lib.aimc_tile_config_field_name(i)
        if n is None:
            return names
        names.append(n.decode())
        i += 1


# The mapping of a layer's weights onto tiles: digital periphery that aimc.torch
# applies around the tiles (aihwkit's MappingParameter fields of the same names),
# not part of the C tile configuration. Defaults: aihwkit's.
MAPPING_FIELDS = {"weight_scaling_omega": 0.0, "weight_scaling_columnwise": False,
                  "weight_scaling_lr_compensation": False}


def _mapping_value(name, value):
    """value for mapping field `name`, checked; ValueError names field, value and range."""
    if name not in MAPPING_FIELDS:
        raise ValueError(f"mapping.{name}: unknown mapping field; known: "
                         f"{', '.join('mapping.' + k for k in MAPPING_FIELDS)}")
    if isinstance(MAPPING_FIELDS[name], bool):
        if value not in (0, 1, True, False):
            raise ValueError(f"mapping.{name} = {value!r}: give 0 or 1 (False or True)")
        return bool(value)
    value = float(value)
    if not (0.0 <= value < float("inf")):
        raise ValueError(f"mapping.{name} = {value!r} is out of range [0, inf) "
                         "(0 turns weight scaling off)")
    return value


class TileConfig:
    """An aimc_tile_config_t. Built from presets, changed by field name:

        cfg = TileConfig.preset("agad", "ReRamSB")
        cfg["device.dw_min"] = 0.002
        cfg = TileConfig(algorithm="sgd", device="GokmenVlasov", io="perfect",
                         **{"update.pulse_type": 0})
    """

    def __init__(self, algorithm=None, device=None, io=None, fields=None, **more):
        self._c = _lib.TileConfigBytes()
        self.mapping = dict(MAPPING_FIELDS)
        _lib.lib.aimc_tile_config_default(ctypes.byref(self._c))
        if device is not None and algorithm is not None:  # aihwkit's preset of the pair
            _lib.check(_lib.lib.aimc_tile_config_preset(
                ctypes.byref(self._c), _lookup(ALGORITHMS, algorithm, "algorithm"),
                _lookup(DEVICE_PRESETS, device, "device preset")))
        else:
            if algorithm is not None:
                self.set_algorithm(algorithm)
            if device is not None:
                self.set_device(device)
        if io is not None:
            self.set_io(io)
        for k, v in {**(fields or {}), **more}.items():
            self[k] = v

    @classmethod
    def preset(cls, algorithm, device):
        """aihwkit's configuration presets (e.g. AGADReRamSBPreset)."""
        return cls(algorithm=algorithm, device=device)

    @classmethod
    def from_c(cls, c):
        cfg = cls.__new__(cls)
        cfg._c = c
        cfg.mapping = dict(MAPPING_FIELDS)
        return cfg

    def copy(self):
        c = _lib.TileConfigBytes()
        ctypes.memmove(ctypes.byref(c), ctypes.byref(self._c), ctypes.sizeof(c))
        out = TileConfig.from_c(c)
        out.mapping = dict(self.mapping)
        return out

    def set_algorithm(self, algorithm):
        _lib.check(_lib.lib.aimc_tile_config_algorithm(
            ctypes.byref(self._c), _lookup(ALGORITHMS, algorithm, "algorithm")))
        return self

    def set_device(self, device, which="device"):
        """A device preset for `device` (or `fast_device`), keeping the rest."""
        if which not in ("device", "fast_device"):
            raise ValueError(f"which must be 'device' or 'fast_device', not {which!r}")
        offset = 0 if which == "device" else _lib.FAST_DEVICE_OFFSET
        ptr = ctypes.addressof(self._c) + offset
        _lib.check(_lib.lib.aimc_device_desc_preset(
            ctypes.c_void_p(ptr), _lookup(DEVICE_PRESETS, device, "device preset")))
        return self

    def set_io(self, io):
        """An IO preset for forward, backward and transfer reads, as aihwkit applies it."""
        _lib.check(_lib.lib.aimc_tile_config_io_preset(ctypes.byref(self._c),
                                                       _lookup(IO_PRESETS, io, "IO preset")))
        return self

    def __setitem__(self, field, value):
        if field.startswith("mapping."):  # the layer's periphery, kept on the Python side
            name = field[len("mapping."):]
            self.mapping[name] = _mapping_value(name, value)
            return
        if isinstance(value, str):  # enumerations by name where we know them
            table = {"algorithm.kind": ALGORITHMS}.get(field)
            if field.endswith("pulse_type"):
                table = PULSE_TYPES
            if table is None:
                raise ValueError(f"{field}: give a number, not {value!r}")
            value = _lookup(table, value, field)
        _lib.check(_lib.lib.aimc_tile_config_set(ctypes.byref(self._c), field.encode(),
                                                 float(value)))

    def __getitem__(self, field):
        if field.startswith("mapping."):
            name = field[len("mapping."):]
            _mapping_value(name, MAPPING_FIELDS.get(name, 0))  # names an unknown field
            return self.mapping[name]
        out = ctypes.c_double()
        _lib.check(_lib.lib.aimc_tile_config_get(ctypes.byref(self._c), field.encode(),
                                                 ctypes.byref(out)))
        return out.value

    def update(self, fields):
        for k, v in fields.items():
            self[k] = v
        return self

    def validate(self):
        _lib.check(_lib.lib.aimc_tile_config_validate(ctypes.byref(self._c)))
        return self

    def to_dict(self):
        """Every field by name; arrays element by element ("device.piecewise_up[3]")."""
        out = {}
        probe = ctypes.c_double()
        for n in field_names():
            if _lib.lib.aimc_tile_config_get(ctypes.byref(self._c), n.encode(),
                                             ctypes.byref(probe)) == 0:
                out[n] = probe.value
                continue
            i = 0
            while _lib.lib.aimc_tile_config_get(ctypes.byref(self._c), f"{n}[{i}]".encode(),
                                                ctypes.byref(probe)) == 0:
                out[f"{n}[{i}]"] = probe.value
                i += 1
            if i == 0:
                raise _lib.AimcError(-1, f"{n}: the library lists it but cannot read it")
        out.update({f"mapping.{k}": v for k, v in self.mapping.items()})
        return out

    def __eq__(self, other):
        return (isinstance(other, TileConfig) and bytes(self._c) == bytes(other._c)
                and self.mapping == other.mapping)

    def __repr__(self):
        return (f"TileConfig(algorithm={int(self['algorithm.kind'])}, "
                f"device.model={int(self['device.model'])}, lr={self['update.learning_rate']:g})")
