"""The intel store's read path: :func:`conditions` turns TAXII filters (:class:`~accord.intel.records.Filters`)
and the reader's party into the SQL conditions on ``intel_objects``; :class:`Cursors` seals and
opens the paging tokens (``next``) with the secret kept in ``intel_meta``; :func:`body_for` is an
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
import struct
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from accord.errors import InputError
from accord.intel import markings as mk
from accord.intel.records import Filters, parse_timestamp_us
from accord.intel.tables import id_hash
from accord.intel.validate import version_key


_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes in base64url, unpadded
_POSITION = struct.Struct(">qq")  # (date_added, seq)


class Cursors:
    """Paging tokens: the position a listing resumes after (``date_added``, ``seq``) sealed with
    AES-SIV under a key derived from the store's secret, the listing's scope as associated data.
    A token is opaque — ``seq`` numbers the rows of every collection, so in clear it told a reader
    how many objects were stored between two of its own, in collections it cannot see — and
    cannot be forged or altered; it resumes only the listing that made it, on any worker and after
    a restart (nothing is kept per token)."""

    def __init__(self, secret: bytes) -> None:
        key = b"".join(hmac.new(secret, f"accord intel paging token {n}".encode(), hashlib.sha256).digest()
                       for n in (1, 2))
        self._siv = AESSIV(key)  # AES-256-SIV: deterministic, so the same position gives the same token

    def __repr__(self) -> str:
        return "Cursors(…)"

    def sign(self, scope: str, date_added: int, seq: int) -> str:
        """The paging token that resumes listing ``scope`` after the row (``date_added``, ``seq``)."""
        sealed = self._siv.encrypt(_POSITION.pack(date_added, seq), [scope.encode("utf-8", "surrogatepass")])
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def unsign(self, scope: str, token: str) -> tuple[int, int]:
        """The (``date_added``, ``seq``) a token of ``scope`` resumes after; :class:`InputError` if
        it is malformed, altered or of another listing."""
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise InputError("malformed paging token", field="next")
        sealed = base64.urlsafe_b64decode(token + "=")
        altered = InputError("paging token does not belong to this listing or was altered", field="next")
        if base64.urlsafe_b64encode(sealed).decode().rstrip("=") != token:  # its unused low bits set
            raise altered
        try:
            position = self._siv.decrypt(sealed, [scope.encode("utf-8", "surrogatepass")])
        except InvalidTag:
            raise altered from None
        date_added, seq = _POSITION.unpack(position)
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
