"""Round trips to PostgreSQL per execution, and which statements make them.

    python bench/pg_round_trips.py [--rate 500] [--duration 8] [--warmup 2] [--daemons 1]

Runs `bench/webhook_load.py --database-url postgres` at one rate through a counting
proxy in front of the server: each Sync (extended protocol) or Query (simple protocol)
message a `kestrad/…` session sends is one round trip, and each Bind is attributed to
the text its prepared statement was parsed from. Prints round trips per execution and
the statements behind them (per execution, most frequent first). Batches grow with the
load and shrink as round trips get faster, so compare round trips per write
transaction too. The proxy costs CPU and latency: use it to count, never to time (time
with webhook_load.py itself). Run it from the tree it should measure (`python -m
kestrad` puts the working folder first on the path).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SSL_REQUEST = 80877103


class Counts:
    """Round trips and statement executions of the daemons' sessions."""

    def __init__(self) -> None:
        self.round_trips = 0
        self.statements: collections.Counter[str] = collections.Counter()


async def _client_side(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counts: Counts
) -> None:
    """Forward the client's bytes, parsing its messages on the way."""
    buffer, startup, ours = b"", True, False
    prepared: dict[bytes, str] = {}
    while data := await reader.read(65536):
        writer.write(data)
        buffer += data
        while True:
            if startup:  # untyped: SSLRequest, then the startup message
                if len(buffer) < 8 or len(buffer) < struct.unpack("!I", buffer[:4])[0]:
                    break
                size, code = struct.unpack("!II", buffer[:8])
                body, buffer = buffer[8:size], buffer[size:]
                if code != SSL_REQUEST:
                    startup = False
                    fields = body.split(b"\0")
                    settings = dict(zip(fields[::2], fields[1::2], strict=False))
                    ours = settings.get(b"application_name", b"").startswith(b"kestrad/")
                continue
            if len(buffer) < 5 or len(buffer) < 1 + struct.unpack("!I", buffer[1:5])[0]:
                break
            kind, size = buffer[:1], struct.unpack("!I", buffer[1:5])[0]
            body, buffer = buffer[5 : 1 + size], buffer[1 + size :]
            if not ours:
                continue
            if kind in (b"S", b"Q"):
                counts.round_trips += 1
            if kind == b"Q":
                counts.statements["(simple) " + _short(body[:-1])] += 1
            elif kind == b"P":
                name, rest = body.split(b"\0", 1)
                prepared[name] = _short(rest.split(b"\0", 1)[0])
            elif kind == b"B":
                statement = body.split(b"\0", 2)[1]
                counts.statements[prepared.get(statement, "?")] += 1
    writer.close()


async def _server_side(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
    writer.close()


def _short(sql: bytes) -> str:
    return " ".join(sql.decode(errors="replace").split())[:100]


async def _proxy(counts: Counts, upstream: tuple[str, int]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*upstream)
        await asyncio.gather(
            _client_side(reader, up_writer, counts),
            _server_side(up_reader, writer),
            return_exceptions=True,
        )

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--daemons", type=int, default=1)
    parser.add_argument("--top", type=int, default=20, help="statements listed")
    args = parser.parse_args()
    from common import POSTGRES_SERVER  # bench/common.py

    host_port = POSTGRES_SERVER.rsplit("@", 1)[-1].split("/")[0]
    host, _, port = host_port.partition(":")
    counts = Counts()
    server = await _proxy(counts, (host, int(port or 5432)))
    proxy_port = server.sockets[0].getsockname()[1]
    env = dict(os.environ, KESTRAD_BENCH_POSTGRES=f"postgresql://postgres@127.0.0.1:{proxy_port}")
    command = [sys.executable, str(HERE / "webhook_load.py"), "--client", "raw"]
    command += ["--database-url", "postgres", "--rates", str(args.rate), "--idle", "0"]
    command += ["--duration", str(args.duration), "--warmup", str(args.warmup)]
    command += ["--daemons", str(args.daemons), "--output", "pg_round_trips_run"]
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.DEVNULL
    )
    await process.wait()
    server.close()
    (HERE / "results" / "pg_round_trips_run.json").unlink(missing_ok=True)
    executions = args.rate * (args.duration + args.warmup)
    transactions = counts.statements["(simple) BEGIN;"]
    print(
        f"{args.rate}/s, {args.daemons} daemon(s), ~{executions:.0f} executions: "
        f"{counts.round_trips / executions:.2f} round trips per execution, "
        f"{counts.round_trips / max(transactions, 1):.1f} per write transaction "
        f"({executions / max(transactions, 1):.1f} executions each)"
    )
    print("| per execution | statement |\n|---|---|")
    for sql, n in counts.statements.most_common(args.top):
        print(f"| {n / executions:.3f} | `{sql}` |")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    asyncio.run(main())
