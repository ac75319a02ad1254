"""Big flow files (issue 11, "smaller, same spirit"): a file over `flows.max_file_size` is
refused with its name, and loading a big one no longer stalls the event loop.

Before: a 5 MB file was parsed on the loop and `/health` did not answer for 2.5 s.
"""

from __future__ import annotations

import threading
import time
import urllib.request

from .helpers import Daemon, StoreView, wait_until

SMALL = """
id: small
namespace: tests.size
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


def _big_flow(size: int, flow_id: str = "big") -> str:
    """A valid flow of at least `size` bytes: many Log tasks."""
    parts = [f"id: {flow_id}\nnamespace: tests.size\ntasks:\n"]
    total, index = len(parts[0]), 0
    while total < size:
        task = (
            f"  - id: t{index}\n    type: io.kestra.plugin.core.log.Log\n"
            f"    message: '{'x' * 400}'\n"
        )
        parts.append(task)
        total += len(task)
        index += 1
    return "".join(parts)


def test_a_file_over_the_limit_is_refused_by_name(daemon: Daemon, view: StoreView) -> None:
    daemon.write_config(flows__max_file_size=4000)
    daemon.write_flow("small.yml", SMALL)
    big = daemon.write_flow("big.yml", _big_flow(5000))
    daemon.start()
    size = big.stat().st_size
    log = daemon.wait_log("over flows.max_file_size")
    assert f"{big}:1:1: the file is {size} bytes, over flows.max_file_size (4000 bytes)" in log
    assert view.flow("tests.size", "big") is None
    assert view.flow("tests.size", "small") is not None

    # Growing past the limit later: the running revision stays, the error is logged again.
    ok = daemon.write_flow("big.yml", _big_flow(1000))
    wait_until(lambda: view.flow("tests.size", "big"), 15, "the small version of big.yml")
    daemon.write_flow("big.yml", _big_flow(6000))
    daemon.wait_log("over flows.max_file_size", count=2)
    assert view.flow("tests.size", "big").revision == 1  # type: ignore[union-attr]
    assert ok.exists()


def test_health_answers_while_a_5_mb_file_loads(daemon: Daemon, view: StoreView) -> None:
    daemon.write_config(flows__max_file_size=10 * 1024 * 1024)
    daemon.start()
    answered: list[float] = []  # when each /health answer arrived (monotonic)
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            with urllib.request.urlopen(daemon.url + "/health", timeout=30) as response:
                assert response.status == 200
            answered.append(time.monotonic())
            time.sleep(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        wait_until(lambda: len(answered) >= 3, 15, "/health answering")
        started = time.monotonic()
        daemon.write_flow("big.yml", _big_flow(5_000_000))
        wait_until(lambda: view.flow("tests.size", "big"), 120, "the 5 MB flow to load")
        loaded = time.monotonic()
    finally:
        stop.set()
        poller.join(30)
    during = [t for t in answered if started <= t <= loaded]
    gaps = [b - a for a, b in zip([started, *during], [*during, loaded], strict=True)]
    # The loop kept answering through the load: many answers, no silence for most of it.
    # (Relative to the load's own length, not a wall-clock bound; bench/ has the figures.)
    assert len(during) >= 5, (len(during), loaded - started)
    assert max(gaps) < (loaded - started) / 2, (max(gaps), loaded - started)
