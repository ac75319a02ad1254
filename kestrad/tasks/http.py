"""`io.kestra.plugin.core.http.Request` and `.Download`: HTTP calls with httpx (async).

An HTTP status of 400 or more fails the task unless `allowFailed`, as in Kestra; the
outputs are still attached so an `errors` branch can read the code and body. A response
body kept in outputs is bounded (`options.maxContentLength`, 10 MB by default) because
outputs travel through the database; a download streams to internal storage instead.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from email.message import Message
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import anyio

from kestrad.model.durations import DurationError, parse_duration
from kestrad.model.ids import new_id
from kestrad.storage import StorageError, StorageURI, check_namespace
from kestrad.storage.uris import SCHEME, check_segment
from kestrad.tasks.base import RunnableTask, TaskFailed
from kestrad.tasks.context import RunContext
from kestrad.tasks.props import Bool, Data, Map
from kestrad.tasks.registry import register

if TYPE_CHECKING:  # httpx loads when an HTTP task runs, not with the task registry
    import httpx

DEFAULT_MAX_CONTENT = 10 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 10.0
_CORE = "io.kestra.plugin.core.http."
_LEGACY = "io.kestra.plugin.fs.http."


class _Http(RunnableTask, kw_only=True):
    """Properties shared by Request and Download (Kestra's AbstractHttp)."""

    uri: str
    method: str = "GET"
    headers: Map | None = None
    body: Data | None = None
    form_data: Map | None = None
    content_type: str | None = None
    options: Map | None = None
    ssl_options: Map | None = None
    allow_failed: Bool = False

    def _client(self, options: dict[str, Any], ssl: dict[str, Any]) -> httpx.AsyncClient:
        import httpx

        connect = _seconds(options.get("connectTimeout"), DEFAULT_CONNECT_TIMEOUT)
        read = _seconds(
            options.get("readTimeout") or options.get("readIdleTimeout"), DEFAULT_READ_TIMEOUT
        )
        pool = _seconds(options.get("connectionPoolIdleTimeout"), None)
        return httpx.AsyncClient(
            timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=pool),
            follow_redirects=_truthy(options.get("followRedirects", True)),
            verify=not _truthy(ssl.get("insecureTrustAllCertificates", False)),
            auth=_auth(options),
            proxy=_proxy(options),
        )

    async def _request(self, ctx: RunContext, client: httpx.AsyncClient) -> httpx.Request:
        import httpx

        uri = str(ctx.render(self.uri))
        if not re.match(r"^https?://", uri, re.IGNORECASE):
            raise TaskFailed(f"`uri` must be an http:// or https:// URL, got `{uri}`")
        method = str(ctx.render(self.method) or "GET").upper()
        headers = {str(k): str(v) for k, v in (ctx.render(self.headers) or {}).items()}
        content_type = ctx.render(self.content_type)
        kwargs: dict[str, Any] = {}
        form = ctx.render_typed(self.form_data)
        if form:
            if not isinstance(form, dict):
                raise TaskFailed("`formData` must be a map")
            if content_type and "multipart/form-data" in str(content_type).lower():
                kwargs["data"], kwargs["files"] = await _multipart(ctx, form)
                content_type = None  # httpx writes the header with its boundary
            else:
                kwargs["data"] = {str(k): _text(v) for k, v in form.items()}
        elif self.body is not None:
            body = ctx.render_typed(self.body)
            if isinstance(body, dict | list):
                kwargs["content"] = json.dumps(body).encode()
                content_type = content_type or "application/json"
            elif body is not None:
                kwargs["content"] = _text(body).encode("utf-8")
        if content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = str(content_type)
        try:
            return client.build_request(method, uri, headers=headers, **kwargs)
        except (httpx.InvalidURL, ValueError) as exc:
            raise TaskFailed(f"invalid request to `{uri}`: {exc}") from None

    def _settings(self, ctx: RunContext) -> tuple[dict[str, Any], dict[str, Any], bool]:
        options = ctx.render_typed(self.options) or {}
        ssl = ctx.render_typed(self.ssl_options) or {}
        if not isinstance(options, dict) or not isinstance(ssl, dict):
            raise TaskFailed("`options` and `sslOptions` must be maps")
        return options, ssl, _truthy(ctx.render_typed(self.allow_failed))


