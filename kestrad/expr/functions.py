"""Kestra's filters, functions and tests, with Pebble/Kestra semantics.

Each filter here mirrors the Java class of the same name in Pebble's core extension or in
Kestra's `io.kestra.core.runners.pebble` package: same argument names (so named arguments
such as `date(format='yyyy', timeZone='UTC')` work), same treatment of null (most filters
return null for a null input), same output types. Differences with Jinja's built-ins are
deliberate: a flow written for Kestra must render the same here.

Operators (`~`, `..`, `??`, Java arithmetic...) live in `operators.py`; functions that need
the renderer or the context (`render`, `currentEachOutput`) live in `engine.py`; the runtime
adds `kv`, `read`, `fileSize`... through `Renderer.register_function`.

Parameter names are Pebble's argument names (`timeZone`, `existingFormat`, `fromIndex`,
`type`, `format`), camelCase included, because templates pass them by name.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import io
import json as _json
import math
import os
import random
import re
import unicodedata
import uuid as uuid_module
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from jinja2.runtime import Undefined
from jinja2.utils import pass_environment

from kestrad.expr import dates
from kestrad.expr.jq_sandbox import JqCompileError, JqError, default_sandbox
from kestrad.expr.operators import (
    BINOPS,
    OPERATOR_FILTERS,
    FunctionError,
    as_str,
    check_size,
    fail_if_undefined,
    is_list,
    is_number,
    limit_of,
    pb_range,
    pb_truthy,
    strict,
)
from kestrad.expr.output import Entry, java_str, to_json
from kestrad.model.ids import new_id

# -- tests ----------------------------------------------------------------------------------


def test_defined(value: Any) -> bool:
    """Pebble: `null is defined` is false, like an undefined value."""
    return value is not None and not isinstance(value, Undefined)


def test_null(value: Any) -> bool:
    return value is None or isinstance(value, Undefined)


def is_empty(value: Any) -> bool:
    """Pebble's EmptyTest: null, blank string, empty collection or map."""
    if value is None or isinstance(value, Undefined):
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return len(value) == 0
    return False


@strict
def test_even(value: Any) -> bool:
    if not is_number(value):
        raise FunctionError(f"Can not perform an 'even' test on a {type(value).__name__}")
    return int(value) % 2 == 0


@strict
def test_odd(value: Any) -> bool:
    if not is_number(value):
        raise FunctionError(f"Can not perform an 'odd' test on a {type(value).__name__}")
    return int(value) % 2 != 0


@strict
def test_iterable(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)


@strict
def test_map(value: Any) -> bool:
    return isinstance(value, Mapping)


@strict
def test_json(value: Any) -> bool:
    """Kestra's JsonTest: maps and lists are JSON; strings are if they parse as JSON."""
    if isinstance(value, Mapping) or is_list(value):
        return True
    if not isinstance(value, str):
        return False
    try:
        _json.JSONDecoder().raw_decode(value.strip())
    except ValueError:
        return False
    return True


# -- string filters -------------------------------------------------------------------------


