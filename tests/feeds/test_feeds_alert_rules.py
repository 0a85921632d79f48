"""The node's ``alerts:`` section of ``node.yaml`` (docs/alerts.md) governs the alerts its live
ingest issues: areas of responsibility, margin and the rest. The ingest built its engine with the
defaults whatever node.yaml said, so an operator's areas were silently ignored."""

from __future__ import annotations

import pytest

from accord.errors import ConfigError
from accord.feeds.ingest import Ingest, IngestOptions
from accord.node import Node
from accord.warning.io import read_detections


def ingest_of(node_dir, detections):
    header, _ = read_detections(detections)
    node = Node.open(node_dir)
    return node, Ingest(node, header, IngestOptions(url="-", stream="REF", durable="ref"))


def test_the_ingest_issues_alerts_under_the_nodes_alert_rules(tmp_path, japan_scenario):
    Node.init(tmp_path / "jpn", "JPN").close()
    with open(tmp_path / "jpn" / "node.yaml", "a") as f:
        f.write("alerts:\n  margin_m: 2000\n  areas: [JPN-01, JPN-02]\n")
    node, ing = ingest_of(tmp_path / "jpn", japan_scenario)
    try:
        assert (ing.engine.rules.party, ing.engine.rules.margin_m, ing.engine.rules.areas) == \
            ("JPN", 2000.0, ("JPN-01", "JPN-02"))
    finally:
        node.close()


def test_a_bad_alert_rule_in_node_yaml_stops_the_ingest_naming_it(tmp_path, japan_scenario):
    Node.init(tmp_path / "jpn", "JPN").close()
    with open(tmp_path / "jpn" / "node.yaml", "a") as f:
        f.write("alerts:\n  areas: [JPN-99]\n")
    with pytest.raises(ConfigError, match="unknown area code"):
        ingest_of(tmp_path / "jpn", japan_scenario)
