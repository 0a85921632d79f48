"""Accord: an open platform for allied defence cooperation.

Each nation runs a node; nodes share only what their agreements allow, every item is signed,
and every exchange lands in an audit ledger that each partner can verify.
"""

__version__ = "0.1.0"

import logging as _logging

# A library emits and the application decides (`accord node serve` configures logging through
# accord.logs): without this, Python's last-resort handler would print every warning — a
# refusal, an alert issued — to the stderr of commands such as `accord demo` or an exercise.
_logging.getLogger("accord").addHandler(_logging.NullHandler())
