"""The paper's toluene plate (scenario ``paper-toluene``) prepared and read with PyLabRobot calls on the twin.

    python -m scenarios.pylabrobot_demo --out DIR [--seed 0] [--hours 12]

A PyLabRobot ``LiquidHandler`` on an ``OTDeck`` (back end: the OT-2 twin) makes the 40 premixed precursors
(PbBr2/DMF + OAc + OLAm), fills each well with toluene and Cs-oleate and injects each well's precursor, as
``twin.prep`` does in ``larp-twin run``; the plate is carried to a PyLabRobot ``PlateReader`` (back end: the
Cytation 5 twin), which scans 400-650 nm back to back for 12 virtual hours (103 reads).  Writes ``reads.csv``
(``well,time_min,wavelength_nm,rfu``; ``time_min`` = minutes since the well's injection at the middle of its scan,
as in ``larp-twin run``), ``dispenses.csv`` (what each dispense put into each well) and ``pylabrobot_demo.png``.
The whole campaign takes a few seconds of wall time: see ``docs/pylabrobot.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: the scan of the paper's read-out (``twin.config.Schedule`` defaults)
EXCITATION_NM, EMISSION_NM = 365, (400, 650, 2)
#: carrying the plate from the deck to the reader (``twin.config.Schedule.plate_transfer_s``)
PLATE_TRANSFER_S = 60.0
#: mixes of the twin's preparation (``twin.prep``): premix vials 5x, each well 3x 10 uL after its injection
VIAL_MIXES, WELL_MIX = 5, (3, 10.0)


class TipBox:
    """The next unused tip spot of each pipette's racks, in rack order (A1, B1, ... as PyLabRobot orders them)."""

    def __init__(self, racks):
        self._spots = iter([spot for rack in racks for spot in rack.get_all_items()])

    def next(self):
        return next(self._spots)


