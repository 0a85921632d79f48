"""A PostgreSQL server of the test's own (initdb into a temporary directory, a free port), for
tests that stop and restart it: the shared server at 127.0.0.1:5432 serves other runs."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from loopback import free_port, retry_in_use, says_in_use


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL's server programs (initdb, pg_ctl) are not installed: scripts/test.sh installs "
                    "Debian's postgresql package", pytrace=False)
    return Path(found[-1]).parent


class OwnServer:
    """``start()``, ``stop()``, ``url``; as root the server runs as the ``postgres`` user."""

    def __init__(self) -> None:
        self.bin = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="accord-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.started = False
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root
            shutil.chown(self.root, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(argv[:2])} failed: {done.stderr.strip() or done.stdout.strip()}", pytrace=False)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start (or restart) the server. Until it first runs, a port taken meanwhile by another
        process is swapped for a fresh one; afterwards its clients know the port, which is kept."""
        def ports() -> int:
            if not self.started and tried:
                self.port = free_port()
            tried.append(self.port)
            return self.port

        tried: list[int] = []
        retry_in_use(self._start_on, ports, what="PostgreSQL")
        self.started = True

    def _start_on(self, port: int) -> None:
        log = self.root / "log"
        offset = log.stat().st_size if log.exists() else 0
        argv = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60",
                "-o", f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1", "start"]
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            said = log.read_bytes()[offset:].decode(errors="replace") if log.exists() else ""
            if says_in_use(said):
                raise RuntimeError(said.strip())
            pytest.fail(f"pg_ctl start failed: {done.stderr.strip() or done.stdout.strip()}\n{said[-2000:]}",
                        pytrace=False)

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
