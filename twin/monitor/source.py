"""What the monitor shows, read from a run directory: finished outputs, or a ``--durable`` run's journal as it grows.

Two layouts are understood:

* a ``--durable`` run: ``RUN/campaign.json`` + ``RUN/journal.jsonl`` (+ ``RUN/results/`` once finished); the journal
  is the source, read through :func:`journal_records` (the one place that knows the journal's format);
* a finished ``larp-twin run --out D`` directory: ``plate.csv``, ``features.csv``, ``spectra.parquet``,
  ``manifest.json`` (+ ``events.jsonl``).

:func:`load_run` never raises for a damaged run: what it could not read is in ``RunView.errors`` (shown on the page).
Gaussian fits of journaled reads are cached per read, so a growing journal costs one fit per new read.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

CAMPAIGN_FILE = "campaign.json"
JOURNAL_FILE = "journal.jsonl"
PLATE_COLUMNS = ["well", "antisolvent", "antisolvent_uL", "cs_uL", "pbbr2_uL", "acid", "acid_uL", "amine", "amine_uL"]


def journal_records(path: Path) -> tuple[list[dict], list[str]]:
    """The records of a journal file and what is wrong with it (adapter: retarget here if the format changes).

    A torn last line (a record being written, or a crash mid-write) is left out and reported; a damaged line
    before the last is reported with the good records before it, so the page shows the reads that are sound.
    """
    from instruments.input_files import InputFileError, regular_file

    from twin.records.journal import JournalError, read_journal

    if not path.exists():
        return [], []
    try:
        regular_file(path, "journal")  # a named pipe would block the server thread on open
        data = path.read_bytes()
    except FileNotFoundError:
        return [], []
    except (OSError, InputFileError) as exc:
        return [], [f"{path.name}: cannot be read ({exc})"]
    problems = []
    if data and not data.endswith(b"\n"):
        complete = data.count(b"\n")
        problems.append(f"{path.name}: the last line is incomplete (a record being written, or the run crashed "
                        f"mid-write); showing the {complete} complete records")
    try:
        return read_journal(path, repair=False), problems
    except JournalError as exc:
        good = _good_prefix(data)
        return good, [f"{path.name}: {exc}; showing the {len(good)} sound records before it (`larp-twin resume` "
                      f"refuses this journal: keep a copy and look at that line)"]
    except Exception as exc:  # noqa: BLE001 - the page shows it, the server keeps running
        return [], problems + [f"{path.name}: unreadable ({type(exc).__name__}: {exc})"]


def _good_prefix(data: bytes) -> list[dict]:
    """The records before the first damaged or out-of-sequence line of a journal's bytes."""
    from twin.records.journal import parse_line

    records = []
    for line in data.split(b"\n")[:-1]:
        rec = parse_line(line + b"\n")
        if rec is None or rec.get("seq") != len(records):
            break
        records.append(rec)
    return records


