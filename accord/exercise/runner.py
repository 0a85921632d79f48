"""Play a scenario through Accord's real components and score what happened.

Every party gets a real node (key, SQLite store, ledger, pinned partners, agreements signed by
their parties). The simulator (:mod:`accord.warning.sim`) flies the launches and makes each
radar's detections; each node runs the real tracker (:mod:`accord.warning.tracking`) on its own
radars only, shares its tracks and predictions through the real federation layer (policy →
signed envelope → durable outbox → ledger; receipt verified and ledgered by the partner), fuses
partners' tracks with its own (:mod:`accord.warning.fusion`) and runs the civil-defence alert
engine (:mod:`accord.warning.alerts`) on the fused picture. Envelopes travel over a simulated
network that applies the scenario's link faults in simulated time
(:class:`accord.exercise.network.SimulatedNetwork`), or over loopback HTTP with
``transport="http"``. Injects (forged and replayed envelopes, a policy-violating share, a node
crash, a ledger rewrite) are played at their times and must all be caught.

The loop advances simulated time in one-second ticks; ``speed="realtime"`` sleeps so that a
simulated second takes a wall second.
"""

from __future__ import annotations

import json
import math
import shutil
import time as wallclock
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from accord.clock import ManualClock
from accord.core.agreements import new_agreement, sign_agreement
from accord.core.canonical import parse_json_strict
from accord.core.envelopes import seal
from accord.core.identity import Identity
from accord.core.items import Item, new_item
from accord.core.markings import Marking
from accord.errors import AccordError, FederationError, InputError, PolicyDenied
from accord.exercise.metrics import _Associator
from accord.exercise.network import SimulatedNetwork, links_from
from accord.exercise.scenario import Scenario
from accord.federation import receive_batch
from accord.federation.inbox import BatchAck
from accord.federation.outbox import apply_ack, pending, share_many
from accord.federation.schema import ensure_federation_schema
from accord.federation.treeheads import check_partner_head, local_checkpoint, local_consistency
from accord.node.node import Node
from accord.warning.frames import great_circle_m, lla_to_ecef
from accord.warning.fusion import FusedTrack, fuse
from accord.warning.io import Sensor
from accord.warning.sim import LaunchSpec, ScenarioSpec, SimResult, in_any_coverage, simulate
from accord.warning.tracking import Tracker
from accord.warning.types import Prediction, TrackState

MARKER = ".accord-exercise"
TRACK_MARKING = "CONFIDENTIAL//REL TO JPN, KOR, USA"
ACK_TIMEOUT_S = 2.0
HEAD_CHECK_PERIOD_S = 30.0
DRAIN_LIMIT_S = 600.0
CONSOLE_SPEED = 10.0  # times real time, for ``--console`` without ``--speed``


@dataclass
class ExerciseResult:
    metrics: dict[str, Any]
    out_dir: Path
    report_path: Path
    passed: bool
    wall_s: float
    sim_s: float


# --------------------------------------------------------------------------------------------
# Scenario → simulator
# --------------------------------------------------------------------------------------------
def _sensor(r: Any) -> Sensor:
    ecef = lla_to_ecef(r.lat_deg, r.lon_deg, r.alt_m)
    return Sensor(id=r.id, lat_deg=r.lat_deg, lon_deg=r.lon_deg, alt_m=r.alt_m, sigma_range_m=r.sigma_range_m,
                  sigma_az_rad=r.sigma_az_rad, sigma_el_rad=r.sigma_el_rad, scan_period_s=r.scan_period_s,
                  scan_offset_s=r.scan_offset_s, pd=r.pd, clutter_per_scan=r.clutter_per_scan,
                  min_range_m=r.min_range_m, max_range_m=r.max_range_m, min_el_deg=r.min_el_deg,
                  max_el_deg=r.max_el_deg, az_center_deg=r.az_center_deg, az_half_width_deg=r.az_half_width_deg,
                  ecef_m=(float(ecef[0]), float(ecef[1]), float(ecef[2])))


