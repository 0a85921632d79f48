"""Play a scenario through Accord's real components and score what happened.

Kept as one module: the runner's event loop; the record, deliveries, injects, truth and
metrics are modules of their own.

Every party gets a real node (key, SQLite store, ledger, pinned partners, agreements signed by
their parties). The simulator (:mod:`accord.warning.sim`) flies the launches and makes each
radar's detections; each node runs the real tracker (:mod:`accord.warning.tracking`) on its own
radars only, shares its tracks and predictions through the real federation layer (policy →
signed envelope → durable outbox → ledger; receipt verified and ledgered by the partner), fuses
partners' tracks with its own (:mod:`accord.warning.fusion`) and runs the civil-defence alert
engine (:mod:`accord.warning.alerts`) on the fused picture. Envelopes travel over a simulated
network that applies the scenario's link faults in simulated time
(:class:`accord.exercise.network.SimulatedNetwork`) and arrive through the runner's
:class:`~accord.exercise.delivery.Delivery`: in process, or over loopback HTTP
(:class:`accord.exercise.http.HttpDelivery`). Injects (:mod:`accord.exercise.injects`) (forged and replayed envelopes, a policy-violating share, a node
crash, a ledger rewrite) are played at their times and must all be caught.

The loop advances simulated time in one-second ticks; ``speed="realtime"`` sleeps so that a
simulated second takes a wall second. :meth:`Runner.run` returns an
:class:`~accord.exercise.record.ExerciseRecord` of what happened; :mod:`accord.exercise.metrics`
scores it and :mod:`accord.exercise.outputs` writes ``metrics.json`` and the report.

At ~540 lines this module is over the project's ~400: it is the tick loop and the steps one tick
takes (feed scans, track, share, deliver, fuse, alert, exchange heads, restart), each a short
method of :class:`Runner` reading the same running state; what does not need that state lives in
the modules beside it (deliveries, injects, truth, launches, output directory, metrics).
"""

from __future__ import annotations

import math
import time as wallclock
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from accord.clock import ManualClock
from accord.core.agreements import new_agreement, sign_agreement
from accord.core.canonical import parse_json_strict
from accord.core.items import Item, new_item
from accord.core.markings import Marking
from accord.errors import FederationError, InputError
from accord.exercise.delivery import Delivery, InProcessDelivery
from accord.exercise.injects import TRACK_MARKING, Injects
from accord.exercise.launches import launches_of, sensor_of
from accord.exercise.metrics import compute_metrics
from accord.exercise.network import SimulatedNetwork, links_from
from accord.exercise.nodes import NodeState
from accord.exercise.outdir import MARKER, claim_out_dir
from accord.exercise.outputs import write_outputs
from accord.exercise.record import ExerciseRecord
from accord.exercise.scenario import Scenario
from accord.exercise.truth import TruthAssociator, truth_by_second
from accord.federation.inbox import BatchAck
from accord.federation.outbox import apply_ack, pending, share_many
from accord.federation.schema import ensure_federation_schema
from accord.federation.treeheads import check_partner_head
from accord.node.node import Node
from accord.warning.fusion import FusedTrack, fuse
from accord.warning.sim import ScenarioSpec, SimResult, simulate
from accord.warning.tracking import Tracker
from accord.warning.types import Prediction, TrackState

__all__ = ["MARKER", "TRACK_MARKING", "ExerciseResult", "Runner", "run_exercise"]

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