def _nullable_str(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Filters working on `toString()`: null in, null out; undefined is an error."""

    @functools.wraps(fn)
    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        fail_if_undefined(value)
        if value is None:
            return None
        return fn(as_str(value), *args, **kwargs)

    return wrapper


@_nullable_str
def f_lower(value: str) -> str:
    return value.lower()


@_nullable_str
def f_upper(value: str) -> str:
    return value.upper()


_JAVA_TRIM = "".join(chr(i) for i in range(33))


@_nullable_str
def f_trim(value: str) -> str:
    return value.strip(_JAVA_TRIM)


@_nullable_str
def f_capitalize(value: str) -> str:
    for index, char in enumerate(value):
        if not char.isspace():
            return value[:index] + char.upper() + value[index + 1 :]
    return value


@_nullable_str
def f_title(value: str) -> str:
    out: list[str] = []
    capitalize_next = True
    for char in value:
        if char.isspace():
            capitalize_next = True
        elif capitalize_next:
            char = char.upper()
            capitalize_next = False
        out.append(char)
    return "".join(out)


@_nullable_str
def f_abbreviate(value: str, length: int) -> str:
    if not is_number(length) or length < 0:
        raise FunctionError("Invalid argument to abbreviate filter; must be greater than zero")
    width = int(length)
    if len(value) <= width or len(value) <= 3:
        return value
    if width <= 3:
        return value[:width]
    return value[: width - 3] + "..."


@_nullable_str
def f_urlencode(value: str) -> str:
    """Java `URLEncoder.encode(value, UTF-8)`: spaces become `+`, `*` is kept, `~` is not."""
    return quote_plus(value, safe="*").replace("~", "%7E")


@_nullable_str
def f_urldecode(value: str) -> str:
    return unquote_plus(value)


@_nullable_str
def f_base64encode(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


@_nullable_str
def f_base64decode(value: str) -> str:
    try:
        return base64.b64decode(value).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise FunctionError(f"Invalid base64 value: {exc}") from exc


def _digest(algorithm: str) -> Callable[[Any], Any]:
    @_nullable_str
    def digest(value: str) -> str:
        return hashlib.new(algorithm, value.encode("utf-8")).hexdigest()

    digest.__name__ = f"f_{algorithm}"
    return digest


_SLUG_NON_WORD = re.compile(r"[^\w-]", re.ASCII)


@_nullable_str
def f_slugify(value: str) -> str:
    """Kestra's `Slugify.of`: whitespace to `-`, accents stripped, ASCII word characters only."""
    slug = re.sub(r"\s", "-", value)
    slug = unicodedata.normalize("NFD", slug)
    slug = _SLUG_NON_WORD.sub("", slug).replace("_", "-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return slug.removeprefix("-").removesuffix("-").lower()


def _separator(separator: Any, name: str) -> str | None:
    if separator is None:
        return None
    if not isinstance(separator, str):
        raise FunctionError(f"The '{name}' filter expects a string argument 'separator'.")
    return separator


@_nullable_str
def f_substring_before(value: str, separator: Any = None) -> str:
    sep = _separator(separator, "substringBefore")
    if not value or sep is None:
        return value
    if not sep:
        return ""
    pos = value.find(sep)
    return value if pos < 0 else value[:pos]


@_nullable_str
def f_substring_after(value: str, separator: Any = None) -> str:
    sep = _separator(separator, "substringAfter")
    if not value:
        return value
    if sep is None:
        return ""
    pos = value.find(sep)
    return "" if pos < 0 else value[pos + len(sep) :]


@_nullable_str
def f_substring_before_last(value: str, separator: Any = None) -> str:
    sep = _separator(separator, "substringBeforeLast")
    if not value or not sep:
        return value
    pos = value.rfind(sep)
    return value if pos < 0 else value[:pos]


@_nullable_str
def f_substring_after_last(value: str, separator: Any = None) -> str:
    sep = _separator(separator, "substringAfterLast")
    if not value:
        return value
    if not sep:
        return ""
    pos = value.rfind(sep)
    if pos < 0 or pos == len(value) - len(sep):
        return ""
    return value[pos + len(sep) :]


@strict
def f_starts_with(value: Any, prefix: Any) -> bool:
    return java_str(value).startswith(java_str(prefix))


@strict
def f_ends_with(value: Any, suffix: Any) -> bool:
    return java_str(value).endswith(java_str(suffix))


def _indent(
    value: Any, amount: Any, prefix: Any, *, first_line: bool, name: str, limit: int
) -> Any:
    fail_if_undefined(value)
    if value is None:
        return None
    text = as_str(value)
    if not text:
        return text
    if not is_number(amount) or amount < 0:
        raise FunctionError(
            f"The '{name}' filter expects a positive integer >=0 as argument 'amount'."
        )
    unit = " " if prefix is None else as_str(prefix)
    check_size(len(unit) * int(amount), limit)
    pad = unit * int(amount)
    for newline in ("\r\n", "\n\r", "\n", "\r"):
        if newline in text:
            break
    else:
        newline = os.linesep
    if first_line:
        text = newline + text
    check_size(len(text) + text.count(newline) * len(pad), limit)
    return text.replace(newline, newline + pad)


@pass_environment
def f_indent(environment: Any, value: Any, amount: Any = None, prefix: Any = None) -> Any:
    """Indents every line but the first (the first is already in place in the document)."""
    return _indent(
        value, amount, prefix, first_line=False, name="indent", limit=limit_of(environment)
    )


@pass_environment
def f_nindent(environment: Any, value: Any, amount: Any = None, prefix: Any = None) -> Any:
    """A newline, then every line indented."""
    return _indent(
        value, amount, prefix, first_line=True, name="nindent", limit=limit_of(environment)
    )


@strict
def f_escape_char(value: Any, type: Any = None) -> Any:
    if value is None:
        return None
    replacements = {"single": ("'", "\\'"), "double": ('"', '\\"'), "shell": ("'", "'\\''")}
    kind = replacements.get(str(type).lower()) if type is not None else None
    if kind is None:
        raise FunctionError(
            "The 'escapeChar' filter expects the value of 'type' to be either 'single', 'double', or 'shell'."
        )
    return _deep_map(value, lambda text: text.replace(*kind))


def _deep_map(value: Any, fn: Callable[[str], str]) -> Any:
    """Apply a string function to a string, or to every leaf of a map/list (as `toString()`)."""
    if isinstance(value, Mapping):
        return {k: _deep_map(v, fn) for k, v in value.items()}
    if is_list(value):
        return [_deep_map(v, fn) for v in value]
    return fn(as_str(value))


_JAVA_GROUP_RE = re.compile(r"\\(.)|\$(\d+)|\$\{([A-Za-z][A-Za-z0-9]*)\}")


def _java_replacement(replacement: str) -> str:
    r"""A Java `replaceAll` replacement (`$1`, `${name}`, `\$`) as a Python `re.sub` one."""

    def convert(match: re.Match[str]) -> str:
        escaped, number, name = match.groups()
        if escaped is not None:
            return escaped.replace("\\", "\\\\")
        return rf"\g<{number if number is not None else name}>"

    parts: list[str] = []
    last = 0
    for match in _JAVA_GROUP_RE.finditer(replacement):
        parts.append(replacement[last : match.start()].replace("\\", "\\\\"))
        parts.append(convert(match))
        last = match.end()
    parts.append(replacement[last:].replace("\\", "\\\\"))
    return "".join(parts)


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise FunctionError(f"Invalid regular expression '{pattern}': {exc}") from exc


@pass_environment
def f_replace(environment: Any, value: Any, replace_pairs: Any = None, regexp: Any = False) -> Any:
    """Pebble/Kestra `replace({'a': 'b'}, regexp=false)` on strings, maps and lists."""
    fail_if_undefined(value)
    limit = limit_of(environment)
    if value is None:
        return None
    if not isinstance(replace_pairs, Mapping):
        raise FunctionError("The argument 'replace_pairs' is required.")
    pairs = [(java_str(k), java_str(v)) for k, v in replace_pairs.items()]

    def apply(text: str) -> str:
        for search, replacement in pairs:
            if regexp:
                text = _regex(search).sub(_java_replacement(replacement), text)
            else:
                text = text.replace(search, replacement)
            check_size(len(text), limit)
        return text

    return _deep_map(value, apply)


def _java_split(text: str, delimiter: str, limit: int) -> list[str]:
    """Java `String.split(regex, limit)`: no leading empty match, trailing empties dropped."""
    pattern = _regex(delimiter)
    parts: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        if limit > 0 and len(parts) == limit - 1:
            break
        if match.end() == 0:
            continue  # a zero-width match at the beginning never yields an empty leading part
        if match.start() == match.end() and match.start() >= len(text):
            break
        parts.append(text[start : match.start()])
        start = match.end()
    parts.append(text[start:])
    if limit == 0:
        while parts and parts[-1] == "":
            parts.pop()
    return parts


@strict
def f_split(value: Any, delimiter: Any = None, limit: Any = None) -> Any:
    if value is None:
        return None
    if delimiter is None:
        raise FunctionError("missing delimiter parameter in split filter")
    return _java_split(as_str(value), java_str(delimiter), 0 if limit is None else int(limit))


# -- collection filters ---------------------------------------------------------------------


@strict
def f_length(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str | Mapping | list | tuple | set | frozenset):
        return len(value)
    if isinstance(value, Iterable):
        return sum(1 for _ in value)
    return 0


@strict
def f_first(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return value[:1] or None
    if isinstance(value, Mapping):
        for key, item in value.items():
            return Entry(key, item)
        return None
    for item in value:
        return item
    return None


@strict
def f_last(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return value[-1:] or None
    if isinstance(value, Mapping):
        items = list(value.items())
        return Entry(*items[-1]) if items else None
    if isinstance(value, Sequence):
        return value[-1] if len(value) else None
    last = None
    for item in value:
        last = item
    return last


@strict
def f_keys(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return list(value.keys())
    if is_list(value):
        return list(range(len(value)))
    raise FunctionError(
        f"'keys' filter can only be applied to List, Map, Array. Actual type was: {type(value).__name__}"
    )


@strict
def f_values(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return list(value.values())
    raise FunctionError(
        f"'values' filter can only be applied to Map. Actual type was: {type(value).__name__}"
    )


@pass_environment
def f_join(environment: Any, value: Any, separator: Any = None) -> Any:
    fail_if_undefined(value)
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise FunctionError(
            f"The 'join' filter expects a list. Actual type was: {type(value).__name__}"
        )
    result = ("" if separator is None else java_str(separator)).join(java_str(v) for v in value)
    check_size(len(result), limit_of(environment))
    return result


@pass_environment
def f_merge(environment: Any, value: Any, items: Any = None) -> Any:
    fail_if_undefined(value)
    fail_if_undefined(items)
    limit = limit_of(environment)
    if value is None:
        if items is None:
            raise FunctionError("The two arguments to be merged are null")
        return items
    if items is None:
        return value
    if isinstance(value, Mapping):
        merged = dict(value.items())
        if isinstance(items, Mapping):
            merged.update(items.items())
        elif is_list(items):
            merged.update((item, item) for item in items)
        else:
            raise FunctionError("Currently, only Maps and Lists can be merged with a Map.")
        check_size(len(merged), limit)
        return merged
    if is_list(value):
        if isinstance(items, Mapping):
            result = [*value, *(Entry(k, v) for k, v in items.items())]
        elif is_list(items):
            result = [*value, *items]
        else:
            raise FunctionError("Currently, only Maps and Lists can be merged with a List.")
        check_size(len(result), limit)
        return result
    raise FunctionError("The object being filtered is not a Map/List/Array")


@strict
def f_reverse(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return value[::-1]
    return list(reversed(list(value)))


def _sorted(value: Any, *, reverse: bool) -> Any:
    if value is None:
        return None
    try:
        return sorted(value, reverse=reverse)
    except TypeError as exc:
        raise FunctionError(f"Unable to sort values of different types: {exc}") from exc


@strict
def f_sort(value: Any) -> Any:
    return _sorted(value, reverse=False)


@strict
def f_rsort(value: Any) -> Any:
    return _sorted(value, reverse=True)


@strict
def f_slice(value: Any, fromIndex: Any = None, toIndex: Any = None) -> Any:
    if value is None:
        return None
    start = 0 if fromIndex is None else fromIndex
    if not is_number(start):
        raise FunctionError("Argument fromIndex must be a number.")
    if start < 0:
        raise FunctionError("fromIndex must be greater than 0")
    if not isinstance(value, str) and not is_list(value):
        raise FunctionError("Slice filter can only be applied to String, List and array inputs.")
    length = len(value)
    if toIndex is None:
        end = length
    else:
        if not is_number(toIndex):
            raise FunctionError("Argument toIndex must be a number.")
        end = int(toIndex)
        if end > length:
            raise FunctionError(f"toIndex must be smaller than input size: {length}")
        if start >= end:
            raise FunctionError("toIndex must be greater than fromIndex")
    sliced = value[int(start) : end]
    return sliced if isinstance(sliced, str) else list(sliced)


@strict
def f_chunk(value: Any, size: Any = None) -> Any:
    if value is None:
        return None
    if size is None:
        raise FunctionError("'chunk' filter expects an argument 'size'.")
    if not is_list(value):
        raise FunctionError(
            f"'chunk' filter can only be applied to List. Actual type was: {type(value).__name__}"
        )
    if not is_number(size) or int(size) <= 0:
        raise FunctionError("'chunk' filter argument 'size' must be a positive number.")
    step = int(size)
    return [list(value[i : i + step]) for i in range(0, len(value), step)]


@strict
def f_flatten(value: Any) -> Any:
    if value is None:
        return None
    if not is_list(value):
        raise FunctionError("The 'flatten' filter can only be applied to lists.")
    result: list[Any] = []
    for item in value:
        if is_list(item):
            result.extend(item)
        else:
            result.append(item)
    return result


@strict
def f_distinct(value: Any) -> Any:
    if value is None:
        return None
    if not is_list(value):
        raise FunctionError("The 'distinct' filter can only be applied to lists.")
    result: list[Any] = []
    for item in value:
        if item not in result:
            result.append(item)
    return result


@strict
def f_abs(value: Any) -> Any:
    if value is None:
        return None
    if not is_number(value):
        raise FunctionError(
            f"The 'abs' filter expects a number. Actual type was: {type(value).__name__}"
        )
    return abs(value)


def f_default(value: Any, default: Any = None) -> Any:
    """Pebble's `default`: used when the value is undefined, null, blank or empty."""
    return default if is_empty(value) else value


@strict
def f_class_name(value: Any) -> Any:
    """The Java class a Kestra value would have, for flows that branch on `className`."""
    if value is None:
        return None
    java = {
        str: "java.lang.String",
        bool: "java.lang.Boolean",
        int: "java.lang.Integer",
        float: "java.lang.Double",
        dict: "java.util.LinkedHashMap",
        list: "java.util.ArrayList",
        Decimal: "java.math.BigDecimal",
        dt.datetime: "java.time.Instant"
        if getattr(value, "tzinfo", None)
        else "java.time.LocalDateTime",
        dt.date: "java.time.LocalDate",
    }
    kind = type(value)
    if kind is int and not -(2**31) <= value < 2**31:
        return "java.lang.Long"
    if kind in java:
        return java[kind]
    if isinstance(value, Mapping):
        return "java.util.LinkedHashMap"
    if is_list(value):
        return "java.util.ArrayList"
    return f"java.lang.{kind.__name__}"


# -- number / JSON / YAML / jq --------------------------------------------------------------

_JAVA_NUMBER_SUFFIX = re.compile(r"^(.*?)([lLfFdD])$")


@strict
def f_number(value: Any, type: Any = None) -> Any:
    """Kestra's `number`: a string to INT/FLOAT/LONG/DOUBLE/BIGDECIMAL/BIGINTEGER or auto."""
    if value is None:
        return None
    if is_number(value):
        return value
    if not isinstance(value, str):
        raise FunctionError(
            f"'number' filter can only be applied to String. Actual type was: {java_class(value)}"
        )
    text = value.strip()
    kind = "" if type is None else str(type)
    try:
        if kind in ("INT", "LONG", "BIGINTEGER"):
            return int(text, 0) if text.lower().startswith(("0x", "-0x")) else int(text)
        if kind in ("FLOAT", "DOUBLE"):
            return float(text)
        if kind == "BIGDECIMAL":
            return Decimal(text)
        return _create_number(text)
    except (ValueError, InvalidOperation) as exc:
        raise FunctionError(f"'{value}' is not a valid number") from exc


def _create_number(text: str) -> int | float:
    """Apache commons `NumberUtils.createNumber`: ints, hex, decimals, Java type suffixes."""
    match = _JAVA_NUMBER_SUFFIX.match(text)
    if match and not text.lower().startswith(("0x", "-0x")):
        body, suffix = match.groups()
        return int(body) if suffix in "lL" else float(body)
    if text.lower().startswith(("0x", "-0x", "#", "-#")):
        return int(text.replace("#", "0x"), 16)
    try:
        return int(text)
    except ValueError:
        return float(text)


def java_class(value: Any) -> str:
    name = f_class_name(value)
    return name if isinstance(name, str) else "null"


@strict
def f_json(value: Any) -> str:
    """Object to JSON text, as Jackson writes it (`null` for null)."""
    try:
        result = to_json(value)
    except (ValueError, RecursionError) as exc:
        raise FunctionError(f"Unable to transform to json value: {exc}") from exc
    return result


def to_plain(value: Any) -> Any:
    """A value as plain dict/list/scalars (for YAML output)."""
    if isinstance(value, Mapping):
        return {to_plain(k) if not isinstance(k, str) else k: to_plain(v) for k, v in value.items()}
    if isinstance(value, Entry):
        return {java_str(value.key): to_plain(value.value)}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_plain(v) for v in value]
    if isinstance(value, dt.date | dt.time | dt.timedelta | Decimal):
        return java_str(value)
    return value


@strict
def f_yaml(value: Any) -> str:
    """Object to block-style YAML text."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 4096
    stream = io.StringIO()
    yaml.dump(to_plain(value), stream)
    text = stream.getvalue()
    return text.removesuffix("...\n")


@strict
def f_jq(value: Any, expression: Any = None) -> Any:
    """Kestra's `jq`: a list of every result (`| first` to unwrap); strings are parsed as JSON.

    jq runs in the sandbox worker (expr/jq_sandbox.py): it sees no environment and no
    file, and a program past the time or memory bound fails this render alone.
    """
    if value is None:
        return None
    if not isinstance(expression, str):
        raise FunctionError("The 'jq' filter expects an argument 'expression'.")
    text = value if isinstance(value, str) else to_json(value)
    try:
        return default_sandbox().run(expression, text)
    except JqCompileError as exc:
        raise FunctionError(f"Invalid jq expression '{expression}': {exc}") from None
    except JqError as exc:
        raise FunctionError(
            f"Failed to resolve JQ expression '{expression}' and value '{java_str(value)}': {exc}"
        ) from None


# -- dates ----------------------------------------------------------------------------------


def _zoned(value: Any, timeZone: Any, existingFormat: Any) -> dt.datetime:
    try:
        zone = dates.resolve_zone(timeZone)
        return dates.to_zoned(value, zone, existingFormat)
    except dates.DateError as exc:
        raise FunctionError(str(exc)) from exc


def _format(value: dt.datetime, fmt: Any) -> str:
    try:
        return dates.format_date(value, "iso" if fmt is None else str(fmt))
    except dates.DateError as exc:
        raise FunctionError(str(exc)) from exc


@strict
def f_date(
    value: Any,
    format: Any = "iso",
    timeZone: Any = None,
    existingFormat: Any = None,
    locale: Any = None,
) -> Any:
    if value is None:
        return None
    return _format(_zoned(value, timeZone, existingFormat), format)


@strict
def f_date_add(
    value: Any,
    amount: Any = None,
    unit: Any = None,
    format: Any = "iso",
    timeZone: Any = None,
    existingFormat: Any = None,
    locale: Any = None,
) -> Any:
    if value is None:
        return None
    zoned = _zoned(value, timeZone, existingFormat)
    try:
        moved = dates.add(zoned, amount, str(unit))
    except dates.DateError as exc:
        raise FunctionError(str(exc)) from exc
    return _format(moved, format)


def _timestamp(scale: int) -> Callable[..., Any]:
    @strict
    def timestamp(value: Any, timeZone: Any = None, existingFormat: Any = None) -> Any:
        if value is None:
            return None
        return dates.epoch(_zoned(value, timeZone, existingFormat), scale)

    return timestamp


def fn_now(format: Any = "iso", timeZone: Any = None, locale: Any = None) -> str:
    zone = _zoned(dt.datetime.now(dt.UTC), timeZone, None)
    return _format(zone, format)


# -- functions ------------------------------------------------------------------------------


def fn_range(start: Any = None, end: Any = None, increment: Any = 1) -> list[Any]:
    return pb_range(start, end, increment)


def _extremum(name: str, values: tuple[Any, ...], pick: Callable[..., Any]) -> Any:
    for value in values:
        fail_if_undefined(value)
    if not values:
        raise FunctionError(f"The '{name}' function expects at least one argument")
    candidates = values[0] if len(values) == 1 and is_list(values[0]) else values
    try:
        return pick(candidates)
    except (TypeError, ValueError) as exc:
        raise FunctionError(f"Invalid arguments for '{name}': {exc}") from exc


def fn_min(*values: Any) -> Any:
    return _extremum("min", values, min)


def fn_max(*values: Any) -> Any:
    return _extremum("max", values, max)


def fn_from_json(json: Any = None) -> Any:
    """`fromJson(str)` / `json(str)`: parse JSON text (null stays null)."""
    fail_if_undefined(json)
    if json is None:
        return None
    if not isinstance(json, str):
        raise FunctionError("The 'fromJson' function expects an argument 'json' with type string.")
    try:
        return _json.loads(json)
    except ValueError as exc:
        raise FunctionError(f"Invalid json: {exc}") from exc


def fn_yaml(yaml: Any = None) -> Any:
    """`yaml(str)`: parse YAML text."""
    fail_if_undefined(yaml)
    if yaml is None:
        return None
    if not isinstance(yaml, str):
        raise FunctionError("The 'yaml' function expects an argument 'yaml' with type string.")
    from ruamel.yaml import YAML, YAMLError

    try:
        return YAML(typ="safe", pure=True).load(yaml)
    except YAMLError as exc:
        raise FunctionError(f"Invalid yaml: {exc}") from exc


def secret_value(key: str, subkey: str | None = None) -> str:
    """Kestra OSS secrets: env var `SECRET_<KEY>` holding base64; `subkey` reads a JSON field."""
    if not isinstance(key, str) or not key:
        raise FunctionError("The 'secret' function expects an argument 'key'.")
    raw = os.environ.get("SECRET_" + key.upper())
    if raw is None:
        raise FunctionError(f"Cannot find secret for key '{key}'.")
    try:
        secret = base64.b64decode(raw).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise FunctionError(f"Secret '{key}' is not valid base64: {exc}") from exc
    if subkey:
        try:
            document = _json.loads(secret)
        except ValueError as exc:
            raise FunctionError(
                f"Failed to read secret sub-key '{subkey}' from secret '{key}'. Ensure the secret contains valid JSON value."
            ) from exc
        if not isinstance(document, dict) or subkey not in document:
            raise FunctionError(f"Cannot find secret sub-key '{subkey}' in secret '{key}'.")
        node = document[subkey]
        secret = (
            node
            if isinstance(node, str)
            else to_json(node)
            if isinstance(node, dict | list)
            else java_str(node)
        )
    return secret


def fn_secret(key: Any = None, namespace: Any = None, subkey: Any = None) -> str:
    fail_if_undefined(key)
    return secret_value(key, subkey)


def fn_uuid() -> str:
    return str(uuid_module.uuid4())


def fn_id() -> str:
    return new_id()


def fn_random_int(lower: Any = None, upper: Any = None) -> int:
    """A random integer in [lower, upper) (Kestra's `randomInt`)."""
    for name, bound in (("lower", lower), ("upper", upper)):
        if not isinstance(bound, int) or isinstance(bound, bool):
            raise FunctionError(
                f"The 'randomInt()' function expects an argument {name} of type Long."
            )
    if upper < lower:
        raise FunctionError("In 'randomInt()' upper is less than lower")
    return int(math.floor(random.random() * (upper - lower)) + lower)


FILTERS: dict[str, Callable[..., Any]] = {
    # Pebble core
    "abbreviate": f_abbreviate,
    "abs": f_abs,
    "base64encode": f_base64encode,
    "base64decode": f_base64decode,
    "capitalize": f_capitalize,
    "default": f_default,
    "first": f_first,
    "join": f_join,
    "last": f_last,
    "length": f_length,
    "lower": f_lower,
    "merge": f_merge,
    "replace": f_replace,
    "reverse": f_reverse,
    "rsort": f_rsort,
    "sha256": _digest("sha256"),
    "slice": f_slice,
    "sort": f_sort,
    "split": f_split,
    "title": f_title,
    "trim": f_trim,
    "upper": f_upper,
    "urlencode": f_urlencode,
    # Kestra
    "chunk": f_chunk,
    "className": f_class_name,
    "date": f_date,
    "dateAdd": f_date_add,
    "distinct": f_distinct,
    "endsWith": f_ends_with,
    "escapeChar": f_escape_char,
    "flatten": f_flatten,
    "indent": f_indent,
    "jq": f_jq,
    "json": f_json,
    "keys": f_keys,
    "md5": _digest("md5"),
    "nindent": f_nindent,
    "number": f_number,
    "sha1": _digest("sha1"),
    "sha512": _digest("sha512"),
    "slugify": f_slugify,
    "startsWith": f_starts_with,
    "substringAfter": f_substring_after,
    "substringAfterLast": f_substring_after_last,
    "substringBefore": f_substring_before,
    "substringBeforeLast": f_substring_before_last,
    "timestamp": _timestamp(1),
    "timestampMilli": _timestamp(1000),
    "timestampMicro": _timestamp(1_000_000),
    "timestampNano": _timestamp(1_000_000_000),
    "toJson": f_json,
    "urldecode": f_urldecode,
    "values": f_values,
    "yaml": f_yaml,
    # operators the Pebble translation emits
    **OPERATOR_FILTERS,
}

TESTS: dict[str, Callable[..., bool]] = {
    "defined": test_defined,
    "null": test_null,
    "empty": is_empty,
    "even": test_even,
    "odd": test_odd,
    "iterable": test_iterable,
    "map": test_map,
    "json": test_json,
    "_pb_truthy": pb_truthy,
}

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "range": fn_range,
    "min": fn_min,
    "max": fn_max,
    "now": fn_now,
    "json": fn_from_json,
    "fromJson": fn_from_json,
    "yaml": fn_yaml,
    "secret": fn_secret,
    "uuid": fn_uuid,
    "id": fn_id,
    "randomInt": fn_random_int,
}

__all__ = [
    "BINOPS",
    "FILTERS",
    "FUNCTIONS",
    "TESTS",
    "FunctionError",
    "secret_value",
]
