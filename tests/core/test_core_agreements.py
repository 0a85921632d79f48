"""Agreements: YAML format, signing by every party, and why an agreement is not in force."""

import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from accord.core.agreements import (Agreement, agreement_in_force, load_agreement, new_agreement,
                                    sign_agreement, verify_agreement)
from accord.core.identity import Identity
from accord.core.markings import Classification
from accord.errors import AgreementError, InputError

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2027, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def ids():
    return {p: Identity.generate(p) for p in ("JPN", "KOR", "USA")}


def bilateral(ids, **kw):
    return new_agreement("jpn-kor-warning", ["JPN", "KOR"],
                         {p: ids[p].public_key for p in ("JPN", "KOR")},
                         [("JPN", "KOR", ["warning.*"], "SECRET"),
                          ("KOR", "JPN", ["warning.*", "intel.*"], Classification.CONFIDENTIAL)],
                         kw.get("valid_from", T0), kw.get("valid_until", T1), title="JPN–KOR warning")


def pinned(ids):
    return {p: i.public_key for p, i in ids.items()}


def signed(ids):
    a = bilateral(ids)
    return sign_agreement(sign_agreement(a, ids["JPN"]), ids["KOR"])


def test_signed_by_both_is_in_force(ids):
    a = signed(ids)
    assert verify_agreement(a, pinned(ids), NOW) is a
    assert agreement_in_force(a, None, NOW)


def test_yaml_round_trip_keeps_signatures_valid(ids, tmp_path):
    a = signed(ids)
    a.save(tmp_path / "a.yaml")
    b = load_agreement(tmp_path / "a.yaml")
    assert b == a
    verify_agreement(b, pinned(ids), NOW)
    assert "max_classification: SECRET" in (tmp_path / "a.yaml").read_text()


def test_missing_signature_is_named(ids):
    a = sign_agreement(bilateral(ids), ids["JPN"])
    with pytest.raises(AgreementError, match="missing signature of KOR"):
        verify_agreement(a, pinned(ids), NOW)


def test_altered_after_signing_is_detected(ids, tmp_path):
    a = signed(ids)
    text = a.to_yaml().replace("max_classification: SECRET", "max_classification: TOP SECRET")
    assert text != a.to_yaml()
    b = Agreement.from_yaml(text)
    with pytest.raises(AgreementError, match="altered after JPN signed") as err:
        verify_agreement(b, pinned(ids), NOW)
    assert "altered after KOR signed" in str(err.value)


def test_reformatted_yaml_still_verifies(ids):
    a = signed(ids)
    import yaml
    text = yaml.safe_dump(yaml.safe_load(a.to_yaml()), default_flow_style=True, indent=4)  # same values
    assert text != a.to_yaml()
    verify_agreement(Agreement.from_yaml(text), pinned(ids), NOW)


@pytest.mark.parametrize("when,msg", [(T0 - timedelta(seconds=1), "not yet valid"), (T1, "expired")])
def test_outside_window_is_not_in_force(ids, when, msg):
    with pytest.raises(AgreementError, match=msg):
        verify_agreement(signed(ids), pinned(ids), when)


def test_unknown_or_substituted_key(ids):
    a = signed(ids)
    with pytest.raises(AgreementError, match="unknown key: no pinned key for KOR"):
        verify_agreement(a, {"JPN": ids["JPN"].public_key}, NOW)
    other = Identity.generate("KOR")
    with pytest.raises(AgreementError, match="pinned key is"):
        verify_agreement(a, {**pinned(ids), "KOR": other.public_key}, NOW)


def test_key_substitution_by_third_party_fails(ids):
    # Mallory rewrites KOR's key in the body and signs as "KOR": JPN's signature no longer verifies.
    mallory = Identity("KOR", Identity.generate("KOR").private_key)
    a = signed(ids)
    forged = new_agreement(a.id, a.parties, {"JPN": a.keys["JPN"], "KOR": mallory.public_b64},
                           a.rules, a.valid_from, a.valid_until, title=a.title)
    forged = sign_agreement(forged, mallory)
    from dataclasses import replace
    forged = replace(forged, signatures=(a.signature_of("JPN"),) + forged.signatures)
    with pytest.raises(AgreementError, match="altered after JPN signed"):
        verify_agreement(forged, None, NOW)


