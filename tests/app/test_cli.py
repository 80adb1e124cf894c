from typer.testing import CliRunner

from xtb.cli import app

runner = CliRunner()


def test_help_lists_commands():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    assert "version" in res.output and "strategies" in res.output


def test_version_names_core():
    res = runner.invoke(app, ["version"])
    assert res.exit_code == 0
    assert res.output.startswith("xtb 0.1.0, core ")


def test_strategies_lists_registered_params():
    from pydantic import BaseModel, Field

    from xtb.engine.registry import register_strategy

    class P(BaseModel):
        spread_bps: float = Field(5.0, description="half spread")
        levels: int

    @register_strategy("cli_test_strategy", params=P)
    class S:
        """Quotes for the CLI test."""

    res = runner.invoke(app, ["strategies"])
    assert res.exit_code == 0
    assert "cli_test_strategy: Quotes for the CLI test." in res.output
    assert "spread_bps: float (default 5.0) - half spread" in res.output
    assert "levels: int (required)" in res.output


def test_sim_runs_standalone_prints_urls_and_stops(capfd):
    res = runner.invoke(app, ["sim", "--venues", "backpack,lighter", "--duration", "0.5", "--seed", "1"])
    out = capfd.readouterr().out + res.output
    assert res.exit_code == 0, out
    assert "backpack: rest http://127.0.0.1:" in out and "lighter: rest http://127.0.0.1:" in out


def test_sim_bad_fault_profile_is_named():
    res = runner.invoke(app, ["sim", "--faults", "nonsense", "--duration", "0.1"])
    assert res.exit_code != 0
    assert "nonsense" in (res.output + str(res.exception))


def test_run_paper_config_trades_on_the_simulator_and_stops(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import shutil
    from pathlib import Path

    cfg = Path(__file__).resolve().parents[2] / "configs" / "paper_smoke.yaml"
    shutil.copy(cfg, tmp_path / "paper_smoke.yaml")
    res = runner.invoke(app, ["run", "paper_smoke.yaml", "--duration", "4", "--status-every", "0",
                              "--set", "general.uvloop=false"])
    assert res.exit_code == 0, res.output
    last = res.output.strip().splitlines()[-1]
    assert '"state": "stopped"' in last and '"smoke_test_step": "done"' in last
    assert '"positions": {"backpack:SOL_USDC_PERP": "0 SOL"}' in last


def test_run_names_the_bad_config_key(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("general: {tick_interval_ms: soon}\nstrategy: {name: smoke_test}\n")
    res = runner.invoke(app, ["run", str(p)])
    assert res.exit_code == 2
    assert "general.tick_interval_ms" in res.output
