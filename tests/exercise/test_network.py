"""The simulated network applies delay, loss and partitions, deterministically."""

from accord.exercise.network import Link, SimulatedNetwork


def test_delay_and_ordering():
    net = SimulatedNetwork({frozenset(("JPN", "KOR")): Link(delay_s=0.05)}, seed=1)
    assert net.send("JPN", "KOR", 1.0, "a") and net.send("JPN", "KOR", 1.01, "b")
    assert net.due(1.04) == []
    assert [m[3] for m in net.due(1.07)] == ["a", "b"]


def test_partition_drops_messages_only_while_it_lasts():
    net = SimulatedNetwork({frozenset(("JPN", "KOR")): Link(partitions=((10.0, 20.0),))}, seed=1)
    assert not net.send("KOR", "JPN", 15.0, "x")
    assert net.send("KOR", "JPN", 20.0, "y")
    assert [m[3] for m in net.due(20.0)] == ["y"]
    assert net.partition_drops == 1


def test_loss_rate_and_determinism():
    def run():
        net = SimulatedNetwork({frozenset(("A", "B")): Link(loss=0.2, jitter_s=0.01)}, seed=7)
        return [net.send("A", "B", float(i), i) for i in range(2000)], net

    r1, n1 = run()
    r2, _ = run()
    assert r1 == r2
    assert 0.15 < n1.lost / 2000 < 0.25
