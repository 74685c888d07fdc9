"""The clinic's PAdES signature over every signed copy (pyHanko), and checking one.

The certificate and key come from `documents.certificate_file` / `key_file` (PEM); without
them a self-signed certificate in the clinic's name is generated once under
<data_dir>/documents/ (the key readable by its owner only). Any PDF reader then shows
whether the file changed since the clinic signed it; `kabinet documents verify FILE` says
so too (core.documents.verify), trusting exactly this certificate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from core.clock import utcnow
from core.config import Config

FIELD = "KabinetClinicSignature"


@dataclass(frozen=True)
class ClinicKey:
    cert_path: Path
    key_path: Path
    password: bytes | None


def documents_dir(config: Config) -> Path:
    return Path(config.storage.data_dir, "documents")


def clinic_key(config: Config) -> ClinicKey:
    """The configured certificate, or the generated one (made now if there is none yet)."""
    docs = config.documents
    password = docs.key_password.encode() if docs.key_password else None
    if docs.certificate_file and docs.key_file:
        return ClinicKey(Path(docs.certificate_file), Path(docs.key_file), password)
    cert_path = documents_dir(config) / "clinic-cert.pem"
    key_path = documents_dir(config) / "clinic-key.pem"
    if not (cert_path.is_file() and key_path.is_file()):
        generate(config.clinic.name, cert_path, key_path)
    return ClinicKey(cert_path, key_path, None)


def generate(clinic_name: str, cert_path: Path, key_path: Path) -> None:
    """A self-signed certificate for document signing in the clinic's name, 10 years."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, (clinic_name or "Клиника")[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, (clinic_name or "Клиника")[:64]),
        ]
    )
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def trusted_certificate(config: Config) -> asn1_x509.Certificate:
    data = clinic_key(config).cert_path.read_bytes()
    der = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    return asn1_x509.Certificate.load(der)


def sign(config: Config, writer: IncrementalPdfFileWriter, reason: str) -> bytes:
    """Sign what `writer` holds (the original with its signature page appended)."""
    key = clinic_key(config)
    signer = signers.SimpleSigner.load(
        str(key.key_path), str(key.cert_path), key_passphrase=key.password
    )
    if signer is None:
        raise ValueError(f"the clinic's key or certificate cannot be read ({key.cert_path})")
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD,
        subfilter=SigSeedSubFilter.PADES,
        reason=reason[:200],
        location=config.clinic.address or config.clinic.name,
        md_algorithm="sha256",
    )
    out = BytesIO()
    signers.sign_pdf(writer, meta, signer=signer, output=out)
    return out.getvalue()


@dataclass(frozen=True)
class PadesCheck:
    found: bool
    intact: bool  # the signed bytes hash to what the signature says
    trusted: bool  # signed by the clinic's own certificate
    whole_file: bool  # nothing was added to the file after the signature
    reason: str  # the signature's /Reason: names the evidence record

    @property
    def ok(self) -> bool:
        return self.found and self.intact and self.trusted and self.whole_file


def check(config: Config, data: bytes) -> PadesCheck:
    """pyHanko's verdict on the clinic's signature in `data`."""
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        found = [s for s in reader.embedded_signatures if s.field_name == FIELD]
    except Exception:  # not a PDF, or one too broken to read: no signature to speak of
        return PadesCheck(False, False, False, False, "")
    if not found:
        return PadesCheck(False, False, False, False, "")
    sig = found[-1]
    reason = str(sig.sig_object.get("/Reason", ""))
    try:
        context = ValidationContext(trust_roots=[trusted_certificate(config)])
        status = validate_pdf_signature(sig, context)
    except Exception:
        return PadesCheck(True, False, False, False, reason)
    whole = status.coverage is not None and status.coverage.name == "ENTIRE_FILE"
    return PadesCheck(
        True, bool(status.intact and status.valid), bool(status.trusted), whole, reason
    )
