"""Sharing policy: may this item go to that partner now? Default deny, with reasons.

:func:`decide` is pure (values in, a :class:`Decision` out). An item may go from its originator
``o`` to ``recipient`` ``r`` at time ``now`` iff **all** of:

1. ``r`` is a well-formed party other than ``o``;
2. the item's marking releases it to ``r`` (``r`` in ``REL TO``, not ``TLP:RED`` —
   :meth:`accord.core.markings.Marking.release_refusal`);
3. some agreement ``A`` names both ``o`` and ``r`` and is in force at ``now``: every party has
   signed this exact body under the key it names (and, if ``pinned_keys`` is given, that key is
   the pinned one), and ``A.valid_from <= now < A.valid_until``
   (:func:`accord.core.agreements.agreement_problems`);
4. ``A`` has a rule ``o → r`` whose kind patterns match the item's kind (``fnmatch``) and whose
   ``max_classification >= item.marking.classification``.

If no agreement satisfies 3 and 4, the answer is no. Every check that was made is reported in
``reasons`` (``"ok: …"`` or ``"no: …"``) so ``accord policy explain`` can show the whole chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accord.core.agreements import Agreement, agreement_problems
from accord.core.items import Item
from accord.core.parties import is_party, party_problem
from accord.errors import PolicyDenied


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[str, ...]
    agreement_id: str | None = None     # the agreement that allowed it, if any

    def raise_if_denied(self, item: Item, recipient: str) -> "Decision":
        """Return self if allowed, else raise :class:`PolicyDenied` carrying the ``no:`` reasons."""
        if not self.allowed:
            raise PolicyDenied(f"sharing {item.id} with {recipient} is denied",
                               [r for r in self.reasons if r.startswith("no:")])
        return self


def decide(item: Item, recipient: str, agreements: Iterable[Agreement], now: datetime, *,
           pinned_keys: Mapping[str, Ed25519PublicKey] | None = None) -> Decision:
    """Decide whether ``item`` may be shared with ``recipient`` at ``now`` (see module docstring)."""
    o, r = item.originator, recipient
    reasons: list[str] = []
    if not is_party(r):
        return Decision(False, (f"no: {party_problem(r, what='recipient')}",
                                f"DENY: {item.id} → {r!r} (default deny)"))
    if r == o:
        return Decision(False, (f"no: recipient {r} is the originator itself",
                                f"DENY: {item.id} → {r} (default deny)"))

    refusal = item.marking.release_refusal(r)
    releasable = refusal is None
    reasons.append(f"ok: marking {item.marking} releases it to {r}" if releasable else f"no: {refusal}")

    level = item.marking.classification
    allowed_by: str | None = None
    considered = 0
    for a in agreements:
        if o not in a.parties or r not in a.parties:
            continue
        considered += 1
        name = f"agreement {a.id} v{a.version}"
        problems = agreement_problems(a, pinned_keys, now)
        if problems:
            reasons.extend(f"no: {name}: {p}" for p in problems)
            continue
        reasons.append(f"ok: {name} is in force (signed by {', '.join(a.parties)}; "
                       f"valid {a.valid_from:%Y-%m-%d} to {a.valid_until:%Y-%m-%d})")
        rules = a.rules_for(o, r)
        if not rules:
            reasons.append(f"no: {name} has no rule {o} → {r}")
            continue
        covering = [rule for rule in rules if rule.covers(item.kind)]
        if not covering:
            pats = ", ".join(p for rule in rules for p in rule.kinds)
            reasons.append(f"no: {name}: rule {o} → {r} covers {pats}, not {item.kind}")
            continue
        best = max(covering, key=lambda rule: rule.max_classification)
        if level > best.max_classification:
            reasons.append(f"no: {name}: {item.kind} is {level.banner}, above the {o} → {r} "
                           f"ceiling {best.max_classification.banner}")
            continue
        reasons.append(f"ok: {name}: rule {o} → {r} covers {item.kind} up to "
                       f"{best.max_classification.banner} (item is {level.banner})")
        allowed_by = allowed_by or a.id
    if considered == 0:
        reasons.append(f"no: no agreement names both {o} and {r}")
    elif allowed_by is None:
        reasons.append(f"no: no agreement in force allows {item.kind} at {level.banner} from {o} to {r}")

    allowed = releasable and allowed_by is not None
    reasons.append(f"{'ALLOW' if allowed else 'DENY'}: {item.id} → {r}"
                   + (f" under {allowed_by}" if allowed else " (default deny)"))
    return Decision(allowed, tuple(reasons), allowed_by if allowed else None)
