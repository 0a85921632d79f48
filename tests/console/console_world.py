"""A small node world for the console tests: JPN (the node served) with KOR pinned, a signed
JPN–KOR agreement, items on both sides of KOR's releasability line, tokens for each kind of user,
an intel collection and a dialogue series with commitments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from accord.core.agreements import new_agreement, sign_agreement
from accord.core.items import Item, new_item
from accord.core.markings import Marking
from accord.dialogue.store import DialogueStore
from accord.federation.schema import ensure_federation_schema
from accord.federation.tokens import TOKENS_DDL, create_token
from accord.intel.node_store import store_for
from accord.node import Node
from accord.store.sqlite import ensure_schema
from accord.warning.frames import lla_to_ecef

ARTEFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artefacts" / "console"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

ALERT_XML = "<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>JPN-1</identifier></alert>"


def alert_item(node: Node, n: int, msg_type: str, banner: str, *, areas=("JPN-42",)) -> Item:
    body = {"identifier": f"JPN-ALERT-{n}", "sender": "jpn@accord", "msgType": msg_type, "incident": "INC-1",
            "t": float(n), "track_id": "T-1", "reason": msg_type.lower(), "areas": list(areas),
            "cap_xml": ALERT_XML.replace("JPN-1", f"JPN-ALERT-{n}")}
    return new_item("warning.alert", body, Marking.parse(banner), node.party, node.clock.now())


@dataclass
class World:
    jpn: Node
    kor: Node
    admin: str      # JPN token, admin
    reader: str     # JPN token, items:read only
    partner: str    # KOR token on JPN's node: items, intel, dialogue read
    releasable: Item
    secret: Item    # SECRET with no REL TO: never for KOR
    commitment: str  # a JPN-owned commitment id

    def close(self) -> None:
        self.jpn.close()
        self.kor.close()


def build(base: Path, clock) -> World:
    jpn = Node.init(base / "jpn", "JPN", clock)
    kor = Node.init(base / "kor", "KOR", clock)
    jpn.add_partner("KOR", kor.identity.public_b64)
    kor.add_partner("JPN", jpn.identity.public_b64)
    for n in (jpn, kor):
        ensure_federation_schema(n.conn)
        ensure_schema(n.conn, TOKENS_DDL)
    rules = [(a, b, ["warning.*", "dialogue.*", "test.*"], "SECRET") for a, b in (("JPN", "KOR"), ("KOR", "JPN"))]
    ag = new_agreement("jpn-kor", ["JPN", "KOR"], {"JPN": jpn.identity.public_b64, "KOR": kor.identity.public_b64},
                       rules, NOW - timedelta(days=1), NOW + timedelta(days=20), title="JPN-KOR")
    ag = sign_agreement(sign_agreement(ag, jpn.identity), kor.identity)
    jpn.add_agreement(ag)
    kor.add_agreement(ag)
    releasable = jpn.put_item(alert_item(jpn, 1, "Alert", "SECRET//REL TO JPN, KOR"))
    secret = jpn.put_item(new_item("warning.track", {"track_id": "T-NOFORN", "phase": "ballistic"},
                                   Marking.parse("SECRET"), "JPN", clock.now()))
    admin = create_token(jpn.conn, "watch-officer", "JPN", {"admin"})
    reader = create_token(jpn.conn, "reader", "JPN", {"items:read"})
    partner = create_token(jpn.conn, "kor-liaison", "KOR", {"items:read", "taxii:read", "dialogue:read"})
    intel = store_for(jpn)
    intel.add_collection("Cyber indicators", alias="cyber", rel_to=frozenset({"KOR"}))
    intel.add_objects("cyber", [
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
         "created": "2026-02-01T00:00:00.000Z", "modified": "2026-02-01T00:00:00.000Z", "name": "Bad domain",
         "labels": ["malicious-activity"], "pattern": "[domain-name:value = 'evil.example']",
         "pattern_type": "stix", "valid_from": "2026-02-01T00:00:00Z"},
        {"type": "malware", "spec_version": "2.1", "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
         "created": "2025-06-01T00:00:00.000Z", "modified": "2025-06-01T00:00:00.000Z", "name": "Stealer",
         "is_family": True, "labels": ["trojan"]},
        {"type": "relationship", "spec_version": "2.1", "id": "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad",
         "created": "2026-02-01T00:00:00.000Z", "modified": "2026-02-01T00:00:00.000Z",
         "relationship_type": "indicates", "source_ref": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
         "target_ref": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"},
    ])
    dialogue = DialogueStore(jpn)
    dialogue.create_series({"id": "S1", "title": "Vice-ministers", "parties": ["JPN", "KOR"],
                            "level": "vice-ministers", "cadence_months": 6, "first_meeting": "2025-08-31",
                            "venues": {"JPN": "Tokyo", "KOR": "Seoul"}})
    dialogue.record_meeting("S1", {"number": 1, "date": "2025-08-31", "agenda": ["Exchanges"],
                                   "attendees": [{"party": "JPN", "role": "Vice-Minister (JPN)"}],
                                   "commitments": [{"owner": "JPN", "text": "Draft the exchange plan",
                                                    "due": "2025-12-31", "status": "agreed"},
                                                   {"owner": "KOR", "text": "Host staff talks",
                                                    "due": "2026-09-30"}]})
    return World(jpn, kor, admin, reader, partner, releasable, secret, "S1-M1-C1")


def prediction(node, t: float, launch_t: float, impact_t: float, track: str = "T-1"):
    body = {"t": t, "track_id": track, "launch_t": launch_t, "impact_t": impact_t, "launch_lat_deg": 40.0,
            "launch_lon_deg": 127.0, "launch_sigma_m": 500.0, "impact_lat_deg": 33.0, "impact_lon_deg": 130.0,
            "impact_ellipse_95": {"semi_major_m": 900.0, "semi_minor_m": 400.0, "bearing_deg": 30.0}}
    return node.put_item(new_item("warning.prediction", body, Marking.parse("SECRET//REL TO JPN, KOR"), node.party,
                                  node.clock.now()))


def track(node, originator: str, track_id: str, t: float, lat: float, lon: float, banner: str):
    x, y, z = (float(v) for v in lla_to_ecef(lat, lon, 80_000.0))
    body = {"t": t, "track_id": track_id, "x": x, "y": y, "z": z, "vx": 0.0, "vy": 0.0, "vz": 0.0}
    return node.put_item(new_item("warning.track", body, Marking.parse(banner), originator, node.clock.now()))


def radar(node, originator: str, radar_id: str, lat: float, lon: float, banner: str, *, az: float = 0.0,
          half: float = 180.0, max_range_m: float = 1_000_000.0):
    """A ``warning.radar`` item: one sensor of the warning-file header."""
    body = {"id": radar_id, "lat_deg": lat, "lon_deg": lon, "alt_m": 0.0, "sigma_range_m": 50.0,
            "sigma_az_rad": 0.001, "sigma_el_rad": 0.001, "min_range_m": 1000.0, "max_range_m": max_range_m,
            "min_el_deg": 0.0, "max_el_deg": 90.0, "az_center_deg": az, "az_half_width_deg": half}
    return node.put_item(new_item("warning.radar", body, Marking.parse(banner), originator, node.clock.now()))


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def log_in(client: TestClient, token: str) -> TestClient:
    r = client.get("/console/login")
    r = client.post("/console/login", data={"token": token, "csrf": csrf_of(r.text)})
    assert r.status_code == 303 and r.headers["location"] == "/console/", r.text
    return client


class Served:
    """The node's whole app under uvicorn in a thread of the test process, on a loopback socket
    bound before the server starts (loopback.listening_socket: no other process can take it)."""

    def __init__(self, app) -> None:
        import threading

        import uvicorn
        from loopback import listening_socket

        self.sock = listening_socket()
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "Served":
        import time

        self.thread.start()
        for _ in range(400):
            if self.server.started:
                return self
            time.sleep(0.025)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def logged_in_page(browser, url: str, token: str, errors: list[str], *, width: int = 1280, height: int = 900):
    """A Chromium page logged in to the console at ``url`` with ``token`` and on the overview;
    every console error and uncaught page error is appended to ``errors``."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(10_000)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/console/login")
    page.fill("#token", token)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/console/")
    return page


