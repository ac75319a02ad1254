"""Inputs and labels of a request: multipart or urlencoded form fields, or a JSON object.

Kestra's UI and curl send inputs as form fields (`-F name=Ada`); scripts find a JSON object
simpler. Labels are repeated `key:value` values of `labels`, in the query or the form.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, NamedTuple

from starlette.datastructures import UploadFile
from starlette.requests import Request

from kestrad.api.errors import ApiError
from kestrad.api.params import read_json

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MAX_FORM_FIELDS = 1000


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class Upload(NamedTuple):
    """A file part of a multipart form: the input it is for, its file name, its bytes."""

    input_id: str
    filename: str
    data: bytes


async def read_inputs(request: Request, body_limit: int) -> tuple[dict[str, Any], list[str]]:
    """(inputs, form labels); a repeated field becomes a list (MULTISELECT). A file part is
    refused: only execution creation stores files (`read_inputs_and_files`)."""
    inputs, labels, uploads = await read_inputs_and_files(request, body_limit)
    if uploads:
        errors = [
            {"input": u.input_id, "message": "a file is only taken when creating an execution"}
            for u in uploads
        ]
        raise ApiError(422, "Invalid inputs", errors=errors)
    return inputs, labels


async def read_inputs_and_files(
    request: Request, body_limit: int
) -> tuple[dict[str, Any], list[str], list[Upload]]:
    """(inputs, form labels, uploaded files): FILE inputs come as multipart file parts."""
    kind = media_type(request)
    if kind in FORM_TYPES:
        return await _form_inputs(request, body_limit)
    if kind in ("", "application/json") or kind.endswith("+json"):
        data = await read_json(request)
        if data is None:
            return {}, [], []
        if not isinstance(data, dict):
            raise ApiError(400, "The JSON body must be an object of input values")
        return data, [], []
    raise ApiError(415, f"Unsupported content type `{kind}`: send a form or a JSON object")


async def _form_inputs(
    request: Request, body_limit: int
) -> tuple[dict[str, Any], list[str], list[Upload]]:
    form = await request.form(
        max_files=MAX_FORM_FIELDS, max_fields=MAX_FORM_FIELDS, max_part_size=body_limit
    )
    inputs: dict[str, Any] = {}
    labels: list[str] = []
    uploads: list[Upload] = []
    for key in dict.fromkeys(form.keys()):
        values = form.getlist(key)
        if key == "labels":
            labels.extend(str(v) for v in values if isinstance(v, str))
            continue
        files = [v for v in values if isinstance(v, UploadFile)]
        if files:
            if len(values) > 1:
                raise ApiError(
                    422,
                    "Invalid inputs",
                    errors=[{"input": key, "message": "one file per FILE input"}],
                )
            name = PurePosixPath((files[0].filename or key).replace("\\", "/")).name or key
            uploads.append(Upload(key, name, await files[0].read()))
            continue
        inputs[key] = values[0] if len(values) == 1 else list(values)
    await form.close()
    return inputs, labels, uploads


def parse_labels(values: list[str]) -> dict[str, str]:
    """`["team:data", "env:prod"]` → `{"team": "data", "env": "prod"}`; malformed is a 400."""
    labels: dict[str, str] = {}
    for raw in values:
        key, sep, value = raw.partition(":")
        if not sep or not key.strip():
            raise ApiError(400, f"Invalid label `{raw}`: expected key:value")
        labels[key.strip()] = value.strip()
    return labels
