"""TAXII 2.1 side by side: medallion 3.0.0 (OASIS reference server, memory backend) vs an Accord
node (SQLite WAL, synchronous=FULL), the same TAXII requests and objects, loopback only.

Two clients drive both servers, in two separate passes (fresh servers for each pass):

* ``taxii2-client`` — the OASIS client library over ``requests`` (interop realism; it costs
  ~1–2 ms per request by itself on a small machine, a cost both servers share);
* ``lean`` — a keep-alive :mod:`http.client` connection sending the identical requests, headers
  and bodies (bodies encoded before the clock starts), following ``next``/``more`` when paging and
  polling the status resource when an add is pending. It shows what the servers themselves cost.

For each collection size N (default 100, 1000, 10000) the collection is first filled to N with
envelopes of 100 objects (printed as ``fill``, not a target figure), then at size N:

* add throughput, 1 object per envelope (``--singles`` envelopes);
* paged read throughput: the first ``--read`` objects in pages of 100;
* single-object round trip: add one object, then get it by id; p50 / p99 / max over ``--trips``
  (200: with 50, as before the fifth session, the "p99" was the single slowest trip);
* add throughput, 100 objects per envelope (``--batches`` envelopes).

Every add is measured at exactly N: after each measured add, its objects are deleted off the
clock (TAXII object delete), so ten envelopes of 100 at N=100 are ten samples at 100 objects,
not a collection growing to 1,100. (No pause after the deletes: an add after 0.3 s idle took
~1.5 ms more than one straight after the deletes, which took 0.4–0.7 ms more than an add into a
growing collection.) ``--let-grow`` keeps them instead (the method before, with
``--batches 3``).

Every phase stops after ``--budget`` seconds (a slow server does fewer requests) and no request
waits longer than the budget + 5 s: a page that does not come back in time ends the read, whose
rate is then printed as an upper bound (``read<``, and the ratio as a lower bound ``read>``).
``--preload N`` starts both servers with N objects (medallion's fill to 10,000 is slow).
``--read-last`` measures the read after the adds: medallion's memory backend pages in O(N²)
(every manifest entry against every object, and without ``match[spec_version]`` every object
against every other), minutes per page at 10,000 objects, and a page it is still computing
would slow its later phases. ``--read-spec`` adds ``match[spec_version]=2.1`` to the reads of
both servers.

Both servers run as their own process with their shipped defaults (medallion: Flask's threaded
server; Accord: one uvicorn worker). Needs ``pip install medallion==3.0.0`` (bench only).

    .venv/bin/python bench/taxii.py [--sizes 100,1000,10000] [--client both|taxii2-client|lean]
        [--preload N] [--budget 60] [--read-last] [--read-spec] [--json out.json]
        [--store sqlite|postgresql|both] [--without-medallion] [--rounds R]
    .venv/bin/python bench/taxii.py --hot-paths

``--hot-paths`` prints, in this process, the CPU per request with the node app's direct lane and
without it, and per object of the structural STIX check with its fast path and without it: the
measured reasons those two paths are kept (their docstrings quote the figures).

``--store both`` serves one Accord node on SQLite and one on PostgreSQL (one uvicorn worker each)
and prints their ratios per size beside the medallion comparison. ``--rounds R`` measures every
server R times at each size, alternately (the first server of a round changing each round), and
reports each figure's median: on a machine with other load, a burst then falls on both servers
rather than on one server's whole measurement.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from taxii2client.v21 import Collection, as_pages

NS = uuid.UUID("0f3b3c52-6b8e-4d0e-9a57-3b1a0c3f2e44")
sys.path.insert(0, str(Path(__file__).resolve().parent))
# tests/loopback.py: the one loopback-port helper, shared with the tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bench_stores import bench_stores  # noqa: E402
from loopback import free_port  # noqa: E402

PG_STORES: Any = None  # --store postgresql|both: party -> a fresh schema's URL (bench_stores)
COLLECTION_ID = "8d5e7c1e-3f7a-4b8e-9a1f-2c6d4e5f7a80"
WARM_ID = "3c1d9a0b-7e52-4f6a-8b3d-5e9f1a2c4d60"  # a second collection, for the warm-up only
MEDIA_TAXII = "application/taxii+json;version=2.1"


def stix_indicator(i: int) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid5(NS, str(i))}",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "name": f"C2 address {i}", "description": "Command-and-control address seen in exercise traffic",
            "indicator_types": ["malicious-activity"],
            "pattern": f"[ipv4-addr:value = '198.51.{(i // 250) % 250}.{i % 250}']",
            "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
            "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}


def wait_up(url: str, auth: Any, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            r = requests.get(url, auth=auth, headers={"Accept": MEDIA_TAXII}, timeout=2)
            if r.status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


# --- servers --------------------------------------------------------------------------------
def start_medallion(work: Path, preload: int = 0) -> tuple[subprocess.Popen, str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = {
        "/discovery": {"title": "medallion bench", "description": "", "contact": "",
                       "default": f"{base}/api1/", "api_roots": [f"{base}/api1/"]},
        "api1": {"information": {"title": "api1", "description": "",
                                 "versions": [MEDIA_TAXII], "max_content_length": 100_000_000},
                 "status": [],
                 "collections": [{"id": COLLECTION_ID, "title": "bench", "description": "",
                                  "can_read": True, "can_write": True,
                                  "media_types": ["application/stix+json;version=2.1"],
                                  "objects": [stix_indicator(i) for i in range(preload)],
                                  "manifest": [{"id": stix_indicator(i)["id"],
                                                "date_added": "2026-01-01T00:00:00.%06dZ" % i,
                                                "version": "2026-01-01T00:00:00.000Z",
                                                "media_type": "application/stix+json;version=2.1"}
                                               for i in range(preload)]},
                                 {"id": WARM_ID, "title": "warm-up", "description": "",
                                  "can_read": True, "can_write": True,
                                  "media_types": ["application/stix+json;version=2.1"],
                                  "objects": [], "manifest": []}]},
    }
    (work / "medallion-data.json").write_text(json.dumps(data))
    config = {"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                          "filename": str(work / "medallion-data.json")},
              "users": {"bench": "bench-password"}, "taxii": {"max_page_size": 100}}
    (work / "medallion.json").write_text(json.dumps(config))
    exe = Path(sys.executable).with_name("medallion")
    proc = subprocess.Popen([str(exe), "--host", "127.0.0.1", "--port", str(port), "--log-level", "ERROR",
                             str(work / "medallion.json")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    auth = ("bench", "bench-password")
    wait_up(f"{base}/taxii2/", auth, proc)
    return proc, f"{base}/api1/collections/{COLLECTION_ID}/", auth


def start_accord(work: Path, preload: int = 0, store: str | None = None) -> tuple[subprocess.Popen, str, Any]:
    from accord.federation.tokens import create_token
    from accord.intel.node_store import store_for
    from accord.node import Node

    node = Node.init(work / "node", party="JPN", store=store)
    store = store_for(node)
    store.add_collection("bench", id=COLLECTION_ID)
    store.add_collection("warm-up", id=WARM_ID)
    for lo in range(0, preload, 1000):
        store.add_objects(COLLECTION_ID, [stix_indicator(i) for i in range(lo, min(lo + 1000, preload))])
    secret = create_token(node.conn, "bench", "JPN", ["taxii:read", "taxii:write"])
    node.close()
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-accord", str(work / "node"), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    auth = ("bench", secret)  # HTTP Basic with the API token as password: the same client code
    base = f"http://127.0.0.1:{port}"
    wait_up(f"{base}/taxii2/", auth, proc)
    return proc, f"{base}/taxii2/intel/collections/{COLLECTION_ID}/", auth


def serve_accord(directory: str, port: int) -> None:
    import uvicorn

    from accord.api.app import create_app
    from accord.node import Node

    app = create_app(Node.open(directory))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_null(port: int, durable_dir: str | None = None) -> None:
    """A TAXII server that stores nothing: it answers an add with a complete status resource
    counting the objects it was sent, and a get with an envelope of the one object asked for
    (what the clients check). Timing the clients against it gives their own floor per request.

    With ``durable_dir`` it does the least a durable server must do before it acknowledges an
    add: the request body goes into a SQLite database (WAL, ``synchronous=FULL``, as Accord's)
    as one row, one commit. No validation, no indexing, no status resource stored: medallion's
    time divided by this floor is the highest ratio any server that keeps what it acknowledges
    could show with that client."""
    import orjson
    import uvicorn

    db = None
    if durable_dir is not None:
        from accord.store.sqlite import connect

        db = connect(Path(durable_dir) / "durable-null.db")
        db.execute("CREATE TABLE IF NOT EXISTS adds(body BLOB)")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = scope["path"]
        if scope["method"] == "POST":
            objects = orjson.loads(body)["objects"]
            if db is not None:
                with db:
                    db.execute("INSERT INTO adds VALUES (?)", (body,))
            out = {"id": str(uuid.uuid4()), "status": "complete", "total_count": len(objects),
                   "success_count": len(objects), "failure_count": 0, "pending_count": 0,
                   "successes": [{"id": o["id"], "version": o.get("modified", "")} for o in objects]}
            status = 202
        elif path.endswith("/collections/") or "/objects/" not in path:
            out, status = {"id": COLLECTION_ID, "title": "null", "can_read": True, "can_write": True,
                           "media_types": ["application/stix+json;version=2.1"]}, 200
        else:
            out, status = {"objects": [{"id": path.rstrip("/").rsplit("/", 1)[-1]}]}, 200
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", MEDIA_TAXII.encode())]})
        await send({"type": "http.response.body", "body": orjson.dumps(out)})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_null(durable_dir: Path | None = None) -> tuple[subprocess.Popen, str, Any]:
    port = free_port()
    extra = [] if durable_dir is None else [str(durable_dir)]
    proc = subprocess.Popen([sys.executable, __file__, "--serve-null", str(port), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_up(f"{base}/taxii2/", None, proc)
    return proc, f"{base}/taxii2/intel/collections/{COLLECTION_ID}/", ("bench", "none")


# --- clients --------------------------------------------------------------------------------
class _TimeoutAdapter(requests.adapters.HTTPAdapter):
    def send(self, request: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = kwargs.get("timeout") or BUDGET + 5
        return super().send(request, **kwargs)


TIMEOUTS = (requests.Timeout, socket.timeout, TimeoutError)


class Taxii2Client:
    """The OASIS ``taxii2-client`` (over ``requests``), as a TAXII tool would use it."""

    name = "taxii2-client"

    def __init__(self, url: str, auth: Any, spec_filter: bool) -> None:
        self.coll = Collection(url, user=auth[0], password=auth[1])
        self.filters = {"spec_version": "2.1"} if spec_filter else {}
        self.coll._conn.session.mount("http://", _TimeoutAdapter())  # a request never outlives BUDGET

    def prepare(self, envelope: dict[str, Any]) -> Any:
        return envelope  # the client encodes it (json.dumps) inside add_objects

    def add(self, prepared: Any) -> dict[str, Any]:
        status = self.coll.add_objects(prepared, poll_interval=0.05)
        return {"status": status.status, "success_count": status.success_count}

    def get_object(self, object_id: str) -> dict[str, Any]:
        return self.coll.get_object(object_id)

    def delete(self, object_id: str) -> None:
        self.coll.delete_object(object_id)

    def pages(self, per_request: int) -> Iterator[dict[str, Any]]:
        return as_pages(self.coll.get_objects, per_request=per_request, **self.filters)

    def close(self) -> None:
        self.coll._conn.close()


class _NoDelayConnection(http.client.HTTPConnection):
    """Keep-alive where the server allows it (medallion's server closes after each response, and
    http.client then reconnects by itself); Nagle off on every connection."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class LeanClient:
    """The same TAXII requests over one keep-alive :mod:`http.client` connection."""

    name = "lean"

    def __init__(self, url: str, auth: Any, spec_filter: bool) -> None:
        parts = urlsplit(url)
        self.conn = _NoDelayConnection(parts.hostname, parts.port, timeout=BUDGET + 5)
        self.path = parts.path
        self.status_base = urljoin(parts.path, "../../status/")
        basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        self.get_headers = {"Accept": MEDIA_TAXII, "Authorization": f"Basic {basic}"}
        self.post_headers = {**self.get_headers, "Content-Type": MEDIA_TAXII}
        self.spec_filter = spec_filter

    def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[dict[str, Any], Any]:
        headers = self.post_headers if body else self.get_headers
        try:
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                # the server closed the idle keep-alive connection (uvicorn does after 5 s, e.g.
                # while the other server is measured) before it read this request: send it again
                # on a fresh connection (an add sent twice is "already present", a success)
                self.conn.close()
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
            data = resp.read()
        except TIMEOUTS:
            self.conn.close()  # the next request opens a fresh connection
            raise
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status} {data[:200]!r}")
        return (json.loads(data) if data else {}), resp

    def prepare(self, envelope: dict[str, Any]) -> bytes:
        return json.dumps(envelope, ensure_ascii=False).encode("utf-8")

    def add(self, body: bytes) -> dict[str, Any]:
        status, _ = self._request("POST", self.path + "objects/", body)
        while status.get("status") != "complete":
            time.sleep(0.05)
            status, _ = self._request("GET", f"{self.status_base}{status['id']}/")
        return status

    def get_object(self, object_id: str) -> dict[str, Any]:
        return self._request("GET", f"{self.path}objects/{object_id}/")[0]

    def delete(self, object_id: str) -> None:
        self._request("DELETE", f"{self.path}objects/{object_id}/")

    def pages(self, per_request: int) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"limit": per_request}
        if self.spec_filter:
            params["match[spec_version]"] = "2.1"
        while True:
            envelope, resp = self._request("GET", f"{self.path}objects/?{urlencode(params)}")
            yield envelope
            if not envelope.get("more"):
                return
            if envelope.get("next"):
                params = {**params, "next": envelope["next"]}
            else:  # no token: continue after the last date_added (TAXII 2.1 §3.4.2)
                params = {**params, "added_after": resp.getheader("X-TAXII-Date-Added-Last")}

    def close(self) -> None:
        self.conn.close()


