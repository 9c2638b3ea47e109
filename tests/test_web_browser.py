"""The web view in a real headless Chromium (Debian's, through chromedriver; nothing downloaded).

The server runs for real on 127.0.0.1 (port 0) over the fixture database of
tests/web_fixture.py; each test loads pages, reads the rendered DOM (the figures
against the CLI's --json, the plots, the escaping), clicks through, and checks
the browser logged no error. Screenshots go to $TRIALBOOK_SCREENSHOTS if set
(docs/screenshots/ holds the ones the README shows), else to a temp dir.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web_fixture import (
    CANARY,
    NOTE,
    PAYLOADS,
    TEST,
    XSS_CASE,
    XSS_TEST,
    WebDb,
    build,
    fingerprint,
)
from trialbook.web.html import url
from trialbook.web.server import ViewServer, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,900",
)  # fmt: skip

if not (
    shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)
):  # pragma: no cover - .ci/run installs them
    raise RuntimeError(
        "the browser tests need Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver"
    )

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def web_db(tmp_path_factory: pytest.TempPathFactory) -> WebDb:
    return build(tmp_path_factory.mktemp("browser-web"))


@pytest.fixture(scope="module")
def server(web_db: WebDb) -> Iterator[ViewServer]:
    s = make_server(web_db.path, "127.0.0.1", 0, poll_ms=300)
    thread = threading.Thread(target=s.serve_forever, daemon=True)
    thread.start()
    yield s
    s.shutdown()
    s.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    os.environ.setdefault("SE_OFFLINE", "1")  # Selenium Manager must never fetch a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("TRIALBOOK_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def load(browser: WebDriver, server: ViewServer, path: str) -> None:
    browser.get(server.url.rstrip("/") + path)
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def errors(browser: WebDriver) -> list[dict[str, Any]]:
    """What the page logged at error level (a failed load, a script error, a CSP refusal)."""
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def screenshot(browser: WebDriver, shots: Path, name: str, full: bool = True) -> Path:
    height = browser.execute_script("return document.documentElement.scrollHeight") if full else 900
    browser.set_window_size(
        1280, max(600, min(int(height) + 150, 2400))
    )  # + the window's own frame
    path = shots / f"{name}.png"
    browser.save_screenshot(str(path))
    browser.set_window_size(1280, 900)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, (
        name
    )  # a rendered page, not a blank
    return path


def data_values(browser: WebDriver, selector: str) -> dict[str, Any]:
    """``data-field`` → parsed ``data-value`` of the cells under ``selector``."""
    out = {}
    for cell in browser.find_elements(By.CSS_SELECTOR, f"{selector} [data-field]"):
        raw = cell.get_attribute("data-value")
        out[cell.get_attribute("data-field")] = None if raw is None else json.loads(raw)
    return out


class TestTestPages:
    def test_the_list_links_to_a_test_whose_figures_are_the_clis(
        self, browser: WebDriver, server: ViewServer, web_db: WebDb, shots: Path
    ) -> None:
        load(browser, server, "/")
        rows = browser.find_elements(By.CSS_SELECTOR, "#tests tbody tr")
        assert {r.get_attribute("data-test") for r in rows} == {TEST, XSS_TEST}
        row = browser.find_element(By.CSS_SELECTOR, f'#tests tr[data-test="{TEST}"]')
        assert "600" in row.text and "ship warm" in row.text
        screenshot(browser, shots, "tests")
        row.find_element(By.CSS_SELECTOR, "a.test-link").click()
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "variants"))
        doc = web_db.cli("ab", "analyze", TEST)
        for v in doc["variants"]:
            shown = data_values(browser, f'#variants tr[data-variant="{v["name"]}"]')
            assert shown["n"] == v["n"] and shown["estimate"] == v["estimate"]
            if not v["is_control"]:
                assert shown["lift"] == v["lift"] and shown["ci"] == v["ci"]
                assert shown["p_value"] == v["p_value"]
                cells = browser.find_element(
                    By.CSS_SELECTOR, f'#variants tr[data-variant="{v["name"]}"]'
                ).text
                assert f"{v['lift'] * 100:+.1f} pts" in cells  # formatted as `ab analyze` prints it
        reco = browser.find_element(By.CSS_SELECTOR, "#recommendation .title")
        assert reco.get_attribute("data-decision") == doc["recommendation"]["decision"]
        assert (
            doc["recommendation"]["reason"]
            == browser.find_element(By.CSS_SELECTOR, "#recommendation .reason").text
        )
        g = doc["guardrails"][0]
        rail = data_values(
            browser, f'#guardrails tr[data-guardrail="{g["metric"]}:{g["variant"]}"]'
        )
        assert rail == {"worsening": g["worsening"], "ci": g["ci"]}
        assert "None" in browser.find_element(By.ID, "alerts").text
        assert errors(browser) == []
        screenshot(browser, shots, "test")

    def test_the_plot_draws_each_variants_interval_after_every_result(
        self, browser: WebDriver, server: ViewServer, web_db: WebDb
    ) -> None:
        load(browser, server, url("tests", TEST))
        plot = browser.find_element(By.CSS_SELECTOR, "#history svg.interval-plot")
        assert plot.size["width"] > 600 and plot.size["height"] > 200
        bands = plot.find_elements(By.CSS_SELECTOR, 'path.band[data-variant="warm"]')
        line = plot.find_element(By.CSS_SELECTOR, 'path.lift[data-variant="warm"]')
        assert (
            bands and line.get_attribute("data-points") == "400"
        )  # 400 evenly spaced of 600 looks
        # the recommendation strip changes colour where --history changes its recommendation
        steps = web_db.cli("ab", "analyze", TEST, "--history")
        seen = [
            r.get_attribute("data-decision")
            for r in plot.find_elements(By.CSS_SELECTOR, "rect.decision")
        ]
        assert seen[-1] == steps[-1]["decision"] and set(seen) <= {s["decision"] for s in steps}
        assert errors(browser) == []

    def test_a_decision_opens_its_audit(
        self, browser: WebDriver, server: ViewServer, shots: Path
    ) -> None:
        load(browser, server, url("tests", TEST))
        row = browser.find_element(By.CSS_SELECTOR, "#decisions tbody tr")
        assert NOTE in row.text and "reproduces" in row.text
        row.find_element(By.CSS_SELECTOR, "a.decision-link").click()
        status = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "audit-status"))
        assert status.get_attribute("data-reproduces") == "true"
        assert "ship warm" in browser.find_element(By.TAG_NAME, "main").text
        assert errors(browser) == []
        screenshot(browser, shots, "decision")


class TestEvalPages:
    def test_a_run_links_to_a_case_with_its_verdicts_and_reasons(
        self, browser: WebDriver, server: ViewServer, web_db: WebDb, shots: Path
    ) -> None:
        load(browser, server, "/runs")
        browser.find_element(By.CSS_SELECTOR, '#runs tr[data-run="cand"] a.run-link').click()
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "rollouts"))
        data = web_db.cli("eval", "show", "cand")
        summary = {
            e.get_attribute("data-key"): e.get_attribute("data-value")
            for e in browser.find_elements(By.CSS_SELECTOR, "#summary [data-key]")
        }
        for key in (
            "rollouts",
            "completed",
            "failed",
            "mean_score",
            "latency_p50_s",
            "latency_p95_s",
        ):
            want = data["summary"][key]
            assert (None if summary[key] is None else json.loads(summary[key])) == want, key
        rates = {
            r.get_attribute("data-scorer"): data_values(
                browser, f'#scorers tr[data-scorer="{r.get_attribute("data-scorer")}"]'
            )
            for r in browser.find_elements(By.CSS_SELECTOR, "#scorers tbody tr")
        }
        for name, sc in data["scorers"].items():
            assert (
                rates[name]["pass_rate"] == sc["pass_rate"]
                and rates[name]["pass_interval"] == sc["pass_interval"]
            )
        bars = browser.find_elements(By.CSS_SELECTOR, "#latency svg rect.bar")
        assert (
            bars
            and sum(int(b.get_attribute("data-count")) for b in bars)
            == data["summary"]["completed"]
        )
        assert browser.find_elements(By.CSS_SELECTOR, "#pass-rates svg rect.rate")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#rollouts tbody tr")) == len(
            data["rollouts"]
        )
        assert errors(browser) == []
        screenshot(browser, shots, "run")
        browser.find_element(By.CSS_SELECTOR, '#rollouts tr[data-case="q3"] a.case-link').click()
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "verdicts"))
        main = browser.find_element(By.TAG_NAME, "main").text
        assert "wrong" in browser.find_element(By.CSS_SELECTOR, "pre.case-input").text
        assert "echo: wrong" in browser.find_element(By.CSS_SELECTOR, "pre.rollout-output").text
        reasons = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#verdicts td.reason")]
        assert "judge says " + PAYLOADS[0] in reasons  # the judge's reason, as text
        assert "q3" in main and errors(browser) == []
        screenshot(browser, shots, "case")

    def test_the_rollouts_table_filters_and_sorts(
        self, browser: WebDriver, server: ViewServer
    ) -> None:
        load(browser, server, url("runs", "cand"))
        visible = lambda: [  # noqa: E731
            r
            for r in browser.find_elements(By.CSS_SELECTOR, "#rollouts tbody tr")
            if r.is_displayed()
        ]
        total = len(visible())
        browser.find_element(By.CSS_SELECTOR, "form[data-table=rollouts] input[name=q]").send_keys(
            "q1"
        )
        assert {r.get_attribute("data-case") for r in visible()} == {"q1", "q10", "q11"}
        browser.find_element(By.CSS_SELECTOR, "form[data-table=rollouts] input[name=q]").clear()
        browser.find_element(
            By.CSS_SELECTOR, "form[data-table=rollouts] input[name=errors]"
        ).click()
        assert [r.get_attribute("data-case") for r in visible()] == ["q5"]  # the 503
        browser.find_element(
            By.CSS_SELECTOR, "form[data-table=rollouts] input[name=errors]"
        ).click()
        assert len(visible()) == total
        header = browser.find_elements(By.CSS_SELECTOR, "#rollouts thead th")[3]  # score
        header.click()
        scores = [r.get_attribute("data-score") for r in visible()]
        known = [float(s) for s in scores if s]
        assert known == sorted(known) and known[0] == 0.0
        header.click()
        known = [float(s) for s in (r.get_attribute("data-score") for r in visible()) if s]
        assert known == sorted(known, reverse=True)
        assert errors(browser) == []

    def test_the_comparison_lists_regressions_first(
        self, browser: WebDriver, server: ViewServer, web_db: WebDb, shots: Path
    ) -> None:
        load(browser, server, "/runs")
        browser.find_element(By.CSS_SELECTOR, '#runs tr[data-run="cand"] a.compare-link').click()
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "pairs"))
        data = web_db.cli("eval", "compare", "base", "cand")
        stats = {
            e.get_attribute("data-key"): json.loads(e.get_attribute("data-value"))
            for e in browser.find_elements(By.CSS_SELECTOR, "#compare-summary [data-key]")
            if e.get_attribute("data-value") is not None
        }
        for key in ("pairs", "wins", "losses", "ties", "a_pass_rate", "b_pass_rate"):
            assert stats[key] == data[key], key
        assert [
            r.get_attribute("data-case")
            for r in browser.find_elements(By.CSS_SELECTOR, "#regressions tbody tr")
        ] == [p["case_id"] for p in data["regressions"]]
        outcomes = [
            r.get_attribute("data-outcome")
            for r in browser.find_elements(By.CSS_SELECTOR, "#pairs tbody tr")
        ]
        assert outcomes[: data["losses"]] == ["loss"] * data["losses"]
        assert errors(browser) == []
        screenshot(browser, shots, "compare")


class TestCanaryPages:
    def test_the_list_links_to_a_canary_whose_figures_are_the_clis(
        self, browser: WebDriver, server: ViewServer, web_db: WebDb, shots: Path
    ) -> None:
        load(browser, server, "/canaries")
        row = browser.find_element(By.CSS_SELECTOR, f'#canaries tr[data-canary="{CANARY}"]')
        listed = next(c for c in web_db.cli("canary", "list") if c["name"] == CANARY)
        assert data_values(browser, f'#canaries tr[data-canary="{CANARY}"]') == {
            "stage": listed["stage"],
            "exposure_percent": listed["exposure_percent"],
            "results": listed["results"],
        }
        row.find_element(By.CSS_SELECTOR, "a.canary-link").click()
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "guardrails"))
        doc = web_db.cli("canary", "status", CANARY)
        for g in doc["guardrails"]:
            shown = data_values(browser, f'#guardrails tr[data-guardrail="{g["text"]}"]')
            assert shown["ci"] == g["ci"] and shown["worsening"] == g["worsening"]
        steps = browser.find_elements(By.CSS_SELECTOR, "svg circle.stage-step")
        rows = browser.find_elements(By.CSS_SELECTOR, "#stages tbody tr")
        assert [c.get_attribute("data-position") for c in steps] == [
            r.get_attribute("data-step") for r in rows
        ]
        assert browser.execute_script("return window.__pwned === undefined")
        main = browser.find_element(By.TAG_NAME, "main").text
        assert PAYLOADS[0] in main and PAYLOADS[2] in main  # the description and notes, as text
        assert errors(browser) == []
        screenshot(browser, shots, "canary")


class TestSafety:
    PAGES = (
        "/", url("tests", XSS_TEST), url("tests", TEST), "/runs", url("runs", "cand"),
        url("runs", "cand", "cases", XSS_CASE), url("compare", a="base", b="cand"), "/log",
    )  # fmt: skip

    def test_no_payload_runs_and_each_shows_as_text(
        self, browser: WebDriver, server: ViewServer, shots: Path
    ) -> None:
        texts = []
        for path in self.PAGES:
            load(browser, server, path)
            assert browser.execute_script("return window.__pwned === undefined"), path
            scripts = browser.execute_script("return Array.from(document.scripts).map(s => s.src)")
            assert scripts == [server.url + "static/app.js"], path
            assert not browser.find_elements(
                By.CSS_SELECTOR, "main img, main svg[onload], main [onerror]"
            ), path
            assert errors(browser) == [], path
            texts.append(browser.find_element(By.TAG_NAME, "main").text)
        shown = "\n".join(texts)
        for payload in (*PAYLOADS, XSS_CASE, NOTE):
            assert payload in shown, payload
        load(browser, server, url("tests", XSS_TEST))
        screenshot(browser, shots, "escaping")

    def test_browsing_leaves_the_log_as_it_was(
        self, browser: WebDriver, server: ViewServer, web_db: WebDb
    ) -> None:
        before = fingerprint(web_db.path)
        for path in self.PAGES:
            load(browser, server, path)
        load(browser, server, "/log")
        assert browser.find_element(By.ID, "verify").get_attribute("data-ok") == "true"
        assert fingerprint(web_db.path) == before


class TestLive:
    def test_a_page_refreshes_while_results_arrive(
        self, browser: WebDriver, server: ViewServer, web_db: WebDb, shots: Path
    ) -> None:
        import trialbook

        load(browser, server, url("tests", XSS_TEST))
        first = int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-position"))
        n_before = data_values(browser, '#variants tr[data-variant="fancy"]')["n"]
        with trialbook.open(web_db.path) as tb:
            for i in range(4):
                tb.ab.add_result(XSS_TEST, variant="fancy", success=True, notes=f"live {i}")
                time.sleep(0.2)
        expected = fingerprint(web_db.path)[0]
        WebDriverWait(browser, 30).until(
            lambda d: (
                int(d.find_element(By.TAG_NAME, "body").get_attribute("data-position")) == expected
            )
        )
        assert expected > first
        WebDriverWait(browser, 30).until(
            lambda d: data_values(d, '#variants tr[data-variant="fancy"]')["n"] == n_before + 4
        )
        assert "live 3" in browser.find_element(By.ID, "results").text
        assert browser.find_element(By.ID, "head-position").text == f"#{expected}"
        assert browser.execute_script("return window.__pwned === undefined")
        assert errors(browser) == []
