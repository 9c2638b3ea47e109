"""JUnit XML of an eval run (``eval run/resume/retry-failed --junit FILE``), for CI systems.

One ``<testcase>`` per verdict: per case × epoch × scorer, ``classname`` the
case id and ``name`` ``SCORER [epoch N]``, ``time`` the rollout's latency.
A verdict that failed is a ``<failure>`` (its score and failed criteria), a
scoring error an ``<error type="scoring_error">``, an abstention
``<skipped>``. A rollout whose target failed is one testcase named
``rollout [epoch N]`` with an ``<error type="rollout_failed">``; a completed
rollout no scorer judged is one testcase ``target [epoch N]``, passing when
the target's score is at least 0.7 (or, with no score, because it completed).
When gates were given, a second ``<testsuite>`` holds one testcase per gate.

Pure: :func:`junit_xml` turns ``eval show --json`` (and the gates' outcome)
into the document; :func:`write_junit` writes it.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from trialbook.domain.errors import InvalidCommand
from trialbook.domain.verdicts import DEFAULT_PASS_THRESHOLD

#: characters XML 1.0 cannot hold, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: Any) -> str:
    return _NOT_XML.sub("?", str(value))


def _seconds(value: float | None) -> str:
    return f"{value or 0.0:.3f}"


def _case(parent: ET.Element, classname: str, name: str, time: float | None) -> ET.Element:
    return ET.SubElement(
        parent,
        "testcase",
        {"classname": _text(classname), "name": _text(name), "time": _seconds(time)},
    )


def _mark(case: ET.Element, tag: str, message: str, kind: str | None = None) -> None:
    attrs = {"message": _text(message)}
    if kind is not None:
        attrs["type"] = kind
    el = ET.SubElement(case, tag, attrs)
    if tag != "skipped":
        el.text = _text(message)


def _score_text(score: Any) -> str:
    return "-" if score is None else f"{score:.4g}"


def _rollout_cases(suite: ET.Element, report: dict[str, Any]) -> None:
    for r in report["rollouts"]:
        case_id, epoch, latency = r["case_id"], r["epoch"], r["latency_s"]
        if r["status"] != "completed":
            tc = _case(suite, case_id, f"rollout [epoch {epoch}]", latency)
            _mark(tc, "error", r["error"] or "the rollout failed", "rollout_failed")
            continue
        if not r["verdicts"]:
            tc = _case(suite, case_id, f"target [epoch {epoch}]", latency)
            if r["score"] is not None and r["score"] < DEFAULT_PASS_THRESHOLD:
                _mark(
                    tc,
                    "failure",
                    f"target score {_score_text(r['score'])} is under {DEFAULT_PASS_THRESHOLD}",
                    "failed",
                )
            continue
        for scorer, v in r["verdicts"].items():
            tc = _case(suite, case_id, f"{scorer} [epoch {epoch}]", latency)
            if v.get("scoring_error"):
                _mark(tc, "error", v.get("error") or "scoring error", "scoring_error")
            elif v["passed"] is None:
                _mark(tc, "skipped", "abstained: no pass/fail")
            elif not v["passed"]:
                crit = v.get("failed_criteria") or []
                _mark(
                    tc,
                    "failure",
                    f"score {_score_text(v['score'])}"
                    + (f"; failed criteria: {'; '.join(crit)}" if crit else ""),
                    "failed",
                )


def _counts(suite: ET.Element) -> dict[str, int]:
    cases = suite.findall("testcase")
    return {
        "tests": len(cases),
        "failures": sum(1 for c in cases if c.find("failure") is not None),
        "errors": sum(1 for c in cases if c.find("error") is not None),
        "skipped": sum(1 for c in cases if c.find("skipped") is not None),
    }


def _finish(suite: ET.Element, time: float) -> dict[str, int]:
    counts = _counts(suite)
    for k, v in counts.items():
        suite.set(k, str(v))
    suite.set("time", _seconds(time))
    return counts


def junit_xml(report: dict[str, Any], gates: dict[str, Any] | None = None) -> str:
    """The JUnit XML document of a run's report; ``gates`` is a :class:`GateOutcome`'s ``to_json()``."""
    run = report["run"]
    root = ET.Element("testsuites", {"name": _text(f"trialbook eval {run['run_id']}")})
    suite = ET.SubElement(
        root,
        "testsuite",
        {"name": _text(f"{run['run_id']} ({run['suite']} v{run['suite_version']})")},
    )
    if run.get("started_at"):
        suite.set("timestamp", _text(run["started_at"]))
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("run", run["run_id"]),
        ("suite", run["suite"]),
        ("suite_version", run["suite_version"]),
        ("target", (run.get("target") or {}).get("kind", "?")),
        ("epochs", run["epochs"]),
        ("status", run["status"]),
    ):
        ET.SubElement(props, "property", {"name": key, "value": _text(value)})
    _rollout_cases(suite, report)
    total_time = sum(r["latency_s"] or 0.0 for r in report["rollouts"])
    totals = _finish(suite, total_time)
    if gates is not None and (gates["checks"] or gates["infrastructure"]):
        gsuite = ET.SubElement(root, "testsuite", {"name": "gates"})
        for c in gates["checks"]:
            tc = _case(gsuite, "gates", c["gate"], 0.0)
            if not c["passed"]:
                _mark(tc, "failure", c["detail"], "gate_failed")
            else:
                ET.SubElement(tc, "system-out").text = _text(c["detail"])
        if gates["infrastructure"]:
            tc = _case(gsuite, "gates", "every rollout failed", 0.0)
            _mark(tc, "error", gates["infrastructure"], "infrastructure")
        for k, v in _finish(gsuite, 0.0).items():
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", _seconds(total_time))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(
    path: str | os.PathLike[str], report: dict[str, Any], gates: dict[str, Any] | None = None
) -> Path:
    """Write :func:`junit_xml` to ``path`` (its directory must exist); ``InvalidCommand`` if it cannot."""
    target = Path(path)
    try:
        target.write_text(junit_xml(report, gates), encoding="utf-8")
    except OSError as e:
        raise InvalidCommand(f"cannot write the JUnit file {path}: {e.strerror or e}") from None
    return target


def check_junit_path(path: str | os.PathLike[str]) -> None:
    """Refuse, before anything runs, a ``--junit`` path that cannot be written (``InvalidCommand``)."""
    if not str(path).strip():
        raise InvalidCommand("--junit '': give a file name such as report.xml")
    target = Path(path)
    if target.is_dir():
        raise InvalidCommand(
            f"--junit {path}: that is a directory; give a file name such as report.xml"
        )
    parent = target.parent if str(target.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise InvalidCommand(
            f"--junit {path}: {parent} is a file, not a directory; give a path in a directory"
        )
    if not parent.is_dir():
        raise InvalidCommand(f"--junit {path}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InvalidCommand(f"--junit {path}: not writable")
