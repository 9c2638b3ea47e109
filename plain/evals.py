"""Rules for the ``eval`` commands: suites, runs, resume, show, compare, rescore."""

from __future__ import annotations

import re

from trialbook.domain.names import NAME_RE
from trialbook.plain import named
from trialbook.plain.ab_common import skip
from trialbook.plain.lex import Token, fmt, name_parts
from trialbook.plain.request import Request, number_refusal, suggest, unknown_refusal
from trialbook.plain.types import Translation, command, incomplete, refused
from trialbook.plain.words import (
    CONCURRENCY_WORDS,
    KNOWN,
    NEVER_VALUES,
    SCORER_WORDS,
    TARGET_CUES,
    _w,
)

_BE = frozenset({"is", "are", "of", "to", "at", "set", "with"})


def resolve(
    req: Request, kind: str, argv: list[str], *, single: bool = True, label: str = "", pick: int = 0
) -> str | Translation:
    """A suite or run named in the request (or in focus, or the only one), or why not."""
    pool = sorted(req.vocab.suites if kind == "suite" else req.vocab.runs)
    label = label or kind
    names = req.names_of(kind)
    if len(names) > 1 and pick == 0:
        return refused(req.text, f"which {label}: {' or '.join(names)}?", names)
    if names:
        for m in req.named(kind):
            req.use_match(m)
        return names[0]
    cue = req.index({kind, f"{kind}s"} | ({"eval", "evaluation"} if kind == "run" else {"cases"}))
    misspelt = req.close_names(pool)
    if misspelt:
        word, close = misspelt[0]
        return refused(
            req.text,
            f"there is no {label} named {word!r}; did you mean {' or '.join(close)}?",
            close,
        )
    if cue >= 0:
        j = skip(req, cue + 1, frozenset({"called", "named", "id"}), ":#")
        t = req.tokens[j] if j < len(req.tokens) else None
        if t is not None and req.free(j) and t.kind == "word" and t.norm not in KNOWN:
            return refused(req.text, f"there is no {label} named {t.text!r}", pool[:5])
    if req.focus and req.focus in pool:
        return req.focus
    if single and len(pool) == 1:
        return pool[0]
    if not pool:
        hint = (
            "register one with `eval suite add FILE`"
            if kind == "suite"
            else "start one with `eval run SUITE --target SPEC`"
        )
        return refused(req.text, f"there are no {label}s yet; {hint}")
    return incomplete(req.text, argv, [kind.upper()], f"which {label}?", pool)


#: what a suite's file is called ("add suite file x.jsonl"): never the suite's name
_FILE_NOUNS = _w("file files cases case yaml jsonl")


def suite_add(req: Request) -> Translation:
    path = next((i for i, t in enumerate(req.tokens) if t.kind == "path"), -1)
    from trialbook.plain.ab_common import note_text

    description, _ = note_text(req, frozenset({"description", "described", "desc"}))
    if description is None:
        k = req.seq("described", "as")
        if k >= 0 and k + 2 < len(req.tokens) and req.tokens[k + 2].kind == "quote":
            description = req.tokens[k + 2].text
            req.use(k, k + 1, k + 2)
    opts: list[str] = []
    for i in req.indexes({"called", "named", "as", "name", "call"}):
        j = skip(
            req,
            i + 1,
            frozenset({"the", "a", "suite", "is", "next", "new", "version", "of", "it"}),
            ":=",
        )
        if j >= len(req.tokens):
            continue
        t = req.tokens[j]
        if j in req.in_name and any(m.kind == "suite" for m in req.in_name[j]):
            m = next(m for m in req.in_name[j] if m.kind == "suite")
            opts = ["--name", m.name]
            req.use(*range(i, m.end))
            break
        if req.free(j) and t.kind in ("word", "quote") and t.norm not in KNOWN:
            opts = ["--name", t.norm]
            req.use(*range(i, j + 1))
            break
    for i in req.indexes({"suite"}) if not opts else []:
        # "add suite nightly from cases/n.yaml": a new name right after "suite", delimited by
        # a file, "from"/"in"/"with", a comma or the end
        j = i + 1
        if j >= len(req.tokens):
            continue
        t = req.tokens[j]
        ends = j + 1 >= len(req.tokens) or req.tokens[j + 1].kind == "path"
        ends = ends or req.w(j + 1) in ("from", "in", "with", "using") or req.p(j + 1) == ","
        never = KNOWN | _FILE_NOUNS | NEVER_VALUES  # "add suite hardly x.jsonl" is no name
        named = t.kind == "word" and t.norm not in never and NAME_RE.match(t.norm)
        if named and req.free(j) and ends:
            opts = ["--name", t.norm]
            req.use(i, j, *([j + 1] if req.w(j + 1) in ("from", "in", "using") else []))
            break
    if opts and description is None:
        # 'as a new suite called billing-qa, "refund questions from March"': a quoted text
        # right after the new name and a comma describes the suite
        after = [
            j
            for j, t in enumerate(req.tokens)
            if t.kind == "quote" and req.free(j) and req.p(j - 1) in (",", ":", "-")
            and j >= 2 and not req.free(j - 2)
        ]  # fmt: skip
        if len(after) == 1:
            description = req.tokens[after[0]].text
            req.use(after[0] - 1, after[0])
    for i in req.indexes({"updated", "changed", "edited", "rewrote"}):
        # "I updated regression.yaml — add it as …": why a version is added
        if req.free(i) and path >= 0 and i + 1 == path:
            req.use(*range(i - (req.w(i - 1) in ("i", "we") and req.free(i - 1)), i + 1))
    if not opts and req.named("suite"):
        # "a new version of smoke from cases/smoke-v2.yaml": the suite it adds a version to
        m = req.named("suite")[0]
        opts = ["--name", m.name]
        req.use_match(m)
        for i in req.indexes({"new", "next", "version", "of", "from", "to"}):
            req.use(i)
    if path < 0:
        return incomplete(
            req.text, ["eval", "suite", "add", *opts], ["FILE"], "which file? (JSONL or YAML cases)"
        )
    req.use(path)
    for i in req.indexes({"file", "cases"}):  # "add suite file x.jsonl"
        if abs(i - path) <= 2:
            req.use(i)
    refusal = number_refusal(req) or unknown_refusal(req)
    if refusal:
        return refusal
    if description:
        opts += ["--description", description]
    return command(req.text, ["eval", "suite", "add", req.tokens[path].text, *opts])


def suite_show(req: Request) -> Translation:
    version = _version(req)
    suite = resolve(req, "suite", ["eval", "suite", "show"])
    if isinstance(suite, Translation):
        return suite
    return command(req.text, ["eval", "suite", "show", suite, *version])


