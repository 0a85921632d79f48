"""Boundary inputs over every parser (issue #16 items 2 and 3): JSON nested 100,000 deep,
integers of 5,000 digits, ``1e400`` and ``10**400``, YAML aliases ("billion laughs"), merge keys,
complex keys and deep nesting, STIX patterns nested 5,000 deep. Each parser answers with one
line of Accord's own error — never a traceback, a ``RecursionError`` or a 500 — and the bounds
themselves are property-tested on both sides (random fuzzing never reached them).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st

from accord.api.app import create_app
from accord.api.deps import create_token
from accord.api.taxii import MEDIA_TAXII, TaxiiHTTPError, parse_json
from accord.core.agreements import Agreement
from accord.core.canonical import MAX_JSON_DEPTH, check_json_bounds, parse_json_strict
from accord.core.safe_yaml import MAX_DEPTH as MAX_YAML_DEPTH
from accord.core.safe_yaml import load_yaml
from accord.dialogue.inputs import load_dialogue_file
from accord.errors import AccordError, ConfigError, InputError
from accord.exercise.scenario import parse_scenario
from accord.federation.httpsig import sign_request
from accord.federation.inbox import parse_batch
from accord.intel.node_store import store_for
from accord.intel.import_export import read_bundle, validate_objects
from accord.intel.validate import MAX_PATTERN_DEPTH, pattern_depth, validate_full
from accord.node import Node
from accord.warning.alerts.rules import AlertRules
from accord.warning.io import parse_detections

DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000
HUGE_INT = "9" * 5000
HOSTILE_JSON = {"deep array": DEEP_ARRAY, "deep object": DEEP_OBJECT, "5,000 digits": HUGE_INT,
                "1e400": "1e400", "-1e400": "-1e400"}

# "billion laughs": nine aliases of nine aliases … of a list of nine strings (1.5 KB of YAML)
LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
HOSTILE_YAML = {"billion laughs": (LAUGHS, "anchors"), "alias": ("a: *x\n", "aliases"),
                "merge key": ("a: 1\n<<: {b: 2}\n", "merge keys"),
                "complex key": ("? [a]\n: 1\n", "complex YAML keys"),
                "flow complex key": ("{[a]: 1}\n", "complex YAML keys"),
                "deep": ("[" * 100_000 + "]" * 100_000, "nested deeper"),
                "duplicate": ("id: a\nid: b\n", "duplicate key 'id'"),
                "duplicate as int": ("1: a\n0x1: b\n", "duplicate key '0x1'"),
                "duplicate as bool": ("yes: a\ntrue: b\n", "duplicate key 'true'"),
                "duplicate as null": ("~: a\nnull: b\n", "duplicate key 'null'"),
                "5,000-digit integer": ("a: " + "9" * 5000 + "\n", "integer of 5000 characters is too large"),
                # int() bounds only decimal digits: these built 5,000-digit integers that no
                # later str() or json.dumps could write (an exercise's metrics.json: a traceback)
                "5,000 hex digits": ("a: 0x" + "f" * 5000 + "\n", "integer of 5002 characters is too large"),
                "20,000 binary digits": ("a: 0b" + "1" * 20000 + "\n", "integer of 20002 characters is too large"),
                "6,000 octal digits": ("a: 0" + "7" * 6000 + "\n", "integer of 6001 characters is too large"),
                "sexagesimal": ("a: " + ":".join(["59"] * 3000) + "\n", "integer of 8999 characters is too large"),
                # an escape only a double-quoted scalar writes: no UTF-8 encoder takes the string
                # (an agreement so titled was read, then failed at signing naming no line)
                "lone surrogate": ('a: "x\\ud800"\n', "a string holds a lone surrogate"),
                "lone surrogate key": ('"\\udfff": 1\n', "a string holds a lone surrogate"),
                "binary": ("a: !!binary aGVsbG8=\n", "tag !!binary"),
                "set": ("a: !!set {x: null}\n", "tag !!set"),
                "omap": ("a: !!omap [{x: 1}]\n", "tag !!omap"),
                "pairs": ("a: !!pairs [{x: 1}]\n", "tag !!pairs")}

PATTERN_5000 = "(" * 5000 + "[ipv4-addr:value = '10.0.0.1']" + ")" * 5000
INDICATOR = {"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
             "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
             "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
             "pattern": "[ipv4-addr:value = '10.0.0.1']"}


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and len(text) < 400, text[:500]
    return text


# --- JSON ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", HOSTILE_JSON)
def test_strict_json_refuses_hostile_numbers_and_nesting(case):
    with pytest.raises(InputError) as info:
        parse_json_strict(f'{{"v": {HOSTILE_JSON[case]}}}', source="x.json")
    assert one_line(info.value).startswith("x.json: ")


@pytest.mark.parametrize("case", HOSTILE_JSON)
def test_taxii_body_parser_refuses_hostile_json_with_400(case):
    with pytest.raises(TaxiiHTTPError) as info:
        parse_json(f'{{"objects": [{HOSTILE_JSON[case]}]}}'.encode())
    assert info.value.status == 400 and one_line(info.value)


@pytest.mark.parametrize("case", HOSTILE_JSON)
def test_partner_envelope_batch_refuses_hostile_json(case):
    with pytest.raises(InputError) as info:
        parse_batch(f'{{"envelopes": [{HOSTILE_JSON[case]}]}}'.encode())
    assert "envelope batch" in one_line(info.value)


@pytest.mark.parametrize("case", HOSTILE_JSON)
def test_intel_import_refuses_hostile_json(tmp_path, case):
    path = tmp_path / "bundle.json"
    path.write_text(f'{{"type": "bundle", "objects": [{HOSTILE_JSON[case]}]}}')
    with pytest.raises(InputError) as info:
        read_bundle(path)
    assert str(path) in one_line(info.value)


SENSOR = {"id": "R1", "lat_deg": 40.9, "lon_deg": 140.3, "alt_m": 50.0, "sigma_range_m": 20.0,
          "sigma_az_rad": 0.0008, "sigma_el_rad": 0.0008, "scan_period_s": 1.0, "scan_offset_s": 0.0,
          "pd": 0.9, "clutter_per_scan": 5.0, "min_range_m": 50000.0, "max_range_m": 2000000.0,
          "min_el_deg": 2.0, "max_el_deg": 85.0, "az_center_deg": 260.0, "az_half_width_deg": 60.0}
HEADER = json.dumps({"format": "accord-detections/1", "sensors": [SENSOR]})
TEN_400 = "1" + "0" * 400


@pytest.mark.parametrize("value", [TEN_400, "-" + TEN_400, "1e400", HUGE_INT])
@pytest.mark.parametrize("field", ["t", "range_m", "az_rad", "el_rad"])
def test_detection_numbers_beyond_a_double_are_refused_or_skipped(field, value):
    fields = {"t": "0", "range_m": "800000", "az_rad": "4.7", "el_rad": "0.1"} | {field: value}
    line = '{"sensor": "R1", ' + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"
    with pytest.raises(InputError) as info:
        parse_detections([HEADER, line], source="d.jsonl")
    assert one_line(info.value).startswith("d.jsonl, line 2")
    _, det = parse_detections([HEADER, line, '{"t": 1, "sensor": "R1", "range_m": 8e5, "az_rad": 1, "el_rad": 0.1}'],
                              lenient=True, source="d.jsonl")
    assert det.skipped_count == 1 and len(det) == 1 and det.skipped[0][0] == 2


@pytest.mark.parametrize("lenient", [False, True])
@pytest.mark.parametrize("field", ["alt_m", "max_range_m", "pd"])
def test_detection_header_numbers_beyond_a_double_are_refused(field, lenient):
    header = HEADER.replace(f'"{field}": {SENSOR[field]}', f'"{field}": {TEN_400}')
    with pytest.raises(InputError, match=field) as info:
        parse_detections([header], lenient=lenient, source="d.jsonl")  # the header is never lenient
    one_line(info.value)


@pytest.mark.parametrize("line", [DEEP_ARRAY, '{"t": ' + DEEP_ARRAY + "}"])
def test_detection_line_nested_deep_is_refused_or_skipped(line):
    with pytest.raises(InputError, match="nested deeper") as info:
        parse_detections([HEADER, line], source="d.jsonl")
    one_line(info.value)
    assert parse_detections([HEADER, line], lenient=True)[1].skipped_count == 1


def nested(depth: int, kinds: list[bool]) -> str:
    """JSON of ``depth`` nested containers (True: an object, False: an array)."""
    opening = "".join('{"k":' if kinds[i % len(kinds)] else "[" for i in range(depth))
    closing = "".join("}" if kinds[i % len(kinds)] else "]" for i in reversed(range(depth)))
    return opening + "0" + closing


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(1, 3 * MAX_JSON_DEPTH), kinds=st.lists(st.booleans(), min_size=1, max_size=5))
@example(depth=MAX_JSON_DEPTH, kinds=[False]).via("the bound itself")
@example(depth=MAX_JSON_DEPTH + 1, kinds=[True]).via("one past the bound")
@example(depth=100_000, kinds=[False]).via("issue #16")
def test_every_json_parser_accepts_exactly_the_bounded_depths(depth, kinds):
    """parse_json_strict, the TAXII body parser and the partner batch agree: nesting up to
    MAX_JSON_DEPTH parses, one level more is refused with the same one-line reason."""
    text = nested(depth, kinds)
    ok = depth <= MAX_JSON_DEPTH
    outcomes = []
    for parse in (lambda: parse_json_strict(text), lambda: parse_json(text.encode()),
                  lambda: parse_batch(b'{"envelopes": ' + text.encode() + b"}")):
        try:
            parse()
            outcomes.append(True)
        except (InputError, TaxiiHTTPError) as exc:
            assert "nested deeper than" in one_line(exc) or "envelopes" in str(exc)
            outcomes.append("nested deeper than" not in str(exc))
    assert outcomes[:2] == [ok, ok]
    assert outcomes[2] == (depth + 1 <= MAX_JSON_DEPTH)  # the batch object is one more level


@settings(max_examples=40, deadline=None)
@given(digits=st.integers(1, 6000))
@example(digits=4300).via("the last accepted")
@example(digits=4301).via("the first refused")
def test_integers_parse_up_to_the_interpreter_limit_and_are_refused_past_it(digits):
    text = "7" * digits
    if digits <= 4300:
        assert parse_json_strict(text) == int(text)
    else:
        with pytest.raises(InputError, match="integer longer than 4300 digits"):
            parse_json_strict(text)


@settings(max_examples=80, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=40))
@example(float("inf"))  # a bare top-level infinity (no level holds it), once let through
@example(float("-inf"))
def test_check_json_bounds_agrees_with_a_recursive_walk(value):
    """The level-by-level check against the obvious recursive definition: refused iff nested
    deeper than the limit or holding an infinity anywhere."""
    def depth(v: Any) -> int:
        if isinstance(v, dict):
            return 1 + max(map(depth, v.values()), default=0)
        if isinstance(v, list):
            return 1 + max(map(depth, v), default=0)
        return 0

    def infinite(v: Any) -> bool:
        if isinstance(v, dict):
            return any(map(infinite, v.values()))
        if isinstance(v, list):
            return any(map(infinite, v))
        return isinstance(v, float) and v in (float("inf"), float("-inf"))
    for limit in (1, 2, 3, 5):
        if depth(value) <= limit and not infinite(value):
            assert check_json_bounds(value, limit=limit) is value
        else:
            with pytest.raises(InputError):
                check_json_bounds(value, limit=limit)


# --- YAML ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", HOSTILE_YAML)
def test_agreement_file_refuses_yaml_bombs_and_complex_keys(case):
    text, reason = HOSTILE_YAML[case]
    with pytest.raises(InputError, match=reason) as info:
        Agreement.from_yaml(text, source="agreement.yaml")
    assert one_line(info.value).startswith("agreement.yaml, line ")


@pytest.mark.parametrize("case", HOSTILE_YAML)
def test_scenario_refuses_yaml_bombs_and_complex_keys(case):
    text, reason = HOSTILE_YAML[case]
    with pytest.raises(InputError, match=reason) as info:
        parse_scenario(text, source="drill.yaml")
    one_line(info.value)


@pytest.mark.parametrize("case", HOSTILE_YAML)
def test_dialogue_file_refuses_yaml_bombs_and_complex_keys(tmp_path, case):
    text, reason = HOSTILE_YAML[case]
    path = tmp_path / "meeting.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=reason) as info:
        load_dialogue_file(path)
    one_line(info.value)


@pytest.mark.parametrize("case", HOSTILE_YAML)
def test_node_config_refuses_yaml_bombs_and_complex_keys(tmp_path, case):
    node = Node.init(tmp_path / "n", party="JPN")
    node.close()
    config = tmp_path / "n" / "node.yaml"
    text, reason = HOSTILE_YAML[case]
    config.write_text(config.read_text() + "\nextra:\n" + "".join(f"  {line}\n" for line in text.splitlines()))
    with pytest.raises(AccordError) as info:  # a ConfigError or the loader's InputError
        Node.open(tmp_path / "n")
    assert reason in one_line(info.value)
    with pytest.raises(ConfigError, match=reason) as info:  # the alerts: section of the same file
        AlertRules.from_yaml(config, party="JPN")
    one_line(info.value)


yaml_scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8)
yaml_values = st.recursive(yaml_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text("abcxyz", min_size=1, max_size=4), inner, max_size=3),
                           max_leaves=25)


@settings(max_examples=80, deadline=None)
@given(yaml_values)
def test_safe_yaml_reads_plain_documents_as_pyyaml_does(value):
    """Differential: without anchors, merge keys or complex keys, the safe loader is PyYAML's."""
    text = yaml.safe_dump(value, allow_unicode=True)
    assert load_yaml(text) == yaml.safe_load(text) == value


