"""Accuracy of the plain-language parser, by command family.

Run from the repository root::

    .venv/bin/python bench/plain_accuracy.py

Sets of requests, all against the vocabulary of ``tests/test_plain.py``:

- ``table``: the test table (``CASES`` in ``tests/test_plain.py``). The rules were
  developed against it, so it measures coverage, not generalisation; it must be 100 %.
- ``held-out 1``: 80 requests written *before* the parser existed. First run: 74/80
  (92.5 %); the six misses were then fixed, so it is no longer blind.
- ``held-out 2``: 65 requests written after the table passed and run once, blind:
  61/65 (93.8 %), none of the four misses a wrong write. Three were then fixed.

- ``fresh table``: 183 requests a newcomer wrote from the README and ``--help`` only
  (#24; ``bench/plain_fresh_table.txt``). Before the #24 changes: 91/183 (49.7 %;
  declined 47, wrong reads 36, wrong writes 9); after: 179/183 (97.8 %; declined 3,
  wrong reads 1, wrong writes 0). 180 of them are in the test table (not the 3 misses).
- ``fresh held-out`` (``--heldout``): the other third, 83 requests, scored only by the
  lead at the end (before: 39/83 = 47.0 %, 3 wrong writes). Run
  ``.venv/bin/python bench/plain_accuracy.py --heldout``.

An expected ``help …`` (the shell's own help, not a command line of the CLI) is right when
the answer runs nothing and offers that line.

- ``fresh2 dev`` (``--dev2``): 100 requests by a second newcomer who never read the parser
  (``bench/plain_fresh2_dev.txt``). Before round 2: 85/100 (declined 13, wrong reads 2,
  wrong writes 0); the misses were grouped by the capability they lacked (decision reports,
  dataset exports, help questions, a format from a file's extension, an effect said without
  "mde", quantiles, breakdowns, a canary change's reason, --limit 0) and each capability was
  added with paraphrases of its own in the test table, not the dev lines: after, 100/100.
  One expectation was fixed against ``--help`` (``report on candidate-0402`` is
  ``report eval candidate-0402``: ``--baseline`` is optional). The test table grew from
  485 to 603 requests (paraphrases and the refusals that bound each capability). Its held-out set
  (``bench/plain_fresh2_heldout.txt``) is scored only with ``--heldout``.

- Round 3 (#24): both held-out sets were scored and reported, so they became dev data; with
  the third newcomer's dev set (``--dev3``, ``bench/plain_fresh3_dev.txt``, 107 requests) the
  misses were grouped by the capability they lacked and each capability was added with
  paraphrases of its own in the test table (606 → 753 requests), never the lines:
  options said by their own name with the value on either side (``plain/named.py``:
  timeout, budget, price, judge repeats, max regressions/failed, expected results/tools,
  success criteria, ``--by``/``--covariate``/``--dimension`` in words, ``key=value``);
  effects and margins in the metric's units said around their words; "how does X work"
  help; a ";" or a last comma clause that adds detail or a reason; "this test" as the
  focus, and "that position"/"the new one" asked about; misspelt core words (one edit,
  never into a write verb); polite requests ("could you record …"); a test as it was
  (``--as-of``/``--at``) or drawn (``--plot``) is its analysis; a metric question about
  a variant is an analysis; forced/automatic canary steps and a canary's log; a
  directory of saved tests, stdin, ``--transcript``; "N and a half"; relative trace
  directories; dataset splits said as words. Made safer: run roles that the words and a
  name disagree on ("compare baseline-0401 against candidate-0402") are asked; "delete X"
  is refused with ``ab archive X`` offered; a request that names a test and asks nothing
  the rules read is offered as ``ab show``, not run; a generic option the rule already set
  with another value is refused (one of the two was silently dropped before).
  Before → after (exact; declined / wrong reads / wrong writes):
  fresh held-out 59/83 = 71.1 % (21/3/0) → 79/83 = 95.2 % (3/1/0);
  fresh2 held-out 37/50 = 74.0 % (10/3/0) → 49/50 = 98.0 % (0/1/0);
  fresh3 dev 70/107 = 65.4 % (31/3/3) → 103/107 = 96.3 % (4/0/0).
  Two of fresh3's three "wrong writes" before were the scorer's: ``--completion-time 4min``
  against ``240`` and a default ``--format markdown``; values with a unit, effects in a
  metric's units and ISO times are now compared by what the CLI reads them as
  (``_meaning``), so 72/107 with 1 wrong write ("delete checkout-flow" made
  ``ab archive``) is the fair before. ``--heldout3`` scores
  ``bench/plain_fresh3_heldout.txt`` (43 requests, added by the lead at the end; never
  read while the parser changed). Scored by the lead: before (5efce7c, this scorer)
  32/43 = 74.4 % (declined 9, wrong reads 1, wrong writes 1); after 35/43 = 81.4 %
  (declined 7, wrong reads 1, wrong writes 0). The goal (90 %) is met on the sets the
  parser was developed against after they were scored, not on a fresh one: the gap
  between 96 % on dev and 81 % held-out is the measure of fitting that remains.

- Round 4 (#24): fresh3 held-out, scored, became dev data; a fourth newcomer's dev set
  (``--dev4``, ``bench/plain_fresh4_dev.txt``, 112 requests, all 112 expected lines valid
  for click's ``make_context``) was scored as it came, at 6797218: 89/112 = 79.5 % (declined
  23, wrong reads 0, wrong writes 0). Its misses and fresh3 held-out's were grouped by the
  capability they lacked and each was added with paraphrases of its own (753 → 889 table
  requests): options said by their own name (``--junit``, a ``.toml`` config, ``--seeds``,
  ``--cache``/``--no-cache``/``--cache-ttl``, ``--fail-under`` and ``--fail-on`` in words,
  ``--columns synth``, ``--function``, ``--no-blobs``, ``-o FILE``, ``--allow-all-failed``),
  a case covariate from a run, a change "from A to B", a test as it was ("what did X say on
  D"), options alone with a test or run in focus, ratio splits, lists of guardrails, the
  CLI's default variants, canary plans "from A to B" / "for X vs Y (control)". Made safer,
  from paraphrases and a mutation run of my own: a word that negates, hedges or dates is never
  a value or a new name and never dropped from a change (a property test puts one into every
  write of the table), an option's name no rule read makes a request unsure, a read never
  drops "without", "advance by 10%" and "the first 10 events" are asked, "with the cache off"
  is ``--no-cache``, "X as the baseline" puts X first, a request routed again is read afresh.
  Before → after: fresh4 dev 89/112 → 111/112 (the one miss a misspelt test name, declined by
  design); fresh3 held-out 36/43 (35 with the old scorer) → 43/43; fresh3 dev 103 → 105/107;
  the 889-request table at 6797218: 783/889 (declined 70, wrong reads 13, wrong writes 15).
  The scorer reads ``audit NAME`` of a canary as ``canary audit NAME`` (``--help`` says they
  are the same) and guardrails by what ``domain/`` reads (``+30s`` is ``+30``).
  ``--heldout4`` scores ``bench/plain_fresh4_heldout.txt`` (53 requests, added by the lead
  after round 4 and scored once): 37/53 = 69.8 % at 6797218 (declined 15, wrong reads 1,
  wrong writes 0) and 37/53 = 69.8 % after round 4, the same misses: the capabilities round 4
  added for its dev set did not carry over to the held-out third at all. The misses are
  requests with a meaning-light word the rules do not know ("crashed", "burned", "even though",
  "only", "keeping"; three of them pre-filled with exactly the expected command), options
  said in words no rule reads (a cap "at 600", ``--prompt``, ``--expected-tools``, a price "at
  0.15/0.6"), a canary's candidate named by its role, and a misspelt test name (declined by
  design). Scored, it is dev data from here on.

- Round 5 (#24): mechanisms for sets not seen, not the lines. (1) Meaning-light words
  (``plain/words.py`` ``LIGHT``: narrative verbs that say no outcome, "burned", "chewed"; discourse
  words, "btw", "um", "honestly", "yeah") are taken out of the tokens before any rule reads, so
  none is a value, a name or a break in a phrase ("keep, um, the control"); none is a known word,
  a negation, a hedge, a quantifier, a time, an outcome ("crashed" and "timed out" are a failed
  result), nor one edit from an option, a command or a core word, nor (4+ letters) one edit from a
  store name; "only" beside what filled a filtering option ("show case q3 only", "keeping only
  judge scores") adds nothing; a run's stop reason is read past "run"/"has" ("the X run
  crashed, pick it back up"). Property tests (``tests/test_plain_fillers.py``): each filler, and
  "only", put before every word of every table write and read gives the same command or an
  unsure request, never another command. (2) Every text/list option of the target command said
  by its own name (``plain/spoken.py``, its table derived from the click commands and checked
  against them): quoted texts, repeated ``--error "a" and "b"``, lists, ``KEY at N``
  (``--cap``, ``--price``), bare ids; an option said that the command lacks is refused or read
  again with the command's own options, never dropped; an option's name the command has but no
  rule read makes a change unsure ("description hi" was dropped). (3) A canary's arm by its role
  ("a router-v2 candidate result for user-17: …") when ``Vocabulary.canary_arms`` knows the
  arms, the result read as an A/B result. (4) "comparing a and b on cost" gives the metric.
  Found by the new tests and fixed (wrong writes on main): "arms zero, one, two, expected tools
  a, b" made "expected" a variant; "keep, the control" was ``--stop``; "description hi" was
  dropped. Before (f7972e4) → after: table 889/889 → 907/907 (18 new paraphrases); fresh table 180/183 → 180/183; fresh2 dev
  100/100 → 100/100; held-out 1 80/80, held-out 2 65/65 unchanged; fresh held-out 79/83 →
  79/83; fresh2 held-out 49/50 → 49/50; fresh3 dev 105/107 → 105/107; fresh4 dev 111/112 →
  111/112; fresh3 held-out 43/43 → 43/43; fresh4 held-out 37/53 = 69.8 % (declined 15, wrong
  reads 1) → 44/53 = 83.0 % (declined 8, wrong reads 1), 0 wrong writes both times. Its
  remaining misses: a misspelt test name (by design), "the planner prompt"/"the search agent"
  (an option's or a store's word used as a description: asked, by design), "ab test called X",
  "even though it doesn't …", "X is at 100, mark it complete", "html eval report, A against B",
  "import log.jsonl into this db", and "score at least 0.7" without a scorer.
- The fifth newcomer's set (``--heldout5``, ``bench/plain_fresh5_heldout.txt``, 120 requests,
  written from the README and ``--help`` only while round 5 ran, held out whole, never shown to
  it) scored once by the lead: after round 4, 92/120 = 76.7 % (declined 23, wrong reads 1,
  wrong writes 4); after round 5, 94/120 = 78.3 % (declined 22, wrong reads 1, wrong writes 3).
  The goal (>= 90 %, 0 wrong writes) is not met. The three wrong writes were then fixed (so the
  set is dev data now: 97/120, 0 wrong writes): a ``rollout:`` target lost its kind and ran as
  an http target; "complete router-v2, force it, note all green" put "force it" in the note;
  "variants none,backoff, we plan for 800 results" made "we" a variant. The 22 declined are
  asked or refused, never run: misspelt names, "died halfway", "mark it failed", "cuped it with
  X", "what would it take to detect a 5pp lift", "dump … rollouts scoring at least 0.8",
  "train/val/test 0.8/0.1/0.1".

- Round 6 (#24): general rules, each with table rows of its own (919 → 1046 requests), from the
  misses of every dev set grouped by cause and then the sixth newcomer's dev set (100 requests,
  ``/tmp/fresh6/dev.txt`` when it came; first score 81/100 at baff6c1 by the lead, 83/100 at
  4e41bc6 when it came, 1 wrong write, 1 wrong read): "one" right after a variant is the result,
  never a count ("cold one failed: 14 calls, 10 ok" was refused as 1+10≠14); a call verb keeps its
  particle ("went through"); "mark it (as) X"; a session or run that "died (halfway)"; power
  questions ("what would it take to detect a 5pp lift", "a 10% change"); a dataset's content nouns
  (transcripts, rollouts), "dump/need … jsonl", "/" split lists without "split"; a file named as a
  log or "into the db" is ``events import``; "what was recorded" is the log; a negated damage the
  log's or nobody's ("hasn't been tampered with") is what verify checks; a test named new after a
  word for a test ("an A/B test called x", "ab test x: a vs b") is its creation; variants spaced
  after their cue, or right after the new name (": a, b;", "(a, b)"), their count checked; a metric
  before its word ("success metric", "cost guardrail +5%"); "A over B" as "A against B"; a test
  defined by other parts and no variants has the CLI's default variants (a bare name still asks);
  a canary named for one of its arms names that arm's result (`--help`'s own example); a covariate
  verb's object; a run's case asked about; "cost less per success"; with --force a concession
  clause of known words; a comma clause saying where all traffic goes is the complete/rollback
  itself (it was a note: fresh6's wrong write) or contradicts it (asked); "export everything" is
  asked; swapped letters in short core words ("lsit"); "no inference" is the summary; "got it
  right"; a conjunction or an intention ("I plan to segment by …") before what a rule read; the
  view's --host and --allow-remote (a non-loopback host without "allow remote" asks); "are any
  stalled?"; a p95 latency budget, "the exit code"; a regression gate is ``eval compare``'s; a
  canary planned "A against B". Found by the property tests and the shell's grounding check while
  doing so: "even if instead …", "nobody not tampered", "add suite hardly x.jsonl", "--scorer
  score" from "scoring", and "slow" read as a misspelt "show". Before (baff6c1) → after, exact:
  table 919/919 → 1046/1046; fresh table 180/183 → 182/183; fresh held-out 79/83 → 82/83; fresh2
  dev 100/100 → 100/100; fresh2 held-out 49/50 → 49/50; fresh3 dev 105/107 → 106/107; fresh3
  held-out 43/43 → 43/43; fresh4 dev 111/112 → 111/112; fresh4 held-out 44/53 → 49/53; fresh5
  98/120 → 118/120; held-out 1 80/80 → 80/80; held-out 2 65/65 → 64/65 ("export everything",
  which the sixth newcomer expects asked); fresh6 dev 83/100 (at 4e41bc6) → 98/100; 0 wrong
  writes on every set. Left: misspelt test names and "rebuidl" (a write verb) are asked by design;
  "compare baseline-0401 against/to candidate-0402" (the words and the names disagree) is asked;
  "router-v2 is at 100, mark it complete"; an openai target's key said in words; "the planner
  prompt"/"the search agent" as a description.
- The sixth newcomer's held-out third (``--heldout6``, ``bench/plain_fresh6_heldout.txt``, 50
  requests, never shown to round 6; the other 100 are ``--dev6``), scored by the lead: at baff6c1
  39/50 = 78.0 % (declined 11, 0 wrong writes); after round 6 39/50 (declined 10, 1 wrong write:
  "create test latency-fix where the metric is success_rate" became ``--metric success_rate``
  with the default variants); with that fixed (the parser asks success or tool_success_rate, as
  ``ab create`` does) 40/50 = 80.0 %, 0 wrong writes. The goal (>= 90 %) is not met: dev sets rose
  81 → 98 while the held-out stayed at 78–80 %. Two of its ten misses pre-fill exactly the
  expected line for one Enter ("shwo the last 10 results", "summary of onboarding instead"). Then
  fixed (so dev data now, 43/50): ``canary assign --json`` was unknown to the parser (a test now
  checks every generic option of every command both ways); the shell's help lacked canary
  add-result and assign (a test keeps its list equal to click's); a canary's arm named by its role
  with only an outcome ("the baseline on router-v2 failed with 3 errors") is its result.

- The seventh newcomer (#24 round 7, 2026-12-04) had every ``--help`` only (the README copy
  meant for them was missing), never the parser, and wrote 150 requests; every third request of
  the file (50) is held out (``--heldout7``), the rest is ``--dev7``. Scores are of what the shell
  answers (the rules held to the line check, which since round 7 also builds an offered
  ``ab create`` with the domain's own rules). At 8247b39: dev 76/100 (2 wrong writes), held-out
  45/50 = 90.0 % (0 wrong writes). After round 7: dev 90/100 (0 wrong writes), held-out 45/50 =
  90.0 % (the same five declined; 0 wrong writes). The held-out was already at 90 % before: on
  the whole file the rules went 121/150 = 80.7 % -> 135/150 = 90.0 %; a first split tried (every
  third line of each family, 42 lines) scored 32/42 = 76.2 % at 8247b39 and was replaced by the
  file-order split before any tuning because it held fewer than a third. The five held-out misses
  were fixed afterwards (so dev data now, 48/50): a split said after the last variant ("a, b, c
  split 2:1:1"), "VARIANT again", a target said 'the command "…"'. Not fixed, judged right to ask:
  a bare "make a test called X" (pre-filled), a trailing "ok" as the outcome, "any regression" as
  ``--max-regressions 0`` (a 0 nobody typed), "the 10% stage" as a stage number (a number nobody
  typed), a model with no provider as a target.

- Round 8 (#24, 2026-12-04): three more newcomers, each briefed with the README's command
  reference and every ``--help`` (as #24 asks) and a persona: the eighth a plain newcomer
  (``--dev8``/``--heldout8``), the ninth a week-old user typing fast (``--dev9``/``--heldout9``),
  the tenth a team lead writing full sentences and reports of what happened
  (``--dev10``/``--heldout10``). Every third request of each file is held out, scored by the lead
  only at the start and at the end (at 0b1a8b7, before any of its lines was looked at). Exact, by
  this scorer, in each set's own venv (a worktree shares the editable install otherwise):

  ========  ======================  ======================  ========================
  set       dev at 91e0986 -> end   held-out before         held-out after (0b1a8b7)
  ========  ======================  ======================  ========================
  fresh8    83 -> 100 /100          38/50 = 76.0 %, 0 ww    41/50 = 82.0 %, 0 ww
  fresh9    70 (2 ww) -> 93 /100    39/50 = 78.0 %, 1 ww    41/50 = 82.0 %, 1 ww
  fresh10   36 (1 ww) -> 80 /100    18/50 = 36.0 %, 0 ww    20/50 = 40.0 %, 0 ww
  ========  ======================  ======================  ========================

  (ww: wrong writes.) The goal (>= 90 % held-out, 0 wrong writes) is not met on any of them, and
  the tenth shows the limit of the rules plainly: dev 36 -> 80 while its held-out moved 36 -> 40.
  The ninth's held-out wrong write is "stop router-v2" read as ``canary halt`` (the writer
  expected a question; ``canary halt --help`` begins "Stop canary NAME by hand", so it is kept).
  Wrong writes found on the dev sets and fixed at their cause: "a test for the new reranker" named
  a test "reranker"; "a regex scorer ^OK" dropped the pattern; "note: … Record it." kept the
  closing instruction in the note. After scoring, the eighth's and ninth's held-out misses were
  grouped by cause and fixed as dev data (92 % and 94 % since; the tenth's 42 %).

- Round 9 (#24, 2026-12-06): an eleventh newcomer, briefed the same way, wrote 150 requests in a
  mix of styles (terse, polite, with typos, roles said in words, past-tense reports, questions;
  ``--dev11``/``--heldout11``, every third request in file order held out). At 7dbbb9c: dev
  84/100 (1 wrong write: "pls creat test summarizer …" became ``ab create summarize``), held-out
  45/50 = 90.0 % (0 wrong writes). After round 9: dev 99/100 (0 wrong writes), held-out 45/50 =
  90.0 % (the same five declined, 0 wrong writes). Fixed at their cause: a word read as the core
  word it is one typo from that then became a name is read as typed (``translate``), a new name
  followed by a verb of another request asks; the verb a session met an error with ("hit",
  "ran into", "threw"), '2 errors: "a", "b"'; a last clause that says what is not there ("…, no
  difference worth chasing") is the reason unless it takes the request back ("not yet", "no
  wait"); "ignore cached answers older than 12h"; numeric and length scorer arguments in words;
  "why did case X fail in RUN" is the case shown; "N regressions allowed"; "into out/"; a canary
  "rolling X out over Y", a canary result "at 50%" (a stage of its plan), "even without enough
  results" with --force, a halt's or rollback's reason after a colon. The scorer now compares
  ``--latency-budget``/``--cost-budget`` by value (they take units since round 8) and treats
  ``--errors N`` beside N messages as said (``ab add-result --help``: alone, the count is the
  number of messages). Across the four newest blind thirds (rounds 8 and 9), 147/200 = 73.5 %
  right at their end-of-round scores, 1 wrong write: the >= 90 % goal holds for this set only.

- Round 10 (#24, 2026-12-08): a twelfth newcomer (an engineer two days in: a third terse, a
  third ordinary sentences, a third longer requests carrying two or three details) wrote 150
  requests from the same two documents (``--dev12``/``--heldout12``, every third held out). Its
  brief named no store, so its names are scored in the store it presumed (:func:`_presumed`:
  every test, run, suite and canary an expected command presumes exists, read through click).
  The scorer also compares options that only say their click default (``--alpha 0.05``) or the
  default control (the first variant) as left out. At 0f5dbd6's parser: dev 84/100 (1 wrong
  write), held-out 40/50 = 80.0 % (0 wrong writes, 1 wrong read). After round 10: dev 94/100 (0
  wrong writes), held-out 40/50 = 80.0 % (the same 0 wrong writes and 1 wrong read): the dev
  fixes moved the held-out third by nothing. Fixed at their cause: a last clause naming an
  analysis option ("…, recording the cuped analysis with prior_score as covariate") was a
  decision's --note (a wrong write); "make a test X …" with a plan's "results" fell through
  every rule; an event id was asked back for itself; a metric's quantile after it
  ("completion_time p95"); "on canary NAME" beside a typed arm; eval run's gates in the options'
  own words ("max failed 0", "fail under exact=0.9"); both runs' roles ("baseline X vs
  candidate Y"); "rolling out X over Y"; "b ran case q7".

In the fresh sets an expected ``UNSURE`` (like ``INCOMPLETE`` and ``REFUSED``) is right
for any answer that is not a command: a question, a pre-filled line, a refusal.

Besides exact accuracy it counts the two kinds of miss: *declined* (a command was
expected, the parser said incomplete or refused: the user retypes, nothing runs)
and *wrong command* (the parser produced a different command: the dangerous kind,
split into writes and reads; writes are still echoed and need confirmation).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trialbook.plain.translate import Translation, Vocabulary, is_write  # noqa: E402
from trialbook.shell.llm_tier import interpret  # noqa: E402


def translate(text: str, vocab: Vocabulary, focus: str | None = None) -> Translation:
    """What the shell answers: the rules' translation held to the line check (``interpret``
    without an LLM tier), so a line the command itself would refuse counts as declined."""
    return interpret(text, vocab, focus, llm=False)


_spec = importlib.util.spec_from_file_location("test_plain", ROOT / "tests" / "test_plain.py")
assert _spec is not None and _spec.loader is not None
tp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tp)

# text | focus | expected (a command line, INCOMPLETE or REFUSED)
HELD_OUT_1 = """
record a warm session for checkout-flow: 9 tool calls, 8 successful, finished in 35 seconds||ab add-result checkout-flow --variant warm --tool-calls 9 --successful-calls 8 --completion-time 35
cold result on checkout-flow, failed after 2 minutes, 3 errors||ab add-result checkout-flow --variant cold --errors 3 --completion-time 120 --failure
log one for treatment in onboarding: success, 1,200 tokens, cost $0.02||ab add-result onboarding --variant treatment --tokens 1200 --cost 0.02 --success
warm: twelve calls, eleven ok, 40s|checkout-flow|ab add-result checkout-flow --variant warm --tool-calls 12 --successful-calls 11 --completion-time 40
another cold one, 7 of 10 calls worked, 2 corrections|checkout-flow|ab add-result checkout-flow --variant cold --tool-calls 10 --successful-calls 7 --corrections 2
add result to search-v2 for variant b, score 0.7||ab add-result search-v2 --variant b --score 0.7
add a result for search-v2||INCOMPLETE
add a warm result||ab add-result checkout-flow --variant warm
add a hot result to checkout-flow||REFUSED
add a warm result to checkout-flow with a few errors||INCOMPLETE
add a warm result to checkout-flow, 12 calls, 1 failed||INCOMPLETE
new a/b test pricing-page comparing monthly vs annual||ab create pricing-page --variants monthly,annual
set up an experiment named tool-hints with arms none, short and long, control none||ab create tool-hints --variants none,short,long --control none
create a test called latency-test with variants fast and slow, primary metric completion time||ab create latency-test --variants fast,slow --metric completion_time
create a test with variants x and y||INCOMPLETE
create test checkout-flow with variants a and b||REFUSED
make a new test called faq-bot||INCOMPLETE
import results.jsonl into checkout-flow||ab import checkout-flow results.jsonl
load data/run3.jsonl for onboarding||ab import onboarding data/run3.jsonl
what tests are there?||ab list
list all tests including archived ones||ab list --all
show me onboarding||ab show onboarding
give me a summary of prompt-style||ab summary prompt-style
how's checkout-flow looking||ab summary checkout-flow
which arm is ahead?|search-v2|ab analyze search-v2
is warm significantly faster than cold?||ab analyze checkout-flow --metric completion_time
analyze onboarding on error rate at alpha 0.01||ab analyze onboarding --metric error_rate --alpha 0.01
show the recommendation history for checkout-flow||ab analyze checkout-flow --history
how many more sessions do we need for onboarding to detect a 5% lift||ab analyze onboarding --mde 5%
ship warm||ab conclude checkout-flow --ship warm
for onboarding, keep the control, note: no clear gain||ab conclude onboarding --keep-control --note 'no clear gain'
stop the prompt-style test||ab conclude prompt-style --stop
ship it|checkout-flow|INCOMPLETE
ship warm or cold||REFUSED
should we ship warm?||ab analyze checkout-flow
remove prompt-style||ab archive prompt-style
permanently delete onboarding||REFUSED
bring old-pricing back||ab restore old-pricing
undelete the old-pricing test||ab restore old-pricing
delete everything||REFUSED
what's been happening lately||events log
show the last 5 events||events log --limit 5
events for checkout-flow||events log --stream ab:checkout-flow
show only result events||events log --type ResultAdded
is the ledger intact?||events verify
check that nobody tampered with the log||events verify
show event number 17||events show 17
dump the event log||events export
rebuild the read models||projections rebuild
register cases/smoke2.yaml as a suite called smoke||eval suite add cases/smoke2.yaml --name smoke
which suites do I have||eval suite list
show the regression suite||eval suite show regression
run smoke against http://127.0.0.1:8080/task with 3 epochs||eval run smoke --target http://127.0.0.1:8080/task --epochs 3
evaluate the regression suite on openai:gpt-4o-mini, 10 at a time, scored by exact and judge||eval run regression --target openai:gpt-4o-mini --concurrency 10 --scorer exact --scorer judge
run the smoke suite||INCOMPLETE
run smoke against gpt-4o||INCOMPLETE
resume baseline-0401||eval resume baseline-0401
continue the interrupted run candidate-0402||eval resume candidate-0402
list eval runs||eval list
show results of run baseline-0401||eval show baseline-0401
compare baseline-0401 with candidate-0402||eval compare baseline-0401 candidate-0402
baseline-0401 vs candidate-0402||eval compare baseline-0401 candidate-0402
rescore candidate-0402 with the judge||eval rescore candidate-0402 --scorer judge
rescore candidate-0402||INCOMPLETE
why did we ship warm?||audit checkout-flow
would we still make the same call on onboarding?||audit onboarding
write an audit report for checkout-flow in markdown||audit report checkout-flow --format markdown
audit report for onboarding||audit report onboarding
what's the weather in Paris||REFUSED
drop table events||REFUSED
summarize chekout-flow||REFUSED
show run baseline-0501||REFUSED
compare the two runs||INCOMPLETE
add a warm result with 12 calls and 3 retries||REFUSED
add a b result to search-v2: 4 calls all succeeded||ab add-result search-v2 --variant b --tool-calls 4 --successful-calls 4
a did not succeed on search-v2, took 1m30s||ab add-result search-v2 --variant a --completion-time 90 --failure
record an unsuccessful verbose session, 3.2k tokens, 4 cents||ab add-result prompt-style --variant verbose --tokens 3200 --cost 0.04 --failure
create test and archive it||REFUSED
restore checkout-flow||REFUSED
archive old-pricing||REFUSED
"""

HELD_OUT_2 = """
please record a cold session: 6 tool calls, 5 succeeded, 22 seconds, 800 tokens||ab add-result checkout-flow --variant cold --tool-calls 6 --successful-calls 5 --completion-time 22 --tokens 800
warm run on checkout-flow was successful; 10 calls with 10 ok||ab add-result checkout-flow --variant warm --tool-calls 10 --successful-calls 10 --success
cold: 3 calls, 2 good, 1 bad, 14s||ab add-result checkout-flow --variant cold --tool-calls 3 --successful-calls 2 --completion-time 14
add verbose result for prompt-style with 2 user corrections and 9 messages||ab add-result prompt-style --variant verbose --messages 9 --corrections 2
terse session failed, 0.8 cents||ab add-result prompt-style --variant terse --cost 0.008 --failure
log a treatment result: passed, 45 sec, 2.1k tokens||ab add-result onboarding --variant treatment --completion-time 45 --tokens 2100 --success
add a control result to onboarding that took three minutes||ab add-result onboarding --variant control --completion-time 180
add a result for c on search-v2: scored 0.9, case q-12||ab add-result search-v2 --variant c --score 0.9 --case-id q-12
add a warm result: 10 calls, 9 ok|onboarding|REFUSED
add a cold result with lots of tokens||INCOMPLETE
cold took ages||INCOMPLETE
add a cold result: 5 calls, 7 ok||REFUSED
add a warm result with 3 tool calls, 2 successful and 1 error, done in 12.5s||ab add-result checkout-flow --variant warm --tool-calls 3 --successful-calls 2 --errors 1 --completion-time 12.5
create an experiment called reranker comparing bm25 vs dense vs hybrid||ab create reranker --variants bm25,dense,hybrid
new test prompt-v4 with variants short and long, measuring tokens||ab create prompt-v4 --variants short,long --metric tokens
create a test called cache-test with arms off and on, off is the control||ab create cache-test --variants off,on --control off
create an a/b test||INCOMPLETE
make a test named onboarding with variants a and b||REFUSED
import /data/sessions.jsonl into prompt-style||ab import prompt-style /data/sessions.jsonl
load the results in batch-7.jsonl into onboarding||ab import onboarding batch-7.jsonl
show all my tests||ab list
list every test, archived too||ab list --all
tell me about search-v2||ab show search-v2
what does the onboarding test look like?||ab show onboarding
give me an overview of checkout-flow||ab summary checkout-flow
how are things going with prompt-style?||ab summary prompt-style
which is winning in search-v2?||ab analyze search-v2
is verbose beating terse on completion time?||ab analyze prompt-style --metric completion_time
analyze checkout-flow by cost with alpha 0.1||ab analyze checkout-flow --metric cost --alpha 0.1
do we have enough data on onboarding yet?||ab analyze onboarding
show how the recommendation for search-v2 evolved after each result||ab analyze search-v2 --history
go with terse||ab conclude prompt-style --ship terse
we're done with onboarding, keep the control||ab conclude onboarding --keep-control
abandon the search-v2 test||ab conclude search-v2 --stop
ship b||ab conclude search-v2 --ship b
ship the winner|checkout-flow|INCOMPLETE
trash prompt-style||ab archive prompt-style
get rid of the onboarding test||ab archive onboarding
wipe checkout-flow||REFUSED
restore the old-pricing experiment||ab restore old-pricing
show me recent events||events log
show the 15 latest events for search-v2||events log --stream ab:search-v2 --limit 15
what happened to prompt-style?||events log --stream ab:prompt-style
has the event log been tampered with?||events verify
check the integrity of the ledger||events verify
show me event 3||events show 3
export everything||events export
recompute the projections||projections rebuild
register suite from evals/qa.jsonl||eval suite add evals/qa.jsonl
what's in the regression suite?||eval suite show regression
list the suites||eval suite list
run regression against http://127.0.0.1:7000/agent with 4 epochs at concurrency 8 using the judge scorer||eval run regression --target http://127.0.0.1:7000/agent --epochs 4 --concurrency 8 --scorer judge
evaluate smoke||INCOMPLETE
resume run 20250131-142502-7f3a9c||eval resume 20250131-142502-7f3a9c
what runs have we done?||eval list
show the results table for candidate-0402||eval show candidate-0402
how does candidate-0402 compare to baseline-0401?||eval compare baseline-0401 candidate-0402
re-grade baseline-0401 with contains||eval rescore baseline-0401 --scorer contains
why did we keep the control on onboarding?||audit onboarding
produce a markdown audit report for search-v2||audit report search-v2 --format markdown
does the prompt-style decision still hold?||audit prompt-style
send the summary to slack||REFUSED
add 5 warm results||REFUSED
compare smoke and regression||REFUSED
archive checkout-flow and onboarding||REFUSED
"""


#: the newcomer's requests (#24): written from the README and --help only, never tuned on
FRESH_TABLE = ROOT / "bench" / "plain_fresh_table.txt"
#: the held-out third: scored only by the lead, at the end (`--heldout`); never read otherwise
FRESH_HELDOUT = ROOT / "bench" / "plain_fresh_heldout.txt"
#: the second newcomer's development set (#24 round 2): the misses were grouped by capability
FRESH2_DEV = ROOT / "bench" / "plain_fresh2_dev.txt"
#: the second newcomer's held-out set: scored only by the lead, at the end (`--heldout`)
FRESH2_HELDOUT = ROOT / "bench" / "plain_fresh2_heldout.txt"
#: the third newcomer's development set (#24 round 3, `--dev3`)
FRESH3_DEV = ROOT / "bench" / "plain_fresh3_dev.txt"
#: the third newcomer's held-out set: added and scored only by the lead (`--heldout3`)
FRESH3_HELDOUT = ROOT / "bench" / "plain_fresh3_heldout.txt"

#: the fourth newcomer's development set (#24 round 4, `--dev4`): two thirds of their requests
FRESH4_DEV = ROOT / "bench" / "plain_fresh4_dev.txt"
#: the fourth newcomer's held-out third: added and scored only by the lead (`--heldout4`)
FRESH4_HELDOUT = ROOT / "bench" / "plain_fresh4_heldout.txt"
#: the fifth newcomer's 120 requests, held out whole and scored once (#24 round 5, `--heldout5`)
FRESH5_HELDOUT = ROOT / "bench" / "plain_fresh5_heldout.txt"
#: the sixth newcomer's development set (#24 round 6, `--dev6`): two thirds of their requests
FRESH6_DEV = ROOT / "bench" / "plain_fresh6_dev.txt"
#: the sixth newcomer's held-out third, scored by the lead before and after round 6 (`--heldout6`)
FRESH6_HELDOUT = ROOT / "bench" / "plain_fresh6_heldout.txt"
#: the seventh newcomer's development set (#24 round 7, `--dev7`): two thirds of their requests
FRESH7_DEV = ROOT / "bench" / "plain_fresh7_dev.txt"
#: the seventh newcomer's held-out third, scored by the lead before and after round 7 (`--heldout7`)
FRESH7_HELDOUT = ROOT / "bench" / "plain_fresh7_heldout.txt"
#: the eighth newcomer's development set (#24 round 8, `--dev8`): two thirds of their requests
FRESH8_DEV = ROOT / "bench" / "plain_fresh8_dev.txt"
#: the eighth newcomer's held-out third, scored by the lead before and after round 8 (`--heldout8`)
FRESH8_HELDOUT = ROOT / "bench" / "plain_fresh8_heldout.txt"
#: the ninth newcomer's development set (#24 round 8, `--dev9`)
FRESH9_DEV = ROOT / "bench" / "plain_fresh9_dev.txt"
#: the ninth newcomer's held-out third, scored by the lead before and after round 8 (`--heldout9`)
FRESH9_HELDOUT = ROOT / "bench" / "plain_fresh9_heldout.txt"
#: the tenth newcomer's development set (#24 round 8, `--dev10`)
FRESH10_DEV = ROOT / "bench" / "plain_fresh10_dev.txt"
#: the tenth newcomer's held-out third, scored by the lead before and after (`--heldout10`)
FRESH10_HELDOUT = ROOT / "bench" / "plain_fresh10_heldout.txt"
#: the eleventh newcomer's development set (#24 round 9, `--dev11`)
FRESH11_DEV = ROOT / "bench" / "plain_fresh11_dev.txt"
#: the eleventh newcomer's held-out third, scored by the lead before and after (`--heldout11`)
FRESH11_HELDOUT = ROOT / "bench" / "plain_fresh11_heldout.txt"
#: the twelfth newcomer's requests (round 10, #24): two thirds dev, every third held out
FRESH12_DEV = ROOT / "bench" / "plain_fresh12_dev.txt"
FRESH12_HELDOUT = ROOT / "bench" / "plain_fresh12_heldout.txt"
#: the sets scored in the store their writer presumed (:func:`_presumed`)
PRESUMED = ("--dev12", "--heldout12")


def _read_fresh(path: Path) -> list[tuple[str, str, str | None, str]]:
    """Rows of a fresh file: ``text|focus|expected``; ``#`` lines are comments."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, focus, expected = line.split("|")
        rows.append((_family(expected), text, focus or None, expected))
    return rows


