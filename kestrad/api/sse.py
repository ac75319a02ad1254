"""Server-sent events: framing, and the response that carries a stream of them.

An SSE stream ends when its generator returns; Starlette cancels the generator when the
client goes away, so a follower never outlives its connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

HEARTBEAT = b": heartbeat\n\n"
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx would otherwise hold events back
}


def event(data: bytes, *, name: str | None = None, event_id: str | int | None = None) -> bytes:
    """One event; `data` is JSON (one line, so no `data:` continuation is needed)."""
    out = b""
    if name is not None:
        out += b"event: " + name.encode() + b"\n"
    if event_id is not None:
        out += b"id: " + str(event_id).encode() + b"\n"
    return out + b"data: " + data + b"\n\n"


def sse_response(stream: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)
