"""The exceptions expression functions raise, in a module that loads no template engine:
the runtime's and storage's functions (`kv`, `read`…) raise them, and importing those
must not import Jinja2, which loads only when a value holds an expression."""

from __future__ import annotations


class FunctionError(Exception):
    """A filter, function or test was misused; the message is shown to the user."""


class UndefinedValue(Exception):
    """A function's answer for a value that does not exist (`kv('missing')`).

    The renderer treats it as it treats an unknown variable (Jinja's `UndefinedError`):
    `??`, `???`, `default` and `is defined` recover from it, and a render it escapes fails
    with its message."""
