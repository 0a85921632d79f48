"""A real TAK server (taky 0.10, from the package index) on loopback, and an independent TAK
client (pytak's connection, events parsed with the standard library's XML parser, not Accord's).
A module of its own name, not conftest: `from conftest import …` takes whichever conftest was
imported first (tests/warning/alerts' when both directories are collected)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from loopback import free_port, listens, retry_in_use

TAKY = shutil.which("taky", path=str(Path(sys.executable).parent)) or shutil.which("taky")


@dataclass
class Taky:
    port: int
    proc: subprocess.Popen
    root: Path
    tls: bool = False

    @property
    def url(self) -> str:
        return f"{'tls' if self.tls else 'tcp'}://127.0.0.1:{self.port}"


def start_taky(root: Path, *, ssl_files: dict | None = None) -> Taky:
    """taky on free loopback ports (other ones when a port was taken before taky bound it)."""
    assert TAKY, "taky is not installed (pip install -e '.[test]')"
    root.mkdir(parents=True, exist_ok=True)
    return retry_in_use(lambda port: _start_taky(root, port, ssl_files), what="taky")


def _start_taky(root: Path, port: int, ssl_files: dict | None) -> Taky:
    conf = ["[taky]", "hostname = localhost", "node_id = ACCORD-TEST", "bind_ip = 127.0.0.1",
            f"root_dir = {root}", "[cot_server]", f"port = {port}"]
    if ssl_files:
        conf += ["mon_ip = 127.0.0.1", f"mon_port = {free_port()}", "[ssl]", "enabled = true",
                 "client_cert_required = true", f"ca = {ssl_files['ca']}", f"cert = {ssl_files['cert']}",
                 f"key = {ssl_files['key']}", f"cert_db = {root / 'cert-db.txt'}"]
    else:
        conf += ["[ssl]", "enabled = false"]
    (root / "taky.conf").write_text("\n".join(conf) + "\n")
    log = open(root / "taky.log", "wb")
    proc = subprocess.Popen([TAKY, "-c", str(root / "taky.conf")], cwd=root, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if listens(proc.pid, port):  # taky's own listener, not another process's that took the port
            return Taky(port, proc, root, bool(ssl_files))
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    log.close()
    raise AssertionError(f"taky did not start: {(root / 'taky.log').read_text()[-2000:]}")


def stop_taky(t: Taky) -> None:
    t.proc.terminate()
    try:
        t.proc.wait(10)
    except subprocess.TimeoutExpired:
        t.proc.kill()


@dataclass
class Received:
    """One event as the independent client saw it (stdlib XML), with its arrival time."""

    uid: str
    type: str
    time: dt.datetime
    stale: dt.datetime
    lat: float
    lon: float
    hae: float
    xml: ET.Element
    arrived: float  # time.monotonic()

    @property
    def marking(self) -> str | None:
        acc = self.xml.find("detail/__accord")
        return acc.get("marking") if acc is not None else None


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Listener:
    """A TAK client connected through pytak that records every event it receives."""

    url: str
    tls: dict | None = None
    events: list[Received] = field(default_factory=list)
    skipped: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        import pytak

        cfg = {"COT_URL": self.url}
        if self.tls:
            cfg.update({"PYTAK_TLS_CLIENT_CERT": self.tls["cert"], "PYTAK_TLS_CLIENT_KEY": self.tls["key"],
                        "PYTAK_TLS_CLIENT_CAFILE": self.tls["ca"]})
        from configparser import ConfigParser
        parser = ConfigParser()
        parser["test"] = cfg
        reader, writer = await pytak.protocol_factory(parser["test"])
        try:
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(reader.readuntil(b"</event>"), 0.2)
                except asyncio.TimeoutError:
                    continue
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError as exc:  # an event over 64 KiB (a hostile one): skip it
                    await reader.readexactly(exc.consumed)
                    self.skipped += 1
                    continue
                try:
                    el = ET.fromstring(raw.strip())
                except ET.ParseError:  # the tail of a skipped one
                    continue
                pt = el.find("point")
                self.events.append(Received(el.get("uid"), el.get("type"), _when(el.get("time")),
                                            _when(el.get("stale")), float(pt.get("lat")), float(pt.get("lon")),
                                            float(pt.get("hae")), el, time.monotonic()))
        finally:
            writer.close()

    def latest(self) -> dict[str, Received]:
        out: dict[str, Received] = {}
        for e in self.events:
            out[e.uid] = e
        return out


async def wait_until(cond, timeout: float = 30.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(step)


def make_pki(d: Path) -> dict:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (PEM files in ``d``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    d.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(path: Path, key, cert) -> None:
        path.with_suffix(".key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        os.chmod(path.with_suffix(".key"), 0o600)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("Accord test CA")).issuer_name(name("Accord test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    write(d / "ca", ca_key, ca)
    out = {"ca": str(d / "ca.crt")}
    for who, san, usage in (("server", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                             ExtendedKeyUsageOID.SERVER_AUTH),
                            ("client", [x509.DNSName("accord-jpn")], ExtendedKeyUsageOID.CLIENT_AUTH),
                            ("viewer", [x509.DNSName("viewer")], ExtendedKeyUsageOID.CLIENT_AUTH)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(who)).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName(san), critical=False)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        write(d / who, key, cert)
        out[who] = {"cert": str(d / f"{who}.crt"), "key": str(d / f"{who}.key"), "ca": str(d / "ca.crt")}
    return out
