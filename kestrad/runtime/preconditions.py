"""Former home of the Flow triggers' windowed conditions, kept as re-exports so existing
imports keep working: the pure parts are in `triggers/preconditions.py`, the windows kept
in the executor's batch in `runtime/flow_triggers.py`."""

from __future__ import annotations

from kestrad.runtime.flow_triggers import Verdict, WindowBook, evaluate_windows, window_keys
from kestrad.triggers.flow import is_multiple
from kestrad.triggers.preconditions import Multiple, Upstream, bounds, multiples_of

__all__ = [
    "Multiple",
    "Upstream",
    "Verdict",
    "WindowBook",
    "bounds",
    "evaluate_windows",
    "is_multiple",
    "multiples_of",
    "window_keys",
]
