"""The node's OpenAPI document against the node itself, with schemathesis (issue #16, "In CI").

Every operation of the document (user, dialogue, partner and TAXII APIs) is called with
requests that schemathesis generates from it — valid and invalid — as an authenticated admin of
the node, and each answer is checked: never a 5xx, and every status code, media type and body
is one the document declares (401/403/404/422 … and TAXII's media types included). The run is
bounded (:data:`EXAMPLES` a operation, ~35 operations) to stay well inside CI's time.

Two of schemathesis' checks are left out, on purpose: ``positive_data_acceptance`` (a request
the schema allows must succeed) and ``negative_data_rejection`` (a request it does not allow
must fail). The schema states the shape of a request; Accord checks the meaning — party codes,
classification names, record ids, banners — and answers those with 422, which the document
declares. FastAPI also ignores unknown query parameters, which the second check counts as
accepting invalid data.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks

from accord.api.app import create_app
from accord.api.deps import create_token
from accord.intel.node_store import store_for
from accord.node import Node

EXAMPLES = 12


def _served_node() -> tuple[Node, dict[str, str]]:
    """A node with an admin token and a TAXII collection, in a directory removed at exit."""
    tmp = tempfile.mkdtemp(prefix="accord-schemathesis-")
    atexit.register(shutil.rmtree, tmp, True)
    node = Node.init(f"{tmp}/JPN", party="JPN")
    token = create_token(node.conn, "schemathesis", "JPN", {"admin"})
    store_for(node).add_collection("Intel", alias="intel")
    return node, {"Authorization": f"Bearer {token}"}


NODE, AUTH = _served_node()
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(NODE), headers=AUTH)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_api_conforms_to_its_openapi_document(case):
    case.call_and_validate(headers=AUTH,
                           excluded_checks=[checks.positive_data_acceptance, checks.negative_data_rejection])


def test_openapi_document_declares_errors_and_taxii_media_types():
    doc = schema.raw_schema
    items = doc["paths"]["/api/v1/items"]["post"]["responses"]
    assert {"201", "401", "403", "404", "409", "422"} <= set(items)
    taxii = doc["paths"]["/taxii2/{api_root}/collections/{collection_id}/objects/"]["post"]["responses"]
    assert "application/taxii+json;version=2.1" in taxii["202"]["content"]
    assert {"400", "401", "403", "404", "406", "413", "415", "422"} <= set(taxii)
    assert "application/json" not in taxii["401"]["content"]
