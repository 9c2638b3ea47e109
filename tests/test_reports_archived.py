"""A decision report on an archived A/B test says it is archived (and how to bring it back)."""

from __future__ import annotations

import json

from tests.conftest import Invoke


def _report(invoke: Invoke, *args: str) -> str:
    r = invoke("report", "ab", "t", *args)
    assert r.exit_code in (0, 1), r.output  # 1: the check fails (keep collecting), not an error
    return r.stdout


def test_the_report_says_archived_in_every_format_and_not_before_or_after(invoke: Invoke) -> None:
    assert invoke("ab", "create", "t", "--variants", "a,b").exit_code == 0
    assert invoke("ab", "add-result", "t", "--variant", "a", "--success").exit_code == 0
    assert json.loads(_report(invoke, "--format", "json"))["scope"]["archived"] is None
    assert invoke("ab", "archive", "t").exit_code == 0
    doc = json.loads(_report(invoke, "--format", "json"))
    archived = doc["scope"]["archived"]
    assert archived["position"] == 3 and archived["actor"]
    md = _report(invoke)
    assert f"- archived at #3 by {archived['actor']} (read-only; `trialbook ab restore t`" in md
    html = _report(invoke, "--format", "html")
    assert '<tr data-archived="3"><th>archived</th>' in html
    # as of a position before the archive, it was not archived then
    assert json.loads(_report(invoke, "--format", "json", "--at", "2"))["scope"]["archived"] is None
    assert invoke("ab", "restore", "t").exit_code == 0
    assert json.loads(_report(invoke, "--format", "json"))["scope"]["archived"] is None
    assert "archived at" not in _report(invoke)


def test_a_plot_renders_to_the_same_bytes_every_time_and_different_plots_get_different_ids() -> (
    None
):
    import re

    from trialbook.web import svg

    def plot(lift: float) -> str:
        series = [{"name": "b", "lift": [lift, lift / 2], "ci": [[-1.0, 1.0], [-0.5, 0.5]]}]
        return svg.interval_plot([10, 20], series, fmt=str)

    one, again, other = plot(0.2), plot(0.2), plot(0.3)
    assert one == again
    ids = re.findall(r'<clipPath id="(plot-area-[0-9a-f]{12})"', one)
    assert len(ids) == 1 and f'clip-path="url(#{ids[0]})"' in one
    assert re.findall(r'<clipPath id="(plot-area-[0-9a-f]{12})"', other) != ids
