"""``larp-twin watch RUN_DIR``: serve the live monitor page of a run directory; helpers for ``run --serve``."""
from __future__ import annotations

import secrets
import sys
import threading
from pathlib import Path

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ALL_INTERFACES = {"0.0.0.0", "::", ""}


def check_port(port: int) -> None:
    """A TCP port the server can listen on: 1-65535, or 0 for any free port (refused before any work)."""
    if not 0 <= port <= 65535:
        from twin.messages import UserError

        raise UserError(f"--port {port}: allowed 1-65535 (or 0: any free port)")


def _quiet_handler():
    """werkzeug's request handler without the per-request log line: the page polls every second, and a served
    ``run``'s own output (progress, summary) must not be interleaved with ``GET /_dash-update-component``."""
    from werkzeug.serving import WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, code="-", size="-"):  # noqa: ARG002 - werkzeug's signature
            pass

        def log(self, type: str, message: str, *args) -> None:  # noqa: A002 - werkzeug's signature
            # what is still logged (errors) never shows a ``?token=``
            super().log(type, _scrub(message), *(_scrub(a) if isinstance(a, str) else a for a in args))

    return QuietHandler


def _primary_address() -> str | None:
    """This machine's address on its default route (no packet is sent: a UDP socket is only connected)."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: routing decides the source address, nothing is sent
            return s.getsockname()[0]
    except OSError:
        return None


def page_urls(host: str, port: int, token: str | None) -> tuple[str, str]:
    """(the URL to print, a note): on all interfaces the URL names this machine (its hostname; the address too)."""
    import socket

    query = f"?token={token}" if token else ""
    if host in ALL_INTERFACES:
        name = socket.gethostname()
        addr = _primary_address()
        other = f" or http://{addr}:{port}/{query}" if addr and addr != name else ""
        note = (f"  (listening on all interfaces: from another machine open it by this machine's name{other}; "
                f"here, http://127.0.0.1:{port}/{query})")
        return f"http://{name}:{port}/{query}", note
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/{query}", ""


def serve(run_dir, *, host: str = "127.0.0.1", port: int = 8050, token: str | None = None,
          replay: float | None = None, params=None, draws: int = 48, consecutive: int = 3, block: bool = True,
          out=None):
    """Serve the monitor of ``run_dir``; returns the werkzeug server (running in a thread when ``block`` is False).

    Off loopback a token is required: ``token`` or a generated one, printed with the URL.  ``out``: where the URL
    is printed (None: the current ``sys.stdout``, looked up at the call, so a redirected stdout gets it).
    """
    from werkzeug.serving import make_server

    from twin.monitor.app import create_app

    check_port(port)
    if host not in LOOPBACK and not token:
        token = secrets.token_urlsafe(18)
    app = create_app(run_dir, token=token, replay=replay, params=params, draws=draws, consecutive=consecutive)
    server = make_server(host, port, app.server, threaded=True, request_handler=_quiet_handler())
    url, note = page_urls(host, server.server_port, token)
    print(f"larp-twin monitor of {run_dir}: {url}  (Ctrl-C stops){note}", file=out or sys.stdout, flush=True)
    if host in LOOPBACK:  # only the loopback names with this port: a rebinding page's Host is its own name
        app.server.config["LARP_HOSTS"] = loopback_hosts(host, server.server_port)
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


def loopback_hosts(host: str, port: int) -> set[str]:
    """The ``Host`` header values a browser sends to a monitor bound to loopback ``host`` on ``port``."""
    names = {"localhost", "127.0.0.1", "[::1]"} if host == "localhost" else \
        {"localhost", "[::1]" if host == "::1" else host}
    return {f"{n}:{port}" for n in names} | (names if port == 80 else set())


def _scrub(text: str) -> str:
    import re

    return re.sub(r"([?&]token=)[^&\s\"]*", r"\1***", text)



def cmd_watch(args) -> int:
    check_port(args.port)
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
    """The monitor's forecast options (``run`` has its own ``--params``, which the forecast then uses too; the flags
    a run writes into ``events.jsonl`` use the records layer's defaults and the run's own chemistry)."""
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
                   help="replay a finished run at SPEED x real time (720: 12 h in 1 min): it starts playing, "
                        "plays to the last read; pause/play + a time slider")
    add_forecast_args(p)
    p.set_defaults(func=cmd_watch)