CLIENTS = {"taxii2-client": Taxii2Client, "lean": LeanClient}


# --- measurements ---------------------------------------------------------------------------
BUDGET = 60.0  # seconds per measured phase: a slow server does fewer requests, never hangs the bench


def add_envelopes(client: Any, start: int, count: int, per: int, budget: bool = True,
                  keep_size: bool = False) -> float:
    """Add ``count`` envelopes of ``per`` objects (ids from ``start``); objects/s.

    ``keep_size``: after each add (off the clock) delete the objects it added, so every envelope
    is measured at the collection's size N, however many envelopes are sent."""
    envelopes = [[stix_indicator(i) for i in range(lo, lo + per)]
                 for lo in range(start, start + count * per, per)]
    bodies = [client.prepare({"objects": objects}) for objects in envelopes]
    spent = 0.0
    done = 0
    for objects, body in zip(envelopes, bodies):
        t0 = time.perf_counter()
        status = client.add(body)
        spent += time.perf_counter() - t0
        assert status["success_count"] == per, status
        done += per
        if keep_size:
            for obj in objects:
                client.delete(obj["id"])
        if budget and spent > BUDGET:
            break
    return done / spent if spent else float("nan")


def paged_read(client: Any, count: int) -> tuple[float, bool]:
    """Objects/s reading pages of 100; True if a page did not come back within the budget
    (the rate is then an upper bound: the page was still being computed)."""
    t0 = time.perf_counter()
    got = 0
    try:
        for envelope in client.pages(100):
            got += len(envelope.get("objects", []))
            if got >= count or time.perf_counter() - t0 > BUDGET:
                break
    except TIMEOUTS:
        return (got + 100) / (time.perf_counter() - t0), True  # the late page: at most 100 more
    return got / (time.perf_counter() - t0), False