@settings(max_examples=40, deadline=None)
@given(shared=st.lists(yaml_scalars, min_size=1, max_size=3), copies=st.integers(2, 9))
def test_safe_yaml_refuses_every_document_pyyaml_writes_with_an_alias(shared, copies):
    """The same list referenced twice is dumped as an anchor and aliases: always refused."""
    text = yaml.safe_dump({"items": [shared] * copies})
    assert "&id" in text and "*id" in text
    with pytest.raises(InputError, match="anchors"):
        load_yaml(text)


INT_SPELLINGS = [str, hex, bin, lambda n: f"0{n:o}", lambda n: f"{n:_}", lambda n: f"+{n}"]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 10**9), a=st.sampled_from(range(len(INT_SPELLINGS))),
       b=st.sampled_from(range(len(INT_SPELLINGS))))
def test_safe_yaml_refuses_keys_that_are_one_dict_key_however_spelled(n, a, b):
    first, second = INT_SPELLINGS[a](n), INT_SPELLINGS[b](n)
    assert yaml.safe_load(f"{first}: x\n") == yaml.safe_load(f"{second}: x\n") == {n: "x"}
    with pytest.raises(InputError, match="duplicate key") as info:
        load_yaml(f"{first}: a\n{second}: b\n")
    assert one_line(info.value).startswith("line 2")
    assert load_yaml(f"{first}: a\n'{second}': b\n") == {n: "a", second: "b"}  # a string is another key


