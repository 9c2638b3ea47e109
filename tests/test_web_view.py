"""``trialbook view`` over real HTTP on 127.0.0.1: the same numbers as the CLI, nothing written,
every user string escaped, loopback only. (The pages in a real browser: test_web_browser.py.)"""

from __future__ import annotations

import html
import http.client
import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import pytest
from click.testing import CliRunner

from tests.web_fixture import (
    CANARY,
    NOTE,
    PAYLOADS,
    RUNS,
    TEST,
    XSS_CASE,
    XSS_TEST,
    WebDb,
    build,
    fingerprint,
)
from trialbook.shell.cli import cli
from trialbook.web import svg
from trialbook.web.html import Safe, el, url
from trialbook.web.server import View, ViewError, ViewServer, is_loopback, make_server


@pytest.fixture(scope="module")
def web_db(tmp_path_factory: pytest.TempPathFactory) -> WebDb:
    return build(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def server(web_db: WebDb) -> Iterator[ViewServer]:
    s = make_server(web_db.path, "127.0.0.1", 0)
    thread = threading.Thread(target=s.serve_forever, daemon=True)
    thread.start()
    yield s
    s.shutdown()
    s.server_close()
    thread.join(5)


def request(
    server: ViewServer, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=60)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def get_json(server: ViewServer, path: str) -> Any:
    status, headers, body = request(server, path)
    assert status == 200, body[:300]
    assert headers["content-type"].startswith("application/json")
    return json.loads(body)


def crawl(server: ViewServer) -> dict[str, bytes]:
    """Every page reachable from / by following links within the view (HTML pages and /api/ JSON)."""
    seen: dict[str, bytes] = {}
    per_kind: dict[str, int] = {}
    todo = ["/"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        kind = re.sub(r"\d+", "N", urlsplit(path).path)
        per_kind[kind] = per_kind.get(kind, 0) + 1
        if per_kind[kind] > 25:  # every kind of page, not every one of the hundreds of events
            continue
        status, headers, body = request(server, path)
        assert status == 200, (path, body[:300])
        seen[path] = body
        if headers["content-type"].startswith("text/html"):
            for href in re.findall(r'href="([^"]+)"', body.decode()):
                target = urljoin(path, html.unescape(href))
                if urlsplit(target).netloc or target.startswith("/static/"):
                    continue
                todo.append(target)
    return seen


class TestSameNumbersAsTheCli:
    def test_the_analysis_endpoint_is_ab_analyze_json(
        self, server: ViewServer, web_db: WebDb
    ) -> None:
        for name in (TEST, XSS_TEST):
            assert get_json(server, url("api", "tests", name)) == web_db.cli("ab", "analyze", name)

    def test_analysis_options_are_those_of_ab_analyze(
        self, server: ViewServer, web_db: WebDb
    ) -> None:
        got = get_json(
            server, url("api", "tests", TEST, metric="completion_time", mde="5%", alpha="0.1")
        )
        want = web_db.cli(
            "ab", "analyze", TEST, "--metric", "completion_time", "--mde", "5%", "--alpha", "0.1"
        )
        assert got == want

    def test_the_trajectory_is_the_history_and_ends_at_the_analysis(
        self, server: ViewServer, web_db: WebDb
    ) -> None:
        hist = get_json(server, url("api", "tests", TEST, "history", looks="all"))
        steps = web_db.cli("ab", "analyze", TEST, "--history")
        assert hist["n"] == [s["n"] for s in steps]
        assert hist["decision"] == [s["decision"] for s in steps]
        assert hist["variant"] == [s["variant"] for s in steps]
        doc = web_db.cli("ab", "analyze", TEST)
        warm = next(v for v in doc["variants"] if v["name"] == "warm")
        assert hist["variants"]["warm"]["lift"][-1] == pytest.approx(warm["lift"], rel=1e-9)
        assert hist["variants"]["warm"]["ci"][-1] == pytest.approx(warm["ci"], rel=1e-9)
        assert hist["decision"][-1] == doc["recommendation"]["decision"]
        # the plot's default keeps evenly spaced looks, always the first and the last
        sampled = get_json(server, url("api", "tests", TEST, "history"))
        assert sampled["n"][0] == 1 and sampled["n"][-1] == len(steps) and len(sampled["n"]) <= 400
        index = {n: i for i, n in enumerate(hist["n"])}
        assert [hist["decision"][index[n]] for n in sampled["n"]] == sampled["decision"]

    def test_a_run_is_eval_show_json_and_a_comparison_eval_compare_json(
        self, server: ViewServer, web_db: WebDb
    ) -> None:
        for run in RUNS:
            assert get_json(server, url("api", "runs", run)) == web_db.cli("eval", "show", run)
        assert get_json(server, url("api", "compare", a="base", b="cand")) == web_db.cli(
            "eval", "compare", "base", "cand"
        )
        case = get_json(server, url("api", "runs", "cand", "cases", "q3"))
        want = web_db.cli("eval", "show", "cand", "--case", "q3")
        assert [v["reason"] for v in case["verdicts"][0]["evaluation"]] == [
            c["reason"] for c in want["verdicts"][0]["evaluation"]
        ]
        assert case["case"]["input"] == "wrong"  # the input as the run's suite version holds it

    def test_the_page_shows_the_analysis_figures_in_data_attributes(
        self, server: ViewServer, web_db: WebDb
    ) -> None:
        _, _, body = request(server, url("tests", TEST))
        page = body.decode()
        doc = web_db.cli("ab", "analyze", TEST)
        for v in doc["variants"]:
            row = re.search(rf'<tr data-variant="{v["name"]}">(.*?)</tr>', page, re.S)
            assert row is not None
            cells = {
                f: val
                for val, f in re.findall(r'data-value="([^"]*)" data-field="(\w+)"', row.group(1))
            }
            assert json.loads(cells["n"]) == v["n"]
            assert json.loads(cells["estimate"]) == v["estimate"]
            if not v["is_control"]:
                assert json.loads(cells["lift"]) == v["lift"]
                assert json.loads(html.unescape(cells["ci"])) == v["ci"]


def _cells(row: str) -> dict[str, Any]:
    """``data-field`` → the raw ``data-value`` (parsed as JSON) of the cells in one table row."""
    return {
        f: json.loads(html.unescape(v)) if v else None
        for v, f in re.findall(r'data-value="([^"]*)" data-field="(\w+)"', row)
    }


class TestCanaries:
    def test_the_endpoints_are_canary_list_and_status_json(
        self, server: ViewServer, web_db: WebDb
    ) -> None:
        assert get_json(server, "/api/canaries") == web_db.cli("canary", "list")
        assert get_json(server, url("api", "canaries", CANARY)) == web_db.cli(
            "canary", "status", CANARY
        )

    def test_the_list_shows_stage_status_and_results(
        self, server: ViewServer, web_db: WebDb
    ) -> None:
        _, _, body = request(server, "/canaries")
        page = body.decode()
        for c in web_db.cli("canary", "list"):
            row = re.search(rf'<tr data-canary="{c["name"]}">(.*?)</tr>', page, re.S)
            assert row is not None
            cells = _cells(row.group(1))
            assert cells["stage"] == c["stage"] == 2
            assert cells["results"] == c["results"] == 420
            assert cells["exposure_percent"] == c["exposure_percent"]
            assert f">{c['status']}<" in row.group(1) and c["status"] == "halted"
        assert '<a href="/canaries" class="active">Canaries</a>' in page

    def test_the_page_shows_the_status_numbers_and_each_decision(
        self, server: ViewServer, web_db: WebDb
    ) -> None:
        status, _, body = request(server, url("canaries", CANARY))
        assert status == 200
        page = body.decode()
        doc = web_db.cli("canary", "status", CANARY)
        for g in doc["guardrails"]:
            row = re.search(rf'<tr data-guardrail="{re.escape(g["text"])}">(.*?)</tr>', page, re.S)
            assert row is not None
            cells = _cells(row.group(1))
            assert cells["ci"] == g["ci"] and cells["worsening"] == g["worsening"]
            assert cells["n_candidate"] == g["n_candidate"] and cells["level"] == g["level"]
        for s in doc["results"]["by_stage"]:
            row = re.search(rf'<tr data-stage="{s["stage"]}">(.*?)</tr>', page, re.S)
            assert row is not None
            cells = _cells(row.group(1))
            assert (cells["control"], cells["candidate"]) == (s["control"], s["candidate"])
            assert cells["candidate_share"] == s["candidate_share"]
        assert 'data-key="exposure_percent">' in page
        assert re.search(
            rf'data-value="{json.dumps(doc["exposure_percent"])}" data-key="exposure_percent"', page
        )
        # the stages over time: created, advanced, halted, each at its log position
        info = next(c for c in web_db.cli("canary", "list") if c["name"] == CANARY)
        log = web_db.cli("events", "log", "--stream", f"canary:{CANARY}", "--limit", "10000")
        decided = [e for e in log if e["type"].startswith("Canary") and e["type"] in (
            "CanaryAdvanced", "CanaryHalted", "CanaryRolledBack", "CanaryCompleted")]  # fmt: skip
        steps = [int(p) for p in re.findall(r'<tr data-step="(\d+)">', page)]
        assert steps == [info["created_position"], *sorted(e["position"] for e in decided)]
        assert len(steps) == 3
        decisions = [int(p) for p in re.findall(r'<tr data-decision="(\d+)">', page)]
        assert decisions == steps[1:]
        assert page.count('class="stage-step"') == 3
        assert f'data-action="{doc["next"]["action"]}"' in page

    def test_user_strings_are_text_and_nothing_is_written(
        self, server: ViewServer, web_db: WebDb
    ) -> None:
        before = fingerprint(web_db.path)
        for path in ("/canaries", url("canaries", CANARY)):
            _, _, body = request(server, path)
            page = body.decode()
            assert page.count("<script") == 1, path
        for payload in (PAYLOADS[0], PAYLOADS[2]):  # the description and the notes
            assert payload not in page
            assert html.escape(payload, quote=True) in page
        assert 'onload="' not in page and 'onerror="' not in page
        for path in ("/api/canaries", url("api", "canaries", CANARY)):
            get_json(server, path)
        status, _, _ = request(server, url("canaries", "no-such"))
        assert status == 404
        assert fingerprint(web_db.path) == before


class TestReadOnly:
    def test_browsing_every_page_changes_nothing_in_the_log(
        self, server: ViewServer, web_db: WebDb
    ) -> None:
        before = fingerprint(web_db.path)
        pages = crawl(server)
        # the crawl reached every kind of page from the links alone
        kinds = {re.sub(r"/[^/?]+", "/x", urlsplit(p).path, count=0) for p in pages}
        for needed in ("/", "/x/x", "/x/x/x/x"):
            assert needed in kinds, kinds
        assert any(p.startswith("/compare?") for p in pages)
        assert any("/decisions/" in p for p in pages) and any("/cases/" in p for p in pages)
        assert url("canaries", CANARY) in pages and url("api", "canaries", CANARY) in pages
        assert any(p.startswith("/events/") for p in pages) and any(
            p.startswith("/api/") for p in pages
        )
        assert fingerprint(web_db.path) == before
        assert get_json(server, "/api/verify")["ok"] is True

    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    def test_no_method_but_get_and_head_is_answered(
        self, server: ViewServer, web_db: WebDb, method: str
    ) -> None:
        before = fingerprint(web_db.path)
        status, headers, body = request(server, url("api", "tests", TEST), method)
        assert status == 405 and headers["allow"] == "GET, HEAD"
        assert b"read-only" in body
        assert fingerprint(web_db.path) == before

    def test_head_answers_without_a_body(self, server: ViewServer) -> None:
        status, headers, body = request(server, "/", "HEAD")
        assert status == 200 and body == b"" and int(headers["content-length"]) > 0

    def test_the_views_connections_refuse_writes(self, web_db: WebDb) -> None:
        view = View(web_db.path)
        try:
            with view.ledger() as ledger, pytest.raises(sqlite3.OperationalError, match="readonly"):
                ledger.conn.execute("CREATE TABLE intruder (x)")
        finally:
            view.close()

    def test_pages_forbid_inline_script_and_outside_loads(self, server: ViewServer) -> None:
        _, headers, _ = request(server, "/")
        csp = headers["content-security-policy"]
        assert (
            "script-src 'self'" in csp
            and "default-src 'none'" in csp
            and "unsafe-inline" not in csp
        )
        assert headers["x-content-type-options"] == "nosniff"


class TestEscaping:
    def test_no_page_carries_a_payload_as_markup(self, server: ViewServer) -> None:
        pages = crawl(server)
        markup = [p for p in PAYLOADS + (XSS_CASE, NOTE)]
        html_pages = {
            path: body.decode() for path, body in pages.items() if not path.startswith("/api/")
        }
        for path, text in html_pages.items():
            for payload in markup:
                assert payload not in text, (path, payload)
            # the only script element is the view's own
            assert text.count("<script") == 1, path
            assert (
                "onerror=" not in text.replace("onerror=&quot;", "") and 'onload="' not in text
            ), path
        shown = "".join(html_pages.values())
        for payload in markup:
            assert html.escape(payload, quote=True) in shown, payload  # present, as text

    def test_the_element_builder_escapes_text_and_attributes(self) -> None:
        out = el("td", '<b a="1">&', title='"><script>', data_value=0.5, hidden=True, skip=None)
        assert (
            out
            == '<td title="&quot;&gt;&lt;script&gt;" data-value="0.5" hidden>&lt;b a=&quot;1&quot;&gt;&amp;</td>'
        )
        assert (
            el("p", Safe("<i>kept</i>"), "<i>not</i>") == "<p><i>kept</i>&lt;i&gt;not&lt;/i&gt;</p>"
        )
        assert url("runs", "a/b", "cases", "<x>?&") == "/runs/a%2Fb/cases/%3Cx%3E%3F%26"


class TestLoopbackOnly:
    @pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
    def test_loopback_names(self, host: str) -> None:
        assert is_loopback(host)

    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.4", "example.com", "10.0.0.1"])
    def test_other_names_are_not(self, host: str) -> None:
        assert not is_loopback(host)

    def test_a_non_loopback_host_is_refused_in_one_line(self, web_db: WebDb) -> None:
        r = CliRunner().invoke(cli, ["--db", str(web_db.path), "view", "--host", "0.0.0.0"])
        assert r.exit_code == 1
        assert r.output == (
            "Error: refusing to serve on 0.0.0.0: it is not a loopback address, and the view has no "
            "login, so anyone who can reach it could read every test and run; pass --allow-remote "
            "to serve it anyway\n"
        )

    def test_allow_remote_binds_any_address(self, web_db: WebDb) -> None:
        s = make_server(web_db.path, "0.0.0.0", 0, allow_remote=True)
        try:
            assert s.server_address[0] == "0.0.0.0"
        finally:
            s.server_close()

    def test_a_request_for_another_host_name_is_refused(self, server: ViewServer) -> None:
        status, _, body = request(server, "/api/head", headers={"Host": "attacker.example:8765"})
        assert status == 403 and b"localhost only" in body
        status, _, _ = request(
            server, "/api/head", headers={"Host": f"localhost:{server.server_address[1]}"}
        )
        assert status == 200

    def test_a_missing_database_and_a_busy_port_are_one_line_errors(
        self, web_db: WebDb, tmp_path: Path
    ) -> None:
        r = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "view"])
        assert r.exit_code == 1 and r.output.count("\n") == 1
        assert r.output.startswith(f"Error: no database at {tmp_path / 'none.db'};")
        assert not (tmp_path / "none.db").exists()
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(ViewError, match=f"port {port} on 127.0.0.1 is in use"):
                make_server(web_db.path, "127.0.0.1", port)


