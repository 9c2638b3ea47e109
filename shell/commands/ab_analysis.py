"""``trialbook ab analyze`` and ``ab conclude``: the statistics of a test, and the decisions taken on them.

Plain click commands that ``shell/commands/ab.py`` adds to the ``ab`` group
(this module does not import that one back). numpy and scipy are imported only
when an analysis is computed, never for ``--help`` or the other ``ab`` commands.

The read side is a few plain functions the REPL and other front ends can reuse:
:func:`read_snapshot` (one consistent read of a test's read model and the log
head), :func:`analysis_input`, :func:`analysis_document` (the ``--json``
document, the one ``ab conclude`` records) and :func:`render_report`.
"""

from __future__ import annotations

import textwrap
from typing import Any

import click

from trialbook.domain.units import MetricUnits, guardrail_texts
from trialbook.domain.units import p_text as _p  # the names the analysis texts (and tests) use
from trialbook.domain.units import pct as _pct
from trialbook.ledger.analysis import analysis_document, analysis_input, analyze_test
from trialbook.shell.app import App
from trialbook.shell.commands.common import json_option, pass_app
from trialbook.shell.commands.events import ISO_TIME
from trialbook.shell.render import echo_json, table

DECISION_TITLES = {
    "ship": "SHIP {variant}",
    "keep_control": "KEEP CONTROL ({variant})",
    "continue": "KEEP COLLECTING",
    "no_difference": "NO MEANINGFUL DIFFERENCE",
    "blocked": "BLOCKED BY A DATA-QUALITY ALERT",
}
FIXED_HORIZON_LABEL = "Fixed-horizon (valid for one look at a sample size fixed in advance, not when you keep checking):"
WIDTH = 100


# --------------------------------------------------------------------------- reading the read model


# --------------------------------------------------------------------------- rendering


def _signed_pct(x: float | None) -> str:
    from trialbook.domain.stats.analysis import percent

    return "-" if x is None else percent(x)


class _Units(MetricUnits):
    """:class:`domain.units.MetricUnits`, and an effect as it was recorded."""

    def target(self, text: str) -> str:
        """An effect as recorded: ``10%``, ``10pp``, ``0.1`` (any form ``--mde`` takes) in words."""
        from trialbook.domain.stats import Effect

        effect = Effect.parse(text)
        if effect.relative:
            return f"{effect.value * 100:g}%" + (" of control's rate" if self.binary else "")
        return self.effect(effect.value)


def _coverage(paired: dict[str, Any], name: str, control: str) -> str:
    """How many of each arm's results the pairs hold: ``212 of 214 warm and 213 of 214 cold results``."""
    got, of = paired.get("results_paired") or {}, paired.get("results") or {}
    if not of:  # a document recorded before these counts
        return f"{paired['pairs']} pairs"
    return (
        f"{paired['pairs']} pairs hold {got['variant']} of {of['variant']} {name} and "
        f"{got['control']} of {of['control']} {control} results"
    )


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, width=WIDTH, initial_indent=indent, subsequent_indent=indent)


