"""The dialogue record on a node: signed versions stored as items, indexed in the node database.

Kept as one module: `DialogueStore` is one class whose every write (series, meetings,
commitments, adopt, load) goes through the same signing, version chain and sharing in one
transaction.

The node's item store (``node.put_item``, ledgered as ``item.created``) is the source of truth;
the ``dialogue_versions`` table is an index over it — one row per verified version, primary key
``(record_id, version)`` so a record can never hold two different versions with one number (a
fork). Items that arrive from partners (federation stores them in the node's item store) are
verified by :meth:`DialogueStore.sync` before they enter the index: signature under the signer's
pinned key, hash chain, and the who-may-change-what rules of :mod:`accord.dialogue.versions`; a
version that fails is recorded in ``dialogue_rejected`` (and ledgered as ``item.rejected``),
never indexed. A version whose predecessor (or series) has not arrived waits in
``dialogue_waiting`` (:mod:`accord.dialogue.waiting`) until exactly that is indexed.

Writes verify everything first and then store every item and index row of one operation inside
one write transaction (:func:`accord.store.base.transaction`) under the node's write lock: all or nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accord.clock import to_rfc3339
from accord.core.identity import public_key_from_b64
from accord.core.items import Item
from accord.core.markings import Classification, Marking
from accord.dialogue import ical, report, waiting
from accord.dialogue.inputs import (CommitmentIn, CommitmentUpdateIn, DialogueFile, MeetingIn, SeriesIn,
                                    located)
from accord.dialogue.model import (KIND_COMMITMENT, KIND_MEETING, KIND_SERIES, KINDS, Commitment,
                                   CommitmentChange, Link, Meeting, MeetingStatus, Series, Status,
                                   apply_change, check_party, steps_to)
from accord.dialogue.schedule import next_occurrences, occurrence
from accord.dialogue.versions import SignedVersion, check_commitment_update, sign_version, verify_version
from accord.errors import (AccordError, InputError, NotFoundError, NotOwnerError, PolicyDenied, StoreError,
                           VerificationError)
from accord.store.base import IntegrityError, OperationalError, transaction
from accord.store.migrations import migrate

if TYPE_CHECKING:
    from accord.store.protocol import Node

if TYPE_CHECKING:  # pragma: no cover
    from pydantic import BaseModel

DDL = """
CREATE TABLE IF NOT EXISTS dialogue_versions (
    record_id  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    series_id  TEXT NOT NULL,
    item_id    TEXT NOT NULL UNIQUE,
    digest     TEXT NOT NULL,
    signer     TEXT NOT NULL,
    signed_at  TEXT NOT NULL,
    marking    TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (record_id, version)
);
CREATE INDEX IF NOT EXISTS dialogue_versions_kind ON dialogue_versions (kind, series_id);
CREATE TABLE IF NOT EXISTS dialogue_rejected (
    item_id  TEXT PRIMARY KEY,
    digest   TEXT NOT NULL,
    reason   TEXT NOT NULL,
    at       TEXT NOT NULL
);
"""

_locks: dict[int, threading.RLock] = {}
_guard = threading.Lock()


def _write_lock(node: Node) -> threading.RLock:
    lock = getattr(node, "write_lock", None)
    if lock is not None:
        return lock
    try:  # share the federation's lock on this connection when it is there
        from accord.federation.schema import write_lock
        return write_lock(node)
    except ImportError:  # pragma: no cover - federation always ships with the node
        with _guard:
            return _locks.setdefault(id(node.conn), threading.RLock())


@contextmanager
def _transaction(conn: Any) -> Iterator[None]:
    if conn.in_transaction:
        raise StoreError("dialogue write started inside another open transaction")
    with transaction(conn):
        yield


def _federation() -> Any:
    """:mod:`accord.federation.outbox` (the sharing half of federation), or None without it."""
    try:
        from accord.federation import outbox
    except ImportError:  # pragma: no cover - federation always ships with the node
        return None
    return outbox


def default_marking(parties: tuple[str, ...] | list[str]) -> Marking:
    """Dialogue records default to UNCLASSIFIED, releasable to the series' parties only."""
    return Marking(Classification.UNCLASSIFIED, frozenset(parties))


