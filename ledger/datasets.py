"""``trialbook export dataset``: recorded sessions as fine-tuning and optimiser records.

The CLI (``export dataset``) and the API (``tb.export_dataset``) call
:func:`export_dataset`; both only read the log (nothing is ever appended) and
check everything before writing a byte: a bad source, format, split or filter
is one :class:`InvalidCommand` / :class:`NotFound`, and no file is left behind
(each file is written beside its final path and renamed into place at the end).

Sources:

- an **eval run**: per completed rollout (the latest attempt of each case ×
  epoch), the case input (after the target's system prompt, when it had one),
  the messages of the rollout's trace (``{"messages": [...]}``) and the output as
  the final assistant message, carrying the trace's ``tool_calls`` when it has
  them (what the ``openai`` target records). Scores are the latest verdict per
  scorer, repeats combined (``eval show``'s figures);
- an **A/B test** or a **canary**: each result that carries a transcript, the
  transcript as recorded (:mod:`trialbook.domain.transcripts`). Its scores are
  ``score`` (the result's score) and each custom metric by name; it passed when
  ``success`` is true.

Formats (:data:`FORMATS`) are described in ``docs/datasets.md``: ``openai-chat``
(exactly ``{"messages": [...]}``, provenance in a ``.provenance.jsonl`` file
beside it, line for line), ``tensorzero`` (a chat datapoint: ``function_name``,
``input``, ``output``, ``tags``) and ``jsonl`` (trialbook's record, everything).

Splits are by case: ``split_of(seed, case)`` hashes the seed and the case id, so
one case never lands in two splits and the assignment depends on nothing else
(not the export order, not the other cases, not the run).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trialbook.domain.errors import InvalidCommand, NotFound
from trialbook.ledger.ledger import no_cyclic_gc

if TYPE_CHECKING:
    from trialbook.ledger import Ledger

FORMATS = ("openai-chat", "tensorzero", "jsonl")
#: the ``schema_version`` of trialbook's own record (``--format jsonl``)
RECORD_SCHEMA_VERSION = 1
SPLIT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
#: how far the shares of a split may be from summing to 1 (rounding of decimal text)
SHARE_TOLERANCE = 1e-9
#: the score name of an A/B or canary result's ``score`` field
RESULT_SCORE = "score"
SOURCE_PREFIXES = ("eval", "ab", "canary")


# --------------------------------------------------------------------------- splits


@dataclass(frozen=True)
class Split:
    """One named share of a dataset."""

    name: str
    share: float


def parse_split(text: str) -> tuple[Split, ...]:
    """``"train=0.9,val=0.1"`` → splits; a one-line ``InvalidCommand`` names what is wrong.

    Names are 1-40 letters, digits, ``_`` or ``-``, each once; shares are numbers
    above 0 that sum to 1.
    """
    splits: list[Split] = []
    for item in text.split(","):
        name, sep, raw = item.strip().partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidCommand(
                f"--split: {item.strip()!r} is not NAME=SHARE; write e.g. --split train=0.9,val=0.1"
            )
        if not SPLIT_NAME_RE.match(name):
            raise InvalidCommand(
                f"--split: {name!r} is not a split name; use letters, digits, '_' or '-'"
            )
        if any(s.name == name for s in splits):
            raise InvalidCommand(f"--split: {name!r} is named twice; name each split once")
        try:
            share = float(raw)
        except ValueError:
            raise InvalidCommand(
                f"--split: {name}={raw.strip()!r}: the share is not a number"
            ) from None
        if not math.isfinite(share) or share <= 0 or share > 1:
            raise InvalidCommand(f"--split: {name}={raw.strip()}: a share is above 0 and at most 1")
        splits.append(Split(name, share))
    total = math.fsum(s.share for s in splits)
    if abs(total - 1) > SHARE_TOLERANCE:
        raise InvalidCommand(
            f"--split: the shares sum to {total:g}, not 1; e.g. --split train=0.9,val=0.1"
        )
    return tuple(splits)


def split_point(seed: int, case: str) -> float:
    """Contract: a number in [0, 1) fixed by ``seed`` and ``case`` alone (64 bits of SHA-256)."""
    digest = hashlib.sha256(f"{seed}\x1f{case}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(seed: int, case: str, splits: Sequence[Split]) -> str:
    """The split ``case`` belongs to: the first whose running total of shares passes its point.

    Depends only on the seed, the case id and the splits, so it is the same in every
    export and every run, and every record of one case lands in one split.
    """
    point = split_point(seed, case)
    total = 0.0
    for s in splits:
        total += s.share
        if point < total:
            return s.name
    return splits[-1].name  # the shares' rounding left the last sliver over


# --------------------------------------------------------------------------- records


@dataclass
class Example:
    """One exported session before formatting: its messages, provenance and scores."""

    #: what splits group by: the case id (an A/B result without one: its session id)
    case: str
    messages: list[dict[str, Any]]
    provenance: dict[str, Any]
    #: scorer → {"score": float | None, "passed": bool | None}
    scores: dict[str, dict[str, Any]]
    #: whether the session passed as a whole (A/B: success); None when not recorded
    passed: bool | None = None
    #: the raw parts, for trialbook's own format
    extra: dict[str, Any] = field(default_factory=dict)
    split: str | None = None


@dataclass
class Collected:
    """Every exportable example of a source, and why others were left out."""

    kind: str
    name: str
    #: the default TensorZero function name
    function: str
    examples: list[Example]
    scorers: list[str]
    skipped: dict[str, int] = field(default_factory=dict)
    #: rollouts whose trace is not chat messages (exported without it)
    traces_not_chat: int = 0


def _skip(skipped: dict[str, int], why: str, n: int = 1) -> None:
    skipped[why] = skipped.get(why, 0) + n


def resolve_source(ledger: Ledger, source: str) -> tuple[str, str]:
    """``(kind, name)`` of RUN|TEST: an eval run, an A/B test or a canary (``eval:``,
    ``ab:`` or ``canary:`` before the name chooses when several have it)."""
    from trialbook.projections import ab_queries, eval_queries
    from trialbook.projections import canary as canary_queries

    prefix, sep, rest = source.partition(":")
    kinds: Sequence[str] = SOURCE_PREFIXES
    name = source
    if sep and prefix in SOURCE_PREFIXES and rest:
        kinds, name = (prefix,), rest
    conn = ledger.conn
    found = []
    if "eval" in kinds and eval_queries.get_run(conn, name, live=False) is not None:
        found.append("eval")
    if "ab" in kinds and ab_queries.get_test(conn, name) is not None:
        found.append("ab")
    if "canary" in kinds and canary_queries.get_canary(conn, name) is not None:
        found.append("canary")
    if not found:
        what = {"eval": "eval run", "ab": "A/B test", "canary": "canary"}
        if len(kinds) == 1:
            lists = {"eval": "eval list", "ab": "ab list", "canary": "canary list"}
            raise NotFound(f"no {what[kinds[0]]} named {name!r}; see `trialbook {lists[kinds[0]]}`")
        raise NotFound(
            f"no eval run, A/B test or canary named {name!r}; see `trialbook eval list`, "
            "`trialbook ab list` or `trialbook canary list`"
        )
    if len(found) > 1:
        raise InvalidCommand(
            f"{name!r} names both {' and '.join(f'{k}:{name}' for k in found)}; "
            f"write one of those to choose"
        )
    return found[0], name


def collect(ledger: Ledger, kind: str, name: str) -> Collected:
    """Every example of source ``name`` of ``kind`` (``eval``, ``ab``, ``canary``)."""
    if kind == "eval":
        return _collect_eval(ledger, name)
    return _collect_results(ledger, kind, name)


def _load_json(ledger: Ledger, digest: str | None) -> Any:
    from trialbook.store.base import parse_json

    if not digest:
        return None
    content = ledger.store.get_blob(digest)
    return None if content is None else parse_json(content)


def _output_text(output: Any) -> str | None:
    if output is None or isinstance(output, str):
        return output
    return json.dumps(output, ensure_ascii=False, sort_keys=True)


def _trace_messages(trace: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None] | None:
    """``(messages, final tool calls)`` a trace holds, ``None`` if it is not chat-shaped.

    ``{"messages": [...]}`` are the turns after the input; ``{"tool_calls": [...]}`` the
    tool calls of the final answer (both may be given).
    """
    from trialbook.domain.transcripts import ChatMessage, ToolCall

    if not isinstance(trace, dict) or not ({"messages", "tool_calls"} & set(trace)):
        return None
    try:
        messages = [ChatMessage.model_validate(m).to_json() for m in (trace.get("messages") or [])]
        calls = trace.get("tool_calls")
        tool_calls = (
            [ToolCall.model_validate(c).model_dump(mode="json") for c in calls] if calls else None
        )
    except (ValueError, TypeError):
        return None
    return messages, tool_calls


def _collect_eval(ledger: Ledger, run_id: str) -> Collected:
    from trialbook.domain.stats.verdicts import rollouts as combined
    from trialbook.ledger.evals import recorder, require_run, require_suite
    from trialbook.projections import eval_queries

    run = require_run(ledger, run_id)
    with ledger.store.read_transaction() as conn:
        rows = eval_queries.rollout_rows(conn, run_id)
        positions = {
            (c, e): (p, a)
            for c, e, p, a in conn.execute(
                "SELECT case_id, epoch, position, attempt FROM eval_rollouts "
                "WHERE run_id = ? AND is_latest = 1",
                (run_id,),
            )
        }
        latest = eval_queries.verdicts(conn, run_id)
    suite = require_suite(recorder(ledger), run["suite"]).version(run["suite_version"])
    cases = {c.id: c for c in suite.cases}
    system_prompt = (run.get("target") or {}).get("system_prompt")
    scorers = list(dict.fromkeys(v.scorer for v in latest))
    verdict_positions: dict[tuple[str, int, str], list[int]] = {}
    for v in latest:
        verdict_positions.setdefault((v.case_id, v.epoch, v.scorer), []).append(v.position)
    scores: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for rv in combined(latest):
        scores.setdefault((rv.case_id, rv.epoch), {})[rv.scorer] = {
            "score": rv.score,
            "passed": rv.passed,
        }
    out = Collected("eval", run_id, run["suite"], [], scorers)
    for r in rows:
        if r["status"] != "completed":
            _skip(out.skipped, "failed_rollouts")
            continue
        case = cases[r["case_id"]]
        output = r["output"]
        if output is None and r["output_blob"]:
            output = _load_json(ledger, r["output_blob"])
        trace = _load_json(ledger, r["trace_blob"])
        messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
            dict(m) for m in case.messages()
        ]
        turns = _trace_messages(trace)
        tool_calls = None
        if turns is not None:
            messages += turns[0]
            tool_calls = turns[1]
        elif trace is not None:
            out.traces_not_chat += 1
        text = _output_text(output)
        last = messages[-1]
        repeated = last["role"] == "assistant" and last.get("content") == text and not tool_calls
        if (text is not None or tool_calls) and not repeated:
            final: dict[str, Any] = {"role": "assistant", "content": text}
            if tool_calls:
                final["tool_calls"] = tool_calls
            messages.append(final)
        position, attempt = positions[(r["case_id"], r["epoch"])]
        key = (r["case_id"], r["epoch"])
        out.examples.append(
            Example(
                case=r["case_id"],
                messages=messages,
                provenance={
                    "source": "eval",
                    "run": run_id,
                    "suite": run["suite"],
                    "suite_version": run["suite_version"],
                    "suite_hash": suite.hash,
                    "case_id": r["case_id"],
                    "epoch": r["epoch"],
                    "attempt": attempt,
                    "position": position,
                    "verdict_positions": {
                        s: verdict_positions[(r["case_id"], r["epoch"], s)]
                        for s in scores.get(key, {})
                    },
                },
                scores=scores.get(key, {}),
                extra={
                    "input": case.model_dump(mode="json")["input"],
                    "expected": case.expected,
                    "output": output,
                    "trace": trace,
                    "model": r["model"],
                },
            )
        )
    return out


def _collect_results(ledger: Ledger, kind: str, name: str) -> Collected:
    from trialbook.domain import ab, canary
    from trialbook.domain.catalog import read_as

    stream = ab.stream_for(name) if kind == "ab" else canary.stream_for(name)
    event_type = "ResultAdded" if kind == "ab" else "CanaryResultAdded"
    out = Collected(kind, name, name, [], [])
    seen_scores: dict[str, None] = {}
    for e in ledger.store.read_stream(stream):
        if e.type != event_type:
            continue
        # the stored data as readers see it today (validated when it was recorded)
        _, r = read_as(e.type, e.schema_version, e.data)
        result_scores: dict[str, dict[str, Any]] = {}
        if r.get("score") is not None:
            result_scores[RESULT_SCORE] = {"score": r["score"], "passed": r.get("success")}
        for metric, value in sorted((r.get("metrics") or {}).items()):
            result_scores[metric] = {"score": value, "passed": None}
        seen_scores.update(dict.fromkeys(result_scores))
        digest = r.get("transcript_blob")
        if digest is None:
            _skip(out.skipped, "results_without_transcript")
            continue
        transcript = _load_json(ledger, digest)
        if not isinstance(transcript, list):
            _skip(out.skipped, "transcripts_missing")
            continue
        provenance: dict[str, Any] = {"source": kind, kind if kind == "canary" else "test": name}
        provenance.update(
            variant=r["variant"],
            session_id=r.get("session_id"),
            case_id=r.get("case_id"),
            position=e.position,
            event_id=e.event_id,
            transcript_blob=digest,
        )
        if kind == "canary":
            provenance.update(stage=r.get("stage"), unit_id=r.get("unit_id"))
        out.examples.append(
            Example(
                case=r.get("case_id") or r.get("session_id") or e.event_id,
                messages=transcript,
                provenance=provenance,
                scores=result_scores,
                passed=r.get("success"),
                extra={"result": {k: v for k, v in r.items() if k != "transcript_blob"}},
            )
        )
    out.scorers = list(seen_scores)
    return out


# --------------------------------------------------------------------------- filters


def choose_scorer(c: Collected, scorer: str | None, needed_for: str | None) -> str | None:
    """The scorer filters read: ``scorer`` checked, else the only one; errors name the fix.

    ``needed_for`` is the option that needs scores (``--min-score``), or None.
    """
    what = f"{'eval run' if c.kind == 'eval' else 'A/B test' if c.kind == 'ab' else 'canary'} {c.name!r}"
    if scorer is not None:
        if scorer not in c.scorers:
            have = ", ".join(c.scorers) if c.scorers else "none"
            raise InvalidCommand(
                f"--scorer: {what} has no scores named {scorer!r} (its scores: {have})"
            )
        return scorer
    if needed_for is None:
        return None
    if not c.scorers:
        hint = (
            f"; score it with `trialbook eval rescore {c.name} --scorer SPEC`"
            if c.kind == "eval"
            else "; record results with --score or --metric"
        )
        raise InvalidCommand(f"{needed_for} needs scores, and {what} has none{hint}")
    if len(c.scorers) > 1:
        raise InvalidCommand(
            f"{needed_for}: {what} has several scores ({', '.join(c.scorers)}); name one with --scorer"
        )
    return c.scorers[0]


def keep(
    example: Example, *, scorer: str | None, min_score: float | None, passed_only: bool
) -> bool:
    """Whether ``example`` passes the filters: score ≥ ``min_score`` (exactly, on ``scorer``),
    and with ``passed_only`` passed (on ``scorer`` when named, else every scorer and, for a
    result, its success)."""
    if min_score is not None:
        assert scorer is not None
        score = example.scores.get(scorer, {}).get("score")
        if score is None or not score >= min_score:
            return False
    if passed_only:
        if scorer is not None:
            verdict = example.scores.get(scorer, {}).get("passed")
            return verdict is True or (verdict is None and example.passed is True)
        if example.provenance["source"] == "eval":
            votes = [s["passed"] for s in example.scores.values()]
            return bool(votes) and all(v is True for v in votes)
        return example.passed is True
    return True


# --------------------------------------------------------------------------- formats


def has_assistant(messages: Sequence[Mapping[str, Any]]) -> bool:
    return any(m.get("role") == "assistant" for m in messages)


def to_openai_chat(example: Example) -> dict[str, Any]:
    """OpenAI's chat fine-tuning line: exactly ``{"messages": [...]}`` (``developer`` is written
    as ``system``; tool calls and tool messages as the chat format has them)."""
    messages = []
    for m in example.messages:
        m = dict(m)
        if m["role"] == "developer":
            m["role"] = "system"
        if m.get("content") is None:
            m.pop("content", None)
        messages.append(m)
    return {"messages": messages}


def _tool_arguments(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _tags(example: Example) -> dict[str, str]:
    """Provenance as TensorZero tags (string to string): ``trialbook.KEY``."""
    tags = {}
    for key, value in example.provenance.items():
        if value is None:
            continue
        if isinstance(value, str):
            tags[f"trialbook.{key}"] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            tags[f"trialbook.{key}"] = str(value)  # what json.dumps writes, faster
        else:
            tags[f"trialbook.{key}"] = json.dumps(value, sort_keys=True)
    if example.scores:
        tags["trialbook.scores"] = json.dumps(example.scores, sort_keys=True)
    if example.split is not None:
        tags["trialbook.split"] = example.split
    return tags


def to_tensorzero(example: Example, function_name: str) -> dict[str, Any]:
    """A TensorZero chat datapoint: ``{function_name, input: {system?, messages}, output?, tags}``.

    System (and developer) messages become ``input.system``; user and assistant
    messages content blocks (``text``, ``tool_call``); a tool message a user message
    holding a ``tool_result`` block; the final assistant message is the ``output``.
    """
    messages = list(example.messages)
    final = messages.pop() if messages and messages[-1].get("role") == "assistant" else None
    names: dict[str, str] = {}
    system = [m["content"] for m in messages if m["role"] in ("system", "developer")]
    out_messages: list[dict[str, Any]] = []
    for m in messages:
        role = m["role"]
        if role in ("system", "developer"):
            continue
        if role == "tool":
            out_messages.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "id": m["tool_call_id"],
                            "name": names.get(m["tool_call_id"], m.get("name") or ""),
                            "result": m.get("content") or "",
                        }
                    ],
                }
            )
            continue
        blocks: list[dict[str, Any]] = []
        if m.get("content"):
            blocks.append({"type": "text", "text": m["content"]})
        for call in m.get("tool_calls") or ():
            names[call["id"]] = call["function"]["name"]
            blocks.append(
                {
                    "type": "tool_call",
                    "id": call["id"],
                    "name": call["function"]["name"],
                    "arguments": call["function"]["arguments"],
                }
            )
        out_messages.append({"role": role, "content": blocks})
    record: dict[str, Any] = {"function_name": function_name, "input": {"messages": out_messages}}
    if system:
        record["input"]["system"] = "\n\n".join(system)
    if final is not None:
        output: list[dict[str, Any]] = []
        if final.get("content"):
            output.append({"type": "text", "text": final["content"]})
        for call in final.get("tool_calls") or ():
            output.append(
                {
                    "type": "tool_call",
                    "id": call["id"],
                    "name": call["function"]["name"],
                    "arguments": _tool_arguments(call["function"]["arguments"]),
                }
            )
        record["output"] = output
    record["tags"] = _tags(example)
    return record


def to_record(example: Example) -> dict[str, Any]:
    """trialbook's own record (``--format jsonl``): messages, provenance, scores, split and the raw parts."""
    return {
        "schema_version": RECORD_SCHEMA_VERSION,
        "messages": example.messages,
        "split": example.split,
        "provenance": example.provenance,
        "scores": example.scores,
        "passed": example.passed,
        **example.extra,
    }