def launches_of(s: Scenario) -> list[LaunchSpec]:
    """Explicit launches plus generated ones (seeded), as simulator launch specs."""
    out = [LaunchSpec(id=e.id, launch_t=e.t, launch_lat_deg=e.launch.lat_deg, launch_lon_deg=e.launch.lon_deg,
                      aim_lat_deg=e.aim.lat_deg, aim_lon_deg=e.aim.lon_deg, trajectory=e.profile)
           for e in s.launches.explicit]
    g = s.launches.generated
    if g is not None:
        rng = np.random.default_rng([g.seed, 20261125])
        n = 0
        tries = 0
        while n < g.count:
            tries += 1
            if tries > 10_000:
                raise InputError("launches.generated: no launch/aim pair fits ranges_km; widen the areas",
                                 field="launches.generated.ranges_km")
            la, lo = rng.uniform(*g.lat_deg), rng.uniform(*g.lon_deg)
            aa, ao = rng.uniform(*g.aim_lat_deg), rng.uniform(*g.aim_lon_deg)
            rkm = float(great_circle_m(la, lo, aa, ao)) / 1000.0
            kind = "lofted" if rng.random() < g.lofted_fraction else "minimum-energy"
            t = float(rng.uniform(*g.window_s))
            if not g.ranges_km[0] <= rkm <= g.ranges_km[1]:
                continue
            n += 1
            out.append(LaunchSpec(id=f"G{n:02d}", launch_t=round(t, 2), launch_lat_deg=round(la, 4),
                                  launch_lon_deg=round(lo, 4), aim_lat_deg=round(aa, 4), aim_lon_deg=round(ao, 4),
                                  trajectory=kind))
    return out


# --------------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------------
@dataclass
class NodeState:
    """One party's running node and its in-memory (loseable) tracking state."""

    party: str
    dir: Path
    node: Node | None
    sensor_idx: list[int]
    tracker: Tracker | None = None
    partner_tracks: dict[tuple[str, str], TrackState] = field(default_factory=dict)
    partner_preds: dict[tuple[str, str], Prediction] = field(default_factory=dict)
    picture: list[FusedTrack] = field(default_factory=list)
    in_flight_until: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    up: bool = True
    alert_engine: Any = None
    alert_store: Any = None
    restarts: int = 0
    own_tracks: list[TrackState] = field(default_factory=list)
    own_preds: list[Prediction] = field(default_factory=list)


class _HeadTransport:
    """Tree-head exchange over the simulated network (fails across a partition or to a down node)."""

    def __init__(self, runner: "Runner") -> None:
        self.r = runner

    def _peer(self, node: Node, party: str) -> Node:
        st = self.r.states[party]
        if not st.up or st.node is None or not self.r.net.reachable(node.party, party, self.r.t):
            raise FederationError(f"{party} unreachable from {node.party}")
        return st.node

    def get_checkpoint(self, node: Node, party: str) -> str:
        return local_checkpoint(self._peer(node, party))

    def get_consistency(self, node: Node, party: str, first: int, second: int) -> list[str]:
        return local_consistency(self._peer(node, party), first, second)


