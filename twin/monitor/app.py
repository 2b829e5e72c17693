"""The monitor's web app: Dash (Flask + Plotly), every asset served by this process, read-only.

Endpoints (all GET except Dash's own callback POST, all behind the token when one is set):

* ``/``                         the page (Dash layout, scripts from ``/_dash-component-suites/`` on this server)
* ``/_dash-layout``, ``/_dash-dependencies``, ``/_dash-update-component`` (POST: computes figures, changes nothing)
* ``/api/state``                JSON summary: reads, progress, expected end, errors, flags
* ``/files/<path>``             a file of the run directory (no traversal, no symlinks out, no hidden files)

Token: when set, every request must carry it as ``?token=``, an ``X-Larp-Token`` header or the cookie the first
``?token=`` request sets; otherwise 403.  The page opened with ``?token=`` sets the cookie and redirects to the same
URL without it, so the token stays out of the address bar, the history and later Referer headers (``serve`` also
scrubs it from the access log).

Host: with ``hosts`` set (``serve`` sets the bound loopback names with their port), a request whose ``Host`` header
is another name gets 421 and nothing else: a web page cannot read the run through DNS rebinding.  Bad input gets
400 or 404, never a 500: a NUL byte (``%00``) anywhere in the URL, a figure callback with an unknown metric.
"""
from __future__ import annotations

import hmac
import math
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from twin.monitor.forecast import ViewForecast
from twin.monitor.source import RunSource

METRICS = {"peak_nm": "peak (nm)", "fwhm_nm": "FWHM (nm)", "height": "intensity (counts)"}
COOKIE = "larp_twin_token"


def _rows_cols(n: int) -> tuple[int, int]:
    return (16, 24) if n == 384 else (8, 12)


def _well_rc(well: str) -> tuple[int, int]:
    return ord(well[0].upper()) - ord("A"), int(well[1:]) - 1


def campaign_time(t_s: float | None) -> str:
    """Campaign seconds as a chemist reads a twin's virtual clock: "t = 5 h 53 min" (time since the run began)."""
    if t_s is None or not np.isfinite(t_s):
        return "t = ?"
    minutes = int(round(float(t_s) / 60.0))
    return f"t = {minutes // 60} h {minutes % 60:02d} min"


def compositions(plate) -> dict:
    """Well -> what is in it, for hovers and titles: "toluene, OAc:OLAm 1:0.5, ligand:PbBr2 1:30" ("blank" for a
    well without PbBr2); {} when the plate map lacks the composition columns."""
    from twin.analysis.figure_data import PLATE_COLUMNS, composition_groups, composition_labels

    if plate is None or plate.empty or not set(PLATE_COLUMNS) <= set(plate.columns):
        return {}
    try:
        groups, labels = composition_groups(plate), composition_labels(plate)
    except (ValueError, TypeError):
        return {}
    out = {}
    for w in plate["well"].astype(str):
        group = str(groups.get(w, ""))
        if group.startswith("blank"):
            out[w] = group
        else:
            solvent, _, ligand_pb = group.partition(" ")
            out[w] = f"{solvent}, {labels.get(w, '')}, ligand:PbBr2 {ligand_pb.rpartition(' ')[2]}"
    return out


