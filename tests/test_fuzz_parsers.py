"""Bad input, fuzzed (hypothesis): every parser gives a result or one clear typed error, never a crash or a hang.

Parsers: the plate-map loader, the config/scenario/fault-plan models, the Gen5 spectra reader (arbitrary bytes and
mutated copies of a real export) and the Cytation serial frame parsers.  Typed error = the parser's own error class
(``PlateMapError``, ``FaultPlanError``, ``Gen5FormatError``, ``ProtocolError``) or, for the pydantic models,
pydantic's ``ValidationError``; any other exception, a bare ``ValueError`` included, is a bug (``docs/inputs.md``) and
fails the test.  Example counts are bounded (no test is a speed target: ``deadline`` only stops a hang) and printed
when the module's tests end (``pytest -s``).
"""

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from instruments.cytation import protocol as p
from instruments.cytation.gen5 import Gen5FormatError, read_gen5_spectra
from scenarios import plates
from twin.campaign import Campaign
from twin.config import LabConfig, Schedule
from twin.faults import FaultPlan, FaultPlanError
from twin.platemap import PlateMapError, read_plate_map, validate_plate_map

REAL_GEN5 = Path(__file__).parent / "data" / "gen5_em_spectrum_neo2.txt"
COUNTS: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def report_example_counts():
    """Print how many examples each parser saw, once the module's tests have run (whichever of them ran)."""
    yield
    print("\nfuzz examples per parser: " + ", ".join(f"{k}: {v}" for k, v in COUNTS.items()))


def fuzz(n: int) -> settings:
    """``n`` examples, 2 s per example at most (a hang fails the test), no example database in the repo."""
    return settings(max_examples=n, deadline=2000, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def counted(name):
    COUNTS[name] = COUNTS.get(name, 0) + 1


def mutate(data: bytes, ops) -> bytes:
    """Apply (op, position, byte) edits: flip, delete, insert, duplicate a slice, truncate."""
    b = bytearray(data)
    for op, pos, val in ops:
        if not b:
            break
        i = pos % len(b)
        if op == 0:
            b[i] = val
        elif op == 1:
            del b[i]
        elif op == 2:
            b.insert(i, val)
        elif op == 3:
            b[i:i] = b[i:i + val % 64]
        else:
            del b[i:]
    return bytes(b)


EDITS = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8)


# -- plate maps ---------------------------------------------------------------------------------------------------
VALID_CSV = plates.paper_series("toluene", "OAc:OLAm").iloc[:6].to_csv(index=False)


@fuzz(200)
@given(st.text(alphabet=string.printable, max_size=400))
def test_plate_map_text_fuzz(text):
    counted("plate map (text)")
    try:
        df = read_plate_map(text + "\n")
    except PlateMapError:  # only ours: a bare ValueError would be a bug (docs/inputs.md)
        return
    assert len(df) > 0 and df["well"].is_unique


@fuzz(200)
@given(EDITS)
def test_plate_map_mutated_real_csv(ops):
    counted("plate map (mutated CSV)")
    text = mutate(VALID_CSV.encode(), ops).decode("ascii", "replace")
    try:
        df = read_plate_map(text + "\n")
    except PlateMapError:  # only ours: a bare ValueError would be a bug (docs/inputs.md)
        return
    assert df[["antisolvent_uL", "cs_uL", "pbbr2_uL", "acid_uL", "amine_uL"]].ge(0).all().all()


CELL = st.one_of(st.none(), st.floats(allow_nan=True), st.integers(-10**6, 10**6), st.text(max_size=8),
                 st.sampled_from(["A1", "H12", "P24", "toluene", "OAc", "OLAm", "-1", "nan", "inf", "1e400"]))


@fuzz(150)
@given(st.lists(st.fixed_dictionaries({c: CELL for c in ["well", "antisolvent", "antisolvent_uL", "cs_uL",
                                                          "pbbr2_uL", "acid", "acid_uL", "amine", "amine_uL"]}),
                max_size=5))
def test_plate_map_frame_fuzz(rows):
    import pandas as pd

    counted("plate map (DataFrame cells)")
    try:
        validate_plate_map(pd.DataFrame(rows, columns=list(rows[0]) if rows else None))
    except PlateMapError:  # only ours: a bare ValueError would be a bug (docs/inputs.md)
        return


