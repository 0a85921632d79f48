"""The benches' ``--store`` choice: SQLite files, or a fresh PostgreSQL schema per node."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import quote

PG = os.environ.get("ACCORD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def bench_stores(kind: str) -> Iterator[Callable[[str], str | None]]:
    """``store(party)`` → the node's ``--store`` URL (None: SQLite); PostgreSQL schemas made
    here are dropped on the way out."""
    if kind == "sqlite":
        yield lambda party: None
        return
    import psycopg

    made: list[str] = []

    def store(party: str) -> str:
        name = f"accord_bench_{party.lower()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        made.append(name)
        return f"{PG}{'&' if '?' in PG else '?'}options={quote(f'-csearch_path={name}')}"

    try:
        yield store
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def print_side_by_side(results: dict[str, dict[str, str]]) -> None:
    stores = list(results)
    figures = list(dict.fromkeys(f for r in results.values() for f in r))
    width = max(len(f) for f in figures) + 2
    cols = [max(18, len(s) + 2, *(len(r) + 2 for r in results[s].values())) for s in stores]
    print("figure".ljust(width) + "".join(s.rjust(c) for s, c in zip(stores, cols)))
    for f in figures:
        print(f.ljust(width) + "".join(results[s].get(f, "-").rjust(c) for s, c in zip(stores, cols)))
