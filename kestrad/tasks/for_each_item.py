"""`io.kestra.plugin.core.flow.ForEachItem`: one subflow execution per batch of a file's lines.

As in Kestra, the task is a flowable with three fixed children, named after it:
`<id>_split` (a worker cuts the file into batch files), `<id>_items` (the executor starts
one subflow execution per batch, `taskrun.items` being the batch's URI and
`taskrun.iteration` its index, and with `wait` ends once every one has ended) and
`<id>_merge` (a worker writes the subflows' outputs to one file, one JSON line each).
Kestra: ForEachItemCaseTest (forEachItem, forEachItemFailed, forEachItemNoWait,
forEachItemWithSubflowOutputs, forEachItemEmptyItems).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import anyio
import msgspec

from kestrad.storage.uris import StorageURI
from kestrad.tasks.base import Flowable, RunnableTask, Task, TaskFailed, TaskKind, TaskList
from kestrad.tasks.context import RunContext
from kestrad.tasks.flowable_support import ERRORS, FINALLY, Resolved, resolve_list
from kestrad.tasks.props import Int, LabelSet
from kestrad.tasks.registry import register
from kestrad.tasks.storage_tasks import _group, _rows, _source, parse_bytes

_INTERNAL = "io.kestra.plugin.core.flow.ForEachItem$ForEachItem"


class Batch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """How the items are cut: `rows` per batch (1 by default), `bytes`, or `partitions`."""

    rows: Int | None = None
    bytes: str | None = None
    partitions: Int | None = None
    separator: str = "\n"


class ForEachItemSplit(RunnableTask, kw_only=True):
    """`<id>_split`: the batch files. `splits` is Kestra's file listing their URIs;
    `batches` holds the same URIs for the executor, which reads no files."""

    items: str
    batch: Batch

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        rendered = str(ctx.render(self.items))
        if not rendered.startswith("kestra://"):
            raise TaskFailed(
                f"Unable to split the items from {rendered}, this is not an internal storage URI!"
            )
        given = (ctx.variables.get("inputs") or {}).values()
        if rendered in given:  # a file handed to this execution as an input is its own
            source = StorageURI.parse(rendered)
        else:
            source = _source(ctx, rendered, "items")
        batch = self.batch
        if batch.bytes is not None:
            mode, limit = "bytes", parse_bytes(ctx.render(batch.bytes))
        elif batch.partitions is not None:
            mode, limit = "partitions", ctx.integer(batch.partitions, "batch.partitions")
        else:
            rows = batch.rows if batch.rows is not None else 1
            mode, limit = "rows", ctx.integer(rows, "batch.rows")
        if limit <= 0:
            raise TaskFailed(f"`batch.{mode}` must be positive, got {limit}")
        separator = str(ctx.render(batch.separator)).encode()
        storage, base = ctx.storage, ctx.task_run_uri()

        def split() -> dict[str, Any]:
            groups = _group(_rows(storage.get(source), separator), mode, limit, len(separator))
            uris = []
            for index, group in enumerate(groups):
                target = base.child(f"batch-{index}.txt")
                storage.put(target, b"".join(row + separator for row in group))
                uris.append(str(target))
            listing = base.child("splits.txt")
            storage.put(listing, "\n".join(uris).encode())
            return {"splits": str(listing), "batches": uris}

        return await anyio.to_thread.run_sync(split)


class ForEachItemExecutable(Task, kw_only=True):
    """`<id>_items`: one subflow execution per batch, started by the executor."""

    split_id: str
    namespace: str
    flow_id: str
    revision: int | None = None
    inputs: dict[str, Any] | None = None
    labels: LabelSet | None = None
    wait: bool = True
    transmit_failed: bool = True
    inherit_labels: bool = False
    schedule_date: str | None = None
    outputs: dict[str, Any] | None = None  # a Subflow's deprecated field; unused here

    kind: ClassVar[TaskKind] = TaskKind.EXECUTABLE
    # Starts several executions, one per batch (see runtime/advance.py: _start_subflow).
    iterative: ClassVar[bool] = True


class ForEachItemMergeOutputs(RunnableTask, kw_only=True):
    """`<id>_merge`: the subflows' outputs, in iteration order, as one JSON-lines file."""

    items_id: str

    def reads_outputs(self) -> set[str]:
        """The outputs its worker job must carry (it names no `outputs.x` in a template)."""
        return {self.items_id}

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        produced = (ctx.variables.get("outputs") or {}).get(self.items_id) or {}
        parent = ctx.variables.get("parent") or {}
        value = (parent.get("taskrun") or {}).get("value")
        if value is not None and isinstance(produced.get(value), dict):
            produced = produced[value]  # inside a loop, outputs are keyed by its value
        per_iteration = produced.get("iterationOutputs") or {}
        if not per_iteration:
            return None
        lines = "".join(
            json.dumps(per_iteration[key], separators=(",", ":"), ensure_ascii=False) + "\n"
            for key in sorted(per_iteration, key=int)
        )
        uri = ctx.task_run_uri().child("outputs.jsonl")
        await anyio.to_thread.run_sync(ctx.storage.put, uri, lines.encode())
        return {"subflowOutputs": str(uri)}


@register("io.kestra.plugin.core.flow.ForEachItem", "io.kestra.core.tasks.flows.ForEachItem")
class ForEachItem(Flowable, kw_only=True, dict=True):
    """Runs a subflow for each batch of lines of `items` (an internal-storage file)."""

    items: str
    batch: Batch = msgspec.field(default_factory=Batch)
    namespace: str
    flow_id: str
    revision: int | None = None
    inputs: dict[str, Any] | None = None
    labels: LabelSet | None = None
    wait: bool = True
    transmit_failed: bool = True
    inherit_labels: bool = False
    schedule_date: str | None = None
    restart_behavior: str = "RETRY_FAILED"
    child_fields: ClassVar[tuple[str, ...]] = ("parts", "errors", "finally_")

    @property
    def parts(self) -> TaskList:
        """The three fixed children, built once (Kestra's `getTasks()`)."""
        built = self.__dict__.get("_parts")
        if built is None:
            built = [
                ForEachItemSplit(
                    id=f"{self.id}_split",
                    type=_INTERNAL + "Split",
                    items=self.items,
                    batch=self.batch,
                ),
                ForEachItemExecutable(
                    id=f"{self.id}_items",
                    type=_INTERNAL + "Executable",
                    split_id=f"{self.id}_split",
                    namespace=self.namespace,
                    flow_id=self.flow_id,
                    revision=self.revision,
                    inputs=self.inputs,
                    labels=self.labels,
                    wait=self.wait,
                    transmit_failed=self.transmit_failed,
                    inherit_labels=self.inherit_labels,
                    schedule_date=self.schedule_date,
                ),
                ForEachItemMergeOutputs(
                    id=f"{self.id}_merge",
                    type=_INTERNAL + "MergeOutputs",
                    items_id=f"{self.id}_items",
                ),
            ]
            self.__dict__["_parts"] = built
        return built

    def lists(self, fx: Any, run: Any) -> tuple[list[Resolved], list[Resolved], list[Resolved]]:
        return (
            resolve_list(self.parts),
            resolve_list(self.errors, ERRORS),
            resolve_list(self.finally_, FINALLY),
        )
