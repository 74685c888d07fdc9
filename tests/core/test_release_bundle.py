"""Bundle verification and the upgrade path, on small hand-made bundles (no build, no pip)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.release import bundle as bundle_mod
from core.release.bundle import BundleError, key_id, sign, verify
from core.release.deploy import Layout, UpdateRefused, plan

FILES = {"wheels/kabinet-2.0-py3-none-any.whl": b"wheel", "requirements.txt": b"x==1\n"}


def make(
    path: Path,
    key: Ed25519PrivateKey,
    *,
    version: str = "2.0",
    upgrades_from: str = "1.0",
    extra: dict[str, bytes] | None = None,
    tamper: str = "",
) -> Path:
    files = dict(FILES)
    manifest = {
        "format": 1,
        "name": "kabinet",
        "version": version,
        "upgrades_from": upgrades_from,
        "python": "3.11",
        "platform": "linux_x86_64",
        "schema_head": "0001",
        "files": {n: hashlib.sha256(b).hexdigest() for n, b in files.items()},
    }
    data = json.dumps(manifest).encode()
    members = {"manifest.json": data, "manifest.sig": sign(data, key), **files, **(extra or {})}
    if tamper == "file":
        members["requirements.txt"] = b"x==2\n"
    if tamper == "manifest":
        members["manifest.json"] = data.replace(b'"2.0"', b'"2.5"', 1)
    with tarfile.open(path, "w") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(f"kabinet-{version}/{name}")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return path


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    monkeypatch.setattr(
        bundle_mod, "public_keys", lambda: {key_id(key.public_key()): key.public_key()}
    )
    return key


def test_a_whole_signed_bundle_verifies(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    manifest = verify(make(tmp_path / "b.tar", key))
    assert (manifest.version, manifest.upgrades_from, manifest.top) == ("2.0", "1.0", "kabinet-2.0")


@pytest.mark.parametrize(
    ("tamper", "extra", "message"),
    [
        ("file", None, "requirements.txt: checksum does not match"),
        ("manifest", None, "signature does not match"),
        ("", {"wheels/evil.whl": b"x"}, "files not in the manifest"),
    ],
)
def test_a_changed_bundle_is_refused(
    tmp_path: Path,
    key: Ed25519PrivateKey,
    tamper: str,
    extra: dict[str, bytes] | None,
    message: str,
) -> None:
    with pytest.raises(BundleError, match=message):
        verify(make(tmp_path / "b.tar", key, tamper=tamper, extra=extra))


def test_a_bundle_signed_by_another_key_is_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    with pytest.raises(BundleError, match="does not trust"):
        verify(make(tmp_path / "b.tar", Ed25519PrivateKey.generate()))


def test_not_a_bundle_is_a_clear_error(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all")
    with pytest.raises(BundleError, match="not a readable bundle"):
        verify(junk)


def installed(tmp_path: Path, version: str) -> Layout:
    opt = tmp_path / "opt/kabinet"
    (opt / "releases" / version).mkdir(parents=True)
    os.symlink(f"releases/{version}", opt / "current")
    return Layout(str(tmp_path), opt)


@pytest.mark.parametrize(
    ("have", "upgrades_from", "message"),
    [
        ("1.0", "1.5", "updates only from 1.5 or later, and this is 1.0: update to 1.5 first"),
        ("3.0", "1.0", "older than the installed 3.0"),
    ],
)
def test_an_unsupported_path_is_refused_naming_the_way(
    tmp_path: Path, key: Ed25519PrivateKey, have: str, upgrades_from: str, message: str
) -> None:
    bundle = make(tmp_path / "b.tar", key, upgrades_from=upgrades_from)
    with pytest.raises(UpdateRefused, match=message):
        plan(bundle, installed(tmp_path, have))


def test_a_supported_path_passes(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    bundle = make(tmp_path / "b.tar", key, upgrades_from="1.0")
    assert plan(bundle, installed(tmp_path, "1.2")).version == "2.0"
