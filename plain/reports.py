"""Rules for what is written out for others: decision reports and datasets (#24, round 2).

``report ab|eval|canary NAME`` ("decision report for checkout-flow", "html report of
onboarding into onboarding.html", "report on candidate-0402 against baseline-0401") and
``export dataset RUN|TEST --format F`` ("export candidate-0402 as openai chat to
train.jsonl", "make a tensorzero dataset from checkout-flow, passed sessions only").

The kind of report comes from the kind of name (a run, a canary, a test, the focus);
the baseline of an eval report from the role words ``eval compare`` reads; a format
said in words or by the output file's extension is carried, never guessed: a
dataset with no format asks which.
"""

from __future__ import annotations

from trialbook.plain.ab_common import skip
from trialbook.plain.request import Request, resolve_test
from trialbook.plain.types import Translation, command, incomplete, refused
from trialbook.plain.words import EXPORT_WORDS, KNOWN, METRIC_NAMES, _w

#: "decision report", "a report on X", "html report"
_REPORT_NOUNS = _w("report reports write-up writeup packet")
_REPORT_BEFORE = _w("decision html markdown md json a an the eval ab canary experiment")
_REPORT_AFTER = _w("on of for about")
_POLITE = _w("please can could would you kindly just now let's lets i we want to")
#: a dataset's formats as said: "openai chat", "openai-chat", "tensorzero", "jsonl"
_DATASET_FORMATS = {
    "openai": "openai-chat",
    "openai-chat": "openai-chat",
    "tensorzero": "tensorzero",
    "jsonl": "jsonl",
}
_DATASET_WORDS = _w("dataset datasets datapoints fine-tuning finetuning fine-tune training")
_PASSED = _w("passed passing successful succeeded")
#: words that turn what follows around: never dropped, never guessed at
_NEGATING = _w("not never no without except excluding but n't")


def _negation(req: Request) -> Translation | None:
    """A refusal when the request holds a negation ("without html", "but not the failed ones")."""
    for t in req.tokens:
        if t.kind == "word" and t.norm in _NEGATING:
            return refused(
                req.text,
                f"the request says {t.text!r}, and I do not guess what it leaves out; say what "
                "to include, or type the command",
            )
    return None


def is_decision_report(req: Request) -> bool:
    """A "report" that is a noun for a decision report: "decision report for X", "report on X".

    "report" first is also the verb of a result ("report a warm result: 12 calls", "report
    for warm: success"): there it is a report only before a test, run or canary name, or
    before "on"/"of"/"about".
    """
    if req.seq({"latency", "cost"}, "budget") >= 0:
        return True  # "a ci check with a 50 s latency budget": what a decision report gates
    if req.seq("ci", {"check", "gate"}) >= 0 and not req.has(_w("regressions regression")):
        return True  # a gate on regressions is `eval compare --max-regressions` (no report's)
    first = next(
        (i for i, t in enumerate(req.tokens) if t.kind == "word" and t.norm not in _POLITE), -1
    )
    for i in req.indexes(_REPORT_NOUNS):
        if i == first:
            nxt = req.in_name.get(i + 1, [])
            if any(m.kind in ("test", "archived", "run", "canary") for m in nxt):
                return True
            if req.w(i + 1) in ("on", "of", "about", "ab", "eval", "canary"):
                return True
            after = req.in_name.get(i + 2, [])  # "report for candidate-0402 …"
            if req.w(i + 1) == "for" and any(
                m.kind in ("run", "canary", "test", "archived") for m in after
            ):
                return True
            continue
        if req.w(i - 1) in _REPORT_BEFORE or req.w(i + 1) in _REPORT_AFTER:
            return True
        before = req.in_name.get(i - 1, [])  # "the onboarding report", "router-v2's report"
        if any(m.kind in ("test", "archived", "run", "canary") for m in before):
            return True
    return False


