"""``larp-twin``: run campaigns on the twin, list scenarios, fit exports, explain with SHAP.

One parser tree: each module of ``SUBCOMMANDS`` adds its sub-commands with ``add_cli(sub)``; every handler runs
under one error policy (``run_command``) and imports its work only when it runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import time


#: the modules that add sub-commands, in the order ``--help`` lists them
SUBCOMMANDS = ("twin.cli.run", "twin.cli.forecast", "twin.cli.fit", "twin.cli.compare", "twin.cli.calibrate",
               "twin.cli.gen5", "twin.cli.resume", "twin.cli.sweep",
               "twin.cli.optimize", "twin.cli.reproduce", "twin.monitor.cli")

DEBUG_HELP = "show the full traceback of an error (for bug reports)"


def main(argv=None) -> int:
    """Parse ``argv`` and run the sub-command; returns the exit code (0 ok, 2 user error, 1 internal error).

    Sub-commands registered by other modules' ``add_cli(sub)`` get the same error policy and ``--debug``
    automatically; a command that writes should apply ``twin.outdir.check_target`` and call ``add_overwrite``.
    """
    wall0 = time.perf_counter()
    parser = argparse.ArgumentParser(prog="larp-twin", description=__doc__.splitlines()[0].strip("`"))
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:  # each module adds its sub-commands; handlers import their work lazily
        importlib.import_module(module).add_cli(sub)
    for p in sub.choices.values():  # every sub-command, those added by add_cli included
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    args = parser.parse_args(argv)
    args.wall0 = wall0
    return run_command(args.func, args, debug=args.debug)


def run_command(func, args, debug: bool = False) -> int:
    """Run a sub-command under the CLI's error policy (``twin.messages``): user errors end in one line
    ``larp-twin: error: ...`` and exit 2, a bug in one ``internal error`` line and exit 1, a run on real instruments
    that ended early with its reads written (``twin.early.RunEndedEarly``) in one error line and exit 3 (130 after
    Ctrl-C), warnings become ``note:`` lines; ``debug`` re-raises so the traceback shows."""
    from twin.messages import error_line, is_user_error, notes_for_warnings

    try:
        with contextlib.nullcontext() if debug else notes_for_warnings():  # --debug: Python's own warnings
            return func(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print("larp-twin: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if debug:
            raise
        print(error_line(e), file=sys.stderr)
        code = getattr(e, "exit_code", None)  # a run that ended early, its reads written: 3 (130 after Ctrl-C)
        return code if isinstance(code, int) else 2 if is_user_error(e) else 1


if __name__ == "__main__":
    sys.exit(main())