def run(req: Request) -> Translation:
    """``eval run SUITE --target SPEC [--epochs N] [--concurrency K] [--scorer S]…``."""
    toks = req.tokens
    for i in req.indexes({"ci"}):  # "ci run: smoke vs …", "a CI run of smoke": the run itself
        if req.w(i + 1) == "run" and req.free(i):
            req.use(i)
    opts: list[str] = _judge_repeats(req)  # first: "ask the judge 3 times" is not 3 epochs
    epochs = None
    for i, t in enumerate(toks):
        if not (req.free(i) and t.is_int):
            continue
        w1 = req.w(i + 1)
        if req.p(i - 1) in ("=", ":") and req.w(i - 2) in ("epochs", "epoch") and req.free(i - 2):
            epochs = (i - 2, i + 1)  # "epochs=3", "epochs: 3"
        elif req.p(i - 1) in ("=", ":"):
            continue  # "concurrency=4": another key's value
        elif w1 == "times" and any(req.w(x) in ("retry", "retries") for x in range(i - 3, i)):
            continue  # "retry up to 5 times": the retries, read below
        elif w1 in ("epoch", "epochs", "repeats", "repetitions", "passes", "times"):
            epochs = (i, i + 2)
        elif req.w(i - 1) in ("epochs", "epoch", "repeat") and req.free(i - 1):
            epochs = (i - 1, i + 1 + (w1 == "times"))
        if epochs:
            start = epochs[0] - (req.w(epochs[0] - 1) in ("repeat", "for", "with"))
            req.use(*range(start, epochs[1]))
            opts += ["--epochs", fmt(t.value)]  # type: ignore[arg-type]
            break
    for i, t in enumerate(toks):
        if not (req.free(i) and t.is_int):
            continue
        if req.p(i - 1) in ("=", ":") and req.w(i - 2) not in ("concurrency", "parallelism"):
            continue  # "epochs=3 concurrency=4": 3 is the epochs' value
        w1 = req.w(i + 1)
        span = None
        if w1 in CONCURRENCY_WORDS or (
            w1 == "at" and req.w(i + 2) == "a" and req.w(i + 3) == "time"
        ):
            span = (i, i + (4 if w1 == "at" else 2))
            if w1 == "in" and req.w(i + 2) == "parallel":
                span = (i, i + 3)
        elif w1 == "in" and req.w(i + 2) == "parallel":
            span = (i, i + 3)
        elif req.w(i - 1) in ("concurrency", "parallelism", "workers") and req.free(i - 1):
            span = (i - 1, i + 1)
        elif req.p(i - 1) in (":", "=") and req.w(i - 2) in ("concurrency", "parallelism"):
            span = (i - 2, i + 1)
        if span:
            req.use(*range(span[0], span[1]))
            for k in (span[1], span[1] + 1):
                if req.w(k) in ("requests", "calls", "workers", "concurrent", "parallel"):
                    req.use(k)
            opts += ["--concurrency", fmt(t.value)]  # type: ignore[arg-type]
            break
    if "--epochs" in opts and opts[opts.index("--epochs") + 1] == "0":
        return refused(req.text, "a run needs at least 1 epoch (each case is run that many times)")
    if any(
        t.kind == "num" and t.value == 0 and req.w(i + 1) in ("epochs", "epoch")
        for i, t in enumerate(toks)
    ):
        return refused(req.text, "a run needs at least 1 epoch (each case is run that many times)")
    extra = _run_extras(req)
    if isinstance(extra, Translation):
        return extra
    opts += extra
    opts += _version(req)
    scorer_names = scorer_specs(req)
    # the gate first: its words ("the target's mean score is under 0.7") are not scorer names
    gate = fail_under(req, scorer_names)
    for i in req.indexes(SCORER_WORDS):
        b = i - 1
        if (
            req.free(b)
            and toks[b].kind == "word"
            and toks[b].norm not in KNOWN
            and req.w(i) in ("scorer", "judge", "grader")
        ):
            close = suggest(toks[b].norm, req.vocab.scorers)
            return refused(
                req.text,
                f"there is no scorer named {toks[b].text!r}",
                close or sorted(req.vocab.scorers),
            )
        j = skip(req, i + 1, frozenset({"by", "with", "the", "using", "is"}), ":=")
        after = toks[j] if j < len(toks) else None
        if after is not None and req.free(j) and after.kind == "word" and after.norm not in KNOWN:
            close = suggest(after.norm, req.vocab.scorers)
            return refused(
                req.text,
                f"there is no scorer named {after.text!r}"
                + (f"; did you mean {' or '.join(close)}?" if close else ""),
                close or sorted(req.vocab.scorers),
            )
        req.use(i)
    opts += gate
    target = next((i for i, t in enumerate(toks) if t.kind in ("url", "spec")), -1)
    command_said = -1
    for i in req.indexes({"command", "cmd"}):
        # 'against the command "python agent.py"': a command target said by its kind word
        j = i + 1
        if target < 0 and j < len(toks) and toks[j].kind == "quote" and req.free(i) and req.free(j):
            req.use(i)
            target = command_said = j
            break
    if target < 0:
        # "against gpt-4o-mini through openai": the provider said after its model (openai:MODEL)
        for i in req.indexes({"openai"}):
            j = i - 2
            if (
                j >= 0
                and req.w(i - 1) in ("through", "via", "on", "with", "at")
                and req.free(i)
                and req.free(j)
                and req.free(i - 1)
                and toks[j].kind == "word"
                and any(c.isdigit() for c in toks[j].text)
                and j not in req.in_name
            ):
                req.use(i - 1, i)
                target = j
                break
    if target < 0:
        # "on openai gpt-4o-mini": the provider said as a word before its model (openai:MODEL)
        for i in req.indexes({"openai"}):
            j = i + 1
            if (
                j < len(toks)
                and req.free(i)
                and req.free(j)
                and toks[j].kind == "word"
                and any(c.isdigit() for c in toks[j].text)
                and toks[j].start == toks[i].end + 1
            ):
                req.use(i)
                target = j
                break
    suite = resolve(req, "suite", ["eval", "run"])
    if isinstance(suite, Translation) and suite.status == "incomplete" and "--config" in opts:
        suite = ""  # "run the config in nightly.toml": the config names the suite (--help)
    if isinstance(suite, Translation):
        return suite
    argv = ["eval", "run", *([suite] if suite else [])]
    scorer_opts = [x for name in scorer_names for x in ("--scorer", name)]
    if target < 0 and "--config" in opts:
        refusal = number_refusal(req) or unknown_refusal(req)
        return refusal or command(req.text, [*argv, *opts, *scorer_opts])
    if target < 0:
        cue = next((i for i in req.indexes(TARGET_CUES) if req.free(i)), -1)
        hint = ""
        if cue >= 0 and cue + 1 < len(toks) and toks[cue + 1].kind == "word" and req.free(cue + 1):
            hint = f" ({toks[cue + 1].text!r} is not a target spec)"
        return incomplete(
            req.text,
            [*argv, *opts, *scorer_opts],
            ["--target SPEC"],
            f"which target? e.g. http://127.0.0.1:8000/task or openai:MODEL{hint}",
        )
    req.use(target, *[i for i in req.indexes(TARGET_CUES) if i < target])
    key_env = (
        _key_env(req)
        if toks[target].text.startswith("openai:") or toks[target].kind == "word"
        else None
    )
    refusal = number_refusal(req)
    if refusal:
        return refusal
    refusal = unknown_refusal(req)
    if refusal:
        return refusal
    spec = toks[target].text
    if target == command_said:
        spec = f"command:{spec}"
    elif toks[target].kind == "word":
        spec = f"openai:{spec}"
    if spec.startswith("openai:") and ";" not in spec and key_env is not None:
        spec = f"{spec};api_key_env={key_env}"  # "with key env TOGETHER_KEY"
    return command(req.text, [*argv, "--target", spec, *opts, *scorer_opts])


_ENV_VAR = re.compile(r"\$?([A-Z][A-Z0-9_]*)")


def _key_env(req: Request) -> str | None:
    """The environment variable an OpenAI-compatible target's key is in: "with key env
    TOGETHER_KEY", "api key in $OPENROUTER_KEY", "key from env var GROQ_KEY" (the name as typed,
    in capitals): the target's ``;api_key_env=VAR``."""
    toks = req.tokens
    for k in req.indexes({"key"}):
        j = k + 1
        while req.w(j) in ("env", "environment", "var", "variable", "in", "from", "is", "at"):
            j += 1
        if j < len(toks) and toks[j].text == "$" and j + 1 < len(toks):
            j += toks[j + 1].start == toks[j].end  # "$OPENAI_KEY": the sign, then the name
        if j == k + 1 or j >= len(toks) or not req.free(j):
            continue
        m = _ENV_VAR.fullmatch(req.text[toks[j].start : toks[j].end])
        if m is None:
            continue
        a = k - (req.w(k - 1) == "api")
        a -= req.w(a - 1) in ("with", "the", "its", "and") and a > 0
        req.use(*range(a, j + 1))
        return m.group(1)
    return None


def _run_extras(req: Request) -> list[str] | Translation:
    """The options of ``eval run`` besides target, epochs and concurrency: ``--budget``
    ("a $5 budget", "budget of $5", "spend at most $5"), ``--name`` ("call the run X",
    "name it X"), ``--config`` ("the config run.toml"), ``--retries`` ("2 retries"),
    ``--seed`` ("seed 7")."""
    toks = req.tokens
    opts: list[str] = _budget(req)
    for i in req.indexes({"call", "name", "named", "called"}):
        j = skip(req, i + 1, frozenset({"the", "run", "it", "as"}))
        if j < len(toks) and toks[j].kind in ("word", "quote") and req.free(j):
            if toks[j].norm in KNOWN:
                continue
            req.use(*range(i, j + 1))
            if req.w(i - 1) == "and":
                req.use(i - 1)
            opts += ["--name", toks[j].text]
            break
    for i in req.indexes({"config", "configuration"}):
        path = next((k for k in range(i + 1, min(i + 3, len(toks))) if toks[k].kind == "path"), -1)
        if path >= 0 and req.free(path):
            # "the config in run.toml": the word between is filler, or it stays unread
            req.use(i, path, *[k for k in range(i + 1, path) if req.w(k) in _CONFIG_FILL])
            b = i - (req.w(i - 1) in ("synth", "synthetic", "run", "eval") and req.free(i - 1))
            req.use(b)  # "the synth config synth_eval.toml": which kind of config it is
            if req.w(b - 1) == "the" and req.w(b - 2) in ("using", "with", "from"):
                req.use(b - 1, b - 2)
            opts += ["--config", toks[path].text]
    for i, t in enumerate(toks):
        if not (t.is_int and req.free(i)):
            continue
        if req.w(i + 1) in ("retries", "retry", "retry-attempts"):
            req.use(i, i + 1)
            opts += ["--retries", fmt(t.value)]
        elif (
            req.w(i + 1) == "times"
            and req.w(i - 1) in ("to", "retry", "max", "most")
            and "retry" in req.words()[: len([x for x in toks[:i] if x.kind == "word"])]
        ):
            # "retry up to 5 times (on flaky errors)": a rollout's retries
            k = max(x for x in req.indexes({"retry"}) if x < i)
            if all(req.free(x) or x == k for x in range(k, i)):
                e = i + 2
                if req.w(e) == "on" and req.w(e + 2) in ("errors", "failures", "timeouts"):
                    e += 3 if req.w(e + 1) in ("flaky", "transient", "network") else 0
                req.use(*range(k, e))
                opts += ["--retries", fmt(t.value)]
        elif req.w(i - 1) in ("retries",) and req.free(i - 1):
            req.use(i - 1, i)
            opts += ["--retries", fmt(t.value)]
        elif req.w(i - 1) == "seed" and req.free(i - 1):
            req.use(i - 1, i)
            opts += ["--seed", fmt(t.value)]
    timeout = named.near(req, {"timeout", "timeouts"}, named.seconds)
    if timeout is not None:
        for i in req.indexes({"per", "each"}):  # "a 45s timeout per request"
            if req.w(i + 1) in ("request", "call", "case", "rollout") and req.free(i + 1):
                req.use(i, i + 1)
        opts += ["--timeout", fmt(timeout.value)]
    price = _price(req)
    if isinstance(price, Translation):
        return price
    opts += price
    opts += _gates(req)
    opts += run_files(req)
    return opts