@dataclass
class RunView:
    """A run as the page draws it. Arrays are (well, read); ``cube`` is (well, read, wavelength)."""

    name: str = ""
    wells: list = field(default_factory=list)
    plate: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PLATE_COLUMNS))
    plate_wells: int = 96
    wavelength_nm: np.ndarray = field(default_factory=lambda: np.zeros(0))
    read_start_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    read_end_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    time_min: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    cube: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    peak_nm: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    fwhm_nm: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    height: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    status: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=object))
    injected_s: dict = field(default_factory=dict)  #: well -> injection time (campaign s), NaN = never injected
    events: list = field(default_factory=list)
    schedule: dict = field(default_factory=dict)
    start_time: str = ""
    kinetic_start_s: float | None = None
    complete: bool = False
    errors: list = field(default_factory=list)
    kind: str = "empty"  #: "journal", "results" or "empty"
    #: the run's clock: virtual (a twin run: campaign seconds, no wall-clock date) or the lab's real clock
    virtual_clock: bool = True

    @property
    def n_reads(self) -> int:
        return int(self.read_end_s.size)

    def upto(self, t_s: float | None) -> "RunView":
        """The run as it was at campaign time ``t_s`` (reads finished and events logged by then); None: all."""
        if t_s is None:
            return self
        k = int(np.searchsorted(self.read_end_s, t_s, side="right"))
        v = RunView(**{**self.__dict__})
        for name in ("time_min", "peak_nm", "fwhm_nm", "height", "status"):
            setattr(v, name, getattr(self, name)[:, :k])
        v.cube = self.cube[:, :k]
        v.read_start_s, v.read_end_s = self.read_start_s[:k], self.read_end_s[:k]
        v.events = [e for e in self.events if float(e.get("t_s", 0.0)) <= t_s]
        v.complete = self.complete and k == self.n_reads
        return v

    def expected_end_s(self) -> float | None:
        """Campaign time the kinetic schedule ends (its last read finished), from the schedule and the reads so far."""
        hours = self.schedule.get("hours")
        if hours is None:
            return float(self.read_end_s[-1]) if self.n_reads else None
        t0 = self.kinetic_start_s
        if t0 is None:
            t0 = float(self.read_start_s[0]) if self.n_reads else None
        if t0 is None:
            return None
        scan_s = float(np.median(self.read_end_s - self.read_start_s)) if self.n_reads else 0.0
        return t0 + float(hours) * 3600.0 + scan_s

    def blanks(self) -> set:
        p = self.plate
        if p.empty or "pbbr2_uL" not in p:
            return set()
        return set(p.loc[pd.to_numeric(p["pbbr2_uL"], errors="coerce").fillna(0) <= 0, "well"].astype(str))

    def failed(self) -> set:
        """Wells meant to react that never got their injection, or that a fault event names as skipped/failed."""
        out = {w for w, t in self.injected_s.items() if not np.isfinite(t)} - self.blanks()
        for e in self.events:
            if e.get("well") and (e.get("kind") in ("well_skipped", "failed_well") or e.get("action") == "skip"):
                out.add(str(e["well"]))
        return out