def jpn_sharing_intel(tmp_path: Path) -> tuple[Node, dict[str, Node], dict[str, str]]:
    """JPN (on a manual clock at NOW) with KOR and USA pinned and a signed agreement with each
    covering ``intel.*`` up to SECRET, its federation and token tables made: (JPN, the partners'
    nodes — the caller closes them —, every party's public key)."""
    from accord.clock import ManualClock

    clock = ManualClock(NOW)
    jpn = Node.init(tmp_path / "jpn", "JPN", clock)
    keys, others = {"JPN": jpn.identity.public_b64}, {}
    for p in ("KOR", "USA"):
        n = Node.init(tmp_path / p.lower(), p, clock)
        jpn.add_partner(p, n.identity.public_b64)
        keys[p], others[p] = n.identity.public_b64, n
    ensure_federation_schema(jpn.conn)
    ensure_schema(jpn.conn, TOKENS_DDL)
    for p, n in others.items():
        ag = new_agreement(f"jpn-{p.lower()}", ["JPN", p], {"JPN": keys["JPN"], p: keys[p]},
                           [("JPN", p, ["intel.*"], "SECRET")], NOW - timedelta(days=1), NOW + timedelta(days=30))
        jpn.add_agreement(sign_agreement(sign_agreement(ag, jpn.identity), n.identity))
    return jpn, others, keys