@register(_CORE + "Request", _LEGACY + "Request")
class Request(_Http, kw_only=True):
    """Sends one HTTP request; outputs `code`, `headers` (name → values) and `body`."""

    encrypt_body: Bool = False

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        import httpx

        options, ssl, allow_failed = self._settings(ctx)
        if _truthy(ctx.render_typed(self.encrypt_body)):
            raise TaskFailed("`encryptBody` is not supported")
        limit = int(options.get("maxContentLength") or DEFAULT_MAX_CONTENT)
        async with self._client(options, ssl) as client:
            request = await self._request(ctx, client)
            try:
                response = await client.send(request, stream=True)
                try:
                    raw = await _read_bounded(response, limit)
                finally:
                    await response.aclose()
            except httpx.HTTPError as exc:
                raise TaskFailed(_transport_error(request, exc)) from None
        text = raw.decode(response.encoding or "utf-8", errors="replace") if raw else None
        outputs = {
            "uri": str(request.url),
            "code": response.status_code,
            "headers": _headers(response),
            "body": text,
        }
        _check_status(response, allow_failed, outputs)
        return outputs


@register(_CORE + "Download", _LEGACY + "Download")
class Download(_Http, kw_only=True):
    """Downloads a response body into internal storage; outputs its `uri` and `length`."""

    fail_on_empty_response: Bool = True

    async def run(self, ctx: RunContext) -> dict[str, Any] | None:
        import httpx

        options, ssl, allow_failed = self._settings(ctx)
        limit = options.get("maxContentLength")
        folder = tempfile.mkdtemp(prefix="kestrad-dl-")
        temp = os.path.join(folder, "body")
        try:
            async with self._client(options, ssl) as client:
                request = await self._request(ctx, client)
                try:
                    response = await client.send(request, stream=True)
                    try:
                        length = await _save(response, temp, int(limit) if limit else None)
                    finally:
                        await response.aclose()
                except httpx.HTTPError as exc:
                    raise TaskFailed(_transport_error(request, exc)) from None
            outputs: dict[str, Any] = {
                "code": response.status_code,
                "headers": _headers(response),
                "length": length,
            }
            _check_status(response, allow_failed, outputs)
            if length == 0 and _truthy(ctx.render_typed(self.fail_on_empty_response)):
                raise TaskFailed(f"No response from server: `{request.url}` sent an empty body")
            uri = ctx.task_run_uri().child(_file_name(response))
            await anyio.to_thread.run_sync(ctx.storage.put_file, uri, temp)
            ctx.logger.info(f"Downloaded {length} bytes from {request.url} to {uri}")
            return {"uri": str(uri), **outputs}
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_remove_tree, folder)


