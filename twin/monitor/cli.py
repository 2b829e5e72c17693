"""``larp-twin watch RUN_DIR``: serve the live monitor page of a run directory; helpers for ``run --serve``."""
from __future__ import annotations

import secrets
import sys
import threading
from pathlib import Path

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def serve(run_dir, *, host: str = "127.0.0.1", port: int = 8050, token: str | None = None,
          replay: float | None = None, params=None, draws: int = 48, consecutive: int = 3, block: bool = True,
          out=None):
    """Serve the monitor of ``run_dir``; returns the werkzeug server (running in a thread when ``block`` is False).

    Off loopback a token is required: ``token`` or a generated one, printed with the URL.  ``out``: where the URL
    is printed (None: the current ``sys.stdout``, looked up at the call, so a redirected stdout gets it).
    """
    from werkzeug.serving import make_server

    from twin.monitor.app import create_app

    if host not in LOOPBACK and not token:
        token = secrets.token_urlsafe(18)
    app = create_app(run_dir, token=token, replay=replay, params=params, draws=draws, consecutive=consecutive)
    server = make_server(host, port, app.server, threaded=True)
    url = f"http://{host if ':' not in host else f'[{host}]'}:{server.server_port}/" + (f"?token={token}" if token
                                                                                         else "")
    print(f"larp-twin monitor of {run_dir}: {url}  (Ctrl-C stops)", file=out or sys.stdout, flush=True)
    if block:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return server
    threading.Thread(target=server.serve_forever, daemon=True, name="larp-twin-monitor").start()
    return server


def cmd_watch(args) -> int:
    run = Path(args.run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"{run} is not a directory (a `larp-twin run --out` or `--durable` run directory)")
    serve(run, host=args.host, port=args.port, token=args.token, replay=args.replay, params=args.params,
          draws=args.draws, consecutive=args.consecutive)
    return 0


def add_server_args(p) -> None:
    p.add_argument("--port", type=int, default=8050, help="TCP port (default 8050; 0 = any free port)")
    p.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1; any other needs a token)")
    p.add_argument("--token", default=None, help="access token (off loopback one is generated if not given)")


def add_forecast_args(p, params: bool = True) -> None:
    """The forecast's options (``run`` has its own ``--params``, which the forecast then uses too)."""
    if params:
        p.add_argument("--params", default=None, help="chemistry parameters file (JSON/YAML; `larp-twin calibrate` "
                       "writes one) for the twin's forecast; default: the built-in calibration")
    p.add_argument("--draws", "--seeds", dest="draws", type=int, default=48, help="Monte Carlo draws of the twin's "
                   "band (parameters, well scatter, reader noise; default 48; see docs/monitor.md)")
    p.add_argument("--consecutive", type=int, default=3, help="flag a well after this many reads in a row outside "
                   "its flag band (default 3)")


def add_cli(subparsers) -> None:
    """Add ``watch RUN_DIR`` to ``larp-twin``'s sub-commands."""
    p = subparsers.add_parser("watch", help="serve a live web page of a run directory (finished or being written)")
    p.add_argument("run_dir", help="a `larp-twin run --out D` directory, or a `--durable` run being written")
    add_server_args(p)
    p.add_argument("--replay", type=float, default=None, metavar="SPEED",
                   help="replay a finished run at SPEED x real time (720: 12 h in 1 min), with play/pause + slider")
    add_forecast_args(p)
    p.set_defaults(func=cmd_watch)
