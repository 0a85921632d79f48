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
``reasons`` as a :class:`Reason` (passed or failed, with a code naming the check) and the last one
is the verdict, so ``accord policy explain`` can show the whole chain. ``str(reason)`` is the text
that is shown, stored and sent (``"ok: …"``, ``"no: …"``, ``"ALLOW: …"``/``"DENY: …"``).
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


#: what a :class:`Reason` reports: a check that passed, one that failed, or the final answer
OK, NO, VERDICT = "ok", "no", "verdict"


@dataclass(frozen=True)
class Reason:
    """One step of a decision: ``kind`` is :data:`OK`, :data:`NO` or :data:`VERDICT`; ``code``
    names the check (``recipient``, ``marking``, ``agreement``, ``rule``, ``kind``, ``ceiling``,
    ``no-agreement``: none names both parties, ``none-allows``: none in force allows it, ``decision``); ``text`` says it in words."""

    kind: str
    code: str
    text: str

    @property
    def passed(self) -> bool:
        return self.kind == OK

    @property
    def failed(self) -> bool:
        return self.kind == NO

    def __str__(self) -> str:
        """The wire and ledger text: ``ok: …`` / ``no: …``, or the verdict as it is."""
        return self.text if self.kind == VERDICT else f"{self.kind}: {self.text}"


def _ok(code: str, text: str) -> Reason:
    return Reason(OK, code, text)


def _no(code: str, text: str) -> Reason:
    return Reason(NO, code, text)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[Reason, ...]
    agreement_id: str | None = None     # the agreement that allowed it, if any

    @property
    def refusals(self) -> list[Reason]:
        """The checks that failed (empty when allowed)."""
        return [r for r in self.reasons if r.failed]

    @property
    def lines(self) -> tuple[str, ...]:
        """Every reason as the text shown and stored (``ok: …``, ``no: …``, the verdict)."""
        return tuple(str(r) for r in self.reasons)

    def raise_if_denied(self, item: Item, recipient: str) -> "Decision":
        """Return self if allowed, else raise :class:`PolicyDenied` carrying the failed checks."""
        if not self.allowed:
            raise PolicyDenied(f"sharing {item.id} with {recipient} is denied",
                               [str(r) for r in self.refusals], [r.text for r in self.refusals])
        return self


def decide(item: Item, recipient: str, agreements: Iterable[Agreement], now: datetime, *,
           pinned_keys: Mapping[str, Ed25519PublicKey] | None = None) -> Decision:
    """Decide whether ``item`` may be shared with ``recipient`` at ``now`` (see module docstring)."""
    o, r = item.originator, recipient
    reasons: list[Reason] = []
    if not is_party(r):
        problem = party_problem(r, what="recipient") or f"recipient {r!r} is not a party"
        return Decision(False, (_no("recipient", problem),
                                Reason(VERDICT, "decision", f"DENY: {item.id} → {r!r} (default deny)")))
    if r == o:
        return Decision(False, (_no("recipient", f"recipient {r} is the originator itself"),
                                Reason(VERDICT, "decision", f"DENY: {item.id} → {r} (default deny)")))

    refusal = item.marking.release_refusal(r)
    releasable = refusal is None
    reasons.append(_ok("marking", f"marking {item.marking} releases it to {r}") if releasable
                   else _no("marking", str(refusal)))

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
            reasons.extend(_no("agreement", f"{name}: {p}") for p in problems)
            continue
        reasons.append(_ok("agreement", f"{name} is in force (signed by {', '.join(a.parties)}; "
                           f"valid {a.valid_from:%Y-%m-%d} to {a.valid_until:%Y-%m-%d})"))
        rules = a.rules_for(o, r)
        if not rules:
            reasons.append(_no("rule", f"{name} has no rule {o} → {r}"))
            continue
        covering = [rule for rule in rules if rule.covers(item.kind)]
        if not covering:
            pats = ", ".join(p for rule in rules for p in rule.kinds)
            reasons.append(_no("kind", f"{name}: rule {o} → {r} covers {pats}, not {item.kind}"))
            continue
        best = max(covering, key=lambda rule: rule.max_classification)
        if level > best.max_classification:
            reasons.append(_no("ceiling", f"{name}: {item.kind} is {level.banner}, above the {o} → {r} "
                               f"ceiling {best.max_classification.banner}"))
            continue
        reasons.append(_ok("rule", f"{name}: rule {o} → {r} covers {item.kind} up to "
                           f"{best.max_classification.banner} (item is {level.banner})"))
        allowed_by = allowed_by or a.id
    if considered == 0:
        reasons.append(_no("no-agreement", f"no agreement names both {o} and {r}"))
    elif allowed_by is None:
        reasons.append(_no("none-allows", f"no agreement in force allows {item.kind} at {level.banner} "
                                           f"from {o} to {r}"))

    allowed = releasable and allowed_by is not None
    reasons.append(Reason(VERDICT, "decision", f"{'ALLOW' if allowed else 'DENY'}: {item.id} → {r}"
                          + (f" under {allowed_by}" if allowed else " (default deny)")))
    return Decision(allowed, tuple(reasons), allowed_by if allowed else None)
