import importlib.util
import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

#: opentrons (the ``ot2`` extra) pins numpy < 2; the numpy-2 environment of .ci/run has no opentrons.
HAVE_OPENTRONS = importlib.util.find_spec("opentrons") is not None


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``ot2`` (they drive opentrons or read opentrons-shared-data) where opentrons is missing."""
    if HAVE_OPENTRONS:
        return
    skip = pytest.mark.skip(reason="needs opentrons (pip install '.[ot2]', numpy < 2)")
    for item in items:
        if item.get_closest_marker("ot2") is not None:
            item.add_marker(skip)
