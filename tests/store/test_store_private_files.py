"""Files a node writes are 0600 (directories 0700) whatever the umask (issue #16, item 6)."""

import os
import stat

import pytest

from accord.api.deps import create_token
from accord.api.tls import make_self_signed, pin_partner_cert
from accord.core.items import new_item
from accord.core.markings import Marking
from accord.node import Node
from accord.store.sqlite import connect

pytestmark = pytest.mark.sqlite_only  # SQLite itself: its file, WAL and connections



@pytest.fixture
def umask_000():
    old = os.umask(0)
    yield
    os.umask(old)


def modes(directory):
    out = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(root, name)
            out[os.path.relpath(path, directory)] = stat.S_IMODE(os.stat(path).st_mode)
    return out


def test_every_file_a_node_writes_is_owner_only_under_umask_000(tmp_path, umask_000):
    jpn = Node.init(tmp_path / "jpn", "JPN")
    kor = Node.init(tmp_path / "kor", "KOR")
    jpn.add_partner("KOR", kor.identity.public_b64, "https://kor.example")      # rewrites node.yaml
    jpn.put_item(new_item("test.note", {"n": 1}, Marking.parse("UNCLASSIFIED"), "JPN", jpn.clock.now()))
    create_token(jpn.conn, "analyst", "JPN", frozenset({"status"}))
    make_self_signed(jpn.dir, "JPN")
    make_self_signed(kor.dir, "KOR")
    pin_partner_cert(jpn.dir, "KOR", kor.dir / "tls" / "cert.pem", None)
    found = modes(jpn.dir)                      # while the connection is open: -wal and -shm exist
    assert {"node.key", "node.yaml", "accord.db", "accord.db-wal", "accord.db-shm", "tls/key.pem",
            "tls/cert.pem", "tls/partners/KOR.pem"} <= set(found)
    loose = {p: oct(m) for p, m in found.items()
             if m != (0o700 if os.path.isdir(jpn.dir / p) else 0o600)}
    assert loose == {}
    assert stat.S_IMODE(os.stat(jpn.dir).st_mode) == 0o700
    jpn.close()
    kor.close()


def test_a_database_left_world_readable_is_narrowed_when_opened(tmp_path, umask_000):
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    (tmp_path / "old.db-wal").touch(mode=0o666)
    conn = connect(path)
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "old.db-wal").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "old.db-shm").stat().st_mode) == 0o600
    conn.close()
