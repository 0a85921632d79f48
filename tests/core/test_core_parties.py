"""Party codes are real ISO 3166-1 alpha-3 codes, everywhere a party is named: a code of the
right shape that names no country (``JAP``, ``KRO``) is refused with one line naming it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pycountry
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from accord.cli.main import app
from accord.core.agreements import Agreement, new_agreement
from accord.core.identity import Identity
from accord.core.markings import Marking
from accord.core.parties import NON_COUNTRY_PARTIES, check_party, is_party, party_codes, party_problem
from accord.dialogue.model import check_party as dialogue_party
from accord.errors import AccordError, InputError, MarkingError
from accord.federation.tokens import create_token
from accord.node import Node
from accord.store.sqlite import connect

ISO = frozenset(c.alpha_3 for c in pycountry.countries)
shaped = st.from_regex(r"[A-Z]{3}", fullmatch=True)
unknown = shaped.filter(lambda c: c not in ISO)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _one_line_naming(exc: BaseException, code: str) -> None:
    text = str(exc)
    assert repr(code) in text or code in text, text
    assert "\n" not in text


# --- the set itself ----------------------------------------------------------------------------
def test_the_accepted_codes_are_iso_3166_1_alpha_3_and_nothing_else():
    assert party_codes() == ISO | frozenset(NON_COUNTRY_PARTIES)
    assert NON_COUNTRY_PARTIES == {}  # see accord/core/parties.py for why none is needed
    assert {"JPN", "KOR", "USA", "PRK", "CHN", "GBR", "FRA"} <= party_codes()
    assert not {"JAP", "KRO", "ROK", "UKK", "XKX", "NATO", "FVEY", "EUR"} & party_codes()


@given(shaped)
def test_a_three_letter_code_is_a_party_iff_iso_assigns_it(code):
    assert is_party(code) == (pycountry.countries.get(alpha_3=code) is not None)
    assert (party_problem(code) is None) == is_party(code)


@given(st.sampled_from(sorted(ISO)))
def test_every_iso_code_is_accepted_and_round_trips_through_a_banner(code):
    assert check_party(code) == code
    marking = Marking.parse(f"SECRET//REL TO {code}")
    assert marking.rel_to == {code} and str(marking) == f"SECRET//REL TO {code}"


@given(unknown)
def test_an_unknown_code_is_refused_naming_it(code):
    with pytest.raises(MarkingError) as err:
        check_party(code)
    _one_line_naming(err.value, code)
    assert "unknown party code" in str(err.value)


@pytest.mark.parametrize("bad", ["jpn", "Jpn", "JP", "JPNN", " JPN", "JPN ", "", "ＪＰＮ", "JPŃ", "J1N",
                                 None, 392, ["JPN"], "NATO"])
def test_boundary_values_are_refused_not_crashed_on(bad):
    assert not is_party(bad)
    with pytest.raises(MarkingError) as err:
        check_party(bad)
    assert "\n" not in str(err.value) and repr(bad) in str(err.value)


@given(st.text(max_size=6))
def test_any_text_is_either_a_listed_code_or_refused(text):
    assert is_party(text) == (text in ISO)


@given(st.lists(st.sampled_from(sorted(ISO)), max_size=4, unique=True), unknown)
def test_a_rel_to_list_with_one_unknown_code_is_refused_naming_it(known, bad):
    banner = "SECRET//REL TO " + ", ".join(sorted([*known, bad]))
    with pytest.raises(MarkingError) as err:
        Marking.parse(banner)
    assert f"REL TO party {bad!r}" in str(err.value)
    with pytest.raises(MarkingError):
        Marking.from_json({"classification": "SECRET", "rel_to": sorted([*known, bad])})


# --- every place a party is named --------------------------------------------------------------
@pytest.mark.parametrize("banner, code", [("SECRET//REL TO JPN, KRO", "KRO"),
                                          ("SECRET//REL TO JAP, KOR", "JAP")])
def test_markings_refuse_unknown_rel_to_codes(banner, code):
    with pytest.raises(MarkingError) as err:
        Marking.parse(banner)
    _one_line_naming(err.value, code)
    with pytest.raises(MarkingError):
        Marking.from_json({"classification": "SECRET", "rel_to": ["JPN", code]})


def test_nodes_partners_agreements_tokens_and_dialogue_refuse_unknown_codes(tmp_path):
    with pytest.raises(InputError) as err:
        Node.init(tmp_path / "x", party="JAP")
    _one_line_naming(err.value, "JAP")
    node = Node.init(tmp_path / "jpn", party="JPN")
    other = Identity.generate("KOR")
    with pytest.raises(InputError) as err:
        node.add_partner("KRO", other.public_b64)
    _one_line_naming(err.value, "KRO")
    assert node.partners() == {}
    with pytest.raises(AccordError) as err:
        new_agreement("a", ["JPN", "KRO"], {"JPN": node.identity.public_key, "KRO": other.public_key},
                      [("JPN", "KRO", ["test.*"], "SECRET")], T0, T0 + timedelta(days=1))
    _one_line_naming(err.value, "KRO")
    good = new_agreement("a", ["JPN", "KOR"], {"JPN": node.identity.public_key, "KOR": other.public_key},
                         [("JPN", "KOR", ["test.*"], "SECRET")], T0, T0 + timedelta(days=1))
    with pytest.raises(AccordError) as err:
        Agreement.from_yaml(good.to_yaml().replace("KOR", "KRO"), source="a.yaml")
    _one_line_naming(err.value, "KRO")
    with pytest.raises(InputError) as err:
        create_token(connect(tmp_path / "t.db"), "soc", "KRO", {"items:read"})
    _one_line_naming(err.value, "KRO")
    with pytest.raises(InputError) as err:
        dialogue_party("JAP", field="owner")
    _one_line_naming(err.value, "JAP")


@pytest.mark.parametrize("party", ["KRO", "../../x", "jpn"])
def test_a_tls_pin_for_an_unknown_code_is_refused_and_writes_nothing(tmp_path, party):
    from accord.api.tls import pin_partner_cert

    with pytest.raises(InputError) as err:
        pin_partner_cert(tmp_path / "jpn", party, tmp_path / "missing.pem", None)
    _one_line_naming(err.value, party)
    assert not (tmp_path / "jpn").exists() and not (tmp_path / "x.pem").exists()


def test_node_yaml_naming_an_unknown_partner_is_refused_on_open(tmp_path):
    node = Node.init(tmp_path / "jpn", party="JPN")
    node.add_partner("KOR", Identity.generate("KOR").public_b64)
    node.close()
    cfg = tmp_path / "jpn" / "node.yaml"
    cfg.write_text(cfg.read_text().replace("KOR:", "KRO:"))
    with pytest.raises(AccordError) as err:
        Node.open(tmp_path / "jpn")
    _one_line_naming(err.value, "KRO")


def test_cli_refuses_unknown_codes_in_one_line(tmp_path):
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, [str(a) for a in args])

    r = run("node", "init", "--party", "JAP", "--dir", tmp_path / "x")
    assert isinstance(r.exception, InputError) and "'JAP'" in str(r.exception)
    assert run("node", "init", "--party", "JPN", "--dir", tmp_path / "jpn").exit_code == 0
    r = run("node", "rule", "add", "--dir", tmp_path / "jpn", "--kinds", "test.*", "--to", "KRO")
    assert isinstance(r.exception, InputError) and "'KRO'" in str(r.exception)
    assert run("node", "rule", "list", "--dir", tmp_path / "jpn").stdout == ""
    r = run("agreement", "create", "--dir", tmp_path / "jpn", "--id", "x", "--party", "KRO",
            "--rule", "JPN<->KOR:test.*:SECRET", "--out", tmp_path / "a.yaml")
    assert isinstance(r.exception, InputError) and "'KRO'" in str(r.exception)
    r = run("agreement", "create", "--dir", tmp_path / "jpn", "--id", "x", "--party", "KOR",
            "--rule", "JPN<->KRO:test.*:SECRET", "--out", tmp_path / "a.yaml")
    assert isinstance(r.exception, InputError) and "'KRO'" in str(r.exception)
    r = run("node", "item", "add", "--dir", tmp_path / "jpn", "--kind", "test.note",
            "--marking", "SECRET//REL TO JPN, KRO")
    assert isinstance(r.exception, MarkingError) and "'KRO'" in str(r.exception)
    assert Node.open(tmp_path / "jpn").items() == []