@pytest.mark.parametrize("text", ["1: a\ntrue: b\n", "1: a\n1.0: b\n", "0.0: a\n-0.0: b\n",
                                  ".nan: a\n.NaN: b\n", "off: a\nfalse: b\nno: c\n", "Null: a\nNULL: b\n"])
def test_safe_yaml_refuses_keys_of_different_tags_that_python_merges(text):
    with pytest.raises(InputError, match="duplicate key"):
        load_yaml(text)


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(1, 3 * MAX_YAML_DEPTH))
@example(depth=MAX_YAML_DEPTH).via("the bound itself")
@example(depth=MAX_YAML_DEPTH + 1).via("one past the bound")
def test_yaml_nesting_is_accepted_up_to_its_bound(depth):
    text = "[" * depth + "1" + "]" * depth
    if depth <= MAX_YAML_DEPTH:
        value = load_yaml(text)
        for _ in range(depth):
            value = value[0]
        assert value == 1
    else:
        with pytest.raises(InputError, match="nested deeper"):
            load_yaml(text)


# --- STIX patterns ---------------------------------------------------------------------------
def test_stix_pattern_nested_5000_deep_is_refused_by_every_validator(tmp_path):
    deep = dict(INDICATOR, pattern=PATTERN_5000)
    with pytest.raises(InputError, match="pattern nested deeper than") as info:
        validate_full([deep])
    one_line(info.value)
    with pytest.raises(InputError) as info:  # intel import's all-or-nothing validation
        validate_objects([deep], source="bundle.json")
    assert "pattern nested deeper than" in info.value.failures[0]["message"]  # type: ignore[attr-defined]
    validate_full([INDICATOR])  # a real indicator still passes