class Runner:
    #: how envelopes travel between the nodes (``metrics.json``'s ``transport``)
    transport = "inproc"

    def __init__(self, scenario: Scenario, out_dir: Path, *, seed: int | None = None, force: bool = False,
                 speed: float | None = None) -> None:
        self.s = scenario
        #: simulated seconds per wall-clock second (None: as fast as it goes)
        self.speed = speed if speed is not None else 1.0 if scenario.speed == "realtime" else None
        self.seed = scenario.seed if seed is None else seed
        self.out = Path(out_dir)
        self.force = force
        self.epoch: datetime = scenario.epoch
        self.clock = ManualClock(self.epoch)
        self.t = 0.0
        self.net = SimulatedNetwork(links_from(scenario.links), seed=self.seed)
        self.states: dict[str, NodeState] = {}
        self.sensors = [_sensor(r) for r in scenario.radars]
        self.sensor_owner = [r.owner for r in scenario.radars]
        self.injects_out: list[dict[str, Any]] = []
        self.latencies_ms: list[float] = []
        self.created_at: dict[str, float] = {}
        self.receipts: list[tuple[str, str, float, Item]] = []  # (receiver, originator, t, item)
        self.own_tracks_log: dict[str, list[tuple[float, list[TrackState]]]] = defaultdict(list)
        self.fused_log: dict[str, list[tuple[float, list[FusedTrack]]]] = defaultdict(list)
        self.preds_log: list[tuple[str, float, Prediction]] = []
        self.alerts_log: list[dict[str, Any]] = []
        self._series: dict[str, dict[str, list[tuple[float, float]]]] = {}  # GOSPA curves (metrics)
        self.crash_pending: list[tuple[float, str]] = []
        self._deferred: list[Any] = []

    # --- setup -----------------------------------------------------------------------------
    def run_identity(self) -> dict[str, Any]:
        """What makes two runs the same run: scenario, seed and transport (kept in the marker)."""
        return {"scenario": self.s.name, "seed": self.seed, "transport": self.transport}

    def claim_out_dir(self) -> None:
        """Make ``out`` this run's: empty or new, or the output of the same run (replaced).

        A directory Accord did not make is never touched. Another run's output (another
        scenario, seed or transport, or one from before runs were recorded) is replaced only
        with ``force``, so one run cannot silently overwrite the report of another.
        """
        marker = self.out / MARKER
        if self.out.exists() and any(self.out.iterdir()):
            if not marker.exists():
                raise InputError(f"{self.out} exists and is not an exercise output directory; "
                                 "choose another --out", field="out")
            before = _read_marker(marker)
            if before != self.run_identity() and not self.force:
                raise InputError(f"{self.out} holds the output of another run ({_describe_run(before)}; this run: "
                                 f"{_describe_run(self.run_identity())}); choose another --out, or pass --force "
                                 "to replace it", field="out")
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"format": "accord-exercise-output/1", **self.run_identity()}) + "\n")

    def setup(self) -> None:
        nodes_dir = self.out / "nodes"
        self.claim_out_dir()
        nodes: dict[str, Node] = {}  # party → its node, all up at setup
        for party in self.s.parties:
            d = nodes_dir / party.code.lower()
            node = nodes[party.code] = Node.init(d, party.code, self.clock, name=party.name)
            self._prepare(node)
            idx = [i for i, owner in enumerate(self.sensor_owner) if owner == party.code]
            self.states[party.code] = NodeState(party.code, d, node, idx)
            self._store_radars(node, idx)
        for a, node_a in nodes.items():
            for b, node_b in nodes.items():
                if a != b:
                    node_a.add_partner(b, node_b.identity.public_b64, self._partner_url(b))
        keys = {p: node.identity.public_key for p, node in nodes.items()}
        for sa in self.s.agreements:
            rules = [(f, t, list(rule.kinds), rule.max_classification)
                     for rule in sa.rules for f in sa.parties for t in sa.parties if f != t]
            ag = new_agreement(sa.id, sa.parties, {p: keys[p] for p in sa.parties}, rules,
                               self.epoch - timedelta(days=1), self.epoch + timedelta(days=sa.valid_days),
                               title=f"exercise {self.s.name}: {sa.id}")
            for p in sa.parties:
                ag = sign_agreement(ag, nodes[p].identity)
            ag.save(self.out / f"agreement-{sa.id}.yaml")
            for p in sa.parties:
                nodes[p].add_agreement(ag)
        for st in self.states.values():
            self._start_tracking(st)

    def _store_radars(self, node: Node, idx: list[int]) -> None:
        """The node keeps its own radars as ``warning.radar`` items (each a warning-file header
        sensor), so its console draws them and their coverage; they stay on the node."""
        marking = Marking.parse(TRACK_MARKING)
        for i in idx:
            body = {k: v for k, v in asdict(self.sensors[i]).items() if k != "ecef_m"}
            node.put_item(new_item("warning.radar", body, marking, node.party, self.clock.now()))

    def _partner_url(self, party: str) -> str | None:
        return None

    def _head_transport(self) -> Any:
        return _HeadTransport(self)

    @staticmethod
    def _prepare(node: Node) -> None:
        ensure_federation_schema(node.conn)
        # The exercise simulates process crashes, not power loss: in WAL mode, synchronous=NORMAL
        # keeps every committed transaction across a process crash (it skips only the fsync per
        # commit that guards against an OS crash), so "nothing acknowledged is lost" still holds.
        node.conn.execute("PRAGMA synchronous=NORMAL")

    def _start_tracking(self, st: NodeState) -> None:
        st.tracker = Tracker([self.sensors[i] for i in st.sensor_idx]) if st.sensor_idx else None
        st.partner_tracks.clear()
        st.partner_preds.clear()
        st.picture = []
        party = next(p for p in self.s.parties if p.code == st.party)
        st.alert_engine = self._alert_engine(st) if party.alerts else None

    def _alert_engine(self, st: NodeState) -> Any:
        """The party's alert engine; after a restart, the one its node stored (open incidents
        carry on and are closed when their threat ends)."""
        from accord.exercise.alerting import make_engine
        from accord.warning.alerts.store import AlertStore

        assert st.node is not None  # tracking starts only on a running node
        st.alert_store = AlertStore(st.node)
        return make_engine(st.party, status=self.s.status, sender=f"accord-{st.party.lower()}@exercise.invalid",
                           epoch=self.epoch, state=st.alert_store.load(st.party))

    # --- simulation --------------------------------------------------------------------------
    def simulate(self) -> SimResult:
        launches = launches_of(self.s)
        spec = ScenarioSpec(sensors=tuple(self.sensors), launches=tuple(launches), duration=self.s.duration_s,
                            seed=self.seed)
        return simulate(spec)

    # --- the loop ----------------------------------------------------------------------------
    def run(self, progress: bool = True) -> dict[str, Any]:
        wall0 = wallclock.perf_counter()
        cpu0 = wallclock.process_time()
        self.setup()
        self.sim = self.simulate()
        self.assoc = _Associator(list(self.sim.flights))  # truth, for scoring only
        det = self.sim.detections
        self.det_t = det.t
        self.det_s = det.sensor_idx
        self.det_rae = det.rae
        order_ptr = 0
        n = len(det)
        injects = sorted(self.s.injects, key=lambda i: i.t)
        inj_ptr = 0
        duration = self.s.duration_s
        ticks = int(math.ceil(duration))
        next_share = 0.0
        next_heads = HEAD_CHECK_PERIOD_S
        self.truth_by_sec = self._truth_by_second()

        prog = Progress(TextColumn("[bold]exercise[/] {task.description}"), BarColumn(),
                        TextColumn("{task.completed:.0f}/{task.total:.0f} s simulated"),
                        TimeElapsedColumn(), TimeRemainingColumn(), disable=not progress, transient=False)
        with prog:
            task = prog.add_task(self.s.name, total=ticks)
            for k in range(1, ticks + 1):
                t = float(k)
                # radar scans in (t-1, t], each node its own radars
                end = int(np.searchsorted(self.det_t, t, side="right"))
                self._feed(order_ptr, end)
                order_ptr = end
                self._set_time(t)
                while inj_ptr < len(injects) and injects[inj_ptr].t <= t:
                    self._inject(injects[inj_ptr])
                    inj_ptr += 1
                retry, self._deferred = self._deferred, []
                for inj in retry:
                    if inj.t <= t:
                        self._inject(inj)
                    else:
                        self._deferred.append(inj)
                self._restarts(t)
                self._track_outputs(t)
                self._deliver_due(t)
                if t >= next_share:
                    # share, fuse and alert at the sharing cadence: partners' tracks change no faster
                    self._share_tracks(t)
                    self._fuse_and_alert(t)
                    next_share = t + self.s.share_period_s
                self._send_pending(t)
                if t >= next_heads:
                    self._exchange_heads()
                    next_heads = t + HEAD_CHECK_PERIOD_S
                if self.speed:
                    ahead = t / self.speed - (wallclock.perf_counter() - wall0)
                    if ahead > 0:
                        wallclock.sleep(ahead)
                prog.update(task, completed=k)
            assert order_ptr == n
            drained_at = self._drain(duration)
            self._exchange_heads()
        wall = wallclock.perf_counter() - wall0
        self.cpu_s = wallclock.process_time() - cpu0
        metrics = self._metrics(wall, drained_at)
        for st in self.states.values():
            if st.node is not None:
                st.node.close()
        return metrics

    def _set_time(self, t: float) -> None:
        self.t = t
        self.clock.set(self.epoch + timedelta(seconds=t))

    def _feed(self, start: int, end: int) -> None:
        if end <= start:
            return
        ts, ss, rae = self.det_t[start:end], self.det_s[start:end], self.det_rae[start:end]
        # scans: runs of equal (t, sensor) in time order
        brk = np.flatnonzero((np.diff(ts) != 0) | (np.diff(ss) != 0)) + 1
        bounds = np.concatenate([[0], brk, [len(ts)]])
        for a, b in zip(bounds[:-1], bounds[1:]):
            si = int(ss[a])
            st = self.states[self.sensor_owner[si]]
            if not st.up or st.tracker is None:
                continue
            self._set_time(float(ts[a]))
            st.tracker.process_scan(float(ts[a]), self.sensors[si].id, rae[a:b])

    # --- tracking outputs, once a tick ----------------------------------------------------------
    def _track_outputs(self, t: float) -> None:
        for st in self.states.values():
            if not st.up or st.tracker is None:
                st.own_tracks, st.own_preds = [], []
                continue
            st.own_tracks = st.tracker.confirmed_tracks(t)
            st.own_preds = st.tracker.predictions(t)
            self.own_tracks_log[st.party].append((t, st.own_tracks))
            for p in st.own_preds:
                self.preds_log.append((st.party, t, p))

    # --- sharing -----------------------------------------------------------------------------
    def _share_tracks(self, t: float) -> None:
        marking = Marking.parse(TRACK_MARKING)
        now = self.clock.now()
        for st in self.states.values():
            if not st.up or st.tracker is None or st.node is None:  # (a node that is up is not None)
                continue
            items = [new_item("warning.track", {**tr.to_json(), "source": st.party}, marking, st.party, now)
                     for tr in st.own_tracks]
            items += [new_item("warning.prediction", p.to_json(), marking, st.party, now)
                      for p in st.own_preds if p.status == "tracking"]
            if not items:
                continue
            for it in items:
                self.created_at[it.id] = t
            for partner in self.states:
                if partner == st.party:
                    continue
                allowed = [it for it in items if st.node.decide(it, partner).allowed]
                if allowed:
                    share_many(st.node, allowed, partner)

    def _network_step(self, t: float) -> None:
        self._deliver_due(t)
        self._send_pending(t)

    def _deliver_due(self, t: float) -> None:
        """Deliver every request and acknowledgement that has arrived by ``t``."""
        for arrive_t, src, dst, payload in self.net.due(t):
            kind, body = payload
            if kind == "batch":
                self._deliver_batch(src, dst, arrive_t, body)
            else:
                self._deliver_ack(src, dst, arrive_t, body)

    def _send_pending(self, t: float) -> None:
        """Senders put queued envelopes on the wire (retrying after an acknowledgement timeout)."""
        for st in self.states.values():
            if not st.up or st.node is None:
                continue
            for partner in self.states:
                if partner == st.party or st.in_flight_until.get(partner, -1.0) > t:
                    continue
                batch = pending(st.node, partner, 500)
                if not batch:
                    continue
                self.net.send(st.party, partner, t, ("batch", [env for _, env in batch]))
                fails = st.failures.get(partner, 0)
                st.in_flight_until[partner] = t + ACK_TIMEOUT_S * (2 ** min(fails, 4))
                st.failures[partner] = fails + 1

    def _deliver_batch(self, src: str, dst: str, t: float, envelopes: list[bytes]) -> None:
        st = self.states[dst]
        if not st.up or st.node is None:
            return  # the request hit a crashed process: no answer, the sender will retry
        self._set_time(t)
        parsed = [parse_json_strict(e) for e in envelopes]
        try:
            ack = self._receive(src, dst, parsed, envelopes)
        except FederationError:
            return  # no answer: the sender will retry
        for raw, rec in zip(parsed, ack.receipts):
            if rec.status == "stored":
                item = Item.from_json(raw["item"])
                self.receipts.append((dst, src, t, item))
                if item.id in self.created_at:
                    self.latencies_ms.append((t - self.created_at[item.id]) * 1000.0)
                self._on_received(st, src, item)
        self.net.send(dst, src, t, ("ack", ack.to_json()))

    def _receive(self, src: str, dst: str, parsed: list[dict[str, Any]], envelopes: list[bytes]) -> BatchAck:
        """Hand a batch to the receiving node: in process here; over HTTP in :class:`HttpRunner`."""
        return receive_batch(self.states[dst].node, parsed, sender=src)

    def _deliver_ack(self, src: str, dst: str, t: float, ack_json: dict[str, Any]) -> None:
        st = self.states[dst]
        if not st.up or st.node is None:
            return
        self._set_time(t)
        apply_ack(st.node, src, BatchAck.from_json(ack_json))
        st.in_flight_until[src] = -1.0
        st.failures[src] = 0

    def _on_received(self, st: NodeState, src: str, item: Item) -> None:
        if item.kind == "warning.track":
            b = item.body
            tr = TrackState(float(b["t"]), str(b["track_id"]), b["x"], b["y"], b["z"], b["vx"], b["vy"], b["vz"],
                            cov=tuple(b["cov"]) if b.get("cov") else None)
            key = (src, tr.track_id)
            old = st.partner_tracks.get(key)
            if old is None or old.t <= tr.t:
                st.partner_tracks[key] = tr
        elif item.kind == "warning.prediction":
            p = Prediction.from_json(item.body)
            st.partner_preds[(src, p.track_id)] = p

    # --- fusion and alerts ---------------------------------------------------------------------
    def _fuse_and_alert(self, t: float) -> None:
        for st in self.states.values():
            if not st.up:
                continue
            own = st.own_tracks
            # partner tracks older than a few share periods are stale (the partner lost them)
            stale = t - 3 * self.s.share_period_s - 2.0
            for key in [k for k, tr in st.partner_tracks.items() if tr.t < stale]:
                del st.partner_tracks[key]
            partner = [(p, tr) for (p, _), tr in st.partner_tracks.items() if tr.t <= t]
            st.picture = fuse(own, partner, t, own_party=st.party)
            self.fused_log[st.party].append((t, st.picture))
            if st.alert_engine is not None:
                self._alert(st, t)

    def _alert(self, st: NodeState, t: float) -> None:
        from accord.exercise.alerting import alert_step

        msgs = alert_step(st.alert_engine, t, st.own_preds, dict(st.partner_preds), restarts=st.restarts)
        items = [m.pop("item") for m in msgs]
        if st.node is not None:
            # the messages and the engine's open incidents, in one transaction
            st.alert_store.save(st.alert_engine, items)
        for m, item in zip(msgs, items):
            xml = m.pop("message").xml
            m["t"] = t
            m["party"] = st.party
            m["missiles"] = self._missiles_of(st, m["sources"], t)
            self.alerts_log.append(m)
            d = self.out / "alerts" / st.party.lower()
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{len(self.alerts_log):04d}-{m['msg_type'].lower()}.xml").write_bytes(xml)
            if st.node is not None:
                for partner in self.states:
                    if partner != st.party and st.node.decide(item, partner).allowed:
                        share_many(st.node, [item], partner)

    def _missiles_of(self, st: NodeState, sources: list[str], t: float) -> list[str]:
        """Which simulated missiles an alert's threat is (truth, for scoring only)."""
        tracks = [ft for ft in st.picture if set(ft.sources) & set(sources)]
        if not tracks:
            return []
        mids = self.assoc.nearest(np.array([ft.x[:3] for ft in tracks]), np.full(len(tracks), t))
        return sorted({m for m in mids if m})

    # --- heads -------------------------------------------------------------------------------
    def _exchange_heads(self) -> None:
        tr = self._head_transport()
        for st in self.states.values():
            if not st.up or st.node is None:
                continue
            for partner in self.states:
                if partner == st.party:
                    continue
                try:
                    check_partner_head(st.node, partner, tr)  # an inconsistency is recorded in the node
                except FederationError:
                    continue

    # --- injects -----------------------------------------------------------------------------
    def _inject(self, inj: Any) -> None:
        rec: dict[str, Any] = {"t": inj.t, "type": inj.type, "node": inj.node, "to": inj.to, "caught": False}
        self.injects_out.append(rec)
        try:
            getattr(self, f"_inject_{inj.type}")(inj, rec)
        except AccordError as exc:  # the inject itself could not be played
            rec["how"] = f"inject failed to play: {exc}"

    def _retry_next_second(self, inj: Any, rec: dict[str, Any], why_not: str) -> None:
        """Play ``inj`` again a second later or, at the end of the run, record it as not played
        (``why_not``)."""
        if inj.t + 1 <= self.s.duration_s:
            self._deferred.append(inj.model_copy(update={"t": inj.t + 1}))
            self.injects_out.remove(rec)
        else:
            rec["how"] = why_not

    def _postpone_while_down(self, inj: Any, rec: dict[str, Any], *parties: str) -> bool:
        """True if a node ``inj`` acts on is down (crashed, not yet restarted): the inject is then
        played again a second later, or — at the end of the run — recorded as not played."""
        down = [p for p in parties if self.states[p].node is None]
        if not down:
            return False
        self._retry_next_second(inj, rec, f"{', '.join(down)} down until the end of the run: the inject could "
                                          "not be played")
        return True

    def _inject_forged_envelope(self, inj: Any, rec: dict[str, Any]) -> None:
        if self._postpone_while_down(inj, rec, inj.to):
            return
        target = self.states[inj.to]
        assert target.node is not None
        forger = Identity.generate(inj.node)  # right name, wrong key
        item = new_item(inj.kind, {"note": "forged by exercise inject"}, Marking.parse(TRACK_MARKING), inj.node,
                        self.clock.now())
        env = seal(item, inj.to, 10**9, forger, self.clock.now()).to_bytes()
        before = len(target.node.items())
        ack = receive_batch(target.node, [parse_json_strict(env)], sender=inj.node)
        r = ack.receipts[0]
        rec["caught"] = r.status == "rejected" and len(target.node.items()) == before
        rec["how"] = f"{inj.to} rejected it: {r.code}"

    def _inject_replay(self, inj: Any, rec: dict[str, Any]) -> None:
        sender, target = self.states[inj.node], self.states[inj.to]
        row = None
        if sender.node is not None:
            row = sender.node.conn.execute(
                "SELECT envelope FROM fed_outbox WHERE recipient=? AND state='delivered' ORDER BY seq DESC LIMIT 1",
                (inj.to,)).fetchone()
        if row is None or target.node is None:
            # nothing delivered yet on that link (or the target is down): try again next second
            self._retry_next_second(inj, rec, f"nothing from {inj.node} to {inj.to} was ever delivered to replay")
            return
        env = bytes(row[0])
        before = len(target.node.items())
        ack = receive_batch(target.node, [parse_json_strict(env)], sender=inj.node)
        r = ack.receipts[0]
        rec["caught"] = r.status in ("duplicate", "rejected") and len(target.node.items()) == before
        rec["how"] = f"{inj.to} answered {r.status} ({r.code or 'already applied'}); nothing stored twice"

    def _inject_policy_violation(self, inj: Any, rec: dict[str, Any]) -> None:
        if self._postpone_while_down(inj, rec, inj.node, inj.to):  # both sides' policy is checked
            return
        sender, target = self.states[inj.node], self.states[inj.to]
        assert sender.node is not None and target.node is not None
        banner = f"{inj.classification}//REL TO {inj.node}, {inj.to}"
        item = new_item(inj.kind, {"note": "policy-violating share attempt (exercise inject)"},
                        Marking.parse(banner), inj.node, self.clock.now())
        before = sender.node.conn.execute("SELECT COUNT(*) FROM fed_outbox WHERE recipient=?", (inj.to,)).fetchone()[0]
        why = "NOT refused"
        try:
            share_many(sender.node, [item], inj.to)
            refused_by_sender = False
        except PolicyDenied as exc:
            refused_by_sender = True
            why = "; ".join(exc.refusals)[:200]
        after = sender.node.conn.execute("SELECT COUNT(*) FROM fed_outbox WHERE recipient=?", (inj.to,)).fetchone()[0]
        # A rogue sender that skipped its own check would meet the same policy at the receiver:
        # receive_batch applies the receiver's decide() before storing anything.
        receiver_denies = not target.node.decide(item, inj.to).allowed
        rec["caught"] = refused_by_sender and after == before and receiver_denies
        rec["how"] = (f"{inj.node} refused to queue it ({why}); {inj.to}'s own policy also denies it"
                      if rec["caught"] else f"{inj.node}: {why}; receiver denies: {receiver_denies}")

    def _inject_node_crash(self, inj: Any, rec: dict[str, Any]) -> None:
        st = self.states[inj.node]
        if st.node is not None:
            st.node.conn.close()  # committed data is on disk; nothing else survives
        st.node = None
        st.tracker = None
        st.up = False
        self.crash_pending.append((inj.t + inj.restart_after_s, inj.node))
        rec["how"] = f"{inj.node} crashed; restart at t={inj.t + inj.restart_after_s:.0f}s"
        rec["_crash"] = True

    def _restarts(self, t: float) -> None:
        for when, party in list(self.crash_pending):
            if when <= t:
                self.crash_pending.remove((when, party))
                st = self.states[party]
                st.node = Node.open(st.dir, self.clock)
                self._prepare(st.node)
                st.up = True
                st.restarts += 1
                st.in_flight_until.clear()
                st.failures.clear()
                self._start_tracking(st)

    def _inject_ledger_rewrite(self, inj: Any, rec: dict[str, Any]) -> None:
        if self._postpone_while_down(inj, rec, inj.node):
            return
        node = self.states[inj.node].node
        assert node is not None
        entries = node.ledger.entries()
        if len(entries) < 2:
            rec["how"] = "ledger too short to rewrite"
            return
        # The node rewrites history: drops its first event and re-signs a new tree of the rest.
        with node.write_lock:
            node.conn.execute("BEGIN IMMEDIATE")
            node.conn.execute("DELETE FROM ledger_leaves")
            node.conn.execute("DELETE FROM ledger_nodes")
            node.conn.commit()
        node.ledger._frontier = None
        node.ledger.append_many([(e.type, e.data, e.time) for e in entries[1:]] +
                                [("item.created", {"note": "rewritten history"}, self.clock.now())] * 2)
        rec["_rewrite"] = inj.node
        rec["how"] = f"{inj.node} rebuilt its ledger without its first event"

    # --- end ---------------------------------------------------------------------------------
    def _drain(self, duration: float) -> float | None:
        """After the last tick, keep the network running until every outbox is empty."""
        t = duration
        while t < duration + DRAIN_LIMIT_S:
            self._restarts(t)
            busy = any(pending(st.node, p, 1) for st in self.states.values() if st.node is not None
                       for p in self.states if p != st.party)
            if not busy and self.net.in_flight() == 0 and not self.crash_pending:
                return t
            t += 1.0
            self._set_time(t)
            self._network_step(t)
        return None

    def _truth_by_second(self) -> dict[int, list[tuple[str, np.ndarray]]]:
        tr = self.sim.truth
        out: dict[int, list[tuple[str, np.ndarray]]] = defaultdict(list)
        if len(tr.t) == 0:
            return out
        cov = in_any_coverage(self.sensors, tr.state[:, :3])
        for t, mid, x, c in zip(tr.t, tr.ids, tr.state, cov):
            if c:
                out[int(t)].append((str(mid), x))
        return out

    def _metrics(self, wall: float, drained_at: float | None) -> dict[str, Any]:
        from accord.exercise.metrics import compute_metrics

        return compute_metrics(self, wall, drained_at)