# --------------------------------------------------------------------------- the export


def split_path(output: Path, split: str) -> Path:
    """``data.jsonl`` and split ``train`` → ``data.train.jsonl``."""
    return output.with_name(f"{output.stem}.{split}{output.suffix}")


def provenance_path(path: Path) -> Path:
    """The provenance file of an ``openai-chat`` file: ``data.jsonl`` → ``data.provenance.jsonl``."""
    return path.with_name(f"{path.stem}.provenance{path.suffix or '.jsonl'}")


def _check_output(output: Path, ledger: Ledger) -> None:
    if output.is_dir():
        raise InvalidCommand(f"--output: {output} is a directory; name a file")
    if not output.parent.is_dir():
        raise InvalidCommand(f"--output: directory {output.parent} does not exist; create it first")
    from trialbook.store.sqlite import SQLiteEventStore  # PostgreSQL's path is a name, no file

    store = ledger.store  # SQLite: writing over its file destroyed the log
    if isinstance(store, SQLiteEventStore) and store.path != ":memory:":
        db = Path(store.path).resolve()
        files = {db, *(db.with_name(db.name + end) for end in ("-wal", "-shm", "-journal"))}
        if output.resolve() in files:
            raise InvalidCommand(
                f"--output: {output} is the trialbook database (or its journal); name another file"
            )


