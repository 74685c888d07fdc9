#!/usr/bin/env python3
"""Build a signed release bundle: `make release` runs this with the project's .venv.

    .venv/bin/python scripts/make_release.py --key PATH [--src DIR] [--out dist]
        [--wheelhouse DIR]

One bundle per release and Python version: kabinet-<version>-cp311-<platform>.tar in --out,
for the interpreter running this script. The dependencies are exactly the run-time closure
of the project (with the MIS drivers' extras) as pinned by requirements.lock: each is
fetched with its lock hash checked (`pip wheel --require-hashes`), or taken from
--wheelhouse when a file there has one of the lock's hashes, so tests and repeated builds
need the network once. The release's CHANGELOG section (`## <version>`) is required and
becomes RELEASE_NOTES.md.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.clock import utcnow  # noqa: E402
from core.release.bundle import FORMAT, MANIFEST, SIGNATURE, load_private_key, sign  # noqa: E402

# The MIS drivers and the store's PostgreSQL driver: every bundle carries them all, so a
# clinic that moves its store to PostgreSQL (or talks to another MIS) needs no network.
EXTRAS = ("firebird", "mssql", "mysql", "postgresql")


def fail(message: str) -> None:
    print(f"make_release: error: {message}", file=sys.stderr)
    sys.exit(1)


def source_value(src: Path, name: str) -> str:
    text = (src / "core/__init__.py").read_text()
    match = re.search(rf'^{name} = "([^"]+)"', text, re.M)
    if not match:
        fail(f"core/__init__.py has no {name}")
    return match.group(1)


def release_notes(src: Path, version: str) -> str:
    text = (src / "CHANGELOG.md").read_text()
    match = re.search(rf"^## {re.escape(version)}\b.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not match:
        fail(
            f"CHANGELOG.md has no section '## {version}': move the Unreleased entries under "
            f"'## {version} (YYYY-MM-DD)' before releasing"
        )
    return f"# Kabinet {version}\n{match.group(1).rstrip()}\n"


def read_lock(lock: Path) -> dict[str, tuple[str, set[str]]]:
    pins: dict[str, tuple[str, set[str]]] = {}
    for line in lock.read_text().replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(.*)$", line)
        if match:
            hashes = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", match.group(3)))
            pins[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return pins


def closure(src: Path, pins: dict[str, tuple[str, set[str]]]) -> list[str]:
    """The run-time dependencies, walked through the metadata of this venv (installed from
    the same lock), markers evaluated for this interpreter."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(src / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines()
    for extra in EXTRAS:
        lines += cfg["options.extras_require"][extra].splitlines()
    env = {k: str(v) for k, v in default_environment().items()}
    todo = [Requirement(line.strip()) for line in lines if line.strip()]
    todo = [r for r in todo if r.marker is None or r.marker.evaluate({**env, "extra": ""})]
    # A dependency's markers are judged once, against the extras of the package that
    # requires it (fonttools[woff] -> brotli; extra == "woff"); a package reached again
    # with other extras is walked again for what those extras add.
    seen: set[str] = set()
    walked: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if (name, frozenset(req.extras)) in walked:
            continue
        walked.add((name, frozenset(req.extras)))
        if name not in pins:
            fail(f"{req} is not in requirements.lock: run `make lock`")
        seen.add(name)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            fail(f"{name} is not installed in this venv: run `make venv`")
        if canonicalize_name(dist.version) != canonicalize_name(pins[name][0]):
            fail(f"{name} {dist.version} installed, {pins[name][0]} locked: run `make venv`")
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is None or any(
                sub.marker.evaluate({**env, "extra": e}) for e in ("", *req.extras)
            ):
                todo.append(sub)
    return sorted(seen)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        fail(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")


def fetch_wheels(
    names: list[str], pins: dict[str, tuple[str, set[str]]], wheels: Path, cache: Path | None
) -> None:
    needed = []
    for name in names:
        version, hashes = pins[name]
        found = None
        for whl in sorted(cache.glob("*.whl")) if cache else []:
            wname, wversion, _, _ = parse_wheel_filename(whl.name)
            if wname == name and str(wversion) == version and sha256(whl) in hashes:
                found = whl
                break
        if found:
            shutil.copy2(found, wheels / found.name)
        else:
            needed.append(f"{name}=={version} " + " ".join(f"--hash=sha256:{h}" for h in hashes))
    if needed:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as reqs:
            reqs.write("\n".join(needed) + "\n")
        # The lock's hashes are checked on download; an sdist is built into a wheel here.
        pip("wheel", "--no-deps", "--require-hashes", "-r", reqs.name, "-w", str(wheels))
        Path(reqs.name).unlink()
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            for whl in wheels.glob("*.whl"):
                if not whl.name.startswith("kabinet-") and not (cache / whl.name).exists():
                    shutil.copy2(whl, cache / whl.name)


def schema_head(src: Path) -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(src / "migrations"))
    return "+".join(sorted(ScriptDirectory.from_config(cfg).get_heads()))


