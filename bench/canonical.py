"""Canonical JSON bench: what each producer of signed bytes costs, side by side in one run.

Everything Accord signs is RFC 8785 (JCS) canonical JSON. ``accord.core.canonical.canonical_json``
takes orjson where ``plain_json`` proves the output byte-identical, else its own ES6 path
(``_fast``), else the ``rfc8785`` package; ``new_item`` and ``seal`` splice canonical bytes they
already hold instead of canonicalising the whole item or envelope again. This bench times each
path against the plain alternative on two item shapes — a small note (no floats: the orjson
path) and a tracker track (ECEF state, 21 covariance floats: the ES6 path) — and prints ratios
(the alternative's time ÷ the path's), so the figures hold on a loaded machine.

    .venv/bin/python bench/canonical.py [--n 3000]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import rfc8785

from accord.core import canonical
from accord.core.canonical import canonical_json
from accord.core.envelopes import seal
from accord.core.identity import Identity
from accord.core.items import new_item
from accord.core.markings import Marking

MARK = Marking.parse("RESTRICTED//REL TO JPN, KOR")
NOW = datetime(2026, 12, 5, 0, 0, 0, 123000, tzinfo=UTC)


def note(n: int) -> dict:
    return {"n": n, "bench": "canonical", "text": f"note {n}", "tags": ["a", "b"], "ok": True}


def track(n: int) -> dict:
    x = 1.0e3 * n
    return {"track_id": f"JPN-T{n % 97:03d}", "t": 1234.5 + 0.25 * n,
            "state": [-3.1e6 + x, 4.1e6 - 0.5 * x, 3.9e6 + 0.25 * x, 1234.5678, -2345.6789, 345.678912],
            "cov": [1.0e4 / (k + 1) + 0.125 * n for k in range(21)],
            "sensors": ["JPN-FPS5-1", "JPN-FPS5-2"], "quality": {"nis": 2.718281828, "updates": n % 50 + 3},
            "status": "confirmed"}


def best(fn, values, rounds: int = 3) -> float:
    """Best of ``rounds`` of the mean time per value, in µs."""
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for v in values:
            fn(v)
        out.append((time.perf_counter() - t0) / len(values) * 1e6)
    return min(out)


def python_path(value) -> bytes:
    parts: list[str] = []
    canonical._fast(value, parts)
    return "".join(parts).encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    args = ap.parse_args()
    ident = Identity.generate("JPN")
    for name, make in (("note", note), ("track", track)):
        bodies = [make(n) for n in range(args.n)]
        items = [new_item("warning.track" if name == "track" else "test.note", b, MARK, "JPN", NOW) for b in bodies]
        wires = [it.to_json() for it in items]
        for w in wires:  # every path gives the same bytes
            assert canonical_json(w) == rfc8785.dumps(w) == python_path(w)
        plain = sum(canonical.plain_json(w) for w in wires) / len(wires)
        t_canon = best(canonical_json, wires)
        t_py = best(python_path, wires)
        t_ref = best(rfc8785.dumps, wires)
        print(f"{name}: item {len(canonical_json(wires[0]))} bytes; orjson-eligible {plain:.0%}")
        print(f"  canonical_json {t_canon:7.1f} us | Python ES6 path alone {t_py:7.1f} us ({t_py / t_canon:4.1f}x) "
              f"| rfc8785 {t_ref:7.1f} us ({t_ref / t_canon:4.1f}x)")
        k = iter(range(10**9))
        t_new = best(lambda b: new_item("test.note", b, MARK, "JPN", NOW).canonical(), bodies)
        t_new_plain = best(lambda b: canonical_json(new_item("test.note", b, MARK, "JPN", NOW).to_json()), bodies)
        print(f"  new_item + canonical(): spliced {t_new:7.1f} us | item canonicalised again {t_new_plain:7.1f} us "
              f"({t_new_plain / t_new:4.1f}x)")
        t_seal = best(lambda it: seal(it, "KOR", next(k) + 1, ident, NOW).signing_bytes(), items)
        t_seal_plain = best(lambda it: canonical_json(seal(it, "KOR", next(k) + 1, ident, NOW).unsigned_json()), items)
        print(f"  seal + signing bytes: spliced {t_seal:7.1f} us | envelope canonicalised again "
              f"{t_seal_plain:7.1f} us ({t_seal_plain / t_seal:4.1f}x, Ed25519 signing included in both)")


if __name__ == "__main__":
    main()