def _family(expected: str) -> str:
    if expected in ("INCOMPLETE", "REFUSED", "UNSURE"):
        return expected.lower()
    words = shlex.split(expected)
    if words[0] == "eval" and words[1] == "suite":
        return " ".join(words[:3])
    if words[0] == "audit":
        return "audit report" if words[1] == "report" else "audit"
    return " ".join(words[:2])


def _parse(block: str) -> list[tuple[str, str, str | None, str]]:
    rows = []
    for line in block.strip().splitlines():
        text, focus, expected = line.split("|")
        rows.append((_family(expected), text, focus or None, expected))
    return rows


def _outcome(text: str, focus: str | None, expected: str) -> str:
    """ok, declined, wrong-write, wrong-read or accepted-bad (a command where none was expected)."""
    t = translate(text, tp.VOCAB, focus)
    if expected.startswith(("!", "?", "~")):  # the test table's notation
        good = tp.matches(t, expected)
        want_command = False
    elif expected in ("INCOMPLETE", "REFUSED"):
        good = t.status == expected.lower()
        want_command = False
    elif expected == "UNSURE":  # the fresh sets: a question, a pre-filled line or a refusal
        good = t.status != "command"
        want_command = False
    else:
        good = t.status == "command" and tp._canon(t.argv) == tp._canon(shlex.split(expected))
        want_command = True
    if good:
        return "ok"
    if t.status != "command":
        return "declined" if want_command else "other-refusal"
    return "wrong-write" if is_write(t.argv) else "wrong-read"


