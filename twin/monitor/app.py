"""The monitor's web app: Dash (Flask + Plotly), every asset served by this process, read-only.

Endpoints (all GET except Dash's own callback POST, all behind the token when one is set):

* ``/``                         the page (Dash layout, scripts from ``/_dash-component-suites/`` on this server)
* ``/_dash-layout``, ``/_dash-dependencies``, ``/_dash-update-component`` (POST: computes figures, changes nothing)
* ``/api/state``                JSON summary: reads, progress, expected end, errors, flags
* ``/files/<path>``             a file of the run directory (no traversal, no symlinks out, no hidden files)

Token: when set, every request must carry it as ``?token=``, an ``X-Larp-Token`` header or the cookie the first
``?token=`` request sets; otherwise 403.
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


class Monitor:
    """Data side of the page: the run, its forecast (recomputed when the run changes) and replay time."""

    def __init__(self, run_dir, *, replay: float | None = None, params=None, draws: int = 48, consecutive: int = 3):
        self.source = RunSource(run_dir)
        self.replay = replay
        self._forecaster = ViewForecast(params=params, draws=draws, consecutive=consecutive)
        self._fc_key, self._fc = None, None

    def view(self, t_s=None):
        v = self.source.view()
        return v if t_s is None else v.upto(t_s)

    def forecast(self, v):
        key = (id(self.source.view()), v.n_reads)
        if key != self._fc_key:
            try:
                self._fc = self._forecaster(v)
                self._fc_error = None
            except Exception as exc:  # noqa: BLE001
                self._fc, self._fc_error = None, f"forecast unavailable ({type(exc).__name__}: {exc})"
            self._fc_key = key
        return self._fc

    def state(self, t_s=None) -> dict:
        v = self.view(t_s)
        fc = self.forecast(v)
        end = v.expected_end_s()
        last = float(v.read_end_s[-1]) if v.n_reads else 0.0
        progress = 1.0 if v.complete else (min(1.0, last / end) if end else 0.0)
        clock = None
        if v.start_time and end is not None:
            try:
                clock = (datetime.fromisoformat(v.start_time) + timedelta(seconds=end)).isoformat(timespec="minutes")
            except ValueError:
                clock = None
        return {"name": v.name, "kind": v.kind, "reads": v.n_reads, "wells": len(v.wells), "complete": v.complete,
                "last_read_end_s": last, "expected_end_s": end, "expected_end": clock, "progress": progress,
                "errors": list(v.errors) + ([self._fc_error] if getattr(self, "_fc_error", None) else []),
                "flags": fc.flags if fc is not None else [], "blanks": sorted(v.blanks()),
                "failed": sorted(v.failed()), "events": len(v.events)}


# -- figures ------------------------------------------------------------------------------------------------------
def plate_figure(v, fc, metric: str, selected: str | None):
    import plotly.graph_objects as go

    rows, cols = _rows_cols(v.plate_wells)
    blanks, failed = v.blanks(), v.failed()
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
        text.append(f"{w} {state}<br>{METRICS[metric]}: {last:.4g}")
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
    heat.update_layout(title=f"{well}: spectro-temporal map", xaxis_title="wavelength (nm)",
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
                                  line=dict(color="black"), showlegend=row == 1), row=row, col=1)
    traj.update_layout(height=520, margin=dict(l=50, r=10, t=40, b=40), title=f"{well}: trajectories")
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
               consecutive: int = 3, refresh_ms: int = 1000):
    """The Dash app serving ``run_dir`` (its Flask server is ``app.server``)."""
    import dash
    from dash import Input, Output, State, dcc, html
    from flask import abort, jsonify, request, send_file

    mon = Monitor(run_dir, replay=replay, params=params, draws=draws, consecutive=consecutive)
    app = dash.Dash(__name__, title="larp-twin monitor", serve_locally=True, update_title=None,
                    assets_ignore=".*")
    app.monitor = mon
    server = app.server
    root = Path(run_dir).resolve()

    @server.before_request
    def _check_token():
        if not token:
            return None
        given = request.args.get("token") or request.headers.get("X-Larp-Token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return ("forbidden: this monitor needs its token (?token=...)", 403)
        return None

    @server.after_request
    def _headers(resp):
        if token and request.args.get("token") == token:
            resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
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
        replay_controls = [html.Button("play", id="play", n_clicks=0),
                           html.Span(f" replay x{replay:g} ", id="replay-label"),
                           dcc.Slider(id="slider", min=0, max=1, value=0, step=None, updatemode="drag",
                                      marks=None, tooltip={"placement": "bottom"})]
    app.layout = html.Div([
        html.H3(id="title"),
        html.Div(id="errors", style={"color": "#b00", "fontWeight": "bold", "whiteSpace": "pre-wrap"}),
        html.Div(id="status"),
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
        dcc.Store(id="clock", data={"playing": False, "t_s": None, "wall": None}),
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
            # playing follows the button's click count (not a toggled flag): a tick computed while the click was
            # in flight cannot undo it
            playing = bool((clicks or 0) % 2)
            if trig == "play" and playing and t >= end:
                t = begin
            elif trig == "slider" and slider is not None:
                t = float(slider)
            elif playing and clock.get("wall") is not None and clock.get("playing"):
                t = min(end, t + (now - clock["wall"]) * replay)
            return ({"playing": playing, "t_s": t, "wall": now}, "pause" if playing and t < end else "play", end,
                    round(t, 1))

    @app.callback(
        Output("title", "children"), Output("errors", "children"), Output("status", "children"),
        Output("progress", "value"), Output("plate", "figure"), Output("heatmap", "figure"),
        Output("trajectories", "figure"), Output("events", "figure"), Output("flags", "children"),
        Output("files", "children"),
        Input("tick", "n_intervals"), Input("metric", "value"), Input("well", "data"), Input("clock", "data"))
    def _render(_n, metric, well, clock):
        t_s = clock.get("t_s") if replay else None
        v = mon.view(t_s)
        st = mon.state(t_s)
        fc = mon.forecast(v)
        heat, traj = well_figures(v, fc, well)
        end = st["expected_end_s"]
        status = (f"{st['reads']} reads of {len(v.wells)} wells; last read done at {st['last_read_end_s'] / 3600:.2f} h"
                  + (f"; expected end {end / 3600:.2f} h" if end else "")
                  + (f" ({st['expected_end']})" if st["expected_end"] else "")
                  + ("; run complete" if st["complete"] else "; running")
                  + (f"; replay at {t_s / 3600:.2f} h" if replay and t_s is not None else "")
                  + (f"; blanks: {', '.join(st['blanks'])}" if st["blanks"] else "")
                  + (f"; failed: {', '.join(st['failed'])}" if st["failed"] else ""))
        flags = [html.Li(f"{f['well']}: {f['detail']} from read {f['first_read']} ({f['t_s'] / 3600:.2f} h)",
                         className="flag") for f in st["flags"]] or [html.Li("none")]
        files = [html.Li(html.A(f, href=f"files/{f}", target="_blank")) for f in mon.source.files()]
        return (f"larp-twin monitor: {v.name or Path(run_dir).name}", "\n".join(st["errors"]), status,
                str(st["progress"]), plate_figure(v, fc, metric, well), heat, traj, events_figure(v, fc), flags,
                files)

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
