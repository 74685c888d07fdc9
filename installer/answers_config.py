"""The configuration install.sh writes: config.example.toml with the answers set, and the
secret key; each file complete, mode 0600 from its first byte, under its final name only
when whole. Standard library only (see answers.py)."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path


def render(example: str, values: dict[tuple[str, str], str | int]) -> str:
    """config.example.toml with these keys set, its comments and order kept: a key's line
    is replaced in its section; a key or section the example lacks is added."""
    lines = example.splitlines()
    title = "# Kabinet configuration, written by installer/install.sh from its answers."
    lines[0 : 1 if lines and lines[0].startswith("#") else 0] = [title]
    pending = dict(values)
    section = ""
    out: list[str] = []
    for line in lines:
        header = re.match(r"\s*\[([A-Za-z0-9_.-]+)\]\s*$", line)
        if header:
            section = header.group(1)
            out.append(line)
            for (sec, key), value in list(pending.items()):
                if sec == section and not re.search(rf"(?m)^{key}\s*=", _section(example, sec)):
                    out.append(f"{key} = {toml_value(value)}")
                    del pending[(sec, key)]
            continue
        match = re.match(r"([A-Za-z0-9_]+)\s*=", line)
        if match and (section, match.group(1)) in pending:
            key = match.group(1)
            out.append(f"{key} = {toml_value(pending.pop((section, key)))}")
            continue
        out.append(line)
    for sec in dict.fromkeys(s for s, _ in pending):
        out += ["", f"[{sec}]"]
        out += [f"{k} = {toml_value(v)}" for (s, k), v in pending.items() if s == sec]
    return "\n".join(out) + "\n"


def _section(text: str, name: str) -> str:
    match = re.search(rf"(?ms)^\[{re.escape(name)}\]\s*$(.*?)(?=^\[|\Z)", text)
    return match.group(1) if match else ""


def toml_value(value: str | int) -> str:
    # A JSON string is a valid TOML basic string (the same escapes, \uXXXX included).
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=False)


def write_private(path: Path, text: str) -> None:
    """Written whole under a temporary name (mode 0600 from the start), then renamed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def secret_key(path: Path) -> str:
    """A new session-signing key (as the panel would make it), never replacing one."""
    if path.exists():
        return "kept"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    try:
        os.link(tmp, path)  # fails if one appeared meanwhile: that one stays
    except FileExistsError:
        return "kept"
    finally:
        tmp.unlink()
    return "written"
