"""Commitment state machine, validation of records, overdue detection with a fixed now."""

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.dialogue.model import (TRANSITIONS, Commitment, CommitmentChange, Level, Series, Status,
                                   apply_change, check_transition, parse_date)
from accord.errors import InputError, StatusTransitionError

SERIES = Series("S", "Test", ("JPN", "KOR"), Level.MINISTERS, 6, date(2025, 9, 8), ("KOR", "JPN")).validate()


def _c(status=Status.PROPOSED, due=date(2026, 3, 31), owner="JPN") -> Commitment:
    return Commitment("S-M1-C1", "S", "S-M1", owner, "Host the next meeting", due, status)


def test_proposed_to_in_progress_or_done_skips_agreement():
    for target in (Status.IN_PROGRESS, Status.DONE):
        with pytest.raises(StatusTransitionError, match="skips agreement") as exc:
            check_transition(Status.PROPOSED, target)
        assert exc.value.field == "status"


def test_final_states_accept_no_transition():
    with pytest.raises(StatusTransitionError, match="none, it is final"):
        check_transition(Status.DONE, Status.IN_PROGRESS)
    with pytest.raises(StatusTransitionError):
        check_transition(Status.LAPSED, Status.AGREED)


def test_unknown_status_names_the_field():
    with pytest.raises(InputError, match="unknown status 'finished'") as exc:
        check_transition("agreed", "finished")
    assert exc.value.field == "status"


statuses = st.sampled_from(list(Status))


@given(st.lists(statuses, min_size=1, max_size=8))
def test_state_machine_accepts_exactly_the_allowed_paths(path):
    """Walk a random status sequence from proposed: each step is accepted iff it is in
    TRANSITIONS (or stays put), and any accepted walk that reaches in_progress or done went
    through agreed."""
    cur, seen = Status.PROPOSED, [Status.PROPOSED]
    for nxt in path:
        allowed = nxt == cur or nxt in TRANSITIONS[cur]
        if allowed:
            assert check_transition(cur, nxt) == nxt
            cur = nxt
            seen.append(cur)
        else:
            with pytest.raises(StatusTransitionError):
                check_transition(cur, nxt)
    if cur in (Status.IN_PROGRESS, Status.DONE):
        assert Status.AGREED in seen
    assert not (Status.LAPSED in seen and cur != Status.LAPSED)  # lapsed is final


@given(statuses, statuses)
def test_every_transition_out_of_proposed_except_agree_or_lapse_is_refused(a, b):
    if a == Status.PROPOSED and b not in (Status.PROPOSED, Status.AGREED, Status.LAPSED):
        with pytest.raises(StatusTransitionError):
            check_transition(a, b)


def test_apply_change_adds_evidence_and_keeps_history_values():
    c = apply_change(_c(), CommitmentChange(status=Status.AGREED), SERIES)
    c2 = apply_change(c, CommitmentChange(status=Status.IN_PROGRESS, add_evidence=("minutes 2026-01",)), SERIES)
    assert c2.status == Status.IN_PROGRESS and c2.evidence == ("minutes 2026-01",)
    assert c.status == Status.AGREED and c.evidence == ()  # frozen: the old value is untouched


def test_done_commitment_takes_evidence_only():
    done = _c(Status.DONE)
    assert apply_change(done, CommitmentChange(add_evidence=("report",)), SERIES).evidence == ("report",)
    with pytest.raises(StatusTransitionError, match="only evidence and links"):
        apply_change(done, CommitmentChange(due=date(2027, 1, 1)), SERIES)


def test_agreed_commitment_owner_cannot_move():
    with pytest.raises(InputError, match="owner cannot change") as exc:
        apply_change(_c(Status.AGREED), CommitmentChange(owner="KOR"), SERIES)
    assert exc.value.field == "owner"


def test_unknown_owner_party_is_named():
    with pytest.raises(InputError, match="unknown party 'USA'") as exc:
        _c(owner="USA").validate(SERIES)
    assert exc.value.field == "owner"


def test_invalid_dates_are_refused_with_the_field():
    with pytest.raises(InputError, match="invalid date '2026-02-30'") as exc:
        parse_date("2026-02-30", field="due")
    assert exc.value.field == "due"
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        parse_date("31/03/2026", field="due")


def test_overdue_and_due_soon_with_a_fixed_now():
    now = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    assert _c(Status.AGREED, due=date(2026, 3, 31)).is_overdue(now)
    assert not _c(Status.AGREED, due=date(2026, 4, 1)).is_overdue(now)  # due today is not late
    assert _c(Status.AGREED, due=date(2026, 4, 1)).is_due_soon(now, 0)
    assert _c(Status.IN_PROGRESS, due=date(2026, 4, 30)).is_due_soon(now, 30)
    assert not _c(Status.IN_PROGRESS, due=date(2026, 5, 2)).is_due_soon(now, 30)
    assert not _c(Status.DONE, due=date(2026, 1, 1)).is_overdue(now)
    assert not _c(Status.LAPSED, due=date(2026, 1, 1)).is_overdue(now)
    # late on the UTC day, whatever the offset of ``now``
    from datetime import timedelta, timezone
    tokyo = timezone(timedelta(hours=9))
    assert not _c(due=date(2026, 3, 31)).is_overdue(datetime(2026, 4, 1, 8, 0, tzinfo=tokyo))
    assert _c(due=date(2026, 3, 31)).is_overdue(datetime(2026, 4, 1, 9, 0, tzinfo=tokyo))


def test_series_needs_known_hosts_and_two_parties():
    with pytest.raises(InputError, match="unknown party 'USA'") as exc:
        Series("S", "T", ("JPN", "KOR"), Level.MINISTERS, 6, date(2025, 1, 1), ("USA",)).validate()
    assert exc.value.field == "host_rotation[0]"
    with pytest.raises(InputError, match="at least two parties"):
        Series("S", "T", ("JPN",), Level.MINISTERS, 6, date(2025, 1, 1), ("JPN",)).validate()


@given(statuses, statuses)
def test_steps_to_is_a_legal_forward_walk(current, target):
    from accord.dialogue.model import steps_to
    steps = steps_to(current, target)
    cur = current
    for step in steps:
        cur = check_transition(cur, step)  # each step is allowed (raises otherwise)
    assert cur == target or steps == []
    if steps:
        assert current not in (Status.DONE, Status.LAPSED)