def _read_marker(path: Path) -> dict[str, Any] | None:
    """The run identity an output directory's marker records (None: unknown, an older marker)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None
    if not isinstance(data, dict) or data.get("format") != "accord-exercise-output/1":
        return None
    return {k: data.get(k) for k in ("scenario", "seed", "transport")}


def _describe_run(run: dict[str, Any] | None) -> str:
    if run is None:
        return "a run that did not record its scenario, seed and transport"
    return f"scenario {run['scenario']}, seed {run['seed']}, transport {run['transport']}"


def run_exercise(scenario: Scenario, out_dir: str | Path, *, transport: str = "inproc", seed: int | None = None,
                 progress: bool = True, force: bool = False, console: bool = False, port: int | None = None,
                 speed: float | None = None, announce: Callable[[list[Any]], None] | None = None) -> ExerciseResult:
    """Run ``scenario``; write ``report.html`` and ``metrics.json`` into ``out_dir``.

    ``out_dir`` may hold the output of the same run (scenario, seed, transport), which is
    replaced; another run's output only with ``force`` (:meth:`Runner.claim_out_dir`).

    With ``console``, every node is served over HTTP with its console live (ports ``port``,
    ``port + 1``, … or free ones) and the scenario plays at ``speed`` times real time (default
    10); ``announce`` gets each party's :class:`~accord.exercise.http.ConsoleLink` once the
    consoles are up.
    """
    if transport not in ("inproc", "http"):
        raise InputError(f"unknown transport {transport!r} (inproc or http)", field="transport")
    if speed is not None and not (math.isfinite(speed) and speed > 0):
        raise InputError(f"speed must be a positive number of times real time, got {speed}", field="speed")
    if port is not None and not console:
        raise InputError("a port is only used with the console (--console)", field="port")
    if console:
        from accord.exercise.http import ConsoleRunner

        runner: Runner = ConsoleRunner(scenario, Path(out_dir), seed=seed, force=force, port=port,
                                       speed=speed or CONSOLE_SPEED, announce=announce)
    elif transport == "http":
        from accord.exercise.http import HttpRunner

        runner = HttpRunner(scenario, Path(out_dir), seed=seed, force=force, speed=speed)
    else:
        runner = Runner(scenario, Path(out_dir), seed=seed, force=force, speed=speed)
    metrics = runner.run(progress=progress)
    from accord.exercise.metrics import write_outputs

    report = write_outputs(runner, metrics)
    return ExerciseResult(metrics, Path(out_dir), report, bool(metrics["passed"]), metrics["wall_s"],
                          metrics["simulated_s"])