def _junit(req: Request) -> list[str]:
    """``--junit FILE``: "junit to evals.xml", "write junit xml into ci/out.xml"."""
    toks = req.tokens
    for i in req.indexes({"junit"}):
        j = skip(req, i + 1, _w("xml report file results to into in at as"))
        if j < len(toks) and req.free(j) and toks[j].text.lower().endswith(".xml"):
            a = i - (req.w(i - 1) in ("write", "writing", "with", "and", "a", "the"))
            req.use(*range(a, j + 1))
            return ["--junit", toks[j].text]
    return []


#: the seeds a synth config runs: "0-49", "0,3,7", "0-9,20"
_SEEDS = re.compile(r"\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*")


def run_files(req: Request) -> list[str]:
    """``eval run`` options said by their own name: ``--junit FILE`` ("junit to evals.xml",
    "write junit xml into ci/out.xml"), ``--config FILE`` (a ``.toml`` run config: "from
    synth_eval.toml"), ``--seeds LIST`` ("over seeds 0-49", "seeds 0,3,7"), ``--cache``
    ("with the cache on", "cached") and ``--cache-ttl D`` ("ttl 12h", with the cache said)."""
    toks = req.tokens
    opts: list[str] = []
    opts += _junit(req)
    for i, t in enumerate(toks):
        if t.kind == "path" and req.free(i) and t.text.lower().endswith(".toml"):
            a = i - (req.w(i - 1) in ("from", "using", "with", "in", "per", "by"))
            if req.w(a - 1) in ("the", "config") and req.free(a - 1):
                a -= 1
            req.use(*range(a, i + 1))
            opts += ["--config", t.text]
            break
    for i in req.indexes({"seeds"}):
        j = i + 1 + (req.w(i + 1) in ("of", "from"))
        e = j
        while (
            e + 2 < len(toks)
            and req.p(e + 1) == ","
            and re.fullmatch(r"\d+(?:-\d+)?", toks[e + 2].text)
        ):
            e += 2  # "seeds 0,3,7" is lexed as numbers between commas ("…, cache on" ends it)
        said = req.text[toks[j].start : toks[e].end] if j < len(toks) else ""
        if j < len(toks) and all(req.free(x) for x in range(j, e + 1)) and _SEEDS.fullmatch(said):
            a = i - (req.w(i - 1) in ("over", "for", "on", "with", "across", "the"))
            req.use(*range(a, e + 1))
            opts += ["--seeds", said]
            break
    off = -1
    offs: tuple[tuple[str, ...], ...] = (
        ("no", "cache"),
        ("without", "the", "cache"),
        ("without", "cache"),
    )
    for words in offs:
        k = req.seq(*words)
        if k >= 0 and all(req.free(x) for x in range(k, k + len(words))):
            off = k
            req.use(*range(k, k + len(words)))
            break
    k = req.seq("cache", {"off", "disabled"})
    if off < 0 and k >= 0 and req.free(k) and req.free(k + 1):
        off = k
        a = k - (req.w(k - 1) == "the")
        a -= req.w(a - 1) in ("with", "and")
        req.use(*range(a, k + 2))
    cache = -1
    aged: list[str] = []
    k = req.seq({"cached", "stored"}, {"answers", "responses", "outputs", "replies"})
    k2 = req.seq("cache", {"answers", "responses", "outputs", "replies"})  # "cache answers"
    k = k if k >= 0 else k2
    if off < 0 and k >= 0 and req.free(k) and req.free(k + 1):
        # "using cached answers (no older than 12h)": the cache, and its age limit
        a = k - (req.w(k - 1) in ("using", "with", "reuse", "reusing", "from") and req.free(k - 1))
        req.use(*range(a, k + 2))
        cache = k
        n = k + 2
        if req.w(n) == "but" and req.w(n + 1) == "not" and req.w(n + 2) == "older":
            req.use(n)  # "cache answers but not older than 12h"
            n += 1
        if req.w(n) in ("no", "not") and req.w(n + 1) == "older" and req.w(n + 2) == "than":
            ttl = toks[n + 3] if n + 3 < len(toks) and req.free(n + 3) else None
            if ttl is not None and (
                (ttl.kind == "num" and ttl.unit == "s") or re.fullmatch(r"\d+[dw]", ttl.text)
            ):
                req.use(*range(n, n + 4))
                opts += ["--cache", "--cache-ttl", ttl.text.replace(" ", "")]
                return opts + _allow_all_failed(req)
        if req.w(n) == "older" and req.w(n + 1) == "than" and req.w(a - 1) in _IGNORE:
            # "(with the cache,) ignore cached answers older than 12h": the age limit
            ttl = toks[n + 2] if n + 2 < len(toks) and req.free(n + 2) else None
            if ttl is not None and _is_ttl(ttl):
                req.use(a - 1, *range(n, n + 3))
                aged = ["--cache-ttl", ttl.text.replace(" ", "")]
    for words in (
        ("cache", "on"),
        ("cache", "enabled"),
        ("cache",),
        ("cached",),
        ("caching",),
    ):
        k = req.seq(*words)
        if off < 0 and k >= 0 and all(req.free(x) for x in range(k, k + len(words))):
            a = k - (req.w(k - 1) in ("the", "a"))
            a -= req.w(a - 1) in ("with", "use", "using", "and")
            req.use(*range(a, k + len(words)))
            cache = k
            break
    if off >= 0:
        opts.append("--no-cache")  # "no cache", "with the cache off"
    if cache >= 0:
        opts.append("--cache")
        if aged:
            return opts + aged + _allow_all_failed(req)
        for i in req.indexes({"ttl"}):
            j = skip(req, i + 1, _w("of is at"), ":=")
            if j >= len(toks) or not req.free(j):  # "with a 12h ttl": the age said before it
                j = i - 1
                if j >= 0 and req.w(j - 1) in ("a", "an") and req.free(j - 1):
                    req.use(j - 1, *([j - 2] if req.w(j - 2) == "with" else []))
            ttl = toks[j] if 0 <= j < len(toks) and req.free(j) else None
            if ttl is not None and (
                (ttl.kind == "num" and ttl.unit == "s") or re.fullmatch(r"\d+[dw]", ttl.text)
            ):  # "12h", "30m", "1d", "2w" (the CLI's durations)
                req.use(*range(min(i, j), max(i, j) + 1))
                opts += ["--cache-ttl", ttl.text.replace(" ", "")]
                break
    return opts + _allow_all_failed(req)


#: verbs that keep stored answers out ("ignore cached answers older than 12h")
_IGNORE = _w("ignore ignoring skip skipping drop dropping discard discarding")


def _is_ttl(t: Token) -> bool:
    """A duration ``--cache-ttl`` takes: "12h", "30m", "1d", "2w"."""
    return (t.kind == "num" and t.unit == "s") or re.fullmatch(r"\d+[dw]", t.text) is not None


def _allow_all_failed(req: Request) -> list[str]:
    """``--allow-all-failed``: "allow all rollouts to fail", "allow every rollout to fail", or
    the exit it changes ("don't exit 3 when everything fails")."""
    k = req.seq("allow", {"all", "every"})
    if k >= 0:
        e = k + 2 + (req.w(k + 2) in ("rollouts", "rollout", "of"))
        e += req.w(e) == "them"
        if req.w(e) == "to" and req.w(e + 1) in ("fail", "error"):
            req.use(*range(k, e + 2))
            return ["--allow-all-failed"]
    span = _all_failed_exit(req)
    if span is not None:
        req.use(*span)
        return ["--allow-all-failed"]
    return []


#: what "every rollout failed" is said as after "if"/"when"
_EVERY_FAILED = (
    ("everything", {"fails", "failed", "fail"}),
    ("every", {"rollout"}, {"fails", "failed"}),
    ("all", {"rollouts"}, {"fail", "failed"}),
    ("all", {"fail", "failed"}),
)


def _all_failed_exit(req: Request) -> range | None:
    """``--allow-all-failed`` said as the exit it changes: "don't exit 3 when everything fails",
    "never exit 3 if all rollouts fail", "exit 0 even if every rollout failed"."""
    for k in req.indexes({"exit"}):
        if not req.free(k) or k + 1 >= len(req.tokens):
            continue
        code = req.tokens[k + 1].text
        a = k
        if code == "3" and req.w(k - 1) == "never":
            a = k - 1
        elif code == "3" and req.w(k - 1) == "not" and req.w(k - 2) in ("do", "does"):
            a = k - 2
        elif code != "0":
            continue
        j = k + 2 + (req.w(k + 2) == "even")
        if req.w(j) not in ("if", "when", "though"):
            continue
        j += 1
        for words in _EVERY_FAILED:
            if all(req.w(j + n) in (w if isinstance(w, set) else {w}) for n, w in enumerate(words)):
                end = j + len(words)
                if all(req.free(x) for x in range(a, end)):
                    return range(a, end)
    return None


