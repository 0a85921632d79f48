"""node.yaml edited by hand: a misspelt key is refused in one line naming it, never ignored
(a typo'd ``partners:`` would unpin every partner; a typo'd ``to:`` in a sharing rule would
widen the rule to every partner)."""

from datetime import UTC, datetime

import pytest

from accord.clock import ManualClock
from accord.errors import ConfigError
from accord.federation.outbox import unpinned_config_rules
from accord.node import Node


@pytest.fixture
def jpn(tmp_path):
    clock = ManualClock(datetime(2026, 6, 1, tzinfo=UTC))
    kor = Node.init(tmp_path / "kor", "KOR", clock)
    node = Node.init(tmp_path / "jpn", "JPN", clock)
    node.add_partner("KOR", kor.identity.public_b64, "https://kor.example")
    kor.close()
    node.close()
    return tmp_path / "jpn"


def edit(directory, old, new):
    path = directory / "node.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("old, new, match", [
    ("partners:", "partnres:", r"node.yaml: unknown key 'partnres' \(did you mean 'partners'\?\)"),
    ("    url:", "    ulr:", r"node.yaml: partners.KOR: unknown key 'ulr' \(did you mean 'url'\?\)"),
])
def test_a_misspelt_key_is_refused_naming_it(jpn, old, new, match):
    edit(jpn, old, new)
    with pytest.raises(ConfigError, match=match):
        Node.open(jpn)


def test_every_documented_section_is_accepted(jpn):
    with open(jpn / "node.yaml", "a") as f:
        f.write("sharing:\n  - {kinds: warning.track, to: KOR}\nalerts:\n  margin_m: 5000\n")
    node = Node.open(jpn)
    try:
        assert "KOR" in node.partners()
    finally:
        node.close()


def test_a_sharing_rule_with_a_misspelt_key_is_refused_not_widened(jpn):
    with open(jpn / "node.yaml", "a") as f:
        f.write("sharing:\n  - {kinds: warning.track, too: KOR}\n")
    with pytest.raises(ConfigError, match=r"node.yaml: sharing\[0\]: unknown key 'too' \(did you mean 'to'\?\)"):
        Node.open(jpn)
    (jpn / "node.yaml").write_text((jpn / "node.yaml").read_text().replace("too:", "to:"))
    node = Node.open(jpn)
    try:
        assert unpinned_config_rules(node) == []
    finally:
        node.close()