def build(src: Path, out: Path, key_path: Path, wheelhouse: Path | None) -> Path:
    key = load_private_key(key_path)
    version = source_value(src, "__version__")
    upgrades_from = source_value(src, "__upgrades_from__")
    notes = release_notes(src, version)
    pins = read_lock(src / "requirements.lock")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    top = f"kabinet-{version}"
    name = f"{top}-cp{python.replace('.', '')}-{platform}.tar"
    with tempfile.TemporaryDirectory(prefix="kabinet-release-") as tmp:
        root = Path(tmp, top)
        wheels = root / "wheels"
        wheels.mkdir(parents=True)
        # The project's own wheel, built with the locked setuptools of this venv.
        build_dir = Path(tmp, "src")
        shutil.copytree(
            src,
            build_dir,
            ignore=shutil.ignore_patterns(
                ".git", ".venv", "var", "dist", "build", "*.egg-info", "__pycache__"
            ),
        )
        pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(build_dir))
        fetch_wheels(closure(src, pins), pins, wheels, wheelhouse)
        requirements = []
        for whl in sorted(wheels.glob("*.whl")):
            wname, wversion, _, _ = parse_wheel_filename(whl.name)
            if wname != "kabinet":
                requirements.append(f"{wname}=={wversion} --hash=sha256:{sha256(whl)}")
        (root / "requirements.txt").write_text("\n".join(requirements) + "\n")
        shutil.copytree(src / "installer", root / "installer")
        shutil.copy2(src / "config.example.toml", root / "config.example.toml")
        (root / "RELEASE_NOTES.md").write_text(notes)
        files = {
            str(p.relative_to(root)): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()
        }
        manifest = {
            "format": FORMAT,
            "name": "kabinet",
            "version": version,
            "upgrades_from": upgrades_from,
            "python": python,
            "platform": platform,
            "schema_head": schema_head(src),
            "created_at": utcnow().isoformat(timespec="seconds"),
            "files": files,
        }
        data = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
        (root / MANIFEST).write_bytes(data)
        (root / SIGNATURE).write_bytes(sign(data, key))
        out.mkdir(parents=True, exist_ok=True)
        partial = out / f".{name}.partial"
        with tarfile.open(partial, "w") as tar:
            tar.add(root, arcname=top)
        partial.replace(out / name)
    return out / name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=REPO)
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    parser.add_argument("--key", type=Path, required=True, help="Ed25519 private key (PEM)")
    parser.add_argument("--wheelhouse", type=Path, default=None, help="wheel cache directory")
    args = parser.parse_args()
    if not args.key.is_file():
        fail(f"no signing key at {args.key} (set KABINET_SIGNING_KEY)")
    path = build(args.src.resolve(), args.out.resolve(), args.key, args.wheelhouse)
    print(path)


if __name__ == "__main__":
    main()
