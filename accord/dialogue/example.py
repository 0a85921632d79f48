"""The demo: the Japan–ROK defence ministers' series, recorded on both parties' nodes.

:func:`load_example` plays the real protocol between two nodes, each signing only for itself:

1. the recording node (the JPN node) loads ``data/japan-rok-ministers.yaml``: the series, the
   first meeting, its decisions, every commitment as ``proposed``, and takes its *own*
   commitments to the status the file records (JPN signs them);
2. the versions travel to the KOR node (``deliver``, e.g. federation), which verifies and indexes them;
3. the KOR node takes *its* commitments to their recorded status (KOR signs: only the owner
   may agree), and those versions travel back.

Both nodes then hold the same record, version for version (:func:`record_digests`). Node
creation and delivery are the caller's (the CLI's), so this pillar needs no node or network code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from importlib.resources import files
from typing import Any

from accord.core.canonical import canonical_json
from accord.dialogue.inputs import DialogueFile, load_dialogue_file
from accord.dialogue.model import CommitmentChange, steps_to
from accord.dialogue.store import DialogueStore, Outcome
from accord.dialogue.versions import SignedVersion

EXAMPLE = "japan-rok-ministers.yaml"


def example_path() -> Any:
    return files("accord.dialogue") / "data" / EXAMPLE


def load_example_file() -> tuple[DialogueFile, Any]:
    path = example_path()
    return load_dialogue_file(str(path), path.read_text(encoding="utf-8"))


def adopt(store: DialogueStore, data: DialogueFile) -> Outcome:
    """Take this node's own commitments of ``data`` to the status the file records (one version a step)."""
    versions: list[SignedVersion] = []
    shared: list[tuple[str, str, str]] = []
    targets = {c.id: c for m in data.meetings for c in m.commitments if c.id}
    for c, _ in store.commitments(data.series.id, owner=store.node.party):
        want = targets.get(c.id)
        if want is None or c.status == want.status:
            continue
        todo = steps_to(c.status, want.status)
        for st in todo:
            out = store.update_commitment(c.id, CommitmentChange(status=st))
            versions += out.versions
            shared += out.shared
    return Outcome(tuple(versions), tuple(shared))


def record_digests(store: DialogueStore) -> dict[str, str]:
    """record id → SHA-256 over the canonical JSON of its digest chain (equal iff same history)."""
    store.sync()
    out: dict[str, list[str]] = {}
    for row in store.conn.execute("SELECT record_id, digest FROM dialogue_versions ORDER BY record_id, version"):
        out.setdefault(row["record_id"], []).append(row["digest"])
    return {r: hashlib.sha256(canonical_json(d)).hexdigest() for r, d in out.items()}


def load_example(recorder: DialogueStore, partner: DialogueStore,
                 deliver: Callable[[Any, str], object]) -> dict[str, Any]:
    """Run steps 1–3 of the module docstring; ``deliver(node, to_party)`` drains an outbox."""
    data, root = load_example_file()
    first = recorder.load(data, source=EXAMPLE, root=root) if not recorder.exists(data.series.id) \
        else Outcome(())
    first_adopt = adopt(recorder, data)
    deliver(recorder.node, partner.node.party)
    partner.sync()
    second = adopt(partner, data)
    deliver(partner.node, recorder.node.party)
    recorder.sync()
    a, b = record_digests(recorder), record_digests(partner)
    commitments = {c.id: c.status.value for c, _ in recorder.commitments(data.series.id)}
    stored = dict.fromkeys((recorder.node.party, partner.node.party), 0)
    stored.update((r[0], r[1]) for r in recorder.conn.execute(
        "SELECT signer, COUNT(*) FROM dialogue_versions WHERE series_id = ? GROUP BY signer", (data.series.id,)))
    # "versions": signed by this run (none when the example was loaded before); "versions_stored":
    # every version of the series the recorder holds, by signer
    return {"series": data.series.id,
            "versions": {recorder.node.party: len(first.versions) + len(first_adopt.versions),
                         partner.node.party: len(second.versions)},
            "versions_stored": stored,
            "not_shared": [s for o in (first, first_adopt, second) for s in o.shared if s[2] not in ("queued", "already_queued")],
            "records": len(a), "identical": a == b, "commitments": commitments}


__all__ = ["EXAMPLE", "adopt", "example_path", "load_example", "load_example_file", "record_digests"]