# -- config, scenario and fault-plan models ------------------------------------------------------------------------
JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=6)),
                       lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=6), kids,
                                                                                         max_size=3)), max_leaves=6)


def fields_of(model):
    return st.dictionaries(st.sampled_from(sorted(model.model_fields)) | st.text(max_size=5), JSONISH, max_size=5)


@fuzz(150)
@given(fields_of(Schedule), fields_of(LabConfig))
def test_config_models_fuzz(schedule, lab):
    counted("Schedule/LabConfig")
    for model, data in ((Schedule, schedule), (LabConfig, lab)):
        try:
            model.model_validate(data)
        except ValidationError:
            pass


@fuzz(100)
@given(fields_of(Campaign))
def test_campaign_model_fuzz(data):
    counted("Campaign")
    try:
        Campaign.model_validate(data)
    except ValidationError:
        pass


@fuzz(200)
@given(st.one_of(st.text(max_size=300), st.builds(lambda faults: "faults:\n" + "".join(
    f"  - {{kind: {k}, {t}: {v}}}\n" for k, t, v in faults), st.lists(st.tuples(
        st.sampled_from(["tip_pickup", "crash", "tray_jam", "meteor", "temperature_excursion"]),
        st.sampled_from(["nth", "at_s", "probability", "times", "x"]),
        st.sampled_from(["1", "-1", "0.5", "1e9", ".nan", ".inf", "[]", "abc"])), max_size=4))))
def test_fault_plan_fuzz(text):
    counted("FaultPlan (YAML)")
    try:
        plan = FaultPlan.from_text(text)
    except FaultPlanError:
        return
    for f in plan.faults:
        assert sum(x is not None for x in (f.nth, f.at_s, f.probability)) == 1


# -- bounded YAML/JSON (issue 20): alias bombs and deep nesting refused, never a hang or a RecursionError ------------
@fuzz(60)
@given(st.integers(1, 9), st.integers(1, 12), st.sampled_from(["faults", "steps", "x"]))
def test_yaml_alias_expansion_is_bounded(levels, fanout, key):
    from instruments.input_files import MAX_NODES

    counted("YAML alias bombs")
    lines = ["a0: &a0 [" + ",".join(["lol"] * fanout) + "]"]
    for k in range(1, levels):
        lines.append(f"a{k}: &a{k} [" + ",".join([f"*a{k - 1}"] * fanout) + "]")
    lines.append(f"{key}: *a{levels - 1}")
    expanded = sum(fanout ** k for k in range(1, levels + 1))
    try:
        FaultPlan.from_text("\n".join(lines) + "\n")
    except FaultPlanError as exc:
        assert expanded <= MAX_NODES or "expands to more than" in str(exc)
        return
    assert expanded <= MAX_NODES


@fuzz(60)
@given(st.integers(1, 3000), st.sampled_from(["[", "{a: ", "- "]), st.booleans())
def test_deep_nesting_is_refused_in_one_line(depth, opener, as_json):
    from instruments.input_files import MAX_NESTING, InputFileError, load_json, load_yaml

    counted("deep YAML/JSON")
    if as_json:
        text = ("[" * depth + "]" * depth) if opener != "{a: " else ('{"a":' * depth + "1" + "}" * depth)
        load = load_json
    else:
        closer = {"[": "]", "{a: ": "}", "- ": ""}[opener]
        text = (opener * depth + "1" + closer * depth) if opener != "- " else \
            "".join("  " * i + "-\n" for i in range(depth)) + "  " * depth + "1\n"
        load = load_yaml
    try:
        load(text, "fuzz.yaml")
    except InputFileError as exc:
        assert "nested more than" in str(exc) or "not valid" in str(exc)
        return
    assert depth <= MAX_NESTING + 1


