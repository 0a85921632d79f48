"""Accord: an open platform for allied defence cooperation.

Each nation runs a node; nodes share only what their agreements allow, every item is signed,
and every exchange lands in an audit ledger that each partner can verify.
"""

__version__ = "0.1.0"