def report(
    name: str,
    rows: list[tuple[str, str, str | None, str]],
    judge: Callable[[str, str | None, str], str] | None = None,
) -> None:
    by_family: dict[str, dict[str, int]] = {}
    misses = []
    for family, text, focus, expected in rows:
        outcome = (judge or _outcome)(text, focus, expected)
        counts = by_family.setdefault(family, {})
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome != "ok":
            misses.append((outcome, text, expected))
    total = len(rows)
    ok = sum(c.get("ok", 0) for c in by_family.values())
    print(f"\n== {name}: {ok}/{total} = {ok / total:.1%}")
    print(f"   {'family':<22}{'ok':>8}  misses")
    for family in sorted(by_family):
        c = by_family[family]
        n = sum(c.values())
        extra = ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if k != "ok")
        print(f"   {family:<22}{c.get('ok', 0):>4}/{n:<3}  {extra}")
    kinds: dict[str, int] = {}
    for outcome, _, _ in misses:
        kinds[outcome] = kinds.get(outcome, 0) + 1
    if misses:
        print("   misses by kind:", ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
        for outcome, text, expected in misses:
            print(f"     [{outcome}] {text!r} -> expected {expected}")


def fresh(heldout: bool = False) -> None:
    """The newcomer's requests of #24, scored strictly: on the table (grown into
    tests/test_plain.py) and, with ``--heldout``, on the held-out third (the lead's run)."""
    for name, path in [
        ("fresh table", FRESH_TABLE),
        ("fresh2 dev", FRESH2_DEV),
        *(
            [("fresh held-out", FRESH_HELDOUT), ("fresh2 held-out", FRESH2_HELDOUT)]
            if heldout
            else []
        ),
    ]:
        rows = _read_fresh(path)
        report(f"{name} ({path.name}; INCOMPLETE/REFUSED/UNSURE = no command)", rows, _strict)


def _strict(text: str, focus: str | None, expected: str, vocab: Vocabulary | None = None) -> str:
    """The lead's scoring (/tmp/score_fresh_lead.py): an expected INCOMPLETE, REFUSED or
    UNSURE is right for any answer that is not a command."""
    t = translate(text, vocab or tp.VOCAB, focus)
    if expected in ("help", "clear") or expected.startswith(
        ("help ", "use ")
    ):  # the shell's own help, focus and clear: named in the answer, nothing runs
        if t.status != "command":
            return "ok" if expected in t.suggestions else "declined"
        return "wrong-write" if is_write(t.argv) else "wrong-read"
    if expected in ("UNSURE", "INCOMPLETE", "REFUSED"):
        if t.status != "command":
            return "ok"
        return "wrong-write" if is_write(t.argv) else "wrong-read"
    if t.status == "command" and _same(t.argv, shlex.split(expected)):
        return "ok"
    if t.status != "command":
        return "declined"
    return "wrong-write" if is_write(t.argv) else "wrong-read"


#: options whose value the CLI reads with a unit: compared by what they mean (``4min`` is 240)
_UNIT_OPTIONS = {
    "--completion-time": "duration",
    "--timeout": "duration",
    "--tokens": "tokens",
    "--cost": "cost",
    "--budget": "cost",
    "--latency-budget": "duration",
    "--cost-budget": "cost",
}
#: commands whose ``--format`` defaults to markdown (``--format markdown`` says the default)
_MARKDOWN_DEFAULT = {
    ("audit", "report"),
    ("report", "ab"),
    ("report", "eval"),
    ("report", "canary"),
}


def _canary_audit(argv: list[str]) -> list[str]:
    """``audit NAME`` of a name that is a canary (and no A/B test) is ``canary audit NAME``
    (``trialbook audit --help``, ``canary audit --help``: "`trialbook audit NAME` does the same
    for a name that is a canary"); ``audit report NAME`` is its markdown report."""
    canary = lambda n: n in tp.VOCAB.canaries and n not in tp.VOCAB.tests  # noqa: E731
    if argv[:2] == ["audit", "report"] and len(argv) > 2 and canary(argv[2]):
        rest = argv[3:]
        return [
            "canary",
            "audit",
            argv[2],
            *rest,
            *([] if "--format" in rest else ["--format", "markdown"]),
        ]
    if argv[:1] == ["audit"] and len(argv) > 1 and canary(argv[1]):
        return ["canary", "audit", *argv[1:]]
    return argv


def _meaning(argv: list[str] | tuple[str, ...]) -> tuple[list[str], list[tuple[str, ...]]]:
    """A command line as the CLI reads it: option order aside (``_canon``), unit values by their
    value through the CLI's own parsers (``domain/units.py``: ``4min`` = ``240``, ``2c`` =
    ``0.02``, ``1.2k`` = ``1200``), and ``--format markdown`` where markdown is the default."""
    from trialbook.domain.units import UnitError, parse_cost, parse_duration, parse_tokens

    parse = {"duration": parse_duration, "tokens": parse_tokens, "cost": parse_cost}
    pos, opts = tp._canon(_canary_audit(list(argv)))
    messages = sum(o[0] == "--error" for o in opts)
    if messages and pos[:2] == ["ab", "add-result"] and ("--errors", str(messages)) in opts:
        # "--error TEXT: repeatable; alone, the count is the number of messages" (`ab
        # add-result --help`): `--errors 2` beside two messages says nothing more
        opts = [o for o in opts if o != ("--errors", str(messages))]
    if pos[:2] == ["ab", "create"]:
        # "the first is the control unless --control says otherwise" (`ab create --help`)
        variants = dict(o for o in opts if len(o) == 2).get("--variants", "control,treatment")
        opts = [o for o in opts if o != ("--control", variants.split(",")[0])]
    out: list[tuple[str, ...]] = []
    for o in opts:
        if len(o) == 2 and o[0] in _UNIT_OPTIONS:
            try:
                out.append((o[0], repr(float(parse[_UNIT_OPTIONS[o[0]]](o[1])))))
                continue
            except (UnitError, ValueError):
                pass
        if o == ("--format", "markdown") and tuple(pos[:2]) in _MARKDOWN_DEFAULT:
            continue
        if len(o) == 2 and o[0] in ("--as-of", "--since", "--until"):
            out.append((o[0], o[1].replace(" ", "T")))  # ISO 8601 either way
            continue
        if (
            len(o) == 2
            and o[0] == "--stage"
            and o[1].endswith("%")
            and pos[:2] == ["canary", "add-result"]
        ):
            # `--stage 10%` is the stage at 10 % of the plan (`canary add-result --help`)
            stages = [float(p) for p in tp.VOCAB.canaries.get(pos[2], ())] if len(pos) > 2 else []
            pct = float(o[1][:-1])
            if pct in stages:
                out.append(("--stage", str(stages.index(pct) + 1)))
                continue
        if len(o) == 2 and o[0] == "--fail-on" and "," in o[1]:
            # "repeatable, or comma-separated" (`eval compare --help`): the same gates either way
            out.extend(("--fail-on", d) for d in o[1].split(","))
            continue
        if len(o) == 2 and o[0] == "--guardrail":
            # by what the CLI reads: "completion_time:+30s" is "completion_time:+30"
            out.append((o[0], _guardrail(pos, o[1])))
            continue
        if len(o) == 2 and o[0] in ("--mde", "--margin"):
            # in the metric's units: "30s" and "$0.01" say the unit of a time or cost metric
            bare = o[1].removeprefix("$").removesuffix("s")
            try:
                out.append((o[0], repr(float(bare))))
                continue
            except ValueError:
                pass
        if len(o) == 2 and _says_default(pos, o[0], o[1]):
            continue
        out.append(o)
    return pos, sorted(out)


def _says_default(pos: list[str], option: str, value: str) -> bool:
    """Whether ``option value`` only says the command's documented default (``--alpha 0.05``
    of ``ab analyze``, ``--variants control,treatment`` of ``ab create``): the same command
    with or without it, as click reads both."""
    import click

    from trialbook.shell.line_checks import NotACommand, resolve_command

    try:
        _, command, ctx, _ = resolve_command(pos)
    except NotACommand:
        return False
    for param in command.params:
        if isinstance(param, click.Option) and option in param.opts and not param.multiple:
            default = param.get_default(ctx)
            if default is None or param.is_flag:
                return False
            try:
                return bool(
                    param.type_cast_value(ctx, value) == param.type_cast_value(ctx, default)
                )
            except (click.BadParameter, TypeError, ValueError):
                return False
    return False


def _guardrail(pos: list[str], text: str) -> str:
    """A guardrail as ``ab create`` (``domain/ab.py``) or ``canary create``
    (``domain/canary.py``) reads it; as typed when it does not read."""
    from trialbook.domain.ab import read_guardrail
    from trialbook.domain.canary import parse_guardrail

    try:
        g = parse_guardrail(text) if pos[:1] == ["canary"] else read_guardrail(text)
    except Exception:  # noqa: BLE001 - not readable: compared as typed
        return text
    return repr(g)


_TEST_COMMANDS = {"add-result", "show", "summary", "analyze", "conclude", "archive"}
_RUN_COMMANDS = {"resume", "retry-failed", "rescore", "show", "export"}


def _parsed(expected: str) -> tuple[list[str], dict[str, Any]]:
    """An expected command line as click reads it: the command's path and its parameters
    (none for the shell's own words: use, clear)."""
    from trialbook.shell.line_checks import NotACommand, resolve_command

    try:
        path, command, ctx, args = resolve_command(shlex.split(expected))
    except NotACommand:
        return [], {}
    return list(path), command.make_context(
        path[-1], args, parent=ctx, resilient_parsing=True
    ).params


def _presumed(rows: list[tuple[str, str, str | None, str]]) -> Callable[[str], Vocabulary]:
    """The store a writer briefed without a vocabulary imagined (round 10's newcomer was
    not told which tests, runs and canaries exist): the test table's names plus every
    test, archived test, canary, run and suite an expected command presumes exists (a
    command's NAME as click reads it, the focus, ``--variant``/``--ship``/``--control``
    values, the runs compared or reported on), in one store for the whole set. Only where
    two lines presume opposite states (``ab archive X`` and ``ab restore X``; creating a
    name another line uses) does a line get its own state of that one name. Returns the
    vocabulary for a line's expected command."""
    base = tp.VOCAB
    tests = {k: list(v) for k, v in base.tests.items()}
    archived = {k: list(v) for k, v in base.archived.items()}
    canaries = dict(base.canaries)
    arms = {k: list(v) for k, v in base.canary_arms.items()}
    runs, suites = set(base.runs), set(base.suites)
    sources: set[str] = set()
    created: dict[str, list[str]] = {}
    created_arms: dict[str, list[str]] = {}
    stages = base.canaries["router-v2"]

    def listed(value: Any) -> list[str]:
        if value is None:
            return []
        return [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)]

    for _, _text, focus, expected in rows:
        if expected in ("UNSURE", "INCOMPLETE", "REFUSED") or expected.startswith("help"):
            continue
        path, params = _parsed(expected)
        if not path:
            continue
        cmd = tuple(path)
        named: str | None = None
        if cmd[0] == "ab" and cmd[1:] and cmd[1] in _TEST_COMMANDS:
            named = params.get("name") or focus
        if cmd in (("report", "ab"), ("audit", "report")):
            named = params.get("name")
        if cmd == ("ab", "restore"):
            archived.setdefault(params["name"], [])
        if cmd == ("ab", "create"):
            created[params["name"]] = listed(params.get("variants", "").split(","))
        if cmd == ("canary", "create"):
            created_arms[params["name"]] = listed(params.get("control")) + listed(
                params.get("candidate")
            )
        if named and named not in archived:
            tests.setdefault(named, [])
        if named:
            known = tests if named in tests else archived
            for option in ("variant", "ship", "control"):
                for v in listed(params.get(option)):
                    if v not in known[named]:
                        known[named].append(v)
        for value in listed(params.get("covariate")):
            if value.startswith("test:"):
                tests.setdefault(value[5:].split(".")[0], [])
        for value in listed(params.get("into_ab")):
            tests.setdefault(value, [])
        if cmd[0] == "canary" and cmd[1:] and cmd[1] not in ("create", "list", "import"):
            name = params["name"]
            canaries.setdefault(name, stages)
            arms.setdefault(name, [])
            for v in listed(params.get("variant")):
                if v not in arms[name]:
                    arms[name].append(v)
        if cmd[0] == "eval" and cmd[1:] and cmd[1] in _RUN_COMMANDS:
            runs.update(listed(params.get("run_id")))
        if cmd == ("eval", "compare"):
            runs.update(listed(params.get("run_a")) + listed(params.get("run_b")))
        if cmd == ("report", "eval"):
            runs.update(listed(params.get("run")) + listed(params.get("baseline")))
        if cmd == ("export", "dataset"):
            sources.update(listed(params.get("source")))
        if cmd == ("eval", "run"):
            suites.update(listed(params.get("suite_name")))
        if cmd == ("eval", "suite", "show"):
            suites.update(listed(params.get("name")))
    runs.update(s for s in sources if s not in tests and s not in archived)
    for name in archived:  # archived by one line, restored by another: archived here
        tests.pop(name, None)
    for name, variants in created.items():  # created by one line, used by another
        for known in (tests, archived):
            if name in known:
                known[name] = list(dict.fromkeys([*variants, *known[name]]))
    for name, named_arms in created_arms.items():
        if name in canaries:
            arms[name] = list(dict.fromkeys([*named_arms, *arms.get(name, [])]))
    store = Vocabulary(
        tests={k: tuple(v) for k, v in tests.items()},
        archived={k: tuple(v) for k, v in archived.items()},
        suites=suites,
        runs=runs,
        scorers=base.scorers,
        canaries=canaries,
        canary_arms={k: tuple(v) for k, v in arms.items()},
    )

    def for_line(expected: str) -> Vocabulary:
        if expected in ("UNSURE", "INCOMPLETE", "REFUSED") or expected.startswith("help"):
            return store
        path, params = _parsed(expected)
        if not path:
            return store
        cmd, name = tuple(path), params.get("name")
        t, a, c = dict(store.tests), dict(store.archived), dict(store.canaries)
        if cmd == ("ab", "archive") and name in a:
            t[name] = a.pop(name)
        elif cmd == ("ab", "restore") and name in t:
            a[name] = t.pop(name)
        elif cmd == ("ab", "create"):
            t.pop(name, None)
            a.pop(name, None)
        elif cmd == ("canary", "create"):
            c.pop(name, None)
        else:
            return store
        return dataclasses.replace(store, tests=t, archived=a, canaries=c)

    return for_line


