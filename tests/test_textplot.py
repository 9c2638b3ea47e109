"""``ab analyze --plot``: the interval over results drawn as text, with an ASCII fallback."""

from __future__ import annotations

import json
import random

from tests.conftest import Invoke
from trialbook.shell.textplot import can_draw


def record(invoke: Invoke, db_path) -> None:
    import trialbook

    rng = random.Random(3)
    with trialbook.open(db_path) as tb:
        tb.ab.create("t", variants=["cold", "warm"])
        tb.ab.add_results(
            "t",
            [
                {"variant": v, "success": rng.random() < (0.5 if v == "cold" else 0.7)}
                for v in ("cold", "warm") * 200
            ],
        )


def test_the_plot_ends_at_the_analysis_interval(invoke: Invoke, db_path) -> None:
    record(invoke, db_path)
    doc = json.loads(invoke("ab", "analyze", "t", "--json").output)
    r = invoke("ab", "analyze", "t", "--plot")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    start = lines.index("warm vs cold: lift and always-valid 95% interval after the results")
    rows = lines[start + 2 :]
    assert 10 <= len(rows) <= 16
    lo, hi = next(v for v in doc["variants"] if v["name"] == "warm")["ci"]
    assert rows[-1].split()[0] == "400"
    assert rows[-1].endswith(f"{lo * 100:+.1f} pts to {hi * 100:+.1f} pts")
    assert all("●" in row and "├" in row for row in rows)


def test_ascii_where_the_terminal_cannot_draw_and_no_plot_with_json(
    invoke: Invoke, db_path
) -> None:
    assert can_draw("utf-8") and not can_draw("ascii") and not can_draw("no-such-codec")
    from trialbook.ledger import Ledger
    from trialbook.ledger.analysis import analysis_input, snapshot
    from trialbook.shell.commands.ab_analysis import render_plot

    record(invoke, db_path)
    doc = json.loads(invoke("ab", "analyze", "t", "--json").output)
    with Ledger(db_path) as ledger:
        text = render_plot(doc, analysis_input(snapshot(ledger, "t", rows=True)), encoding="ascii")
    text.encode("ascii")
    assert "[" in text and "o" in text
    r = invoke("ab", "analyze", "t", "--plot", "--json")
    assert r.exit_code == 2 and "--plot draws beside the report" in r.output
