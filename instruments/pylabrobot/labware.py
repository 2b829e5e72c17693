"""PyLabRobot resources for the twin's OT-2 labware, by the opentrons load name the twin uses.

PyLabRobot builds Opentrons tip and tube racks from opentrons-shared-data definition files that it downloads from
GitHub on first use and caches as ``/tmp/<load_name>.json`` (``pylabrobot.resources.opentrons.load``).  Offline,
that cache is seeded from the installed ``opentrons-shared-data`` package (the same version-1 definitions; the
``plr`` extra installs it): nothing is downloaded and no definition is copied into this repository.
"""

from __future__ import annotations

import json
import os
from importlib import resources as importlib_resources

from pylabrobot.resources import Plate, Resource, TipRack, Tube, TubeRack
from pylabrobot.resources.corning import cor_96_wellplate_360uL_Fb
from pylabrobot.resources.nest import nest_1_troughplate_195000uL_Vb, nest_12_troughplate_15000uL_Vb
from pylabrobot.resources.opentrons import (
    opentrons_96_tiprack_20ul,
    opentrons_96_tiprack_300ul,
    opentrons_96_tiprack_1000ul,
)
from pylabrobot.resources.opentrons.tube_racks import (
    opentrons_24_tuberack_nest_1_5ml_snapcap,
    opentrons_6_tuberack_falcon_50ml_conical,
)

from instruments.errors import LabwareError
from instruments.labware import LABWARE_TYPES

#: the PyLabRobot resource factory of each twin load name (PyLabRobot 0.2.2 names)
_FACTORIES = {
    "corning_96_wellplate_360ul_flat": cor_96_wellplate_360uL_Fb,
    "nest_12_reservoir_15ml": nest_12_troughplate_15000uL_Vb,
    "nest_1_reservoir_195ml": nest_1_troughplate_195000uL_Vb,
    "opentrons_24_tuberack_nest_1.5ml_snapcap": opentrons_24_tuberack_nest_1_5ml_snapcap,
    "opentrons_6_tuberack_falcon_50ml_conical": opentrons_6_tuberack_falcon_50ml_conical,
    "opentrons_96_tiprack_20ul": opentrons_96_tiprack_20ul,
    "opentrons_96_tiprack_300ul": opentrons_96_tiprack_300ul,
    "opentrons_96_tiprack_1000ul": opentrons_96_tiprack_1000ul,
}
#: labware PyLabRobot makes from opentrons definition files (cached under /tmp)
_FROM_OPENTRONS_DEFINITIONS = {n for n in _FACTORIES if n.startswith("opentrons_")}
SUPPORTED = tuple(sorted(_FACTORIES))


def _seed_definition_cache(load_name: str) -> None:
    """Put opentrons-shared-data's definition of ``load_name`` where PyLabRobot looks before downloading it."""
    path = f"/tmp/{load_name}.json" if os.path.exists("/tmp") else f"C:/Windows/Temp/{load_name}.json"
    if os.path.exists(path):
        return
    try:
        source = importlib_resources.files("opentrons_shared_data") / "data" / "labware" / "definitions" / "2" \
            / load_name / "1.json"
        text = source.read_text()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise LabwareError(f"PyLabRobot needs the opentrons definition of {load_name!r}: install "
                           f"opentrons-shared-data (the plr extra) or let it download the file") from exc
    json.loads(text)  # a truncated file would be cached as garbage
    tmp = f"{path}.{os.getpid()}.part"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def make_resource(load_name: str, name: str) -> Resource:
    """The PyLabRobot resource of twin labware ``load_name``, named ``name``; tube racks come with their tubes."""
    if load_name not in _FACTORIES:
        raise LabwareError(f"no PyLabRobot resource for {load_name!r}; supported: {list(SUPPORTED)}")
    if load_name in _FROM_OPENTRONS_DEFINITIONS:
        _seed_definition_cache(load_name)
    resource = _FACTORIES[load_name](name)
    if isinstance(resource, TubeRack):
        capacity = LABWARE_TYPES[load_name].capacity_uL
        for holder in resource.children:
            holder.assign_child_resource(Tube(name=f"{name}_tube_{holder.name}", size_x=holder.get_size_x(),
                                              size_y=holder.get_size_y(), size_z=holder.get_size_z(),
                                              max_volume=capacity))
    return resource


def well_of(container: Resource) -> tuple[Resource, str]:
    """(the labware on the deck, the well name such as ``'B7'``) of a PyLabRobot well, tube or tip spot."""
    parent = container.parent
    if isinstance(container, Tube) and parent is not None and isinstance(parent.parent, TubeRack):
        return parent.parent, parent.parent.get_child_identifier(parent)
    if isinstance(parent, (Plate, TipRack, TubeRack)):
        return parent, parent.get_child_identifier(container)
    raise LabwareError(f"{container.name} is not a well of a plate, a tube of a tube rack or a tip spot of a tip "
                       f"rack on the deck")