def render_report(doc: dict[str, Any]) -> str:
    """The terminal report of an ``ab analyze --json`` document."""
    u = _Units(doc["kind"])
    variants = doc["variants"]
    control = doc["control"]
    level = f"{doc['ci_level'] * 100:.4g}%"
    results = sum(v["results"] for v in variants)
    direction = "lower" if doc["lower_is_better"] else "higher"
    holm = doc["settings"].get("holm_family", 1) > 1
    lines = [
        f"{doc['test']}: {doc['metric']} ({doc['kind']}, {direction} is better), control {control}",
        f"{results} results, analysed at log position {doc['position']}; alpha {doc['alpha']:g}; "
        f"always-valid boundary tuned for {doc['settings']['tuning']:g} results; method version "
        f"{doc['method_version']}",
        "",
    ]
    headers = [
        "variant",
        "n",
        doc["metric"],
        f"lift vs {control}",
        f"always-valid {level} CI",
        "p",
        *(["p (Holm)"] if holm else []),
        f"P(beats {control})",
        "P(best)",
        "status",
    ]
    body = []
    for v in variants:
        name = v["name"] + (" (control)" if v["is_control"] else "")
        if v["is_control"]:
            body.append(
                [
                    name,
                    str(v["n"]),
                    u.value(v["estimate"]),
                    "-",
                    "-",
                    "-",
                    *(["-"] if holm else []),
                    "-",
                    _pct(v["p_best"]),
                    "-",
                ]
            )
            continue
        lift = u.diff(v["lift"]) + (
            "" if v["relative_lift"] is None else f" ({_signed_pct(v['relative_lift'])})"
        )
        body.append(
            [
                name,
                str(v["n"]),
                u.value(v["estimate"]),
                lift,
                u.interval(v["ci"]),
                _p(v["p_value"]),
                *([_p(v["p_value_adjusted"])] if holm else []),
                _pct(v["p_beats_control"]),
                _pct(v["p_best"]),
                v["status"] or "-",
            ]
        )
    lines.append(table(body, headers, align="lrrrrr" + "r" * holm + "rrl"))
    lines += ["", textwrap.fill("Method: " + doc["method"], width=WIDTH, subsequent_indent="  ")]

    others = [v for v in variants if not v["is_control"]]
    paired = [v for v in others if v["paired"]]
    if paired:
        lines += ["", "Paired by case id:"]
        for v in paired:
            pr = v["paired"]
            use = f"{_coverage(pr, v['name'], control)}; " + (
                "used for the decision"
                if pr["used_for_decision"]
                else f"not used (pairs are used from {pr['coverage_needed']:.0%} of each)"
            )
            clustered = (
                ", results averaged per case (cases repeat)" if pr["clustered_by_case"] else ""
            )
            fh = pr["fixed_horizon"]
            lines.append(
                _wrap(
                    f"{v['name']} vs {control}: {use}{clustered}; mean difference "
                    f"{u.diff(pr['lift'])}, always-valid {level} CI {u.interval(pr['ci'])}, p {_p(pr['p_value'])}; "
                    f"fixed-horizon {fh['method']}: p {_p(fh['p_value'])}; Wilcoxon signed-rank p {_p(pr['wilcoxon_p'])}"
                )
            )
        used = [v for v in paired if v["paired"]["used_for_decision"]]
        if used:
            lines.append(
                _wrap(
                    "The rates in the table are over all results; the lift, interval and p-value "
                    + " and ".join(
                        f"of {v['name']} are over its {v['paired']['pairs']} paired cases "
                        f"({v['paired']['results_paired']['variant']} of {v['paired']['results']['variant']} results)"
                        for v in used
                    )
                    + ".",
                    indent="",
                )
            )
    lines += ["", FIXED_HORIZON_LABEL]
    for v in others:
        fh = v["fixed_horizon"]
        lines.append(
            _wrap(
                f"{v['name']}: {fh['method']}: {u.diff(fh['lift'])}, {level} CI {u.interval(fh['ci'])}, p {_p(fh['p_value'])}"
            )
        )
    powers = [(v["name"], v["power"]) for v in others if v["power"]]
    if powers:
        lines += ["", f"Power ({doc['settings']['power'] * 100:g}%):"]
        for name, pw in powers:
            if pw["mde_always_valid"] is None:
                text = f"{name}: no difference is reliably detectable yet (no information yet)"
            else:
                text = (
                    f"{name}: smallest detectable difference now about {u.effect(pw['mde_always_valid'])} "
                    f"always-valid ({u.effect(pw['mde_fixed_horizon'])} fixed-horizon)"
                )
            if pw["target_mde"] is not None:
                target = u.target(pw["target_mde"])
                if pw.get("median_always_valid") is not None:
                    text += (
                        f"; if the difference is {target}: the median test decides at about "
                        f"{pw['median_always_valid']} {pw['basis']}, {pw['more_per_variant']} more "
                        f"(a median, not a bound; {doc['settings']['power'] * 100:g}% by "
                        f"{pw['needed_always_valid'] if pw['needed_always_valid'] is not None else '-'}), "
                        f"one fixed-horizon look {pw['needed_fixed_horizon']}"
                        + (", past the planned results" if pw.get("beyond_plan") else "")
                    )
                elif pw["needed_always_valid"] is not None:  # an analysis recorded with method 1.0
                    text += (
                        f"; to detect {target}: about {pw['needed_always_valid']} {pw['basis']} "
                        f"always-valid ({pw['needed_fixed_horizon']} fixed-horizon), "
                        f"{pw['more_per_variant']} more"
                    )
                else:
                    text += f"; cannot yet estimate how many {pw['basis']} detect {target}"
            lines.append(_wrap(text))
    if doc["guardrails"]:
        lines += ["", "Guardrails:"]
        for g in doc["guardrails"]:
            worsening, ci, limit = guardrail_texts(g)
            lines.append(
                _wrap(
                    f"{g['metric']} for {g['variant']}: {g['status']}; worsening {worsening} "
                    f"(always-valid CI {ci}), limit {limit}"
                )
            )
    lines += ["", "Alerts: " + ("none" if not doc["alerts"] else "")]
    for a in doc["alerts"]:
        lines.append(_wrap(("BLOCKING: " if a["blocking"] else "") + a["message"]))
    rec = doc["recommendation"]
    lines += [
        "",
        "Recommendation: " + DECISION_TITLES[rec["decision"]].format(variant=rec["variant"]),
        _wrap(rec["reason"]),
    ]
    return "\n".join(lines)


