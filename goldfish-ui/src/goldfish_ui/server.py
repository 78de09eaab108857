"""``goldfish ui``: bind, say where, serve until interrupted.

uvicorn serves the Starlette app of :mod:`goldfish_ui.app` on a socket bound here first, so the
address printed is the one bound (``--port 0`` picks a free port) and a port in use is an error
naming it. Binding anything but a loopback address needs ``--allow-remote`` and prints a warning:
the dashboard has no login, and whoever reaches it reads the project.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import time
import webbrowser
from typing import TYPE_CHECKING, Any

from goldfish.errors import GoldfishError, InvalidInputError
from goldfish.project import Project

if TYPE_CHECKING:
    import uvicorn


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> str | None:
    """None for a loopback address; the warning to print for another one when allowed."""
    if is_loopback(host):
        return None
    if not allow_remote:
        raise InvalidInputError(
            f"--host {host} would serve the project to other machines",
            "the dashboard has no login: keep the default 127.0.0.1 (reach it from elsewhere "
            "through an SSH tunnel), or add --allow-remote to expose it on purpose")
    return (f"warning: serving on {host}, which is not a loopback address: anyone who can "
            "reach this port can read the project (runs, logs, code diffs); there is no login")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise GoldfishError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                            "pick another port with --port (0 picks a free one)") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def make_server(project: Project, sock: socket.socket) -> uvicorn.Server:
    """uvicorn serving the dashboard on ``sock``; bound to loopback, it answers only requests
    addressed to a loopback name (see :data:`goldfish_ui.app.LOOPBACK_HOSTS`)."""
    import uvicorn

    from goldfish_ui.app import LOOPBACK_HOSTS, create_app

    host = sock.getsockname()[0]
    allowed = LOOPBACK_HOSTS if is_loopback(host) else None
    config = uvicorn.Config(create_app(project, allowed_hosts=allowed), log_level="warning",
                            access_log=False,
                            lifespan="off", timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def serve(project_path: str | None, *, host: str = "127.0.0.1", port: int = 8765,
          allow_remote: bool = False, open_browser: bool = False) -> int:
    warning = check_host(host, allow_remote)
    project = Project.find(explicit=project_path)
    project.check_initialized()
    sock = bind(host, port)
    server = make_server(project, sock)
    url = url_of(sock)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    print(f"Goldfish dashboard of {project.config.project} ({project.root}): {url}", flush=True)
    print("read-only; Ctrl-C stops it", flush=True)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


class Background:
    """The dashboard served from a thread (tests, the screenshot script): ``url`` once started,
    :meth:`stop` to end it."""

    def __init__(self, project: Project, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        self.server = make_server(project, self.sock)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True, name="goldfish-ui")

    def start(self) -> Background:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and self.thread.is_alive():
            if time.monotonic() > deadline:
                raise GoldfishError("the dashboard did not start within 30s", "see its log")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> Background:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
