"""The real NATS server with JetStream at 127.0.0.1:4222 (scripts/test.sh starts one if none
runs), a scenario with a missile aimed at Japan, and unique stream / subject / consumer names
per test (removed afterwards), so runs never collide."""

from __future__ import annotations

import asyncio
import socket
import uuid
from dataclasses import dataclass

import pytest

from accord.warning.io import write_detections
from accord.warning.sim import DEFAULT_SENSORS, LaunchSpec, ScenarioSpec, simulate

NATS_URL = "nats://127.0.0.1:4222"


def _listening(host: str = "127.0.0.1", port: int = 4222) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Names:
    stream: str
    prefix: str
    consumer: str


@pytest.fixture
def nats_url() -> str:
    if not _listening():
        pytest.fail("no NATS server at 127.0.0.1:4222: the live-feed tests need NATS with JetStream "
                    "(scripts/test.sh installs Debian's nats-server and starts it; or run "
                    "`nats-server -js -a 127.0.0.1 -p 4222 --store_dir DIR`)")
    return NATS_URL


@pytest.fixture
def names(nats_url):
    tag = uuid.uuid4().hex[:12]
    n = Names(stream=f"TEST_{tag}", prefix=f"test{tag}", consumer=f"ingest-{tag}")
    yield n

    async def drop() -> None:
        import nats
        from nats.js.errors import NotFoundError

        nc = await nats.connect(nats_url)
        try:
            await nc.jetstream().delete_stream(n.stream)
        except NotFoundError:
            pass
        finally:
            await nc.close()

    asyncio.run(drop())


@pytest.fixture(scope="session")
def japan_scenario(tmp_path_factory):
    """One missile from 39.6°N 127.3°E aimed at northern Honshu, 230 s: tracks, predictions and
    JPN alerts (an Alert and Updates) within the run."""
    spec = ScenarioSpec(sensors=DEFAULT_SENSORS, seed=11, duration=230.0, launches=(
        LaunchSpec(id="M001", launch_t=5.0, launch_lat_deg=39.6, launch_lon_deg=127.3,
                   aim_lat_deg=40.6, aim_lon_deg=140.4, trajectory="minimum-energy"),))
    result = simulate(spec)
    path = tmp_path_factory.mktemp("scenario") / "detections.jsonl"
    write_detections(path, result.header, result.detections)
    return path
