"""The store-outage record's log lines (:class:`accord.federation.store_outage.StoreOutage`): one
warning when the node database goes, one line when it is back — and a failure within
``RELAPSE_S`` of that (the pool still reconnecting while another thread already got through) is
the same outage's tail, not a second outage; a database that keeps going away is logged again."""

from __future__ import annotations

import logging

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