def test_non_party_cannot_sign(ids):
    with pytest.raises(AgreementError, match="USA is not a party"):
        sign_agreement(bilateral(ids), ids["USA"])


def test_signer_key_must_match_body(ids):
    impostor = Identity.generate("JPN")
    with pytest.raises(AgreementError, match="not this node's key"):
        sign_agreement(bilateral(ids), impostor)


@pytest.mark.parametrize("edit,field", [
    (lambda t: t.replace("max_classification: SECRET", "max_classification: SECRETISH"), "max_classification"),
    (lambda t: t.replace("from: JPN", "from: CHN"), "rules[0]"),
    (lambda t: t.replace("valid_until: '2027", "valid_until: 'soon"), "valid_until"),
    (lambda t: t.replace("version: 1", "version: one"), "version"),
    (lambda t: t.replace("id: jpn-kor-warning", "id: jpn kor warning"), "agreement.id"),
    (lambda t: t + "agreement: {}\n", "agreement"),
    (lambda t: t.replace("- warning.*\n", "- 'Warning Things'\n", 1), "kinds"),
])
def test_malformed_agreement_names_field(ids, edit, field):
    text = edit(signed(ids).to_yaml())
    with pytest.raises(InputError) as err:
        Agreement.from_yaml(text, source="a.yaml")
    assert "a.yaml" in str(err.value) and field in str(err.value)


def test_duplicate_yaml_key_names_line(ids):
    text = "agreement:\n  id: x\n  id: y\n"
    with pytest.raises(InputError, match=r"line 3.*duplicate key 'id'"):
        Agreement.from_yaml(text, source="a.yaml")


def test_bad_key_and_broken_yaml(ids):
    text = signed(ids).to_yaml()
    bad = text.replace(ids["KOR"].public_b64, "not-base64!!")
    with pytest.raises(InputError, match="keys.KOR"):
        Agreement.from_yaml(bad)
    with pytest.raises(InputError, match="a.yaml, line 2: not valid YAML"):
        Agreement.from_yaml("agreement: [unclosed\n", source="a.yaml")


# --- saving: as every --out file (accord.core.files.replace_file) ----------------------------
def test_saving_through_a_symbolic_link_replaces_the_file_it_points_to(ids, tmp_path):
    """``accord agreement sign current.yaml`` (a link to the file the parties share) replaced the
    link with a file of its own: the shared file stayed unsigned and the link was gone."""
    shared = tmp_path / "agreements" / "jpn-kor.yaml"
    shared.parent.mkdir()
    bilateral(ids).save(shared)
    link = tmp_path / "current.yaml"
    link.symlink_to(shared)
    signed(ids).save(link)
    assert link.is_symlink() and load_agreement(shared) == signed(ids)


def test_a_link_left_under_a_temporary_name_is_not_written_through(ids, tmp_path, monkeypatch):
    """The temporary file is made new (``O_EXCL``): a link under its name (another user's, in a
    shared directory) was opened as it was, had the agreement written into the file it named,
    and was then renamed over ``NAME``. Here one is under the very name the write picks first,
    and one a killed writer left (its process gone), which the write removes, unfollowed."""
    import accord.core.files as files

    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    out = tmp_path / "a.yaml"
    picks = iter(["a" * 16, "b" * 16])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(picks))
    taken = tmp_path / f".a.yaml.{os.getpid()}.{'a' * 16}.tmp"
    taken.symlink_to(victim)
    stale = tmp_path / f".a.yaml.99999999.{'c' * 16}.tmp"
    stale.symlink_to(victim)
    os.utime(stale, (0, 0), follow_symlinks=False)
    signed(ids).save(out)
    assert victim.read_text() == "untouched\n"
    assert not out.is_symlink() and load_agreement(out) == signed(ids)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.yaml", taken.name, "victim"])


def test_saving_keeps_the_group_and_owner_of_the_file_it_replaces(ids, tmp_path):
    """An agreement shared through its group (0640, group ``ops``) became the signer's own."""
    if os.geteuid() != 0:
        pytest.skip("giving a file another owner needs root")
    out = tmp_path / "a.yaml"
    bilateral(ids).save(out)
    os.chown(out, 12345, 54321)
    os.chmod(out, 0o640)
    signed(ids).save(out)
    st = out.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (12345, 54321, 0o640)