def _judged_in(store: Callable[[str], Vocabulary]) -> Callable[[str, str | None, str], str]:
    """:func:`_strict` in the store a line's expected command presumes."""

    def judge(text: str, focus: str | None, expected: str) -> str:
        return _strict(text, focus, expected, store(expected))

    return judge


def _same(argv: list[str] | tuple[str, ...], expected: list[str]) -> bool:
    return _meaning(argv) == _meaning(expected)


def main() -> None:
    if "--heldout" in sys.argv:
        fresh(heldout=True)
        return
    sets = {  # option -> (label, file)
        "--dev2": ("fresh2 dev", FRESH2_DEV),
        "--dev3": ("fresh3 dev", FRESH3_DEV),
        "--heldout3": ("fresh3 held-out", FRESH3_HELDOUT),
        "--dev4": ("fresh4 dev", FRESH4_DEV),
        "--heldout4": ("fresh4 held-out", FRESH4_HELDOUT),
        "--heldout5": ("fresh5 held-out", FRESH5_HELDOUT),
        "--dev6": ("fresh6 dev", FRESH6_DEV),
        "--heldout6": ("fresh6 held-out", FRESH6_HELDOUT),
        "--dev7": ("fresh7 dev", FRESH7_DEV),
        "--heldout7": ("fresh7 held-out", FRESH7_HELDOUT),
        "--dev8": ("fresh8 dev", FRESH8_DEV),
        "--heldout8": ("fresh8 held-out", FRESH8_HELDOUT),
        "--dev9": ("fresh9 dev", FRESH9_DEV),
        "--heldout9": ("fresh9 held-out", FRESH9_HELDOUT),
        "--dev10": ("fresh10 dev", FRESH10_DEV),
        "--heldout10": ("fresh10 held-out", FRESH10_HELDOUT),
        "--dev11": ("fresh11 dev", FRESH11_DEV),
        "--heldout11": ("fresh11 held-out", FRESH11_HELDOUT),
        "--dev12": ("fresh12 dev", FRESH12_DEV),
        "--heldout12": ("fresh12 held-out", FRESH12_HELDOUT),
    }
    for option, (label, path) in sets.items():
        if option in sys.argv:
            if not path.exists():
                sys.exit(f"{path} is not there yet: the lead adds it to score it")
            rows = _read_fresh(path)
            if option in PRESUMED:
                judge = _judged_in(
                    _presumed(_read_fresh(FRESH12_DEV) + _read_fresh(FRESH12_HELDOUT))
                )
                report(f"{label} ({path.name}; names as the writer presumed them)", rows, judge)
                return
            report(f"{label} ({path.name})", rows, _strict)
            return
    report("table (tests/test_plain.py)", tp.CASES)
    fresh()
    report("held-out 1 (written before the parser)", _parse(HELD_OUT_1))
    report("held-out 2 (blind run: 61/65 before fixes)", _parse(HELD_OUT_2))
    texts = [c[1] for c in tp.CASES]
    start = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for text in texts:
            translate(text, tp.VOCAB)
    per = (time.perf_counter() - start) / (rounds * len(texts))
    print(
        f"\nmean translate time: {per * 1e3:.2f} ms per request ({len(texts)} requests x {rounds})"
    )


if __name__ == "__main__":
    main()