def decision_report(req: Request) -> Translation:
    """``report eval RUN [--baseline RUN]``, ``report canary NAME`` or ``report ab NAME``."""
    from trialbook.plain.evals import _baseline_first, _RolesDisagree

    negated = _negation(req)
    if negated:
        return negated
    for i in req.indexes(_REPORT_NOUNS | {"decision"}):
        req.use(i)
    opts = _budgets(req)
    if isinstance(opts, Translation):
        return opts
    html = req.indexes({"html"})
    if html:
        req.use(*html)
        opts += ["--format", "html"]
    runs = req.names_of("run")
    canaries = req.names_of("canary")
    if runs and not canaries and not req.named("test", "archived"):
        for m in req.named("run"):
            req.use_match(m)
        if len(runs) > 2:
            return refused(req.text, "a report is on one run, against at most one baseline", runs)
        if len(runs) == 2:
            try:
                baseline, run = _baseline_first(req, runs[0], runs[1])
            except _RolesDisagree as e:  # the words and a name give the baseline to two runs
                return refused(
                    req.text,
                    f"which run is the baseline, {' or '.join(map(str, e.args[:2]))}? "
                    "say 'report on RUN against BASELINE'",
                )
            for i in req.indexes({"baseline", "vs", "versus", "compared"}):
                req.use(i)
            return command(req.text, ["report", "eval", run, "--baseline", baseline, *opts])
        return command(req.text, ["report", "eval", runs[0], *opts])
    if canaries and not runs:
        if len(canaries) > 1:
            return refused(req.text, f"which canary: {' or '.join(canaries)}?", canaries)
        for m in req.named("canary"):
            req.use_match(m)
        req.use(*req.indexes({"canary"}))  # "canary report for router-v2"
        return command(req.text, ["report", "canary", canaries[0], *opts])
    if runs or canaries:
        return refused(req.text, "a report is on one test, run or canary at a time")
    if req.focus in req.vocab.runs:
        return command(req.text, ["report", "eval", req.focus, *opts])
    if req.focus in req.vocab.canaries:
        return command(req.text, ["report", "canary", req.focus, *opts])
    if "canary" in req.words():  # "report on the canary": which one (never the only one)
        return incomplete(
            req.text, ["report", "canary"], ["NAME"], "which canary?", sorted(req.vocab.canaries)
        )
    test = resolve_test(req, ["report", "ab"], archived=True, single=False)
    if isinstance(test, Translation):
        return test
    return command(req.text, ["report", "ab", test, *opts])


def _budgets(req: Request) -> list[str] | Translation:
    """``--latency-budget S``, ``--cost-budget USD`` and ``--check`` of a decision report:
    "with a latency budget of 2s", "p95 latency under 3 seconds", "cost budget 3 cents",
    "as a gate"/"check it is ready to ship". A bare number is in the option's unit (seconds,
    dollars); another unit is refused."""
    from trialbook.plain.lex import fmt

    toks = req.tokens
    opts: list[str] = []
    for cue, unit, option in (
        ("latency", "s", "--latency-budget"),
        ("cost", "usd", "--cost-budget"),
    ):
        for i in req.indexes({cue}):
            b = i - 1  # "with a 50 s latency budget": the value said first
            if req.w(b) == "p95" and req.free(b) and cue == "latency":
                b -= 1  # "a 45 s p95 latency budget": the budget is on p95 latency (--help)
            if req.w(i + 1) == "budget" and b >= 0 and toks[b].kind == "num" and req.free(b):
                if toks[b].unit not in (unit, None):
                    return refused(
                        req.text,
                        f"a {cue} budget is in {'seconds' if unit == 's' else 'dollars'}: "
                        f"{toks[b].text!r} is not; say it with its unit",
                    )
                a = b - (req.w(b - 1) in ("a", "the"))
                a -= a < b and req.w(b - 2) in ("with", "within")  # never over another word
                req.use(*range(max(a, 0), i + 2))
                opts += [option, fmt(toks[b].value)]
                break
            a = i - (req.w(i - 1) in ("p95", "a", "the"))
            a -= a < i and req.w(i - 2) in ("a", "with")  # only over the word just before
            j = i + 1
            while req.w(j) in (
                "budget",
                "of",
                "under",
                "below",
                "at",
                "most",
                "max",
                "is",
                "within",
            ):
                j += 1
            if j == i + 1 or not (j < len(toks) and toks[j].kind == "num" and req.free(j)):
                continue
            if toks[j].unit not in (unit, None):  # bare: the option's unit (--help)
                return refused(
                    req.text,
                    f"a {cue} budget is in {'seconds' if unit == 's' else 'dollars'}: "
                    f"{toks[j].text!r} is not; say it with its unit",
                )
            req.use(*range(max(a, 0), j + 1))
            if req.w(j + 1) in ("per",) and req.w(j + 2) in ("result", "rollout", "session"):
                req.use(j + 1, j + 2)
            opts += [option, fmt(toks[j].value)]
            break
    gate = req.index({"gate", "check", "checked"})
    code = req.seq("exit", {"code", "status"})
    if code >= 0:  # "give me the exit code": what --check sets (1 unless ship)
        req.use(code, code + 1)
        gate = gate if gate >= 0 else code
    if gate < 0 and opts:
        # "is X ready to ship within a 45 s latency budget?": the budget is the report's answer
        k = req.seq({"ready", "fit", "ok"}, "to", "ship")
        if k >= 0 and req.is_question():
            req.use(k, k + 1, k + 2)
    if gate >= 0:
        req.use(gate)
        if req.w(gate - 1) == "ci":  # "a ci check"
            req.use(gate - 1)
        k = req.seq({"ready", "fit", "ok"}, "to", "ship")
        if k >= 0:
            req.use(k, k + 1, k + 2)
        for i in req.indexes({"ready", "shippable"}):  # "is router-v2 ready/shippable? …"
            if req.is_question() and req.free(i):
                req.use(i)
        k = req.seq("per", "the", {"report", "gate"})  # "is X shippable per the report?"
        if k >= 0:
            req.use(k, k + 1, k + 2)
        if req.seq("in", "check", "mode") == gate - 1 or req.w(gate + 1) == "mode":
            req.use(*[x for x in (gate - 1, gate + 1) if req.w(x) in ("in", "mode")])
        for i in req.indexes({"as", "a", "it", "is", "whether", "if"}):
            if i < gate + 3:
                req.use(i)
        opts.append("--check")
    return opts


