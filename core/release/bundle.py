"""A release bundle: a tar of wheels, installer and notes, with a signed manifest.

Layout (one top folder, `kabinet-<version>/`):
  manifest.json      format, version, upgrades_from, python, platform, schema head and the
                     SHA-256 of every other file
  manifest.sig       {"key": <key id>, "signature": <base64 Ed25519 over manifest.json>}
  wheels/*.whl       the project and every run-time dependency, as pinned by the lock
  requirements.txt   those wheels, `name==version --hash=sha256:...`, for pip --require-hashes
  installer/, config.example.toml, RELEASE_NOTES.md (this release's CHANGELOG section)

Verification reads the tar without extracting anything: the signature first (so nothing
unsigned is even parsed as JSON), then every member's digest against the manifest, and
no member may be missing, extra, a link or outside the top folder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.release.keys import VENDOR_KEYS

FORMAT = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


class BundleError(RuntimeError):
    """The bundle is damaged, unsigned, signed by someone else, or not for this machine."""


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_keys(encoded: tuple[str, ...] = VENDOR_KEYS) -> dict[str, Ed25519PublicKey]:
    keys = {}
    for text in encoded:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text))
        keys[key_id(key)] = key
    return keys


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read the signing key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path} is not an Ed25519 private key")
    return key


def sign(manifest: bytes, key: Ed25519PrivateKey) -> bytes:
    signature = base64.b64encode(key.sign(manifest)).decode()
    return json.dumps({"key": key_id(key.public_key()), "signature": signature}).encode()


def check_signature(manifest: bytes, sig: bytes, keys: dict[str, Ed25519PublicKey]) -> None:
    try:
        parsed = json.loads(sig)
        kid, signature = str(parsed["key"]), base64.b64decode(parsed["signature"])
    except (ValueError, KeyError, TypeError):
        raise BundleError("the bundle's signature file is unreadable") from None
    key = keys.get(kid)
    if key is None:
        raise BundleError(
            f"the bundle is signed with key {kid}, which this installation does not trust"
        )
    try:
        key.verify(signature, manifest)
    except InvalidSignature:
        raise BundleError("the bundle's signature does not match its manifest") from None


@dataclass(frozen=True)
class Manifest:
    version: str
    upgrades_from: str
    python: str
    platform: str
    schema_head: str
    top: str
    files: dict[str, str]
    raw: dict[str, Any]


def _member_path(member: tarfile.TarInfo) -> PurePosixPath:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BundleError(f"the bundle holds an unsafe path: {member.name!r}")
    if not (member.isfile() or member.isdir()):
        raise BundleError(f"the bundle holds something other than files: {member.name!r}")
    return path


def _sha256(stream: Any) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _parse(manifest: bytes, top: str) -> Manifest:
    try:
        raw = json.loads(manifest)
        if raw.get("format") != FORMAT or raw.get("name") != "kabinet":
            raise BundleError(f"not a Kabinet bundle of format {FORMAT}")
        files = {str(k): str(v) for k, v in raw["files"].items()}
        return Manifest(
            version=str(raw["version"]),
            upgrades_from=str(raw["upgrades_from"]),
            python=str(raw["python"]),
            platform=str(raw["platform"]),
            schema_head=str(raw["schema_head"]),
            top=top,
            files=files,
            raw=raw,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BundleError("the bundle's manifest is unreadable") from None


def verify(path: Path, keys: dict[str, Ed25519PublicKey] | None = None) -> Manifest:
    """Check the bundle at `path` whole and signed; change nothing. Raises BundleError."""
    keys = public_keys() if keys is None else keys
    try:
        tar = tarfile.open(path, "r:*")  # noqa: SIM115 (closed by the with below)
    except (OSError, tarfile.TarError) as exc:
        raise BundleError(f"{path} is not a readable bundle: {exc}") from None
    with tar:
        try:
            members = tar.getmembers()
        except (OSError, tarfile.TarError) as exc:
            raise BundleError(f"{path} is damaged: {exc}") from None
        tops = {_member_path(m).parts[0] for m in members}
        if len(tops) != 1:
            raise BundleError(f"{path}: expected one top folder, found {sorted(tops)}")
        top = tops.pop()
        by_name = {str(_member_path(m)): m for m in members if m.isfile()}

        def read(name: str) -> bytes:
            member = by_name.get(f"{top}/{name}")
            stream = tar.extractfile(member) if member is not None else None
            if stream is None:
                raise BundleError(f"{path} has no {name}: not a signed Kabinet bundle")
            return stream.read()

        manifest_bytes = read(MANIFEST)
        check_signature(manifest_bytes, read(SIGNATURE), keys)
        manifest = _parse(manifest_bytes, top)
        listed = {f"{top}/{name}" for name in manifest.files}
        present = set(by_name) - {f"{top}/{MANIFEST}", f"{top}/{SIGNATURE}"}
        if present - listed:
            raise BundleError(f"files not in the manifest: {sorted(present - listed)[:5]}")
        if listed - present:
            raise BundleError(f"files missing from the bundle: {sorted(listed - present)[:5]}")
        for name, expected in manifest.files.items():
            stream = tar.extractfile(by_name[f"{top}/{name}"])
            assert stream is not None
            if _sha256(stream) != expected:
                raise BundleError(f"{name}: checksum does not match the manifest")
    return manifest


def extract(path: Path, dest: Path, keys: dict[str, Ed25519PublicKey] | None = None) -> Path:
    """Verify, unpack into `dest` and check the unpacked files again; returns the folder.

    The second check covers a bundle replaced on disk between the two reads.
    """
    manifest = verify(path, keys)
    with tarfile.open(path, "r:*") as tar:
        tar.extractall(dest, filter="data")
    root = dest / manifest.top
    for name, expected in manifest.files.items():
        with open(root / name, "rb") as f:
            if _sha256(f) != expected:
                raise BundleError(f"{name}: changed while unpacking")
    return root
