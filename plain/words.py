"""The words the plain-language rules know: cues for each command, slot nouns, synonyms.

Lowercase single words (after tokenizing: ``didn't`` is ``did`` + ``not``). A word
outside :data:`KNOWN` that is not a name from the store is "unknown": a request to
write with an unknown word is refused rather than half-understood.
"""

from __future__ import annotations

import re


def _w(text: str) -> frozenset[str]:
    return frozenset(text.split())


FILLER = _w(
    """a an the this that these those it its is are was were be been being am do does did done
    have has had i me my we our us you your please pls kindly can could would will shall should
    may might must let lets just now then also too and or but so if of to for in on at by with
    from into onto about as up out over than via per hey hi hello thanks thank yes there here
    one ones another other again very really quite much same give tell get got see want like
    need needs needed go going some any what which who when where why how quickly right away
    okay sure well currently current so-far far ever anything something everything
    whole full total overall entire named called titled name its they them their okay new
    i'd we'd let's put make made able mind actually maybe time uses use reached reach
    trialbook"""
)
# NB: "time" stays known so "last time" does not count as unknown; durations need a number.

TEST_WORDS = _w("test tests experiment experiments a/b ab trial trials study studies")
RESULT_WORDS = _w(
    """result results session sessions outcome outcomes observation observations datapoint
    data point points entry entries sample samples attempt attempts episode episodes"""
)
VARIANT_CUES = _w(
    "variant variants arm arms group groups bucket buckets cohort branch version type"
)
ADD_VERBS = _w("add record log enter save register report track append insert store note")
CREATE_VERBS = _w("create make setup set define start begin launch open new")
IMPORT_VERBS = _w("import load ingest upload bulk read")
ARCHIVE_VERBS = _w("archive delete remove hide trash retire drop discard shelve bin")
RESTORE_VERBS = _w("restore unarchive undelete recover unhide revive resurrect reinstate")
DESTROY_WORDS = _w("purge erase wipe destroy obliterate truncate shred permanently forever nuke")
SHIP_VERBS = _w("ship shipping shipped conclude deploy rollout finalize finalise adopt")
QUESTION_START = _w(
    "should shall can could would is are do does which what who how was did has have will why am"
)
ANALYZE_WORDS = _w(
    """analyze analyse analysis analyses analyzing analysing winning winner winners wins win won
    ahead leading leads leader better best worse worst significant significance significantly
    recommend recommendation recommendations recommended lift lifts uplift p-value pvalue
    p-values confidence beating beats beat outperform outperforms outperforming faster slower
    cheaper pricier quicker fewer lower higher worth effect effective decide verdict inference statistically stats-test
    difference different improve improved improvement improves regress regression"""
)
SUMMARY_WORDS = _w(
    """summary summarize summarise summarized summaries overview totals numbers stats statistics
    status progress doing looking going tally breakdown counts"""
)
SHOW_WORDS = _w(
    "show display describe details detail view open info information definition look see print"
)
LIST_WORDS = _w("list ls all every enumerate available existing exist have")
LOG_WORDS = _w(
    """log logs events event happened happening activity history recent latest changes
    changed timeline feed recorded trail tail stream"""
)
VERIFY_WORDS = _w(
    """verify verified verification integrity intact tampered tamper tampering corrupt corrupted
    corruption untouched unmodified consistent consistency checksum checksums chain hashes hash
    edited altered"""
)
EXPORT_WORDS = _w("export dump backup")
REBUILD_WORDS = _w(
    "rebuild rebuilt recompute regenerate reindex refresh recreate re-build re-run rerun refold"
)
PROJECTION_WORDS = _w(
    "projection projections read-model read-models model models tables views view index indexes cache caches stale"
)
AUDIT_WORDS = _w(
    "audit audits auditing reproduce reproduces reproducible reproducibility justify justified evidence replay"
)
REPORT_WORDS = _w("report write-up writeup document doc packet")
FORMAT_WORDS = {"markdown": "markdown", "md": "markdown", "json": "json"}

SUITE_WORDS = _w("suite suites cases dataset datasets")
RUN_WORDS = _w("run runs eval evals evaluation evaluations")
RUN_VERBS = _w("run evaluate eval execute launch start kick test benchmark")
RESUME_WORDS = _w("resume resuming continue pick finish unfinished interrupted restart")
RESCORE_WORDS = _w("rescore re-score rescoring regrade re-grade rejudge re-judge rescored")
COMPARE_WORDS = _w("compare comparison diff versus vs v against")
TARGET_CUES = _w("against target on using with model endpoint")
EPOCH_WORDS = _w("epoch epochs times repeats repetitions repeat passes")
CONCURRENCY_WORDS = _w("concurrency concurrent parallel parallelism workers worker simultaneous")
SCORER_WORDS = _w(
    "scorer scorers scored scoring score judge judged grader graders graded evaluator evaluators"
)