async def prepare_plate(lh, bench, deck_resources: dict, plan, plate_map: pd.DataFrame) -> None:
    """``twin.prep.prepare_plate``'s protocol in PyLabRobot calls: premixes, antisolvent and Cs-oleate, injections."""
    from pylabrobot.liquid_handling.standard import Mix

    from instruments.pipettor import INJECTION_COMPONENT, PIPETTES
    from instruments.sim.plate_recipes import cs_stock_name
    from twin.prep import is_viscous, mix_pipette, pipette_for

    backend = lh.backend
    specs = backend.pipettor.pipettes  # the twin's pipette specs: twin.prep decides which pipette moves what
    channel_of = {p: c for c, p in enumerate(backend.pipettes)}
    tips = {p: TipBox([deck_resources[n] for n in plan.layout.tip_rack_names(p)]) for p in backend.pipettes}
    plate = deck_resources["plate"]

    def container(ref):
        """The PyLabRobot well or tube of a twin well reference."""
        item = deck_resources[ref.labware.name][ref.name][0]
        return item.children[0] if not hasattr(item, "tracker") else item

    def source(component: str, volume_uL: float):
        """The first stock well of ``component`` that still holds ``volume_uL`` above its dead volume."""
        for ref in plan.stocks[component]:
            twin = bench.labware(deck_resources[ref.labware.name])
            if twin.volume_uL[ref.index] - twin.type.dead_volume_uL >= volume_uL - 1e-9:
                return ref
        return plan.stocks[component][-1]  # the twin raises its own over-aspirate error

    async def move(pip: str, component: str, volume_uL: float, dest) -> None:
        """Any volume of a stock into ``dest`` in chunks the tip holds; neat ligands blown out and touched off."""
        ch = [channel_of[pip]]
        n = math.ceil(volume_uL / PIPETTES[pip].max_uL - 1e-9)
        for _ in range(n):
            v = volume_uL / n
            ref = source(component, v)
            await lh.aspirate([container(ref)], vols=[v], use_channels=ch)
            viscous = is_viscous(component)
            await lh.dispense([dest], vols=[v], use_channels=ch, blow_out=viscous, touch_tip=viscous)

    async def with_tip(pip: str, work) -> None:
        ch = [channel_of[pip]]
        await lh.pick_up_tips([tips[pip].next()], use_channels=ch)
        await work(ch)
        await lh.drop_tips([deck_resources["trash"]], use_channels=ch)

    # 1. the premixed precursors: each stock with one tip across its vials
    components = sorted({c for pm in plan.premixes for c in pm.batch_uL}, key=lambda c: (c != INJECTION_COMPONENT, c))
    for comp in components:
        by_pip: dict[str, list] = {}
        for pm in plan.premixes:
            if comp in pm.batch_uL:
                by_pip.setdefault(pipette_for(specs, pm.batch_uL[comp]), []).append(pm)
        for pip, pms in by_pip.items():
            async def fill_vials(ch, pip=pip, pms=pms, comp=comp):
                for pm in pms:
                    await move(pip, comp, pm.batch_uL[comp], container(pm.vial))
            await with_tip(pip, fill_vials)
    for pm in plan.premixes:  # homogenise each vial (5 mixing cycles, as twin.prep)
        pip, mix_uL = mix_pipette(specs, sum(pm.batch_uL.values()))

        async def mix_vial(ch, pm=pm, mix_uL=mix_uL):  # mix in the vial, then draw once and put it back
            await lh.aspirate([container(pm.vial)], vols=[mix_uL], use_channels=ch,
                              mix=[Mix(volume=mix_uL, repetitions=VIAL_MIXES, flow_rate=None)])
            await lh.dispense([container(pm.vial)], vols=[mix_uL], use_channels=ch)
        await with_tip(pip, mix_vial)
    # 2. antisolvent, then Cs-oleate, one tip per stock
    for column, comp_of in (("antisolvent_uL", lambda r: r.antisolvent),
                            ("cs_uL", lambda r: cs_stock_name(r.antisolvent))):
        rows = [r for r in plate_map.itertuples(index=False) if getattr(r, column) > 0]
        for comp in dict.fromkeys(comp_of(r) for r in rows):
            mine = [r for r in rows if comp_of(r) == comp]
            pip = pipette_for(specs, min(getattr(r, column) for r in mine))

            async def fill_wells(ch, pip=pip, comp=comp, mine=mine, column=column):
                for r in mine:
                    await move(pip, comp, getattr(r, column), plate[r.well][0])
            await with_tip(pip, fill_wells)
    # 3. inject each well's precursor (its reaction t=0): fresh tip, mix, blow out, touch off
    vial_of = {w: pm for pm in plan.premixes for w in pm.wells}
    for r in plate_map.itertuples(index=False):
        pm = vial_of.get(r.well)
        if pm is None:
            continue
        v = pm.per_well_total_uL
        pip = pipette_for(specs, v)
        reps, mix_uL = WELL_MIX

        async def inject(ch, pm=pm, v=v, well=plate[r.well][0]):
            await lh.aspirate([container(pm.vial)], vols=[v], use_channels=ch)
            await lh.dispense([well], vols=[v], use_channels=ch, mix=[Mix(volume=mix_uL, repetitions=reps,
                                                                          flow_rate=None)],
                              blow_out=True, touch_tip=True)
        await with_tip(pip, inject)