_CONFIG_FILL = _w("file in at from is of")
#: "pricing m=0.15/0.6", "price gpt-4o-mini at 0.15/0.6": USD per million input/output tokens
_PRICE_WORDS = _w("price prices pricing priced cost costs rate rates")


def _price(req: Request) -> list[str] | Translation:
    """``--price MODEL=IN/OUT`` from "pricing gpt-4o-mini=0.15/0.6" (a key=IN/OUT after a price
    word); a price said another way is asked about, never guessed."""
    opts: list[str] = []
    for i, t in enumerate(req.tokens):
        if t.kind != "kv" or not req.free(i):
            continue
        key, _, value = t.text.partition("=")
        a, slash, b = value.partition("/")
        numeric = all(x.replace(".", "", 1).isdigit() for x in (a, b) if x)
        k = i - 1
        while k >= 0 and req.w(k) in ("at", "of", "the", "with", "using"):
            k -= 1
        if req.w(k) in _PRICE_WORDS and req.free(k) and slash and a and b and numeric:
            req.use(*range(k, i + 1))
            if req.w(k - 1) in ("with", "using", "and") and req.free(k - 1):
                req.use(k - 1)
            opts += ["--price", t.text]
    toks = req.tokens
    for k in req.indexes(_PRICE_WORDS):
        # "price gpt-4o at 2.5 in / 10 out per million tokens": USD per million in and out
        j = k + 1
        if not (
            req.free(k) and j + 6 < len(toks) and toks[j].kind == "word" and req.w(j + 1) == "at"
        ):
            continue
        x, y = toks[j + 2], toks[j + 5]
        split = req.p(j + 4) == "/" or req.w(j + 4) == "and"
        if not (
            x.kind == "num" and y.kind == "num" and x.unit in (None, "usd") and y.unit in (None, "usd")
            and req.w(j + 3) in ("in", "input") and split and req.w(j + 6) in ("out", "output")
        ):  # fmt: skip
            continue
        end = j + 7
        if req.w(end) == "per" and req.w(end + 1) in ("million", "1m", "m"):
            end += 2 + (req.w(end + 2) in ("tokens", "token"))
        req.use(*range(k, end))
        opts += ["--price", f"{toks[j].text}={x.text.lstrip('$')}/{y.text.lstrip('$')}"]
    return opts


def _gates(req: Request) -> list[str]:
    """``--max-failed N`` ("fail if more than 3 rollouts failed", "at most 3 failures") and
    ``--fail-under SCORER=RATE`` ("fail under exact=0.8")."""
    opts: list[str] = []
    for i, t in enumerate(req.tokens):
        if not (t.is_int and req.free(i)):
            continue
        nouns = (
            "failures",
            "failure",
            "failed",
            "failed-rollouts",
            "rollouts",
            "errors",
            "errored",
        )
        # "fail if more than 1 rollout still errors out", "… 2 rollouts still fail"
        e = i + 1 + (req.w(i + 1) in ("rollout", "rollouts", "case", "cases"))
        e += req.w(e) == "still"
        if (
            (e > i + 1 or req.w(e) in ("fail", "fails"))  # "fail if more than 2 fail"
            and req.w(i - 1) == "than"
            and req.w(e) in ("errors", "error", "fails", "fail", "errored", "failed")
            and all(
                req.free(x)
                or req.w(x) in ("rollout", "rollouts", "case", "cases", "failed", "fail")
                for x in range(i - 1, e + 1)
            )
        ):
            end = e + 1 + (req.w(e + 1) == "out")
            a = i - 1
            while req.w(a - 1) in ("more", "if", "fail", "exit", "and") and req.free(a - 1):
                a -= 1
            req.use(*range(a, end))
            opts += ["--max-failed", fmt(t.value)]
            continue
        # "max failed 0", "max-failed 2", "maximum failures: 3": the option's own words
        k = i - 1 - (req.p(i - 1) in (":", "="))
        if req.w(k) == "max-failed" or (
            req.w(k) in ("failed", "failures", "fails") and req.w(k - 1) in ("max", "maximum")
        ):
            a = k - (req.w(k) != "max-failed")
            if all(req.free(x) for x in range(a, i)):
                req.use(*range(a, i + 1))
                opts += ["--max-failed", fmt(t.value)]
                continue
        # "at most 2 may fail", "no more than 3 rollouts can fail"
        e = i + 1 + (req.w(i + 1) in ("rollouts", "rollout", "cases"))
        if (
            req.w(i - 1) in ("than", "most", "max", "maximum")
            and req.w(e) in ("may", "can")
            and req.w(e + 1) in ("fail", "error")
            and all(req.free(x) for x in range(i - 1, e + 2))
        ):
            a = i - 1
            while req.w(a - 1) in ("more", "at", "no", "than") and req.free(a - 1):
                a -= 1
            req.use(*range(a, e + 2))
            opts += ["--max-failed", fmt(t.value)]
            continue
        if req.w(i + 1) in nouns and req.w(i - 1) in ("than", "most", "max", "maximum"):
            a = i - 1
            while req.w(a - 1) in (
                "more",
                "at",
                "if",
                "fail",
                "exit",
                "there",
                "are",
                "is",
                "than",
                "allow",
                "allowing",
            ):
                a -= 1
            b = i + 2
            while req.w(b) in ("rollouts", "failed", "fail"):
                b += 1
            req.use(*range(a, b))
            opts += ["--max-failed", fmt(t.value)]
    return opts


#: words that say the gate's comparison: "under 90%", "below 0.8", "less than 85%"
_UNDER = _w("under below beneath lower less")
#: words that may stand between "fail" and the comparison ("fail if its pass rate drops under")
_GATE_FILL = _w(
    "if when whenever it its the a pass passes passing rate score scores scored is are falls "
    "fall drops drop goes go gets get comes come ends end up on for of than exit with code 1 "
    "run suite"
)


def fail_under(req: Request, scorers: list[str]) -> list[str]:
    """``--fail-under SCORER=RATE`` said in words: "fail if it's under 90%", "fail when the
    exact pass rate drops below 0.8", "exit 1 if equals passes less than 85%". The scorer is
    the one named inside the phrase, else the only scorer of the request (two, or none, and
    the phrase stays unread: asked about). A rate is a percentage or a share up to 1."""
    toks = req.tokens
    for k in req.indexes(_FAIL_CUES):
        if not req.free(k):
            continue
        inside, _, j = _gate_scan(req, k, scorers, means=False)
        if req.w(j) not in _UNDER or not req.free(j):
            continue
        v = j + 1 + (req.w(j + 1) == "than")
        if v < len(toks) and toks[v].kind == "kv" and req.free(v) and not inside:
            # "fail under equals=0.9": the option's own SCORER=RATE after its words, as
            # `eval run --fail-under` reads it (ledger.eval_gates)
            from trialbook.domain.errors import InvalidCommand
            from trialbook.ledger.eval_gates import parse_fail_under

            spec = toks[v].text.lower()
            try:
                gate = parse_fail_under(spec)
            except InvalidCommand:
                continue
            if gate.scorer in req.vocab.scorers | set(scorers):
                req.use(*range(k, v + 1))
                return ["--fail-under", spec]
        if v >= len(toks) or toks[v].kind != "num" or not req.free(v) or toks[v].value is None:
            continue
        rate = _rate(toks[v])
        if rate is None:
            continue
        names = list(dict.fromkeys(inside)) or (scorers if len(scorers) == 1 else [])
        if len(names) != 1:
            continue
        req.use(*range(k, v + 1))
        return ["--fail-under", f"{names[0]}={rate}"]
    return _mean_under(req, scorers) or _must_pass(req, scorers)


#: words that say a gate's statistic is the mean score ("the target's mean score is under 0.7")
_MEAN = _w("mean average avg")
#: the words a CI gate is said with ("fail if …", "exit 1 when …")
_FAIL_CUES = _w("fail exit error fails failing")


def _gate_scan(
    req: Request, k: int, scorers: list[str], *, means: bool
) -> tuple[list[str], bool, int]:
    """Read a gate's phrase from its cue at ``k`` up to the comparison ("under", "below"): the
    scorers named inside it, whether it is about the mean (with ``means``: a mean word, and
    "target" as a name), and where it stopped. Only filler words may stand between."""
    toks = req.tokens
    inside: list[str] = []
    mean = False
    j = k + 1
    while j < len(toks) and j - k <= (12 if means else 10) and req.w(j) not in _UNDER:
        named_here = [m for m in req.in_name.get(j, []) if m.kind == "scorer"]
        if named_here:
            inside.append(named_here[0].name)
            j = named_here[0].end
            continue
        if toks[j].kind == "scorer" and toks[j].text in scorers:
            inside.append(toks[j].text)  # a scorer spec run too ("judge:openai")
        elif means and req.w(j) == "target" and req.free(j):
            inside.append("target")
        elif means and req.w(j) in _MEAN and req.free(j):
            mean = True
        elif not (
            (toks[j].kind == "num" and toks[j].is_int and req.w(j - 1) == "exit")  # "exit 1 if"
            or (req.free(j) and req.w(j) in _GATE_FILL)
        ):
            break
        j += 1
    return inside, mean, j


