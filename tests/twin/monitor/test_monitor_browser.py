"""A real headless browser (Debian's chromium, driven by Playwright) on the monitor page.

Loads the page of a finished run and of a run being written, clicks a well, checks its trajectories appear and grow,
and that the page asks nothing of any host but the local server. Screenshots go to ``test-artifacts/monitor/``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is absent (apt-get install -y chromium chromium-driver)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "test-artifacts" / "monitor"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
POINTS_OF = """(well) => {
  const g = document.querySelector('#trajectories .js-plotly-plot');
  if (!g || !g.data) return 0;
  const t = g.data.filter(d => d.name === well);
  return t.length ? t[0].x.length : 0;
}"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS,
                               chromium_sandbox=False, headless=True)
        yield b
        b.close()


def _serve(run_dir):
    from twin.monitor.cli import serve

    srv = serve(run_dir, port=0, block=False, out=open(os.devnull, "w"))
    return srv, f"http://127.0.0.1:{srv.server_port}/"


def _page(browser):
    page = browser.new_page(viewport={"width": 1300, "height": 1500})
    foreign = []
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1:", "data:", "blob:"))
            else foreign.append(r.url))
    return page, foreign


def _click_well(page, well):
    # the first render waits for the twin's forecast ensemble (Monte Carlo fits: 15-45 s on 2 busy cores); a hang
    # guard, not a speed target
    page.wait_for_selector("#plate .scatterlayer .point", timeout=120_000)
    idx = page.evaluate("""(well) => document.querySelector('#plate .js-plotly-plot').data[0].customdata
                           .indexOf(well)""", well)
    pt = page.query_selector_all("#plate .scatterlayer .point")[idx]
    box = pt.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_finished_run_page_shows_a_clicked_well_and_the_flag(browser, faulty_run):
    srv, url = _serve(faulty_run)
    try:
        page, foreign = _page(browser)
        page.goto(url, timeout=60_000)
        page.wait_for_function("document.querySelector('#status') && "
                               "document.querySelector('#status').innerText.includes('reads')", timeout=60_000)
        _click_well(page, "B3")
        page.wait_for_function(f"({POINTS_OF})('B3') > 5", timeout=60_000)
        assert "B3" in page.inner_text("#flags")
        assert "failed: B3" in page.inner_text("#status")
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "finished_run.png"), full_page=True)
        assert foreign == [], f"the page asked other hosts: {foreign[:5]}"
    finally:
        srv.shutdown()


def test_run_being_written_updates_the_open_page(browser, tmp_path):
    run = tmp_path / "live"
    code = ("import warnings; warnings.simplefilter('ignore')\n"
            "from scenarios import build_campaign\nfrom twin.config import Schedule\n"
            "from twin.records.resume import run_durable\n"
            f"run_durable(build_campaign('paper-toluene', schedule=Schedule(hours=4)), {str(run)!r}, seed=0,"
            " figures=False, progress=False, pace=300)\n")  # a 7-min read every 1.4 s: the page sees it grow
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"})
    srv = None
    try:
        deadline = time.time() + 60
        while not (run / "journal.jsonl").exists() and time.time() < deadline:
            time.sleep(0.2)
        srv, url = _serve(run)
        page, foreign = _page(browser)
        page.goto(url, timeout=60_000)
        _click_well(page, "A1")
        page.wait_for_function(f"({POINTS_OF})('A1') >= 1", timeout=120_000)
        first = page.evaluate(POINTS_OF, "A1")
        page.screenshot(path=str(SHOTS / "live_run_early.png"), full_page=True)
        page.wait_for_function(f"({POINTS_OF})('A1') >= {first + 2}", timeout=60_000)
        assert proc.poll() is None or page.evaluate(POINTS_OF, "A1") > first
        page.screenshot(path=str(SHOTS / "live_run_later.png"), full_page=True)
        assert foreign == [], f"the page asked other hosts: {foreign[:5]}"
    finally:
        if srv is not None:
            srv.shutdown()
        proc.kill()
        proc.wait()


def test_replay_starts_playing_plays_to_the_last_read_and_plays_again(browser, faulty_run):
    from twin.monitor.app import create_app
    from twin.monitor.source import RunSource
    from werkzeug.serving import make_server
    import threading

    total = RunSource(faulty_run).view().n_reads
    app = create_app(faulty_run, replay=3600.0)  # 1 h of campaign per second
    srv = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        page, foreign = _page(browser)
        page.goto(f"http://127.0.0.1:{srv.server_port}/", timeout=60_000)
        # no click: it plays, and ends on the last read (not one short of it), the button back to "play"
        page.wait_for_function(f"document.querySelector('#status') && document.querySelector('#status').innerText"
                               f".startsWith('{total} reads of {total} ')", timeout=120_000)
        status = page.inner_text("#status")
        assert "t = " in status and "2000-01-01" not in status  # a twin's clock: campaign time
        page.wait_for_function("document.querySelector('#play').innerText === 'play'", timeout=60_000)
        page.screenshot(path=str(SHOTS / "replay_end.png"), full_page=True)
        page.click("#play")  # from the start again
        page.wait_for_function(f"(() => {{ const m = document.querySelector('#status').innerText"
                               f".match(/^(\\d+) reads of {total} /); return m && +m[1] < {total}; }})()",
                               timeout=60_000)
        assert foreign == []
    finally:
        srv.shutdown()


def test_hover_names_the_composition(browser, faulty_run):
    srv, url = _serve(faulty_run)
    try:
        page, _ = _page(browser)
        page.goto(url, timeout=60_000)
        page.wait_for_selector("#plate .scatterlayer .point", timeout=60_000)
        text = page.evaluate("""() => { const d = document.querySelector('#plate .js-plotly-plot').data[0];
                                        return d.text[d.customdata.indexOf('A5')]; }""")
        assert "toluene, OAc:OLAm 1:0.5, ligand:PbBr2 1:30" in text
        pt = page.query_selector_all("#plate .scatterlayer .point")[4]
        box = pt.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector("#plate .hoverlayer .hovertext", timeout=60_000)
        assert "OAc:OLAm 1:0.5" in page.evaluate("document.querySelector('#plate .hoverlayer').textContent")
        page.screenshot(path=str(SHOTS / "hover.png"), clip={"x": 0, "y": 0, "width": 1300, "height": 700})
    finally:
        srv.shutdown()
