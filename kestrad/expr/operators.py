"""Pebble's operators with Java semantics, and the helpers shared by every filter.

The Pebble translation (`pebble.py`) turns `~`, `..`, `contains`, `in`, `??`, `???`, `for`
and `{% set %}` into calls of the private `_pb_*` filters defined here, and the engine routes
`+ - * / %` to `BINOPS` (Jinja's `intercepted_binops`). Java's rules differ from Python's in
ways flows notice: `7 / 2` is `3`, `-7 % 3` is `-1`, `'n=' + 1` is `n=1`, `'a' * 3` is an error,
and a null side of `~` contributes nothing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from jinja2.runtime import Undefined
from jinja2.utils import Namespace, pass_context, pass_environment

from kestrad.expr.errors import FunctionError
from kestrad.expr.output import Entry, java_str

# -- render limits ------------------------------------------------------------------------

DEFAULT_MAX_OUTPUT = 10_000_000


def check_size(size: int, limit: int) -> None:
    """Refuse to build a value larger than the output limit (memory guard for `~`, `+`...)."""
    if size > limit:
        raise FunctionError(f"Rendered value is too large ({size} > {limit} characters)")


def limit_of(environment: Any) -> int:
    return getattr(environment, "max_output", DEFAULT_MAX_OUTPUT)


def fail_if_undefined(value: Any) -> None:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()


def strict(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An undefined input is an error for every filter but `default` (Pebble strict mode)."""

    @functools.wraps(fn)
    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        return fn(value, *args, **kwargs)

    return wrapper


def is_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and not isinstance(value, Entry)


def as_str(value: Any) -> str:
    return value if type(value) is str else java_str(value)


# -- operators ------------------------------------------------------------------------------


@pass_environment
def pb_concat(environment: Any, left: Any, right: Any) -> str:
    """Pebble `~`: concatenates `toString()`s, a null side contributing nothing."""
    fail_if_undefined(left)
    fail_if_undefined(right)
    result = ("" if left is None else as_str(left)) + ("" if right is None else as_str(right))
    check_size(len(result), limit_of(environment))
    return result


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _numbers(op: str, left: Any, right: Any) -> None:
    fail_if_undefined(left)
    fail_if_undefined(right)
    if not (is_number(left) and is_number(right)):
        raise FunctionError(
            f"invalid operands for mathematical operation [{op}]: "
            f"{type(left).__name__} and {type(right).__name__}"
        )


def pb_add(left: Any, right: Any, limit: int = DEFAULT_MAX_OUTPUT) -> Any:
    """Pebble `+`: string concatenation if either side is a string, list append, else sum."""
    fail_if_undefined(left)
    fail_if_undefined(right)
    if isinstance(left, str) or isinstance(right, str):
        result = java_str(left) + java_str(right)
        check_size(len(result), limit)
        return result
    if is_list(left):
        result_list = [*left, *right] if is_list(right) else [*left, right]
        check_size(len(result_list), limit)
        return result_list
    _numbers("ADD", left, right)
    return left + right


def pb_sub(left: Any, right: Any, limit: int = DEFAULT_MAX_OUTPUT) -> Any:
    fail_if_undefined(left)
    fail_if_undefined(right)
    if is_list(left):
        if is_list(right):
            return [item for item in left if item not in right]
        result = list(left)
        if right in result:
            result.remove(right)
        return result
    _numbers("SUBTRACT", left, right)
    return left - right


def pb_mul(left: Any, right: Any, limit: int = DEFAULT_MAX_OUTPUT) -> Any:
    _numbers("MULTIPLICATION", left, right)
    return left * right


def pb_div(left: Any, right: Any, limit: int = DEFAULT_MAX_OUTPUT) -> Any:
    """Java division: integers truncate toward zero, float division by zero is infinite."""
    _numbers("DIVISION", left, right)
    if isinstance(left, int) and isinstance(right, int):
        if right == 0:
            raise FunctionError("/ by zero")
        quotient = abs(left) // abs(right)
        return quotient if (left >= 0) == (right >= 0) else -quotient
    if right == 0:
        if isinstance(left, Decimal) or isinstance(right, Decimal):
            raise FunctionError("Division by zero")
        if left == 0 or left != left:
            return math.nan
        return math.inf if (left > 0) == (math.copysign(1.0, right) > 0) else -math.inf
    return left / right


def pb_mod(left: Any, right: Any, limit: int = DEFAULT_MAX_OUTPUT) -> Any:
    """Java remainder: the sign follows the dividend."""
    _numbers("MODULUS", left, right)
    if isinstance(left, int) and isinstance(right, int):
        if right == 0:
            raise FunctionError("/ by zero")
        rest = abs(left) % abs(right)
        return rest if left >= 0 else -rest
    if right == 0:
        return math.nan
    return math.fmod(left, right)


