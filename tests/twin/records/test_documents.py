"""The document stream: order of documents, subscribers, the journal as the stream on disk, resume replaying it."""

import json
import shutil

from scenarios import plates
from twin.campaign import Campaign, run_campaign
from twin.config import Schedule
from twin.procedure import AbsorbanceSpectrum, Kinetic, PLSpectrum, Procedure
from twin.records.documents import JOURNALED, on
from twin.records.journal import read_journal
from twin.records.resume import JOURNAL_FILE, RESULTS_DIR, resume, run_durable


def tiny(procedure=None):
    pm = plates.paper_series("toluene", "OAc:OLAm").iloc[[0, 1]].copy()
    pm["well"] = ["A1", "A2"]
    return Campaign(name="tiny", plate_map=pm, schedule=Schedule(hours=0.5), procedure=procedure)


ABS = Procedure(steps=[Kinetic(interval_min=0, duration_min=30, steps=[
    AbsorbanceSpectrum(start_nm=400, stop_nm=600, step_nm=10), PLSpectrum()])])


def test_documents_come_in_order_start_plate_reads_done():
    docs = []
    r = run_campaign(tiny(), progress=False, subscribers=[lambda name, doc: docs.append((name, doc))])
    names = [n for n, _ in docs]
    assert names[:2] == ["start", "plate"] and names[-1] == "done"
    assert names[2:-1] == ["read"] * r.manifest["reads"]
    assert [d["index"] for n, d in docs if n == "read"] == list(range(r.manifest["reads"]))
    start = docs[0][1]
    assert start["procedure"]["steps"][0]["type"] == "kinetic" and start["wells"] == ["A1", "A2"]


def test_absorbance_and_pl_documents_alternate_and_filters_work():
    names, reads = [], []
    run_campaign(tiny(ABS), progress=False,
                 subscribers=[lambda n, d: names.append(n), on("read", lambda d: reads.append(d["index"]))])
    body = [n for n in names if n in ("read", "abs_read")]
    assert body[:4] == ["abs_read", "read", "abs_read", "read"]
    assert reads == list(range(body.count("read")))


def test_journal_holds_the_stream_and_resume_replays_it(tmp_path):
    run_durable(tiny(ABS), tmp_path / "a", seed=2)
    recs = read_journal(tmp_path / "a" / JOURNAL_FILE)
    assert {r["type"] for r in recs} <= {"start", *JOURNALED} and any(r["type"] == "abs_read" for r in recs)
    # a crash half-way: the journal up to the third absorbance read, no results
    b = tmp_path / "b"
    shutil.copytree(tmp_path / "a", b)
    shutil.rmtree(b / RESULTS_DIR)
    lines = (b / JOURNAL_FILE).read_text().splitlines(keepends=True)
    cut = [i for i, ln in enumerate(lines) if '"type":"abs_read"' in ln][2]
    (b / JOURNAL_FILE).write_text("".join(lines[:cut + 1]))
    seen = []
    resume(b, subscribers=[lambda n, d: seen.append(n)])
    for name in ("spectra.parquet", "absorbance.parquet", "absorbance_features.csv", "gen5_export.txt"):
        assert (b / RESULTS_DIR / name).read_bytes() == (tmp_path / "a" / RESULTS_DIR / name).read_bytes(), name
    assert read_journal(b / JOURNAL_FILE) == recs  # nothing lost, nothing written twice
    assert "abs_read" in seen and seen[-1] == "done"
    spec = json.loads((b / "campaign.json").read_text())
    assert spec["procedure"]["steps"][0]["steps"][0]["type"] == "absorbance_spectrum"


def test_a_campaign_file_of_an_unknown_format_is_refused_clearly(tmp_path):
    import pytest

    from twin.records.journal import JournalError

    run = tmp_path / "r"
    run_durable(tiny(), run)
    spec = json.loads((run / "campaign.json").read_text())
    (run / "campaign.json").write_text(json.dumps({**spec, "format": 9}))
    shutil.rmtree(run / RESULTS_DIR)
    with pytest.raises(JournalError, match="format 9"):
        resume(run)


def test_a_restart_continues_a_two_loop_procedure_in_its_second_loop():
    from twin.records.resume import restart_point

    proc = Procedure(steps=[Kinetic(interval_min=5, duration_min=20, steps=[PLSpectrum()]),
                            Kinetic(interval_min=15, duration_min=60, steps=[PLSpectrum()])])
    c = tiny(proc)
    docs = []
    full = run_campaign(c, progress=False, subscribers=[lambda n, d: docs.append((n, d))])
    records = [{"type": "clock", "wall_epoch_s": 0.0, "time_factor": 1.0, "realtime": False}]
    records += [{"type": n, **d} for n, d in docs if n in JOURNALED]
    records.insert(2, {"type": "kinetic", "t_s": full.manifest["kinetic_start_s"]})
    reads = [i for i, r in enumerate(records) if r["type"] == "read"]
    second_loop = [i for i in reads if records[i].get("loop") == 1]
    cut = records[:second_loop[1] + 1]  # crashed after the second read of the second loop
    restart = restart_point([{"seq": k, **r} for k, r in enumerate(cut)], c)
    assert (restart.last_loop, restart.last_slot) == (1, records[second_loop[1]]["slot"])
    again = run_campaign(c, progress=False, restart=restart)
    import numpy as np  # the restarted clock keeps the journaled times to a few ms

    assert np.allclose(again.dataset["read_start_min"].values, full.dataset["read_start_min"].values, atol=1e-3)
