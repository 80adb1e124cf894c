"""The `xtb` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="xtb",
    help="xtb: trade crypto perpetual futures across venues. Paper mode (the built-in simulator) is the default.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the versions of xtb and its compiled core."""
    import xtb

    try:
        from xtb import _core

        core = _core.__version__
    except ImportError as e:  # a source checkout that was never built
        core = f"not built ({e}); run: python build.py"
    typer.echo(f"xtb {xtb.__version__}, core {core}")


@app.command()
def strategies() -> None:
    """List the registered strategies with their parameters, types and defaults."""
    from xtb.engine.registry import all_strategies

    specs = all_strategies()
    if not specs:
        typer.echo("no strategies registered")
        return
    for spec in specs:
        typer.echo(f"{spec.name}: {spec.summary}")
        for fname, f in spec.params.model_fields.items():
            ann = getattr(f.annotation, "__name__", str(f.annotation))
            default = "required" if f.is_required() else f"default {f.get_default(call_default_factory=True)!r}"
            desc = f" - {f.description}" if f.description else ""
            typer.echo(f"    {fname}: {ann} ({default}){desc}")


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="YAML config (sections: general, venues, strategy, risk, telemetry)")],
    live: Annotated[bool, typer.Option("--live", help="trade for real with your keys (default: paper mode)")] = False,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a config key, e.g. --set strategy.params.size=0.2")
    ] = None,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds (default: Ctrl-C)")] = None,
    status_every: Annotated[float, typer.Option(help="print a status line every N seconds (0: never)")] = 5.0,
    flatten_on_exit: Annotated[bool, typer.Option(help="close positions reduce-only on shutdown")] = False,
) -> None:
    """Run a strategy. Without --live the venues are the built-in simulator: no keys, no money."""
    import asyncio
    import json
    import signal

    from xtb.config import ConfigError, load_config
    from xtb.engine.engine import Engine
    from xtb.logs import setup_logging

    try:
        cfg = load_config(config, sets=set_ or [])
    except ConfigError as e:
        typer.echo(f"config error: {e}", err=True)
        raise typer.Exit(2) from None
    g = cfg.general
    setup_logging(level=g.log_level, file_level=g.file_log_level, root_level=g.root_log_level, log_dir=g.log_dir)
    if g.uvloop:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass

    async def main() -> int:
        engine = Engine(cfg, live=live)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, engine.request_stop)
        try:
            await engine.start()
        except ValueError as e:
            typer.echo(f"cannot start: {e}", err=True)
            return 2
        started = loop.time()
        try:
            while duration is None or loop.time() - started < duration:
                step = status_every if status_every > 0 else 1.0
                if duration is not None:
                    step = min(step, max(0.0, duration - (loop.time() - started)))
                await engine.run(step)
                if engine._stop.is_set():
                    break
                if status_every > 0:
                    typer.echo(json.dumps(engine.status(), default=str))
        finally:
            await engine.stop(flatten=flatten_on_exit)
        typer.echo(json.dumps(engine.status(), default=str))
        return 0

    raise typer.Exit(asyncio.run(main()))


@app.command()
def demo() -> None:
    """Replay a recorded Backpack depth stream through the compiled core and compare with pure Python."""
    from xtb.demo import run

    res = run()
    if res.stale:
        raise typer.Exit(1)


@app.command()
def sim(
    venues: Annotated[str, typer.Option(help="comma-separated venues to simulate")] = "backpack,lighter",
    seed: Annotated[int, typer.Option(help="market-data and fault seed (same seed, same market)")] = 0,
    faults: Annotated[str, typer.Option(help="fault profile (none, flaky, chaos) or a YAML fault plan")] = "none",
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds (default: Ctrl-C)")] = None,
    updates_per_s: Annotated[float, typer.Option(help="book updates per second per market")] = 50.0,
    collateral: Annotated[int, typer.Option(help="USDC given to each registered account")] = 100_000,
    backpack_api_key: Annotated[
        list[str] | None, typer.Option(help="register a Backpack public key (base64); repeatable")
    ] = None,
    lighter_key: Annotated[
        list[str] | None, typer.Option(help="register ACCOUNT:INDEX:PUBHEX for Lighter; repeatable")
    ] = None,
) -> None:
    """Run the venue simulator standalone on 127.0.0.1 and print its REST/WebSocket URLs."""
    from xtb.sim.__main__ import main as sim_main

    argv = ["--venues", venues, "--seed", str(seed), "--faults", faults, "--updates-per-s", str(updates_per_s),
            "--collateral", str(collateral)]
    if duration is not None:
        argv += ["--duration", str(duration)]
    for k in backpack_api_key or []:
        argv += ["--backpack-api-key", k]
    for k in lighter_key or []:
        argv += ["--lighter-key", k]
    sim_main(argv)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