def _remove_tree(folder: str) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise TaskFailed(
                f"response body of `{response.request.url}` is larger than {limit} bytes "
                "(raise options.maxContentLength, or use http.Download)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def _save(response: httpx.Response, path: str, limit: int | None) -> int:
    """Stream the body to `path` (in a worker thread per write); returns its size."""
    size = 0
    handle = await anyio.open_file(path, "wb")
    try:
        async for chunk in response.aiter_bytes(1024 * 1024):
            size += len(chunk)
            if limit is not None and size > limit:
                raise TaskFailed(f"download of `{response.request.url}` exceeds {limit} bytes")
            await handle.write(chunk)
    finally:
        await handle.aclose()
    return size


def _check_status(response: httpx.Response, allow_failed: bool, outputs: dict[str, Any]) -> None:
    if response.status_code >= 400 and not allow_failed:
        raise TaskFailed(
            f"Failed http request with response code '{response.status_code}' "
            f"({response.reason_phrase}) from {response.request.url}",
            outputs,
        )


def _transport_error(request: httpx.Request, exc: httpx.HTTPError) -> str:
    import httpx

    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return f"HTTP {request.method} {request.url} {kind}: {exc or type(exc).__name__}"


def _headers(response: httpx.Response) -> dict[str, list[str]]:
    """Headers as Kestra gives them: name (as sent) → list of values."""
    out: dict[str, list[str]] = {}
    for raw_name, raw_value in response.headers.raw:
        name = raw_name.decode("latin-1")
        out.setdefault(name, []).append(raw_value.decode("latin-1"))
    return out


def _file_name(response: httpx.Response) -> str:
    """The name to store a download under: Content-Disposition, else the URL's last segment."""
    candidates: list[str] = []
    disposition = response.headers.get("content-disposition")
    if disposition:
        message = Message()
        message["content-disposition"] = disposition
        name = message.get_filename()
        if name:
            candidates.append(name)
    candidates.append(unquote(PurePosixPath(urlsplit(str(response.request.url)).path).name))
    for candidate in candidates:
        base = candidate.replace("\\", "/").rsplit("/", 1)[-1].strip()
        try:
            check_segment(base)
        except StorageError:
            continue
        return base
    return f"download-{new_id()[:8]}"


async def _multipart(
    ctx: RunContext, form: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    """Multipart fields; a `kestra:///` value is sent as a file read from internal storage."""
    data: dict[str, str] = {}
    files: dict[str, Any] = {}
    namespace = ctx.variables.get("flow", {}).get("namespace", "")
    for key, value in form.items():
        if isinstance(value, str) and value.startswith(SCHEME):
            try:
                uri = StorageURI.parse(value)
                check_namespace(uri, namespace)
                content = await anyio.to_thread.run_sync(ctx.storage.get, uri)
            except StorageError as exc:
                raise TaskFailed(f"formData `{key}`: {exc}") from None
            files[str(key)] = (uri.parts[-1], content)
        else:
            data[str(key)] = _text(value)
    return data, files


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | bool) or value is None:
        return json.dumps(value)
    return str(value)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _seconds(value: Any, default: float | None) -> float | None:
    """A timeout written as an ISO duration (`PT30S`) or a number of seconds."""
    if value is None or value == "":
        return default
    if isinstance(value, int | float):
        return float(value)
    try:
        return parse_duration(str(value)).total_seconds()
    except DurationError as exc:
        raise TaskFailed(f"invalid timeout: {exc}") from None


def _auth(options: dict[str, Any]) -> httpx.Auth | None:
    import httpx

    auth = options.get("auth")
    if isinstance(auth, dict):
        kind = str(auth.get("type", "")).upper()
        if kind == "BASIC":
            return httpx.BasicAuth(str(auth.get("username", "")), str(auth.get("password", "")))
        if kind == "BEARER":
            return _bearer(str(auth.get("token", "")))
        raise TaskFailed(f"unsupported `options.auth.type` `{auth.get('type')}`")
    if options.get("basicAuthUser") is not None:
        return httpx.BasicAuth(
            str(options["basicAuthUser"]), str(options.get("basicAuthPassword") or "")
        )
    return None


def _bearer(token: str) -> httpx.Auth:
    """Bearer auth (its class is made here: httpx loads only when an HTTP task runs)."""
    import httpx

    class _Bearer(httpx.Auth):
        def auth_flow(self, request: httpx.Request):  # type: ignore[override]
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    return _Bearer()


def _proxy(options: dict[str, Any]) -> str | None:
    address = options.get("proxyAddress")
    if not address:
        return None
    kind = str(options.get("proxyType") or "HTTP").upper()
    if kind not in ("HTTP", "DIRECT"):
        raise TaskFailed(f"proxy type `{kind}` is not supported (HTTP only)")
    if kind == "DIRECT":
        return None
    port = options.get("proxyPort")
    user = options.get("proxyUsername")
    credentials = f"{user}:{options.get('proxyPassword') or ''}@" if user else ""
    return f"http://{credentials}{address}{f':{port}' if port else ''}"