def round_trips(client: Any, start: int, count: int, keep_size: bool = False) -> list[float]:
    out = []
    for i in range(start, start + count):
        obj = stix_indicator(i)
        body = client.prepare({"objects": [obj]})
        t0 = time.perf_counter()
        client.add(body)
        got = client.get_object(obj["id"])
        out.append(time.perf_counter() - t0)
        assert got["objects"][0]["id"] == obj["id"]
        if keep_size:
            client.delete(obj["id"])
        if sum(out) > BUDGET:
            break
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def measure(name: str, client: Any, have: int, n: int, extra: int, args: argparse.Namespace) -> dict[str, float]:
    fill = add_envelopes(client, have, (n - have) // 100, 100, budget=False) if n > have else float("nan")
    keep = not args.let_grow
    add1 = add_envelopes(client, extra, args.singles, 1, keep_size=keep)
    if not args.read_last:
        read_rate, timed_out = paged_read(client, min(args.read, n))
    rt = round_trips(client, extra + args.singles, args.trips, keep_size=keep)
    add100 = add_envelopes(client, extra + args.singles + args.trips, args.batches, 100, keep_size=keep)
    if args.read_last:
        read_rate, timed_out = paged_read(client, min(args.read, n))
    r = {"fill_obj_s": fill, "add100_obj_s": add100, "add1_obj_s": add1, "read_obj_s": read_rate,
         "read_timed_out": timed_out,
         "rt_p50_ms": 1000 * pct(rt, 0.5), "rt_p99_ms": 1000 * pct(rt, 0.99), "rt_max_ms": 1000 * max(rt),
         "trips": len(rt)}
    bound = "<" if timed_out else " "
    print(f"  {name:9s} N={n:>6}: add×100 {add100:8.0f} obj/s | add×1 {add1:7.0f} obj/s"
          f" | read{bound}{read_rate:8.0f} obj/s | round trip p50 {r['rt_p50_ms']:7.2f} ms"
          f" p99 {r['rt_p99_ms']:7.2f} ms max {r['rt_max_ms']:7.2f} ms  ({len(rt)} trips; fill {fill:.0f} obj/s)",
          flush=True)
    return r


def median_run(name: str, n: int, runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over ``--rounds`` measurements of one server at one size (printed
    when there are several); a read that timed out in any round stays a bound."""
    if len(runs) == 1:
        return runs[0]
    import statistics

    out = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k not in ("read_timed_out", "trips")}
    out["read_timed_out"] = any(r["read_timed_out"] for r in runs)
    out["trips"] = sum(r["trips"] for r in runs)
    print(f"  {name:9s} N={n:>6}: median of {len(runs)} rounds: add×100 {out['add100_obj_s']:8.0f} obj/s | add×1"
          f" {out['add1_obj_s']:7.0f} obj/s | read {out['read_obj_s']:8.0f} obj/s | round trip p50"
          f" {out['rt_p50_ms']:7.2f} ms p99 {out['rt_p99_ms']:7.2f} ms", flush=True)
    return out


def fsync_ms(work: Path) -> float:
    """The cost of one durable SQLite commit here now (what bounds Accord's add ×1)."""
    from accord.store.sqlite import connect

    conn = connect(work / "fsync.db")
    conn.execute("CREATE TABLE IF NOT EXISTS t(x)")
    t0 = time.perf_counter()
    for i in range(50):
        with conn:
            conn.execute("INSERT INTO t VALUES (?)", (i,))
    conn.close()
    return (time.perf_counter() - t0) / 50 * 1000


def client_floor(kind: str, args: argparse.Namespace, durable_dir: Path | None = None) -> dict[str, float]:
    """The client's own time per request, against :func:`serve_null`: what no server can go
    below, and so (medallion's time ÷ this) the highest ratio any server could show here. With
    ``durable_dir``, against the durable null server: the floor of any server that keeps what it
    acknowledges (one fsync'd SQLite commit of the body per add)."""
    proc, url, auth = start_null(durable_dir)
    client = CLIENTS[kind](url, auth, args.read_spec)
    try:
        add_envelopes(client, 0, 20, 1, budget=False)  # warm-up (also grows the WAL file to its steady size)
        add_envelopes(client, 0, 20, 100, budget=False)
        add1 = add_envelopes(client, 100, max(args.singles, 50), 1, budget=False)
        add100 = add_envelopes(client, 1000, max(args.batches, 10), 100, budget=False)
        rt = round_trips(client, 5000, max(args.trips, 50))
    finally:
        client.close()
        proc.kill()
        proc.wait()
    floor = {"add1_ms": 1000 / add1, "add100_ms": 100_000 / add100, "rt_p50_ms": 1000 * pct(rt, 0.5)}
    what = "a server that stores nothing" if durable_dir is None else "one that only commits the body durably"
    label = "floor" if durable_dir is None else "durable"
    print(f"  {label:9s} ({what}): add×1 {floor['add1_ms']:.2f} ms/request | "
          f"add×100 {floor['add100_ms']:.2f} ms/request | round trip p50 {floor['rt_p50_ms']:.2f} ms", flush=True)
    return floor


def run_pass(kind: str, work: Path, sizes: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """One client kind against fresh servers: every size, the two servers alternately."""
    print(f"\n[{kind}] load average {os.getloadavg()[0]:.2f}", flush=True)
    procs, clients, urls, auths = [], {}, {}, {}
    servers: list[tuple[str, Any]] = []
    if args.store in ("sqlite", "both"):
        servers.append(("accord", start_accord))
    if args.store in ("postgresql", "both"):
        servers.append(("accord-pg", lambda w, p: start_accord(w, p, PG_STORES(w.name))))
    if not args.without_medallion:
        servers.append(("medallion", start_medallion))
    try:
        for name, start in servers:
            proc, url, auth = start(work / f"{kind}-{name}", args.preload)
            procs.append(proc)
            clients[name] = CLIENTS[kind](url, auth, args.read_spec)
            urls[name], auths[name] = url, auth
        for name, client in clients.items():
            # warm up both servers (imports, caches, the interpreter's specialisation) on a second
            # collection, so the measured one holds exactly N objects. Accord: 30 single adds and
            # gets, 20 envelopes of 100 (enough to bring its fresh WAL file to its steady size, as
            # on a node that has been running: commits that grow the file cost more), paging
            # through them. medallion: one add, one get, one page — every add grows the data its
            # memory backend walks on each request (all collections and all status resources),
            # so a longer warm-up would only slow it.
            warm = CLIENTS[kind](urls[name].replace(COLLECTION_ID, WARM_ID), auths[name], args.read_spec)
            rounds, envelopes = (30, 20) if name.startswith("accord") else (1, 0)
            for i in range(rounds):
                obj = stix_indicator(90_000_000 + i)
                warm.add(warm.prepare({"objects": [obj]}))
                warm.get_object(obj["id"])
            add_envelopes(warm, 90_000_100, envelopes, 100, budget=False)
            for _ in warm.pages(100):
                pass
            warm.close()
        out: dict[str, Any] = {name: {} for name, _ in servers}
        have, extra = args.preload, 10_000_000  # objects added outside the fill get ids far above the fill range
        for n in sizes:
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
            for r in range(args.rounds):
                # the servers alternately, the first of a round changing each round: a burst of
                # load from beside the bench falls on both, not on one server's whole measurement
                order = list(clients) if r % 2 == 0 else list(reversed(clients))
                for name in order:
                    runs[name].append(measure(name, clients[name], have, n, extra, args))
                have = n
                extra += args.singles + args.trips + 100 * args.batches
            for name in clients:
                out[name][n] = median_run(name, n, runs[name])
            grown = 0 if not args.let_grow else args.singles + args.trips + 100 * args.batches
            have = n + grown
        out["floor"] = client_floor(kind, args)
        durable_dir = work / f"{kind}-durable-null"
        durable_dir.mkdir(parents=True, exist_ok=True)
        out["durable_floor"] = client_floor(kind, args, durable_dir)
        return out
    finally:
        for client in clients.values():
            client.close()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def report_stores(kind: str, sizes: list[int], out: dict[str, Any]) -> None:
    """Accord on PostgreSQL beside Accord on SQLite (one serve process each): time ratios."""
    print(f"\nAccord on PostgreSQL / on SQLite, {kind} (time per object or request; target within 2×):")
    for n in sizes:
        s, p = out["accord"][n], out["accord-pg"][n]
        print(f"  N={n:>6}: add×100 {s['add100_obj_s'] / p['add100_obj_s']:5.2f}×  "
              f"add×1 {s['add1_obj_s'] / p['add1_obj_s']:5.2f}×  read {s['read_obj_s'] / p['read_obj_s']:5.2f}×  "
              f"round trip p50 {p['rt_p50_ms'] / s['rt_p50_ms']:5.2f}×  p99 {p['rt_p99_ms'] / s['rt_p99_ms']:5.2f}×")


def report(kind: str, sizes: list[int], out: dict[str, Any]) -> None:
    if "medallion" not in out or "accord" not in out:
        return
    print(f"\nratios, {kind} (Accord / medallion; round trip: medallion time / Accord time):")
    for n in sizes:
        a, m = out["accord"][n], out["medallion"][n]
        bound = ">" if m["read_timed_out"] and not a["read_timed_out"] else " "
        print(f"  N={n:>6}: add×100 {a['add100_obj_s'] / m['add100_obj_s']:6.1f}×  "
              f"add×1 {a['add1_obj_s'] / m['add1_obj_s']:6.1f}×  read{bound}{a['read_obj_s'] / m['read_obj_s']:6.1f}×  "
              f"round trip p50 {m['rt_p50_ms'] / a['rt_p50_ms']:6.1f}×  p99 {m['rt_p99_ms'] / a['rt_p99_ms']:6.1f}×")
    m0 = out["medallion"][sizes[0]]
    for key, what in (("floor", "the client's own floor: no server could show more with this client"),
                      ("durable_floor", "the durable floor: no server that keeps what it acknowledges"
                                        " could show more with this client")):
        f = out[key]
        print(f"  ceiling at N={sizes[0]} (medallion ÷ {what}): add×100"
              f" {100_000 / m0['add100_obj_s'] / f['add100_ms']:.1f}×  add×1"
              f" {1000 / m0['add1_obj_s'] / f['add1_ms']:.1f}×  round trip p50 {m0['rt_p50_ms'] / f['rt_p50_ms']:.1f}×")
    a0, a1 = out["accord"][sizes[0]], out["accord"][sizes[-1]]
    print(f"Accord flatness, {kind}, N={sizes[0]}→{sizes[-1]}: round trip p50 {a0['rt_p50_ms']:.2f}→"
          f"{a1['rt_p50_ms']:.2f} ms, add×1 {1000 / a0['add1_obj_s']:.2f}→{1000 / a1['add1_obj_s']:.2f} ms/request,"
          f" add×100 {100_000 / a0['add100_obj_s']:.2f}→{100_000 / a1['add100_obj_s']:.2f} ms/request,"
          f" read {100_000 / a0['read_obj_s']:.2f}→{100_000 / a1['read_obj_s']:.2f} ms/page")


# --- the two hot paths kept beside a simpler one (--hot-paths) --------------------------------
def hot_paths(rounds: int = 5) -> None:
    """In this process, each figure the best of ``rounds``: (1) CPU per TAXII request through the
    node app (raw ASGI calls, no HTTP) with :class:`accord.api.app.NodeApp`'s direct lane open,
    and closed by a dependency override (which changes nothing else); (2) CPU per object of the
    structural STIX check, :func:`accord.intel.validate.check_object` (its fast path) beside the
    reference checks alone (:func:`~accord.intel.validate.check_object_reference`)."""
    import asyncio

    from accord.api.app import create_app
    from accord.federation.tokens import create_token
    from accord.intel import validate
    from accord.node import Node

    async def per_request(app: Any, path: str, secret: str, n: int) -> float:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
                 "headers": [(b"host", b"bench"), (b"accept", MEDIA_TAXII.encode()),
                             (b"authorization", f"Bearer {secret}".encode())],
                 "client": ("127.0.0.1", 1), "server": ("bench", 80)}
        for _ in range(50):
            await app(dict(scope), receive, send)
        sent.clear()
        t = time.process_time()
        for _ in range(n):
            await app(dict(scope), receive, send)
        cpu = time.process_time() - t
        assert sent[0]["status"] == 200, sent[0]
        return cpu * 1e6 / n

    print(f"hot paths (in process, best of {rounds}; load average {os.getloadavg()[0]:.2f})")
    with tempfile.TemporaryDirectory() as tmp:
        node = Node.init(Path(tmp) / "jpn", party="JPN")
        secret = create_token(node.conn, "bench", "JPN", ["admin"])
        app = create_app(node)
        for path in ("/taxii2/", "/taxii2/intel/collections/"):
            lane, closed = [], []
            for _ in range(rounds):
                app.dependency_overrides.clear()
                lane.append(asyncio.run(per_request(app, path, secret, 400)))
                app.dependency_overrides[object] = lambda: None  # closes the lane, nothing else
                closed.append(asyncio.run(per_request(app, path, secret, 400)))
            app.dependency_overrides.clear()
            print(f"  GET {path}: CPU per request, direct lane {min(lane):.0f} us, without it {min(closed):.0f} us"
                  f" ({min(closed) / min(lane):.2f}x)")
        node.close()
    objects = [stix_indicator(i) for i in range(20_000)]

    def per_object(check: Any) -> float:
        best = float("inf")
        for _ in range(rounds):
            t = time.process_time()
            for k, obj in enumerate(objects):
                check(obj, k)
            best = min(best, time.process_time() - t)
        return best * 1e6 / len(objects)

    fast, ref = per_object(validate.check_object), per_object(validate.check_object_reference)
    print(f"  structural STIX check, CPU per indicator: check_object {fast:.2f} us, the reference checks alone "
          f"{ref:.2f} us ({ref / fast:.2f}x)")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-accord":
        serve_accord(sys.argv[2], int(sys.argv[3]))
        return
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--serve-null":
        serve_null(int(sys.argv[2]), sys.argv[3] if len(sys.argv) == 4 else None)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--client", choices=("both", "taxii2-client", "lean"), default="both")
    ap.add_argument("--singles", type=int, default=50, help="single-object envelopes per size")
    ap.add_argument("--batches", type=int, default=10, help="envelopes of 100 objects per size (add×100)")
    ap.add_argument("--read", type=int, default=1000, help="objects read by paging per size")
    ap.add_argument("--trips", type=int, default=200,
                    help="round trips per size (at least 100 for a p99 that is not the slowest trip)")
    ap.add_argument("--preload", type=int, default=0,
                    help="start both servers with this many objects already stored (skips the slow fill)")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds per measured phase at most")
    ap.add_argument("--read-spec", action="store_true",
                    help="paged reads send match[spec_version]=2.1 (both servers)")
    ap.add_argument("--read-last", action="store_true",
                    help="measure the paged read after the adds (a server still computing a page"
                         " that timed out then cannot slow its own later phases)")
    ap.add_argument("--let-grow", action="store_true",
                    help="keep what the measured adds store (the collection grows past N during"
                         " them; the default deletes each add's objects off the clock)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure every server this many times at each size, alternately, and report each"
                         " figure's median (a fairer comparison on a machine with other load)")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="sqlite",
                    help="the Accord node's store (postgresql: a fresh schema in ACCORD_BENCH_PG's database); "
                         "both: one node on each, side by side")
    ap.add_argument("--without-medallion", action="store_true", help="Accord only (no medallion installed)")
    ap.add_argument("--hot-paths", action="store_true",
                    help="only the in-process figures of the direct lane and the structural check's fast path")
    args = ap.parse_args()
    if args.rounds < 1 or (args.rounds > 1 and args.let_grow):
        ap.error("--rounds is at least 1, and more than 1 only without --let-grow (the collection must stay at N)")
    if args.hot_paths:
        hot_paths()
        return
    if not args.without_medallion and not Path(sys.executable).with_name("medallion").exists():
        ap.error(f"medallion is not installed beside {sys.executable}: pip install medallion==3.0.0 "
                 "(bench/README.md), or run Accord alone with --without-medallion")
    sizes = [int(s) for s in args.sizes.split(",")]
    global BUDGET
    BUDGET = args.budget
    kinds = ["taxii2-client", "lean"] if args.client == "both" else [args.client]
    work = Path(tempfile.mkdtemp(prefix="accord-bench-taxii-"))
    global PG_STORES
    stores_cm = bench_stores("postgresql" if args.store != "sqlite" else "sqlite")
    PG_STORES = stores_cm.__enter__()
    try:
        print(f"TAXII 2.1 bench, loopback, sizes {sizes}, preload {args.preload}; clients {', '.join(kinds)}"
              f" (the same requests to both servers; fresh servers per client); reads"
              f"{' with match[spec_version]=2.1' if args.read_spec else ' unfiltered'}")
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; one durable SQLite commit "
              f"{fsync_ms(work):.2f} ms")
        results = {kind: run_pass(kind, work, sizes, args) for kind in kinds}
        for kind in kinds:
            report(kind, sizes, results[kind])
            if "accord" in results[kind] and "accord-pg" in results[kind]:
                report_stores(kind, sizes, results[kind])
        print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        stores_cm.__exit__(None, None, None)


if __name__ == "__main__":
    # a terminated bench still stops the servers it started (the finally blocks)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
