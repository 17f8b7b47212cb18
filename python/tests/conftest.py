import pytest

import aimc


def exact_config(**fields):
    """Perfect IO and exact float updates: the analog layers must equal torch's."""
    cfg = aimc.TileConfig(io="perfect", **{"update.pulse_type": "none"})
    return cfg.update(fields)


@pytest.fixture
def exact():
    return exact_config()
