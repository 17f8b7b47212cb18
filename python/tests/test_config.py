"""Configuration by name: fields, presets, and the library's messages."""
import pytest

import aimc
from aimc import TileConfig


def test_field_by_name_round_trips():
    cfg = TileConfig()
    cfg["device.dw_min"] = 0.25
    cfg["update.desired_bl"] = 7
    cfg["device.piecewise_up[3]"] = 0.5
    assert cfg["device.dw_min"] == 0.25
    assert cfg["update.desired_bl"] == 7
    assert cfg["device.piecewise_up[3]"] == 0.5


def test_every_listed_field_is_readable():
    cfg = TileConfig()
    names = aimc.field_names()
    assert "device.dw_min" in names and "algorithm.kind" in names
    values = cfg.to_dict()
    assert values["device.dw_min"] == cfg["device.dw_min"]
    assert len(values) > len(names)  # arrays element by element
    assert "device.piecewise_up[31]" in values


def test_presets_by_name_follow_the_library():
    agad = TileConfig.preset("AGAD", "ReRamSBPreset")
    assert agad["algorithm.kind"] == 5
    assert agad["device.model"] == 3  # SoftBoundsReference
    assert TileConfig(algorithm="c-ttv2", device="reram_sb")["algorithm.kind"] == 4
    perfect = TileConfig(io="perfect")
    assert perfect["forward.is_perfect"] == 1 and perfect["backward.is_perfect"] == 1
    sgd = TileConfig(device="GokmenVlasov")
    assert sgd["device.model"] == 0
    sgd.set_device("ReRamES", "fast_device")
    assert sgd["fast_device.model"] == 4 and sgd["device.model"] == 0
    assert TileConfig(**{"update.pulse_type": "mean_count"})["update.pulse_type"] == 4


def test_bad_value_raises_with_the_library_message():
    cfg = TileConfig()
    before = cfg.copy()
    with pytest.raises(aimc.AimcError) as err:
        cfg["device.dw_min"] = -1.0
    assert "device.dw_min" in str(err.value) and "out of range" in str(err.value)
    assert err.value.status == -1
    assert cfg == before  # a failing call changes nothing


def test_unknown_field_and_preset_names():
    with pytest.raises(aimc.AimcError, match="no_such_field"):
        TileConfig()["device.no_such_field"] = 1
    with pytest.raises(ValueError, match="unknown device preset"):
        TileConfig(device="NoSuchDevice")
    with pytest.raises(ValueError, match="unknown algorithm"):
        TileConfig(algorithm="adam")


def test_missing_preset_reports_the_library_message():
    with pytest.raises(aimc.AimcError, match="no aihwkit preset"):
        TileConfig.preset("stellar", "ReRamSB")
    stellar = TileConfig(algorithm="stellar").set_device("ReRamSB")  # by parts instead
    assert stellar["algorithm.kind"] == 7 and stellar["device.model"] == 3