class RunSource:
    """A run directory, re-read when its files change (thread-safe; one per served run)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._lock = threading.Lock()
        self._key = None
        self._view = RunView()
        self._fits: dict[int, tuple] = {}  # read index -> (peak, fwhm, height, status) arrays (n_wells,)

    def _stamp(self):
        out = []
        for rel in (JOURNAL_FILE, CAMPAIGN_FILE, "results/manifest.json", "manifest.json", "features.csv",
                    "events.jsonl", "results/events.jsonl"):
            try:
                st = (self.run_dir / rel).stat()
                out.append((rel, st.st_size, st.st_mtime_ns))
            except OSError:
                out.append((rel, None, None))
        return tuple(out)

    def view(self) -> RunView:
        """The current RunView (re-read only if a file changed)."""
        with self._lock:
            key = self._stamp()
            if key != self._key:
                try:
                    self._view = self._load()
                except Exception as exc:  # noqa: BLE001 - never take the server down for a bad run dir
                    self._view = RunView(errors=[f"{self.run_dir}: cannot be read ({type(exc).__name__}: {exc})"])
                self._key = key
            return self._view

    def files(self) -> list[str]:
        """Every regular file of the run directory (relative POSIX paths, hidden and partial ones left out)."""
        root = self.run_dir.resolve()
        out = []
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root)
            if any(part.startswith(".") for part in rel.parts) or not p.is_file() or p.is_symlink():
                continue
            out.append(rel.as_posix())
        return out

    # -- loading --------------------------------------------------------------------------------------------------
    def _load(self) -> RunView:
        if (self.run_dir / JOURNAL_FILE).exists() or (self.run_dir / CAMPAIGN_FILE).exists():
            return self._load_journal()
        if (self.run_dir / "features.csv").exists():
            return self._load_results(self.run_dir)
        if not self.run_dir.is_dir():
            return RunView(errors=[f"{self.run_dir} is not a directory"])
        return RunView(errors=[f"{self.run_dir} holds no run yet (no {JOURNAL_FILE}, {CAMPAIGN_FILE} or "
                               f"features.csv); waiting"])

    def _load_journal(self) -> RunView:
        v = RunView(kind="journal")
        try:
            from instruments.input_files import load_structured

            if not (self.run_dir / CAMPAIGN_FILE).exists():
                raise FileNotFoundError(CAMPAIGN_FILE)
            # bounded: a regular file (a named pipe would block this server thread), at most 5 MB, 32 levels deep
            spec = load_structured(self.run_dir / CAMPAIGN_FILE, "campaign file", yaml_ok=False)
            v.name = spec.get("name", "")
            v.schedule = spec.get("schedule") or {}
            v.start_time = spec.get("start_time", "")
            v.plate_wells = int(spec.get("plate_wells") or 96)  # None (not given): drawn as 96
            import io

            v.plate = pd.read_csv(io.StringIO(spec["plate_map_csv"]), dtype={"well": str})
        except FileNotFoundError:
            v.errors.append(f"{CAMPAIGN_FILE} is missing")
        except Exception as exc:  # noqa: BLE001
            v.errors.append(f"{CAMPAIGN_FILE} is damaged ({type(exc).__name__}: {exc})")
        records, problems = journal_records(self.run_dir / JOURNAL_FILE)
        v.errors.extend(problems)
        reads = [r for r in records if r.get("type") == "read"]
        v.events = [{k: val for k, val in r.items() if k not in ("seq", "type")} for r in records
                    if r.get("type") == "event"]
        plate_rec = next((r for r in records if r.get("type") == "plate"), None)
        kinetic = next((r for r in records if r.get("type") == "kinetic"), None)
        v.kinetic_start_s = float(kinetic["t_s"]) if kinetic else None
        clock = next((r for r in records if r.get("type") == "clock"), None)
        v.virtual_clock = not (clock or {}).get("realtime", False)
        v.complete = any(r.get("type") == "done" for r in records)
        if plate_rec is not None:
            v.injected_s = _injections(plate_rec)
            v.plate = _with_dispensed(v.plate, plate_rec)
        if not reads:
            v.wells = list(v.plate["well"].astype(str)) if not v.plate.empty else []
            return v
        try:
            self._fill_reads(v, reads)
        except Exception as exc:  # noqa: BLE001
            v.errors.append(f"{JOURNAL_FILE}: a read record could not be used ({type(exc).__name__}: {exc})")
        return v

    def _fill_reads(self, v: RunView, reads: list[dict]) -> None:
        from twin.analysis import fit_gaussians

        wells = [str(w) for w in reads[0]["wells"]]
        v.wells = wells
        v.wavelength_nm = np.asarray(reads[0]["wavelength_nm"], float)
        cube = np.stack([np.array([[np.nan if x is None else x for x in row] for row in r["counts"]], float)
                         for r in reads], axis=1)  # (well, read, wavelength)
        v.cube = cube
        v.read_start_s = np.array([float(r["start_s"]) for r in reads])
        v.read_end_s = np.array([float(r["end_s"]) for r in reads])
        mid = (v.read_start_s + v.read_end_s) / 2
        inj = np.array([v.injected_s.get(w, np.nan) for w in wells], float)
        first = np.nanmin(inj) if np.isfinite(inj).any() else (v.kinetic_start_s or 0.0)
        inj = np.where(np.isfinite(inj), inj, first)
        v.time_min = (mid[None, :] - inj[:, None]) / 60.0
        new = [i for i in range(len(reads)) if i not in self._fits]
        if new:
            fit = fit_gaussians(cube[:, new].transpose(1, 0, 2), v.wavelength_nm)  # (reads, wells)
            names = np.asarray(fit.status_name if hasattr(fit, "status_name") else fit.status)
            for j, i in enumerate(new):
                self._fits[i] = (np.asarray(fit.peak_nm, float)[j], np.asarray(fit.fwhm_nm, float)[j],
                                 np.asarray(fit.height, float)[j], names[j])
        cols = [self._fits[i] for i in range(len(reads))]
        v.peak_nm, v.fwhm_nm, v.height = (np.stack([c[k] for c in cols], axis=1) for k in range(3))
        v.status = np.stack([np.asarray(c[3], dtype=object) for c in cols], axis=1)

    def _load_results(self, d: Path) -> RunView:
        v = RunView(kind="results", complete=True)
        try:
            m = json.loads((d / "manifest.json").read_text())
            v.name, v.schedule, v.start_time = m.get("scenario", ""), m.get("schedule") or {}, m.get("start_time", "")
            v.plate_wells = int(m.get("plate_wells", 96))
            v.kinetic_start_s = m.get("kinetic_start_s")
            v.virtual_clock = (m.get("backends") or {}).get("clock", "virtual") != "realtime"
        except Exception as exc:  # noqa: BLE001
            v.errors.append(f"manifest.json: {type(exc).__name__}: {exc}")
        try:
            v.plate = pd.read_csv(d / "plate.csv", dtype={"well": str})
            if "injected_at_min" in v.plate:
                v.injected_s = dict(zip(v.plate["well"], v.plate["injected_at_min"].astype(float) * 60.0))
        except Exception as exc:  # noqa: BLE001
            v.errors.append(f"plate.csv: {type(exc).__name__}: {exc}")
        try:
            f = pd.read_csv(d / "features.csv", dtype={"well": str})
            wells = list(pd.unique(f["well"]))
            code = pd.Categorical(f["well"], categories=wells).codes
            nr = int(f["read"].max()) + 1
            shape = (len(wells), nr)

            def grid(col, fill=np.nan, dtype=float):
                a = np.full(shape, fill, dtype=dtype)
                a[code, f["read"].to_numpy(int)] = f[col].to_numpy()
                return a

            v.wells = wells
            v.time_min, v.peak_nm, v.fwhm_nm, v.height = (grid(c) for c in ("time_min", "peak_nm", "fwhm_nm",
                                                                              "height"))
            v.status = grid("status", None, object)
            inj = np.array([v.injected_s.get(w, np.nan) for w in wells])
            first = np.nanmin(inj) if np.isfinite(inj).any() else 0.0
            mid = np.nanmedian(v.time_min * 60.0 + np.where(np.isfinite(inj), inj, first)[:, None], axis=0)
            half = _half_scan_s(d)
            v.read_start_s, v.read_end_s = mid - half, mid + half
        except Exception as exc:  # noqa: BLE001
            v.errors.append(f"features.csv: {type(exc).__name__}: {exc}")
        try:
            sp = pd.read_parquet(d / "spectra.parquet")
            from twin.analysis.figure_data import spectra_cube

            wells, grid_nm, _, cube = spectra_cube(sp)
            order = [wells.index(w) for w in v.wells if w in wells]
            v.wavelength_nm, v.cube = grid_nm, cube[order]
        except Exception as exc:  # noqa: BLE001
            v.errors.append(f"spectra.parquet: {type(exc).__name__}: {exc}")
        ev = d / "events.jsonl"
        if ev.exists():
            for n, line in enumerate(ev.read_text().splitlines(), 1):
                try:
                    v.events.append(json.loads(line))
                except ValueError:
                    v.errors.append(f"events.jsonl: line {n} is not JSON")
        return v


def _half_scan_s(d: Path) -> float:
    """Half a scan's duration from log.jsonl's read commands; 0 if unknown."""
    return 0.0


def _with_dispensed(plate: pd.DataFrame, plate_rec: dict) -> pd.DataFrame:
    """The plate map with the ``dispensed_*`` volumes of the journaled ``plate`` record (as a run's ``plate.csv``
    has them), so the forecast band of a live run carries the robot's pipetting scatter (``twin.forecast``)."""
    from instruments.pipettor import INJECTION_COMPONENT
    from instruments.sim.plate_recipes import cs_stock_name

    if plate.empty or not {"antisolvent", "acid", "amine"} <= set(plate.columns):
        return plate
    comps = plate_rec.get("components") or {}
    row = {str(w): i for i, w in enumerate(plate_rec.get("wells") or [])}

    def vol(comp, well):
        i = row.get(str(well))
        vals = comps.get(comp)
        return float(vals[i]) if i is not None and vals is not None and vals[i] is not None else 0.0

    out = plate.copy()
    wells = out["well"].astype(str)
    out["dispensed_antisolvent_uL"] = [vol(a, w) for a, w in zip(out["antisolvent"], wells)]
    out["dispensed_cs_uL"] = [vol(cs_stock_name(a), w) for a, w in zip(out["antisolvent"], wells)]
    out["dispensed_pbbr2_uL"] = [vol(INJECTION_COMPONENT, w) for w in wells]
    out["dispensed_acid_uL"] = [vol(a, w) for a, w in zip(out["acid"], wells)]
    out["dispensed_amine_uL"] = [vol(a, w) for a, w in zip(out["amine"], wells)]
    return out


def _injections(plate_rec: dict) -> dict:
    """well -> injection time (s) from a journaled ``plate`` record; NaN for wells never injected."""
    wells = plate_rec.get("wells") or []
    times = plate_rec.get("injected_at_s") or []
    return {str(w): (np.nan if t is None else float(t)) for w, t in zip(wells, times)}