@dataclass(frozen=True)
class Outcome:
    """What a write produced: the new versions, and (if shared) the per-partner results."""

    versions: tuple[SignedVersion, ...]
    shared: tuple[tuple[str, str, str], ...] = ()  # (item id, partner, "queued" | "denied: …")

    def to_json(self) -> dict[str, Any]:
        return {"versions": [{"record_id": v.record_id, "version": v.version, "kind": v.kind,
                              "item_id": v.item_id, "digest": v.digest(), "signer": v.signer}
                             for v in self.versions],
                "shared": [{"item_id": i, "partner": p, "result": r} for i, p, r in self.shared]}


class DialogueStore:
    """Dialogue records on one node (``node`` is an :class:`accord.node.Node`)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.conn: Any = node.conn
        migrate(self.conn, "dialogue", [DDL, waiting.DDL], lock=_write_lock(node))

    # --- keys -----------------------------------------------------------------------------
    def key_for(self, party: str) -> Ed25519PublicKey:
        """The signer's pinned Ed25519 key: this node's own, or a pinned partner's."""
        if party == self.node.party:
            return self.node.identity.public_key
        partner = self.node.partners().get(party)
        if partner is None:
            raise KeyError(party)
        for attr in ("public_key", "public_key_b64", "key"):
            key = getattr(partner, attr, None)
            if isinstance(key, Ed25519PublicKey):
                return key
            if isinstance(key, str):
                return public_key_from_b64(key, field=f"partners.{party}")
        raise KeyError(party)  # pragma: no cover - a Partner always carries its key

    def known_parties(self) -> tuple[str, ...]:
        return tuple(sorted({self.node.party, *self.node.partners()}))

    # --- reading ----------------------------------------------------------------------------
    def _rows(self, sql: str, args: tuple = ()) -> list[Any]:
        return self.conn.execute(sql, args).fetchall()

    @staticmethod
    def _version(row: Any) -> SignedVersion:
        return SignedVersion.from_body(json.loads(row["body"]), source=row["item_id"])

    def history(self, record_id: str) -> list[SignedVersion]:
        """Every verified version of a record, oldest first."""
        self.sync()
        rows = self._rows("SELECT * FROM dialogue_versions WHERE record_id=? ORDER BY version", (record_id,))
        if not rows:
            raise NotFoundError(f"no dialogue record {record_id!r} on node {self.node.party}")
        return [self._version(r) for r in rows]

    def latest(self, record_id: str, *, kind: str | None = None, sync: bool = True) -> SignedVersion:
        if sync:
            self.sync()
        row = self.conn.execute("SELECT * FROM dialogue_versions WHERE record_id=? ORDER BY version DESC "
                                "LIMIT 1", (record_id,)).fetchone()
        if row is None or (kind is not None and row["kind"] != kind):
            what = {KIND_SERIES: "series", KIND_MEETING: "meeting", KIND_COMMITMENT: "commitment"}.get(
                kind or "", "record")
            raise NotFoundError(f"no dialogue {what} {record_id!r} on node {self.node.party}")
        return self._version(row)

    def _marking_of(self, record_id: str) -> Marking:
        row = self.conn.execute("SELECT marking FROM dialogue_versions WHERE record_id=? ORDER BY version "
                                "DESC LIMIT 1", (record_id,)).fetchone()
        return Marking.parse(row["marking"])

    def all_latest(self, kind: str, *, series_id: str | None = None, sync: bool = True) -> list[SignedVersion]:
        if sync:
            self.sync()
        sql = ("SELECT v.* FROM dialogue_versions v JOIN (SELECT record_id, MAX(version) AS mv FROM "
               "dialogue_versions WHERE kind=? GROUP BY record_id) m ON v.record_id=m.record_id AND "
               "v.version=m.mv")
        args: tuple = (kind,)
        if series_id is not None:
            sql += " WHERE v.series_id=?"
            args += (series_id,)
        return [self._version(r) for r in self._rows(sql + " ORDER BY v.record_id", args)]

    def series(self, series_id: str, *, sync: bool = True) -> Series:
        return cast(Series, self.latest(series_id, kind=KIND_SERIES, sync=sync).value)

    def list_series(self) -> list[Series]:
        return [cast(Series, v.value) for v in self.all_latest(KIND_SERIES)]

    def meetings(self, series_id: str | None = None) -> list[Meeting]:
        return sorted((cast(Meeting, v.value) for v in self.all_latest(KIND_MEETING, series_id=series_id)),
                      key=lambda m: (m.series_id, m.number))

    def commitments(self, series_id: str | None = None, *, owner: str | None = None) -> list[tuple[Commitment, int]]:
        out = [(cast(Commitment, v.value), v.version)
               for v in self.all_latest(KIND_COMMITMENT, series_id=series_id)]
        return [(c, n) for c, n in out if owner is None or c.owner == owner]

    def due(self, now: datetime, *, days: int = 30, series_id: str | None = None,
            owner: str | None = None) -> tuple[list[report.CommitmentRow], list[report.CommitmentRow]]:
        """(overdue, due within ``days``) open commitments, by due date."""
        rows = [report.commitment_row(c, now, soon_days=days, version=n)
                for c, n in self.commitments(series_id, owner=owner)]
        key = (lambda r: (r.due, r.id))
        return sorted((r for r in rows if r.overdue), key=key), sorted((r for r in rows if r.due_soon), key=key)

    def ical(self, series_id: str) -> bytes:
        s = self.latest(series_id, kind=KIND_SERIES)
        return ical.to_ical(s, self.all_latest(KIND_MEETING, series_id=series_id, sync=False),
                            self.all_latest(KIND_COMMITMENT, series_id=series_id, sync=False))

    def report(self, now: datetime, *, series_id: str | None = None, party: str | None = None,
               soon_days: int = 30) -> report.Report:
        if party is not None:
            check_party(party, field="party")
        series = [self.series(series_id)] if series_id else self.list_series()
        if party is not None:
            series = [s for s in series if party in s.parties]
            if not series:
                raise NotFoundError(f"party {party} is in no dialogue series on node {self.node.party}")
        return report.build_report(series, self.meetings(series_id), self.commitments(series_id),
                                   now, party=party, soon_days=soon_days)

    # --- writing ----------------------------------------------------------------------------
    def _now(self) -> datetime:
        return self.node.clock.now()

    def _sign(self, value: Series | Meeting | Commitment, prev: SignedVersion | None,
              change: dict | None = None) -> SignedVersion:
        return sign_version(self.node.identity, value, prev=prev, now=self._now(), change=change)

    def _commit(self, versions: list[tuple[SignedVersion, Marking]], *, share: bool = True) -> Outcome:
        """Verify the versions as a chain on top of what is held, then store them and queue them
        for the series' other parties, all in one transaction: a crash leaves both or neither
        (policy denials are answers, reported in the outcome, and do not undo the write)."""
        pending: dict[str, SignedVersion] = {}
        series_cache: dict[str, Series] = {}
        federation = _federation() if share else None
        if federation is not None:
            federation.ready(self.node)  # creates tables: never inside the transaction below
        # the reads this check rests on and the write, under one lock: on the node's shared
        # connection a read outside it could see (and chain onto) another thread's uncommitted
        # version that is then rolled back
        with _write_lock(self.node):
            for v, _ in versions:
                prev = pending.get(v.record_id)
                if prev is None and v.version > 1:
                    prev = self.latest(v.record_id, sync=False)
                s = series_cache.get(v.series_id)
                if s is None and v.kind != KIND_SERIES:
                    s = series_cache[v.series_id] = self.series(v.series_id, sync=False)
                verify_version(v, prev=prev, series=s if v.kind != KIND_SERIES else
                               (cast(Series, prev.value) if prev else None),
                               key_for=self.key_for)
                pending[v.record_id] = v
                if v.kind == KIND_SERIES:
                    series_cache[v.record_id] = cast(Series, v.value)
            items = [(v, v.to_item(m)) for v, m in versions]
            results: list[Any] = []
            with _transaction(self.conn):
                for v, item in items:
                    self.node.put_item(item)
                    self._index(v, item)  # what waited for it is tried again by the next sync
                shared = self._share([(item, series_cache.get(v.series_id) or self.series(v.series_id, sync=False))
                                      for v, item in items], join=True, results=results) if federation else []
        if federation is not None:
            federation.notify_queued(self.node, results)  # committed: wake the delivery workers
        return Outcome(tuple(v for v, _ in versions), tuple(shared))

    def _index(self, v: SignedVersion, item: Item) -> list[str]:
        """Index ``v``; return the ids of the items that waited for it (released)."""
        try:
            self.conn.execute(
                "INSERT INTO dialogue_versions (record_id, version, kind, series_id, item_id, digest, signer, "
                "signed_at, marking, body) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (v.record_id, v.version, v.kind, v.series_id, item.id, v.digest(), v.signer, v.signed_at,
                 str(item.marking), json.dumps(v.to_body(), ensure_ascii=False, sort_keys=True)))
        except IntegrityError:
            row = self.conn.execute("SELECT digest, item_id FROM dialogue_versions WHERE record_id=? AND "
                                    "version=?", (v.record_id, v.version)).fetchone()
            raise VerificationError(f"{v.kind} {v.record_id}: version {v.version} is already held "
                                    f"(item {row['item_id'] if row else '?'}); a record cannot fork",
                                    expected=row["digest"] if row else None, actual=v.digest()) from None
        return waiting.release(self.conn, v)

    def _share(self, batch: list[tuple[Item, Series]], *, join: bool = False,
               results: list[Any] | None = None) -> list[tuple[str, str, str]]:
        """Queue items to the other parties of their series through federation (policy decides).

        One federation transaction per partner (``share_many``: all of that partner's items, or —
        when the policy denies one — none, each reported with the reason). ``join``: inside the
        caller's open transaction, each partner's queueing under a savepoint; the queued results
        are added to ``results`` so the caller can wake the workers once it has committed.
        """
        federation = _federation()
        if federation is None:  # pragma: no cover - federation always ships with the node
            return []
        per_party: dict[str, list[Item]] = {}
        for item, series in batch:
            for party in series.parties:
                if party != self.node.party:
                    per_party.setdefault(party, []).append(item)
        out: list[tuple[str, str, str]] = []
        for party, items in per_party.items():
            try:  # refusals (policy, a partner no longer pinned) come before anything is written
                entries = federation.plan_share(self.node, items, party)
            except PolicyDenied:  # default deny is an answer, not a failure of the write
                for item in items:  # say why, item by item
                    try:
                        self.node.decide(item, party).raise_if_denied(item, party)
                        out.append((item.id, party, "not shared: another item of the batch was refused"))
                    except AccordError as exc:
                        why = "; ".join(getattr(exc, "reasons", None) or []) or str(exc)
                        out.append((item.id, party, f"not shared: {why}"))
                continue
            except AccordError as exc:  # e.g. a party no longer pinned as a partner
                out += [(item.id, party, f"not shared: {exc}") for item in items]
                continue
            # a failure while queueing is a failure of the write (joined: it rolls back)
            got = federation.enqueue(self.node, entries, join=join)
            if results is not None:
                results.extend(got)
            out += [(r.item_id, party, r.status) for r in got]
        return out

    def share_all(self) -> Outcome:
        """(Re-)share every dialogue version this node signed with the other parties of its series.

        Idempotent (federation dedupes per item and partner); use it after an agreement covering
        ``dialogue.*`` is added, or for versions written with ``share=False``.
        """
        self.sync()
        series: dict[str, Series] = {}
        batch = []
        for row in self._rows("SELECT item_id, series_id FROM dialogue_versions WHERE signer=? ORDER BY kind DESC, "
                              "record_id, version", (self.node.party,)):
            if row["series_id"] not in series:
                series[row["series_id"]] = self.series(row["series_id"], sync=False)
            batch.append((self.node.get_item(row["item_id"]), series[row["series_id"]]))
        return Outcome((), tuple(self._share(batch)))

    def create_series(self, spec: SeriesIn | dict, *, share: bool = True) -> Outcome:
        """Create a series; every party must be this node or a pinned partner (keys to verify)."""
        return self._commit(self._series_versions(spec), share=share)

    def _series_versions(self, spec: SeriesIn | dict) -> list[tuple[SignedVersion, Marking]]:
        spec = spec if isinstance(spec, SeriesIn) else _validate(SeriesIn, spec)
        series = spec.to_series()
        known = self.known_parties()
        for i, p in enumerate(series.parties):
            check_party(p, field=f"parties[{i}]", parties=known,
                        context=f" (neither this node {self.node.party} nor a pinned partner)")
        if self.node.party not in series.parties:
            raise InputError(f"this node ({self.node.party}) is not a party of the series", field="parties")
        if self.exists(series.id):
            raise InputError(f"dialogue record {series.id!r} already exists", field="id")
        marking = Marking.parse(spec.marking) if spec.marking else default_marking(series.parties)
        return [(self._sign(series, None), marking)]

    def exists(self, record_id: str) -> bool:
        """Whether a dialogue record (series, meeting or commitment) of this id has a version here."""
        return self.conn.execute("SELECT 1 FROM dialogue_versions WHERE record_id=?", (record_id,)).fetchone() \
            is not None

    def schedule(self, series_id: str, *, count: int = 2, after: date | None = None,
                 share: bool = True) -> Outcome:
        """Plan the next ``count`` meetings of a series from its cadence (after the last one held)."""
        self.sync()
        series = self.series(series_id, sync=False)
        held = self.meetings(series_id)
        last = max((m.number for m in held), default=0)
        after = after or self._now().date()
        slots = next_occurrences(series, after=after, count=count, min_number=last + 1)
        marking = self._marking_of(series_id)
        versions = []
        for occ in slots:
            m = Meeting(f"{series.id}-M{occ.number}", series.id, occ.number, MeetingStatus.PLANNED, occ.date,
                        occ.host, occ.place).validate(series)
            versions.append((self._sign(m, None), marking))
        return self._commit(versions, share=share)

    def record_meeting(self, series_id: str, spec: MeetingIn | dict, *, source: str | None = None,
                       root: Any = None, prefix: tuple = (), share: bool = True) -> Outcome:
        """Record a held meeting, its decisions and its commitments (all proposed) in one write.

        A commitment whose requested ``status`` is beyond ``proposed`` is taken further in the same
        write only if this node's party owns it (agreement needs the owner's signature); the
        others stay proposed until their owner agrees on its own node.
        """
        self.sync()
        spec = spec if isinstance(spec, MeetingIn) else _validate(MeetingIn, spec, source=source)
        series = self.series(series_id, sync=False)
        versions = self._meeting_versions(series, self._marking_of(series_id), spec, self.meetings(series_id),
                                          set(), source=source, root=root, prefix=prefix)
        return self._commit(versions, share=share)

    def _meeting_versions(self, series: Series, marking: Marking, spec: MeetingIn, held: list[Meeting],
                          used: set[str], *, source: str | None, root: Any,
                          prefix: tuple) -> list[tuple[SignedVersion, Marking]]:
        """Sign the meeting and its commitments; ``used`` collects ids taken in the same write."""
        existing = {m.number: m for m in held}
        number = spec.number or (max(existing, default=0) + 1)
        occ = occurrence(series, number)
        try:
            meeting = spec.to_meeting(series, number, occ.host, occ.place)
        except InputError as exc:
            raise located(exc, source=source, root=root, prefix=prefix) from None
        prev_meeting = None
        if meeting.id in used:
            raise located(InputError(f"meeting {meeting.id} appears twice", field="number"),
                          source=source, root=root, prefix=prefix)
        if self.exists(meeting.id):
            prev_meeting = self.latest(meeting.id, kind=KIND_MEETING, sync=False)
            old = cast(Meeting, prev_meeting.value)
            if old.status != MeetingStatus.PLANNED:
                raise located(InputError(f"meeting {meeting.id} is already recorded as {old.status.value}",
                                         field="number"), source=source, root=root, prefix=prefix)
        used.add(meeting.id)
        commitments: list[tuple[Commitment, Status]] = []
        for i, cin in enumerate(spec.commitments):
            try:
                c = cin.to_commitment(series, meeting.id, f"{meeting.id}-C{i + 1}")
                if c.id in used or self.exists(c.id):
                    raise InputError(f"commitment id {c.id!r} is already used", field="id")
            except InputError as exc:
                raise located(exc, source=source, root=root, prefix=prefix + ("commitments", i)) from None
            used.add(c.id)
            commitments.append((c, cin.status))
        meeting = Meeting(**{**meeting.__dict__, "outcomes": tuple(c.id for c, _ in commitments)})
        versions: list[tuple[SignedVersion, Marking]] = [
            (self._sign(meeting, prev_meeting, {"record": meeting.status.value}), marking)]
        for c, target in commitments:
            versions += [(v, marking) for v in self._path_to(c, target, series)]
        return versions

    def _path_to(self, c: Commitment, target: Status, series: Series) -> list[SignedVersion]:
        """Version 1 (proposed) and, if this node owns it, the steps to ``target``."""
        out = [self._sign(c, None, {"propose": True})]
        if target == Status.PROPOSED or c.owner != self.node.party:
            return out
        steps = steps_to(Status.PROPOSED, target)
        cur = c
        for st in steps:
            change = CommitmentChange(status=st)
            cur = apply_change(cur, change, series)
            out.append(self._sign(cur, out[-1], change.to_json()))
        return out

    def add_commitment(self, meeting_id: str, spec: CommitmentIn | dict, *, share: bool = True) -> Outcome:
        """Propose a commitment at a recorded meeting (a new record; the meeting is not rewritten)."""
        self.sync()
        spec = spec if isinstance(spec, CommitmentIn) else _validate(CommitmentIn, spec)
        meeting = cast(Meeting, self.latest(meeting_id, kind=KIND_MEETING, sync=False).value)
        series = self.series(meeting.series_id, sync=False)
        n = 1 + sum(1 for c, _ in self.commitments(series.id) if c.meeting_id == meeting_id)
        default_id = f"{meeting_id}-C{n}"
        while self.exists(default_id):
            n += 1
            default_id = f"{meeting_id}-C{n}"
        c = spec.to_commitment(series, meeting_id, default_id)
        if self.exists(c.id):
            raise InputError(f"commitment id {c.id!r} is already used", field="id")
        versions = self._path_to(c, spec.status, series)
        marking = self._marking_of(series.id)
        return self._commit([(v, marking) for v in versions], share=share)

    def update_commitment(self, record_id: str, spec: CommitmentUpdateIn | CommitmentChange | dict, *,
                          share: bool = True) -> Outcome:
        """Sign and store the next version of a commitment, as this node's party.

        Refused before anything is signed when this node may not make the change: an agreed (or
        later) commitment of another party raises :class:`~accord.errors.NotOwnerError`.
        """
        self.sync()
        if isinstance(spec, dict):
            spec = _validate(CommitmentUpdateIn, spec)
        change = spec if isinstance(spec, CommitmentChange) else CommitmentChange(
            status=spec.status, text=spec.text, due=spec.due, add_evidence=tuple(spec.add_evidence),
            add_links=tuple(Link(x.kind, x.ref) for x in spec.add_links), note=spec.note)
        prev = self.latest(record_id, kind=KIND_COMMITMENT, sync=False)
        old = cast(Commitment, prev.value)
        series = self.series(old.series_id, sync=False)
        new = apply_change(old, change, series)
        try:
            check_commitment_update(old, new, signer=self.node.party)
        except NotOwnerError as exc:
            raise NotOwnerError(f"{exc.args[0].split(' (expected')[0]}; this node is {self.node.party}, "
                                f"so the change is refused — ask {old.owner} to make it on its node",
                                expected=old.owner, actual=self.node.party) from None
        v = self._sign(new, prev, change.to_json())
        return self._commit([(v, self._marking_of(record_id))], share=share)

    def load(self, data: DialogueFile, *, source: str | None = None, root: Any = None,
             share: bool = True) -> Outcome:
        """Load a dialogue file — the series (if new) and its meetings — in ONE write: a bad
        meeting anywhere in the file leaves nothing stored."""
        self.sync()
        versions: list[tuple[SignedVersion, Marking]] = []
        if self.exists(data.series.id):
            series = self.series(data.series.id, sync=False)
            marking = self._marking_of(series.id)
            held = self.meetings(series.id)
        else:
            try:
                versions += self._series_versions(data.series)
            except InputError as exc:
                raise located(exc, source=source, root=root, prefix=("series",)) from None
            series, marking = cast(Series, versions[0][0].value), versions[0][1]
            held = []
        used: set[str] = set()
        for i, m in enumerate(data.meetings):
            mv = self._meeting_versions(series, marking, m, held, used, source=source, root=root,
                                        prefix=("meetings", i))
            held = held + [cast(Meeting, mv[0][0].value)]
            versions += mv
        return self._commit(versions, share=share)

    # --- receiving --------------------------------------------------------------------------
    def sync(self) -> tuple[int, int]:
        """Index dialogue items held by the node but not yet indexed (e.g. received from partners).

        Versions are verified in (record, version) order; one whose predecessor (or series) is not
        here yet waits (:mod:`accord.dialogue.waiting`) and is tried again only once that is
        indexed — in this sync or a later one. Returns (indexed, rejected).
        """
        # what is unindexed is read under the lock that the indexing takes: read outside it, two
        # syncs could both see an item and the second reject it as a fork of itself, or a sync
        # could see another thread's uncommitted item (on the shared connection)
        with _write_lock(self.node):
            todo = self._parsed(self._unindexed_items())  # a stack: the next to try is last
            if not todo:
                return 0, 0
            n_ok = n_bad = 0
            with _transaction(self.conn):
                while todo:
                    v, item, err = todo.pop()
                    if v is not None:
                        got = self._try_index(v, item)
                        if isinstance(got, list):  # indexed: what waited for it is tried next
                            n_ok += 1
                            todo += self._parsed([self.node.get_item(i) for i in got])
                            continue
                        if got is None:  # waiting for its predecessor, or held already
                            continue
                        err = got
                    self._reject(item, err or "malformed")
                    n_bad += 1
        return n_ok, n_bad

    @staticmethod
    def _parsed(items: list[Item]) -> list[tuple[SignedVersion | None, Item, str | None]]:
        """(version or None, item, why it does not parse), last the first to try: series, then
        meetings, then commitments, each record's versions in order."""
        out: list[tuple[SignedVersion | None, Item, str | None]] = []
        for item in items:
            try:
                out.append((SignedVersion.from_item(item), item, None))
            except AccordError as exc:
                out.append((None, item, str(exc)))
        order = {KIND_SERIES: 0, KIND_MEETING: 1, KIND_COMMITMENT: 2}
        out.sort(key=lambda t: (order[t[1].kind], t[0].record_id if t[0] else "", t[0].version if t[0] else 0),
                 reverse=True)
        return out

    def _unindexed_items(self) -> list[Item]:
        """Dialogue items the node holds that are neither indexed, rejected nor waiting.

        Fast path: an anti-join on the node's ``items`` table (only the new items are parsed, so
        a read costs nothing when nothing arrived); falls back to ``node.items(kind)``.
        """
        marks = ",".join("?" * len(KINDS))
        try:
            ids = [r[0] for r in self.conn.execute(
                f"SELECT id FROM items WHERE kind IN ({marks}) AND id NOT IN (SELECT item_id FROM "
                "dialogue_versions) AND id NOT IN (SELECT item_id FROM dialogue_rejected) AND id NOT IN "
                "(SELECT item_id FROM dialogue_waiting) ORDER BY id", KINDS)]
        except OperationalError:  # a node without the documented items table
            done = {r[0] for r in self.conn.execute("SELECT item_id FROM dialogue_versions UNION "
                                                    "SELECT item_id FROM dialogue_rejected UNION "
                                                    "SELECT item_id FROM dialogue_waiting")}
            return [i for kind in KINDS for i in self.node.items(kind=kind) if i.id not in done]
        return [self.node.get_item(i) for i in ids]

    def _try_index(self, v: SignedVersion, item: Item) -> list[str] | str | None:
        """Indexed: the ids of the items that waited for it; None when it now waits for its
        predecessor or its series, or this very version is held already; else the rejection reason."""
        held = self.conn.execute("SELECT * FROM dialogue_versions WHERE record_id=? ORDER BY version DESC "
                                 "LIMIT 1", (v.record_id,)).fetchone()
        held_version = held["version"] if held else 0
        if v.version > held_version + 1:
            return self._wait(v, item)
        if v.version <= held_version:
            same = self.conn.execute("SELECT digest FROM dialogue_versions WHERE record_id=? AND version=?",
                                     (v.record_id, v.version)).fetchone()
            if same is not None and same["digest"] == v.digest():
                # the very version is held already (indexed from another copy of the item, or by
                # another process syncing the same database): nothing to do, and no fork
                return None
            return f"fork: version {v.version} of {v.record_id} is already held with digest {same['digest']}"
        prev = self._version(held) if held else None
        try:
            if v.kind == KIND_SERIES:
                series: Series | None = cast(Series, prev.value) if prev else None
            else:  # a later version is judged in its first version's series (a move is refused)
                series = self.series(prev.series_id if prev else v.series_id, sync=False)
            verify_version(v, prev=prev, series=series, key_for=self.key_for)
        except NotFoundError:
            sid = prev.series_id if prev else v.series_id
            if v.kind != KIND_SERIES and self.conn.execute(
                    "SELECT 1 FROM dialogue_versions WHERE record_id=? AND kind<>?", (sid, KIND_SERIES)).fetchone():
                return f"its series_id {sid!r} names a dialogue record that is not a series"
            return self._wait(v, item)  # the series has not arrived yet
        except (AccordError, KeyError) as exc:
            return str(exc)
        return self._index(v, item)

    def _wait(self, v: SignedVersion, item: Item) -> str | None:
        return waiting.wait(self.conn, v, item.id, item.originator, to_rfc3339(self._now()))

    def _reject(self, item: Item, reason: str) -> None:
        now = self._now()
        self.conn.execute("INSERT OR IGNORE INTO dialogue_rejected (item_id, digest, reason, at) VALUES (?,?,?,?)",
                          (item.id, item.digest(), reason, to_rfc3339(now)))
        ledger = getattr(self.node, "ledger", None)
        if ledger is not None:
            ledger.append("item.rejected", {"item_id": item.id, "digest": item.digest(),
                                            "reason": f"dialogue: {reason}"[:500]}, time=now)

    def rejected(self) -> list[dict[str, str]]:
        return [dict(r) for r in self._rows("SELECT * FROM dialogue_rejected ORDER BY at, item_id")]


_M = TypeVar("_M", bound="BaseModel")


def _validate(model: type[_M], data: dict, *, source: str | None = None) -> _M:
    from pydantic import ValidationError

    from accord.dialogue.inputs import validation_error
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source=source) from None


__all__ = ["DDL", "DialogueStore", "Outcome", "default_marking"]
