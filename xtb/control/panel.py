"""The operator's web panel on the control endpoint's server (aiohttp), 127.0.0.1 only.

Pages and reads (docs/panel.md):

    GET  /login                   login page (token field; `/login#token=...` signs in by itself)
    POST /login                   {"token"} or form token=...: sets the session cookie, 303 to /
    GET  /                        the panel (303 to /login without a session)
    GET  /health                  {"status": "ok", ...}, no token needed (it shows no positions or PnL)
    GET  /api/snapshot            everything the page shows, as one JSON object
    GET  /api/stream              Server-Sent Events: `snapshot` every control.push_interval_s, `events`
    GET  /api/events?after=N      event log entries after sequence N
    GET  /api/spreads?pair=&limit= spread history of one pair, old -> new (persists across runs)
    GET  /api/params              current params and the live ones with their bounds
Controls (POST, JSON body; from the page each is confirmed by the operator first):

    /api/params {"changes": {...}}   /api/mode {"mode": "auto"|"reminder"}   /api/quoting {"paused": bool}
    /api/risk/limits {"changes": {...}} (null turns a rule off)
    /api/flatten {}                  /kill {...}                              /risk/state {...}

Sessions: the cookie holds an HMAC of the token (never the token), HttpOnly and SameSite=Strict; a POST
authenticated by the cookie must also carry `X-XTB-Panel: 1`, which a cross-site form cannot send.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from xtb.control.live_params import ParamChangeError

STATIC = Path(__file__).with_name("static")
COOKIE = "xtb_panel"
CSRF_HEADER = "X-XTB-Panel"


def session_value(token: bytes) -> str:
    return hmac.new(token, b"xtb panel session v1", hashlib.sha256).hexdigest()


def _dumps(obj: Any) -> str:
    return json.dumps(_nan_to_none(obj), default=str)  # NaN / inf are not JSON: sent as null


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_none(v) for v in obj]
    return obj


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


class Panel:
    """Routes of the panel; `server` is the ControlServer (token check, body parsing, shutdown flag)."""

    def __init__(self, server: Any, desk: Any) -> None:
        self.server = server
        self.desk = desk
        self.closing = asyncio.Event()

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self._index)
        r.add_get("/login", self._login_page)
        r.add_post("/login", self._login)
        r.add_get("/health", self._health)
        r.add_get("/api/snapshot", self._snapshot)
        r.add_get("/api/stream", self._stream)
        r.add_get("/api/events", self._events)
        r.add_get("/api/spreads", self._spreads)
        r.add_get("/api/params", self._params)
        r.add_post("/api/params", self._set_params)
        r.add_post("/api/risk/limits", self._risk_limits)
        r.add_post("/api/mode", self._mode)
        r.add_post("/api/quoting", self._quoting)
        r.add_post("/api/flatten", self._flatten)
        r.add_static("/static/", STATIC, show_index=False)

    # --- pages ---------------------------------------------------------------------------------------
    async def _index(self, request: web.Request) -> web.StreamResponse:
        if not self.server.has_session(request):
            raise web.HTTPSeeOther("/login")
        return web.FileResponse(STATIC / "panel.html", headers={"Cache-Control": "no-store"})

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-store"})

    async def _login(self, request: web.Request) -> web.StreamResponse:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = {}
            given = body.get("token") if isinstance(body, dict) else None
        else:
            given = (await request.post()).get("token")
        if not isinstance(given, str) or not self.server.token_matches(given.strip()):
            self.server.refuse(request, "wrong token (panel login)")
            raise web.HTTPSeeOther("/login?failed=1")
        resp = web.HTTPSeeOther("/")
        resp.set_cookie(COOKIE, self.server.session, httponly=True, samesite="Strict", path="/")
        raise resp

    async def _health(self, request: web.Request) -> web.Response:
        eng = self.desk.engine
        status = eng.status()
        tick = self.desk.last_tick
        return _json({"status": "ok" if status.get("state") == "running" else str(status.get("state")),
                      "strategy": eng.config.strategy.name, "uptime_s": status.get("uptime_s"),
                      "desk_tick_age_s": None if tick is None else round(time.monotonic() - tick, 1)})

    # --- reads ---------------------------------------------------------------------------------------
    async def _snapshot(self, request: web.Request) -> web.Response:
        return _json(self.desk.snapshot())

    async def _events(self, request: web.Request) -> web.Response:
        after = _int_query(request, "after", 0, 0, 1 << 62)
        return _json({"events": self.desk.events.since(after)})

    async def _spreads(self, request: web.Request) -> web.Response:
        pair = request.query.get("pair")
        if self.desk.history is None:
            return _json({"error": "no spread history: telemetry.enabled is false"}, 409)
        if not pair:
            known = ", ".join(self.desk.history.pairs()) or "none yet"
            return _json({"error": f"pair: required (known: {known})"}, 400)
        limit = _int_query(request, "limit", 1000, 1, 100_000)
        rows = self.desk.history.query(pair, limit)
        return _json({"pair": pair, "count": len(rows), "rows": rows})

    async def _params(self, request: web.Request) -> web.Response:
        return _json(self.desk.params())

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        seq = _int_query(request, "after", 0, 0, 1 << 62)
        interval = float(self.desk.engine.config.control.push_interval_s)
        try:
            while not self.closing.is_set():
                events = self.desk.events.since(seq)
                if events:
                    seq = events[-1]["seq"]
                    await resp.write(f"event: events\ndata: {_dumps(events)}\n\n".encode())
                await resp.write(f"event: snapshot\ndata: {_dumps(self.desk.snapshot())}\n\n".encode())
                try:
                    await asyncio.wait_for(self.closing.wait(), interval)
                except TimeoutError:
                    pass
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    # --- controls ------------------------------------------------------------------------------------
    async def _control(self, request: web.Request, action: Callable[[dict[str, Any]], Any]) -> web.Response:
        body = await self.server.body(request)
        try:
            result = action(body)
            if asyncio.iscoroutine(result):
                result = await result
        except ParamChangeError as e:
            return _json({"error": str(e)}, 400)
        return _json(result)

    async def _set_params(self, request: web.Request) -> web.Response:
        def act(body: dict[str, Any]) -> Any:
            changes = body.get("changes")
            if not isinstance(changes, dict):
                raise ParamChangeError("changes: expected an object of parameter -> value")
            return {"params": self.desk.change_params(changes)}
        return await self._control(request, act)

    async def _risk_limits(self, request: web.Request) -> web.Response:
        return await self._control(request, lambda body: {"risk": self.desk.change_risk(body.get("changes"))})

    async def _mode(self, request: web.Request) -> web.Response:
        return await self._control(request, lambda body: self.desk.set_mode(body.get("mode")))

    async def _quoting(self, request: web.Request) -> web.Response:
        def act(body: dict[str, Any]) -> Any:
            paused = body.get("paused")
            if not isinstance(paused, bool):
                raise ParamChangeError("paused: expected true or false")
            return self.desk.pause_quoting(paused)
        return await self._control(request, act)

    async def _flatten(self, request: web.Request) -> web.Response:
        async with self.server.kill_lock:  # one flatten (or kill) at a time
            return await self._control(request, lambda body: self.desk.flatten())


def _int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"{name}: expected an integer (got {raw!r})"}),
                                 content_type="application/json") from None
    if not lo <= value <= hi:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"{name}: must be in {lo}..{hi} (got {value})"}),
                                 content_type="application/json")
    return value
