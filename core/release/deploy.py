"""`kabinet update BUNDLE` and `kabinet rollback`: the checks here, the moves in installer/.

The installed release checks a bundle with the keys it ships (core.release.keys): the
signature, every checksum, the Python it was built for and the upgrade path, all before
anything is touched. Only then is the bundle unpacked (to a temporary folder) and its own
installer/update.sh run on that checked copy, which builds releases/<version> beside the
running one, backs up, migrates under the lock, switches `current`, checks health and rolls
back by itself on any failure (see that script).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from core import __version__
from core.release.bundle import BundleError, Manifest, extract, verify


class UpdateRefused(RuntimeError):
    """The bundle is fine but cannot be installed here (path, Python, layout)."""


@dataclass(frozen=True)
class Layout:
    prefix: str  # "" on a real machine; the sandbox root in tests
    opt: Path

    @property
    def current(self) -> Path:
        return self.opt / "current"

    def current_version(self) -> str | None:
        try:
            return Path(os.readlink(self.current)).name
        except OSError:
            return None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.prefix:
            env["KABINET_PREFIX"] = self.prefix
        return env


def layout() -> Layout:
    """The installation this command belongs to: $KABINET_PREFIX if set, else the one whose
    releases/<version>/venv runs this Python."""
    prefix = os.environ.get("KABINET_PREFIX", "").rstrip("/")
    if not prefix:
        venv = Path(sys.prefix)
        opt = venv.parent.parent.parent  # <prefix>/opt/kabinet/releases/<version>/venv
        if venv.name == "venv" and opt.name == "kabinet" and opt.parent.name == "opt":
            root = str(opt.parent.parent)
            prefix = "" if root == "/" else root
    return Layout(prefix, Path(prefix + "/opt/kabinet"))


def _version(text: str, what: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise UpdateRefused(f"{what} {text!r} is not a release version") from None


def check_path(installed: str, manifest: Manifest) -> None:
    """Refuse a downgrade and a jump past the release's declared starting point."""
    have = _version(installed, "the installed version")
    new = _version(manifest.version, "the bundle's version")
    oldest = _version(manifest.upgrades_from, "the bundle's upgrades_from")
    if new < have:
        raise UpdateRefused(
            f"Kabinet {manifest.version} is older than the installed {installed}: an update "
            "never goes back; `kabinet rollback` returns to the release before the last update"
        )
    if have < oldest:
        raise UpdateRefused(
            f"Kabinet {manifest.version} updates only from {manifest.upgrades_from} or later, "
            f"and this is {installed}: update to {manifest.upgrades_from} first, then to "
            f"{manifest.version}"
        )


def check_python(manifest: Manifest) -> None:
    if shutil.which(f"python{manifest.python}") is None and not os.environ.get("KABINET_PYTHON"):
        raise UpdateRefused(
            f"this bundle is built for Python {manifest.python}, which is not installed "
            f"(apt-get install python{manifest.python} python{manifest.python}-venv), or take "
            "the bundle built for this server's Python"
        )


def plan(bundle: Path, where: Layout) -> Manifest:
    """Everything checked before a single file is written; returns the manifest."""
    if not bundle.is_file():
        raise UpdateRefused(f"no such bundle: {bundle}")
    manifest = verify(bundle)
    installed = where.current_version()
    if installed is None:
        raise UpdateRefused(
            f"Kabinet is not installed under {where.opt} (no {where.current}); "
            "unpack the bundle and run its installer/install.sh"
        )
    if installed != manifest.version:
        check_path(installed, manifest)
    check_python(manifest)
    return manifest


def update(bundle: Path, where: Layout | None = None) -> int:
    """Check, then hand the unpacked bundle to its installer/update.sh; its exit code."""
    where = where or layout()
    manifest = plan(bundle, where)
    if where.current_version() == manifest.version:
        print(f"kabinet: Kabinet {manifest.version} is already installed; nothing to do")
        return 0
    print(
        f"kabinet: {bundle.name}: signature and {len(manifest.files)} checksums verified; "
        f"updating {where.current_version()} -> {manifest.version}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="kabinet-bundle-") as tmp:
        try:
            root = extract(bundle, Path(tmp))
        except (OSError, BundleError) as exc:
            raise BundleError(f"unpacking {bundle} failed: {exc}") from None
        script = root / "installer" / "update.sh"
        return subprocess.run(
            ["bash", str(script), "--verified", str(root)], env=where.env(), check=False
        ).returncode


def rollback(where: Layout | None = None) -> int:
    where = where or layout()
    script = where.current / "share" / "installer" / "rollback.sh"
    if not script.is_file():
        raise UpdateRefused(f"no {script}: Kabinet {__version__} is not installed by installer/")
    return subprocess.run(["bash", str(script)], env=where.env(), check=False).returncode
