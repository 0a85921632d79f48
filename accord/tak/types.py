"""CoT type codes and MIL-STD-2525B symbol codes (SIDCs) for what Accord sends.

A CoT ``type`` is the MIL-STD-2525B hierarchy written with dashes: ``a`` (an atom, a thing),
the affiliation (``f`` friend, ``h`` hostile, ``s`` suspect, ``u`` unknown, ``n`` neutral), the
battle dimension (``A`` air, ``G`` ground …) and the function path of 2525B's symbol code
(``W-M-S-S`` weapon, missile in flight, surface-launched, surface-to-surface). ATAK, WinTAK and
iTAK draw the 2525 symbol from the type alone; the 15-character SIDC is carried beside it in
Accord's ``<__accord sidc=…>`` detail for tools that draw from a SIDC (milsymbol and the like).

**Affiliation of a missile track.** Accord's tracker attributes nothing: a ballistic object
rising from the ground is tracked, not identified. The track is sent as **suspect** (2525B:
"a track identified as potentially hostile"), drawn like hostile (red diamond), so a TAK user
sees a threat without Accord claiming an identity it did not establish. Radars are **friend**:
they are the node's own or a partner's, and allies are friends in 2525 terms. Drawings (ellipses,
alerted areas) are ``u-d-…`` shapes, which carry no affiliation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CotKind:
    """One kind of thing Accord sends: its CoT type, 2525B SIDC (or ``None`` for a drawing),
    how it was made (CoT ``how``) and what it is, in words (docs/tak.md's table)."""

    cot_type: str
    sidc: str | None
    how: str
    what: str


#: a ballistic missile track (own radars' or a partner's): suspect air, weapon, missile in flight,
#: surface-to-surface (2525B S*APWMSS---); ``m-f``: machine-made from fused radar reports
TRACK = CotKind("a-s-A-W-M-S-S", "SSAPWMSS-------", "m-f",
                "missile track (suspect, air, missile in flight, surface-to-surface)")
#: the predicted launch point: a suspect missile launcher on the ground, status anticipated
#: (2525B S*GAEWM---); ``m-p``: machine-predicted
LAUNCH = CotKind("a-s-G-E-W-M", "SSGAEWM--------", "m-p",
                 "predicted launch point (suspect missile launcher, anticipated)")
#: the predicted impact point with its 95 % ellipse: a drawn ellipse (``<shape><ellipse>``)
IMPACT = CotKind("u-d-c-e", None, "m-p", "predicted impact point and 95 % ellipse (drawn ellipse)")
#: an alerted area from a CAP alert: a drawn closed polygon (``<link point=…>`` vertices)
AREA = CotKind("u-d-f", None, "m-p", "alerted area (drawn polygon, from the CAP alert)")
#: a radar: friendly ground equipment, sensor, radar (2525B S*GPESR---)
RADAR = CotKind("a-f-G-E-S-R", "SFGPESR--------", "h-e", "radar (friend, ground sensor)")  # warning.radar items
#: CoT's delete event: removes the drawing named by its ``<link uid=…>`` (a cancelled alert's areas)
DELETE = CotKind("t-x-d-d", None, "h-g-i-g-o", "delete (a cancelled alert's areas)")

KINDS: tuple[CotKind, ...] = (TRACK, LAUNCH, IMPACT, AREA, RADAR, DELETE)
