"""Task plugins: the example package installed for real, found through its entry point."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tasks_support import messages, run_flow, run_of, running_engine

from kestrad.tasks import plugins
from kestrad.tasks.registry import resolve

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "examples" / "plugin"
GREET = "io.example.kestrad.Greet"

FLOW = """
id: greeter
namespace: company.team
tasks:
  - id: greet
    type: io.example.kestrad.Greet
    name: "{{ flow.id }}"
    shout: true
"""


@pytest.fixture(scope="session")
def example_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Install `examples/plugin` the way an installer lays it out, without a network.

    An installed distribution is a `<name>-<version>.dist-info` folder (METADATA and
    `entry_points.txt`, here built from the package's own pyproject) on `sys.path`, next
    to its importable code: that is all `importlib.metadata` reads, so the plugin is found
    by a real entry-point lookup, in this process and in the `kestrad` processes started
    with the returned environment.
    """
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    site_dir = tmp_path_factory.mktemp("site-packages")
    name = project["name"].replace("-", "_")
    info = site_dir / f"{name}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    points = project["entry-points"][plugins.ENTRY_POINT_GROUP]
    (info / "entry_points.txt").write_text(
        f"[{plugins.ENTRY_POINT_GROUP}]\n"
        + "".join(f"{type_name} = {target}\n" for type_name, target in points.items())
    )
    paths = [str(site_dir), str(PLUGIN)]
    sys.path[:0] = paths
    importlib.invalidate_caches()
    plugins.load_plugins()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, str(REPO)])}
    try:
        yield env
    finally:
        for path in paths:
            sys.path.remove(path)


def test_entry_point_registers_the_task(example_plugin: dict[str, str]) -> None:
    cls = resolve(GREET)
    assert cls is not None and cls.__module__ == "kestrad_example_plugin"
    assert plugins.origins[GREET] == "kestrad-example-plugin"
    props = {p.name: p for p in plugins.properties(cls)}
    assert props["name"].required and props["name"].type == "str"
    assert props["greeting"].default == "Hello"
    assert "id" not in props  # common properties are not repeated per type


@pytest.mark.anyio
async def test_a_flow_runs_the_plugin_task(example_plugin: dict[str, str], tmp_path: Path) -> None:
    async with running_engine(tmp_path) as engine:
        execution, logs = await run_flow(engine, FLOW)
        assert execution.state.current == "SUCCESS"
        assert run_of(execution, "greet").outputs == {"message": "HELLO, GREETER!"}
        assert messages(logs, "greet") == ["HELLO, GREETER!"]


def test_a_new_process_loads_plugins_at_startup(
    example_plugin: dict[str, str], tmp_path: Path
) -> None:
    listing = subprocess.run(
        [sys.executable, "-m", "kestrad", "plugins", "list", "--type", "Greet"],
        capture_output=True,
        text=True,
        timeout=60,
        env=example_plugin,
    )
    assert listing.returncode == 0, listing.stderr
    assert f"{GREET}  (plugin: kestrad-example-plugin)" in listing.stdout
    assert "greeting: str  [default 'Hello']" in listing.stdout
    flow = tmp_path / "greeter.yml"
    flow.write_text(FLOW)
    run = subprocess.run(
        [sys.executable, "-m", "kestrad", "run", str(flow), "--timeout", "60"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=example_plugin,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "HELLO, GREETER!" in run.stdout + run.stderr


def test_a_broken_plugin_is_reported_and_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "broken_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[kestrad.tasks]\n"
        "com.example.Broken = no_such_module_anywhere:Task\n"
        "com.example.NotATask = json:dumps\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.load_plugins()
    assert "cannot import" in plugins.problems["com.example.Broken"]
    assert "not a kestrad Task" in plugins.problems["com.example.NotATask"]
    assert resolve("com.example.Broken") is None
    assert resolve("io.kestra.plugin.core.log.Log") is not None
