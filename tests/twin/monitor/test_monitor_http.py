"""The monitor's HTTP endpoints: page, Dash layout/callbacks, state, files; token, traversal, damaged journals."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("dash")

from twin.monitor.app import create_app  # noqa: E402
from twin.monitor.forecast import forecast_view  # noqa: E402
from twin.monitor.source import RunSource  # noqa: E402

TOKEN = "s3cret-token"


def client(run, **kw):
    app = create_app(run, **kw)
    assert app.monitor.wait_forecast(600)  # the band is computed in the background; these tests check it
    return app.server.test_client()


def render(c, well=None, headers=None, deps_headers=None):
    """POST Dash's main callback as the browser does; returns its JSON response."""
    deps = c.get("/_dash-dependencies", headers=deps_headers or headers).json
    main = next(d for d in deps if "status.children" in d["output"])
    body = {"output": main["output"], "outputs": [{"id": o.split(".")[0].lstrip("."), "property": o.split(".")[-1]}
                                                  for o in main["output"].strip(".").split("...")],
            "inputs": [{"id": "tick", "property": "n_intervals", "value": 1},
                       {"id": "metric", "property": "value", "value": "peak_nm"},
                       {"id": "well", "property": "data", "value": well},
                       {"id": "clock", "property": "data", "value": {"playing": False, "t_s": None, "wall": None}}],
            "changedPropIds": ["tick.n_intervals"], "state": []}
    return c.post("/_dash-update-component", json=body, headers=headers)


def test_page_layout_and_assets_are_served_locally(faulty_run):
    c = client(faulty_run)
    page = c.get("/")
    assert page.status_code == 200
    assert "http://" not in page.text.replace("http://www.w3.org", "") and "https://" not in page.text
    assert c.get("/_dash-layout").status_code == 200
    assert c.get("/_dash-dependencies").status_code == 200


def test_state_reports_progress_and_the_forecast_flag(faulty_run):
    st = client(faulty_run).get("/api/state").json
    assert st["complete"] and st["reads"] > 5 and st["progress"] == 1.0
    assert st["failed"] == ["B3"]
    flagged = {f["well"] for f in st["flags"]}
    # B3 (its antisolvent dispense skipped) is flagged; A9 is the one false alarm of this seed (the twin robot's
    # ligand ratio 20 % off; benchmarks/bench_flags.py counts it among the 1.6 %)
    assert "B3" in flagged and flagged <= {"B3", "A9"} and st["errors"] == []


def test_clean_run_has_no_flags(clean_run):
    v = RunSource(clean_run).view()
    assert {f["well"] for f in forecast_view(v).flags} <= {"A9"}  # seed 0's one false alarm (see above)


def test_callback_renders_the_clicked_well(faulty_run):
    r = render(client(faulty_run), well="B3")
    assert r.status_code == 200
    resp = r.json["response"]
    traj = resp["trajectories"]["figure"]
    assert any(t.get("name") == "B3" for t in traj["data"])
    assert any(t.get("name") == "twin forecast" for t in traj["data"])
    assert "B3" in json.dumps(resp["flags"]["children"])


def test_files_are_served_without_traversal(faulty_run, tmp_path):
    (faulty_run.parent / "secret.txt").write_text("TOPSECRET")
    c = client(faulty_run)
    assert c.get("/files/campaign.json").json["name"] == "paper-toluene"
    assert c.get("/files/results/manifest.json").status_code == 200
    for bad in ("../secret.txt", "%2e%2e/secret.txt", "..%2fsecret.txt", "results/../../secret.txt",
                "/etc/passwd", "%2fetc%2fpasswd", "results/../campaign.json/../../secret.txt"):
        r = c.get("/files/" + bad)
        assert b"TOPSECRET" not in r.data and b"root:" not in r.data, bad
        # either refused, or (a path Flask normalises out of /files/) Dash's page, never a file
        assert r.status_code == 404 or (r.status_code == 200 and b"_dash-config" in r.data), bad


def test_symlink_out_of_the_run_is_not_served(copy_run, tmp_path):
    run = copy_run()
    (tmp_path / "outside.txt").write_text("secret")
    (run / "link.txt").symlink_to(tmp_path / "outside.txt")
    assert client(run).get("/files/link.txt").status_code == 404


def test_token_is_required_on_every_endpoint(faulty_run):
    c = client(faulty_run, token=TOKEN)
    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/api/state", "/files/campaign.json",
                 "/_dash-component-suites/dash/deps/react@18.v4_4_1m1.3.1.min.js"):
        assert c.get(path).status_code == 403, path
        assert c.get(path + ("&" if "?" in path else "?") + "token=wrong").status_code == 403, path
    assert render(c, deps_headers={"X-Larp-Token": TOKEN}).status_code == 403
    assert c.get("/api/state", headers={"X-Larp-Token": TOKEN}).status_code == 200
    ok = c.get("/?token=" + TOKEN)  # the cookie, and the page again without the token in its URL
    assert ok.status_code == 303 and "larp_twin_token" in ok.headers.get("Set-Cookie", "")
    assert "token" not in ok.headers["Location"] and c.get(ok.headers["Location"]).status_code == 200
    assert c.get("/api/state").status_code == 200  # the cookie the page got carries the token
    assert render(c).status_code == 200


def test_post_cannot_change_anything(faulty_run):
    c = client(faulty_run)
    assert c.post("/files/campaign.json", data="x").status_code == 405
    assert c.put("/api/state").status_code == 405


def test_truncated_journal_shows_an_error_and_serves(copy_run):
    run = copy_run()
    j = run / "journal.jsonl"
    data = j.read_bytes()
    j.write_bytes(data[: len(data) - 5000])  # cut mid-record
    c = client(run)
    st = c.get("/api/state").json
    assert any("incomplete" in e for e in st["errors"]) and st["reads"] > 0
    assert render(c, well="A1").status_code == 200


def test_corrupt_journal_shows_an_error_and_serves(copy_run):
    run = copy_run()
    j = run / "journal.jsonl"
    lines = j.read_bytes().split(b"\n")
    lines[3] = b'{"rec": garbage'
    j.write_bytes(b"\n".join(lines))
    c = client(run)
    st = c.get("/api/state").json
    assert any("corrupt" in e or "damaged" in e for e in st["errors"])
    assert render(c, well="A1").status_code == 200
    (run / "campaign.json").write_text("{not json")
    assert c.get("/api/state").status_code == 200
    assert render(c).status_code == 200


def test_finished_results_directory_is_understood(tmp_path):
    import warnings

    from scenarios import build_campaign
    from twin.campaign import run_campaign
    from twin.config import Schedule
    from twin.records.export import write_results

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        campaign = build_campaign("paper-toluene", schedule=Schedule(hours=2))
        campaign = campaign.model_copy(update={"lab": campaign.lab.model_copy(update={"well_scatter": False})})
        r = run_campaign(campaign, seed=1, progress=False)
    out = write_results(r, tmp_path / "done", figures=False)
    st = client(out).get("/api/state").json
    assert st["kind"] == "results" and st["reads"] == r.manifest["reads"]
    assert len({f["well"] for f in st["flags"]}) <= 1  # a fault-free plate: at most one false alarm in 40 wells


def test_replay_moves_time_forward(faulty_run):
    c = client(faulty_run, replay=720.0)
    assert c.get("/").status_code == 200
    full = c.get("/api/state").json
    early = c.get(f"/api/state?t_s={full['last_read_end_s'] / 3}").json
    assert 0 < early["reads"] < full["reads"]