def _mean_under(req: Request, scorers: list[str]) -> list[str]:
    """``--fail-under SCORER:mean=V`` said in words: "fail if the target's mean score is under
    0.7", "exit 1 when judge's average drops below 3.5". The scorer is named in the phrase
    (``target``, the target's own score, is a name here as in ``--help``) or is the request's
    only scorer; V is the number as typed (a mean is on the scorer's own scale)."""
    toks = req.tokens
    for k in req.indexes(_FAIL_CUES):
        if not req.free(k):
            continue
        inside, mean, j = _gate_scan(req, k, scorers, means=True)
        v = j + 1 + (req.w(j + 1) == "than")
        if not mean or req.w(j) not in _UNDER or v >= len(toks) or not req.free(v):
            continue
        t = toks[v]
        if t.kind != "num" or t.unit is not None or t.value is None:
            continue
        names = list(dict.fromkeys(_as_specs(inside, scorers))) or (
            scorers if len(scorers) == 1 else []
        )
        if len(names) != 1:
            continue
        req.use(*range(k, v + 1))
        return ["--fail-under", f"{names[0]}:mean={fmt(t.value)}"]
    return []


def _as_specs(names: list[str], scorers: list[str]) -> list[str]:
    """A scorer named in a gate by its kind ("the judge's mean") is the request's one scorer
    of that kind ("judge:openai"), when there is exactly one."""
    out = []
    for n in names:
        specs = [s for s in scorers if s.startswith(f"{n}:")]
        out.append(specs[0] if n not in scorers and len(specs) == 1 else n)
    return out


#: "equals must pass 90%", "exact has to pass at least 0.8", "contains should score 85%"
_MUST = _w("must should has have needs need")
_PASS = _w("pass score reach hit")


def _must_pass(req: Request, scorers: list[str]) -> list[str]:
    """``--fail-under SCORER=RATE`` said as what a scorer must reach: "scorer equals must pass
    90%", "exact has to pass at least 0.8". The scorer is named right before "must"."""
    toks = req.tokens
    for i in req.indexes(_MUST):
        if not req.free(i):
            continue
        before = [m for m in req.in_name.get(i - 1, []) if m.kind == "scorer"]
        if before:
            name = before[0].name
        elif i > 0 and toks[i - 1].kind == "scorer" and toks[i - 1].text in scorers:
            name = toks[i - 1].text
        else:
            continue
        j = i + 1 + (req.w(i + 1) == "to")
        if req.w(j) not in _PASS or not req.free(j):
            continue
        j += 1
        if req.w(j) == "at" and req.w(j + 1) == "least":
            j += 2
        if j >= len(toks) or not req.free(j) or toks[j].kind != "num" or toks[j].value is None:
            continue
        rate = _rate(toks[j])
        if rate is None:
            continue
        req.use(*range(i, j + 1))
        return ["--fail-under", f"{name}={rate}"]
    return []


def _rate(t: Token) -> str | None:
    """A pass rate as ``--fail-under`` takes it: a percentage up to 100 or a share up to 1."""
    if t.value is None:
        return None
    if t.unit == "%" and 0 < t.value <= 100:
        return f"{fmt(t.value)}%"
    if t.unit is None and 0 < t.value <= 1:
        return fmt(t.value)
    return None


#: what a run that stopped did ("candidate-0402 crashed"): the reason it is resumed
_STOPPED = _w("crashed died stalled stopped broke hung froze aborted interrupted")
#: how far or when a run that stopped got ("died halfway", "crashed overnight")
_STOP_HOW = _w("halfway midway partway overnight again early")
#: words between a run's name and what it did ("the X run has just crashed")
_RUN_NOUN_AUX = _w("run eval evaluation has had just was got")


def resume(req: Request) -> Translation:
    """``eval resume RUN [--budget USD]`` (``--concurrency`` is read for every command)."""
    budget = _budget(req)
    r = resolve(req, "run", ["eval", "resume"], single=False, label="run")
    if isinstance(r, Translation):
        return r
    # "candidate-0402 crashed, pick it up again", "the run died halfway, resume X": why it is
    # resumed, said of the run by its name or by "the run"/"it"
    starts = [m.end for m in req.named("run")]
    starts += [i for i in req.indexes({"run", "eval", "evaluation", "it"}) if req.free(i)]
    for start in starts:
        k = start  # past "run", "has", "just" ("the X run just crashed")
        while req.w(k) in _RUN_NOUN_AUX and req.free(k):
            k += 1
        if req.w(k) in _STOPPED and req.free(k):
            end = k + 1
            while req.w(end) in _STOP_HOW and req.free(end):
                end += 1
                end += req.w(end) == "through" and req.w(end - 1) in (
                    "halfway",
                    "midway",
                    "partway",
                )
            req.use(*range(start, end))
    for i in req.indexes({"pick", "picking"}):
        if req.w(i + 1) == "it" and req.w(i + 2) == "up" and req.w(i + 3) == "again":
            req.use(i + 3)
    k = req.seq("where", {"it", "we"}, "left", "off")  # "pick it up where it left off"
    if k >= 0:
        req.use(*range(k - (req.w(k - 1) == "from"), k + 4))
    # "my laptop died halfway through X": why it stopped, said of what ran it
    k = req.seq({"my", "the", "our"}, _w("laptop machine vm box server process connection runner"))
    if k >= 0 and req.w(k + 2) in _STOPPED:
        e = k + 3
        while req.w(e) in _STOP_HOW | _w("through during in while"):
            e += 1
        if all(req.free(x) for x in range(k, e)):
            req.use(*range(k, e))
    gates = _run_gates(req)
    refusal = number_refusal(req)
    return refusal or command(req.text, ["eval", "resume", r, *budget, *gates])


def _run_gates(req: Request) -> list[str]:
    """The CI gates a command that finishes a run takes (``eval resume``, ``eval retry-failed``,
    as ``eval run``): ``--max-failed N`` and ``--fail-under SCORER=RATE`` with the scorer named
    in the phrase ("fail if exact drops under 0.9"); a gate naming no scorer stays unread."""
    return _gates(req) + fail_under(req, []) + _junit(req) + _allow_all_failed(req)


def _budget(req: Request) -> list[str]:
    """``--budget USD`` from "a $5 budget", "budget of $5", "spend at most $5"."""
    t = named.near(req, {"budget"}, named.dollars)
    if t is None:
        # "spend at most $5", "stop once we've spent 2 dollars", "halt when we spend $3"
        for k in req.indexes({"spend", "spending", "spent"}):
            j = skip(req, k + 1, _w("at most max maximum up to no more than"))
            if not req.free(k) or j >= len(req.tokens) or not req.free(j):
                continue
            v = req.tokens[j]
            if not named.money(v):
                continue
            a = k
            while req.w(a - 1) in ("we", "i", "it", "have", "has", "to", "and") and req.free(a - 1):
                a -= 1
            if req.w(a - 1) in ("once", "when", "after", "if") and req.free(a - 1):
                a -= 1
                a -= req.w(a - 1) in ("stop", "halt", "quit") and req.free(a - 1)
            req.use(*range(a, j + 1))
            t = v
            break
    if t is None:
        # "stop at $5", "halt after 2 dollars": money where a run stops is its budget
        for k in req.indexes({"stop", "halt"}):
            j = k + 1 + (req.w(k + 1) in ("at", "after", "once", "past"))
            v = req.tokens[j] if j < len(req.tokens) and j > k + 1 else None
            if v is not None and named.money(v) and req.free(j) and req.free(k):
                req.use(*range(k, j + 1))
                t = v
                break
    return [] if t is None else ["--budget", fmt(t.value)]


def show(req: Request) -> Translation:
    """``eval show RUN [--case ID] [--all-verdicts]``: "how did run good do on case add-3"."""
    r = resolve(req, "run", ["eval", "show"], single=False)
    if isinstance(r, Translation):
        return r
    opts: list[str] = []
    for i in req.indexes({"case", "cases"}):
        j = skip(req, i + 1, frozenset({"id", "called", "named"}), ":=#")
        if j < len(req.tokens) and req.free(j) and req.tokens[j].kind in ("word", "num", "quote"):
            req.use(*range(i, j + 1))
            if req.w(i - 1) in ("on", "for", "of", "in"):
                req.use(i - 1)
            opts += ["--case", req.tokens[j].text]
            break
    for i in req.indexes({"synth", "synth-ai"}):
        # "the synth columns", "columns synth", "in the synth layout": --columns synth
        j = i + 1 if req.w(i + 1) in ("columns", "column", "layout", "view", "table") else i - 1
        if req.free(i) and req.w(j) in ("columns", "column", "layout", "view", "table"):
            a, b = min(i, j), max(i, j)
            a -= req.w(a - 1) in ("the", "with", "in", "as")
            req.use(*range(a, b + 1))
            opts += ["--columns", "synth"]
            break
    if (
        req.index({"plot", "chart", "graph", "draw", "histogram", "histograms"}, names_too=True)
        >= 0
    ):
        for i in req.indexes({"score", "scores", "latency", "latencies", "and"}):
            if req.w(i) != "and" or req.w(i - 1) in ("score", "scores"):
                req.use(i)  # "plot its scores (and latencies)": what `eval show --plot` draws
    # "with the judge's reasons": what eval show prints beside each verdict
    k = req.seq(
        "with",
        "the",
        {"judge", "judges", "grader", "scorer"},
        {"reasons", "reasoning", "explanations"},
    )
    if k >= 0:
        req.use(k, k + 1, k + 3)
    k = req.seq({"every", "all"}, {"verdict", "verdicts"})
    if k >= 0:
        req.use(k, k + 1)
        for i in req.indexes({"including", "replaced", "superseded", "old", "ones", "too"}):
            req.use(i)
        for i in req.indexes({"even"}):  # "every verdict, even the replaced ones"
            if req.w(i + 1) in ("the", "replaced", "superseded", "old"):
                req.use(i, *([i + 1] if req.w(i + 1) == "the" else []))
        opts.append("--all-verdicts")
    return command(req.text, ["eval", "show", r, *opts])