def _ratio_split(req: Request, j: int) -> str:
    """ "split 90/10 train/val" (or "train/val 90/10"): two shares said as one N/M, in percent
    (summing to 100) or as shares (summing to 1), beside two split names; else ""."""
    from decimal import Decimal

    from trialbook.plain.lex import fmt

    toks = req.tokens
    for at, names_at in ((j, j + 1), (j + 3, j)):
        if not (0 <= at < len(toks)) or toks[at].kind != "frac" or not req.free(at):
            continue
        names, end = _slashed(req, names_at, "word")
        if len(names) != 2 or any(toks[n].norm not in _SPLIT_NAMES for n in names):
            continue
        a, b = toks[at].value, toks[at].value2
        scale = Decimal(100) if a + b == 100 else Decimal(1) if a + b == 1 else None
        if scale is None:
            continue
        req.use(at, *range(names_at, end))
        return ",".join(
            f"{toks[n].norm}={fmt(v / scale)}" for n, v in zip(names, (a, b), strict=True)
        )
    return ""


def is_dataset_export(req: Request) -> bool:
    """ "export X as openai chat", "make a tensorzero dataset from X", "fine-tuning data from X"."""
    ws = set(req.words())
    said_format = bool(ws & (set(_DATASET_FORMATS) - {"jsonl"}))
    source = any(m.kind in ("run", "test", "archived", "canary") for m in req.matches) or (
        req.focus is not None
        and bool({"it", "this", "its"} & ws)
        and (req.focus in req.vocab.runs or req.focus in req.vocab.tests)
    )
    if said_format and not source and any(m.kind == "suite" for m in req.matches):
        said_format = False  # "run regression on openai gpt-4o-mini": a suite runs on a target
    judge = ws & _w("judge judges grader")
    if said_format and judge and not ws & (_w("chat export dump") | _DATASET_WORDS):
        # "rescore X with the openai judge": the judge's provider, not a dataset format
        said_format = bool(ws & (set(_DATASET_FORMATS) - {"jsonl", "openai"}))
    verb = ws & _w("export make build write create")
    # "export X as jsonl", "dump X as jsonl", "train/val/test 0.8/0.1/0.1 of X, jsonl": a
    # dataset of X (the log's export has no format to say, and only a dataset is split)
    as_jsonl = "jsonl" in ws and bool(ws & (EXPORT_WORDS | _w("need want give"))) and source
    as_jsonl = as_jsonl or ("jsonl" in ws and source and _split_lists(req))
    named = bool(ws & _DATASET_WORDS and verb and (source or "export" in ws))
    if ws & _w("dataset datasets") and source:
        return True  # "dataset from onboarding": the dataset rule asks what it lacks
    if source and ws & _w("split splits") and ws & _SPLIT_NAMES:
        return True  # "train/test split 0.9/0.1 of X": only a dataset is split so
    if ws & _w("fine-tuning finetuning fine-tune training") and source:
        # "fine-tuning data from X", "training examples out of X as jsonl": what it is for
        # names the dataset, a verb or not (the dataset rule asks what it lacks)
        return bool(ws & (_w("data examples set records pairs") | set(_DATASET_FORMATS)))
    return said_format or as_jsonl or named


