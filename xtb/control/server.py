"""The control endpoint inside a running bot (aiohttp), on 127.0.0.1 only, behind a bearer token.

    GET  /status                                       engine.status()
    POST /kill        {"reason": str, "flatten": true} halt (latched), cancel all, flatten reduce-only,
                                                       verify every venue: one report per venue
    POST /risk/state  {"state": "active"|"reducing"|"halted", "reason": str, "for_s": float|null}

Every request needs `Authorization: Bearer <token>`; a missing or wrong token gets 401 and changes
nothing. With the panel on (`control.panel`, xtb.control.panel) the same server also serves the web
panel, whose pages authenticate with a session cookie instead (`/login`, `/health` and the static files
need neither). Refused requests are logged at most one line a minute (the rest are counted). The
address is not configurable: the port is (`control.port`, 0 = any free one), and the bound port goes
to `<state dir>/control.json` so the CLI can find it. No access log: nothing of a request (its headers
carry the token) is ever logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from xtb.control.panel import COOKIE, CSRF_HEADER, Panel, session_value
from xtb.control.token import (
    ENDPOINT_FILE,
    TOKEN_FILE,
    Token,
    generate_token,
    pid_alive,
    read_endpoint,
    resolve_token,
    write_private,
)
from xtb.risk.kill import kill_and_verify
from xtb.risk.state import TradingState

log = logging.getLogger("xtb.control")

HOST = "127.0.0.1"  # loopback only, by design: the endpoint can flatten the account
PUBLIC_PATHS = frozenset({"/", "/login", "/health"})  # the login page and a liveness probe: no positions, no PnL


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


class BadRequest(Exception):
    pass


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise BadRequest("body: not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body: expected a JSON object")
    return data


class RefusalLog:
    """Refused requests, logged without flooding: the first one of a quiet period is logged at once, the
    ones after it are counted and summed up in one line per `interval_s` (a client looping on a wrong token
    would otherwise write a line per request)."""

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log, self.interval_s, self.clock = logger, interval_s, clock
        self._last_line = float("-inf")
        self._held = 0

    def refused(self, method: str, path: str, why: str) -> None:
        now = self.clock()
        if now - self._last_line < self.interval_s:
            self._held += 1
            return
        more = f" (and {self._held} more refused since the last line)" if self._held else ""
        self.log.warning("control: %s %s refused: %s%s", method, path, why, more)
        self._last_line, self._held = now, 0

    def flush(self) -> None:
        if self._held:
            self.log.warning("control: %d more requests refused since the last line", self._held)
            self._held = 0


class ControlServer:
    def __init__(self, engine: Any, token: Token, *, state_dir: Path | None = None, desk: Any = None,
                 panel: bool = True) -> None:
        self.engine = engine
        self._token = token.reveal().encode()
        self.session = session_value(self._token)
        self.desk = desk
        self.serve_panel = panel and desk is not None
        self.panel: Panel | None = None
        self.token_source = token.source
        self.state_dir = state_dir
        self._runner: web.AppRunner | None = None
        self._kill_lock = asyncio.Lock()
        self.port: int | None = None
        self.refused = 0  # requests without a valid token
        self._refusals = RefusalLog(log)
        self._owns_token_file = False

    # --- lifecycle -----------------------------------------------------------------------------------
    @classmethod
    async def start(
        cls, engine: Any, *, port: int = 0, token: str | None = None, token_env: str = "XTB_CONTROL_TOKEN",
        state_dir: Path | None = None, env: Mapping[str, str] | None = None, desk: Any = None, panel: bool = True,
    ) -> ControlServer:
        """Bind 127.0.0.1:port and serve; without a configured token, generate one and write it (0600)."""
        env = os.environ if env is None else env
        tok = resolve_token(token, token_env, env)
        generated = tok is None
        if tok is None:
            if state_dir is None:
                raise ValueError("control: no token configured and no state dir to write a generated one to")
            tok = generate_token()
        server = cls(engine, tok, state_dir=state_dir, desk=desk, panel=panel)
        await server._serve(port)
        if state_dir is not None:
            try:
                server._write_files(generated, tok)
            except BaseException:
                await server.stop()
                raise
        return server

    async def _serve(self, port: int) -> None:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/status", self._status)
        app.router.add_post("/kill", self._kill)
        app.router.add_post("/risk/state", self._risk_state)
        if self.serve_panel:
            self.panel = Panel(self, self.desk)
            self.panel.routes(app)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, port))
        except OSError as e:
            sock.close()
            raise OSError(e.errno, f"control: cannot bind {HOST}:{port}: {e.strerror}") from None
        self.port = int(sock.getsockname()[1])
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        log.info("control endpoint on http://%s:%d (token from %s)%s", HOST, self.port, self.token_source,
                 "; panel: run `xtb panel` for a login link" if self.panel is not None else "")

    def _write_files(self, generated: bool, token: Token) -> None:
        assert self.state_dir is not None
        previous = read_endpoint(self.state_dir)
        if previous and previous.get("pid") not in (None, os.getpid()):
            if pid_alive(previous.get("pid")):
                log.warning("control: pid %s also announced a control endpoint in %s; this bot replaces it",
                            previous.get("pid"), self.state_dir)
        token_file = self.state_dir / TOKEN_FILE
        if generated:
            write_private(token_file, token.reveal())
            self._owns_token_file = True
        endpoint = {"host": HOST, "port": self.port, "pid": os.getpid(), "started": time.time(),
                    "token_file": str(token_file) if generated else None, "token_source": token.source}
        write_private(self.state_dir / ENDPOINT_FILE, json.dumps(endpoint))

    async def stop(self) -> None:
        self._refusals.flush()
        if self.panel is not None:
            self.panel.closing.set()  # live streams end their loops
        if self.desk is not None:
            desk, self.desk = self.desk, None
            try:
                await desk.stop()
            except Exception:
                log.exception("desk stop failed")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.state_dir is not None:
            current = read_endpoint(self.state_dir)
            if current is not None and current.get("pid") == os.getpid() and current.get("port") == self.port:
                (self.state_dir / ENDPOINT_FILE).unlink(missing_ok=True)
                if self._owns_token_file:
                    (self.state_dir / TOKEN_FILE).unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"ControlServer({HOST}:{self.port}, token from {self.token_source})"

    # --- requests ------------------------------------------------------------------------------------
    # --- tokens and sessions -------------------------------------------------------------------------
    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self._token)

    def has_session(self, request: web.Request) -> bool:
        cookie = request.cookies.get(COOKIE)
        return cookie is not None and hmac.compare_digest(cookie.encode(), self.session.encode())

    def refuse(self, request: web.Request, why: str) -> None:
        self.refused += 1
        self._refusals.refused(request.method, request.path, why)

    async def body(self, request: web.Request) -> dict[str, Any]:
        return await _body(request)

    @property
    def kill_lock(self) -> asyncio.Lock:
        return self._kill_lock

    @web.middleware
    async def _auth(self, request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        path = request.path
        if self.panel is not None:
            if path in PUBLIC_PATHS or path.startswith("/static/"):
                return await handler(request)  # "/" itself sends a visitor without a session to /login
            if "Authorization" not in request.headers and self.has_session(request):
                if request.method != "GET" and request.headers.get(CSRF_HEADER) != "1":
                    self.refuse(request, f"session without the {CSRF_HEADER} header")
                    return web.json_response({"error": f"missing {CSRF_HEADER} header"}, status=403)
                try:
                    return await handler(request)
                except BadRequest as e:
                    return _json({"error": str(e)}, status=400)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            self.refused += 1
            self._refusals.refused(request.method, request.path, "no bearer token")
            return web.json_response({"error": "missing bearer token"}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.strip().encode(), self._token):
            self.refused += 1
            self._refusals.refused(request.method, request.path, "wrong token")
            return web.json_response({"error": "wrong token"}, status=401, headers={"WWW-Authenticate": "Bearer"})
        try:
            return await handler(request)
        except BadRequest as e:
            return _json({"error": str(e)}, status=400)

    async def _status(self, request: web.Request) -> web.Response:
        return _json(self.engine.status())

    async def _kill(self, request: web.Request) -> web.Response:
        body = await _body(request)
        reason = body.get("reason", "operator")
        flatten = body.get("flatten", True)
        if not isinstance(reason, str):
            raise BadRequest("reason: expected a string")
        if not isinstance(flatten, bool):
            raise BadRequest("flatten: expected true or false")
        guard = getattr(self.engine, "risk", None)
        if guard is None:
            return _json({"error": "this bot has no risk guard: nothing can halt its strategy"}, status=409)
        async with self._kill_lock:  # a second kill waits for the first one's report
            reports = await kill_and_verify(guard, self.engine, reason, flatten=flatten)
        venues = {v: {**dataclasses.asdict(r), "flat": r.flat} for v, r in (reports or {}).items()}
        return _json({"state": str(guard.state), "flatten": flatten, "venues": venues,
                      "flat": bool(venues) and all(r["flat"] for r in venues.values())})

    async def _risk_state(self, request: web.Request) -> web.Response:
        body = await _body(request)
        state = body.get("state")
        try:
            if not isinstance(state, str):
                raise ValueError
            st = TradingState(state)
        except ValueError:
            raise BadRequest(f"state: must be one of {', '.join(s.value for s in TradingState)} "
                             f"(got {state!r})") from None
        reason = body.get("reason", "operator")
        for_s = body.get("for_s")
        if not isinstance(reason, str):
            raise BadRequest("reason: expected a string")
        if for_s is not None and (isinstance(for_s, bool) or not isinstance(for_s, int | float)
                                  or not math.isfinite(for_s) or for_s <= 0):
            # NaN compares false with everything: it would pass `<= 0` and the halt would never lift
            raise BadRequest(f"for_s: expected a finite number of seconds > 0 (got {for_s!r})")
        guard = getattr(self.engine, "risk", None)
        if guard is None:
            return _json({"error": "this bot has no risk guard"}, status=409)
        guard.set_state(st, f"operator: {reason}", for_s=for_s)
        return _json(guard.status())