def history_runs(trajectory: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """Consecutive results with the same recommendation: ``(first n, last n, text)``."""
    runs: list[tuple[int, int, str]] = []
    for step in trajectory:
        text = step["decision"] + (f" {step['variant']}" if step["decision"] == "ship" else "")
        if runs and runs[-1][2] == text:
            runs[-1] = (runs[-1][0], step["n"], text)
        else:
            runs.append((step["n"], step["n"], text))
    return runs


def render_history(name: str, trajectory: list[dict[str, Any]]) -> str:
    """The trajectory as runs of identical recommendations."""
    if not trajectory:
        return f"{name} has no results yet: nothing to replay."
    runs = history_runs(trajectory)
    body = [[f"{a}" if a == b else f"{a}-{b}", text] for a, b, text in runs]
    changes = len(runs) - 1
    ships = sorted({t for _, _, t in runs if t.startswith("ship")})
    tail = f"; it named a winner: {', '.join(ships)}" if ships else "; it never named a winner"
    return "\n".join(
        [
            f"{name}: the recommendation after each of {len(trajectory)} results, as you would have seen it "
            "checking after every result",
            table(body, ["results", "recommendation"], align="ll"),
            f"{changes} change{'s' if changes != 1 else ''} of recommendation{tail}.",
        ]
    )


PLOT_LOOKS = 16


def render_plot(doc: dict[str, Any], inp: Any, encoding: str | None = None) -> str:
    """Each variant's lift and always-valid interval at evenly spaced looks, as text lines."""
    import sys

    from trialbook.domain.stats import interval_history
    from trialbook.shell.textplot import can_draw, interval_lines

    hist = interval_history(inp, max_looks=PLOT_LOOKS)
    u = _Units(doc["kind"])
    drawable = can_draw(encoding if encoding is not None else sys.stdout.encoding)
    level = f"{doc['ci_level'] * 100:.4g}%"
    out: list[str] = []
    for name in hist["variants"]:
        out.append(
            f"{name} vs {doc['control']}: lift and always-valid {level} interval after the results"
        )
        out += ["  " + line for line in interval_lines(hist, name, u.diff, unicode=drawable)]
    return "\n".join(out)


# --------------------------------------------------------------------------- commands


def analysis_options(fn: Any) -> Any:
    """The options shared by ``analyze`` and ``conclude``."""
    for option in reversed(
        [
            click.option(
                "--metric", help="Analyze this metric instead of the test's primary metric."
            ),
            click.option(
                "--alpha",
                type=float,
                default=0.05,
                show_default=True,
                help="Significance level, between 0 and 0.5 (fix it before the test starts).",
            ),
            click.option(
                "--mde",
                metavar="EFFECT",
                help="Smallest effect worth detecting: 10% (relative to control: on success, 10 % "
                "of control's rate), 5pp or 5 points (percentage points of a proportion; 0.05 is "
                "the same), or 2.5 / 30s / $0.01 (the metric's units). A bare 5 on a proportion is "
                "refused (it would be 500 points). Gives 'how many more' and is the default "
                "equivalence margin.",
            ),
            click.option(
                "--margin",
                metavar="EFFECT",
                help="Equivalence margin for 'no meaningful difference', in the forms --mde takes "
                "(default: --mde).",
            ),
        ]
    ):
        fn = option(fn)
    return fn


@click.command("analyze")
@click.argument("name")
@analysis_options
@click.option(
    "--history",
    "show_history",
    is_flag=True,
    help="Show the recommendation after each result in order (what checking every time shows).",
)
@click.option("--as-of", "as_of", type=ISO_TIME, help="The analysis as it was at this time (UTC).")
@click.option(
    "--at",
    "at",
    type=click.IntRange(min=0),
    metavar="POSITION",
    help="The analysis as it was right after this log position.",
)
@click.option("--diff-now", is_flag=True, help="With --as-of/--at: also show what changed since.")
@click.option(
    "--plot",
    "show_plot",
    is_flag=True,
    help="Also draw each variant's lift and always-valid interval over the results (text).",
)
@click.option(
    "--covariate",
    metavar="NAME",
    help="CUPED: adjust the metric by a value the variant cannot change: a per-result field "
    "(prior_score), a case's mean score in an earlier eval run (case:RUN) or its mean in a "
    "pre-period test (test:OTHER.METRIC); shows the variance reduction.",
)
@click.option(
    "--by",
    "by",
    metavar="KEY",
    help="Break the analysis down by a result dimension: category, difficulty, model or "
    "metadata.KEY (Holm across segments; exploratory unless named with ab create --segment).",
)
@json_option
@pass_app
def analyze_cmd(
    app: App,
    name: str,
    metric: str | None,
    alpha: float,
    mde: str | None,
    margin: str | None,
    show_history: bool,
    as_of: str | None,
    at: int | None,
    diff_now: bool,
    show_plot: bool,
    covariate: str | None,
    by: str | None,
    as_json: bool,
) -> None:
    """Analyze test NAME: each variant against control, and a recommendation you can re-check any time.

    The decision uses always-valid inference, so running this after every new
    result does not inflate false winners. Results with a case id in control and
    a variant are compared pair by pair. Fixed-horizon numbers are shown beside,
    labelled. --json prints the document `ab conclude` records (see docs/statistics.md).

    \b
    Examples:
      trialbook ab analyze checkout-flow
      trialbook ab analyze checkout-flow --metric completion_time --mde 10%
      trialbook ab analyze checkout-flow --history
      trialbook ab analyze checkout-flow --plot
      trialbook ab analyze checkout-flow --as-of 2025-03-03T10:00Z --diff-now
      trialbook ab analyze checkout-flow --metric completion_time:p95
      trialbook ab analyze checkout-flow --covariate prior_score --by category
      trialbook ab analyze checkout-flow --covariate case:baseline-run
    """
    from trialbook.domain.stats import analyze, history
    from trialbook.ledger.analysis import snapshot
    from trialbook.shell.commands.audit import render_changes

    if diff_now and as_of is None and at is None:
        raise click.UsageError("--diff-now needs --as-of TIME or --at POSITION")
    # --as-of/--at: the test's read model replayed into a private database, closed after reading
    if show_plot and (as_json or show_history):
        raise click.UsageError(
            "--plot draws beside the report: give it without --json or --history"
        )
    every = show_history or show_plot or bool(by or covariate) or ":p" in (metric or "")
    snap = snapshot(app.ledger, name, at=at, as_of=as_of, rows=every, metric=metric)
    past = None if as_of is None and at is None else snap
    inp = analysis_input(
        snap, metric=metric, alpha=alpha, mde=mde, margin=margin, covariate=covariate
    )
    if show_history:
        trajectory = history(inp)
        if as_json:
            echo_json(trajectory)
        else:
            click.echo(render_history(name, trajectory))
        return
    doc = analysis_document(analyze(inp), snap.position)
    if by is not None:
        from trialbook.ledger.segments import segments_document

        doc["segments"] = segments_document(app.ledger, snap, by, metric=metric, alpha=alpha)
    now = (
        analyze_test(
            app.ledger, name, metric=metric, alpha=alpha, mde=mde, margin=margin,
            covariate=covariate,
        )
        if diff_now
        else None
    )  # fmt: skip
    if as_json:
        echo_json(doc if now is None else {"then": doc, "now": now})
    else:
        if past is not None:
            click.echo(
                f"As of position {past.position} (recorded {past.recorded_at}; "
                f"the log now ends at {app.ledger.store.head()[0]}):\n"
            )
        click.echo(render_report(doc))
        from trialbook.shell.commands.ab_extras import render_extras

        extras = render_extras(doc)
        if extras:
            click.echo(extras)
        if show_plot:
            click.echo("\n" + render_plot(doc, inp))
        if now is not None:
            click.echo("\n" + render_changes(doc, now))


@click.command("conclude")
@click.argument("name")
@click.option("--ship", "ship", metavar="VARIANT", help="Ship this variant.")
@click.option("--keep-control", is_flag=True, help="Keep the control.")
@click.option("--stop", is_flag=True, help="Stop the test without choosing a variant.")
@click.option("--note", help="Why: recorded with the decision.")
@analysis_options
@click.option(
    "--covariate",
    metavar="NAME",
    help="Record the CUPED-adjusted analysis (as ab analyze --covariate NAME|case:RUN|"
    "test:OTHER.METRIC shows it).",
)
@json_option
@pass_app
def conclude(
    app: App,
    name: str,
    ship: str | None,
    keep_control: bool,
    stop: bool,
    note: str | None,
    metric: str | None,
    alpha: float,
    mde: str | None,
    margin: str | None,
    covariate: str | None,
    as_json: bool,
) -> None:
    """Record your decision on test NAME with the analysis it is based on.

    Give exactly one of --ship VARIANT, --keep-control or --stop. The current
    analysis (with the same options as `ab analyze`) and the log position it was
    computed at are recorded with the decision, so an audit can replay the log
    to that position and check it. Shipping against the recommendation is allowed, recorded as
    such, and warned about.

    \b
    Examples:
      trialbook ab conclude checkout-flow --ship warm --note "faster, same success"
      trialbook ab conclude checkout-flow --keep-control
    """
    from trialbook.domain.errors import InvalidCommand
    from trialbook.ledger.analysis import conclude as record_decision

    try:
        doc = record_decision(
            app.ledger, name, ship=ship, keep_control=keep_control, stop=stop, note=note,
            metric=metric, alpha=alpha, mde=mde, margin=margin, covariate=covariate,
        )  # fmt: skip
    except InvalidCommand as e:
        if str(e).startswith("give exactly one of"):
            raise click.UsageError(str(e)) from None
        raise
    rec = doc["recommendation"]
    said = rec["decision"] + (f" {rec['variant']}" if rec["decision"] == "ship" else "")
    if as_json:
        echo_json(doc)
    else:
        what = {
            "ship": f"ship {ship}",
            "keep_control": f"keep control ({doc['variant']})",
            "stop": "stop without a choice",
        }[doc["choice"]]
        click.echo(
            f"Concluded {name}: {what} (event #{doc['position']}); the analysis at log position "
            f"{doc['analysis_position']} recommended: {said}."
        )
    if doc["against_recommendation"]:
        click.echo(
            f"Warning: this goes against the recommendation ({said}); it is recorded as such.",
            err=True,
        )