@fuzz(80)
@given(st.integers(1, 999), st.integers(0, 999), st.booleans())
def test_a_thousands_dot_is_never_read_as_a_decimal_in_a_decimal_comma_file(whole, frac, padded):
    counted("plate map (thousands separators)")
    cell = f"{whole}.{frac:03d}"
    text = ("well;antisolvent;antisolvent_uL;cs_uL;pbbr2_uL;acid;acid_uL;amine;amine_uL" + (";;" if padded else "")
            + f"\nA1;toluene;150;{cell};15;OAc;0,5;OLAm;0,05" + (";;" if padded else "") + "\n")
    with pytest.raises(PlateMapError, match=f"column 'cs_uL': '{cell}' is ambiguous"):
        read_plate_map(text)


@fuzz(30)
@given(st.integers(1001, 300_000), st.sampled_from([",", ";", "\t"]))
def test_a_very_wide_plate_map_is_refused_at_its_header(n, sep):
    counted("plate map (wide headers)")
    header = "well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL".replace(",", sep)
    with pytest.raises(PlateMapError, match="columns, more than the 1000"):
        read_plate_map(header + sep + sep.join(f"x{i}" for i in range(n)) + "\nA1\n")


def test_non_regular_files_are_refused_without_opening(tmp_path):
    import os

    pipe = tmp_path / "pipe.txt"
    os.mkfifo(pipe)
    for read, error in ((lambda p: read_gen5_spectra(p, read_type=None), Gen5FormatError),
                        (read_plate_map, PlateMapError), (FaultPlan.load, FaultPlanError)):
        for path in (pipe, Path("/dev/zero")):
            with pytest.raises(error, match="not a regular file"):
                read(str(path) if read is read_plate_map else path)


def test_schedule_rejects_an_infinite_interval():
    with pytest.raises(ValidationError):
        Schedule(every_min=float("inf"))


# -- Gen5 export reader --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gen5_file(tmp_path_factory):
    return tmp_path_factory.mktemp("gen5") / "fuzz.txt"


def _read_gen5(path, data: bytes):
    path.write_bytes(data)
    try:
        g = read_gen5_spectra(path, read_type=None)
    except Gen5FormatError:
        return None
    assert g.counts.shape == (g.counts.shape[0], len(g.wells), len(g.wavelength_nm))
    return g


@fuzz(150)
@given(st.binary(max_size=600))
def test_gen5_arbitrary_bytes(gen5_file, data):
    counted("Gen5 reader (arbitrary bytes)")
    _read_gen5(gen5_file, data)


@fuzz(250)
@given(EDITS)
def test_gen5_mutated_real_export(gen5_file, ops):
    counted("Gen5 reader (mutated real export)")
    _read_gen5(gen5_file, mutate(REAL_GEN5.read_bytes(), ops))


def test_gen5_real_export_still_parses(gen5_file):
    assert _read_gen5(gen5_file, REAL_GEN5.read_bytes()).counts.shape == (1, 1, 3)


# -- serial frames -------------------------------------------------------------------------------------------------
GOOD_BODY = p.encode_body(p.Region(1, 1, 2, 3), {(r, c): p.format_rfu(100 * r + c) for r in (1, 2) for c in (1, 2, 3)})
GOOD_DEF = p.fluorescence_definition(p.Region(1, 1, 8, 12), 365, 515)


@fuzz(300)
@given(st.one_of(st.binary(max_size=200), EDITS.map(lambda ops: mutate(GOOD_BODY, ops)),
                 EDITS.map(lambda ops: mutate(p.encode_reply("1320200  Version 2.09   0000"), ops))))
def test_serial_frame_parsers(raw):
    counted("serial frames (reply/body)")
    for parse in (lambda: p.decode_reply(raw, "O"), lambda: p.parse_body(raw)):
        try:
            parse()
        except p.ProtocolError:
            pass
    text = raw.decode("latin-1")
    for parse in (p.parse_firmware, p.parse_serial_number, p.parse_temperature, p.parse_set_point,
                  p.Region.decode, p.PlateGeometry.decode):
        try:
            parse(text)
        except p.ProtocolError:
            pass


@fuzz(250)
@given(st.one_of(st.text(max_size=120), EDITS.map(lambda ops: mutate(GOOD_DEF.encode(), ops).decode("latin-1"))))
def test_read_definition_parser(frame):
    counted("serial frames (D definitions)")
    try:
        d = p.parse_definition(frame)
    except p.ProtocolError:
        return
    assert d.region.n_wells >= 1