async def campaign(out: Path, seed: int = 0, hours: float = 12.0) -> dict:
    """Prepare and read the plate; write the outputs; return the figures the command prints."""
    from pylabrobot.liquid_handling import LiquidHandler
    from pylabrobot.plate_reading import PlateReader
    from pylabrobot.resources.opentrons import OTDeck

    from instruments.pylabrobot import TwinBench, TwinCytationBackend, TwinOT2Backend
    from scenarios import get_scenario
    from twin.platemap import validate_plate_map
    from twin.prep import plan_deck

    plate_map = validate_plate_map(get_scenario("paper-toluene").plate_map(), 96, source="paper-toluene plate map")
    plan = plan_deck(plate_map, 96)  # where everything sits and how much of each stock (the operator's sheet)
    bench = TwinBench(seed)
    deck = OTDeck()
    lh = LiquidHandler(backend=TwinOT2Backend(bench, plan.pipettes), deck=deck)
    resources = {lw.name: bench.load(deck, lw.type.load_name, lw.slot, lw.name)
                 for lw in sorted(plan.deck, key=lambda lw: lw.slot)}
    resources["trash"] = deck.get_trash_area()
    for comp, refs in plan.stocks.items():  # the operator fills the stocks the plan asks for
        for ref in refs:
            item = resources[ref.labware.name][ref.name][0]
            bench.fill(item if hasattr(item, "tracker") else item.children[0],
                       {comp: float(ref.labware.volume_uL[ref.index])})
    await lh.setup()
    await prepare_plate(lh, bench, resources, plan, plate_map)
    prep_s = bench.now_s

    reader = PlateReader(name="cytation5", size_x=159.0, size_y=107.0, size_z=20.0,
                         backend=TwinCytationBackend(bench))
    await reader.setup()
    plate = resources["plate"]
    await bench.sleep(PLATE_TRANSFER_S)  # carried by hand: the OT-2 has no gripper
    await reader.open()
    plate.unassign()
    reader.assign_child_resource(plate)
    await reader.close()
    wells = [plate[w][0] for w in plate_map["well"]]
    t0, reads = bench.now_s, []
    while bench.now_s - t0 < hours * 3600.0 - 1e-9:  # back to back, as the lab's Gen5 procedure
        reads.append(await reader.backend.experimental_read_fluorescence_emission_spectrum(
            plate, wells, EXCITATION_NM, *EMISSION_NM))
    await reader.open()

    injected_s = dict(zip(plate_map["well"], bench.labware(plate).injected_at_s[
        bench.labware(plate).indices(plate_map["well"])]))
    table = reads_table(reads, plate_map["well"].tolist(), injected_s, bench)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "reads.csv", index=False)
    pd.DataFrame([{**{k: v for k, v in d.items() if k != "delivered"}, **{f"{c}_uL": x for c, x in
                                                                           d["delivered"].items()}}
                  for d in bench.dispenses]).to_csv(out / "dispenses.csv", index=False, float_format="%.6g")
    draw(table, plate_map, out / "pylabrobot_demo.png")
    return {"wells": len(wells), "reads": len(reads), "prep_min": prep_s / 60.0,
            "virtual_h": bench.now_s / 3600.0, "dispenses": len(bench.dispenses)}


def reads_table(reads: list[list[dict]], wells: list[str], injected_s: dict, bench) -> pd.DataFrame:
    """``well,time_min,wavelength_nm,rfu`` from the per-wavelength result dicts of each spectrum read."""
    from pylabrobot.resources.utils import split_identifier

    rows, cols = zip(*[split_identifier(w) for w in wells])
    r_idx = np.array([ord(r) - ord("A") for r in rows])
    c_idx = np.array([int(c) - 1 for c in cols])
    inj = np.array([injected_s[w] for w in wells])
    parts = []
    for read in reads:
        mid_s = (read[0]["start_time"] + read[0]["time"]) / 2 - bench.unix_time(0.0)
        wl = np.array([d["em_wavelength"] for d in read], float)
        rfu = np.array([[np.nan if d["data"][r][c] is None else d["data"][r][c] for d in read]
                        for r, c in zip(r_idx, c_idx)])  # (well, wavelength)
        parts.append(pd.DataFrame({"well": np.repeat(wells, wl.size),
                                   "time_min": np.repeat(np.round((mid_s - inj) / 60.0, 4), wl.size),
                                   "wavelength_nm": np.tile(wl, len(wells)), "rfu": rfu.ravel()}))
    table = pd.concat(parts, ignore_index=True)
    if (table["wavelength_nm"] % 1 == 0).all():
        table["wavelength_nm"] = table["wavelength_nm"].astype(int)
    table["rfu"] = table["rfu"].round().astype("Int64")  # integer RFU as Gen5 writes them; empty = OVRFLW
    return table


def peaks(table: pd.DataFrame) -> pd.DataFrame:
    """``well, read, time_min, peak_nm`` of each spectrum of a ``well,time_min,wavelength_nm,rfu`` table (any row
    order; ``larp-twin run``'s spectra too): argmax with parabolic refinement (``chemistry.spectral_features``)."""
    from chemistry import spectral_features

    t = table.sort_values(["well", "time_min", "wavelength_nm"], kind="stable")
    wl = np.sort(t["wavelength_nm"].unique())
    wells = t["well"].unique()
    cube = t["rfu"].to_numpy(dtype=float, na_value=np.nan).reshape(len(wells), -1, wl.size)  # (well, read, wavelength)
    age = t["time_min"].to_numpy(float).reshape(cube.shape)[:, :, 0]
    pk = spectral_features(wl, np.nan_to_num(cube, nan=0.0)).peak_nm
    n_reads = cube.shape[1]
    return pd.DataFrame({"well": np.repeat(wells, n_reads), "read": np.tile(np.arange(n_reads), len(wells)),
                         "time_min": age.ravel(), "peak_nm": pk.ravel()})


