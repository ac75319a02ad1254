"""How long `/health` waits while `kestrad serve` loads a big flow file.

Starts a daemon over a temporary folder, polls `/health` from a thread, drops a flow file
of `--size` bytes (many Log tasks) into its folder, and reports the load time and the
slowest `/health` answer during it.

    .venv/bin/python bench/flow_load_health.py --size 5000000
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


def big_flow(size: int) -> str:
    parts = ["id: big\nnamespace: bench.size\ntasks:\n"]
    total, index = len(parts[0]), 0
    while total < size:
        task = f"  - id: t{index}\n    type: io.kestra.plugin.core.log.Log\n    message: '{'x' * 400}'\n"
        parts.append(task)
        total += len(task)
        index += 1
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=5_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        (tmp / "flows").mkdir()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        config = {
            "database": {"url": f"sqlite:///{tmp}/k.db"},
            "flows": {"path": str(tmp / "flows"), "max_file_size": args.size * 2},
            "server": {"host": "127.0.0.1", "port": port},
        }
        (tmp / "kestrad.yml").write_text(json.dumps(config))
        repo = Path(__file__).resolve().parents[1]
        daemon = subprocess.Popen(
            [sys.executable, "-m", "kestrad", "serve", "--config", str(tmp / "kestrad.yml")],
            env={**os.environ, "PYTHONPATH": str(repo)},
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}/health"
            for _ in range(300):
                try:
                    urllib.request.urlopen(url, timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            waits: list[tuple[float, float]] = []
            stop = threading.Event()

            def poll() -> None:
                while not stop.is_set():
                    sent = time.monotonic()
                    urllib.request.urlopen(url, timeout=60).read()
                    waits.append((sent, time.monotonic() - sent))
                    time.sleep(0.01)

            thread = threading.Thread(target=poll, daemon=True)
            thread.start()
            started = time.monotonic()
            (tmp / "flows" / "big.yml").write_text(big_flow(args.size))
            while True:
                with sqlite3.connect(tmp / "k.db") as conn:
                    if conn.execute("SELECT 1 FROM flows WHERE id = 'big'").fetchone():
                        break
                time.sleep(0.05)
            loaded = time.monotonic() - started
            stop.set()
            thread.join(60)
            during = [w for s, w in waits if s >= started]
            print(
                f"file {args.size} bytes: loaded in {loaded:.2f}s; /health answered "
                f"{len(during)} times meanwhile, slowest {max(during) * 1000:.0f} ms"
            )
        finally:
            daemon.terminate()
            daemon.wait(30)


if __name__ == "__main__":
    main()
