"""Who is looking, what they may see, and the banner of a page.

A console user is an API token's :class:`~accord.federation.tokens.Principal`. A token of the
node's own party sees everything the node holds (its scopes still decide which boards open); a
**partner's** token (another party, as TAXII accepts) sees an item only if it originated the item
or the node's policy would release the item to it now (:meth:`accord.node.Node.decide`: the
marking's ``REL TO`` and an agreement in force covering the kind at that level — default deny).
A partner's token never writes.

The page banner (:func:`page_marking`) is the marking that covers everything on a page: the
highest classification, the caveats of all, the parties every item is releasable to (an item
without ``REL TO`` empties the list) and the most restrictive TLP label. ``static/console.js``
combines markings by the same rules when items arrive live.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from accord.core.items import Item
from accord.core.markings import TLP_LABELS, Classification, Marking
from accord.federation.tokens import Principal

if TYPE_CHECKING:
    from accord.node import Node


@dataclass
class Viewer:
    principal: Principal
    home: str  # the node's party
    # the policy's answer depends on an item's originator, kind and marking only, so one decision
    # serves every item that shares them (a board of 10,000 tracks asks a handful of times)
    _decided: dict[tuple[str, str, str], bool] = field(default_factory=dict, repr=False, compare=False)
    # whether a version made for this partner exists, by the id of the unredacted intelligence
    # item: asked of the store once for a whole page (:meth:`visible`), not once per item
    _redacted: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    @property
    def party(self) -> str:
        return self.principal.party

    @property
    def partner(self) -> bool:
        return self.principal.party != self.home

    def may(self, scope: str) -> bool:
        return self.principal.has(scope)

    def may_write(self, scope: str) -> bool:
        return not self.partner and self.principal.has(scope)

    def sees(self, node: Node, item: Item) -> bool:
        if not self.partner or item.originator == self.party:
            return True
        return self._released(node, item) and self._own_redaction(node, item)

    def visible(self, node: Node, items: Iterable[Item]) -> list[Item]:
        """The ``items`` this viewer sees (:meth:`sees`), the store asked once for all of them
        whether a version made for this partner exists (one query per 500 items, not one per item).
        After :meth:`settle` on the same items it asks the store nothing."""
        items = list(items)
        self.settle(node, items)
        return [i for i in items if self.sees(node, i)]

    def settle(self, node: Node, items: Iterable[Item]) -> None:
        """Ask the store all that :meth:`sees` needs for ``items`` — the policy's decision for each
        (originator, kind, marking) among them, whether a redacted version exists — so that
        filtering them afterwards reads nothing more (the caller holds the node's lock for this
        only, not for the filtering)."""
        if self.partner:
            self._look_up_redactions(node, [i for i in items if i.originator != self.party and self._released(node, i)])

    def _released(self, node: Node, item: Item) -> bool:
        """The node's policy releases ``item`` to this partner (one decision per originator, kind and marking)."""
        key = (item.originator, item.kind, str(item.marking))
        if key not in self._decided:
            self._decided[key] = bool(node.decide(item, self.party).allowed)
        return self._decided[key]

    def _look_up_redactions(self, node: Node, items: list[Item]) -> None:
        from accord.intel.sharing import KIND

        wanted = sorted({i.id for i in items if i.kind == KIND and "~" not in i.id} - self._redacted.keys())
        if wanted:
            found = node.get_items([f"{base}~{self.party}" for base in wanted])
            self._redacted.update({base: f"{base}~{self.party}" in found for base in wanted})

    def _own_redaction(self, node: Node, item: Item) -> bool:
        """Whether ``item``, if it carries an intelligence object, is the version made for this
        partner. The node stores one ``intel.stix`` item per partner whose granular markings
        withhold something (id ``…~PARTY``: :func:`accord.intel.sharing.item_for`) besides the
        unredacted one: another partner's version, or the unredacted one where a version for
        this partner exists, holds properties withheld from it (its intelligence is read
        redacted on the intel board)."""
        from accord.intel.sharing import KIND

        if item.kind != KIND:
            return True
        base, _, for_party = item.id.partition("~")
        if for_party:
            return for_party == self.party
        if base not in self._redacted:  # an item not looked up with its page (:meth:`visible`)
            self._look_up_redactions(node, [item])
        return not self._redacted[base]


def page_marking(markings: Iterable[Marking]) -> Marking:
    """The marking covering all of ``markings`` (UNCLASSIFIED for an empty page)."""
    level = Classification.UNCLASSIFIED
    caveats: dict[str, None] = {}
    rel: frozenset[str] | None = None
    tlp: int = -1
    any_seen = False
    for m in markings:
        any_seen = True
        level = max(level, m.classification)
        caveats.update(dict.fromkeys(m.caveats))
        rel = m.rel_to if rel is None else rel & m.rel_to
        if m.tlp is not None:
            tlp = max(tlp, TLP_LABELS.index(m.tlp))
    if not any_seen:
        return Marking(Classification.UNCLASSIFIED)
    return Marking(level, rel or frozenset(), TLP_LABELS[tlp] if tlp >= 0 else None, tuple(caveats))


BANNER_CLASS = {
    Classification.UNCLASSIFIED: "u", Classification.RESTRICTED: "r", Classification.CONFIDENTIAL: "c",
    Classification.SECRET: "s", Classification.TOP_SECRET: "ts",
}
"""CSS class per level: the usual colours (green, blue-grey, blue, red, orange) in console.css."""