# slots of a result
CALL_NOUNS = _w("call calls invocation invocations tool-call tool-calls tool_calls toolcalls")
CALL_MODIFIERS = _w("tool function api")
OK_WORDS = _w(
    """ok okay successful succeeded succeeding success successes good passed worked working fine
    correct clean right fine went through"""
)
FAIL_WORDS = _w("failed failing fail failures failure bad unsuccessful errored broken wrong")
ERROR_NOUNS = _w("error errors")
MESSAGE_NOUNS = _w("message messages msgs msg")
CORRECTION_NOUNS = _w("correction corrections")
TOKEN_NOUNS = _w("token tokens tok toks")
COST_WORDS = _w("cost costs costing spent spend price priced usd")
SCORE_WORDS = _w("score scored scoring rated rating grade graded")
TIME_CUES = _w(
    "took taking lasted duration completion completed finished finishing elapsed latency time"
)
SUCCESS_POS = _w("succeeded success successful successfully passed pass solved worked win")
SUCCESS_NEG = _w("failed fail failure unsuccessful unsuccessfully")
NEGATORS = _w("not never no")
ZERO_WORDS = _w("no none zero without")
VAGUE_WORDS = _w("few several many couple lots bunch handful plenty most numerous various")
CASE_CUES = _w("case instance")
NOTE_CUES = _w("note notes noting comment remark")
BECAUSE = _w("because since reason as")
KEEP_CONTROL = _w("keep keeping kept stick sticking stuck stay retain remain")
STOP_WORDS = _w("stop stopping stopped end abandon halt cancel kill abort terminate")

#: a quantile said as a word: "p95", "p99" (``METRIC:pNN`` in a command line)
QUANTILE_WORD = re.compile(r"p\d{1,2}")

#: metric names and the words that mean them, longest phrase first
METRIC_PHRASES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("cost", "per", "success"), "cost_per_success"),
    (("cost", "per", "successful", "session"), "cost_per_success"),
    (("tool", "success", "rate"), "tool_success_rate"),
    (("tool-call", "success", "rate"), "tool_success_rate"),
    (("tool", "call", "success", "rate"), "tool_success_rate"),
    (("tool_success_rate",), "tool_success_rate"),
    (("failed", "call", "ratio"), "failed_call_ratio"),
    (("failed", "calls", "ratio"), "failed_call_ratio"),
    (("failed-call", "ratio"), "failed_call_ratio"),
    (("completion", "time"), "completion_time"),
    (("completion", "times"), "completion_time"),
    (("success", "rate"), "success"),
    (("pass", "rate"), "success"),
    (("error", "rate"), "error_rate"),
    (("error", "rates"), "error_rate"),
    (("tool", "calls"), "tool_calls"),
    (("token", "usage"), "tokens"),
    (("user", "corrections"), "corrections"),
    (("cost_per_success",), "cost_per_success"),
    (("failed_call_ratio",), "failed_call_ratio"),
    (("completion_time",), "completion_time"),
    (("error_rate",), "error_rate"),
    (("tool_calls",), "tool_calls"),
    (("success",), "success"),
    (("duration",), "completion_time"),
    (("latency",), "completion_time"),
    (("speed",), "completion_time"),
    (("faster",), "completion_time"),
    (("slower",), "completion_time"),
    (("quicker",), "completion_time"),
    (("pricier",), "cost"),
    (("errors",), "errors"),
    (("messages",), "messages"),
    (("corrections",), "corrections"),
    (("tokens",), "tokens"),
    (("cost",), "cost"),
    (("cheaper",), "cost"),
    (("spend",), "cost"),
    (("score",), "score"),
    (("scores",), "score"),
)
METRIC_NAMES = frozenset(m for _, m in METRIC_PHRASES)

#: plain words for the A/B event types (``events log --type``)
EVENT_TYPE_WORDS = {
    "result": "ResultAdded",
    "results": "ResultAdded",
    "creation": "TestCreated",
    "created": "TestCreated",
    "archive": "TestArchived",
    "archived": "TestArchived",
    "archiving": "TestArchived",
    "restore": "TestRestored",
    "restored": "TestRestored",
    "suite": "SuiteRegistered",
    "rollout": "RolloutCompleted",
    "rollouts": "RolloutCompleted",
    "verdict": "VerdictRecorded",
    "verdicts": "VerdictRecorded",
    "decision": "TestConcluded",
    "decisions": "TestConcluded",
    "conclusions": "TestConcluded",
}

OUT_OF_SCOPE = _w(
    """weather joke jokes poem poems recipe email mail news stock stocks song translate password
    passwords sudo rm shutdown reboot kubernetes docker tweet bitcoin slack send"""
)
CANARY_WORDS = _w("canary canaries rollout-percentage")

