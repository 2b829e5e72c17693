"""The twin behind PyLabRobot: a liquid-handler back end (the OT-2 twin) and a plate-reader back end (the Cytation 5
twin reading the chemistry twin), sharing one ``TwinBench`` (virtual clock, twin deck, seeds).

Needs the ``plr`` extra (``pip install 'larp-twin[plr]'``: PyLabRobot and opentrons-shared-data); see
``docs/pylabrobot.md`` and ``scenarios/pylabrobot_demo.py``.
"""

try:
    import pylabrobot  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("instruments.pylabrobot needs PyLabRobot: pip install 'larp-twin[plr]'") from exc

from instruments.pylabrobot.bench import EPOCH_S, TwinBench
from instruments.pylabrobot.liquid_handler import TwinOT2Backend
from instruments.pylabrobot.plate_reader import TwinCytationBackend

__all__ = ["TwinBench", "TwinOT2Backend", "TwinCytationBackend", "EPOCH_S"]
