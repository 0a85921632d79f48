"""Accord: an open platform for allied defence cooperation.

Each nation runs a node; nodes share only what their agreements allow, every item is signed,
and every exchange lands in an audit ledger that each partner can verify.
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

__version__ = "0.1.0"

# The public API: ``from accord import Node, Item, Marking, share`` … Each name is imported on
# first use (PEP 562), so ``import accord`` — and with it every CLI command's start — stays cheap.
_API: dict[str, str] = {
    # trust core
    "Item": "accord.core.items", "Marking": "accord.core.markings",
    "Classification": "accord.core.markings", "Agreement": "accord.core.agreements",
    "Rule": "accord.core.agreements", "load_agreement": "accord.core.agreements",
    "new_agreement": "accord.core.agreements", "sign_agreement": "accord.core.agreements",
    "verify_agreement": "accord.core.agreements", "decide": "accord.core.policy",
    "Decision": "accord.core.policy", "Identity": "accord.core.identity",
    "canonical_json": "accord.core.canonical",
    # a node and its federation
    "Node": "accord.node.node", "share": "accord.federation.outbox",
    "share_with": "accord.federation.outbox", "verify_node": "accord.node.verify",
    # pillars
    "Tracker": "accord.warning.tracking.tracker", "TrackerConfig": "accord.warning.tracking.tracker",
    "track_detections": "accord.warning.pipeline", "AlertEngine": "accord.warning.alerts.engine",
    "Geography": "accord.warning.alerts.geography", "IntelStore": "accord.intel.store",
    "load_scenario": "accord.exercise.scenario", "run_exercise": "accord.exercise.runner",
    # errors (accord.errors: one hierarchy under AccordError)
    **{name: "accord.errors" for name in (
        "AccordError", "InputError", "ConfigError", "NotFoundError", "VerificationError",
        "SignatureError", "PolicyDenied", "LedgerError", "StoreError", "FederationError",
        "AuthError", "StixValidationError")},
}

__all__ = [  # = the names of _API, and __version__ (tests/test_python_api.py)
    "__version__", "Item", "Marking", "Classification", "Agreement", "Rule", "load_agreement",
    "new_agreement", "sign_agreement", "verify_agreement", "decide", "Decision", "Identity",
    "canonical_json", "Node", "share", "share_with", "verify_node", "Tracker", "TrackerConfig",
    "track_detections", "AlertEngine", "Geography", "IntelStore", "load_scenario", "run_exercise",
    "AccordError", "InputError", "ConfigError", "NotFoundError", "VerificationError",
    "SignatureError", "PolicyDenied", "LedgerError", "StoreError", "FederationError", "AuthError",
    "StixValidationError",
]


def __getattr__(name: str) -> _Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'accord' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


if _TYPE_CHECKING:  # what the names are, for type checkers and editors
    from accord.core.agreements import (Agreement, Rule, load_agreement, new_agreement,
                                        sign_agreement, verify_agreement)
    from accord.core.canonical import canonical_json
    from accord.core.identity import Identity
    from accord.core.items import Item
    from accord.core.markings import Classification, Marking
    from accord.core.policy import Decision, decide
    from accord.errors import (AccordError, AuthError, ConfigError, FederationError,
                               InputError, LedgerError, NotFoundError, PolicyDenied,
                               SignatureError, StixValidationError, StoreError,
                               VerificationError)
    from accord.exercise.runner import run_exercise
    from accord.exercise.scenario import load_scenario
    from accord.federation.outbox import share, share_with
    from accord.intel.store import IntelStore
    from accord.node.node import Node
    from accord.node.verify import verify_node
    from accord.warning.alerts.engine import AlertEngine
    from accord.warning.alerts.geography import Geography
    from accord.warning.pipeline import track_detections
    from accord.warning.tracking.tracker import Tracker, TrackerConfig

import logging as _logging

# A library emits and the application decides (`accord node serve` configures logging through
# accord.logs): without this, Python's last-resort handler would print every warning — a
# refusal, an alert issued — to the stderr of commands such as `accord demo` or an exercise.
_logging.getLogger("accord").addHandler(_logging.NullHandler())