class Runner:
    """One run of ``scenario`` into ``out_dir``; ``delivery`` carries envelopes between the
    nodes (default: in process)."""

    def __init__(self, scenario: Scenario, out_dir: Path, *, seed: int | None = None, force: bool = False,
                 speed: float | None = None, delivery: Delivery | None = None) -> None:
        self.s = scenario
        self.delivery: Delivery = delivery or InProcessDelivery()
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
        self.sensors = [sensor_of(r) for r in scenario.radars]
        self.sensor_owner = [r.owner for r in scenario.radars]
        self.injects = Injects(self)
        self.latencies_ms: list[float] = []
        self.created_at: dict[str, float] = {}
        self.receipts: list[tuple[str, str, float, Item]] = []  # (receiver, originator, t, item)
        self.own_tracks_log: dict[str, list[tuple[float, list[TrackState]]]] = defaultdict(list)
        self.fused_log: dict[str, list[tuple[float, list[FusedTrack]]]] = defaultdict(list)
        self.preds_log: list[tuple[str, float, Prediction]] = []
        self.alerts_log: list[dict[str, Any]] = []
        self.crash_pending: list[tuple[float, str]] = []

    # --- setup -----------------------------------------------------------------------------
    def run_identity(self) -> dict[str, Any]:
        """What makes two runs the same run: scenario, seed and transport (kept in the marker)."""
        return {"scenario": self.s.name, "seed": self.seed, "transport": self.transport}

    @property
    def transport(self) -> str:
        """How envelopes travel between the nodes (``metrics.json``'s ``transport``)."""
        return self.delivery.transport

    def claim_out_dir(self) -> None:
        """Make ``out`` this run's (:func:`accord.exercise.outdir.claim_out_dir`): another run's
        output is replaced only with ``force``."""
        claim_out_dir(self.out, self.run_identity(), force=self.force)

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
                    node_a.add_partner(b, node_b.identity.public_b64, self.delivery.partner_url(b))
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
        self.delivery.start(self)

    def _store_radars(self, node: Node, idx: list[int]) -> None:
        """The node keeps its own radars as ``warning.radar`` items (each a warning-file header
        sensor), so its console draws them and their coverage; they stay on the node."""
        marking = Marking.parse(TRACK_MARKING)
        for i in idx:
            body = {k: v for k, v in asdict(self.sensors[i]).items() if k != "ecef_m"}
            node.put_item(new_item("warning.radar", body, marking, node.party, self.clock.now()))

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
    def run(self, progress: bool = True) -> ExerciseRecord:
        """Play the scenario; return the record of what happened (the nodes are closed)."""
        try:
            return self._run(progress)
        finally:
            self.delivery.close()

    def _run(self, progress: bool) -> ExerciseRecord:
        wall0 = wallclock.perf_counter()
        cpu0 = wallclock.process_time()
        self.setup()
        self.sim = self.simulate()
        self.assoc = TruthAssociator(self.sim.flights)  # truth, for scoring only
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
        self.truth_by_sec = truth_by_second(self.sim, self.sensors)

        # the scenario's name (from its file) is text, never markup: its own column, markup=False
        prog = Progress(TextColumn("[bold]exercise[/]"), TextColumn("{task.description}", markup=False), BarColumn(),
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
                    self.injects.play(injects[inj_ptr])
                    inj_ptr += 1
                self.injects.play_retries(t)
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
        cpu_s = wallclock.process_time() - cpu0
        for st in self.states.values():
            if st.node is not None:
                st.node.close()
        return ExerciseRecord(
            scenario=self.s, seed=self.seed, transport=self.transport, out=self.out,
            node_dirs={p: st.dir for p, st in self.states.items()},
            sensor_idx={p: list(st.sensor_idx) for p, st in self.states.items()},
            sensors=tuple(self.sensors), sensor_owner=tuple(self.sensor_owner), sim=self.sim,
            truth_by_sec=self.truth_by_sec, own_tracks_log=dict(self.own_tracks_log), fused_log=dict(self.fused_log),
            preds_log=self.preds_log, alerts_log=self.alerts_log, receipts=self.receipts,
            latencies_ms=self.latencies_ms, injects=[dict(i) for i in self.injects.played],
            network_messages=self.net.sent, network_losses=self.net.lost, partition_drops=self.net.partition_drops,
            drained_at=drained_at, ended=self.clock.now(), wall_s=wall, cpu_s=cpu_s)

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
                      for p in st.own_preds if p.status in ("tracking", "boost")]   # not suspect or lost
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
            ack = self.delivery.receive(self, src, dst, parsed, envelopes)
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
        tr = self.delivery.heads(self)
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

    # --- crashes (the node_crash inject) ---------------------------------------------------------
    def crash(self, party: str, restart_at: float) -> None:
        """Kill ``party``'s node now: committed data is on disk, nothing else survives; it is
        reopened from its directory at ``restart_at``."""
        self.delivery.node_down(party)
        st = self.states[party]
        if st.node is not None:
            st.node.conn.close()
        st.node = None
        st.tracker = None
        st.up = False
        self.crash_pending.append((restart_at, party))

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
                self.delivery.node_up(party, st.node)

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
    delivery: Delivery
    if console:
        from accord.exercise.http import ConsoleDelivery

        delivery = ConsoleDelivery([p.code for p in scenario.parties], port=port, announce=announce)
        speed = speed or CONSOLE_SPEED
    elif transport == "http":
        from accord.exercise.http import HttpDelivery

        delivery = HttpDelivery()
    else:
        delivery = InProcessDelivery()
    runner = Runner(scenario, Path(out_dir), seed=seed, force=force, speed=speed, delivery=delivery)
    record = runner.run(progress=progress)
    metrics, series = compute_metrics(record)
    report = write_outputs(record, metrics, series)
    return ExerciseResult(metrics, Path(out_dir), report, bool(metrics["passed"]), metrics["wall_s"],
                          metrics["simulated_s"])
