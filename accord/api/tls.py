"""TLS for a node's API: a self-signed certificate that partners pin.

``accord node tls init --dir DIR`` writes ``DIR/tls/key.pem`` and ``DIR/tls/cert.pem`` (0600): an
ECDSA P-256 certificate for ``localhost``/``127.0.0.1`` (plus any names given), valid for one
year, made with ``cryptography``'s x509 builder. Its SHA-256 fingerprint (over the DER encoding)
is what a partner checks out of band before pinning the certificate with
``accord node tls pin --party P --cert FILE --fingerprint SHA256:…``; the pinned certificate is
then the only trust anchor for that partner (:class:`accord.federation.HttpTransport`).
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from accord.core.files import remove_stale_temporaries
from accord.errors import ConfigError, InputError, VerificationError
from accord.store.private_files import private_dir, write_private


INIT_MARKER = "init.incomplete"  # in DIR/tls while `tls init` writes the pair: a key without it is half-made


def tls_dir(node_dir: str | Path) -> Path:
    return Path(node_dir) / "tls"


def cert_fingerprint(pem: bytes) -> str:
    """``SHA256:`` + hex SHA-256 of the certificate's DER encoding."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise InputError("not a PEM X.509 certificate") from None
    return "SHA256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def make_self_signed(node_dir: str | Path, party: str, *, names: list[str] | None = None,
                     now: datetime | None = None, days: int = 365) -> str:
    """Write key.pem (0600) and cert.pem under ``node_dir/tls``; return the cert fingerprint."""
    d = private_dir(tls_dir(node_dir))
    key_path, cert_path, marker = d / "key.pem", d / "cert.pem", d / INIT_MARKER
    if marker.exists() and not cert_path.exists():
        # a `tls init` killed before its certificate (kill -9, a power cut): its key has no
        # certificate, so nothing served or pinned it; left there, it made this command refuse
        # ("already exists") while `node serve --tls` said to run it
        for path in (key_path, d / "key.pem.tmp", d / "cert.pem.tmp"):   # (.tmp: an earlier version's)
            path.unlink(missing_ok=True)
        for path in (key_path, cert_path):
            remove_stale_temporaries(path, older_than=0)
    if key_path.exists() or cert_path.exists():
        raise ConfigError(f"{d}: a TLS certificate already exists; refusing to overwrite it")
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"accord node {party}"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Accord")])
    alt: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    for n in names or []:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    write_private(marker, b"accord node tls init under way\n")
    write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    write_private(cert_path, pem)
    marker.unlink()
    return cert_fingerprint(pem)


def pin_partner_cert(node_dir: str | Path, party: str, cert_file: str | Path, fingerprint: str | None) -> str:
    """Pin partner ``party``'s certificate; with ``fingerprint`` it must match. Return it."""
    from accord.core.parties import party_problem

    problem = party_problem(party)  # also names the file written: never a path
    if problem is not None:
        raise InputError(problem, field="party")
    pem = Path(cert_file).read_bytes()
    got = cert_fingerprint(pem)
    if fingerprint is not None and fingerprint.lower() != got.lower():
        raise VerificationError(f"certificate {cert_file} of {party} does not have the expected fingerprint",
                                expected=fingerprint, actual=got)
    d = private_dir(tls_dir(node_dir) / "partners")
    write_private(d / f"{party}.pem", pem)
    return got


def check_server_files(node_dir: str | Path) -> tuple[str, str]:
    """``(cert.pem, key.pem)`` of ``node_dir/tls`` as paths, once both are readable PEM and the key
    is the certificate's; else :class:`ConfigError` naming the file and why (the server, not
    uvicorn after the bind, says it: ``[SSL] PEM lib`` named neither)."""
    import ssl

    d = tls_dir(node_dir)
    cert_path, key_path = d / "cert.pem", d / "key.pem"
    fix = f"(`accord node tls init --dir {node_dir}` makes them)"
    if not cert_path.exists() and not key_path.exists():
        raise ConfigError(f"{cert_path} not found: run `accord node tls init --dir {node_dir}` first")
    if not cert_path.exists() and (d / INIT_MARKER).exists():
        raise ConfigError(f"{d}: an `accord node tls init` was interrupted before it wrote cert.pem; run "
                          f"`accord node tls init --dir {node_dir}` again")

    def read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise ConfigError(f"{path}: {reason} {fix}") from None

    try:
        x509.load_pem_x509_certificate(read(cert_path))
    except ValueError:
        raise ConfigError(f"{cert_path}: not a PEM certificate {fix}") from None
    try:
        serialization.load_pem_private_key(read(key_path), password=None)
    except TypeError:
        raise ConfigError(f"{key_path}: the private key is encrypted; the server needs it unencrypted "
                          "(0600)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{key_path}: not a PEM private key {fix}") from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(str(cert_path), str(key_path))
    except ssl.SSLError as exc:
        raise ConfigError(f"{key_path} is not the private key of {cert_path} ({exc.reason or exc}); "
                          f"use the pair `accord node tls init` made together") from None
    return str(cert_path), str(key_path)
