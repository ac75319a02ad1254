"""`io.kestra.plugin.core.storage.LocalFiles` (deprecated): files in and out of a folder.

Inside a WorkingDirectory it works in the shared folder, so later tasks see the files;
alone it uses a temporary folder of its own.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from kestrad.tasks.base import RunnableTask
from kestrad.tasks.context import RunContext
from kestrad.tasks.props import Map, TextList
from kestrad.tasks.registry import register
from kestrad.tasks.script_files import (
    input_file_map,
    match_output_files,
    output_globs,
    upload_output_files,
    write_input_files,
)


@register("io.kestra.plugin.core.storage.LocalFiles", "io.kestra.core.tasks.storages.LocalFiles")
class LocalFiles(RunnableTask, kw_only=True):
    """`inputs`: name → content (or kestra:/// URI) written; `outputs`: globs uploaded."""

    inputs: Map | None = None
    outputs: TextList | None = None

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        own = ctx.working_directory is None
        folder = Path(tempfile.mkdtemp(prefix="kestrad-files-") if own else ctx.working_directory)
        try:
            if self.inputs:
                files = input_file_map(ctx.render(self.inputs))
                namespace = ctx.variables["flow"]["namespace"]
                await write_input_files(folder, files, ctx.storage, namespace)
            uris: dict[str, str] = {}
            if self.outputs:
                found = match_output_files(folder, output_globs(ctx.render(self.outputs)))
                uris = await upload_output_files(found, ctx.storage, ctx.task_run_uri())
            return {"uris": uris}
        finally:
            if own:
                shutil.rmtree(folder, ignore_errors=True)