#: common words that carry no part of a command (the request's every other word must
#: fill a slot, name something, or make the request unsure)
COMMON = _w(
    """thing things stuff evolved evolve evolving table produce generate print output
    currently actually basically overall looks seem seems seemed kind sort bit little lot
    lots something anything everything everyone anybody somebody someone folks team guys
    mine ours yours their them they he she his her it's already yet still ever
    also exactly precisely roughly basically simply literally
    okay alright sure fine great cool nice awesome thanks cheers quickly soon asap
    currently present presently far so-far thus hence therefore anyway though although
    while whilst whether either neither nor else rather quite pretty fairly
    lately recently overview full complete whole entire detailed brief short long
    current actual real general specific particular certain usual normal say said says
    tell told know written saved stored kept"""
)

KNOWN: frozenset[str] = frozenset().union(
    FILLER,
    TEST_WORDS,
    RESULT_WORDS,
    VARIANT_CUES,
    ADD_VERBS,
    CREATE_VERBS,
    IMPORT_VERBS,
    ARCHIVE_VERBS,
    RESTORE_VERBS,
    SHIP_VERBS,
    ANALYZE_WORDS,
    SUMMARY_WORDS,
    SHOW_WORDS,
    LIST_WORDS,
    LOG_WORDS,
    VERIFY_WORDS,
    EXPORT_WORDS,
    REBUILD_WORDS,
    PROJECTION_WORDS,
    AUDIT_WORDS,
    REPORT_WORDS,
    FORMAT_WORDS,
    SUITE_WORDS,
    RUN_WORDS,
    RUN_VERBS,
    RESUME_WORDS,
    RESCORE_WORDS,
    COMPARE_WORDS,
    TARGET_CUES,
    EPOCH_WORDS,
    CONCURRENCY_WORDS,
    SCORER_WORDS,
    CALL_NOUNS,
    CALL_MODIFIERS,
    OK_WORDS,
    FAIL_WORDS,
    ERROR_NOUNS,
    MESSAGE_NOUNS,
    CORRECTION_NOUNS,
    TOKEN_NOUNS,
    COST_WORDS,
    SCORE_WORDS,
    TIME_CUES,
    SUCCESS_POS,
    SUCCESS_NEG,
    NEGATORS,
    ZERO_WORDS,
    CASE_CUES,
    NOTE_CUES,
    BECAUSE,
    KEEP_CONTROL,
    STOP_WORDS,
    {w for phrase, _ in METRIC_PHRASES for w in phrase},
    EVENT_TYPE_WORDS,
    _w(
        """control baseline treatment alpha level mde minimum detectable guardrail guardrails
        metric metrics primary goal optimize optimise measure measuring description described
        category difficulty easy medium hard task id session_id sid user users customer customers
        more longer enough many sample size still same call made decision decided decisions
        position number latest last first recent most each after every step steps trajectory
        came order along include including archived hidden deleted removed ones only filter
        filtered where whose format markdown json md called named as per all none both either
        neither until yet instead whether were comparing compared testing between bring back
        undo off rid hold holds valid stand stands lately ledger check nobody anyone write
        wins losses ties regressions quick running right now reading pull
        good relative use"""
    ),
    COMMON,
)

#: words that change what a change means ("ship warm only if it is faster", "on both
#: tests", "maybe ship warm"): a write is never made while one of them is left unread
HEDGES = _w(
    """if unless only both each every either maybe perhaps probably possibly until when
    whenever except but same again twice thrice later tomorrow tonight soon eventually
    might should instead without rather otherwise excluding hardly barely previous"""
)

#: words that are never a value typed for a slot (a name, a key, an id): they negate, hedge or
#: date what they stand by ("candidate otherwise new", "segment by excluding category")
NEVER_VALUES = (HEDGES | NEGATORS | _w("tomorrow yesterday today")) - _w("both either each")

#: meaning-light words: narrative verbs of what happened that say no outcome ("cold one burned
#: 2M tokens"; "crashed", "timed out", "hung" are outcomes a result reads, never filler) and
#: discourse words ("honestly", "btw", "yeah"). :class:`~trialbook.plain.request.Request` takes
#: them out of the tokens before any rule reads (so "keep, um, the control" is "keep the
#: control", and none is ever a value or a new name), unless one is, or is one edit from, a
#: piece of a store name. None is a known word, a negation, a hedge, a quantifier, a time, a
#: comparative or an outcome, nor one edit from an option's, a command's or a core word
#: (tests/test_plain_fillers.py checks this, and that one put anywhere into a table request
#: never changes its command).
LIGHT = _w(
    """burned burnt burning chewed honestly seriously obviously kinda sorta hmm um uh eh yeah
    yup anyways luckily unfortunately definitely bro dude btw fyi fwiw tbh gonna gotta"""
)