class TestTheCommand:
    def test_view_serves_until_interrupted(self, web_db: WebDb) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trialbook", "--db", str(web_db.path), "view", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            m = re.match(
                r"Serving (.+) read-only at (http://127\.0\.0\.1:(\d+)/) \(Ctrl-C stops it\)$", line
            )
            assert m, line
            conn = http.client.HTTPConnection("127.0.0.1", int(m.group(3)), timeout=30)
            conn.request("GET", url("tests", TEST))
            r = conn.getresponse()
            assert r.status == 200 and b"Recommendation" in r.read()
            conn.close()
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert out.strip() == "Stopped."

    def test_help_does_not_import_the_web_view(self) -> None:
        probe = (
            "import sys\nfrom trialbook.shell.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in sys.modules if m.startswith('trialbook.web') or m == 'http.server'))"
        )
        r = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        )
        assert "view " in r.stdout  # listed
        assert r.stdout.strip().endswith("LOADED []")

    def test_unknown_pages_and_bad_parameters_answer_one_line(self, server: ViewServer) -> None:
        status, _, body = request(server, url("api", "tests", "nope"))
        assert status == 404 and json.loads(body) == {
            "error": "no A/B test named 'nope'; see `trialbook ab list`"
        }
        status, _, body = request(server, "/compare?a=base")
        assert status == 400 and b"compare needs ?a=BASELINE&amp;b=CANDIDATE" in body
        status, _, body = request(server, url("api", "tests", TEST, alpha="x"))
        assert status == 400 and json.loads(body) == {"error": "alpha 'x' is not a number"}
        status, _, _ = request(server, "/runs/" + quote(XSS_CASE, safe=""))
        assert status == 404