def _glued_path(req: Request) -> tuple[int, int, str] | None:
    """A relative path typed after "into"/"to"/"in" as words and slashes with no space between
    ("out/jan-run", "out/"): its token span (the cue included) and its text."""
    toks = req.tokens
    for i in req.indexes({"into", "to", "in", "under"}):
        a = i + 1
        b = a
        while b < len(toks) and (b == a or toks[b].start == toks[b - 1].end):
            if toks[b].kind not in ("word", "punct", "num") or not req.free(b):
                break
            b += 1
        text = req.text[toks[a].start : toks[b - 1].end] if b > a else ""
        if "/" in text and text[-1] != "/" and text[0] != "/" and toks[a].kind == "word":
            return i, b, text
        if text.count("/") == 1 and text.endswith("/") and len(text) > 1 and toks[a].kind == "word":
            return i, b, text  # "into out/": a directory, said with its slash
    return None


def _version(req: Request) -> list[str]:
    """``--version N`` from "version 2 of smoke" or "smoke v2" (a separate word after the suite's
    name; "smoke-v2" is a name)."""
    for i in req.indexes({"version"}):
        j = i + 1 + (req.p(i + 1) in (":", "=", "#"))
        if j < len(req.tokens) and req.tokens[j].is_int and req.free(j):
            req.use(i, j)
            if req.w(j + 1) == "of":
                req.use(j + 1)
            return ["--version", fmt(req.tokens[j].value)]
    for m in req.named("suite"):
        # "regression v1 cases": a separate "vN" after a suite's name is its version (a name
        # has no spaces, so "smoke-v2" or "smoke_v2" stays a name)
        j = m.end
        if (
            j < len(req.tokens)
            and req.tokens[j].kind == "word"
            and re.fullmatch(r"v\d+", req.tokens[j].norm)
            and req.tokens[j].start > req.tokens[j - 1].end
            and req.free(j)
        ):
            req.use(j)
            return ["--version", str(int(req.tokens[j].norm[1:]))]
    return []


def compare(req: Request) -> Translation:
    names = req.names_of("run")
    for m in req.named("run"):
        req.use_match(m)
    k = req.seq({"stack", "stacks", "measure", "measures"}, "up")  # "how does X stack up against Y"
    if k >= 0 and req.w(k + 2) in ("against", "to", "vs", "with"):
        req.use(k, k + 1)
    if (
        len(names) == 1
        and req.focus is not None
        and req.focus in req.vocab.runs
        and req.focus != names[0]
    ):
        names = [req.focus, names[0]]
    if len(names) > 2:
        return refused(req.text, f"compare two runs at a time, not {len(names)}", names)
    if len(names) < 2:
        misspelt = req.close_names(req.vocab.runs)
        if misspelt:
            word, close = misspelt[0]
            return refused(
                req.text,
                f"there is no run named {word!r}; did you mean {' or '.join(close)}?",
                close,
            )
        return incomplete(
            req.text,
            ["eval", "compare", *names],
            ["RUN_A RUN_B"[len(names) * 6 :]],
            "compare which two runs?",
            sorted(req.vocab.runs),
        )
    try:
        a, b = _baseline_first(req, names[0], names[1])
    except _RolesDisagree as e:
        named, other, word = e.args
        return incomplete(
            req.text,
            ["eval", "compare"],
            ["RUN_A RUN_B"],
            f"which run is the baseline? {named} is named so, but {word!r} puts {other} in "
            f"that place: `eval compare BASELINE CANDIDATE`",
            [f"eval compare {named} {other}", f"eval compare {other} {named}"],
        )
    opts = _compare_options(req)
    if isinstance(opts, Translation):
        return opts
    for k in range(1, len(req.tokens) - 1):  # "compare the two runs A and B": the two named
        t = req.tokens[k]
        two = t.norm == "two" and t.spelled and req.free(k)
        if two and req.w(k - 1) in ("the", "both", "these") and req.w(k + 1) in ("runs", "evals"):
            req.use(k - 1, k, k + 1)
    bound = req.has({"most", "max", "maximum", "than", "allow", "tolerate"})
    if bound and any(req.free(i) for i in req.indexes({"regressions", "regression"})):
        return incomplete(  # "at most regressions": the limit has no number
            req.text,
            ["eval", "compare", a, b, *opts],
            ["--max-regressions N"],
            "how many regressions at most? e.g. 'at most 2 regressions'",
        )
    if any(o in opts for o in ("--max-regressions", "--fail-on")):
        for i in req.indexes({"gate", "check"}):  # "CI gate: fail if …": what those options are
            req.use(i, *([i - 1] if req.w(i - 1) == "ci" else []))
    gate = [i for i in req.indexes({"fail", "fails", "exit", "exits"}) if req.free(i)]
    if gate:  # "fail on keep control": a gate no rule read is asked about, never dropped
        return incomplete(
            req.text,
            ["eval", "compare", a, b, *opts],
            [repr(req.tokens[gate[0]].text)],
            f"I read this much, but not the gate {req.tokens[gate[0]].text!r} asks for: "
            "--max-regressions N or --fail-on DECISION (keep_control, no_difference, …)",
        )
    return command(req.text, ["eval", "compare", a, b, *opts])


#: words that put the run after them in the baseline's place: "X against Y", "X over Y"
_BASELINE_AFTER = _w("against over to relative than")
#: words that name the run after them the candidate ("baseline X vs candidate Y")
_CANDIDATE_ROLE = _w("candidate treatment challenger")
#: name pieces that say a run is the reference ("baseline-0401", "prod-run")
_BASELINE_PIECES = _w("baseline base control reference ref prod production old")


def _baseline_first(req: Request, first: str, second: str) -> tuple[str, str]:
    """The two runs as ``eval compare`` wants them: RUN_A the baseline, RUN_B the candidate.

    Roles come from the words, in order: the word "baseline" (or "reference") right
    before a run ("B vs baseline A"); a word that puts the run after it in the
    baseline's place ("A against B", "compared to", "over", "relative to", "better
    than"); a run whose name says it is the reference (``baseline-0401``); and
    otherwise the order typed ("compare A with B", "A vs B").
    """
    spans = {m.name: m for m in req.named("run")}
    if first not in spans or second not in spans:
        # one of them is the run in focus ("it"): the named one is the baseline when the words
        # or its name say so ("break it down against baseline-0401"), else the focus is
        named = first if first in spans else second
        focus = second if named == first else first
        m = spans.get(named)
        before = req.w(m.start - 1) if m else ""
        if m and (
            before in _BASELINE_AFTER | {"baseline", "reference"}
            or set(name_parts(named)) & _BASELINE_PIECES
            and not set(name_parts(focus)) & _BASELINE_PIECES
        ):
            if before in _BASELINE_AFTER:
                req.use(m.start - 1)
            return named, focus
        return focus, named
    for name, other in ((first, second), (second, first)):
        m = spans[name]
        if req.w(m.start - 1) in ("baseline", "reference") or (
            req.w(m.start - 1) == "the" and req.w(m.start - 2) in ("baseline", "reference")
        ):
            if req.w(spans[other].start - 1) in _CANDIDATE_ROLE:
                req.use(spans[other].start - 1)  # "baseline X vs candidate Y": both roles said
            return name, other
        # "X as the baseline", "X is the reference": the role said after the run
        j = m.end + 1 + (req.w(m.end + 1) in ("the", "a", "our"))
        if req.w(m.end) in ("as", "is") and req.w(j) in ("baseline", "reference", "base"):
            if set(name_parts(other)) & _BASELINE_PIECES and not (
                set(name_parts(name)) & _BASELINE_PIECES
            ):
                raise _RolesDisagree(other, name, f"{req.w(m.end)} the {req.w(j)}")
            req.use(*range(m.end, j + 1))
            return name, other
    for name, other in ((first, second), (second, first)):
        # "candidate Y vs X", "X vs the candidate Y": the other run is the baseline
        k = spans[name].start - 1
        k -= req.w(k) == "the"
        if req.w(k) in _CANDIDATE_ROLE and req.free(k):
            req.use(*range(k, spans[name].start))
            return other, name
    late = second if spans[second].start > spans[first].start else first
    early = first if late == second else second
    between = range(spans[early].end, spans[late].start)
    roles = [n for n in (first, second) if set(name_parts(n)) & _BASELINE_PIECES]
    if req.w(spans[early].start - 1) == "from" and [req.w(i) for i in between] in (
        ["to"],
        ["into"],
        ["on", "to"],
    ):
        # "going from A to B", "from A on to B": a change from the baseline A to the candidate B
        if roles == [late]:
            raise _RolesDisagree(late, early, "from")
        req.use(spans[early].start - 1, *between)
        return early, late
    if any(req.w(i) in _BASELINE_AFTER for i in between) and roles == [early]:
        # "compare baseline-0401 against candidate-0402": the words make the second run the
        # baseline, its name the first; which is meant is asked (the order decides the verdict)
        word = next(req.w(i) for i in between if req.w(i) in _BASELINE_AFTER)
        raise _RolesDisagree(early, late, word)
    if any(req.w(i) in _BASELINE_AFTER for i in between):
        for i in between:
            if req.w(i) in _BASELINE_AFTER:
                req.use(i)
        return late, early
    if len(roles) == 1:
        return roles[0], second if roles[0] == first else first
    return first, second


