"""Decision reports opened in real headless Chromium from a file:// URL, with no server and no network.

The HTML files are written by ``trialbook report … --format html`` over the
fixture log of tests/web_fixture.py; each must show its plots as SVG, log no
error, fetch nothing, and never run a payload held in a name or a case id.
The A/B report's screenshot goes to $TRIALBOOK_SCREENSHOTS (docs/screenshots/
holds the one the docs show), else to a temp dir.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from selenium.webdriver.common.by import By  # noqa: E402, I001
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.test_web_browser import browser, errors, screenshot, shots  # noqa: F401 - fixtures
from tests.web_fixture import CANARY, TEST, XSS_CASE, XSS_TEST, WebDb, build
from trialbook.shell.cli import cli


@pytest.fixture(scope="module")
def web_db(tmp_path_factory: pytest.TempPathFactory) -> WebDb:
    return build(tmp_path_factory.mktemp("reports-browser"))


@pytest.fixture(scope="module")
def paired_db(tmp_path_factory: pytest.TempPathFactory) -> WebDb:
    """A paired A/B test whose case ids include a payload."""
    import trialbook

    db = tmp_path_factory.mktemp("reports-paired") / "paired.db"
    cases = [XSS_CASE, *(f"c{i}" for i in range(11))]
    with trialbook.open(db) as tb:
        tb.ab.create("paired", variants=["a", "b"])
        tb.ab.add_results("paired", [{"variant": v, "success": (i + k) % 3 == 0, "case_id": c}
                                     for i, c in enumerate(cases) for k, v in enumerate(("a", "b"))])  # fmt: skip
    return WebDb(db)


def test_a_paired_ab_report_shows_its_cases_and_keeps_a_payload_case_id_text(
    browser: WebDriver,  # noqa: F811
    paired_db: WebDb,
    tmp_path: Path,
) -> None:
    page = write(paired_db, tmp_path / "paired.html", "ab", "paired")
    open_file(browser, page)
    assert browser.find_elements(By.CSS_SELECTOR, "#plot-cases svg rect.outcome")
    cases = [
        c.text for c in browser.find_elements(By.CSS_SELECTOR, "#case-outcomes td:first-child")
    ]
    assert XSS_CASE in cases and len(cases) == 12
    assert browser.execute_script("return window.__pwned === undefined")
    assert errors(browser) == []


def write(db: WebDb, out: Path, *args: str) -> Path:
    r = CliRunner().invoke(
        cli, ["--db", str(db.path), "report", *args, "--format", "html", "--output", str(out)],
        catch_exceptions=False,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return out


def open_file(driver: WebDriver, path: Path) -> None:
    driver.get(path.resolve().as_uri())
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


@pytest.mark.parametrize(
    "args, plots",
    [
        (("ab", TEST), ["plot-lift", "plot-latency"]),
        (("ab", XSS_TEST), ["plot-lift"]),
        (("eval", "cand", "--baseline", "base"), ["plot-lift", "plot-cases", "plot-latency"]),
        (("canary", CANARY), ["plot-lift", "plot-stages"]),
    ],
)
def test_the_report_renders_its_plots_offline_and_runs_no_payload(
    browser: WebDriver,  # noqa: F811
    web_db: WebDb,
    tmp_path: Path,
    shots: Path,  # noqa: F811
    args: tuple[str, ...],
    plots: list[str],
) -> None:
    page = write(web_db, tmp_path / "report.html", *args)
    open_file(browser, page)
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Decision report")
    for plot in plots:
        svgs = browser.find_elements(By.CSS_SELECTOR, f"#{plot} svg")
        assert svgs, plot
        box = svgs[0].size
        assert box["width"] > 300 and box["height"] > 15, (plot, box)
    if "plot-lift" in plots:
        assert browser.find_elements(By.CSS_SELECTOR, "#plot-lift path.lift")
    rows = browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")
    assert rows and all(r.get_attribute("data-status") in ("ready", "partial", "gap") for r in rows)
    assert browser.execute_script("return window.__pwned === undefined")
    # nothing fetched: no resource entries at all (styles and plots are inline)
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert errors(browser) == []
    if args[0] == "eval":
        cases = [
            c.text for c in browser.find_elements(By.CSS_SELECTOR, "#case-outcomes td:first-child")
        ]
        assert XSS_CASE in cases  # the payload is shown as text
    if args == ("ab", TEST):
        assert browser.find_element(By.ID, "decision").get_attribute("data-decision") == "ship"
        screenshot(browser, shots, "report-ab")
