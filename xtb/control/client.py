"""The CLI's side of the control endpoint: find the running bot from its state dir and call it.

    client = ControlClient.discover(state_dir, token=None, token_env="XTB_CONTROL_TOKEN")
    await client.status(); await client.kill("reason"); await client.set_state("halted", "reason")

The token, first that applies: the one given (config `control.token`), the environment variable, the
token file the bot wrote for its generated token. Proxies from the environment are ignored (the bot is
on 127.0.0.1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from xtb.control.token import Token, pid_alive, read_endpoint, read_token_file, resolve_token


class ControlError(RuntimeError):
    """The bot answered with an error, or could not be reached."""


class NoBotRunning(ControlError):
    """No control endpoint is announced in the state dir (or its process is gone)."""


class ControlClient:
    def __init__(self, port: int, token: Token, *, host: str = "127.0.0.1", timeout_s: float = 120.0) -> None:
        self.url = f"http://{host}:{port}"
        self._token = token
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"ControlClient({self.url})"

    @classmethod
    def discover(
        cls, state_dir: str | os.PathLike[str], *, token: str | None = None, token_env: str = "XTB_CONTROL_TOKEN",
        env: Mapping[str, str] | None = None, timeout_s: float = 120.0,
    ) -> ControlClient:
        state = Path(state_dir).expanduser()
        endpoint = read_endpoint(state)
        if endpoint is None:
            raise NoBotRunning(f"no control endpoint announced in {state} (is the bot running with this run_dir?)")
        if not pid_alive(endpoint.get("pid")):
            raise NoBotRunning(f"the bot that announced {state}/control.json (pid {endpoint.get('pid')}) is gone")
        tok = resolve_token(token, token_env, os.environ if env is None else env)
        if tok is None and endpoint.get("token_file"):
            tok = read_token_file(Path(str(endpoint["token_file"])))
        if tok is None:
            raise ControlError(f"no control token: set control.token, ${token_env}, or run as the bot's user "
                               f"(its token file is readable by the owner only)")
        port = endpoint.get("port")
        if not isinstance(port, int):
            raise ControlError(f"{state}/control.json has no port")
        return cls(port, tok, timeout_s=timeout_s)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session, \
                    session.request(method, self.url + path, json=body, headers=headers) as resp:
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = {"error": (await resp.text())[:200]}
        except (aiohttp.ClientError, TimeoutError) as e:
            raise ControlError(f"{method} {path}: the bot did not answer ({type(e).__name__}: {e})") from None
        if resp.status != 200:
            err = data.get("error") if isinstance(data, dict) else data
            raise ControlError(f"{method} {path}: HTTP {resp.status}: {err}")
        if not isinstance(data, dict):
            raise ControlError(f"{method} {path}: unexpected answer {data!r:.200}")
        return data

    def panel_link(self) -> str:
        """The panel's sign-in link: the token rides in the #fragment (never sent to a server, never logged)."""
        return f"{self.url}/login#token={quote(self._token.reveal(), safe='')}"

    async def status(self) -> dict[str, Any]:
        return await self._call("GET", "/status")

    async def kill(self, reason: str = "operator", *, flatten: bool = True) -> dict[str, Any]:
        return await self._call("POST", "/kill", {"reason": reason, "flatten": flatten})

    async def set_state(self, state: str, reason: str = "operator", *, for_s: float | None = None) -> dict[str, Any]:
        return await self._call("POST", "/risk/state", {"state": state, "reason": reason, "for_s": for_s})