def _split(req: Request) -> list[str] | Translation:
    """``--split NAME=SHARE,…`` ("split train=0.9,val=0.1") and ``--seed N`` ("seed 7")."""
    from trialbook.plain.lex import fmt

    toks = req.tokens
    opts: list[str] = []
    for i in req.indexes({"split", "splits", "split into"}):
        j = i + 1
        while j in req.in_name:  # "split baseline-0401 into train 0.8 and test 0.2"
            j += 1
        j += req.w(j) in ("into", "as", "of")
        if (
            j < len(toks)
            and toks[j].kind in ("kv", "word", "path", "other")
            and "=" in toks[j].text
        ):
            end = j + 1
            text = toks[j].text
            while req.p(end) == "," and end + 1 < len(toks) and "=" in toks[end + 1].text:
                text += "," + toks[end + 1].text
                end += 2
            req.use(*range(i, end))
            opts += ["--split", text]
            break
        # "split train 0.9 val 0.1", "split train 0.8, test 0.2": NAME SHARE pairs after "split"
        pairs: list[str] = []
        k = j
        while (
            k + 1 < len(toks)
            and toks[k].kind == "word"
            and (
                toks[k].norm not in KNOWN | _w("seed seeds function format min minimum scorer")
                or toks[k].norm in ("train", "test", "val", "dev", "eval")
            )
            and toks[k + 1].kind == "num"
            and toks[k + 1].unit is None
            and req.free(k)
            and req.free(k + 1)
        ):
            pairs.append(f"{toks[k].norm}={fmt(toks[k + 1].value)}")
            k += 2
            if req.p(k) == "," or req.w(k) == "and":
                k += 1
        if len(pairs) >= 2:
            req.use(*range(i, k))
            opts += ["--split", ",".join(pairs)]
            break
        slashed = _slashed_split(req, i)
        if slashed:
            opts += ["--split", slashed]
            break
        ratio = _ratio_split(req, j)
        if ratio:
            req.use(i)
            opts += ["--split", ratio]
            break
    if not any(o == "--split" for o in opts):
        # "train/val/test 0.8/0.1/0.1" without the word "split": split names said as one
        # "/" list and their shares as another of the same length
        for j in range(len(toks)):
            if req.p(j - 1) == "/":
                continue
            names, end = _slashed(req, j, "word")
            if len(names) < 2 or any(toks[n].norm not in _SPLIT_NAMES for n in names):
                continue
            k = end + (req.w(end) in ("of", "as", "at"))
            shares, after = _slashed(req, k, "num")
            if len(shares) == len(names) and not any(toks[x].unit for x in shares):
                req.use(*range(j, after))
                opts += [
                    "--split",
                    ",".join(
                        f"{toks[n].norm}={fmt(toks[x].value)}"
                        for n, x in zip(names, shares, strict=True)
                    ),
                ]
                break
    for i in req.indexes({"seed"}):
        j = i + 1 + (req.w(i + 1) in ("of", "is") or req.p(i + 1) in ("=", ":"))
        if j < len(toks) and toks[j].is_int and req.free(j):
            a = i - (req.w(i - 1) in ("with", "a", "the"))
            a -= a < i and req.w(i - 2) == "with"  # only over the word just before
            req.use(*range(a, j + 1))
            opts += ["--seed", fmt(toks[j].value)]
            break
    return opts


def _slashed(req: Request, j: int, kind: str) -> tuple[list[int], int]:
    """Tokens of ``kind`` joined by "/" from ``j`` ("train/val/test", "0.8/0.1/0.1")."""
    got: list[int] = []
    k = j
    while k < len(req.tokens) and req.free(k) and req.tokens[k].kind == kind:
        got.append(k)
        if req.p(k + 1) != "/":
            break
        k += 2
    return got, (got[-1] + 1 if got else j)


