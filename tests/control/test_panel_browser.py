"""The panel in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`, driven by
selenium) loads the panel of a paper run, sees prices move, changes a parameter, switches mode, presses
flatten and sees both venues flat. Screenshots go to $XTB_SCREENSHOT_DIR (default: the test's tmp dir)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest
from panel_helpers import TOKEN, paper_config, start_paper, until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
try:
    import selenium
except ImportError:  # pragma: no cover - selenium is a dev dependency
    selenium = None

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None or selenium is None,
    reason="needs headless Chromium and its driver (apt-get install chromium chromium-driver) and selenium",
)


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1600,2200", "--no-proxy-server"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


class Browser:
    """Selenium calls block: they run on a worker thread so the bot's event loop keeps trading."""

    def __init__(self) -> None:
        self.driver = None

    async def call(self, fn, *args):
        return await asyncio.to_thread(fn, *args)

    async def start(self):
        self.driver = await self.call(_browser)
        self.driver.set_page_load_timeout(30)

    async def stop(self):
        if self.driver is not None:
            await self.call(self.driver.quit)


def shots_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("XTB_SCREENSHOT_DIR") or tmp_path / "screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _text(driver, css):
    # Read in one script call: the live tables are re-rendered on every update, so a found element can go
    # stale before its text is read (StaleElementReferenceException under load).
    text = driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : null;", css)
    if text is None:
        raise AssertionError(f"no element matches {css!r}")
    return text


def _wait(driver, cond, limit_s=20.0):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if cond():
                return True
        except Exception:
            pass
        time.sleep(0.2)
    return cond()


def _login(driver, port):
    driver.get(f"http://127.0.0.1:{port}/login#token={TOKEN}")
    return _wait(driver, lambda: _text(driver, "#conn-state") == "live")


def _confirm(driver):
    _wait(driver, lambda: driver.switch_to.alert is not None, 5)
    driver.switch_to.alert.accept()


async def test_zscore_panel_in_chromium(tmp_path):
    out = shots_dir(tmp_path)
    engine = await start_paper(paper_config(tmp_path, "zscore_monitor"))
    b = Browser()
    try:
        await b.start()
        d = b.driver
        port = engine.control.port
        assert await b.call(_login, d, port), "the panel did not go live"
        mid = 'tr[data-market="backpack:SOL_USDC_PERP"] td.mid'
        first = await b.call(_text, d, mid)
        assert await b.call(_wait, d, lambda: _text(d, mid) != first), "prices did not move"
        assert await b.call(_wait, d, lambda: _text(d, 'tr[data-pair="SOL"] td.pair-z') not in ("", "-"), 30)
        await b.call(d.save_screenshot, str(out / "zscore_panel.png"))

        def form_shows(name, value):
            from selenium.webdriver.common.by import By

            # the form is re-read from /api/params after each change: edit it once it shows `value`
            return _wait(d, lambda: d.find_element(By.ID, f"param-{name}").get_attribute("data-orig") == value)

        def change_param():
            from selenium.webdriver.common.by import By

            assert form_shows("enter_z_high", "2")
            field = d.find_element(By.ID, "param-enter_z_high")
            field.clear()
            field.send_keys("2.5")
            d.find_element(By.ID, "params-apply").click()
            _confirm(d)
            return _wait(d, lambda: "applied" in _text(d, "#params-msg"))
        assert await b.call(change_param)
        assert engine.strategy.params.enter_z_high == 2.5

        def refused_param():
            from selenium.webdriver.common.by import By

            assert form_shows("enter_z_high", "2.5")
            field = d.find_element(By.ID, "param-stop_z")
            field.clear()
            field.send_keys("1")
            d.find_element(By.ID, "params-apply").click()
            _confirm(d)
            return _wait(d, lambda: "refused" in _text(d, "#params-msg"))
        assert await b.call(refused_param)
        assert engine.strategy.params.stop_z == 4.0
        assert "enter_z_high < stop_z" in await b.call(_text, d, "#params-msg")

        def change_risk_limit():
            from selenium.webdriver.common.by import By

            field = d.find_element(By.ID, "risk-single_max")
            field.clear()
            field.send_keys("3")
            d.find_element(By.ID, "risk-limits-apply").click()
            _confirm(d)
            return _wait(d, lambda: "applied" in _text(d, "#risk-msg"))
        assert await b.call(change_risk_limit)
        assert engine.risk.config.single_max == 3

        def switch_mode():
            from selenium.webdriver.common.by import By

            d.find_element(By.ID, "mode-toggle").click()
            _confirm(d)
            return _wait(d, lambda: _text(d, "#mode-value") == "auto")
        assert await b.call(switch_mode)
        assert engine.strategy.params.mode == "auto"
        await b.call(d.save_screenshot, str(out / "zscore_panel_auto.png"))
    finally:
        await b.stop()
        await engine.stop()


async def test_cross_arb_panel_flatten_in_chromium(tmp_path):
    out = shots_dir(tmp_path)
    cfg = paper_config(tmp_path, "cross_arb", params={"entry_threshold_bps": -100, "take_profit_bps": -1000,
                                                       "max_hold_s": 600, "symbol_filters": ["SOL"]})
    engine = await start_paper(cfg)
    b = Browser()
    try:
        await b.start()
        d = b.driver
        assert await b.call(_login, d, engine.control.port)
        legs = (("backpack", "SOL_USDC_PERP"), ("lighter", "SOL"))
        assert await until(lambda: all(engine.positions.get(v, s).size != 0 for v, s in legs), 30)
        pos_css = 'tr[data-market="{}:{}"] td.position'
        assert await b.call(_wait, d, lambda: all(_text(d, pos_css.format(v, s)) not in ("", "0 SOL") for v, s in legs))
        await b.call(d.save_screenshot, str(out / "cross_arb_panel_holding.png"))

        def flatten():
            from selenium.webdriver.common.by import By

            d.find_element(By.ID, "flatten-btn").click()
            _confirm(d)
            return _wait(d, lambda: "flatten: backpack: flat, lighter: flat" in _text(d, "#action-msg"), 30)
        assert await b.call(flatten), await b.call(_text, d, "#action-msg")
        assert await b.call(_wait, d, lambda: all(_text(d, pos_css.format(v, s)) == "0 SOL" for v, s in legs))
        for conn in engine.connectors.values():
            assert all(p.size == 0 for p in (await conn.positions()).values())
        await b.call(d.save_screenshot, str(out / "cross_arb_panel_flat.png"))
    finally:
        await b.stop()
        await engine.stop()


