"""The `xtb` command line."""

from __future__ import annotations

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
def sim(
    venues: str = typer.Option("backpack,lighter", help="comma-separated venues to simulate"),
    seed: int = typer.Option(0, help="market-data and fault seed (same seed, same market)"),
    faults: str = typer.Option("none", help="fault profile (none, flaky, chaos) or a YAML fault plan"),
    duration: float | None = typer.Option(None, help="stop after this many seconds (default: until Ctrl-C)"),
    updates_per_s: float = typer.Option(50.0, help="book updates per second per market"),
    collateral: int = typer.Option(100_000, help="USDC given to each registered account"),
    backpack_api_key: list[str] = typer.Option([], help="register a Backpack public key (base64); repeatable"),
    lighter_key: list[str] = typer.Option([], help="register ACCOUNT:INDEX:PUBHEX for Lighter; repeatable"),
) -> None:
    """Run the venue simulator standalone on 127.0.0.1 and print its REST/WebSocket URLs."""
    from xtb.sim.__main__ import main as sim_main

    argv = ["--venues", venues, "--seed", str(seed), "--faults", faults, "--updates-per-s", str(updates_per_s),
            "--collateral", str(collateral)]
    if duration is not None:
        argv += ["--duration", str(duration)]
    for k in backpack_api_key:
        argv += ["--backpack-api-key", k]
    for k in lighter_key:
        argv += ["--lighter-key", k]
    sim_main(argv)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
