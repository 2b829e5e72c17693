"""The forecast ensemble runs in a background thread: the page renders the measured data at once, the band later."""
from __future__ import annotations

import threading

import pytest

pytest.importorskip("dash")

from twin.monitor.app import create_app  # noqa: E402
from twin.monitor.forecast import forecast_view  # noqa: E402
from tests.twin.monitor.test_monitor_http import render  # noqa: E402


def _held_app(run, monkeypatch, fail=None):
    """An app whose forecast job waits for ``release`` (then raises ``fail``, if given) before computing."""
    from twin.monitor.forecast import ViewForecast

    release, started = threading.Event(), threading.Event()
    real = ViewForecast.__call__

    def held(self, view, progress=None):
        started.set()
        assert release.wait(600)
        if fail is not None:
            raise fail
        return real(self, view, progress=progress)

    monkeypatch.setattr(ViewForecast, "__call__", held)
    app = create_app(run)
    assert started.wait(60)
    return app, release


def test_the_page_renders_without_the_band_while_it_computes_then_with_it(faulty_run, monkeypatch):
    app, release = _held_app(faulty_run, monkeypatch)
    c = app.server.test_client()
    try:
        resp = render(c, well="B3").json["response"]  # returns although the job is held
        names = [t.get("name") for t in resp["trajectories"]["figure"]["data"]]
        assert "B3" in names and "twin forecast" not in names
        assert resp["fc-note"]["children"].startswith("forecast band: computing (0 of 48 draws)")
        release.set()
        assert app.monitor.wait_forecast(600)
        resp = render(c, well="B3").json["response"]
        assert "twin forecast" in [t.get("name") for t in resp["trajectories"]["figure"]["data"]]
        assert "B3" in str(resp["flags"]["children"]) and resp["fc-note"]["children"] == ""
        # same seed, same band: the background band is the one-off band
        v = app.monitor.view()
        assert app.monitor.forecast(v).lo["peak_nm"].tolist() == forecast_view(v).lo["peak_nm"].tolist()
    finally:
        release.set()
        app.monitor.close(60)
    assert not app.monitor._thread.is_alive()


def test_an_error_in_the_forecast_job_is_a_line_on_the_page(faulty_run, monkeypatch):
    app, release = _held_app(faulty_run, monkeypatch, fail=ValueError("bad chemistry file"))
    c = app.server.test_client()
    try:
        release.set()
        assert app.monitor.wait_forecast(600)
        r = render(c, well="B3")
        assert r.status_code == 200
        resp = r.json["response"]
        assert resp["errors"]["children"] == "forecast unavailable (ValueError: bad chemistry file)"
        assert "twin forecast" not in [t.get("name") for t in resp["trajectories"]["figure"]["data"]]
    finally:
        app.monitor.close(60)
