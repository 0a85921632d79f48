"""The intel store's read path: :func:`conditions` turns TAXII filters (:class:`~accord.intel.records.Filters`)
and the reader's party into the SQL conditions on ``intel_objects``; :class:`Cursors` signs and
checks the paging tokens (``next``) with the secret kept in ``intel_meta``.

:class:`accord.intel.store.IntelStore` pages and serves objects, manifests and versions with
these; the table and its id hash are :mod:`accord.intel.tables`'.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

from accord.errors import InputError
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
