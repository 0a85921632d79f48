"""The store-outage record's log lines (:class:`accord.federation.store_outage.StoreOutage`): one
warning when the node database goes, one line when it is back — and a failure within
``RELAPSE_S`` of that (the pool still reconnecting while another thread already got through) is
the same outage's tail, not a second outage; a database that keeps going away is logged again."""

from __future__ import annotations

import logging

import pytest

from accord.clock import ManualClock
from accord.federation.store_outage import RELAPSE_S, StoreOutage
from accord.errors import StoreUnavailable


class Tick:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def events(caplog) -> list[str]:
    return [r.event for r in caplog.records if getattr(r, "event", None)]


def test_a_relapse_just_after_recovery_is_the_same_outage_a_later_one_is_new(caplog):
    caplog.set_level(logging.DEBUG, logger="accord.federation")
    tick = Tick()
    o = StoreOutage(ManualClock(), monotonic=tick)
    err = StoreUnavailable("couldn't get a connection after 2.00 sec")
    o.failed("deliveries", err)
    o.failed("leases", err)
    tick.t += 25
    o.ok()
    assert events(caplog) == ["store.unavailable", "store.recovered"]
    tick.t += RELAPSE_S - 1                     # the pool still reconnecting: the outage's tail
    o.failed("deliveries", err)
    assert o.away
    tick.t += 2
    o.ok()
    assert not o.away
    assert events(caplog) == ["store.unavailable", "store.recovered"]
    tick.t += 5                                 # past RELAPSE_S of the logged recovery: a new outage
    o.failed("deliveries", err)
    tick.t += 1
    o.ok()
    assert events(caplog) == ["store.unavailable", "store.recovered"] * 2


def test_without_an_earlier_outage_the_first_failure_is_logged(caplog):
    caplog.set_level(logging.INFO, logger="accord.federation")
    o = StoreOutage(ManualClock(), monotonic=Tick())
    o.ok()                                      # nothing open: nothing logged
    o.failed("deliveries", StoreUnavailable("gone"))
    assert events(caplog) == ["store.unavailable"]


def test_guard_records_the_outage_ends_it_and_lets_other_errors_through(caplog):
    """:meth:`StoreOutage.guard`, what every thread of the delivery service wraps its step in."""
    caplog.set_level(logging.INFO, logger="accord.federation")
    o = StoreOutage(ManualClock(), monotonic=Tick())
    with o.guard("retention") as step:
        raise StoreUnavailable("PostgreSQL at postgresql://u@db/accord is unavailable")
    assert step.away and o.away                 # recorded, not raised
    assert events(caplog) == ["store.unavailable"]
    assert "retention" in caplog.records[-1].getMessage()

    with pytest.raises(ValueError):             # any other error is the thread's to log
        with o.guard("standing rules"):
            raise ValueError("a bug")
    assert o.away, "a step that failed otherwise did not show the database back"

    with o.guard("tree-head checks", reached=False) as step:   # a failure path's bookkeeping
        pass
    assert not step.away and o.away, "a step that may not have touched the database ended the outage"

    with pytest.raises(ValueError):             # ... nor does it swallow other errors
        with o.guard("tree-head checks", reached=False):
            raise ValueError("a bug")

    with o.guard("partner leases") as step:
        pass
    assert not step.away and not o.away        # got through: the outage is over, said once
    assert events(caplog) == ["store.unavailable", "store.recovered"]


def test_guard_without_an_outage_logs_nothing(caplog):
    caplog.set_level(logging.DEBUG, logger="accord.federation")
    o = StoreOutage(ManualClock(), monotonic=Tick())
    with o.guard("retention") as step:
        pass
    assert not step.away and not o.away and not caplog.records