def _slashed_split(req: Request, i: int) -> str | None:
    """ "train/val/test split 0.8/0.1/0.1", "split train/test 0.9/0.1": names and shares
    written as two lists of the same length, paired in order."""
    from trialbook.plain.lex import fmt

    for start in (i + 1, i - 1):
        # the names' list ends at "split" when said before it: step back over "a/b/c"
        a = start
        if start < i:
            while a - 2 >= 0 and req.p(a - 1) == "/" and req.tokens[a - 2].kind == "word":
                a -= 2
        names, end = _slashed(req, a, "word")
        if len(names) < 2 or any(req.tokens[n].norm in KNOWN - _SPLIT_NAMES for n in names):
            continue
        j = end if start > i else i + 1
        j += req.w(j) in ("of", "as", "at", "into")
        shares, after = _slashed(req, j, "num")
        if len(shares) != len(names) or any(req.tokens[x].unit for x in shares):
            continue
        req.use(*range(min(a, i), max(after, i + 1)))
        return ",".join(
            f"{req.tokens[n].norm}={fmt(req.tokens[x].value)}"
            for n, x in zip(names, shares, strict=True)
        )
    return None


_SPLIT_NAMES = _w("train test val dev eval")
#: what a dataset is made of, said beside it ("the transcripts of X", "X's rollouts as jsonl")
_CONTENT = _w(
    """file files data set records lines examples pairs transcripts transcript rollouts
    sessions conversations"""
)


def _split_lists(req: Request) -> bool:
    """Whether the request holds split names joined by "/" ("train/val/test")."""
    return any(
        len(names) >= 2 and all(req.tokens[n].norm in _SPLIT_NAMES for n in names)
        for names in (_slashed(req, j, "word")[0] for j in range(len(req.tokens)))
    )


def _min_score(req: Request) -> str | None:
    """``--min-score X``: "scoring at least 0.8", "a min score of 0.8", "score 0.8 or more"."""
    from trialbook.plain.lex import fmt

    toks = req.tokens
    for i in req.indexes({"score", "scores", "scoring", "scored"}):
        a = i - (req.w(i - 1) in ("min", "minimum", "with", "a"))
        a -= a < i and req.w(i - 2) in ("a", "with")  # only over the word just before
        j = i + 1
        ge = False
        while j < len(toks) and (
            req.w(j) in ("of", "at", "least", "above", "over") or toks[j].text in (">", "≥")
        ):
            if toks[j].text in (">", "≥"):  # "score >= 0.8", "score ≥ 0.8"
                ge = toks[j].text == "≥" or req.p(j + 1) == "="
                j += 1 + (req.p(j + 1) == "=")
                continue
            j += 1
        if j < len(toks) and toks[j].kind == "num" and toks[j].unit is None and req.free(j):
            b = j + 1
            if req.w(b) == "or" and req.w(b + 1) in ("more", "better", "higher", "above"):
                b += 2
            said_floor = (
                ge or b > j + 1 or any(req.w(k) in ("least", "min", "minimum") for k in range(a, j))
            )
            if not said_floor:
                continue  # "above 0.8" is more than, not at least: asked, not guessed
            req.use(*range(a, b))
            return fmt(toks[j].value)
    return None


