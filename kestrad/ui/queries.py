"""The executions list's filters, read from a page's query string and run on the store.

They become one `model.query.Query` (namespace with its sub-namespaces, flow, several
states, labels, a start-date range), which the store answers in SQL as it does for the
API's search; pages are keyset pages over (start date, id), newest first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.datastructures import QueryParams

from kestrad.model.execution import Execution
from kestrad.model.query import Filter, Op, Query
from kestrad.model.state import ALL_STATES
from kestrad.store.base import ExecutionStore
from kestrad.store.cursor import decode_cursor, encode_cursor, position
from kestrad.store.filters import UnsupportedFilter

PAGE_SIZE = 25
MAX_PAGE_SIZE = 200


class BadFilter(ValueError):
    """A filter value the list cannot use; the message names the field."""


@dataclass
class ExecutionFilters:
    namespace: str = ""
    flow_id: str = ""
    states: list[str] = field(default_factory=list)
    labels: list[tuple[str, str]] = field(default_factory=list)
    start: str = ""  # ISO instants (UTC), inclusive
    end: str = ""
    after: tuple[str, str] | None = None
    size: int = PAGE_SIZE

    @classmethod
    def parse(cls, query: QueryParams) -> ExecutionFilters:
        states = [s.upper() for s in query.getlist("state") if s]
        unknown = [s for s in states if s not in ALL_STATES]
        if unknown:
            raise BadFilter(f"state: unknown state {', '.join(unknown)}")
        labels = []
        for raw in query.getlist("label"):
            if not raw.strip():
                continue
            key, sep, value = raw.partition(":")
            if not sep or not key.strip():
                raise BadFilter(f"label: `{raw}` is not key:value")
            labels.append((key.strip(), value.strip()))
        after = None
        if query.get("after"):
            try:
                after = decode_cursor(query["after"])
            except ValueError:
                raise BadFilter("after: not a page cursor of this list") from None
        try:
            size = min(max(int(query.get("size") or PAGE_SIZE), 1), MAX_PAGE_SIZE)
        except ValueError:
            raise BadFilter("size: not a number") from None
        return cls(
            size=size,
            namespace=(query.get("namespace") or "").strip(),
            flow_id=(query.get("flow") or "").strip(),
            states=states,
            labels=labels,
            start=_instant(query.get("start") or "", "start"),
            end=_instant(query.get("end") or "", "end"),
            after=after,
        )

    def params(self) -> dict[str, object]:
        """The filters as query parameters (without the cursor)."""
        return {
            "namespace": self.namespace,
            "flow": self.flow_id,
            "state": self.states,
            "label": [f"{k}:{v}" for k, v in self.labels],
            "start": self.start[:16],
            "end": self.end[:16],
            "size": self.size if self.size != PAGE_SIZE else None,
        }


def _instant(text: str, name: str) -> str:
    """`2026-12-05T06:00` (a datetime-local field, read as UTC) → Kestra's ISO form."""
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadFilter(f"{name}: `{text}` is not a date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Page:
    rows: list[Execution]
    next: str | None  # cursor of the next page


def to_query(filters: ExecutionFilters) -> Query:
    items: list[Filter] = []
    if filters.namespace:
        items.append(Filter(field="namespace", op=Op.PREFIX, value=filters.namespace))
    if filters.flow_id:
        items.append(Filter(field="flowId", op=Op.EQUALS, value=filters.flow_id))
    if filters.states:
        items.append(Filter(field="state", op=Op.IN, value=list(filters.states)))
    if filters.labels:
        items.append(Filter(field="labels", op=Op.EQUALS, value=dict(filters.labels)))
    if filters.start:
        items.append(Filter(field="startDate", op=Op.GREATER_THAN_OR_EQUAL_TO, value=filters.start))
    if filters.end:
        items.append(Filter(field="startDate", op=Op.LESS_THAN_OR_EQUAL_TO, value=filters.end))
    return Query(filters=items)


async def search(store: ExecutionStore, filters: ExecutionFilters) -> Page:
    """One page, newest first, and the cursor of the next one when there is one."""
    try:
        rows = await store.find_executions(
            to_query(filters), now=time.time(), after=filters.after, limit=filters.size + 1
        )
    except UnsupportedFilter as exc:
        raise BadFilter(str(exc)) from None
    page = rows[: filters.size]
    more = len(rows) > filters.size
    return Page(page, encode_cursor(position(page[-1])) if more else None)