class TestPlots:
    def test_ticks_cover_the_range(self) -> None:
        for lo, hi in [(-0.37, 0.81), (0, 7), (-150.2, 99.9), (0.001, 0.0013), (5, 5)]:
            ticks = svg.nice_ticks(lo, hi)
            assert ticks[0] <= lo and ticks[-1] >= hi and 2 <= len(ticks) <= 12

    def test_the_interval_plot_draws_a_band_and_a_line_per_variant(self) -> None:
        n = [1, 2, 3, 4]
        series = [
            {
                "name": "b<&>",
                "lift": [None, 0.1, 0.2, 0.15],
                "ci": [None, None, [-0.3, 0.5], [-0.1, 0.4]],
            },
            {
                "name": "c",
                "lift": [0.0, 0.0, -0.1, -0.05],
                "ci": [None, [-1, 1], [-0.5, 0.3], [-0.3, 0.2]],
            },
        ]
        out = svg.interval_plot(
            n, series, fmt=str, decisions=["continue", "continue", "ship", "ship"]
        )
        assert out.count('class="band"') == 2 and out.count('class="lift"') == 2
        assert 'data-variant="b&lt;&amp;&gt;"' in out and "b<&>" not in out
        assert out.count('class="decision"') == 2  # two runs of the same recommendation

    def test_a_histogram_counts_every_value(self) -> None:
        values = [0.1 * i for i in range(100)]
        out = svg.histogram(values, fmt=lambda v: f"{v:.1f}")
        assert sum(int(c) for c in re.findall(r'data-count="(\d+)"', out)) == 100
