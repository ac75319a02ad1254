"""The one registry behind task types, trigger kinds and pollers: names, legacy aliases,
lazy built-ins, and entry-point plugins found through a real installed distribution."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from kestrad.model.registry import Registry, _group_may_exist, stamp_type_name
from kestrad.runtime.polling import POLLERS, evaluator_for
from kestrad.tasks.registry import TASKS
from kestrad.triggers.polling import HttpTrigger
from kestrad.triggers.registry import TRIGGERS, canonical_trigger_type, resolve_trigger


class Shape:
    type_name = ""


class Circle(Shape):
    pass


def test_names_and_aliases_resolve_to_the_current_name() -> None:
    shapes: Registry[type[Shape]] = Registry("shape", stamp=stamp_type_name)
    shapes.register("io.shapes.Circle", "io.legacy.Round", "Round")(Circle)
    assert shapes.resolve("io.shapes.Circle") is Circle
    assert shapes.resolve("io.legacy.Round") is Circle
    assert shapes.canonical("Round") == "io.shapes.Circle"
    assert shapes.canonical("io.shapes.Square") == "io.shapes.Square"  # unknown: unchanged
    assert shapes.resolve("io.shapes.Square") is None
    assert Circle.type_name == "io.shapes.Circle"
    assert list(shapes.all()) == ["io.shapes.Circle"]  # aliases are not types of their own


def test_built_ins_load_once_at_the_first_lookup() -> None:
    loads: list[str] = []

    def load() -> None:
        loads.append("built-ins")
        shapes.add("io.shapes.Circle", Circle)

    shapes: Registry[type[Shape]] = Registry("shape", load=load)
    assert loads == []  # nothing happens at construction
    assert shapes.resolve("io.shapes.Circle") is Circle
    assert shapes.canonical("io.shapes.Circle") == "io.shapes.Circle"
    assert set(shapes.all()) == {"io.shapes.Circle"}
    assert loads == ["built-ins"]


def _install(site: Path, group: str, points: dict[str, str]) -> None:
    """An installed distribution as `importlib.metadata` reads it: a dist-info folder."""
    info = site / "shape_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shape-plugins\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in points.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")


def test_entry_point_plugins_are_registered_and_broken_ones_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shape_plugins.py").write_text(
        "class Triangle:\n    type_name = ''\n\nNOT_A_SHAPE = 3\n"
    )
    group = "kestrad.test_shapes"
    _install(
        tmp_path,
        group,
        {
            "com.example.Triangle": "shape_plugins:Triangle",
            "com.example.Missing": "no_such_module_anywhere:Thing",
            "com.example.Number": "shape_plugins:NOT_A_SHAPE",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    shapes: Registry[type] = Registry(
        "Shape",
        load=lambda: shapes.add("io.shapes.Circle", Circle),
        stamp=stamp_type_name,
        entry_point_group=group,
        accept=lambda value: isinstance(value, type),
    )
    triangle = shapes.resolve("com.example.Triangle")
    assert triangle is not None and triangle.__module__ == "shape_plugins"
    assert triangle.type_name == "com.example.Triangle"
    assert shapes.resolve("io.shapes.Circle") is Circle  # built-ins load first
    assert shapes.origins["com.example.Triangle"] == "shape-plugins"
    assert "cannot import" in shapes.problems["com.example.Missing"]
    assert "is not a kestrad Shape class" in shapes.problems["com.example.Number"]
    assert shapes.resolve("com.example.Missing") is None
    assert shapes.resolve("com.example.Number") is None


def test_tasks_triggers_and_pollers_are_three_uses_of_it() -> None:
    assert TASKS.resolve("io.kestra.core.tasks.log.Log") is TASKS.resolve(
        "io.kestra.plugin.core.log.Log"
    )
    assert canonical_trigger_type("io.kestra.plugin.fs.http.Trigger") == (
        "io.kestra.plugin.core.http.Trigger"
    )
    assert resolve_trigger("io.kestra.core.models.triggers.types.Schedule") is not None
    kind = TRIGGERS.resolve("io.kestra.plugin.core.http.Trigger")
    assert kind is not None and kind.schema is HttpTrigger
    evaluator = evaluator_for(HttpTrigger(id="poll", type=HttpTrigger.type_name, uri="http://x"))
    assert evaluator is not None and evaluator is POLLERS.resolve(HttpTrigger.type_name)


def test_the_quick_look_for_plugins_never_misses_a_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_group_may_exist` lets the registry skip importlib.metadata only when its scan
    would find nothing: it says yes for every group an installed distribution declares
    (here, and once a distribution that declares a new group is installed), and no only
    for a group no distribution names."""
    from importlib.metadata import entry_points

    declared = set(entry_points().groups)
    assert declared and all(_group_may_exist(group) for group in declared)
    absent = "kestrad.test_no_such_group"
    assert not entry_points(group=absent)
    assert not _group_may_exist(absent)
    _install(tmp_path, absent, {"com.example.Thing": "json:dumps"})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    assert entry_points(group=absent)
    assert _group_may_exist(absent)


def test_an_indexed_built_in_loads_with_its_first_lookup_and_a_plugin_still_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an index of its built-ins, a lookup imports only the module of its name; an
    entry point named like a built-in keeps the name although the built-in's module
    loads after it (as when all built-ins loaded first and the entry points replaced)."""
    (tmp_path / "shape_holder.py").write_text("REGISTRY = None\n")
    (tmp_path / "shape_round.py").write_text(
        "from shape_holder import REGISTRY\n"
        "class Circle:\n    type_name = ''\n"
        "REGISTRY.add('io.shapes.Circle', Circle, 'io.legacy.Round')\n"
    )
    (tmp_path / "shape_square.py").write_text(
        "from shape_holder import REGISTRY\n"
        "class Square:\n    type_name = ''\n"
        "REGISTRY.add('io.shapes.Square', Square)\n"
    )
    (tmp_path / "indexed_shape_plugins.py").write_text("class BetterCircle:\n    type_name = ''\n")
    group = "kestrad.test_indexed_shapes"
    _install(tmp_path, group, {"io.shapes.Circle": "indexed_shape_plugins:BetterCircle"})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    modules = ["shape_round", "shape_square"]
    shapes: Registry[type] = Registry(
        "Shape",
        load=lambda: [importlib.import_module(m) for m in modules],
        stamp=stamp_type_name,
        entry_point_group=group,
        accept=lambda value: isinstance(value, type),
        builtins={
            "io.shapes.Circle": "shape_round",
            "io.legacy.Round": "shape_round",
            "io.shapes.Square": "shape_square",
        },
    )
    import shape_holder

    monkeypatch.setattr(shape_holder, "REGISTRY", shapes)
    for module in modules:
        monkeypatch.delitem(sys.modules, module, raising=False)
    square = shapes.resolve("io.shapes.Square")
    assert square is not None and square.__name__ == "Square"
    assert "shape_square" in sys.modules and "shape_round" not in sys.modules
    better = shapes.resolve("io.legacy.Round")
    assert better is not None and better.__name__ == "BetterCircle"
    assert shapes.resolve("io.shapes.Circle") is better
    assert sys.modules["shape_round"].Circle.type_name == "io.shapes.Circle"
    assert shapes.origins == {"io.shapes.Circle": "shape-plugins"}
    assert shapes.aliases_of("io.shapes.Circle") == ["io.legacy.Round"]
    assert list(shapes.all()) == ["io.shapes.Circle", "io.shapes.Square"]  # a full load's order