def lines(rows: Iterable[dict[str, Any]]) -> str:
    """JSON lines: keys sorted, compact, UTF-8 kept (orjson when installed, as the store reads)."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a declared dependency
        return "".join(
            json.dumps(r, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
            for r in rows
        )
    option = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    return b"".join(orjson.dumps(r, option=option) for r in rows).decode("utf-8")


def _write_all(files: dict[Path, str]) -> None:
    """Write every file beside its path, then rename each into place; on error remove them all.

    A path that is not a regular file (``/dev/stdout``, a named pipe) is written to
    directly: renaming over it would replace the device or pipe with a file.
    """
    temps: list[tuple[Path, Path]] = []
    direct = {path: text for path, text in files.items() if path.exists() and not path.is_file()}
    try:
        for path, text in files.items():
            if path in direct:
                continue
            temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temp.write_text(text, encoding="utf-8")
            temps.append((temp, path))
        for path, text in direct.items():
            with path.open("w", encoding="utf-8") as f:
                f.write(text)
        for temp, path in temps:
            os.replace(temp, path)
    except OSError as e:
        for temp, _ in temps:
            temp.unlink(missing_ok=True)
        raise InvalidCommand(f"--output: cannot write {e.filename}: {e.strerror}") from None


def export_dataset(
    ledger: Ledger,
    source: str,
    *,
    format: str = "jsonl",  # noqa: A002 - the option's name
    output: str | os.PathLike[str] | None = None,
    min_score: float | None = None,
    passed_only: bool = False,
    scorer: str | None = None,
    split: str | Sequence[Split] | None = None,
    seed: int | None = None,
    function_name: str | None = None,
) -> dict[str, Any]:
    """Export the sessions of ``source`` (an eval run, A/B test or canary) as dataset records.

    Everything is checked before anything is written; nothing is appended to the
    log. Returns ``{source: {kind, name}, format, records: [{split, record,
    provenance, scores}], files: [{path, split, records}], skipped: {why: n},
    traces_not_chat: n}``;
    with ``output``, the records are also written there (one file per split).
    """
    if format not in FORMATS:
        raise InvalidCommand(
            f"--format: {format!r} is not a dataset format; use one of {', '.join(FORMATS)}"
        )
    if min_score is not None and (isinstance(min_score, bool) or not math.isfinite(min_score)):
        raise InvalidCommand(f"--min-score: {min_score!r} is not a finite number")
    if split is not None and not isinstance(split, str):  # Split objects: the same rules as text
        split = ",".join(f"{s.name}={s.share!r}" for s in split) or None
    splits = parse_split(split) if split is not None else ()
    if seed is not None and not splits:
        raise InvalidCommand("--seed chooses how cases fall into splits; give --split too")
    if function_name is not None and format != "tensorzero":
        raise InvalidCommand(
            f"--function names tensorzero datapoints; drop it, or give --format tensorzero (not {format})"
        )
    if function_name is not None and not function_name.strip():
        raise InvalidCommand("--function: the function name is empty; name the TensorZero function")
    out_path = Path(output).expanduser() if output is not None else None
    if out_path is not None:
        _check_output(out_path, ledger)
    kind, name = resolve_source(ledger, source)
    with no_cyclic_gc():
        return _export(
            ledger, kind, name, format, out_path, min_score, passed_only, scorer, splits, seed,
            function_name,
        )  # fmt: skip


def _export(
    ledger: Ledger,
    kind: str,
    name: str,
    format: str,  # noqa: A002 - the option's name
    out_path: Path | None,
    min_score: float | None,
    passed_only: bool,
    scorer: str | None,
    splits: Sequence[Split],
    seed: int | None,
    function_name: str | None,
) -> dict[str, Any]:
    collected = collect(ledger, kind, name)
    chosen = choose_scorer(collected, scorer, "--min-score" if min_score is not None else None)
    rows: list[dict[str, Any]] = []
    skipped = dict(collected.skipped)
    for ex in collected.examples:
        if not keep(ex, scorer=chosen, min_score=min_score, passed_only=passed_only):
            _skip(skipped, "filtered_out")
            continue
        if format == "openai-chat" and not has_assistant(ex.messages):
            _skip(skipped, "without_assistant_message")
            continue
        ex.split = split_of(seed or 0, ex.case, splits) if splits else None
        if format == "openai-chat":
            record = to_openai_chat(ex)
        elif format == "tensorzero":
            record = to_tensorzero(ex, function_name or collected.function)
        else:
            record = to_record(ex)
        rows.append(
            {"split": ex.split, "record": record, "provenance": ex.provenance, "scores": ex.scores}
        )
    files: list[dict[str, Any]] = []
    if out_path is not None:
        texts: dict[Path, str] = {}
        names: list[str | None] = [s.name for s in splits] or [None]
        for name_ in names:
            chosen_rows = [r for r in rows if r["split"] == name_]
            path = split_path(out_path, name_) if name_ is not None else out_path
            texts[path] = lines(r["record"] for r in chosen_rows)
            if format == "openai-chat":
                texts[provenance_path(path)] = lines(
                    {
                        "line": i,
                        "split": r["split"],
                        "provenance": r["provenance"],
                        "scores": r["scores"],
                    }
                    for i, r in enumerate(chosen_rows, start=1)
                )
            files.append({"path": str(path), "split": name_, "records": len(chosen_rows)})
        _write_all(texts)
    return {
        "source": {"kind": kind, "name": name},
        "format": format,
        "records": rows,
        "files": files,
        "skipped": skipped,
        "traces_not_chat": collected.traces_not_chat,
    }
