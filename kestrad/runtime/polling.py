"""Polling triggers: evaluations run beside the scheduler, never inside its tick.

When a polling trigger (`interval`) comes due, the scheduler's tick only hands a PollJob
to the Poller and moves the trigger's next evaluation on; the trigger leaves the heap
until its result is back. The Poller evaluates jobs concurrently (bounded) in its own
task, so an HTTP call that takes ten seconds delays that trigger only, never a tick. Each
result is delivered back to the scheduler, whose next tick turns it into an execution in
its own transaction, with the trigger states of that tick.

An evaluator is an async function registered per polling trigger type (the kind's
runtime half: it does the I/O); it returns the trigger variables of the execution to
create, or None when there is nothing to do.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import msgspec

from kestrad.expr.engine import Renderer
from kestrad.model.flow import Flow
from kestrad.model.registry import Registry
from kestrad.store.base import TriggerKey
from kestrad.triggers.base import Trigger

log = logging.getLogger("kestrad.polling")

Evaluator = Callable[[Any, "PollContext"], Awaitable[dict[str, Any] | None]]


def _load_builtins() -> None:
    from kestrad.runtime import http_trigger  # noqa: F401


# Polling trigger type name → its evaluator.
POLLERS: Registry[Evaluator] = Registry("poller", load=_load_builtins)


def register_poller(trigger_class: type) -> Callable[[Evaluator], Evaluator]:
    """Decorator: `fn` evaluates triggers of `trigger_class` (a registered trigger schema)."""
    return POLLERS.register(trigger_class.type_name)


def evaluator_for(trigger: Trigger) -> Evaluator | None:
    """The evaluator of a trigger's class, or of the nearest base class that has one."""
    for cls in type(trigger).__mro__:
        type_name = vars(cls).get("type_name")
        if type_name:
            found = POLLERS.resolve(type_name)
            if found is not None:
                return found
    return None


class PollJob(msgspec.Struct, kw_only=True):
    """One evaluation of one trigger, as of `date` (epoch seconds)."""

    key: TriggerKey
    flow: Flow
    trigger: Trigger
    date: str


class PollResult(msgspec.Struct, kw_only=True):
    """What an evaluation found: trigger variables (None = nothing), or why it failed."""

    key: TriggerKey
    variables: dict[str, Any] | None = None
    error: str | None = None


class PollContext:
    """What an evaluator may use: the renderer over the flow's context, and a timeout."""

    def __init__(self, job: PollJob, renderer: Renderer, timeout: float) -> None:
        flow = job.flow
        self.job = job
        self.renderer = renderer
        self.timeout = timeout
        self.variables: dict[str, Any] = {
            "flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision},
            "trigger": {"date": job.date},
            "labels": dict(flow.labels or {}),
        }

    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        return self.renderer.render_value(value, self._context(extra))

    def render_typed(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        return self.renderer.render_value_typed(value, self._context(extra))

    def _context(self, extra: Mapping[str, Any] | None) -> Mapping[str, Any]:
        return {**self.variables, **extra} if extra else self.variables


class Poller:
    """Runs PollJobs with at most `concurrency` at once; every job gets exactly one result.

    `deliver` is called on the event loop with each result (the scheduler's `polled`).
    """

    def __init__(
        self,
        deliver: Callable[[PollResult], None],
        renderer: Renderer,
        *,
        concurrency: int = 16,
        timeout: float = 120.0,
    ) -> None:
        self.deliver = deliver
        self.renderer = renderer
        self.timeout = timeout
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._send, self._receive = anyio.create_memory_object_stream[PollJob](math.inf)
        self.running = 0

    def submit(self, job: PollJob) -> None:
        """Queue a job without waiting (called from the scheduler's tick)."""
        self._send.send_nowait(job)

    async def run(self) -> None:
        """Evaluate submitted jobs until cancelled."""
        async with anyio.create_task_group() as tg:
            async for job in self._receive:
                tg.start_soon(self._evaluate, job)

    async def _evaluate(self, job: PollJob) -> None:
        result = PollResult(key=job.key)
        self.running += 1
        try:
            async with self._limiter:
                result = await self.evaluate(job)
        finally:
            self.running -= 1
            self.deliver(result)

    async def evaluate(self, job: PollJob) -> PollResult:
        """One evaluation; failures and timeouts become a result with `error` (and a log)."""
        evaluator = evaluator_for(job.trigger)
        if evaluator is None:
            return PollResult(key=job.key, error=f"no evaluator for `{job.trigger.type}`")
        try:
            with anyio.fail_after(self.timeout):
                variables = await evaluator(
                    job.trigger, PollContext(job, self.renderer, self.timeout)
                )
        except Exception as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc) or repr(exc)
            log.warning("%s/%s trigger %s: evaluation failed: %s", *job.key, reason)
            return PollResult(key=job.key, error=reason)
        return PollResult(key=job.key, variables=variables)
