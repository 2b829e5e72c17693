"""The one output policy of every ``larp-twin`` command that writes: never lose a user's files.

Rules (``check_target`` applies them before any work starts, so a refused command has done nothing):

1. Never the working directory or a parent of it (``--out ""``, ``--out .``, ``--out ..``), nor the home directory
   or a parent of it, even with ``--overwrite``.
2. Never under a regular file (``--out notes.txt/sub``) and never *replacing* a regular file with a directory.
3. A directory target that is not empty must be a finished output of the *same* command (its ``.larp-twin.json``
   marker, or for older outputs their own files: ``manifest.json`` of a run, ``spec.json`` of a sweep ...) holding
   nothing but the files that command wrote; anything else needs ``--overwrite``.
4. A file target (``export-ot2 -o``, ``export-gen5 -o``) must not be a directory; an existing file is replaced only if
   the command recognises it as its own output (``own_file``) or with ``--overwrite``.

Writing is atomic (``atomic_dir``, ``atomic_file``): outputs go to a temporary sibling that is moved into place at
the end, so a failed command leaves the previous output (or nothing) behind.  Directories and files get the user's
umask (``tempfile.mkdtemp`` would leave 0700: the lab's other users could not read the results).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import tempfile
from pathlib import Path

from twin.messages import UserError

MARKER = ".larp-twin.json"
#: what ``owner`` says of a directory holding a durable run that did not finish (``larp-twin resume`` continues it)
UNFINISHED_DURABLE = "run --durable (unfinished)"


def umask() -> int:
    """The process umask (read without changing it for longer than a call)."""
    m = os.umask(0)
    os.umask(m)
    return m


def _chmod_tree(top: Path) -> None:
    """Give ``top`` (made 0700 by mkdtemp) the mode a plain ``mkdir`` would have."""
    os.chmod(top, 0o777 & ~umask())


def _listing(p: Path) -> list[str]:
    return sorted(str(q.relative_to(p)) for q in p.rglob("*") if q.is_file() or q.is_symlink())


def owner(p: Path) -> tuple[str | None, list[str] | None]:
    """(command that wrote directory ``p``, the files it wrote or None if unknown); (None, None) if not ours."""
    if (p / "campaign.json").is_file() and not ((p / "results" / "manifest.json").is_file()
                                                and (p / "results" / "events.jsonl").is_file()):
        return UNFINISHED_DURABLE, None
    try:
        m = json.loads((p / MARKER).read_text(encoding="utf-8"))
        return str(m["command"]), [str(f) for f in m.get("files", [])] + [MARKER]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:  # outputs written before the marker existed
        if (p / "campaign.json").is_file():
            return "run", None
        if (p / "manifest.json").is_file():
            m = json.loads((p / "manifest.json").read_text(encoding="utf-8"))
            if isinstance(m, dict) and "scenario" in m:
                return "run", list(m.get("files", [])) or None
            if isinstance(m, dict) and "sweep" in m:
                return "sweep", None
        if (p / "spec.json").is_file() and (p / "parts").is_dir():
            return "sweep", None
        if (p / "run.json").is_file() and (p / "history.csv").is_file():
            return "optimize", None
        if (p / "report.md").is_file() and (p / "claims.csv").is_file():
            return "reproduce", None
    except (OSError, ValueError):
        pass
    return None, None


def _refuse_cwd(p: Path, option: str, shown: str) -> None:
    """Never the working directory, a parent of it, the home directory or a parent of that (not even with
    --overwrite)."""
    resolved, cwd = p.resolve(), Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise UserError(f"{option} {shown!r} is the working directory or a parent of it; larp-twin never replaces "
                        f"it: give a new directory, e.g. {option} results/run1")
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError):  # no home directory known
        return
    if resolved == home or resolved in home.parents:
        raise UserError(f"{option} {shown!r} is your home directory or a parent of it; larp-twin never replaces it: "
                        f"give a new directory, e.g. {option} results/run1")


def _refuse_under_file(p: Path, option: str, shown: str) -> None:
    for anc in p.absolute().parents:
        if anc.exists() or anc.is_symlink():
            if not anc.is_dir():
                raise UserError(f"{option} {shown!r}: {anc} is a file, so nothing can be written under it; choose "
                                f"another {option}")
            return


def check_target(path, command: str, *, overwrite: bool = False, kind: str = "dir", option: str = "--out",
                 own_file=None, extra_files_ok: bool = False) -> Path:
    """Apply the output policy to ``path`` for ``command`` before any work; returns it as a Path.

    kind: ``"dir"`` (the command writes a directory) or ``"file"``.  own_file: for a file target, a function of
    the existing file's first 4 kB (bytes) that says whether the command wrote it.  extra_files_ok: a directory
    the command owns may hold other files too (commands that only add their own files, such as ``sweep``).
    Raises ``UserError`` naming the option, what is there and what to do.
    """
    shown = str(path)
    p = Path(shown) if shown else Path(".")
    _refuse_cwd(p, option, shown)
    _refuse_under_file(p, option, shown)
    if kind == "file":
        if p.is_dir():
            raise UserError(f"{option} {shown!r} is a directory; give the path of the file to write, e.g. "
                            f"{option} {p / 'out'}")
        if p.exists() and not overwrite:
            try:
                with open(p, "rb") as fh:
                    head = fh.read(4096)
            except OSError:
                head = b""
            if own_file is None or not own_file(head):
                raise UserError(f"{option} {shown!r} already exists and is not a `larp-twin {command}` output; "
                                f"choose another file name, or pass --overwrite to replace it")
        return p
    if p.exists() and not p.is_dir():
        raise UserError(f"{option} {shown!r} is a file; larp-twin writes a directory there and never replaces a "
                        f"file: choose another {option}")
    if p.is_dir():
        try:  # the top level only: a huge tree (--out ~) is refused without walking it
            present = sorted(q.name + ("/" if q.is_dir() else "") for q in itertools.islice(p.iterdir(), 1000))
        except OSError as e:
            raise UserError(f"{option} {shown!r}: cannot list it ({e.strerror}); choose another {option}") from None
        if present and not overwrite:
            cmd, files = owner(p)
            if cmd == UNFINISHED_DURABLE:
                raise UserError(f"{option} {shown!r} holds a durable run that did not finish; continue it with "
                                f"`larp-twin resume {shown}`, choose a new directory, or pass --overwrite to "
                                f"discard it")
            if cmd != command:
                what = f"a `larp-twin {cmd}` output" if cmd else f"{len(present)} file(s): {_few(present)}"
                raise UserError(f"{option} {shown!r} is not empty ({what}) and is not a finished `larp-twin "
                                f"{command}` output; choose a new directory, or pass --overwrite to replace it")
            extra = [f for f in _listing(p) if f not in files] if files is not None else []
            if extra and not extra_files_ok:
                raise UserError(f"{option} {shown!r} holds a previous `larp-twin {command}` output and also "
                                f"{_few(extra)}, which larp-twin did not write; move them out or pass --overwrite")
    return p


def _few(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def write_marker(directory: Path, command: str) -> None:
    """Mark ``directory`` as a finished output of ``command`` (what ``check_target`` recognises)."""
    directory = Path(directory)
    files = [f for f in _listing(directory) if f != MARKER]
    (directory / MARKER).write_text(json.dumps({"command": command, "files": files}, indent=1) + "\n")


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Move ``tmp`` to ``out``, replacing an existing directory ``out`` (moved aside first, removed after)."""
    if out.exists() or out.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
        try:
            os.replace(tmp, out)
        except BaseException:
            os.replace(old / out.name, out)
            raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


