"""PostgreSQL for the tests: a schema of its own per node, dropped after the test."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest


class SchemaFactory:
    def __init__(self, base: str) -> None:
        self.base = base
        self.schemas: list[str] = []

    def _connect(self):  # noqa: ANN202 - psycopg.Connection
        import psycopg

        try:
            return psycopg.connect(self.base, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            pytest.fail(f"PostgreSQL at {self.base} cannot be reached ({str(exc).strip().splitlines()[0]}); "
                        "scripts/test.sh installs and starts it, or set ACCORD_TEST_PG", pytrace=False)

    def make(self) -> str:
        """The URL of a new, empty schema in the base database."""
        name = f"accord_test_{uuid.uuid4().hex[:12]}"
        with self._connect() as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        self.schemas.append(name)
        sep = "&" if "?" in self.base else "?"
        return f"{self.base}{sep}options={quote(f'-csearch_path={name}')}&application_name={name}"

    def cleanup(self) -> None:
        from accord.store.postgres import OPEN_STORES

        for store in list(OPEN_STORES):
            if any(s in store.url for s in self.schemas):
                store.close()
        if not self.schemas:
            return
        with self._connect() as conn:
            for name in self.schemas:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                             (name,))
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        self.schemas.clear()