class _RolesDisagree(Exception):
    """The words and a run's name give the baseline's role to different runs."""


#: the case metadata `eval compare --by KEY` names without the ``metadata.`` prefix
_BY_KEYS = _w("category difficulty model")
#: words that say a breakdown before "by"/"per": "broken down by", "split by", "segmented by"
_BREAKDOWN = _w("down split segment segmented segments grouped group breakdown")


def _compare_by(req: Request) -> list[str] | Translation:
    """``--by KEY``: "broken down by difficulty", "per category", "break … down by model",
    "split by metadata.lang". A key outside category/difficulty/model is carried only when a
    breakdown word says so ("split by lang" is ``--by metadata.lang``)."""
    toks = req.tokens
    for i in req.indexes({"by", "per"}):
        j = i + 1
        if j >= len(toks) or not req.free(j) or toks[j].kind not in ("word", "kv", "path"):
            continue
        key = toks[j].text
        broken = req.seq({"break", "broken", "breaking"}, "down")
        said = req.w(i - 1) in _BREAKDOWN or broken >= 0
        if key.lower() in _BY_KEYS:
            value = key.lower()
        elif key.lower().startswith("metadata.") and len(key) > len("metadata."):
            value = key
        elif said and toks[j].kind == "word" and key.lower() not in KNOWN | NEVER_VALUES:
            value = f"metadata.{key}"
        else:
            continue
        req.use(i, j)
        if said:
            if req.w(i - 1) in _BREAKDOWN:
                req.use(i - 1)
            if broken >= 0:
                req.use(broken, broken + 1)
            k = req.index({"break", "broken", "breaking", "split", "splitting"})
            if k >= 0:
                req.use(k)
        return ["--by", value]
    return []


def _compare_options(req: Request) -> list[str] | Translation:
    """``--scorer S`` ("on the exact scorer", "on contains") and ``--into-ab NAME``."""
    opts: list[str] = []
    scorers = req.names_of("scorer")
    if len(scorers) > 1:
        return refused(req.text, f"compare on one scorer at a time: {' or '.join(scorers)}?")
    if scorers:
        opts += ["--scorer", scorers[0]]
        for m in req.named("scorer"):
            req.use_match(m)
    by = _compare_by(req)
    if isinstance(by, Translation):
        return by
    opts += by
    opts += _max_regressions(req)
    opts += _fail_on(req)
    k = req.index({"into", "feed", "create", "put"})
    if k >= 0 and (req.named("test") or req.index({"a/b", "ab", "test", "experiment"}) >= 0):
        tests = req.names_of("test")
        called = req.index({"called", "named"})
        name = ""
        if tests:
            name = tests[0]
            for m in req.named("test"):
                req.use_match(m)
        elif called >= 0 and called + 1 < len(req.tokens) and req.tokens[called + 1].kind == "word":
            name = req.tokens[called + 1].norm
            req.use(called, called + 1)
        else:  # "into an ab test model-swap": a new name right after the test noun
            noun = req.index({"a/b", "ab", "test", "experiment"}, k)
            noun += req.w(noun) in ("a/b", "ab") and req.w(noun + 1) in ("test", "experiment")
            nxt = noun + 1
            if (
                noun > k
                and nxt < len(req.tokens)
                and req.free(nxt)
                and req.tokens[nxt].kind == "word"
                and req.tokens[nxt].norm not in KNOWN
                and NAME_RE.fullmatch(req.tokens[nxt].norm)
                and (nxt == len(req.tokens) - 1 or req.p(nxt + 1) in (",", ".", ";"))
            ):
                name = req.tokens[nxt].norm
                req.use(nxt)
        if not name:
            return refused(
                req.text, "feed the pairs into which A/B test? say 'into an A/B test called NAME'"
            )
        req.use(k)
        opts += ["--into-ab", name]
        for i in req.indexes({"pairs", "paired", "rollouts", "a/b", "ab", "test", "experiment"}):
            req.use(i)
    return opts


#: what a count of regressions may be said to be after it ("zero regressions allowed")
_ALLOWED = _w("allowed tolerated permitted")


def _max_regressions(req: Request) -> list[str]:
    """``--max-regressions N``: "fail if there are more than 2 regressions", "at most 2
    regressions", "max regressions 2", "allow 2 regressions"."""
    if not req.has(
        {"than", "most", "max", "maximum", "allow", "allowed", "allowing", "tolerate", "over"}
        | _ALLOWED
    ):
        return []  # "2 regressions" alone is not a limit: left unread, asked about
    t = named.near(
        req,
        {"regressions", "regression", "regressed"},
        named.count,
        fill=named.FILL | _w("than more allow allowed allowing tolerate"),
    )
    if t is None:
        t = _bound_apart(req)
    if t is None:
        # "at most 1 regression": the word is also the suite "regression", read here as a count
        for i in req.indexes({"regression"}, names_too=True):
            if (
                i in req.in_name
                and i not in req.used
                and i > 0
                and named.count(req.tokens[i - 1])
                and req.free(i - 1)
                and (
                    req.w(i - 2) in ("than", "most", "max", "maximum", "allow", "tolerate")
                    or req.w(i + 1) in _ALLOWED  # "1 regression allowed"
                )
            ):
                t = req.tokens[i - 1]
                if req.w(i + 1) in _ALLOWED:  # the bound is said after it: "1 regression allowed"
                    req.use(i - 1, i, i + 1)
                    break
                a = i - 2
                while req.w(a - 1) in ("at", "more", "if", "fail", "exit") and req.free(a - 1):
                    a -= 1
                req.use(*range(a, i + 1))
                break
    if t is None:
        return []
    for i in req.indexes({"fail", "exit", "error", "if", "there", "are", "more", "than", "allow"}):
        req.use(i)
    for i in req.indexes(_ALLOWED):
        if not req.free(i - 1):  # "zero regressions allowed"
            req.use(i)
    for i in req.indexes({"pairs", "cases"}):
        req.use(i)
    return ["--max-regressions", fmt(t.value)]


#: the recommendations `eval compare --fail-on` can gate on, and the words that say them
_DECISIONS = {
    "keep_control": "keep_control",
    "no_difference": "no_difference",
    "continue": "continue",
    "blocked": "blocked",
    "ship": "ship",
}


def _fail_on(req: Request) -> list[str]:
    """``--fail-on DECISION``: "fail on keep_control", "exit 1 if it says keep_control", "…
    or on no_difference": the recommendation named by its own name after a fail cue."""
    if not req.has({"fail", "exit", "error", "fails"}):
        return []
    found: list[str] = []
    for i, t in enumerate(req.tokens):
        if t.kind == "word" and req.free(i) and t.norm in _DECISIONS and "_" in t.norm:
            found.append(_DECISIONS[t.norm])
            a = i
            while req.w(a - 1) in _w("on or if it says recommends is the recommendation") and (
                req.free(a - 1)
            ):
                a -= 1
            req.use(*range(a, i + 1))
    if not found:
        return []
    for i, t in enumerate(req.tokens):
        # "fail on keep_control or blocked": a one-word decision listed after a named one
        if t.kind == "word" and req.free(i) and t.norm in _DECISIONS and "_" not in t.norm:
            j = i - 1
            joined = req.w(j) in ("or", "and") or req.p(j) == ","
            if joined and not req.free(j - 1) and req.tokens[j - 1].norm in _DECISIONS:
                found.append(_DECISIONS[t.norm])
                req.use(j, i)
    for i in req.indexes({"fail", "exit", "fails"}):
        req.use(i)
        if req.w(i) == "exit" and i + 1 < len(req.tokens) and req.tokens[i + 1].text == "1":
            req.use(i + 1)  # "exit 1 if …": the gate's exit code
    return ["--fail-on", ",".join(dict.fromkeys(found))]


def _bound_apart(req: Request) -> Token | None:
    """ "any regressions …? fail if more than 0": the limit said in a clause of its own, with
    the regressions named once elsewhere in the request (the only thing it can count)."""
    k = req.seq({"fail", "exit", "error"}, {"if", "when"}, {"more", "over"})
    if k < 0 or not all(req.free(x) for x in range(k, k + 3)):
        return None
    j = k + 3 + (req.w(k + 3) == "than")
    nouns = [
        i for i in req.indexes({"regressions", "regression", "regressed", "regress"}) if req.free(i)
    ]
    if j >= len(req.tokens) or not named.count(req.tokens[j]) or not req.free(j) or not nouns:
        return None
    if req.w(j + 1) and req.w(j + 1) not in ("regressions", "regression", "of", "them"):
        return None  # "fail if more than 2 cases …": counts something else
    end = j + 1
    while req.w(end) in ("regressions", "regression", "of", "them"):
        end += 1
    req.use(*range(k, end), nouns[0])
    if req.w(nouns[0] - 1) in ("any", "the") and req.free(nouns[0] - 1):
        req.use(nouns[0] - 1)
    return req.tokens[j]