@settings(max_examples=40, deadline=None)
@given(depth=st.integers(0, 2 * MAX_PATTERN_DEPTH), noise=st.text("()[]'\\ab", max_size=12))
@example(depth=MAX_PATTERN_DEPTH - 1, noise="").via("the bound itself")
@example(depth=MAX_PATTERN_DEPTH, noise="((((").via("one past the bound")
def test_pattern_depth_counts_brackets_outside_quoted_literals(depth, noise):
    literal = noise.replace("\\", "\\\\").replace("'", "\\'")
    pattern = "(" * depth + f"[file:name = '{literal}']" + ")" * depth
    assert pattern_depth(pattern) == depth + 1
    obj = dict(INDICATOR, pattern=pattern)
    if depth + 1 <= MAX_PATTERN_DEPTH:
        validate_full([obj], validator=False)
    else:
        with pytest.raises(InputError, match="pattern nested deeper"):
            validate_full([obj], validator=False)


@pytest.mark.parametrize("field, value, accepted", [
    ("lang", "x" * 100_000, False),               # stix2-validator quoted it whole: a 100 KB reason
    ("confidence", 10**400, False), ("confidence", 2**63, False), ("confidence", 1e308, False),
    ("confidence", 100, True), ("confidence", 0, True),
    ("pattern", "[file:size = " + "9" * 4300 + "]", True),
    ("pattern", "[x:y = '" + "a" * 100_000 + "']", False),
    ("pattern", "[a:b = 1] WITHIN " + "9" * 4300 + " SECONDS", False),
    ("valid_from", "9999-12-31T23:59:59.9999999999Z", False), ("valid_from", "0000-01-01T00:00:00Z", False),
])
def test_stix_values_at_the_bounds_are_valid_or_refused_in_one_short_line(field, value, accepted):
    obj = dict(INDICATOR, **{field: value})
    if accepted:
        validate_full([obj])
        return
    with pytest.raises(InputError) as info:
        validate_full([obj])
    assert len(one_line(info.value)) < 800


