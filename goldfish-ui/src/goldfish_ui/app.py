"""The dashboard as a Starlette application: routes, templates, the read-only guard.

Read-only twice over: any method other than GET and HEAD is refused before routing (405), and the
database connections that serve the pages are switched to ``PRAGMA query_only``, so a code path
that tried to write would fail instead of changing the project.
"""

from __future__ import annotations

import math
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish.cli.common import ago, fmt
from goldfish.errors import ConflictError, GoldfishError, InvalidInputError, NotFoundError
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from goldfish_ui import pages

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from goldfish.project import Project
    from starlette.types import ASGIApp, Receive, Scope, Send

READ_METHODS = frozenset({"GET", "HEAD"})
#: Every page may load only what this server serves: a browser enforces it (no CDN, no beacon).
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; "
                                 b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
#: Host names a loopback-bound dashboard answers to; any other Host header is a DNS-rebinding
#: page trying to read the project through the user's browser, and is refused.
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]
LIVE_INTERVAL_MS = 1000


def package_dir(name: str) -> Path:
    return Path(str(resources.files("goldfish_ui") / name))


class ReadOnly:
    """Refuses every request that is not GET or HEAD, whatever the path, and sends
    :data:`SECURITY_HEADERS` with every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        if scope["method"] not in READ_METHODS:
            response = PlainTextResponse(
                f"{scope['method']} refused: the Goldfish dashboard is read-only; change the "
                "project with the goldfish CLI or an agent's MCP tools", status_code=405,
                headers={"Allow": "GET, HEAD"})
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


# --- template helpers ------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h{m:02d}m" if hours else f"{m}m{s:02d}s"


def when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else "-"


def diff_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    return {"+": "add", "-": "del"}.get(line[:1], "")


def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(package_dir("templates")),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fmt=fmt, ago=ago, duration=duration, when=when, diff_class=diff_class)
    env.globals["live_interval_ms"] = LIVE_INTERVAL_MS
    return env


# --- the application -------------------------------------------------------------------------


def create_app(project: Project, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The dashboard of ``project``: open the project first (config validated, database
    migrated as any goldfish command would); the app then only reads. With ``allowed_hosts``,
    requests whose Host header names another host are refused (400)."""
    _ = project.config
    _ = project.db
    env = templates()

    def read_only_project() -> Project:
        # one connection per thread (goldfish.db); make the one serving this request read-only
        project.db.conn.execute("PRAGMA query_only = ON")
        return project

    def html(name: str, build: Callable[[Project, Request], dict[str, Any]],
             nav: str) -> Callable[[Request], Awaitable[Response]]:
        template = env.get_template(name)

        async def endpoint(request: Request) -> Response:
            def render() -> Response:
                try:
                    context = build(read_only_project(), request)
                except GoldfishError as exc:
                    return error_page(env, project, exc)
                body = template.render(site=project.config.project, nav=nav,
                                       request=request, **context)
                return HTMLResponse(body)

            return await run_in_threadpool(render)

        return endpoint

    def api(build: Callable[..., Any]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            def answer() -> Response:
                try:
                    return JSONResponse(_jsonable(build(read_only_project(), request)))
                except GoldfishError as exc:
                    return JSONResponse({"error": exc.message, "hint": exc.hint},
                                        status_code=_status(exc))

            return await run_in_threadpool(answer)

        return endpoint

    def q(request: Request, name: str) -> str | None:
        value = request.query_params.get(name)
        return value.strip() if value and value.strip() else None

    def page_number(request: Request) -> int:
        raw = request.query_params.get("page") or "1"
        try:
            return int(raw)
        except ValueError:
            raise InvalidInputError(f"page {raw!r} is not a number", "pages start at 1")

    routes = [
        Route("/", html("overview.html", lambda p, r: pages.overview(p), "overview")),
        Route("/runs", html("runs.html", lambda p, r: pages.runs_table(
            p, workspace=q(r, "workspace"), state=q(r, "state"), tag=q(r, "tag"),
            sort=q(r, "sort"), page=page_number(r)), "runs")),
        Route("/runs/{run}", html("run.html", lambda p, r: pages.run_page(
            p, r.path_params["run"]), "runs")),
        Route("/compare", html("compare.html", lambda p, r: pages.compare_page(
            p, r.query_params.getlist("runs")), "compare")),
        Route("/workspaces", html("workspaces.html", lambda p, r: pages.workspaces_page(p),
                                  "workspaces")),
        Route("/workspaces/{name}", html("workspace.html", lambda p, r: pages.workspace_page(
            p, r.path_params["name"]), "workspaces")),
        Route("/diff", html("diff.html", lambda p, r: pages.diff_page(
            p, q(r, "a") or "", q(r, "b") or ""), "workspaces")),
        Route("/state", html("state.html", lambda p, r: pages.state_page(p), "state")),
        Route("/patterns", html("patterns.html", lambda p, r: pages.patterns_page(
            p, q(r, "status")), "patterns")),
        Route("/api/active", api(lambda p, r: pages.active_runs(p))),
        Route("/api/runs/{run}", api(lambda p, r: pages.run_live(p, r.path_params["run"]))),
        Mount("/static", app=StaticFiles(directory=package_dir("static")), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return await run_in_threadpool(
            error_page, env, project,
            NotFoundError(f"no page {request.url.path!r}", "start from the overview: /"))

    async def internal(request: Request, exc: Exception) -> Response:
        return render_error(env, project, f"internal error: {type(exc).__name__}: {exc}",
                            "this is a bug in goldfish-ui; the terminal running `goldfish ui` "
                            "has the details", 500)

    app = Starlette(routes=routes, exception_handlers={404: not_found, 500: internal})
    if allowed_hosts is not None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    app.add_middleware(ReadOnly)
    return app


def _status(exc: GoldfishError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InvalidInputError):
        return 400
    return 409 if isinstance(exc, ConflictError) else 500


def error_page(env: Environment, project: Project, exc: GoldfishError) -> Response:
    return render_error(env, project, exc.message, exc.hint, _status(exc))


def render_error(env: Environment, project: Project, message: str, hint: str | None,
                 status: int) -> Response:
    body = env.get_template("error.html").render(site=project.config.project, nav="",
                                                 message=message, hint=hint)
    return HTMLResponse(body, status_code=status)


def _jsonable(value: Any) -> Any:
    """Non-finite floats become None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
