"""The data directory's files are in every whole backup and come back with a restore: the
documents' (the PDFs sent to sign, the signed copies, the clinic's generated certificate
and key) and the threads' (what patients and staff sent, the care instructions'
attachments)."""

from __future__ import annotations

import shutil
import stat
import tarfile
from pathlib import Path

from click.testing import CliRunner

from app.cli import cli
from core.config import load
from core.documents import pades
from sandbox.demo import write_config


def test_documents_thread_files_and_the_certificate_survive_a_backup_and_restore(
    tmp_path: Path,
) -> None:
    cfg_file = tmp_path / "kabinet.toml"
    write_config(
        cfg_file,
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "mis": {"profile": "demo", "dsn": str(tmp_path / "clinic.sqlite3")},
            "telegram": {"mode": "off"},
        },
    )
    config = load(cfg_file, environ={})

    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, ["--config", str(cfg_file), *args], catch_exceptions=False)

    assert "kabinet db upgrade" in run("documents", "verify").output  # no store yet: said so
    assert run("db", "upgrade").exit_code == 0
    assert run("documents", "verify").exit_code == 0  # an empty chain holds
    key = pades.clinic_key(config)
    docs = Path(config.storage.data_dir, "documents")
    (docs / "7").mkdir(parents=True)
    (docs / "7" / "original.pdf").write_bytes(b"%PDF-1.7 original")
    (docs / "7" / "signed.pdf").write_bytes(b"%PDF-1.7 signed")
    (docs / "7" / "half.part").write_bytes(b"an unfinished write")
    files = Path(config.storage.data_dir, "files")
    photo = files / "threads" / "12" / "photo.jpg"  # a patient's photo in her thread
    care = files / "care" / "3" / "ab12cd.pdf"  # a care instruction's attachment
    for path, body in ((photo, b"\xff\xd8 a photo"), (care, b"%PDF-1.7 care")):
        path.parent.mkdir(parents=True)
        path.write_bytes(body)
    kept = (key.cert_path, key.key_path, docs / "7" / "signed.pdf", photo, care)
    before = {p: p.read_bytes() for p in kept}

    made = run("backup")
    assert made.exit_code == 0, made.output
    archive = Path(made.output.strip().splitlines()[-1])
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {
        "documents/7/original.pdf",
        "documents/7/signed.pdf",
        "documents/clinic-cert.pem",
        "documents/clinic-key.pem",
        "files/threads/12/photo.jpg",
        "files/care/3/ab12cd.pdf",
    } <= names
    assert "documents/7/half.part" not in names

    shutil.rmtree(docs)
    shutil.rmtree(files)
    restored = run("restore", "--yes", str(archive))
    assert restored.exit_code == 0, restored.output
    assert "files/ (2)" in restored.output
    assert {p: p.read_bytes() for p in before} == before
    assert stat.S_IMODE(key.key_path.stat().st_mode) == 0o600
