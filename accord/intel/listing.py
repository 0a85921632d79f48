"""The intel store's read path: :func:`conditions` turns TAXII filters (:class:`~accord.intel.records.Filters`)
and the reader's party into the SQL conditions on ``intel_objects``; :class:`Cursors` signs and
checks the paging tokens (``next``) with the secret kept in ``intel_meta``; :func:`body_for` is an
object's text as a party reads it (redacted by its granular markings).

:func:`newest` and :func:`count_visible` are the console's intel board's reads: the objects a
party may see, newest ``date_added`` first, a bounded number at a time from a position
(``date_added``, ``seq``: the order every collection's index walks), and how many there are up
to a cap — each bounded however long the node's history.

:class:`accord.intel.store.IntelStore` pages and serves objects, manifests and versions with
these; the table and its id hash are :mod:`accord.intel.tables`'.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from accord.errors import InputError
from accord.intel import markings as mk
from accord.intel.records import Filters, parse_timestamp_us
from accord.intel.tables import id_hash
from accord.intel.validate import version_key


_HEX64 = re.compile(r"(?:0|[1-9a-f][0-9a-f]{0,15})")


@dataclass(frozen=True)
class Cursors:
    """Paging tokens: ``<date_added>.<seq>.<MAC>`` in hex, the MAC over the listing's scope, so a
    token resumes only the listing that made it, on any worker and after a restart."""

    secret: bytes = field(repr=False)

    def sign(self, scope: str, date_added: int, seq: int) -> str:
        """The paging token that resumes listing ``scope`` after the row (``date_added``, ``seq``)."""
        mac = hmac.new(self.secret, f"{scope}|{date_added}|{seq}".encode(), hashlib.sha256).digest()[:12]
        return f"{date_added:x}.{seq:x}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def unsign(self, scope: str, token: str) -> tuple[int, int]:
        """The (``date_added``, ``seq``) a token of ``scope`` resumes after; :class:`InputError` if
        it is malformed, altered or of another listing."""
        # each number as sign() writes it, 64 bits at most: int(a, 16) reads any length, and a
        # 5,000-digit one made str() in sign() a ValueError (a 500)
        parts = token.split(".") if isinstance(token, str) else []
        if len(parts) != 3 or not all(_HEX64.fullmatch(p) for p in parts[:2]):
            raise InputError("malformed paging token", field="next")
        date_added, seq = int(parts[0], 16), int(parts[1], 16)
        if not hmac.compare_digest(self.sign(scope, date_added, seq), token):
            raise InputError("paging token does not belong to this listing or was altered", field="next")
        return date_added, seq


def conditions(coll: str, party: str, f: Filters, default_version: str, object_id: str | None, *,
               home: str, curating: bool = False, own_shadowed: bool = True) -> tuple[list[str], list[Any]] | None:
    """The conditions (SQL, arguments) selecting the rows of ``coll`` that ``party`` may see and
    ``f`` asks for (``default_version`` when ``f`` names none; one object's if ``object_id``),
    or None if none can match. ``home`` is the store's own party: it may read every row that
    is not shadowed, and ``curating`` (a delete by the node) every row. Another party reads the
    rows releasable to it that are not shadowed or that it wrote: a writer's versions of an id
    another originator owns are served to that writer only (:mod:`accord.intel.adding`) — or,
    without ``own_shadowed``, only those that are not shadowed: what the node gives every reader
    (an export for that party)."""
    where: list[str] = ["collection = ?"]
    args: list[Any] = [coll]
    if party != home and own_shadowed:
        where.append("(rel = '|*|' OR instr(rel, ?) > 0) AND (shadowed = 0 OR originator = ?)")
        args.extend((f"|{party}|", party))
    elif party != home:
        where.append("(rel = '|*|' OR instr(rel, ?) > 0) AND shadowed = 0")
        args.append(f"|{party}|")
    elif not curating:
        where.append("shadowed = 0")
    if object_id is not None:
        where.append("idh = ? AND stix_id = ?")
        args.extend((id_hash(object_id), object_id))
    if f.added_after is not None:
        where.append("date_added > ?")
        args.append(f.added_after)
    if f.ids:
        marks = ",".join("?" * len(f.ids))
        where.append(f"idh IN ({marks}) AND stix_id IN ({marks})")
        args.extend(id_hash(i) for i in f.ids)
        args.extend(f.ids)
    if f.types:
        where.append(f"type IN ({','.join('?' * len(f.types))})")
        args.extend(f.types)
    if f.spec_versions and "2.1" not in f.spec_versions:
        return None  # this store holds STIX 2.1 only
    versions = f.versions or (default_version,)
    if "all" not in versions:
        conds, vargs = [], []
        for v in versions:
            if v == "first":
                conds.append("is_first = 1")
            elif v == "last":
                conds.append("is_last = 1")
            else:
                parse_timestamp_us(v, field="match[version]")
                conds.append("vkey = ?")
                vargs.append(version_key(v))
        where.append("(" + " OR ".join(conds) + ")")
        args.extend(vargs)
    return where, args


def body_for(row: Any, party: str, home: str) -> str:
    """The JSON text of the object in ``row`` as ``party`` reads it: redacted by the row's
    granular-marking plan for any party but ``home`` (the store's own), which reads it whole."""
    if row["granular"] and party != home:
        obj = mk.redact(json.loads(row["body"]), json.loads(row["granular"]), party)
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return str(row["body"])


class Listed(NamedTuple):
    """One object of :func:`newest`: its position, its text as the reader reads it, its originator."""

    date_added: int
    seq: int
    text: str
    originator: str


def _older(before: tuple[int, int] | None) -> tuple[list[str], list[Any]]:
    """The condition "older than the position ``before``", in the form the index seeks to (as in
    IntelStore's paging: PostgreSQL cannot seek on an OR)."""
    if before is None:
        return [], []
    return ["date_added <= ? AND (date_added < ? OR seq < ?)"], [before[0], before[0], before[1]]


def newest(store: Any, coll: str, party: str, f: Filters, *, before: tuple[int, int] | None, limit: int,
           window: int) -> tuple[list[Listed], tuple[int, int] | None]:
    """At most ``limit`` of the objects of collection ``coll`` (an id) that ``party`` may see and
    ``f`` asks for (last versions by default), newest ``date_added`` first, older than the
    position ``before`` if given, among the ``window`` newest rows of the collection there; and
    the position to go on from (every row newer than it was examined), None at the collection's
    end. ``store``: an :class:`~accord.intel.store.IntelStore` (its connection, lock and party).

    Two queries, each bounded: the window's oldest position (``window`` entries of the
    collection's ``date_added`` index), then the rows in the window that pass the conditions —
    so a reader who may see few of the collection's objects never walks its whole history."""
    built = conditions(coll, party, f, "last", None, home=store.party)
    if built is None:
        return [], None
    where, args = built
    older, older_args = _older(before)
    with store.lock:
        edge = store.conn.execute(
            f"SELECT date_added, seq FROM intel_objects WHERE {' AND '.join(['collection = ?', *older])}"
            " ORDER BY date_added DESC, seq DESC LIMIT 1 OFFSET ?", [coll, *older_args, max(0, window - 1)]).fetchone()
        bound = [] if edge is None else ["date_added >= ? AND (date_added > ? OR seq >= ?)"]
        bound_args = [] if edge is None else [edge[0], edge[0], edge[1]]
        rows = store.conn.execute(
            f"SELECT body, granular, originator, seq, date_added FROM intel_objects"
            f" WHERE {' AND '.join([*where, *older, *bound])} ORDER BY date_added DESC, seq DESC LIMIT ?",
            [*args, *older_args, *bound_args, max(1, limit)]).fetchall()
    listed = [Listed(r["date_added"], r["seq"], body_for(r, party, store.party), r["originator"]) for r in rows]
    if len(listed) == max(1, limit):
        return listed, (listed[-1].date_added, listed[-1].seq)
    return listed, None if edge is None else (edge[0], edge[1])


def count_visible(store: Any, coll: str, party: str, f: Filters, *, cap: int) -> int:
    """How many objects of ``coll`` :func:`newest` would list for ``party`` and ``f``, counting
    at most ``cap`` (so a count costs at most ``cap`` index entries, whatever the history)."""
    built = conditions(coll, party, f, "last", None, home=store.party)
    if built is None:
        return 0
    where, args = built
    sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM intel_objects WHERE {' AND '.join(where)} LIMIT ?) AS capped"
    with store.lock:
        return int(store.conn.execute(sql, [*args, cap]).fetchone()[0])