# --- over HTTP: never a 500 --------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("nodes")
    jpn, kor = Node.init(base / "JPN", party="JPN"), Node.init(base / "KOR", party="KOR")
    kor.add_partner("JPN", jpn.identity.public_b64)
    token = create_token(kor.conn, "ops", "KOR", {"admin"})
    collection = store_for(kor).add_collection("Intel").id
    strict = store_for(kor).add_collection("Checked", alias="checked", strict=True).id
    with TestClient(create_app(kor)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        client.strict_collection = strict  # type: ignore[attr-defined]
        yield client, jpn, collection
    jpn.close()
    kor.close()


HTTP_VALUES = {**HOSTILE_JSON, "10**400": TEN_400}


@pytest.mark.parametrize("case", HTTP_VALUES)
def test_user_api_answers_hostile_json_with_a_client_error(served, case):
    client, _, collection = served
    value = HTTP_VALUES[case]
    for path, body in (("/api/v1/items", f'{{"kind": "test.note", "marking": "UNCLASSIFIED", "body": {{"v": {value}}}}}'),
                       ("/api/v1/dialogue/series", f'{{"title": {value}}}')):
        r = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code in (400, 409, 422), (path, r.status_code, r.text[:300])
        assert "\n" not in json.dumps(r.json()["detail"])


@pytest.mark.parametrize("case", HTTP_VALUES)
def test_taxii_add_answers_hostile_json_with_a_taxii_error(served, case):
    client, _, collection = served
    body = json.dumps({"objects": [dict(INDICATOR, x_v="HOSTILE")]}).replace('"HOSTILE"', HTTP_VALUES[case])
    r = client.post(f"/taxii2/intel/collections/{collection}/objects/", content=body,
                    headers={"Content-Type": MEDIA_TAXII, "Accept": MEDIA_TAXII})
    assert r.headers["content-type"].startswith("application/taxii+json")
    if case == "10**400":  # a valid JSON integer in a custom property: stored, and read back exact
        assert r.status_code == 202, r.text[:300]
        r = client.get(f"/taxii2/intel/collections/{collection}/objects/{INDICATOR['id']}/",
                       headers={"Accept": MEDIA_TAXII})
        assert json.loads(r.content)["objects"][0]["x_v"] == 10**400
        return
    assert r.status_code == 400 and "\n" not in r.json()["description"], r.text[:300]


@pytest.mark.parametrize("case", HTTP_VALUES)
def test_partner_api_answers_hostile_json_from_a_pinned_partner_with_400(served, case):
    client, jpn, _ = served
    body = f'{{"envelopes": [{HTTP_VALUES[case]}]}}'.encode()
    headers = sign_request(jpn.identity, "POST", "/federation/v1/envelopes", "", body, datetime.now(UTC), "KOR")
    r = client.post("/federation/v1/envelopes", content=body, headers={**headers, "Authorization": ""})
    if case == "10**400":  # valid JSON: the batch is read, the "envelope" refused on its own
        assert r.status_code == 200, r.text[:300]
        assert [(x["status"], x["code"]) for x in r.json()["receipts"]] == [("rejected", "malformed")]
        return
    assert r.status_code == 400 and r.json()["detail"]["error"] == "malformed"


@pytest.mark.parametrize("value", [TEN_400, "1e400", HUGE_INT])
def test_warning_track_cli_answers_numbers_beyond_a_double_in_one_line(tmp_path, value):
    from typer.testing import CliRunner

    from accord.cli.main import app

    good = [json.dumps({"t": float(t), "sensor": "R1", "range_m": 8e5, "az_rad": 4.5, "el_rad": 0.1}) for t in range(3)]
    bad = f'{{"t": 3.5, "sensor": "R1", "range_m": {value}, "az_rad": 4.5, "el_rad": 0.1}}'
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join([HEADER, *good, bad]) + "\n")
    runner = CliRunner()
    res = runner.invoke(app, ["warning", "track", str(path), "--out", str(tmp_path / "o1")])
    assert res.exit_code != 0 and isinstance(res.exception, InputError) and res.exception.line == 5
    one_line(res.exception)
    res = runner.invoke(app, ["warning", "track", str(path), "--out", str(tmp_path / "o2"), "--lenient", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["skipped_lines"] == 1


@pytest.mark.parametrize("case", ["deep array", "deep object"])
def test_alert_geography_file_refuses_deep_json(case):
    from accord.warning.alerts.geography import Geography

    with pytest.raises(InputError, match="nested deeper than") as info:
        Geography.from_bytes(HOSTILE_JSON[case].encode(), source="geo.json")
    one_line(info.value)


def test_taxii_add_to_a_strict_collection_refuses_a_pattern_nested_5000_deep(served):
    client, _, _ = served
    body = json.dumps({"objects": [dict(INDICATOR, id="indicator--0e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                                        pattern=PATTERN_5000)]})
    r = client.post(f"/taxii2/intel/collections/{client.strict_collection}/objects/", content=body,
                    headers={"Content-Type": MEDIA_TAXII, "Accept": MEDIA_TAXII})
    assert r.status_code in (400, 422) and "pattern nested deeper than" in r.text, r.text[:300]


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_partner_envelope_dated_where_no_utc_time_exists_is_refused_not_a_500(served, stamp):
    """A timestamp at the edge of the years 1-9999 with an offset has no UTC instant: the
    envelope is refused as malformed on its own, and the batch is answered."""
    from accord.core.envelopes import FORMAT

    client, jpn, _ = served
    env = {"format": FORMAT, "originator": "JPN", "recipient": "KOR", "seq": 1, "timestamp": stamp,
           "item": {}, "signature": "A" * 86 + "=="}
    body = json.dumps({"envelopes": [env]}).encode()
    headers = sign_request(jpn.identity, "POST", "/federation/v1/envelopes", "", body, datetime.now(UTC), "KOR")
    r = client.post("/federation/v1/envelopes", content=body, headers={**headers, "Authorization": ""})
    assert r.status_code == 200, r.text[:300]
    (receipt,) = r.json()["receipts"]
    assert (receipt["status"], receipt["code"]) == ("rejected", "malformed")
    assert "outside the years 1-9999" in receipt["reason"]


# --- a trailing newline: "$" matches before it -------------------------------------------------
def _token_name(value: str) -> None:
    import sqlite3

    create_token(sqlite3.connect(":memory:"), value, "KOR", {"items:read"})


def _token_scope(value: str) -> None:
    import sqlite3

    create_token(sqlite3.connect(":memory:"), "ops", "KOR", {value})


@pytest.mark.parametrize("check, value", [
    ("sensor, party, stream or prefix token", "R1"), ("token name", "ops"), ("token scope", "items:read"),
    ("dialogue record id", "m1")])
def test_an_identifier_with_a_trailing_newline_is_refused(check, value):
    """A sensor id "R1\\n" from a detections header passed check_token and reached NATS as a
    subject (nats-py's BadSubjectError, a traceback); a token name or scope, a dialogue record id
    likewise kept the newline."""
    from accord.dialogue.model import check_record_id
    from accord.feeds.scans import check_token

    run = {"sensor, party, stream or prefix token": lambda v: check_token(v, "sensor"),
           "token name": _token_name, "token scope": _token_scope, "dialogue record id": check_record_id}[check]
    run(value)
    for bad in (value + "\n", value + "\r\n", "\n" + value):
        with pytest.raises(InputError) as info:
            run(bad)
        one_line(info.value)


@settings(max_examples=60, deadline=None)
@given(digits=st.integers(1, 5000), base=st.sampled_from(["0x", "0b", "0", "-0x", "+0b"]))
def test_a_yaml_integer_in_any_base_loads_iff_it_writes_back_in_decimal(digits, base):
    text = f"a: {base}{'1' * digits}\n"
    try:
        value = load_yaml(text)["a"]
    except InputError as exc:
        assert "too large" in one_line(exc)
        assert len(str(10 ** 4299)) == 4300   # the bound is the interpreter's own
        return
    assert len(str(abs(value))) <= 4300   # str() (json.dumps, an error message) can write it


@pytest.mark.parametrize("text, words", [
    ("alerts: [1, 2]\n", "'alerts' must be a mapping"),
    ("alerts: text\n", "'alerts' must be a mapping"),
    ("alerts:\n  margin_m: " + "9" * 400 + "\n", "finite number"),      # float(int) overflowed
    ("alerts:\n  margin_m: true\n", "must be a number"),                 # read as 1.0
    ("party: 5\nalerts: {}\n", "party"),                                  # 5.upper()
])
def test_an_alerts_section_of_the_wrong_shape_is_one_config_error(tmp_path, text, words):
    """A list or a string where the mapping goes, a number beyond a double, a boolean for a
    number, a numeric party: TypeError, ValueError, OverflowError or AttributeError tracebacks."""
    config = tmp_path / "node.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=words) as info:
        AlertRules.from_yaml(config)
    one_line(info.value)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["margin_m", "party", "areas", "alert_on_overflight", "clear_hold_s", "x"]),
                       st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
                       | st.sampled_from([10 ** 400, -10 ** 400, [1], {"a": 1}]), max_size=4)
       | st.lists(st.integers(), max_size=2) | st.text(max_size=5) | st.integers())
def test_any_alerts_section_is_rules_or_one_config_error(section):
    try:
        AlertRules.from_config(section, party="JPN")
    except ConfigError as exc:
        one_line(exc)