class Monitor:
    """Data side of the page: the run, its forecast and replay time.

    The forecast (a Monte Carlo ensemble, seconds to a minute) is computed in one background daemon thread, started
    here; ``forecast`` never waits for it: it returns the band of this view when it is done, else the latest band
    of an earlier view of the same wells (fewer reads), else None, and asks the thread for this view. ``note``
    says "forecast band: computing (N of M draws)" meanwhile; an error in the job becomes a line of ``errors``."""

    def __init__(self, run_dir, *, replay: float | None = None, params=None, draws: int = 48, consecutive: int = 3,
                 start: bool = True):
        import threading

        self.source = RunSource(run_dir)
        self.replay = replay
        self._forecaster = ViewForecast(params=params, draws=draws, consecutive=consecutive)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._done: dict = {}  # key -> (band or None, error or None), the latest few
        self._last = None  # (key, band) of the latest band computed
        self._want = None  # (key, view) asked for
        self._busy = None  # key being computed
        self._progress = (0, int(draws))
        self._fc_error = None
        self._thread = threading.Thread(target=self._work, daemon=True, name="larp-twin-forecast")
        if start:
            self._thread.start()
            self.forecast(self.view())  # the first ensemble starts when the run is opened

    def view(self, t_s=None):
        v = self.source.view()
        return v if t_s is None else v.upto(t_s)

    def _key(self, v):
        return (id(self.source.view()), v.n_reads)

    def _work(self):
        while not self._stop.is_set():
            self._wake.wait(0.5)
            with self._lock:
                self._wake.clear()
                want, self._want = self._want, None
                if want is None or want[0] in self._done:
                    continue
                self._busy = want[0]
                self._progress = (0, self._forecaster.draws)
            key, v = want

            def progress(n, m):
                self._progress = (n, m)
                if self._stop.is_set():
                    raise RuntimeError("monitor closed")
            try:
                band, err = self._forecaster(v, progress=progress), None
            except Exception as exc:  # noqa: BLE001 - any error is a line on the page, not a dead thread
                band, err = None, f"forecast unavailable ({type(exc).__name__}: {exc})"
            with self._lock:
                if len(self._done) > 8:
                    self._done.pop(next(iter(self._done)))
                self._done[key] = (band, err)
                if band is not None:
                    self._last = (key, band)
                self._busy = None

    def close(self, timeout: float | None = None) -> None:
        """Stop the forecast thread (it is a daemon: it also ends with the process)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def wait_forecast(self, timeout: float | None = None) -> bool:
        """Block until the band of the current view is done (for scripts and tests; the page never waits)."""
        import time as _time

        end = None if timeout is None else _time.monotonic() + timeout
        key = self._key(self.view())
        while key not in self._done:
            self.forecast(self.view())
            if end is not None and _time.monotonic() > end:
                return False
            _time.sleep(0.05)
        return True

    def forecast(self, v):
        key = self._key(v)
        with self._lock:
            hit = self._done.get(key)
            if hit is not None:
                self._fc_error = hit[1]
                return hit[0]
            if self._busy != key:
                self._want = (key, v)
                self._wake.set()
            last = self._last
        self._fc_error = None
        if last is not None and last[0][0] == key[0] and last[0][1] <= key[1] and last[1].wells == list(map(str, v.wells)):
            return last[1]
        return None

    def note(self, v) -> str:
        """"forecast band: computing (N of M draws)" while the band of ``v`` is not done, else ""."""
        with self._lock:
            if self._key(v) in self._done:
                return ""
            n, m = self._progress
        return f"forecast band: computing ({n} of {m} draws)"

    def state(self, t_s=None) -> dict:
        v = self.view(t_s)
        fc = self.forecast(v)
        end = v.expected_end_s()
        last = float(v.read_end_s[-1]) if v.n_reads else 0.0
        progress = 1.0 if v.complete else (min(1.0, last / end) if end else 0.0)
        clock = None
        if v.virtual_clock:  # a twin run: its campaign time, not the placeholder date its clock starts at
            clock = campaign_time(end) if end is not None else None
        elif v.start_time and end is not None:
            try:
                clock = (datetime.fromisoformat(v.start_time) + timedelta(seconds=end)).isoformat(timespec="minutes")
            except ValueError:
                clock = None
        return {"name": v.name, "kind": v.kind, "reads": v.n_reads, "wells": len(v.wells), "complete": v.complete,
                "virtual_clock": v.virtual_clock,
                "last_read_end_s": last, "expected_end_s": end, "expected_end": clock, "progress": progress,
                "errors": list(v.errors) + ([self._fc_error] if self._fc_error else []),
                "forecast": self.note(v) or "ready",
                "flags": fc.flags if fc is not None else [], "blanks": sorted(v.blanks()),
                "failed": sorted(v.failed()), "events": len(v.events)}


# -- figures ------------------------------------------------------------------------------------------------------
def plate_figure(v, fc, metric: str, selected: str | None):
    import plotly.graph_objects as go

    rows, cols = _rows_cols(v.plate_wells)
    blanks, failed = v.blanks(), v.failed()
    what = compositions(v.plate)
    flagged = {f["well"] for f in (fc.flags if fc else [])}
    vals = getattr(v, metric) if v.n_reads else np.zeros((len(v.wells), 0))
    usable = np.isin(v.status.astype(str), ("ok", "saturated")) if v.n_reads else vals.astype(bool)
    x, y, c, text, sym, line = [], [], [], [], [], []
    for i, w in enumerate(v.wells):
        r, k = _well_rc(w)
        last = np.nan
        if vals.shape[1]:
            good = np.flatnonzero(usable[i])
            last = float(vals[i, good[-1]]) if good.size and good[-1] == vals.shape[1] - 1 else np.nan
            if metric == "height" and not np.isfinite(last):
                last = 0.0
        x.append(k + 1)
        y.append(chr(ord("A") + r))
        c.append(last)
        state = "blank" if w in blanks else "FAILED" if w in failed else "FLAGGED" if w in flagged else ""
        text.append(f"{w} {state}<br>{what.get(w, '')}<br>{METRICS[metric]} (last read): {last:.4g}")
        sym.append("x" if w in blanks else "square")
        line.append("red" if (w in failed or w in flagged) else "black" if w == selected else "rgba(0,0,0,0.2)")
    fig = go.Figure(go.Scatter(
        x=x, y=y, mode="markers", text=text, hoverinfo="text", customdata=list(v.wells),
        marker=dict(size=30, symbol=sym, color=np.asarray(c, float), colorscale="Viridis", showscale=True,
                    colorbar=dict(title=METRICS[metric]), line=dict(color=line, width=3))))
    fig.update_layout(height=380, margin=dict(l=30, r=10, t=30, b=20), title="plate (latest read)",
                      xaxis=dict(range=[0.3, cols + 0.7], dtick=1, side="top"),
                      yaxis=dict(categoryorder="array", categoryarray=[chr(ord("A") + r) for r in range(rows)][::-1]),
                      clickmode="event")
    return fig


def well_figures(v, fc, well: str | None):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    heat = go.Figure()
    traj = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                         subplot_titles=[METRICS[m] for m in METRICS])
    if not well or well not in v.wells or not v.n_reads:
        heat.update_layout(title="click a well", height=330)
        traj.update_layout(height=520)
        return heat, traj
    i = v.wells.index(well)
    t_h = v.time_min[i] / 60.0
    if v.cube.size:
        heat.add_trace(go.Heatmap(x=v.wavelength_nm, y=t_h, z=v.cube[i], colorscale="Inferno",
                                  colorbar=dict(title="RFU")))
    what = compositions(v.plate).get(well, "")
    name = f"{well} ({what})" if what else well
    heat.update_layout(title=f"{name}: spectro-temporal map", xaxis_title="wavelength (nm)",
                       yaxis_title="time since injection (h)", height=330, margin=dict(l=50, r=10, t=40, b=40))
    usable = np.isin(v.status[i].astype(str), ("ok", "saturated"))
    for row, m in enumerate(METRICS, start=1):
        if fc is not None and m in fc.lo and fc.lo[m].shape[:1] == (len(v.wells),):
            lo, hi = fc.lo[m][i][: len(t_h)], fc.hi[m][i][: len(t_h)]
            traj.add_trace(go.Scatter(x=t_h.tolist(), y=_list(hi), mode="lines", line=dict(width=0), showlegend=False,
                                      hoverinfo="skip"),
                           row=row, col=1)
            traj.add_trace(go.Scatter(x=t_h.tolist(), y=_list(lo), mode="lines", fill="tonexty", line=dict(width=0),
                                      name="twin forecast",
                                      fillcolor="rgba(100,150,250,0.3)", showlegend=row == 1), row=row, col=1)
        y = np.where(usable, getattr(v, m)[i], 0.0 if m == "height" else np.nan)
        traj.add_trace(go.Scatter(x=t_h.tolist(), y=_list(y), mode="lines+markers", name=well, marker=dict(size=4),
                                  line=dict(color="black"), showlegend=row == 1, text=[what] * len(t_h),
                                  hovertemplate=f"{well} %{{text}}<br>%{{x:.2f}} h: %{{y:.4g}}<extra></extra>"),
                       row=row, col=1)
    traj.update_layout(height=520, margin=dict(l=50, r=10, t=40, b=40), title=f"{name}: trajectories")
    traj.update_xaxes(title_text="time since injection (h)", row=3, col=1)
    return heat, traj


def events_figure(v, fc):
    import plotly.graph_objects as go

    fig = go.Figure()
    if v.n_reads:
        fig.add_trace(go.Scatter(x=v.read_end_s / 3600.0, y=["read"] * v.n_reads, mode="markers", name="reads",
                                 marker=dict(symbol="line-ns-open", size=12)))
    events = list(v.events) + (fc.flags if fc else [])
    if events:
        fig.add_trace(go.Scatter(
            x=[float(e.get("t_s", 0)) / 3600.0 for e in events],
            y=[f"{e.get('kind')}" for e in events], mode="markers", name="events",
            text=[", ".join(f"{k}={e[k]}" for k in e if k != "t_s") for e in events], hoverinfo="text+x",
            marker=dict(size=9, color=["red" if e.get("kind") == "forecast" else "orange"
                                       if e.get("action") == "injected" else "green" for e in events])))
    fig.update_layout(title="events (campaign time, h)", height=260, margin=dict(l=120, r=10, t=40, b=30),
                      showlegend=False)
    return fig


# -- app ----------------------------------------------------------------------------------------------------------
def create_app(run_dir, *, token: str | None = None, replay: float | None = None, params=None, draws: int = 48,
               consecutive: int = 3, refresh_ms: int = 1000, hosts=None):
    """The Dash app serving ``run_dir`` (its Flask server is ``app.server``).

    ``hosts``: the ``Host`` header values accepted (``name:port``, lower case); None: any.  ``serve`` fills
    ``app.server.config["LARP_HOSTS"]`` once the port is bound."""
    import dash
    from dash import Input, Output, State, dcc, html
    from flask import Response, abort, jsonify, redirect, request, send_file

    mon = Monitor(run_dir, replay=replay, params=params, draws=draws, consecutive=consecutive)
    app = dash.Dash(__name__, title="larp-twin monitor", serve_locally=True, update_title=None,
                    assets_ignore=".*")
    app.monitor = mon
    server = app.server
    root = Path(run_dir).resolve()

    server.config["LARP_HOSTS"] = None if hosts is None else {h.lower() for h in hosts}

    @server.before_request
    def _check_request():
        allowed = server.config.get("LARP_HOSTS")
        if allowed is not None and request.host.lower() not in allowed:  # DNS rebinding: another name, our socket
            return (f"misdirected request: this monitor answers only to {', '.join(sorted(allowed))}", 421)
        if "\x00" in request.path or b"%00" in request.query_string or b"\x00" in request.query_string:
            return ("bad request: a NUL byte (%00) in the URL", 400)
        if not token:
            return None
        given = request.args.get("token") or request.headers.get("X-Larp-Token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return ("forbidden: this monitor needs its token (?token=...)", 403)
        if request.method == "GET" and request.path == "/" and request.args.get("token"):
            # the cookie carries the token from now on: send the browser to the URL without it
            from urllib.parse import urlencode

            rest = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
            resp = redirect("./" + (f"?{rest}" if rest else ""), code=303)
            resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
            return resp
        return None

    @server.after_request
    def _headers(resp):
        if token and request.args.get("token") == token:
            resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Content-Security-Policy"] = ("default-src 'self'; script-src 'self' 'unsafe-eval' "
                                                   "'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
                                                   "img-src 'self' data: blob:")
        return resp

    @server.route("/files/<path:rel>")
    def _file(rel):
        target = (root / rel).resolve()
        if not target.is_relative_to(root) or target == root:
            abort(404)
        if rel not in mon.source.files():  # hidden, partial, symlinked or missing
            abort(404)
        return send_file(target, max_age=0)

    @server.route("/api/state")
    def _state():
        t = request.args.get("t_s", type=float)
        return jsonify(_jsonable(mon.state(t)))

    replay_controls = []
    if replay:
        replay_controls = [html.Button("pause", id="play", n_clicks=0),
                           html.Span(f" replay x{replay:g} ", id="replay-label"),
                           dcc.Slider(id="slider", min=0, max=1, value=0, step=None, updatemode="drag",
                                      marks=None, tooltip={"placement": "bottom"})]
    app.layout = html.Div([
        html.H3(id="title"),
        html.Div(id="errors", style={"color": "#b00", "fontWeight": "bold", "whiteSpace": "pre-wrap"}),
        html.Div(id="status"),
        html.Div(id="fc-note", style={"color": "#555"}),
        html.Progress(id="progress", max="1", value="0", style={"width": "60%"}),
        html.Div(replay_controls, id="replay", style={"display": "block" if replay else "none"}),
        dcc.RadioItems(id="metric", options=[{"label": v, "value": k} for k, v in METRICS.items()],
                       value="peak_nm", inline=True),
        html.Div([
            html.Div(dcc.Graph(id="plate", config={"displaylogo": False}), style={"flex": "1 1 50%"}),
            html.Div(dcc.Graph(id="heatmap", config={"displaylogo": False}), style={"flex": "1 1 50%"}),
        ], style={"display": "flex", "flexWrap": "wrap"}),
        dcc.Graph(id="trajectories", config={"displaylogo": False}),
        dcc.Graph(id="events", config={"displaylogo": False}),
        html.H4("flags"), html.Ul(id="flags"),
        html.H4("files"), html.Ul(id="files"),
        dcc.Store(id="well", data=None),
        # a replay starts playing (``base``: the click count at which it last stopped, see ``_clock``)
        dcc.Store(id="clock", data={"playing": bool(replay), "t_s": None, "wall": None, "base": 0}),
        dcc.Interval(id="tick", interval=refresh_ms),
    ], style={"fontFamily": "sans-serif", "margin": "10px"})

    @app.callback(Output("well", "data"), Input("plate", "clickData"), prevent_initial_call=True)
    def _pick(click):
        try:
            return click["points"][0]["customdata"]
        except (TypeError, KeyError, IndexError):
            return dash.no_update

    if replay:
        @app.callback(Output("clock", "data"), Output("play", "children"), Output("slider", "max"),
                      Output("slider", "value"),
                      Input("tick", "n_intervals"), Input("play", "n_clicks"), Input("slider", "value"),
                      State("clock", "data"))
        def _clock(_n, clicks, slider, clock):
            v = mon.view()
            end = float(v.read_end_s[-1]) if v.n_reads else 0.0
            begin = float(v.read_start_s[0]) if v.n_reads else 0.0
            now = time.time()
            trig = dash.ctx.triggered_id
            t = clock.get("t_s")
            t = begin if t is None else t
            base = int(clock.get("base", 0))
            # playing follows the button's click count since ``base`` (even: playing; not a toggled flag): a tick
            # computed while a click was in flight cannot undo it. It starts playing (0 clicks); at the end it
            # stops (base moves on by one), and the next click plays again from the start
            playing = ((clicks or 0) - base) % 2 == 0
            if trig == "play" and playing and t >= end:
                t = begin
            elif trig == "slider" and slider is not None:
                t = float(slider)
            elif playing and clock.get("wall") is not None and clock.get("playing"):
                t = min(end, t + (now - clock["wall"]) * replay)
            if playing and t >= end and trig != "play":  # played to the end (the last read included): stop
                playing, base = False, base + 1
            # the slider holds the exact time (not rounded: a rounded-down end would drop the last read)
            return ({"playing": playing, "t_s": t, "wall": now, "base": base}, "pause" if playing else "play", end, t)

    @app.callback(
        Output("title", "children"), Output("errors", "children"), Output("status", "children"),
        Output("progress", "value"), Output("plate", "figure"), Output("heatmap", "figure"),
        Output("trajectories", "figure"), Output("events", "figure"), Output("flags", "children"),
        Output("files", "children"), Output("fc-note", "children"),
        Input("tick", "n_intervals"), Input("metric", "value"), Input("well", "data"), Input("clock", "data"))
    def _render(_n, metric, well, clock):
        t_bad = isinstance(clock, dict) and not (clock.get("t_s") is None or (
            isinstance(clock.get("t_s"), (int, float)) and math.isfinite(clock["t_s"])))
        if metric not in METRICS or not isinstance(clock, dict) or t_bad or not (well is None or isinstance(well, str)):
            abort(Response(f"bad request: unknown metric {metric!r}; allowed: {', '.join(METRICS)}"
                           if metric not in METRICS else "bad request: malformed callback input", 400,
                           mimetype="text/plain"))
        t_s = clock.get("t_s") if replay else None
        v = mon.view(t_s)
        st = mon.state(t_s)
        fc = mon.forecast(v)
        heat, traj = well_figures(v, fc, well)
        end = st["expected_end_s"]
        if v.virtual_clock:  # a twin run: campaign time since the run began (its clock has no real date)
            when = (f"last read done at {campaign_time(st['last_read_end_s'])}"
                    + (f"; expected end {campaign_time(end)}" if end else "") + " (twin: virtual time)")
        else:
            when = (f"last read done at {st['last_read_end_s'] / 3600:.2f} h"
                    + (f"; expected end {end / 3600:.2f} h" if end else "")
                    + (f" ({st['expected_end']})" if st["expected_end"] else ""))
        total = mon.view().n_reads
        status = (f"{st['reads']} reads" + (f" of {total}" if replay else "") + f" of {len(v.wells)} wells; {when}"
                  + ("; run complete" if st["complete"] else "; running" if not replay else "")
                  + (f"; replay at {campaign_time(t_s)}" if replay and t_s is not None else "")
                  + (f"; blanks: {', '.join(st['blanks'])}" if st["blanks"] else "")
                  + (f"; failed: {', '.join(st['failed'])}" if st["failed"] else ""))
        flags = [html.Li(f"{f['well']}: {f['detail']} from read {f['first_read']} ({f['t_s'] / 3600:.2f} h)",
                         className="flag") for f in st["flags"]] or [html.Li("none")]
        files = [html.Li(html.A(f, href=f"files/{f}", target="_blank")) for f in mon.source.files()]
        return (f"larp-twin monitor: {v.name or Path(run_dir).name}", "\n".join(st["errors"]), status,
                str(st["progress"]), plate_figure(v, fc, metric, well), heat, traj, events_figure(v, fc), flags,
                files, mon.note(v))

    return app


def _list(a) -> list:
    """Plain list (NaN -> None) so the page's figure data holds arrays, not typed-array blobs."""
    return [None if not np.isfinite(x) else float(x) for x in np.asarray(a, float)]


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
