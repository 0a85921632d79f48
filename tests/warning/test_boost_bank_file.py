"""The joined boost bank is kept on disk beside the compiled kernels (accord.warning.boost.prior):
a later process reads it back whole instead of flying it again, a damaged or malformed file is
flown again and replaced, and a directory that cannot be written only costs the next process
the flight."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

from accord.warning.boost import prior

# Classes that fly in a tenth of a second: drawing a class flies a range table over its whole
# burn-time box (n-independent: ~3 s of CPU for the default boxes, up to 275 s of burn), so
# short burns (25-45 s) with a range floor they reach (50 km) make the bank cheap; the flying,
# joining and file code is the same as for the default classes.
SMALL = tuple(dataclasses.replace(c, n=n, burn_s=(25.0, 45.0), range_km=(50.0, 2200.0))
              for c, n in ((prior.SIM_CLASS, 150), (prior.STEP_CLASS, 300)))


def _same(a: prior.Bank, b: prior.Bank) -> None:
    for f in dataclasses.fields(prior.Bank):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), f.name


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(prior, "cache_dir", lambda: str(tmp_path))
    return tmp_path


def test_a_later_process_reads_the_bank_instead_of_flying_it(store, monkeypatch):
    flown = prior.banks.__wrapped__(SMALL)
    files = list(store.glob("boost-bank-*.npz"))
    assert len(files) == 1 and not list(store.glob("*.tmp"))

    def no_flight(classes):
        raise AssertionError("flown again although kept on disk")
    monkeypatch.setattr(prior, "_join", no_flight)
    _same(prior.banks.__wrapped__(SMALL), flown)


def test_each_class_list_has_its_own_file(store):
    prior.banks.__wrapped__(SMALL)
    other = (SMALL[0], dataclasses.replace(SMALL[1], seed=7))
    prior.banks.__wrapped__(other)
    assert prior._bank_file(SMALL) != prior._bank_file(other)
    assert len(list(store.glob("boost-bank-*.npz"))) == 2


@pytest.mark.parametrize("damage", ["truncated", "malformed", "not an archive"])
def test_a_damaged_file_is_flown_again_and_replaced(store, caplog, damage):
    flown = prior.banks.__wrapped__(SMALL)
    path = prior._bank_file(SMALL)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "malformed":     # a whole archive whose arrays do not fit together
        np.savez(path, **{f.name: getattr(flown, f.name)[:3] for f in dataclasses.fields(prior.Bank)})
    else:
        path.write_text("junk")
    with caplog.at_level(logging.WARNING, logger=prior.__name__):
        again = prior.banks.__wrapped__(SMALL)
    _same(again, flown)
    assert any("flying it again" in r.getMessage() for r in caplog.records)
    _same(prior._load_bank(path), flown)    # replaced by a whole one


def test_an_unwritable_directory_costs_only_the_flight(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(prior, "cache_dir", lambda: str(tmp_path / "gone"))
    with caplog.at_level(logging.WARNING, logger=prior.__name__):
        b = prior.banks.__wrapped__(SMALL)
    assert b.states.shape[2] == len(b.burn_s) > 0
    assert any("not kept on disk" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr(prior, "cache_dir", lambda: None)
    _same(prior.banks.__wrapped__(SMALL), b)


def test_the_classes_share_one_threat_envelope():
    """Both default classes bound the range alike: a bound set just past the sample scenarios'
    longest flight (1,455 km) told a step-class track still burning near the end of that range
    that its burn must be about to end (docs/tracking.md, "Prediction during the boost")."""
    assert len({c.range_km for c in prior.DEFAULT_CLASSES}) == 1
    assert max(prior.bank(prior.STEP_CLASS).impact_range_m) > 2_000e3


def test_the_step_class_is_drawn_as_an_even_cover_of_its_box():
    """Scrambled Sobol' points, not independent draws: each parameter's 64 equal bins hold within
    3 of their share (independent draws of 6,000 stray by ~10 per bin: a chance carried by a
    handful of matching hypotheses moved with the draw)."""
    a0, tv, tb, gb = prior._draw_uniform(prior.STEP_CLASS)
    n = prior.STEP_CLASS.n
    assert len(a0) == n
    boxes = (prior.STEP_CLASS.a0, prior.STEP_CLASS.vertical_s, prior.STEP_CLASS.burn_s,
             tuple(np.radians(prior.STEP_CLASS.burnout_elev_deg)))
    for x, (lo, hi) in zip((a0, tv, tb, gb), boxes):
        assert lo <= x.min() and x.max() <= hi
        counts = np.histogram(x, bins=64, range=(lo, hi))[0]
        assert np.abs(counts - n / 64).max() <= 3, counts
    again = prior._draw_uniform(prior.STEP_CLASS)
    assert all(np.array_equal(x, y) for x, y in zip((a0, tv, tb, gb), again))   # seeded


@pytest.mark.parametrize("damage", ["not finite", "1-D float32", "not in range order", "burn_s 2-D"])
def test_a_whole_archive_that_is_not_a_bank_is_flown_again(store, caplog, damage):
    """Arrays that fit together in shape but not in kind: read as a bank they would weigh NaNs,
    give numba kernels types they were not compiled for, or break the cumulative sum over impact
    range that P(reach) is."""
    flown = prior.banks.__wrapped__(SMALL)
    path = prior._bank_file(SMALL)
    arrays = {f.name: getattr(flown, f.name).copy() for f in dataclasses.fields(prior.Bank)}
    if damage == "not finite":
        arrays["log_prior"][3] = np.nan
    elif damage == "1-D float32":
        arrays["impact_range_m"] = arrays["impact_range_m"].astype(np.float32)
    elif damage == "not in range order":
        arrays["impact_range_m"] = arrays["impact_range_m"][::-1].copy()
    else:
        arrays["burn_s"] = np.stack([arrays["burn_s"]] * 2, axis=1)
    with open(path, "wb") as out:
        np.savez(out, **arrays)
    assert prior._load_bank(path) is None
    with caplog.at_level(logging.WARNING, logger=prior.__name__):
        _same(prior.banks.__wrapped__(SMALL), flown)
    assert any("flying it again" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("whose", ["another user's", "writable by others"])
def test_a_bank_file_that_another_user_could_have_written_is_not_read(store, monkeypatch, caplog, whose):
    """The cache root may be shared (NUMBA_CACHE_DIR): a file another user owns, or one that others
    may write, could say anything (allow_pickle=False keeps out code, not false flights)."""
    flown = prior.banks.__wrapped__(SMALL)
    path = prior._bank_file(SMALL)
    if whose == "another user's":
        uid = path.stat().st_uid
        monkeypatch.setattr(prior.os, "geteuid", lambda: uid + 1)
    else:
        path.chmod(0o666)
    with caplog.at_level(logging.WARNING, logger=prior.__name__):
        assert prior._load_bank(path) is None
    assert any(path.name in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    monkeypatch.setattr(prior, "cache_dir", lambda: str(store))
    _same(prior.banks.__wrapped__(SMALL), flown)   # flown again and kept, its own
    assert path.stat().st_mode & 0o022 == 0


def test_the_bank_files_directory_changes_with_the_code_that_flies_it():
    """banks() says an edit of this module or of the flight's never reads a stale bank because the
    directory is named by a digest that includes them: prior.py is in it only as an import of a
    kernel module (boost.predict), not listed itself — this holds that claim to the code."""
    from accord.warning import kernel_cache

    sources = {p.resolve() for p in kernel_cache.kernel_sources()}
    assert Path(prior.__file__).resolve() in sources
    from accord.warning.boost import flight
    assert Path(flight.__file__).resolve() in sources


def test_another_scipy_or_numpy_draws_into_another_file(store, monkeypatch):
    import scipy
    here = prior._bank_file(SMALL)
    monkeypatch.setattr(scipy, "__version__", "0.0.1")
    assert prior._bank_file(SMALL) != here
    monkeypatch.undo()
    monkeypatch.setattr(prior, "cache_dir", lambda: str(store))
    monkeypatch.setattr(np, "__version__", "0.0.1")
    assert prior._bank_file(SMALL) != here


def test_flying_the_joined_bank_keeps_no_class_bank_beside_it(store):
    """The joined bank is all the predictions read: the classes' own banks, flown to make it, are
    let go (kept, they doubled the memory of a process that flew the bank)."""
    prior.bank.cache_clear()
    joined = prior.banks.__wrapped__(SMALL)
    assert prior.bank.cache_info().currsize == 0
    assert len(joined.burn_s) == sum(len(prior._flown(c).burn_s) for c in SMALL)
