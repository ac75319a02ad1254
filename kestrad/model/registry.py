"""One registry mechanism for everything flows name by a Kestra `type` string.

Task types, trigger kinds and the pollers of polling triggers are each a map from a type
name (plus the legacy names Kestra still accepts) to a value. They used to be three
copy-pasted modules; this class is the one implementation, and each of them keeps only
what is its own: which built-in modules register values, and whether third-party packages
may add some through an entry-point group (tasks only, today).

Lookups run for every task and trigger of every loaded flow, so a lookup is one flag test
and two dict hits; loading the built-ins (and the entry points) happens once, at the first
lookup, whatever the import order elsewhere. A family that also gives an index of its
built-in names (name → module) imports, at a lookup, only the module of the name looked
up: a one-shot run of a Log flow imports the Log task's module, not the HTTP client's or
the scripts'. Listings load everything and list in the order a full load registers.
Plain code: the only I/O is reading the installed distributions' entry points, once.

`importlib.metadata` is slow to import and to scan (a tenth of a one-shot `kestrad run`),
and most installations have no plugin at all, so a cheap look comes first: when no
`entry_points.txt` of a distribution on `sys.path` so much as mentions the group, the scan
could only find nothing, and is skipped (`_group_may_exist`).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger("kestrad.plugins")


class Registry(Generic[T]):
    """Type names (and aliases) → values of one family.

    `load` imports the built-in modules whose decorators register values; it runs once,
    before the first lookup. `stamp` is told the current name of every value registered
    (classes remember it as `type_name`). With `entry_point_group`, the first lookup also
    registers every entry point of that group whose target `accept`s; the others are
    recorded in `problems` and skipped, so one broken package cannot stop the daemon. An
    entry point named like a built-in replaces it, whichever registers first.

    `builtins` (name or alias → module, in the order `load` registers them): a lookup
    imports only the module of the name it asks for; `all` and `aliases_of` still `load`
    everything.
    """

    def __init__(
        self,
        family: str,
        *,
        load: Callable[[], None] | None = None,
        stamp: Callable[[T, str], None] | None = None,
        entry_point_group: str | None = None,
        accept: Callable[[object], bool] | None = None,
        builtins: dict[str, str] | None = None,
    ) -> None:
        self.family = family
        self.entry_point_group = entry_point_group
        self._load = load
        self._stamp = stamp
        self._accept = accept
        self._values: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._loaded = load is None and entry_point_group is None
        self._builtins = builtins
        self._modules_done: set[str] = set()
        self._entry_points_done = False
        self._adding_entry_point = False
        # Entry points: type name → why it could not be registered / which package gave it.
        self.problems: dict[str, str] = {}
        self.origins: dict[str, str] = {}

    # -- registration ----------------------------------------------------------------------
    def add(self, type_name: str, value: T, *aliases: str) -> T:
        """Bind `value` to `type_name` and to each legacy alias of it. A name an entry
        point holds stays the entry point's (a built-in module may load after it)."""
        if self._adding_entry_point or type_name not in self.origins:
            self._values[type_name] = value
        for alias in aliases:
            self._aliases[alias] = type_name
        if self._stamp is not None:
            self._stamp(value, type_name)
        return value

    def register(self, type_name: str, *aliases: str) -> Callable[[T], T]:
        """Decorator form of `add`: `@TASKS.register("io.kestra…Log", "io.kestra.core…Log")`."""

        def decorate(value: T) -> T:
            return self.add(type_name, value, *aliases)

        return decorate

    # -- lookups ---------------------------------------------------------------------------
    def canonical(self, type_name: str) -> str:
        """The current name of a type, resolving legacy aliases; unknown names unchanged."""
        if not self._loaded:
            self._load_for(type_name)
        return self._aliases.get(type_name, type_name)

    def resolve(self, type_name: str) -> T | None:
        """The value of a type name or alias, or None when the family has no such type."""
        if not self._loaded:
            self._load_for(type_name)
        return self._values.get(self._aliases.get(type_name, type_name))

    def aliases_of(self, type_name: str) -> list[str]:
        """The legacy names that resolve to `type_name` (for schemas that accept them)."""
        if not self._loaded:
            self.ensure_loaded()
        return sorted(alias for alias, name in self._aliases.items() if name == type_name)

    def all(self) -> dict[str, T]:
        """Every current type name → value (for listings and "did you mean" hints)."""
        if not self._loaded:
            self.ensure_loaded()
        if self._builtins is None:
            return dict(self._values)
        # The order of a full load, built-ins first, whatever order lookups loaded them in.
        ordered = {name: self._values[name] for name in self._builtins if name in self._values}
        ordered.update((name, value) for name, value in self._values.items() if name not in ordered)
        return ordered

    # -- loading ---------------------------------------------------------------------------
    def ensure_loaded(self) -> None:
        """Register the built-ins, then the entry points, once."""
        if self._loaded:
            return
        self._loaded = True  # first: the modules imported below register while it runs
        if self._load is not None:
            self._load()
        self._first_entry_points()

    def _first_entry_points(self) -> None:
        """The entry points, at the first lookup (`load_entry_points` again only when asked)."""
        if self.entry_point_group is not None and not self._entry_points_done:
            self._entry_points_done = True
            self.load_entry_points()

    def _load_for(self, type_name: str) -> None:
        """Before a lookup: everything, or with an index of the built-ins, the entry points
        (once) and the module that registers `type_name`, if a built-in one does."""
        if self._builtins is None:
            self.ensure_loaded()
            return
        self._first_entry_points()
        module = self._builtins.get(type_name)
        if module is not None and module not in self._modules_done:
            importlib.import_module(module)
            self._modules_done.add(module)

    def load_entry_points(self) -> int:
        """Register every entry point of the group (name = type, value = target); returns
        how many were registered. Safe to call again (a package installed meanwhile)."""
        if self.entry_point_group is None or not _group_may_exist(self.entry_point_group):
            return 0
        from importlib.metadata import entry_points

        loaded = 0
        for point in entry_points(group=self.entry_point_group):
            try:
                value = point.load()
            except Exception as exc:  # a broken plugin must not stop the others
                self._refuse(
                    point.name, f"cannot import {point.value}: {type(exc).__name__}: {exc}"
                )
                continue
            if self._accept is not None and not self._accept(value):
                self._refuse(point.name, f"{point.value} is not a kestrad {self.family} class")
                continue
            self._adding_entry_point = True
            try:
                self.add(point.name, value)
            finally:
                self._adding_entry_point = False
            self.origins[point.name] = point.dist.name if point.dist is not None else point.value
            loaded += 1
        return loaded

    def _refuse(self, type_name: str, why: str) -> None:
        self.problems[type_name] = why
        log.error("%s plugin %s: %s", self.family, type_name, why)


def stamp_type_name(cls: type, type_name: str) -> None:
    """The usual `stamp`: a class remembers the name the registry knows it by."""
    cls.type_name = type_name  # type: ignore[attr-defined]


def _group_may_exist(group: str) -> bool:
    """False only when `importlib.metadata.entry_points(group=group)` must be empty: no
    `entry_points.txt` of a `*.dist-info` or `*.egg-info` folder in a `sys.path` folder
    mentions `group`. Where distributions could come from elsewhere (a zip or an egg on
    `sys.path`, a meta-path finder of distributions besides the standard one), True."""
    from importlib.machinery import PathFinder

    for finder in sys.meta_path:
        if finder is not PathFinder and hasattr(finder, "find_distributions"):
            return True
    for entry in sys.path:
        if not isinstance(entry, str) or entry.lower().endswith(".egg"):
            return True
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except OSError:
            if os.path.exists(folder):
                return True  # a zip archive: only importlib.metadata reads those
            continue
        for name in names:
            if not name.lower().endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(folder, name, "entry_points.txt"), "rb") as file:
                    if group.encode() in file.read():
                        return True
            except OSError:
                continue
    return False