def late_peak_nm(table: pd.DataFrame, last_min: float = 120.0) -> pd.Series:
    """Each well's median PL peak over its reads of the last ``last_min`` minutes (the noise of one spectrum's
    argmax averages out; the peak has settled by then)."""
    pk = peaks(table)
    late = pk["time_min"] >= pk.groupby("well")["time_min"].transform("max") - last_min
    return pk[late].groupby("well")["peak_nm"].median()


def draw(table: pd.DataFrame, plate_map: pd.DataFrame, path: Path) -> None:
    """Spectra at the last read and PL peak over time, coloured by OLAm:OAc (blue-shift with amine)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pk = peaks(table)
    last = table[table.groupby("well")["time_min"].transform("max") == table["time_min"]]
    ratio = plate_map.set_index("well")["amine_per_acid"]
    series = plate_map.set_index("well")["acid_to_pbbr2"]
    cmap, norm = plt.get_cmap("viridis"), matplotlib.colors.Normalize(0.1, 2.0)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), constrained_layout=True)
    for well, s in last[last["well"].map(series) == "1:30"].groupby("well", sort=False):
        axes[0].plot(s["wavelength_nm"], s["rfu"], color=cmap(norm(ratio[well])), lw=1)
    axes[0].set(xlabel="emission wavelength (nm)", ylabel="PL (RFU)", title="OAc:PbBr2 1:30, last read (~12 h)")
    for well, s in pk[pk["well"].map(series) == "1:30"].groupby("well", sort=False):
        axes[1].plot(s["time_min"] / 60.0, s["peak_nm"], color=cmap(norm(ratio[well])), lw=1)
    axes[1].set(xlabel="time since injection (h)", ylabel="PL peak (nm)", title="PL peak over 12 h (1:30)")
    late = late_peak_nm(table)
    for label, marker in (("1:30", "o"), ("1:15", "s")):
        w = plate_map.loc[plate_map["acid_to_pbbr2"] == label, "well"]
        axes[2].plot(ratio[w], late[w], marker, ls="-", label=f"OAc:PbBr2 {label}")
    axes[2].set(xlabel="OLAm:OAc (amine per acid)", ylabel="PL peak, median of the last 2 h (nm)",
                title="more amine, bluer nanocrystals")
    axes[2].legend()
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes[:2], label="OLAm:OAc")
    fig.suptitle("paper-toluene prepared and read through PyLabRobot (TwinOT2Backend + TwinCytationBackend)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.pylabrobot_demo", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory (created)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the twins (default 0)")
    parser.add_argument("--hours", type=float, default=12.0, help="virtual hours of back-to-back reads (default 12)")
    from twin.outdir import add_overwrite, check_target, write_marker

    add_overwrite(parser)
    args = parser.parse_args(argv)
    if not 0 < args.hours <= 168:
        parser.error(f"--hours {args.hours:g}: allowed 0 < hours <= 168")
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed {args.seed}: allowed: an integer 0 <= seed < 2**32")
    try:
        import pylabrobot  # noqa: F401
    except ImportError:
        parser.error("needs PyLabRobot: pip install 'larp-twin[plr]'")
    from twin.messages import UserError

    try:  # the project's output policy: a new or empty folder, or this command's finished output
        out = check_target(args.out, "pylabrobot_demo", overwrite=args.overwrite)
    except UserError as exc:
        parser.error(str(exc))
    wall0 = time.perf_counter()
    figures = asyncio.run(campaign(out, args.seed, args.hours))
    write_marker(out, "pylabrobot_demo")
    print(f"paper-toluene through PyLabRobot: {figures['wells']} wells, {figures['dispenses']} dispenses, robot "
          f"preparation {figures['prep_min']:.1f} virtual min, {figures['reads']} reads; {figures['virtual_h']:.2f} "
          f"virtual h in {time.perf_counter() - wall0:.1f} wall s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
