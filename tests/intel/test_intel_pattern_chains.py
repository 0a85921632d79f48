"""A STIX pattern chaining many comparisons (``A OR B OR …``) nests the pattern parser's tree one
level per operator, brackets or not: 1,000 of them were a ``RecursionError`` inside
``stix2.parse`` — a 500 from a TAXII add to a strict collection — after seconds of parsing. The
operators are now bounded like the brackets, before any parser runs, with a one-line refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.api.deps import create_token
from accord.api.taxii import MEDIA_TAXII
from accord.errors import InputError
from accord.intel.import_export import validate_objects
from accord.intel.node_store import store_for
from accord.intel.validate import MAX_PATTERN_DEPTH, MAX_PATTERN_OPERATORS, validate_full
from accord.node import Node

INDICATOR = {"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
             "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
             "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}


def _ors(n: int) -> str:
    return "[" + " OR ".join(f"ipv4-addr:value = '10.0.{i // 250}.{i % 250}'" for i in range(n + 1)) + "]"


def _observations(n: int, literal: str = "a OR b AND c") -> str:
    return " FOLLOWEDBY ".join(f"[file:name = '{literal} {i}']" for i in range(n + 1))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    node = Node.init(Path(tmp_path_factory.mktemp("nodes")) / "KOR", party="KOR")
    token = create_token(node.conn, "ops", "KOR", {"admin"})
    strict = store_for(node).add_collection("Checked", alias="checked", strict=True).id
    client = TestClient(create_app(node), raise_server_exceptions=False)
    client.headers.update({"Authorization": f"Bearer {token}", "Content-Type": MEDIA_TAXII, "Accept": MEDIA_TAXII})
    yield client, strict
    node.close()


@pytest.mark.parametrize("pattern", [_ors(1000), _ors(20_000), _observations(MAX_PATTERN_OPERATORS + 1),
                                     _observations(2000, literal="x")])
def test_a_pattern_chaining_too_many_operators_is_refused_in_one_line(pattern):
    obj = dict(INDICATOR, pattern=pattern)
    for check in (lambda: validate_full([obj]), lambda: validate_objects([obj], source="bundle.json")):
        with pytest.raises(InputError) as info:
            check()
        messages = [str(info.value)] + [f["message"] for f in getattr(info.value, "failures", [])]
        assert any(f"more than {MAX_PATTERN_OPERATORS} AND/OR/FOLLOWEDBY operators" in m for m in messages), messages
        assert all("\n" not in m for m in messages)


def test_operators_inside_quoted_literals_do_not_count():
    obj = dict(INDICATOR, pattern="[file:name = '" + " OR " * 2000 + "']")
    validate_full([obj], validator=False)


def test_a_taxii_add_at_the_bounds_is_stored_and_past_them_refused_without_a_500(served):
    client, strict = served
    url = f"/taxii2/intel/collections/{strict}/objects/"
    # the most the bounds allow together: brackets MAX_PATTERN_DEPTH deep around a chain of
    # MAX_PATTERN_OPERATORS comparisons — parsed and validated in the server's worker thread
    inner = " OR ".join(f"ipv4-addr:value = '10.1.{i // 250}.{i % 250}'" for i in range(MAX_PATTERN_OPERATORS + 1))
    at_bounds = "[" + "(" * (MAX_PATTERN_DEPTH - 1) + inner + ")" * (MAX_PATTERN_DEPTH - 1) + "]"
    r = client.post(url, content=json.dumps({"objects": [dict(INDICATOR, pattern=at_bounds)]}))
    assert r.status_code == 202 and r.json()["success_count"] == 1, r.text[:300]
    past = dict(INDICATOR, id="indicator--9e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", pattern=_ors(1000))
    r = client.post(url, content=json.dumps({"objects": [past]}))
    assert r.status_code in (400, 422) and "operators" in r.text, r.text[:300]
