"""The built-in task index (`BUILTIN_TYPES`) against what the task modules register: a
lookup imports only the module its index names, so a name missing from the index, or
filed under the wrong module, would be an unknown task type. Fresh interpreters, since
this one has long imported every task module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RECORD = """
import json, sys
from kestrad.tasks import registry
loaded = sorted(m for m in sys.modules if m.startswith("kestrad.tasks.") and
                m.rsplit(".", 1)[1] in registry.BUILTIN_TYPES)
added = []
original = registry.TASKS.add
def add(name, value, *aliases):
    added.extend([each, value.__module__] for each in (name, *aliases))
    return original(name, value, *aliases)
registry.TASKS.add = add
registry._load_builtins()
print(json.dumps({"loaded": loaded, "added": added}))
"""

LOOKUPS = """
import json, sys
from kestrad.tasks import registry
def loaded():
    return sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("kestrad.tasks.")
                  and m.rsplit(".", 1)[1] in registry.BUILTIN_TYPES)
steps = {"start": loaded()}
log = registry.resolve("io.kestra.plugin.core.log.Log")
steps["log"] = loaded()
steps["alias"] = registry.canonical_type("io.kestra.core.tasks.storages.Purge")
steps["after_alias"] = loaded()
steps["unknown"] = registry.resolve("io.kestra.plugin.core.log.Nope") is None
steps["after_unknown"] = loaded()
order = list(registry.all_types())
steps["all"] = loaded()
print(json.dumps({"steps": steps, "order": order, "log": log.__module__}))
"""


def _run(code: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_index_is_what_the_modules_register_in_their_order() -> None:
    """Every name and alias, filed under the module whose class registers it, in the
    order a full load registers them."""
    from kestrad.tasks.registry import BUILTIN_TYPES

    record = _run(RECORD)
    assert record["loaded"] == []  # importing the registry imports no task module
    indexed = [
        [name, f"kestrad.tasks.{module}"]
        for module, names in BUILTIN_TYPES.items()
        for name in names
    ]
    assert record["added"] == indexed


def test_a_lookup_imports_only_the_module_of_its_type() -> None:
    from kestrad.tasks.registry import BUILTIN_TYPES, TASKS

    result = _run(LOOKUPS)
    steps = result["steps"]
    assert steps["start"] == []
    assert result["log"] == "kestrad.tasks.core_log"
    assert steps["log"] == ["core_log"]
    assert steps["alias"] == "io.kestra.plugin.core.execution.PurgeExecutions"
    assert steps["after_alias"] == ["core_execution", "core_log"]
    assert steps["unknown"] is True
    assert steps["after_unknown"] == ["core_execution", "core_log"]
    assert steps["all"] == sorted(BUILTIN_TYPES)
    # a listing keeps the order of a full load, whatever the lookups loaded first
    types = [n for names in BUILTIN_TYPES.values() for n in names if TASKS.canonical(n) == n]
    assert result["order"] == types
    assert result["order"][0] == "io.kestra.plugin.core.flow.Sequential"
