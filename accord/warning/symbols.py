"""MIL-STD-2525D / APP-6 symbol identification codes (SIDCs) for what the maps draw.

The console's live picture draws each symbol in the browser with the vendored milsymbol.js
(``accord/console/static/vendor/``, MIT) from the ``data-sidc`` attribute the server writes; the
after-action report draws the same symbols from ``symbols.json`` beside this module, which
milsymbol.js rendered once (``node tools/render_symbols.js``), so it needs no script.

A 2525D SIDC is 20 digits: version ``10`` (2525D), standard identity (context ``0`` reality and
the affiliation: ``3`` friend, ``5`` suspect), symbol set, status (``0`` present, ``1``
planned/anticipated: a dashed frame), headquarters/task force/dummy, amplifier, the six-digit
entity and two modifiers. Accord's choices (docs/console.md), consistent with the CoT types the
TAK output uses (a missile track ``a-s-A-W-M-S-S``, a radar ``a-f-G-E-S-R``):

* a **radar** is a friend's ground sensor — own or a partner's, allies are friends in 2525 terms:
  land equipment, sensor, radar;
* a **track** is a ballistic missile in flight, **suspect**: Accord tracks an object rising from the
  ground but does not identify it, so it claims "potentially hostile", not hostile: air missile,
  modifier ballistic. Own and partner tracks differ by colour and dash, not by symbol (the
  affiliation is the object's, not the reporter's);
* a **predicted launch point** is a suspect missile launcher, status anticipated (the report's
  true launch points: the same, present);
* a **predicted impact point** and a **true impact point** (the report) are the control-measure
  points of those names.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

RADAR = "10031500002203000000"  # friend, land equipment, sensor / radar
TRACK = "10050200001100000600"  # suspect, air missile, missile, modifier 1: ballistic
LAUNCH = "10051510001110000000"  # suspect, land equipment, anticipated, missile launcher
LAUNCH_SITE = "10051500001110000000"  # suspect, land equipment, missile launcher (the report's truth)
IMPACT = "10052500002109000000"  # suspect, control measure, predicted impact point
TRUE_IMPACT = "10052500002108000000"  # suspect, control measure, impact point (the report's truth)

LEGEND = ((RADAR, "legend_radar"), (TRACK, "legend_track"), (LAUNCH, "legend_launch"), (IMPACT, "legend_impact"))
"""The console legend's symbols and their i18n keys."""

SYMBOL_SIZE = 18  # milsymbol's size option: the icon's height in px (the frame is larger)

RENDERED = Path(__file__).parent / "symbols.json"


@lru_cache(maxsize=1)
def _file() -> dict[str, Any]:
    return dict(json.loads(RENDERED.read_text(encoding="utf-8")))


def rendered() -> dict[str, Any]:
    """The pre-rendered symbols: {sidc: {"svg", "anchor": [x, y], "size": [w, h]}} (``symbols.json``)."""
    return dict(_file()["symbols"])


def generator() -> str:
    """What rendered ``symbols.json`` (milsymbol's version)."""
    return str(_file()["generator"])
