"""Pre-flight checks of a validated config, before a bot starts anything: every operator mistake found here
becomes one `ConfigError` line naming the key or file (the CLI prints it and exits 2), instead of a
traceback from deep inside the engine.

Checked: the strategy exists and its params validate (numbers finite and of a sane magnitude); the risk
section parses; the log levels are levels; `general.log_dir` and `general.run_dir` are (or can be made)
writable directories; fixed ports (`control.port`, `telemetry.prometheus_port`) are free on 127.0.0.1.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from xtb.config import ConfigError, XtbConfig


def check_strategy(cfg: XtbConfig) -> None:
    from xtb.engine.registry import StrategyNotFound, get_strategy

    for key, section in [("strategy", cfg.strategy), *((f"strategies.{i}", s) for i, s in enumerate(cfg.strategies))]:
        try:
            spec = get_strategy(section.name)
        except StrategyNotFound as e:
            raise ConfigError(f"{key}.name: {e.args[0] if e.args else e}") from None
        except ImportError as e:  # a plugin entry point that fails to import
            raise ConfigError(f"{key}.name: {section.name!r} cannot be loaded ({e})") from None
        try:
            spec.parse_params(section.params)
        except ValueError as e:
            raise ConfigError(str(e).replace("strategy.params.", f"{key}.params.")) from None


def check_risk(cfg: XtbConfig) -> None:
    from xtb.risk import parse_risk_config

    try:
        parse_risk_config(cfg.risk)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"risk: {e}") from None


def check_dir(key: str, path: str) -> None:
    """`path` is a directory this process can write to (created if missing)."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{key}: {p} exists and is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{key}: cannot create {p} ({e.strerror or e})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}: {p} is not writable")


def check_port(key: str, port: int | None, addr: str = "127.0.0.1") -> None:
    """A fixed port is free to bind (0 / None: any free port, nothing to check)."""
    if not port:
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((addr, port))
    except OSError as e:
        why = "in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
        raise ConfigError(f"{key}: {addr}:{port} cannot be bound ({why})") from None
    finally:
        sock.close()


def preflight(cfg: XtbConfig, *, logs: bool = True) -> None:
    """Everything `xtb run` checks before it starts; raises the first ConfigError found."""
    check_strategy(cfg)
    check_risk(cfg)
    g = cfg.general
    if logs and g.log_dir:
        check_dir("general.log_dir", g.log_dir)
    check_dir("general.run_dir", g.run_dir)
    if cfg.control.enabled:
        check_port("control.port", cfg.control.port)
    if cfg.telemetry.enabled:
        check_port("telemetry.prometheus_port", cfg.telemetry.prometheus_port, cfg.telemetry.prometheus_addr)