@contextlib.contextmanager
def atomic_dir(out, command: str | None = None):
    """Yield a temporary directory beside ``out``; on success it replaces ``out``, on failure it is removed.

    ``command``: mark the result as that command's finished output.  Does not apply the policy (``check_target``
    does, before the work); refuses only the working directory and its parents, which cannot be replaced.
    """
    out = Path(str(out)) if str(out) else Path(".")
    _refuse_cwd(out, "output directory", str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        _chmod_tree(tmp)
        yield tmp
        if command is not None:
            write_marker(tmp, command)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(out):
    """Yield a temporary file path beside ``out``; on success it replaces ``out`` (mode per the umask)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.partial-", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def replacing(out, overwrite: bool):
    """For commands that write in place (durable runs, sweeps): with ``overwrite`` move a non-empty ``out`` aside
    first; remove it when the block succeeds, put it back when it fails."""
    out = Path(str(out)) if str(out) else Path(".")
    old = None
    if overwrite and out.is_dir() and any(out.iterdir()):
        _refuse_cwd(out, "output directory", str(out))
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
    try:
        yield out
    except BaseException:
        if old is not None:
            shutil.rmtree(out, ignore_errors=True)
            os.replace(old / out.name, out)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def add_overwrite(parser) -> None:
    """The ``--overwrite`` option of a command that writes (see the module docstring for the policy)."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output even if it is not a finished output of this command "
                             "(never the working directory or a file)")
