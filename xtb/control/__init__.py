"""Operator control of a running bot: an HTTP endpoint on 127.0.0.1 behind a bearer token.

    server = await ControlServer.start(engine, config.control, state_dir)   # the engine does this
    client = ControlClient.discover(state_dir, config.control)               # `xtb kill`, `xtb risk state`
"""

from xtb.control.client import ControlClient, ControlError, NoBotRunning
from xtb.control.server import ControlServer
from xtb.control.token import ENDPOINT_FILE, TOKEN_FILE, resolve_token

__all__ = ["ENDPOINT_FILE", "TOKEN_FILE", "ControlClient", "ControlError", "ControlServer", "NoBotRunning",
           "resolve_token"]
