"""requirements.lock: the one lock file, used by `make test` and by every release bundle.

A requirement added to setup.cfg without regenerating the lock would install in nobody's
venv (make installs only from the lock) and ship in no bundle, so these tests fail first,
with the command that fixes it.
"""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"
FIX = "run `make lock` and commit requirements.lock (pip-compile --generate-hashes from setup.cfg)"


def locked() -> dict[str, tuple[Version, list[str]]]:
    """name -> (pinned version, hashes) from the lock file's `name==version \\ --hash` entries."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    text = LOCK.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s*(.*)$", line)
        assert match, f"requirements.lock: unpinned or unreadable line {line!r}; {FIX}"
        name, version, rest = match.groups()
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", rest)
        pins[canonicalize_name(name)] = (Version(version), hashes)
    return pins


def declared() -> list[Requirement]:
    """install_requires and every extra of setup.cfg."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines()
    for value in cfg["options.extras_require"].values():
        lines.extend(value.splitlines())
    return [Requirement(line.strip()) for line in lines if line.strip()]


def test_every_requirement_of_setup_cfg_is_pinned_in_the_lock() -> None:
    pins = locked()
    missing, outside = [], []
    for req in declared():
        if req.marker is not None and not req.marker.evaluate():
            continue
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            missing.append(str(req))
        elif req.specifier and not req.specifier.contains(pin[0], prereleases=True):
            outside.append(f"{req} (locked {pin[0]})")
    assert not missing, f"setup.cfg requires {', '.join(missing)}, not in requirements.lock: {FIX}"
    assert not outside, f"requirements.lock pins outside setup.cfg's range: {outside}; {FIX}"


def test_every_locked_package_has_hashes() -> None:
    # pip's --require-hashes refuses the whole file if one entry lacks them.
    bare = [name for name, (_, hashes) in locked().items() if not hashes]
    assert not bare, f"requirements.lock entries without --hash: {bare}; {FIX}"


def test_make_installs_from_the_lock_with_hashes_then_the_project_without_deps() -> None:
    result = subprocess.run(
        ["make", "-n", "-B", "venv"], cwd=REPO, capture_output=True, text=True, check=True
    )
    out = result.stdout
    assert "--require-hashes -r requirements.lock" in out, out
    assert "--no-deps -e ." in out, out
    # Nothing else may pull dependencies past the lock.
    assert "-e '.[dev]'" not in out and "-e .[dev]" not in out, out