#: scorers that take an argument after a colon (runners/scorers.py): "regex:^OK", "contains:refund"
_ARGUMENT_SCORERS = frozenset({"regex", "contains", "icontains"})


#: what a numeric scorer's tolerance is said with ("numeric tolerance 0.01", "within 1%")
_TOLERANCE = _w("tolerance within")


def _scorer_argument(req: Request, name: str, j: int) -> str | None:
    """The argument typed after a scorer's name: a quoted text ('a contains scorer "refund"') or
    a pattern typed as one run of characters with a symbol in it ("a regex scorer ^OK"); its
    tokens become used. A plain word after the name is no argument (asked about, never read)."""
    toks = req.tokens
    if name == "numeric":  # "numeric tolerance 0.01", "numeric within 1%": numeric:0.01, :1%
        k = j + (req.w(j) in ("with", "at")) if req.w(j + 1) in _TOLERANCE else j
        if req.w(k) in _TOLERANCE and k + 1 < len(toks) and req.free(k + 1) and req.free(k):
            t = toks[k + 1]
            if t.kind == "num" and t.value > 0 and t.unit in (None, "%"):
                req.use(*range(j, k + 2))
                return t.text
        return None
    if name == "length":  # "length 10-200", "length between 10 and 200": length:10-200
        k = j + (req.w(j) in ("of", "in"))
        if k < len(toks) and req.free(k) and re.fullmatch(r"\d+-\d+", toks[k].text):
            req.use(*range(j, k + 1))
            return toks[k].text
        if (
            req.w(k) == "between"
            and k + 3 < len(toks)
            and toks[k + 1].is_int
            and req.w(k + 2) == "and"
            and toks[k + 3].is_int
            and all(req.free(x) for x in range(k, k + 4))
        ):
            e = k + 4 + (req.w(k + 4) in ("characters", "chars"))
            req.use(*range(j, e))
            return f"{toks[k + 1].text}-{toks[k + 3].text}"
        return None
    if name not in _ARGUMENT_SCORERS:
        return None
    j += req.w(j) in ("scorer", "check", "matching", "for", "with")
    if j >= len(toks) or not req.free(j):
        return None
    if toks[j].kind == "quote":
        req.use(*range(j - (req.w(j - 1) in ("matching", "for", "with")), j + 1))
        return toks[j].text
    k = j
    while k + 1 < len(toks) and toks[k + 1].start == toks[k].end and req.free(k + 1):
        k += 1
    while k > j and toks[k].text in (",", ";"):  # "regex ^[0-9]+$, 2 epochs": the clause ends
        k -= 1
    run = req.text[toks[j].start : toks[k].end]
    if any(toks[x].kind in ("other", "punct") for x in range(j, k + 1)) and run[0] not in ",;.":
        req.use(*range(j, k + 1))
        return run
    return None


def scorer_specs(req: Request) -> list[str]:
    """The scorers a request names, in order: store scorers and scorer specs
    (``judge:openai``, ``regex:^yes``); their tokens become used."""
    found: list[tuple[int, str]] = []
    for m in req.named("scorer"):
        if m.start + 1 < len(req.tokens) and req.tokens[m.start].kind == "scorer":
            continue
        if any(i in req.used for i in range(m.start, m.end)):
            continue  # read by another phrase: "ask the judge 3 times"
        arg = _scorer_argument(req, m.name, m.end)
        provider = m.name == "judge" and req.w(m.start - 1) == "openai" and req.free(m.start - 1)
        if provider and arg is None:  # "the openai judge": the judge on OpenAI (judge:openai)
            req.use(m.start - 1)
            arg = "openai"
        found.append((m.start, f"{m.name}:{arg}" if arg is not None else m.name))
        req.use_match(m)
    for i, t in enumerate(req.tokens):
        if t.kind == "scorer" and req.free(i):
            found.append((i, t.text))
            req.use(i)
    names = list(dict.fromkeys(name for _, name in sorted(found)))
    # "with the openai judge, … the judge's mean": one judge, said twice (the spec, then its kind)
    return [n for n in names if not (":" not in n and any(x.startswith(f"{n}:") for x in names))]


def _judge_repeats(req: Request) -> list[str]:
    """``--judge-repeats N`` from "three repeats", "ask the judge 3 times", "judge repeats 3"."""
    k = req.seq("ask", "the", {"judge", "judges", "grader"}, start=0)
    k = k if k >= 0 else req.seq("ask", {"judge", "judges", "grader"})
    if k >= 0:
        n = 3 if req.w(k + 1) == "the" else 2
        j = k + n
        if j < len(req.tokens) and req.tokens[j].is_int and req.w(j + 1) == "times":
            req.use(*range(k, j + 2))
            return ["--judge-repeats", fmt(req.tokens[j].value)]
    for i, t in enumerate(req.tokens):
        if not (t.is_int and req.free(i)):
            continue
        if req.w(i + 1) in ("judge", "judges", "grader") and req.w(i + 2) in (
            "repeats",
            "repeat",
            "repetitions",
            "calls",
        ):
            req.use(i, i + 2)  # "3 judge repeats": the judge word stays for the scorer reader
            return ["--judge-repeats", fmt(t.value)]
        judged = req.index({"judge", "ask", "asked", "grader"}, names_too=True) >= 0 or any(
            x.kind == "scorer" and x.text.lower().startswith("judge") for x in req.tokens
        )
        if req.w(i + 1) in ("repeats", "repeat", "repetitions") or (
            req.w(i + 1) == "times" and judged
        ):
            req.use(i, i + 1)
            if req.w(i - 1) in ("asked", "ask", "queried", "called") and req.free(i - 1):
                req.use(i - 1)  # "judge:openai asked 3 times"
            if req.w(i + 2) in ("per", "each", "a") and req.w(i + 3) in (
                "rollout",
                "case",
                "answer",
            ):
                req.use(i + 2, i + 3)
            return ["--judge-repeats", fmt(t.value)]
        if req.w(i - 1) in ("repeats", "repeat") and req.free(i - 1):
            req.use(i - 1, i)
            return ["--judge-repeats", fmt(t.value)]
    return []


def rescore(req: Request) -> Translation:
    """``eval rescore RUN --scorer S [--scorer S2] [--judge-repeats N]``."""
    r = resolve(req, "run", ["eval", "rescore"], single=False)
    if isinstance(r, Translation):
        return r
    scorers = scorer_specs(req)
    repeats = _judge_repeats(req)
    if not scorers:
        for i in req.indexes(SCORER_WORDS | {"with", "using", "by"}):
            j = skip(req, i + 1, frozenset({"the", "a"}))
            t = req.tokens[j] if j < len(req.tokens) else None
            if t is not None and req.free(j) and t.kind == "word" and t.norm not in KNOWN:
                close = suggest(t.norm, req.vocab.scorers)
                return refused(
                    req.text,
                    f"there is no scorer named {t.text!r}",
                    close or sorted(req.vocab.scorers),
                )
        return incomplete(
            req.text,
            ["eval", "rescore", r, *repeats],
            ["--scorer S"],
            "rescore with which scorer?",
            sorted(req.vocab.scorers),
        )
    for i in req.indexes({"stored", "outputs", "output", "again"}):
        req.use(i)
    opts = [x for name in scorers for x in ("--scorer", name)]
    return command(req.text, ["eval", "rescore", r, *opts, *repeats])


def retry_failed(req: Request) -> Translation:
    """``eval retry-failed RUN``: "retry the failed rollouts in X", "re-run the failures of X"."""
    r = resolve(req, "run", ["eval", "retry-failed"], single=False)
    if isinstance(r, Translation):
        return r
    for i in req.indexes(
        {"retry", "re-run", "rerun", "redo", "failed", "failures", "failing", "errored", "cases"}
    ):
        req.use(i)
    if {"try", "again"} <= set(req.words()):  # "try the failed ones again"
        req.use(*req.indexes({"try", "again"}))
    return command(req.text, ["eval", "retry-failed", r, *_run_gates(req)])


def export(req: Request) -> Translation:
    """``eval export RUN --traces DIR``: "export X's traces to ./traces"."""
    r = resolve(req, "run", ["eval", "export"], single=False)
    if isinstance(r, Translation):
        return r
    where = next((i for i, t in enumerate(req.tokens) if t.kind == "path" and req.free(i)), -1)
    glued = _glued_path(req)
    if where < 0 and glued is not None:  # "into out/jan-run": a relative directory
        a, b, path = glued
        req.use(*range(a, b))
        for i in req.indexes({"traces", "trace", "export", "write", "save", "dump", "rollouts"}):
            req.use(i)
        for i in req.indexes({"and", "the", "of"}):
            if i < a:
                req.use(i)
        return command(req.text, ["eval", "export", r, "--traces", path])
    if where < 0:
        return incomplete(
            req.text,
            ["eval", "export", r],
            ["--traces DIR"],
            "which directory should the traces go to?",
        )
    req.use(where)
    for i in req.indexes({"traces", "trace", "export", "write", "save", "into", "to"}):
        req.use(i)
    return command(req.text, ["eval", "export", r, "--traces", req.tokens[where].text])
