"""What a user of ``larp-twin`` sees when something is wrong: one error line, ``note:`` lines, never a traceback.

One formatter for every command (sub-commands added by ``add_cli`` functions included):

- ``UserError(message)``: raise it for anything the user must fix; the message names the file or option, the row
  and column where there is one, what was seen, what is allowed and what to do.  ``twin.cli.main`` prints it as
  ``larp-twin: error: <message>`` on one line and exits 2.
- ``describe(exc)``: the one-line text of *any* user-facing exception: our own typed errors (``PlateMapError``,
  ``FaultPlanError``, ``Gen5FormatError``, ``JournalError`` ...), pydantic ``ValidationError`` (field, what is
  allowed and the value seen, no URL), ``OSError`` (the path and what to do), ``KeyError`` and ``UnicodeDecodeError``.
- ``is_user_error(exc)``: whether ``exc`` is the user's to fix (exit 2) or a bug (exit 1, "rerun with --debug"). A
  ``ValueError`` counts as the user's only when its class is ours (``UserError`` or a package error class) or
  pydantic's ``ValidationError``: a bare ``ValueError`` from numpy, pandas or our internals is a bug.
- ``note(text)``: a ``note: <text>`` line on stderr; ``notes_for_warnings()`` routes every ``UserWarning`` raised
  while a command runs through ``note`` (no ``UserWarning:`` prefix, no source path and line): to tell a user
  something, ``warnings.warn(text)`` anywhere (library code stays free of printing).

``--debug`` (any command) re-raises instead, so the traceback is shown.
"""

from __future__ import annotations

import contextlib
import re
import sys
import warnings

PROG = "larp-twin"
#: top-level packages whose error classes speak to the user
OUR_PACKAGES = frozenset({"chemistry", "instruments", "twin", "scenarios"})

#: pydantic field name -> the command-line option that sets it (for messages about options).
OPTION_FOR_FIELD = {"hours": "--hours", "every_min": "--every-min", "seed": "--seed"}


class UserError(ValueError):
    """Something the user must fix; the message says what was seen, what is allowed and what to do."""


@contextlib.contextmanager
def reading(path, what: str = "file"):
    """Turn a parse error of a user's file (damaged JSON, CSV, parquet; ``ValueError`` family) into a ``UserError``
    naming the file: what the user can fix (or rerun), where a bare parser message would read as a bug."""
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        # parsers raise ValueError subclasses; pyarrow its own classes (ArrowInvalid ...) for a damaged parquet file
        if not (isinstance(exc, ValueError) or type(exc).__module__.split(".")[0] == "pyarrow"):
            raise
        raise UserError(f"{path}: damaged or not a {what} ({one_line(str(exc))[:200]})") from None


def note(text: str, file=None) -> None:
    """Print ``note: text`` (one line) on stderr: the one way the CLI tells the user something that is not an error."""
    print(f"note: {one_line(text)}", file=file or sys.stderr)


def one_line(text: str) -> str:
    """``text`` on one line: pydantic's URL lines dropped, line breaks and runs of spaces folded."""
    lines = [ln.strip() for ln in str(text).splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("For further information visit")]
    return re.sub(r"\s+", " ", "; ".join(lines)).strip()


@contextlib.contextmanager
def notes_for_warnings():
    """Show every ``UserWarning`` raised inside the block as a ``note:`` line (each distinct text once)."""
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = one_line(message)
        if text not in seen:
            seen.add(text)
            note(text)

    with warnings.catch_warnings():
        # what a user can act on: UserWarning and its kin (ours, scikit-learn's ConvergenceWarning ...); library
        # deprecations and numpy's RuntimeWarnings are for developers and stay silent (--debug shows them all)
        warnings.simplefilter("ignore")
        warnings.simplefilter("default", UserWarning)
        warnings.showwarning = show
        yield


def validation_text(exc, options: dict | None = None) -> str:
    """A pydantic ``ValidationError`` as ``FIELD VALUE: what is allowed`` parts, one line, no URL."""
    options = {**OPTION_FOR_FIELD, **(options or {})}
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()))
        name = options.get(loc, loc)
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        msg = msg[:1].lower() + msg[1:]
        seen = err.get("input")
        if isinstance(seen, (int, float, str)) and not isinstance(seen, bool) and len(str(seen)) < 60:
            shown = f"{seen:g}" if isinstance(seen, float) else repr(seen) if isinstance(seen, str) else seen
            parts.append(f"{name} {shown}: {msg}" if name else msg)
        else:
            parts.append(f"{name}: {msg}" if name else msg)
    return "; ".join(parts)


def _os_text(exc: OSError) -> str:
    path = exc.filename if exc.filename is not None else ""
    what = {
        FileNotFoundError: "no such file or directory; check the path",
        IsADirectoryError: "is a directory; give a file",
        NotADirectoryError: "a part of this path is a file, not a directory; give a directory",
        PermissionError: "permission denied; choose a path you can read and write",
        FileExistsError: "already exists; choose another path or pass --overwrite",
    }.get(type(exc))
    if what is None:
        what = f"{exc.strerror or exc}"
    return f"{path}: {what}" if path else f"{what} ({exc})"


def describe(exc: BaseException) -> str:
    """The one-line message a user sees for ``exc`` (with its ``add_note`` notes, e.g. how to resume)."""
    text = _describe(exc)
    notes = [str(n) for n in getattr(exc, "__notes__", ()) or ()]
    return one_line("; ".join([text, *notes]))


def _describe(exc: BaseException) -> str:
    try:
        from pydantic import ValidationError
    except ImportError:  # pragma: no cover
        ValidationError = ()
    if isinstance(exc, ValidationError):
        return one_line(validation_text(exc))
    if isinstance(exc, UnicodeDecodeError):
        return one_line(f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8 text")
    if isinstance(exc, OSError) and not str(exc).startswith(str(exc.filename or "\0")) and exc.filename is not None:
        return one_line(_os_text(exc))
    if isinstance(exc, KeyError) and exc.args:
        return one_line(str(exc.args[0]))
    return one_line(str(exc) or type(exc).__name__)


def is_user_error(exc: BaseException) -> bool:
    """True for errors the user can fix (bad input, paths, options, instruments); False for bugs."""
    from instruments.errors import InstrumentError

    from twin.early import RunEndedEarly

    if isinstance(exc, KeyError):  # a lookup that explains itself (unknown scenario ...), not a bare missing key
        return bool(exc.args) and " " in str(exc.args[0])
    if isinstance(exc, RunEndedEarly):  # the instrument stopped (or Ctrl-C); the reads are kept
        return True
    if isinstance(exc, (OSError, InstrumentError, UnicodeError)):
        return True
    if isinstance(exc, ValueError):
        # ours (UserError and every package error class) or a pydantic validation of user input; a bare
        # ValueError from numpy/pandas/our own internals is a bug, not something the user can fix
        return _raised_by_us(exc) or type(exc).__name__ == "ValidationError"
    return False


def _raised_by_us(exc: BaseException) -> bool:
    """True when the error's class is one of this project's own (``chemistry``, ``instruments``, ``twin``, ...)."""
    return type(exc).__module__.split(".")[0] in OUR_PACKAGES


def error_line(exc: BaseException) -> str:
    """``larp-twin: error: ...`` for a user error, or the internal-error line for a bug."""
    if is_user_error(exc):
        return f"{PROG}: error: {describe(exc)}"
    return (f"{PROG}: error: internal error ({type(exc).__name__}: {describe(exc)}); this is a bug in {PROG}: rerun "
            f"with --debug for the traceback and report it")
