"""The executions list's filters, read from a page's query string and run on the store.

The store answers namespace, flow and one state with an index range scan. The other
filters (several states, sub-namespaces, labels, a time range) are checked on the rows
of that scan, page by page, with a budget of rows per request: a page is never slower
than `SCAN_BUDGET` rows, and when the budget runs out before the page is full the
"next" cursor still points at the last row looked at, so paging goes on from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.datastructures import QueryParams

from kestrad.model.execution import Execution
from kestrad.model.state import ALL_STATES
from kestrad.store.base import ExecutionStore
from kestrad.store.cursor import decode_cursor, encode_cursor, position

PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
SCAN_BUDGET = 2000
SCAN_CHUNK = 200


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

    def keep(self, execution: Execution) -> bool:
        """The checks the store's index scan did not make."""
        if self.namespace and not (
            execution.namespace == self.namespace
            or execution.namespace.startswith(self.namespace + ".")
        ):
            return False
        if self.states and execution.state.current not in self.states:
            return False
        if self.labels:
            have = {(label.key, label.value) for label in execution.labels}
            if not all(pair in have for pair in self.labels):
                return False
        start_date = execution.state.start_date
        if self.start and start_date < self.start:
            return False
        return not (self.end and start_date > self.end)


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
    scanned: int


async def search(store: ExecutionStore, filters: ExecutionFilters) -> Page:
    """One page, newest first. The scan uses the narrowest index the filters allow:
    a flow needs its namespace to be exact (a sub-namespace filter scans by flow id)."""
    one_state = filters.states[0] if len(filters.states) == 1 else None
    exact_namespace = filters.namespace if filters.flow_id else None
    rows: list[Execution] = []
    after = filters.after
    if after is None and filters.end:
        after = (filters.end + "~", "")  # every start date at or before `end`
    scanned = 0
    while scanned < SCAN_BUDGET:
        chunk = await store.search_executions(
            namespace=exact_namespace,
            flow_id=filters.flow_id or None,
            state=one_state,
            after=after,
            limit=SCAN_CHUNK,
        )
        for execution in chunk:
            scanned += 1
            after = position(execution)
            if filters.start and execution.state.start_date < filters.start:
                return Page(rows, None, scanned)  # newest first: nothing older qualifies
            if filters.keep(execution):
                rows.append(execution)
                if len(rows) == filters.size:
                    return Page(rows, encode_cursor(after), scanned)
        if len(chunk) < SCAN_CHUNK:
            return Page(rows, None, scanned)
    return Page(rows, encode_cursor(after) if after else None, scanned)
