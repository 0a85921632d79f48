"""Party codes: ISO 3166-1 alpha-3, checked against the standard's list, not only its shape.

A party is a nation, named by its ISO 3166-1 alpha-3 code in upper case (``JPN``, ``KOR``,
``USA``). The list of officially assigned codes comes from ``pycountry`` (the ISO 3166-1
table of the Debian ``iso-codes`` project), so ``JAP`` or ``KRO`` — three upper-case letters,
but no country — are refused everywhere a party is named: node and partner parties, markings'
``REL TO``, agreements and their rules, sharing rules and ``--to``, dialogue records, tokens,
exercise scenarios.

No non-country code is accepted. The codes Accord writes are nodes' parties, ledger origins
(``accord.node/JPN/…``) and ``REL TO`` entries, and each must name one sovereign signer: a
node belongs to one nation, and an agreement is signed by each of its parties. Group
tetragraphs (``NATO``, ``FVEY``) and the codes ISO 3166-1 leaves to its users (``AAA``–``AAZ``,
``QMA``–``QZZ``, ``XAA``–``XZZ``, ``ZZA``–``ZZZ``, such as ``XKX``) name no signer Accord could
pin a key for; a release to a group is written out as its member nations. Neither the code
nor its tests or exercise scenarios use any such code; :data:`NON_COUNTRY_PARTIES` is where one
would be added, with the reason.
"""

from __future__ import annotations

from functools import cache

from accord.errors import MarkingError, shown

#: Codes accepted as parties although ISO 3166-1 assigns them to no country, with the reason
#: for each. Empty: see the module docstring.
NON_COUNTRY_PARTIES: dict[str, str] = {}


@cache
def party_codes() -> frozenset[str]:
    """Every accepted party code: ISO 3166-1 alpha-3 (officially assigned) plus
    :data:`NON_COUNTRY_PARTIES`. Loaded once, on first use (pycountry reads its tables then)."""
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.countries) | frozenset(NON_COUNTRY_PARTIES)


def is_party(party: object) -> bool:
    """Whether ``party`` is an accepted party code (ISO 3166-1 alpha-3, upper case)."""
    return isinstance(party, str) and party in party_codes()


def party_problem(party: object, *, what: str = "party") -> str | None:
    """Why ``party`` is not an accepted party code (one line naming it), or ``None``."""
    if is_party(party):
        return None
    if isinstance(party, str) and len(party) == 3 and party.isascii() and party.isalpha() and party.isupper():
        return f"{what} {party!r} is not an ISO 3166-1 alpha-3 country code (unknown party code)"
    return f"{what} {shown(party)} is not an ISO 3166-1 alpha-3 code in upper case (e.g. JPN)"


def check_party(party: object, *, what: str = "party") -> str:
    """Return ``party`` if it is an accepted party code, else raise :class:`MarkingError`."""
    problem = party_problem(party, what=what)
    if problem is not None:
        raise MarkingError(problem)
    return party  # type: ignore[return-value]
