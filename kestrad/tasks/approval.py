"""`io.kestra.plugin.core.flow.Approval`: pause for a person's decision, then branch on it.

The run pauses the execution (its `onWait` tasks run as it pauses) until someone approves
or denies it (API `POST /executions/{id}/approve|deny`, `kestrad executions approve|deny`),
or its `timeout` passes (decision EXPIRED). It then runs `onApprove` or `onDeny`, and the
behavior configured for that decision decides what follows: CONTINUE (the branch's own
state), WARN, FAIL, or SUCCEED / CANCEL / KILL, which end the whole execution. With
`autoApprove` it never pauses and runs `onApprove` at once with `auto: true`.

Outputs, as Kestra's: `decision` (APPROVED, DENIED, EXPIRED), `auto`, `on` (when it was
decided), `comment`, `inputs` (the decision inputs the reviewer filled in).
"""

from __future__ import annotations

from typing import Any, ClassVar

from kestrad.expr.engine import truthy
from kestrad.model import state as S
from kestrad.tasks.base import Flowable, TaskList
from kestrad.tasks.core_flow import _duration
from kestrad.tasks.flowable_support import (
    ARCHIVED,
    ERRORS,
    FINALLY,
    Resolved,
    Start,
    StartMode,
    resolve_list,
)
from kestrad.tasks.props import Bool
from kestrad.tasks.registry import register

_ENDING = {"SUCCEED": S.SUCCESS, "CANCEL": S.CANCELLED, "KILL": S.KILLED}
_BEHAVIORS = {"CONTINUE", "WARN", "FAIL", *_ENDING}
DECISIONS = ("APPROVED", "DENIED")


@register("io.kestra.plugin.core.flow.Approval")
class Approval(Flowable, kw_only=True):
    """Pauses for a decision, then runs `onApprove` or `onDeny` (Kestra's Approval)."""

    inputs: list[dict[str, Any]] | None = None
    decisions: dict[str, Any] | None = None
    comment_required: str = "NEVER"
    auto_approve: Bool = False
    approve_behavior: str = "CONTINUE"
    deny_behavior: str = "CANCEL"
    expire_behavior: str = "CANCEL"
    on_wait: TaskList | None = None
    on_approve: TaskList | None = None
    on_deny: TaskList | None = None
    child_fields: ClassVar[tuple[str, ...]] = (
        "on_wait",
        "on_approve",
        "on_deny",
        "errors",
        "finally_",
    )

    def begin(self, fx: Any, run: Any) -> Start:
        if truthy(fx.render(run, self.auto_approve)):
            run.outputs = {"decision": "APPROVED", "auto": True, "on": fx.date()}
            return Start()
        return Start(
            StartMode.PAUSE,
            fail_after=_duration(fx, run, self.timeout),
            on_pause=tuple(resolve_list(self.on_wait)),
        )

    @staticmethod
    def decision(run: Any) -> str | None:
        return (run.outputs or {}).get("decision")

    def lists(self, fx: Any, run: Any) -> tuple[list[Resolved], list[Resolved], list[Resolved]]:
        branch = {
            None: self.on_wait,
            "APPROVED": self.on_approve,
            "DENIED": self.on_deny,
            "EXPIRED": None,
        }.get(self.decision(run))
        return (
            resolve_list(branch),
            resolve_list(self.errors, ERRORS),
            resolve_list(self.finally_, FINALLY),
        )

    def resumes_children(self) -> bool:
        return True

    def resumed_outputs(
        self, inputs: dict[str, Any] | None, decision: str | None, comment: str | None, date: str
    ) -> dict[str, Any] | None:
        chosen = (decision or "APPROVED").upper()
        if chosen not in DECISIONS:
            chosen = "DENIED"
        return {"decision": chosen, "auto": False, "on": date, "comment": comment, "inputs": inputs}

    def resume_state(self, fx: Any, run: Any, automatic: bool) -> str:
        _archive(fx, run)  # the onWait runs are behind it: the decided branch runs now
        return S.RUNNING

    def timeout_state(self, fx: Any, run: Any) -> str:
        run.outputs = {**(run.outputs or {}), "decision": "EXPIRED", "auto": False}
        run.outputs["on"] = fx.date()
        _archive(fx, run)
        return S.RUNNING

    def settle(self, fx: Any, run: Any, state: str) -> str:
        decision = self.decision(run)
        if decision is None or state in (S.FAILED, S.KILLED):
            return state  # a failure inside the branch is never hidden by a behavior
        raw = {
            "APPROVED": self.approve_behavior,
            "DENIED": self.deny_behavior,
            "EXPIRED": self.expire_behavior,
        }[decision]
        behavior = str(fx.render(run, raw)).upper()
        if behavior not in _BEHAVIORS:
            fx.log(run, "ERROR", f"unknown Approval behavior `{behavior}`")
            return S.FAILED
        if behavior == "WARN":
            return S.WARNING
        if behavior == "FAIL":
            return S.FAILED
        if behavior in _ENDING:
            fx.end_execution(run, _ENDING[behavior])
            return _ENDING[behavior]
        return state


def _archive(fx: Any, run: Any) -> None:
    for child in fx.children(run):
        child.k_branch = ARCHIVED