def dataset(req: Request) -> Translation:
    """``export dataset RUN|TEST --format F [--passed-only] [--min-score X] [--scorer S]``."""
    negated = _negation(req)
    if negated:
        return negated
    sources = [m for m in req.matches if m.kind in ("run", "test", "archived", "canary")]
    names = list(dict.fromkeys(m.name for m in sources))
    if len(names) > 1:
        return refused(req.text, f"export one at a time: {' or '.join(names)}?", names)
    for m in sources:
        req.use_match(m)
    for i in req.indexes(_DATASET_WORDS | _w("export make build write create dataset")):
        req.use(i)
    source = names[0] if names else req.focus
    formats: list[str] = []
    for i, t in enumerate(req.tokens):
        # "jsonl" is read first as the generic --jsonl flag: here it is the format
        if t.kind == "word" and t.norm in _DATASET_FORMATS and (req.free(i) or t.norm == "jsonl"):
            formats.append(_DATASET_FORMATS[t.norm])
            req.use(i)
            if t.norm == "openai" and req.w(i + 1) in ("chat", "fine-tuning", "finetuning"):
                req.use(i + 1)
            if req.w(i - 1) == "plain" and req.free(i - 1):  # "as plain jsonl (records)"
                req.use(i - 1)
            if req.w(i + 1) in ("records", "lines", "rows") and req.free(i + 1):
                req.use(i + 1)
    formats = list(dict.fromkeys(formats))
    argv = ["export", "dataset", *([source] if source else [])]
    if len(formats) > 1:
        return refused(req.text, f"one format at a time: {' or '.join(formats)}?", formats)
    opts: list[str] = []
    k = req.seq(_PASSED, {"sessions", "results", "rollouts", "ones", "cases"}, "only")
    j = req.seq("only", _PASSED)
    short = req.seq(_PASSED, "only")
    if k >= 0:
        req.use(k, k + 1, k + 2)
        opts.append("--passed-only")
    elif short >= 0:  # "passed only"
        req.use(short, short + 1)
        opts.append("--passed-only")
    elif j >= 0:
        end = j + 2 + (req.w(j + 2) in ("sessions", "results", "rollouts", "ones", "cases"))
        req.use(*range(j, end))
        opts.append("--passed-only")
    elif req.index({"passed-only", "passed_only"}) >= 0:  # the option's own name
        req.use(req.index({"passed-only", "passed_only"}))
        opts.append("--passed-only")
    else:
        # "only the rollouts that passed", "only the ones which succeeded"
        m = req.seq("only", "the", {"rollouts", "ones", "cases", "results", "sessions"})
        w = m + 3 + (req.w(m + 3) in ("that", "which", "who"))
        if m >= 0 and req.w(w) in _PASSED and all(req.free(x) for x in range(m, w + 1)):
            req.use(*range(m, w + 1))
            opts.append("--passed-only")
    floor = _min_score(req)
    if floor:
        opts += ["--min-score", floor]
        for i in req.indexes({"only"}):  # "keeping only scores of at least 0.9": the floor
            if req.free(i) and req.w(i + 1) in ("scores", "score", "rollouts", "ones"):
                req.use(i, *([i - 1] if req.w(i - 1) in ("keeping", "keep", "with") else []))
    outcome = [
        t.text
        for i, t in enumerate(req.tokens)
        if req.free(i) and t.norm in _PASSED | _w("failed failing failures unsuccessful errored")
    ]
    if outcome:  # a filter said another way ("only failed ones"): asked, never dropped
        return incomplete(
            req.text,
            [*argv, *(["--format", formats[0]] if formats else []), *opts],
            [repr(outcome[0])],
            f"I read this much, but not what {outcome[0]!r} keeps; the filters are "
            "--passed-only and --min-score X",
        )
    split = _split(req)
    if isinstance(split, Translation):
        return split
    opts += split
    for i in req.indexes(_CONTENT):  # what the dataset holds: "X transcripts as jsonl"
        req.use(i)
    for i in req.indexes({"function", "function_name", "function-name"}):
        # tensorzero's function_name: "with function name route_query", "function: route_query"
        j = skip(req, i + 1, _w("name named called is"), ":=")
        if j < len(req.tokens) and req.free(j) and req.tokens[j].kind == "word":
            a = i - (req.w(i - 1) in ("with", "the", "a", "its", "for"))
            req.use(*range(a, j + 1))
            opts += ["--function", req.tokens[j].text]
            break
    scorers = req.names_of("scorer")
    for i in req.indexes({"scorer"}):
        # "scorer score", "scorer success": an A/B test's score or metric named as the scorer
        j = skip(req, i + 1, _w("is the"), ":=")
        if req.free(i) and req.free(j) and (req.w(j) == "score" or req.w(j) in METRIC_NAMES):
            req.use(*range(i, j + 1))
            scorers.append(req.w(j))
    ab_source = source in req.vocab.tests or source in req.vocab.archived
    if floor and not scorers and ab_source and {"score", "scores"} & set(req.words()):
        # "results with score at least 0.7" of an A/B test: the floor is on its score (an
        # A/B test's scorer is its score or a metric, `export dataset --help`); the word typed
        scorers.append("score")
    if len(scorers) > 1:
        return refused(req.text, f"filter on one scorer: {' or '.join(scorers)}?", scorers)
    if scorers:
        for m in req.named("scorer"):
            req.use_match(m)
        opts += ["--scorer", scorers[0]]
    if source is None:
        return incomplete(req.text, argv, ["RUN|TEST"], "export which run or test?")
    if not formats:
        return incomplete(
            req.text,
            argv,
            ["--format openai-chat|tensorzero|jsonl"],
            "which format: openai-chat, tensorzero or jsonl?",
            ["openai-chat", "tensorzero", "jsonl"],
        )
    return command(req.text, [*argv, "--format", formats[0], *opts])
