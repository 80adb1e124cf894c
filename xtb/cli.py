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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
