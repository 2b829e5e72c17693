"""The run as bluesky event-model documents: every document validates against event-model's schemas, streams and
uids are consistent, same seed same bytes, and real bluesky callbacks consume a twin run."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pytest
from bluesky.callbacks import CallbackBase, LiveTable
from event_model import DocumentNames, schema_validators

from scenarios import plates
from twin.campaign import Campaign, run_campaign
from twin.cli import main
from twin.config import Schedule
from twin.faults import FaultPlan
from twin.procedure import AbsorbanceSpectrum, Kinetic, PLSpectrum, Procedure
from twin.records.bluesky import EventModelDocuments, read_documents

ABS_AND_PL = Procedure(steps=[Kinetic(interval_min=0, duration_min=20, steps=[
    AbsorbanceSpectrum(start_nm=400, stop_nm=600, step_nm=10), PLSpectrum()])])
PLATE = """well,antisolvent,antisolvent_uL,cs_uL,pbbr2_uL,acid,acid_uL,amine,amine_uL,group
A1,toluene,150,100,15,OAc,0.5,OLAm,0.05,a
A2,toluene,150,100,15,OAc,0.5,OLAm,1.0,b
"""


def campaign(procedure=None, faults=None) -> Campaign:
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0, 15, 19]].copy()
    pm["well"] = ["A1", "A2", "A3"]
    return Campaign(name="three", plate_map=pm, schedule=Schedule(hours=0.4), procedure=procedure, faults=faults)


def documents(c: Campaign, seed: int = 0):
    docs = []
    result = run_campaign(c, seed=seed, progress=False, subscribers=[EventModelDocuments(
        lambda n, d: docs.append((n, json.loads(json.dumps(d)))))])
    return result, docs


def test_every_document_validates_against_event_model_with_one_descriptor_per_read_kind():
    faults = FaultPlan.model_validate({"faults": [{"kind": "reader_timeout", "nth": 2}]})
    result, docs = documents(campaign(ABS_AND_PL, faults))
    for name, doc in docs:
        schema_validators[DocumentNames[name]].validate(doc)
    names = [n for n, _ in docs]
    assert names[0] == "start" and names[-1] == "stop" and names.count("start") == names.count("stop") == 1
    descriptors = {d["name"]: d for n, d in docs if n == "descriptor"}
    assert sorted(descriptors) == ["absorbance_spectrum", "pl_spectrum", "plate", "twin_events"]
    assert len(descriptors) == names.count("descriptor")  # one each: the shapes never changed
    start, stop = docs[0][1], docs[-1][1]
    assert all(d["run_start"] == start["uid"] for d in descriptors.values()) and stop["run_start"] == start["uid"]
    by_uid = {d["uid"]: d["name"] for d in descriptors.values()}
    events = [d for n, d in docs if n == "event"]
    per_stream = Counter(by_uid[e["descriptor"]] for e in events)
    assert stop["exit_status"] == "success" and stop["num_events"] == dict(per_stream)
    assert per_stream["pl_spectrum"] == result.manifest["reads"]
    assert per_stream["absorbance_spectrum"] == result.manifest["absorbance_reads"]
    for stream in per_stream:  # seq_num counts 1.. within each stream
        assert [e["seq_num"] for e in events if by_uid[e["descriptor"]] == stream] == \
            list(range(1, per_stream[stream] + 1))
    uids = [d["uid"] for _, d in docs]
    assert len(set(uids)) == len(uids)
    pl = [e for e in events if by_uid[e["descriptor"]] == "pl_spectrum"]
    np.testing.assert_array_equal(np.array(pl[0]["data"]["counts"], float), result.cube.intensity[:, 0, :])
    assert descriptors["pl_spectrum"]["data_keys"]["counts"]["shape"] == [3, 126]
    assert any(json.loads(e["data"]["detail"]) for e in events if by_uid[e["descriptor"]] == "twin_events")
    plate = next(e for e in events if by_uid[e["descriptor"]] == "plate")["data"]
    assert {"PbBr2_DMF_uL", "OAc_uL", "OLAm_uL", "toluene_uL"} <= set(plate)


def test_a_run_that_ends_in_an_error_still_gets_a_valid_stop():
    docs = []
    sub = EventModelDocuments(lambda n, d: docs.append((n, d)))
    sub("start", {"campaign": "x", "seed": 5, "wells": ["A1"], "procedure": {"steps": []}})
    sub.close("fail", "ReaderError: the reader stopped answering")
    sub.close("fail", "a second close adds nothing")
    assert [n for n, _ in docs] == ["start", "stop"]
    schema_validators[DocumentNames.stop].validate(docs[1][1])
    assert docs[1][1]["exit_status"] == "fail" and "stopped answering" in docs[1][1]["reason"]


class PeakCallback(CallbackBase):
    """A bluesky callback of our own: the brightest wavelength of each well in each PL event."""

    def __init__(self):
        super().__init__()
        self.streams, self.peaks = {}, []

    def descriptor(self, doc):
        self.streams[doc["uid"]] = doc["name"]

    def event(self, doc):
        if self.streams[doc["descriptor"]] == "pl_spectrum":
            counts = np.array(doc["data"]["counts"], float)
            self.peaks.append(np.asarray(doc["data"]["wavelength_nm"])[np.nanargmax(counts, axis=1)])


def test_bluesky_callbacks_consume_a_twin_run():
    lines = io.StringIO()
    table = LiveTable(["index", "excitation_nm", "gain"], stream_name="pl_spectrum",
                      out=lambda s: lines.write(s + "\n"))
    peaks = PeakCallback()
    result = run_campaign(campaign(), progress=False,
                          subscribers=[EventModelDocuments(table), EventModelDocuments(peaks)])
    text = lines.getvalue()
    rows = [ln for ln in text.splitlines() if ln.startswith("|") and "365.000" in ln]
    assert len(rows) == result.manifest["reads"]  # one table row per PL read
    assert "generator larp_twin_campaign" in text  # LiveTable's closing line from the start document
    wl, cube = result.cube.wavelength_nm, result.cube.intensity
    np.testing.assert_array_equal(np.array(peaks.peaks), wl[np.nanargmax(cube, axis=2)].T)
    assert peaks.peaks[-1][0] > peaks.peaks[-1][2]  # OLAm:OAc 0.1 (A1) redder than 2.0 (A3)


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plate.csv").write_text(PLATE)
    return tmp_path


def test_run_documents_same_seed_same_bytes(lab):
    args = ["run", "plate.csv", "--hours", "0.3", "--no-figures", "--quiet"]
    assert main([*args, "--out", "a", "--documents", "a.jsonl"]) == 0
    assert main([*args, "--out", "b", "--documents", "b.jsonl"]) == 0
    assert main([*args, "--out", "c", "--seed", "1", "--documents", "c.jsonl"]) == 0
    a, b, c = ((lab / f"{x}.jsonl").read_bytes() for x in "abc")
    assert a == b and a != c
    docs = list(read_documents(lab / "a.jsonl"))
    for name, doc in docs:
        schema_validators[DocumentNames[name]].validate(doc)
    assert [n for n, _ in docs][:2] == ["start", "descriptor"] and docs[-1][0] == "stop"
    # the documents are a subscriber of their own: the results are the bytes of a run without them
    assert main([*args, "--out", "d"]) == 0
    assert (lab / "a" / "features.csv").read_bytes() == (lab / "d" / "features.csv").read_bytes()


@pytest.mark.parametrize("argv, says", [
    (["--documents", "missing/run.jsonl"], "the folder 'missing' does not exist"),
    (["--documents", "."], "is a directory"),
    (["--documents", "old.jsonl"], "exists; add --overwrite"),
])
def test_documents_option_errors_are_one_line_and_exit_2_before_any_work(lab, capsys, argv, says):
    (lab / "old.jsonl").write_text("[]\n")
    assert main(["run", "plate.csv", "--out", "out", "--quiet", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("larp-twin: error: ") and says in err[0], err
    assert not (lab / "out").exists() and (lab / "old.jsonl").read_text() == "[]\n"
