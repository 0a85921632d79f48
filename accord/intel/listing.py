"""The intel store's read path: :func:`conditions` turns TAXII filters (:class:`~accord.intel.records.Filters`)
and the reader's party into the SQL conditions on ``intel_objects``; :class:`Cursors` seals and
opens the paging tokens (``next``) with the secret kept in ``intel_meta``.

:class:`accord.intel.store.IntelStore` pages and serves objects, manifests and versions with
these; the table and its id hash are :mod:`accord.intel.tables`'.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from accord.errors import InputError
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
