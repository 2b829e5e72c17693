"""A user's input file, taken in at the edge: a regular file only, never more than a documented size, and YAML/JSON
whose nesting and alias expansion are bounded, so that no hostile or mistaken file hangs a command or exhausts memory.

Why each limit (all far above any real file; ``docs/inputs.md`` lists them):

- a named pipe, a device (``/dev/zero``, ``/dev/urandom``) or a socket is refused before it is opened: opening a pipe
  waits for a writer forever, a device never ends;
- ``read_capped`` reads at most the caller's limit (plate maps 20 MB, Gen5 exports 200 MB, YAML/JSON 5 MB), even
  from a file that grows while it is read;
- YAML/JSON: at most ``MAX_NESTING`` levels (a procedure is ~6, a ``campaign.json`` ~8) and ``MAX_NODES`` values
  once YAML aliases are expanded (a 350-byte "billion laughs" file expands to 387 million), checked on the event
  stream before anything is built.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

#: YAML/JSON inputs (procedures, fault plans, sweep specs, parameter files, campaign.json) larger than this are
#: refused; the largest real one, a 384-well run's campaign.json, is ~33 kB
MAX_STRUCTURED_BYTES = 5_000_000
#: nesting levels of a YAML/JSON input (lists and mappings inside each other)
MAX_NESTING = 32
#: values (scalars, lists, mappings) of a YAML/JSON input once every alias is expanded
MAX_NODES = 100_000


class InputFileError(ValueError):
    """An input file refused at the edge: not a regular file, too large, nested too deep, too many aliases."""


_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def regular_file(path, what: str, error: type[Exception] = InputFileError) -> os.stat_result:
    """``path``'s stat when it is a regular file (symlinks followed); else ``error`` naming ``what`` and the path.

    Uses ``os.stat`` only, so a named pipe is refused without opening it (an open would wait for a writer)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise error(f"{what} {p} does not exist; check the path") from None
    except OSError as exc:
        raise error(f"{what} {p}: cannot read it ({exc.strerror or exc}); check the path and permissions") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{what} {p} is a directory; give a file")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise error(f"{what} {p} is {kind}, not a regular file; give a file saved on disk (reading this would "
                    f"wait or run forever)")
    return st


def read_capped(path, what: str, max_bytes: int, error: type[Exception] = InputFileError,
                typical: str = "") -> bytes:
    """The bytes of the regular file ``path``, refused (``error``) above ``max_bytes``; ``typical`` says what a real
    file of this kind weighs (for the message)."""
    st = regular_file(path, what, error)
    too_big = (f"{what} {path}: more than {max_bytes / 1e6:g} MB, the limit for a {what}"
               + (f" ({typical})" if typical else "") + "; is it the right file?")
    if st.st_size > max_bytes:
        raise error(too_big.replace("more than", f"{st.st_size / 1e6:.1f} MB, more than", 1))
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)  # a file that grows while it is read stops here
    except OSError as exc:
        raise error(f"{what} {path}: cannot read it ({exc.strerror or exc}); check the path and permissions") \
            from None
    if len(data) > max_bytes:
        raise error(too_big)
    return data


def _too_deep(source: str, where: str) -> str:
    return (f"{source}{where}: nested more than {MAX_NESTING} levels deep (lists or mappings inside each other); a "
            f"real file nests fewer than 10: is it the right file?")


def check_yaml(text: str, source: str, error: type[Exception] = InputFileError) -> None:
    """Refuse YAML nested deeper than ``MAX_NESTING`` or that expands (aliases) to more than ``MAX_NODES`` values.

    Walks the parser's events (no objects built): each anchored node's expanded size is remembered and an alias
    adds it again, so a "billion laughs" file is refused after a few hundred events.  Syntax errors are left to
    the loader that follows (it names the line)."""
    import yaml

    # the pure-Python parser: it stops at the first level too deep (libyaml refuses 1000 levels with an error of its
    # own, after which the recursive composer would still overflow the stack)
    loader = yaml.SafeLoader
    sizes: dict[str, int] = {}
    stack: list[list] = []  # [anchor, expanded size so far] of each open collection

    def add(n: int, mark) -> None:
        if stack:
            stack[-1][1] += n
            if stack[-1][1] > MAX_NODES:
                raise error(f"{source} line {mark.line + 1}: expands to more than {MAX_NODES:,} values (YAML "
                            f"aliases '*name' repeat what an anchor '&name' holds); a real file has a few hundred: "
                            f"write the values out, or use fewer aliases")

    try:
        for ev in yaml.parse(text, Loader=loader):
            if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                if len(stack) >= MAX_NESTING:
                    raise error(_too_deep(source, f" line {ev.start_mark.line + 1}"))
                stack.append([ev.anchor, 1])
            elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                anchor, n = stack.pop()
                if anchor:
                    sizes[anchor] = n
                add(n, ev.start_mark)
            elif isinstance(ev, yaml.ScalarEvent):
                if ev.anchor:
                    sizes[ev.anchor] = 1
                add(1, ev.start_mark)
            elif isinstance(ev, yaml.AliasEvent):
                add(sizes.get(ev.anchor, 1), ev.start_mark)
    except yaml.YAMLError:
        return  # the loader reports it with its line


def load_yaml(text: str, source: str, error: type[Exception] = InputFileError):
    """``yaml.safe_load(text)`` after ``check_yaml``; a syntax error becomes ``error`` naming ``source`` and the
    line."""
    import yaml

    check_yaml(text, source, error)
    try:
        return yaml.safe_load(text)
    except ValueError as exc:  # a scalar Python refuses, e.g. an integer of more than 4300 digits
        raise error(f"{source}: a value YAML cannot hold ({str(exc)[:120]})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise error(f"{source}:{where} is not valid YAML ({getattr(exc, 'problem', None) or exc})") from None


def load_json(text: str, source: str, error: type[Exception] = InputFileError):
    """``json.loads(text)``, refused (``error``) when nested deeper than ``MAX_NESTING`` or not valid JSON."""
    depth = _json_depth(text)
    if depth > MAX_NESTING:
        raise error(_too_deep(source, ""))
    try:
        return json.loads(text)
    except ValueError as exc:
        raise error(f"{source}: not valid JSON ({exc})") from None


def _json_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting of JSON text, brackets inside strings not counted (one pass, no recursion)."""
    import re

    depth = deepest = 0
    # strings (with their escapes) first, so that their brackets do not count
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_NESTING:
                    return deepest
        elif tok in "]}":
            depth -= 1
    return deepest


def load_structured(path, what: str, *, yaml_ok: bool | None = None, error: type[Exception] = InputFileError,
                    max_bytes: int = MAX_STRUCTURED_BYTES):
    """The data of a YAML/JSON input file: a regular UTF-8 file of at most ``max_bytes``, bounded as above.

    ``yaml_ok``: read as YAML (a superset of JSON); default: YAML unless the name ends in ``.json``."""
    p = Path(path)
    data = read_capped(p, what, max_bytes, error, typical="a real one is a few kB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {p} is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start}); save "
                    f"it as UTF-8 text") from None
    if yaml_ok is None:
        yaml_ok = p.suffix.lower() != ".json"
    return load_yaml(text, str(p), error) if yaml_ok else load_json(text, str(p), error)
