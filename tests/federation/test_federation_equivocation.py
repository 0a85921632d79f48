"""A partner that equivocates — a head smaller than one it showed before, or a proof taken from
another tree — is flagged at once, and the flag stays when it then shows heads that extend the
last trusted one again (only an operator's reset clears it)."""

from __future__ import annotations

from accord.federation import share_many
from accord.federation.treeheads import check_partner_head, local_checkpoint, local_consistency
from federation_harness import note


class Heads:
    """JPN as KOR's transport sees it: the checkpoint and proofs the test chooses."""

    def __init__(self, jpn):
        self.jpn, self.note, self.proof_from = jpn, None, jpn

    def get_checkpoint(self, node, party):
        return self.note or local_checkpoint(self.jpn)

    def get_consistency(self, node, party, first, second):
        return local_consistency(self.proof_from, first, second)


def _flag(kor):
    return kor.conn.execute("SELECT inconsistent FROM fed_partner_state WHERE party='JPN'").fetchone()[0]


def test_a_smaller_head_later_is_flagged_and_the_flag_sticks(node_pair):
    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    share_many(jpn, [note(jpn, 1)], "KOR")
    heads = Heads(jpn)
    small = local_checkpoint(jpn)
    share_many(jpn, [note(jpn, 2)], "KOR")
    assert check_partner_head(kor, "JPN", heads).consistent          # the larger head trusted
    heads.note = small
    assert not check_partner_head(kor, "JPN", heads).consistent      # then a smaller one
    assert _flag(kor)
    heads.note = None
    share_many(jpn, [note(jpn, 3)], "KOR")
    assert check_partner_head(kor, "JPN", heads).consistent          # honest again …
    assert _flag(kor)                                                # … still flagged


def test_a_proof_from_another_tree_is_flagged(node_pair, tmp_path):
    from federation_harness import make_nodes

    jpn, kor = node_pair["JPN"], node_pair["KOR"]
    other = make_nodes(tmp_path / "other", ("JPN", "KOR"))            # another JPN ledger
    try:
        share_many(jpn, [note(jpn, 1)], "KOR")
        heads = Heads(jpn)
        assert check_partner_head(kor, "JPN", heads).consistent
        for i in range(2, 6):
            share_many(jpn, [note(jpn, i)], "KOR")
        for i in range(20):  # more entries than JPN's: any proof JPN is asked for exists in it
            share_many(other["JPN"], [note(other["JPN"], 100 + i)], "KOR")
        heads.proof_from = other["JPN"]
        assert not check_partner_head(kor, "JPN", heads).consistent
        assert _flag(kor)
    finally:
        for n in other.values():
            n.close()