BINOPS: dict[str, Callable[[Any, Any, int], Any]] = {
    "+": pb_add,
    "-": pb_sub,
    "*": pb_mul,
    "/": pb_div,
    "%": pb_mod,
}


def pb_range(start: Any, end: Any, increment: Any = 1) -> list[Any]:
    """Pebble's `range`/`..`: inclusive bounds, numbers or single characters, at most 1M items."""
    fail_if_undefined(start)
    fail_if_undefined(end)
    if not is_number(increment):
        raise FunctionError(f"The increment of the range function must be a number {increment}")
    step = int(increment)
    if step == 0:
        raise FunctionError("The increment of the range function must be different than 0")
    if is_number(start) and is_number(end):
        first, last = int(start), int(end)
        size = abs(last - first) // abs(step) + 1
        if size > 1_000_000:
            raise FunctionError(
                f"The range function cannot produce more than 1000000 elements, but this call would produce {size}."
            )
        return list(range(first, last + (1 if step > 0 else -1), step))
    if isinstance(start, str) and isinstance(end, str) and len(start) == 1 and len(end) == 1:
        stop = ord(end) + (1 if step > 0 else -1)
        return [chr(code) for code in range(ord(start), stop, step)]
    raise FunctionError(
        "Arguments of range function must be of type Number or String with a length of 1"
    )


def pb_contains(container: Any, item: Any) -> bool:
    """Pebble `contains`: list membership (all of a list), map key, substring."""
    fail_if_undefined(container)
    fail_if_undefined(item)
    if container is None:
        return False
    if isinstance(container, Mapping):
        try:
            return item in container
        except TypeError:
            return False
    if isinstance(container, str):
        return java_str(item) in container
    if isinstance(container, list | tuple | set | frozenset):
        if is_list(item) or isinstance(item, set | frozenset):
            return all(_member(part, container) for part in item)
        return _member(item, container)
    raise FunctionError(
        f"Contains operator can only be used on Collections, Maps and arrays. Actual type was: {type(container).__name__}"
    )


def _member(item: Any, container: Iterable[Any]) -> bool:
    try:
        return item in container
    except TypeError:
        return False


def pb_in(item: Any, container: Any) -> bool:
    """Kestra's `in`: compares `toString()`s against list items, or map keys and values."""
    fail_if_undefined(item)
    fail_if_undefined(container)
    if item is None or container is None:
        return False
    needle = java_str(item)
    if isinstance(container, Mapping):
        return any(java_str(k) == needle or java_str(v) == needle for k, v in container.items())
    if isinstance(container, str):
        return False
    if isinstance(container, Iterable):
        return any(java_str(part) == needle for part in container)
    return False


def pb_nc(left: Any, right: Any) -> Any:
    """`??` on constants (the engine compiles the general case lazily)."""
    return right if left is None or isinstance(left, Undefined) else left


def pb_uc(left: Any, right: Any) -> Any:
    """`???` on constants (the engine compiles the general case lazily)."""
    return right if isinstance(left, Undefined) else left


@pass_context
def pb_iter(context: Any, value: Any) -> Iterator[Any]:
    """What a Pebble `for` loop iterates: map entries, list items; counted against the budget."""
    fail_if_undefined(value)
    if value is None:
        return iter(())
    if isinstance(value, Mapping):
        items: Iterable[Any] = (Entry(k, v) for k, v in value.items())
    elif isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise FunctionError(f"Not an iterable object. Value = [{java_str(value)}]")
    else:
        items = value
    check = getattr(context, "check_budget", None)
    return items if check is None else _budgeted(items, check)  # type: ignore[return-value]


def _budgeted(items: Iterable[Any], check: Callable[[int], None]) -> Iterator[Any]:
    """Yield `items`, reporting iterations to the render's time budget every 256 items and at
    the end (so that many small nested loops are accounted for too)."""
    count = 0
    for item in items:
        count += 1
        if not count & 0xFF:
            check(0x100)
        yield item
    check(count & 0xFF)


def pb_namespace(_: Any) -> Namespace:
    """A fresh holder for the `{% set %}` variables of one render."""
    return Namespace()


def pb_var(namespace: Namespace, name: str, fallback: Any) -> Any:
    """A `{% set %}` variable if it has been set in this render, else the context's value."""
    values: dict[str, Any] = namespace._Namespace__attrs  # type: ignore[attr-defined]
    return values.get(name, fallback)


def pb_truthy(value: Any) -> bool:
    fail_if_undefined(value)
    return bool(value)


OPERATOR_FILTERS: dict[str, Callable[..., Any]] = {
    "_pb_concat": pb_concat,
    "_pb_range": pb_range,
    "_pb_contains": pb_contains,
    "_pb_in": pb_in,
    "_pb_nc": pb_nc,
    "_pb_uc": pb_uc,
    "_pb_iter": pb_iter,
    "_pb_namespace": pb_namespace,
    "_pb_var": pb_var,
}
