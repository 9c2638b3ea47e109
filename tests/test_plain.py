"""The plain-language parser: a table of requests, the safety properties, and the API.

Expected values in :data:`CASES`:

- ``"ab summary checkout-flow"``: a command; options compare in any order.
- ``"? ab add-result search-v2 [--variant]"``: ``incomplete``; the understood part of
  the line and the first missing value (an option flag or ``NAME``/``FILE``…).
- ``"! did you mean"``: ``refused``; the text after ``!`` must appear in the reason.
- ``"~"``: unsure: a question or a pre-filled line (``incomplete``) or a refusal, never a
  command (the newcomer's UNSURE, INCOMPLETE and REFUSED of #24).
"""

from __future__ import annotations

import re
import shlex
from decimal import Decimal

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialbook.plain.translate import (
    EXAMPLE_VOCABULARY,
    Translation,
    Vocabulary,
    command_path,
    examples,
    is_write,
    translate,
)

VOCAB = Vocabulary(
    tests={
        "checkout-flow": ("cold", "warm"),
        "onboarding": ("control", "treatment"),
        "search-v2": ("a", "b", "c"),
        "prompt-style": ("terse", "verbose"),
    },
    archived={"old-pricing": ("monthly", "annual")},
    suites={"smoke", "regression"},
    runs={"baseline-0401", "candidate-0402", "20250131-142502-7f3a9c"},
    # the shell's own scorer names (shell/app.py: runners.scorers.BUILTINS and judge), and "exact"
    scorers={
        "exact",
        "contains",
        "icontains",
        "judge",
        "regex",
        "equals",
        "json_valid",
        "json_field",
        "numeric",
        "length",
    },
    canaries={"router-v2": (1.0, 10.0, 50.0, 100.0)},
    canary_arms={"router-v2": ("router-v1", "router-v2")},
)
CF = "checkout-flow"
AR = f"ab add-result {CF}"

# (family, request, focus, expected)
# fmt: off
CASES: list[tuple[str, str, str | None, str]] = [
    # ------------------------------------------------------------------ ab create
    ("ab create", "create a test checkout-v3 comparing cold vs warm", None, "ab create checkout-v3 --variants cold,warm"),
    ("ab create", "create an a/b test called pricing with variants monthly and annual", None, "ab create pricing --variants monthly,annual"),
    ("ab create", "new test tool-hints: none vs short vs long", None, "ab create tool-hints --variants none,short,long"),
    ("ab create", "set up an experiment named retries with arms zero, one, two", None, "ab create retries --variants zero,one,two"),
    ("ab create", "new a/b test pricing-page comparing monthly vs annual", None, "ab create pricing-page --variants monthly,annual"),
    ("ab create", "set up an experiment named tool-hints with arms none, short and long, control none", None, "ab create tool-hints --variants none,short,long --control none"),
    ("ab create", "create a test called latency-test with variants fast and slow, primary metric completion time", None, "ab create latency-test --variants fast,slow --metric completion_time"),
    ("ab create", "create a test called onb-2 with variants old and new, new as the control", None, "ab create onb-2 --variants old,new --control new"),
    ("ab create", "create a test checkout-v3 comparing cold vs warm with cold as the baseline", None, "ab create checkout-v3 --variants cold,warm --control cold"),
    ("ab create", "create test hints with variants a, b and c, control b", None, "ab create hints --variants a,b,c --control b"),
    ("ab create", "create test tone with variants formal,casual and a guardrail on completion time of +10%", None, "ab create tone --variants formal,casual --guardrail completion_time:+10%"),
    ("ab create", "create test tone with variants formal, casual, guardrail cost:+5%", None, "ab create tone --variants formal,casual --guardrail cost:+5%"),
    ("ab create", "create test tone with variants formal and casual, description: compare tone of the greeting", None, "ab create tone --variants formal,casual --description 'compare tone of the greeting'"),
    ("ab create", "create test sql-fix with variants v1 and v2 for task id T-42, category coding, difficulty hard", None, "ab create sql-fix --variants v1,v2 --task-id T-42 --category coding --difficulty hard"),
    ("ab create", "create test ux with variants cold and warm, metric happiness", None, "ab create ux --variants cold,warm --metric happiness"),
    ("ab create", "start a new a/b test called greet comparing hi vs hello", None, "ab create greet --variants hi,hello"),
    ("ab create", "create test easy-one with variants a and b, easy difficulty", None, "ab create easy-one --variants a,b --difficulty easy"),
    ("ab create", "create test speed with variants a and b, optimize for error rate", None, "ab create speed --variants a,b --metric error_rate"),
    ("ab create", "create a test called faq-bot", None, "? ab create faq-bot [--variants]"),
    ("ab create", "make a new experiment called faq-bot", None, "? ab create faq-bot [--variants]"),
    # 'success_rate' means two things (ab create refuses it too): asked, never a custom metric
    ("ab create", "create test latency-fix where the metric is success_rate", None, "? ab create latency-fix [--metric]"),
    ("ab create", "create test x with variants a,b, metric success_rate", None, "? ab create x --variants a,b [--metric]"),
    ("ab create", "create a test with variants x and y", None, "? ab create --variants x,y [NAME]"),
    ("ab create", "create test checkout-flow with variants a and b", None, "! already a test named 'checkout-flow'"),
    ("ab create", "create test old-pricing with variants a and b", None, "! already an archived test"),
    ("ab create", "create test dup with variants a and a", None, "! listed twice"),
    ("ab create", "create a test called Checkout Flow with variants a and b", None, "! already a test named 'checkout-flow'"),
    ("ab create", "create a test called Pricing Page with variants a and b", None, "? ab create [NAME]"),
    ("ab create", "create test ux with variants cold and warm, control hot", None, "! not one of the variants"),
    ("ab create", "create test gr with variants a and b and a guardrail on cost", None, "? ab create gr --variants a,b [--guardrail]"),
    ("ab create", "create test solo with variants only-one", None, "? ab create solo [--variants]"),
    ("ab create", "create test gr with variants a and b, 3 guardrails", None, "! '3'"),
    # ------------------------------------------------------------------ #24 round 5, lead: wrong writes the fifth held-out set found
    # every target kind of `--target` is one token (a rollout: target lost its kind)
    ("eval run", "run regression against rollout:http://127.0.0.1:8103 with 3 epochs", None, "eval run regression --target rollout:http://127.0.0.1:8103 --epochs 3"),
    ("eval run", "evaluate smoke on rollout:http://127.0.0.1:9000 with the cache", None, "eval run smoke --target rollout:http://127.0.0.1:9000 --cache"),
    # canary complete takes --force as advance does; a last clause beginning with "note" is the note
    ("canary complete", "finish router-v2, force it", None, "canary complete router-v2 --force"),
    ("canary complete", "complete router-v2 regardless of the rule, note: metrics fine", None, "canary complete router-v2 --force --note 'metrics fine'"),
    ("canary complete", "complete router-v2, override the rule, note looks healthy", None, "canary complete router-v2 --force --note 'looks healthy'"),
    ("canary advance", "advance router-v2, force it, note errors flat", None, "canary advance router-v2 --force --note 'errors flat'"),
    ("canary complete", "complete router-v2, note", None, "? canary complete router-v2 ['note']"),
    # a comma list ends before a word that runs on into a clause
    ("ab create", "create test retry-2 with variants zero,one, we plan for 600 results", None, "ab create retry-2 --variants zero,one --expected-results 600"),
    # a plan may be rough ("about 600"): it is what --expected-results says (#24 round 7)
    ("ab create", "create test retry-3 with variants zero,one, we expect about 600 results", None, "ab create retry-3 --variants zero,one --expected-results 600"),
    ("ab create", "new test tone-2 with variants plain, warm, formal, all on the same prompt", None, "~"),
    # ------------------------------------------------------------------ #24 round 3: capabilities
    # options said by their own name, the value on either side (plain/named.py)
    ("eval run", "run smoke against openai:gpt-4o with a 90 second timeout", None, "eval run smoke --target openai:gpt-4o --timeout 90"),
    ("eval run", "run regression against http://127.0.0.1:8000/task, timeout of 2 minutes", None, "eval run regression --target http://127.0.0.1:8000/task --timeout 120"),
    ("eval run", "run smoke against openai:gpt-4o and ask the judge 2 times", None, "eval run smoke --target openai:gpt-4o --judge-repeats 2"),
    ("eval run", "run smoke against openai:gpt-4o, price gpt-4o=2.5/10", None, "eval run smoke --target openai:gpt-4o --price gpt-4o=2.5/10"),
    ("eval run", "run smoke against openai:gpt-4o, fail if more than 3 rollouts failed", None, "eval run smoke --target openai:gpt-4o --max-failed 3"),
    ("eval run", "run smoke against openai:gpt-4o with a timeout", None, "~"),
    ("eval resume", "pick candidate-0402 back up with a budget of $5", None, "eval resume candidate-0402 --budget 5"),
    ("eval compare", "compare baseline-0401 and candidate-0402, allow at most 3 regressions", None, "eval compare baseline-0401 candidate-0402 --max-regressions 3"),
    ("eval compare", "compare baseline-0401 and candidate-0402, 2 regressions", None, "~"),
    ("eval compare", "compare baseline-0401 against candidate-0402", None, "? eval compare [RUN_A]"),
    ("canary advance", "force router-v2 to the next stage", None, "canary advance router-v2 --force"),
    ("canary advance", "advance router-v2 regardless of the rule", None, "canary advance router-v2 --force"),
    ("canary watch", "watch router-v2 and follow the rule on its own", None, "canary watch router-v2 --auto"),
    ("ab create", "create test cite with variants a and b, success criteria: 'cites a source'", None, "ab create cite --variants a,b --success-criteria 'cites a source'"),
    ("ab create", "create test tl with variants a and b, expected tools: search, fetch and open", None, "ab create tl --variants a,b --expected-tools search,fetch,open"),
    ("ab create", "create test big with variants a and b; we expect 800 results", None, "ab create big --variants a,b --expected-results 800"),
    ("ab create", "create test big with variants a and b; archive onboarding", None, "! one request at a time"),
    ("ab create", "create test dd with variants a and b, described as 'tone test'", None, "ab create dd --variants a,b --description 'tone test'"),
    ("ab analyze", "analyze search-v2 per difficulty", None, "ab analyze search-v2 --by difficulty"),
    ("ab analyze", "break prompt-style down by region", None, "ab analyze prompt-style --by region"),
    ("ab analyze", "analyze prompt-style by lang", None, "~"),
    ("ab analyze", "analyze prompt-style controlling for prior_tokens", None, "ab analyze prompt-style --covariate prior_tokens"),
    ("ab analyze", "analyze search-v2 with cuped using baseline_score", None, "ab analyze search-v2 --covariate baseline_score"),
    ("ab add-result", "add a terse result on prompt-style with region=eu, succeeded", None, "ab add-result prompt-style --variant terse --dimension region=eu --success"),
    ("ab add-result", "terse result for prompt-style in segment enterprise, 4c", None, "ab add-result prompt-style --variant terse --dimension segment=enterprise --cost 0.04"),
    # help questions, misspelt core words, references the store cannot resolve
    ("refused", "how does eval rescore work?", None, "! `help eval rescore`"),
    ("refused", "how do audits work", None, "! `help audit`"),
    ("ab analyze", "wich test is wining?", "prompt-style", "ab analyze prompt-style"),
    ("events verify", "verfy the log", None, "events verify"),
    ("ab show", "show the reuslts of search-v2", None, "ab show search-v2"),
    ("events log", "show the history of this test", "prompt-style", "events log --stream ab:prompt-style"),
    ("unsure", "what is at that position?", None, "~"),
    ("unsure", "is the old one faster?", CF, "~"),
    ("unsure", "run the evals", None, "~"),
    ("ab archive", "delete search-v2", None, "! tests are never deleted"),
    # effects and margins in the metric's units, said around their words
    ("ab analyze", "is terse cheaper on prompt-style? a $0.01 difference matters", None, "ab analyze prompt-style --metric cost --mde 0.01"),
    ("ab analyze", "is treatment at least 20s faster than control?", "onboarding", "ab analyze onboarding --metric completion_time --mde 20"),
    ("ab analyze", "for onboarding the smallest lift we care about is 3pp", None, "ab analyze onboarding --mde 3pp"),
    ("ab analyze", "check equivalence of onboarding with a 1pp margin", None, "ab analyze onboarding --margin 1pp"),
    ("ab analyze", "is treatment 20s faster than control?", "onboarding", "~"),
    ("ab analyze", "analyze onboarding on tool success rate", None, "ab analyze onboarding --metric tool_success_rate"),
    ("ab analyze", "latency: verbose vs terse", None, "ab analyze prompt-style --metric completion_time"),
    ("ab analyze", "messages on onboarding compared to control", None, "ab analyze onboarding --metric messages"),
    ("ab summary", "just the plain numbers for prompt-style, no statistics", None, "ab summary prompt-style"),
    ("ab conclude", "call off search-v2, no clear winner", None, "ab conclude search-v2 --stop --note 'no clear winner'"),
    ("ab conclude", "call it off", "onboarding", "ab conclude onboarding --stop"),
    ("ab conclude", "ship b, no winner", "search-v2", "~"),
    ("ab show", "all the sessions of prompt-style, not just the last 10", None, "ab show prompt-style --limit 0"),
    ("ab show", "export the prompt-style results as csv", None, "ab show prompt-style --csv"),
    ("events log", "the events, not just the last 5", None, "~"),
    ("eval show", "plot the score distribution of baseline-0401", None, "eval show baseline-0401 --plot"),
    ("eval show", "a histogram of baseline-0401", None, "eval show baseline-0401 --plot"),
    # imports from a directory of saved tests or stdin; a result's transcript
    ("ab import", "import all the saved tests in /data/saved", None, "ab import /data/saved"),
    ("ab import", "import the onboarding results from standard input", None, "ab import onboarding -"),
    ("ab import", "load /data/saved", None, "? ab import [NAME]"),
    ("ab add-result", "add a verbose result with transcript chats/v-3.json, failed", "prompt-style", "ab add-result prompt-style --variant verbose --transcript chats/v-3.json --failure"),
    ("ab add-result", "same case q-4 for c: score 0.6", "search-v2", "ab add-result search-v2 --variant c --case-id q-4 --score 0.6"),
    ("ab add-result", "just ran terse: 3 calls, 3 ok, 12s", "prompt-style", "ab add-result prompt-style --variant terse --tool-calls 3 --successful-calls 3 --completion-time 12"),
    ("ab add-result", "terse took three and a half minutes", "prompt-style", "ab add-result prompt-style --variant terse --completion-time 210"),
    ("ab add-result", "terse took half an hour", "prompt-style", "ab add-result prompt-style --variant terse --completion-time 1800"),
    ("ab add-result", "terse took about half an hour", "prompt-style", "~"),
    ("eval resume", "baseline-0401 died, resume it", None, "eval resume baseline-0401"),
    ("eval list", "any crashed runs?", None, "eval list"),
    ("demo", "a demo without the eval step", None, "demo --no-eval"),
    ("eval export", "write the traces of baseline-0401 into runs/base", None, "eval export baseline-0401 --traces runs/base"),
    ("canary advance", "move router-v2 to 10%, error rate is flat", None, "canary advance router-v2 --to 10 --note 'error rate is flat'"),
    ("canary advance", "take router-v2 to 50% anyway", None, "canary advance router-v2 --to 50 --force"),
    # round 4: a bare number that is one of the canary's stages is that stage (any other is asked)
    ("canary advance", "take router-v2 to 50 anyway", None, "canary advance router-v2 --to 50 --force"),
    ("canary advance", "move router-v2 to 40", None, "~"),
    ("export dataset", "export baseline-0401 as jsonl, split train 0.7, val 0.3", None, "export dataset baseline-0401 --format jsonl --split train=0.7,val=0.3"),
    ("export dataset", "a dataset of search-v2", None, "~"),
    ("ab create", "start a test chunking with small and large, plan 300 results", None, "ab create chunking --variants small,large --expected-results 300"),
    ("ab analyze", "how did prompt-style look at position 15?", None, "ab analyze prompt-style --at 15"),
    ("ab analyze", "show search-v2 as it was on 2026-11-02 at 09:30", None, "ab analyze search-v2 --as-of '2026-11-02 09:30'"),
    # a request that names a test and asks nothing the rules read is offered, not run
    ("unsure", "put search-v2 away", None, "? ab show search-v2 ['put']"),
    ("unsure", "prompt-style, finally", None, "~"),
    ("ab show", "what does prompt-style look like", None, "ab show prompt-style"),
    ("events verify", "is the ledger fine?", None, "events verify"),
    ("eval suite list", "suite list please", None, "eval suite list"),
    ("eval rescore", "rescore baseline-0401 with the judge 2 times", None, "eval rescore baseline-0401 --scorer judge --judge-repeats 2"),
    ("canary assign", "where does user-3 go on router-v2?", None, "canary assign router-v2 user-3"),
    ("canary assign", "assign user-1 user-2 user-3 on router-v2, json", None, "canary assign router-v2 user-1 user-2 user-3 --json"),
    ("ab add-result", "warm was successful; 4 calls, 4 ok", CF, f"{AR} --variant warm --tool-calls 4 --successful-calls 4 --success"),
    ("ab analyze", "is verbose cheaper than terse on cost per success?", None, "ab analyze prompt-style --metric cost_per_success"),
    ("ab analyze", "is terse faster on cost?", None, "! which metric"),
    ("ab create", "create test fmt2 with variants md and html", None, "ab create fmt2 --variants md,html"),
    ("ab list", "list the active and archived tests", None, "ab list --all"),
    ("ab add-result", "add a reslut for terse: faild", "prompt-style", "ab add-result prompt-style --variant terse --failure"),
    ("ab add-result", "record terse: file", "prompt-style", "~"),
    ("ab add-result", "add a terse result, region=eu, region=us", "prompt-style", "! region is given twice"),
    ("ab archive", "archive search-v2 because its index was deleted", None, "ab archive search-v2 --reason 'its index was deleted'"),
    ("eval compare", "compare baseline-0401 and candidate-0402, at most regressions", None, "? eval compare baseline-0401 candidate-0402 [--max-regressions]"),
    ("ab add-result", "could you record a terse result: 2 calls, 2 ok", "prompt-style", "ab add-result prompt-style --variant terse --tool-calls 2 --successful-calls 2"),
    ("ab archive", "can you archive search-v2?", None, "ab archive search-v2"),
    ("refused", "did we archive search-v2?", None, "~"),
    ("export dataset", "a passed-only tensorzero dataset from baseline-0401", None, "export dataset baseline-0401 --format tensorzero --passed-only"),
    # key=value for an option; two values for one option are refused, never one dropped
    ("ab analyze", "analyze search-v2 alpha=0.05", None, "ab analyze search-v2 --alpha 0.05"),
    ("eval run", "run regression against openai:gpt-4o epochs=2 concurrency=3", None, "eval run regression --target openai:gpt-4o --epochs 2 --concurrency 3"),
    ("eval run", "run regression against openai:gpt-4o, 2 concurrent, concurrency 6", None, "! given twice"),
    ("ab analyze", "has c pulled ahead?", "search-v2", "ab analyze search-v2"),
    ("ab analyze", "how sure are we that treatment is better?", None, "ab analyze onboarding"),
    ("ab conclude", "end search-v2 and keep the control", None, "ab conclude search-v2 --keep-control"),
    ("ab import", "load /tmp/saved/t9.json as test t9", None, "ab import t9 /tmp/saved/t9.json"),
    ("eval suite add", "add suite file cases/new.yaml", None, "eval suite add cases/new.yaml"),
    ("events log", "the history of router-v2", None, "events log --stream canary:router-v2"),
    ("canary halt", "halt router-v2 now, latency tripled", None, "canary halt router-v2 --note 'latency tripled'"),
    ("canary rollback", "roll router-v2 back, costs are up", None, "canary rollback router-v2 --note 'costs are up'"),
    ("canary watch", "keep an eye on router-v2", None, "canary watch router-v2"),
    ("ab archive", "archive prompt-style, it is finished", None, "ab archive prompt-style --reason 'it is finished'"),
    ("ab conclude", "ship c, the numbers are clear", "search-v2", "ab conclude search-v2 --ship c --note 'the numbers are clear'"),
    ("ab conclude", "ship c, i guess", "search-v2", "~"),
    ("ab analyze", "what would we have seen if we had peeked after each result on search-v2?", None, "ab analyze search-v2 --history"),
    ("report ab", "ci check on onboarding with a 30s latency budget", None, "report ab onboarding --latency-budget 30 --check"),
    ("report ab", "search-v2 with a $0.02 cost budget, as a gate", None, "report ab search-v2 --cost-budget 0.02 --check"),
    ("report ab", "ci check on onboarding with a 3 point latency budget", None, "! latency budget is in seconds"),
    ("ab analyze", "what is the error rate of verbose?", None, "ab analyze prompt-style --metric error_rate"),
    ("ab analyze", "what's the mean number of messages for treatment?", None, "ab analyze onboarding --metric messages"),
    ("ab analyze", "draw the chart for prompt-style", None, "ab analyze prompt-style --plot"),
    ("unsure", "what's up with prompt-style?", None, "~"),
    ("eval run", "run smoke against openai:gpt-4o, timeout 0", None, "~"),
    ("eval run", "run smoke against openai:gpt-4o with a budget of -2", None, "~"),
    ("ab import", "import /data/saved into prompt-style", None, "? ab import [FILE]"),
    ("eval show", "how did it go?", "baseline-0401", "eval show baseline-0401"),
    ("events log", "show its history", "prompt-style", "events log --stream ab:prompt-style"),
    ("events log", "the log of it", "router-v2", "events log --stream canary:router-v2"),
    ("ab analyze", "is prompt-style ready to ship?", None, "ab analyze prompt-style"),
    ("ab create", "create test seg with variants a and b, segment by category", None, "ab create seg --variants a,b --segment category"),
    ("ab create", "create test capx with variants a and b, cap tokens at p99", None, "ab create capx --variants a,b --cap tokens:p99"),
    ("ab create", "create test capy with variants a and b, cap cost at", None, "~"),
    ("ab add-result", "verbose failed again", "prompt-style", "ab add-result prompt-style --variant verbose --failure"),
    ("ab analyze", "rewind prompt-style to position 9", None, "ab analyze prompt-style --at 9"),
    ("canary status", "the state of router-v2", None, "canary status router-v2"),
    ("eval retry-failed", "redo the failed cases of baseline-0401", None, "eval retry-failed baseline-0401"),
    ("eval retry-failed", "try the failed rollouts again", "baseline-0401", "eval retry-failed baseline-0401"),
    ("view", "bring up the web ui", None, "view"),
    ("report eval", "report for baseline-0401 compared to candidate-0402", None, "! which run is the baseline"),
    ("report eval", "report for candidate-0402 compared to baseline-0401", None, "report eval candidate-0402 --baseline baseline-0401"),
    ("refused", "help with the event log", None, "! `help events`"),
    ("refused", "how do I use canary add-result?", None, "! `help canary add-result`"),
    ("refused", "help with canary assign", None, "! `help canary assign`"),
    ("ab add-result", "terse errored out after 12 seconds", "prompt-style", "ab add-result prompt-style --variant terse --completion-time 12 --failure"),
    ("ab add-result", "verbose timed out after 2 min", "prompt-style", "ab add-result prompt-style --variant verbose --completion-time 120 --failure"),
    ("ab add-result", "verbose needed 3 corrections but passed", "prompt-style", "ab add-result prompt-style --variant verbose --corrections 3 --success"),
    ("ab add-result", "terse broken after 4 calls", "prompt-style", "! did it succeed"),
    ("events log", "show me the archivings in the log", None, "~"),
    ("events log", "the rollouts in the log", None, "events log --type RolloutCompleted"),
    ("events verify", "is the hash chain untampered?", None, "events verify"),
    ("audit", "re-check the search-v2 decision", None, "audit search-v2"),
    ("audit", "can the prompt-style decision be reproduced?", None, "audit prompt-style"),
    ("eval run", "run regression against openai:gpt-4o, judge scorer, 2 judge repeats", None, "eval run regression --target openai:gpt-4o --scorer judge --judge-repeats 2"),
    # ------------------------------------------------------------------ ab add-result
    ("ab add-result", "add a warm result: 12 calls, 11 ok, took 40s", None, f"{AR} --variant warm --tool-calls 12 --successful-calls 11 --completion-time 40"),
    ("ab add-result", "add a cold result to checkout-flow: 11 of 12 calls ok", None, f"{AR} --variant cold --tool-calls 12 --successful-calls 11"),
    ("ab add-result", "warm: twelve tool calls, eleven successful calls, 40 seconds", None, f"{AR} --variant warm --tool-calls 12 --successful-calls 11 --completion-time 40"),
    ("ab add-result", "record a warm session with 12 calls of which 11 succeeded", None, f"{AR} --variant warm --tool-calls 12 --successful-calls 11"),
    ("ab add-result", "warm session, 11/12 calls succeeded, 2 min", None, f"{AR} --variant warm --tool-calls 12 --successful-calls 11 --completion-time 120"),
    ("ab add-result", "cold failed after 1m30s with 3 errors", None, f"{AR} --variant cold --errors 3 --completion-time 90 --failure"),
    ("ab add-result", "cold did not succeed", None, f"{AR} --variant cold --failure"),
    ("ab add-result", "cold didn't succeed, 5 messages, 2 corrections", None, f"{AR} --variant cold --messages 5 --corrections 2 --failure"),
    ("ab add-result", "log an unsuccessful cold session", None, f"{AR} --variant cold --failure"),
    ("ab add-result", "add a successful warm result", None, f"{AR} --variant warm --success"),
    ("ab add-result", "warm succeeded in 35s using 1.5k tokens costing $0.03", None, f"{AR} --variant warm --completion-time 35 --tokens 1500 --cost 0.03 --success"),
    ("ab add-result", "warm: 2,400 tokens, 3 cents", None, f"{AR} --variant warm --tokens 2400 --cost 0.03"),
    ("ab add-result", "warm, cost 0.05 dollars", None, f"{AR} --variant warm --cost 0.05"),
    ("ab add-result", "add a warm result that cost 0.5 usd", None, f"{AR} --variant warm --cost 0.5"),
    ("ab add-result", "add a warm result, score 0.8", None, f"{AR} --variant warm --score 0.8"),
    ("ab add-result", "warm, scored 7", None, f"{AR} --variant warm --score 7"),
    ("ab add-result", "add a warm result for case 17", None, f"{AR} --variant warm --case-id 17"),
    ("ab add-result", "add a warm result, case id login-3, session id s-99", None, f"{AR} --variant warm --session-id s-99 --case-id login-3"),
    ("ab add-result", "add a warm result with helpfulness=4", None, f"{AR} --variant warm --metric helpfulness=4"),
    ("ab add-result", "add a warm result, tool_calls=9 successful_calls=8", None, f"{AR} --variant warm --tool-calls 9 --successful-calls 8"),
    ("ab add-result", "add a warm result, success=false", None, f"{AR} --variant warm --failure"),
    ("ab add-result", "add a warm result, 12 calls, all ok", None, f"{AR} --variant warm --tool-calls 12 --successful-calls 12"),
    ("ab add-result", "warm: 4 calls, all succeeded", None, f"{AR} --variant warm --tool-calls 4 --successful-calls 4"),
    ("ab add-result", "warm: 5 tool calls, none failed", None, f"{AR} --variant warm --tool-calls 5 --successful-calls 5"),
    ("ab add-result", "warm: 5 calls, no failed calls", None, f"{AR} --variant warm --tool-calls 5 --successful-calls 5"),
    ("ab add-result", "warm: 12 calls, 0 failed", None, f"{AR} --variant warm --tool-calls 12 --successful-calls 12"),
    ("ab add-result", "warm, no errors", None, f"{AR} --variant warm --errors 0"),
    ("ab add-result", "warm with zero corrections", None, f"{AR} --variant warm --corrections 0"),
    ("ab add-result", "warm: 12 calls, 11 ok, 1 failed", None, f"{AR} --variant warm --tool-calls 12 --successful-calls 11"),
    ("ab add-result", "warm session on checkout-flow: 9 calls, 9 successful, 800ms", None, f"{AR} --variant warm --tool-calls 9 --successful-calls 9 --completion-time 0.8"),
    ("ab add-result", "add a warm result, 1 min 30 s", None, f"{AR} --variant warm --completion-time 90"),
    ("ab add-result", "add a warm result: messages 6, corrections 1, tokens 900", None, f"{AR} --variant warm --messages 6 --corrections 1 --tokens 900"),
    ("ab add-result", "add a warm result: one hundred tokens", None, f"{AR} --variant warm --tokens 100"),
    ("ab add-result", "warm: twenty-one calls, twenty ok", None, f"{AR} --variant warm --tool-calls 21 --successful-calls 20"),
    ("ab add-result", "add a warm result, took 40", None, f"{AR} --variant warm --completion-time 40"),
    ("ab add-result", "add a warm result noting that the user gave up early", None, f"{AR} --variant warm --notes 'the user gave up early'"),
    ("ab add-result", "add a warm result, note: 12 retries happened", None, f"{AR} --variant warm --notes '12 retries happened'"),
    ("ab add-result", 'add a warm result with error "timeout"', None, f"{AR} --variant warm --error timeout"),
    ("ab add-result", "warm failed with error 'rate limited'", None, f"{AR} --variant warm --error 'rate limited' --failure"),
    ("ab add-result", "add a warm result, 2m tokens", None, f"{AR} --variant warm --tokens 2000000"),
    ("ab add-result", "add a warm result", None, f"{AR} --variant warm"),
    ("ab add-result", "record a warm session for checkout-flow: 9 tool calls, 8 successful, finished in 35 seconds", None, f"{AR} --variant warm --tool-calls 9 --successful-calls 8 --completion-time 35"),
    ("ab add-result", "cold result on checkout-flow, failed after 2 minutes, 3 errors", None, f"{AR} --variant cold --errors 3 --completion-time 120 --failure"),
    ("ab add-result", "log one for treatment in onboarding: success, 1,200 tokens, cost $0.02", None, "ab add-result onboarding --variant treatment --tokens 1200 --cost 0.02 --success"),
    ("ab add-result", "warm: twelve calls, eleven ok, 40s", CF, f"{AR} --variant warm --tool-calls 12 --successful-calls 11 --completion-time 40"),
    ("ab add-result", "another cold one, 7 of 10 calls worked, 2 corrections", CF, f"{AR} --variant cold --tool-calls 10 --successful-calls 7 --corrections 2"),
    ("ab add-result", "add result to search-v2 for variant b, score 0.7", None, "ab add-result search-v2 --variant b --score 0.7"),
    ("ab add-result", "add a result for b in search-v2", None, "ab add-result search-v2 --variant b"),
    ("ab add-result", "add a b result to search-v2: 4 calls all succeeded", None, "ab add-result search-v2 --variant b --tool-calls 4 --successful-calls 4"),
    ("ab add-result", "a did not succeed on search-v2, took 1m30s", None, "ab add-result search-v2 --variant a --completion-time 90 --failure"),
    ("ab add-result", "add a result for search-v2 variant a, 3 calls, 3 ok", None, "ab add-result search-v2 --variant a --tool-calls 3 --successful-calls 3"),
    ("ab add-result", "search-v2 A: 7 calls, 6 ok", None, "ab add-result search-v2 --variant a --tool-calls 7 --successful-calls 6"),
    ("ab add-result", "add a result to search-v2 for a, 2 errors", None, "ab add-result search-v2 --variant a --errors 2"),
    ("ab add-result", "add a treatment result: 3 calls, 2 ok", "onboarding", "ab add-result onboarding --variant treatment --tool-calls 3 --successful-calls 2"),
    ("ab add-result", "record an unsuccessful verbose session, 3.2k tokens, 4 cents", None, "ab add-result prompt-style --variant verbose --tokens 3200 --cost 0.04 --failure"),
    ("ab add-result", "terse passed", None, "ab add-result prompt-style --variant terse --success"),
    ("ab add-result", "verbose did not pass, 3 errors", None, "ab add-result prompt-style --variant verbose --errors 3 --failure"),
    ("ab add-result", "add a warm result: 12 calls, 1 failed", None, f"? {AR} --variant warm --tool-calls 12 [--successful-calls]"),
    ("ab add-result", "add a result for search-v2", None, "? ab add-result search-v2 [--variant]"),
    ("ab add-result", "add a result: 12 calls", None, "? ab add-result --tool-calls 12 [NAME]"),
    ("ab add-result", "add a warm result with a few errors", None, f"? {AR} --variant warm [--errors]"),
    ("ab add-result", "add a warm result with some tool calls", None, f"? {AR} --variant warm [--tool-calls]"),
    ("ab add-result", "add a warm result, it took a while", None, f"? {AR} --variant warm [--completion-time]"),
    ("ab add-result", "add a warm result: 11 ok calls", None, f"? {AR} --variant warm --successful-calls 11 [--tool-calls]"),
    ("ab add-result", "add a warm result with 12 calls and 3 retries", None, "! '3'"),
    ("ab add-result", "warm: 12 calls, 10 ok, 1 failed", None, "! do not make 12 calls"),
    ("ab add-result", "add a warm result, 12 calls, 13 ok", None, "! more than 12"),
    ("ab add-result", "warm: 11 ok", None, "! '11'"),
    ("ab add-result", "add a hot result to checkout-flow", None, "! no variant 'hot'"),
    ("ab add-result", "add a wram result to checkout-flow", None, "! did you mean warm"),
    ("ab add-result", "add a warm result", "onboarding", "! not a variant of onboarding"),
    ("ab add-result", "warm succeeded but failed", None, "! both"),
    ("ab add-result", "add a warm result: 12 calls and a cold result: 10 calls", None, "! which variant"),
    ("ab add-result", "add a warm result: 12.5 calls", None, "!"),
    ("ab add-result", "add a warm result, 3 turns", None, "! '3'"),
    ("ab add-result", "add a warm result, cost 3 euros", None, "! 'euros'"),
    ("ab add-result", "add a warm result with 40", None, "! '40'"),
    ("ab add-result", "add a warm result with -3 errors", None, "! cannot be negative"),
    ("ab add-result", "add a warm result, the user was happy", None, "! 'happy'"),
    ("ab add-result", "add a result for variant hot in checkout-flow", None, "! no variant 'hot'"),
    ("ab add-result", "add a warm result to smoke", None, "! 'smoke' is a suite"),
    ("ab add-result", "warm: 11 of 12 calls", None, "! succeeded or failed"),
    # ------------------------------------------------------------------ ab import
    ("ab import", "import results.jsonl into checkout-flow", None, "ab import checkout-flow results.jsonl"),
    ("ab import", "load data/run3.jsonl for onboarding", None, "ab import onboarding data/run3.jsonl"),
    ("ab import", "import ./batch.jsonl", CF, "ab import checkout-flow ./batch.jsonl"),
    ("ab import", "bulk import results from /tmp/warm.jsonl into search-v2", None, "ab import search-v2 /tmp/warm.jsonl"),
    ("ab import", "import results.jsonl", None, "? ab import [NAME]"),
    ("ab import", "import results into checkout-flow", None, "? ab import checkout-flow [FILE]"),
    # ------------------------------------------------------------------ ab list / show / summary
    ("ab list", "what tests are there?", None, "ab list"),
    ("ab list", "list tests", None, "ab list"),
    ("ab list", "list all tests including archived ones", None, "ab list --all"),
    ("ab list", "show archived tests", None, "ab list --all"),
    ("ab list", "which experiments do I have", None, "ab list"),
    ("ab list", "what tests do I have?", None, "ab list"),
    ("ab show", "show me onboarding", None, "ab show onboarding"),
    ("ab show", "show checkout-flow", None, "ab show checkout-flow"),
    ("ab show", "details of prompt-style", None, "ab show prompt-style"),
    ("ab show", "describe the search-v2 test", None, "ab show search-v2"),
    ("ab show", "show results for checkout-flow", None, "ab show checkout-flow"),
    ("ab show", "show the test", CF, "ab show checkout-flow"),
    ("ab show", "show old-pricing", None, "ab show old-pricing"),
    ("ab show", "onboarding", None, "ab show onboarding"),
    ("ab summary", "summarize checkout-flow", None, "ab summary checkout-flow"),
    ("ab summary", "give me a summary of prompt-style", None, "ab summary prompt-style"),
    ("ab summary", "how is onboarding doing?", None, "ab summary onboarding"),
    ("ab summary", "how's checkout-flow looking", None, "ab summary checkout-flow"),
    ("ab summary", "status", CF, "ab summary checkout-flow"),
    ("ab summary", "stats for search-v2", None, "ab summary search-v2"),
    ("ab summary", "summary", None, "? ab summary [NAME]"),
    ("ab summary", "summarize chekout-flow", None, "! did you mean checkout-flow"),
    ("ab summary", "summary of onbording", CF, "! did you mean onboarding"),
    # ------------------------------------------------------------------ ab analyze
    ("ab analyze", "which variant is winning?", CF, "ab analyze checkout-flow"),
    ("ab analyze", "which variant is winning?", None, "? ab analyze [NAME]"),
    ("ab analyze", "which arm is ahead?", "search-v2", "ab analyze search-v2"),
    ("ab analyze", "is warm better than cold?", None, "ab analyze checkout-flow"),
    ("ab analyze", "is warm significantly faster than cold?", None, "ab analyze checkout-flow --metric completion_time"),
    ("ab analyze", "analyze onboarding on error rate at alpha 0.01", None, "ab analyze onboarding --metric error_rate --alpha 0.01"),
    ("ab analyze", "analyze checkout-flow at the 5% significance level", None, "ab analyze checkout-flow --alpha 0.05"),
    ("ab analyze", "analyze onboarding with 95% confidence", None, "? ab analyze onboarding [--alpha]"),
    ("ab analyze", "analyze onboarding with alpha", None, "? ab analyze onboarding [--alpha]"),
    ("ab analyze", "show the recommendation history for checkout-flow", None, "ab analyze checkout-flow --history"),
    ("ab analyze", "how many more sessions do we need for onboarding to detect a 5% lift", None, "ab analyze onboarding --mde 5%"),
    ("ab analyze", "should we ship warm?", None, "ab analyze checkout-flow"),
    ("ab analyze", "is treatment winning on cost?", None, "ab analyze onboarding --metric cost"),
    ("ab analyze", "which is cheaper, terse or verbose?", None, "ab analyze prompt-style --metric cost"),
    ("ab analyze", "analyze search-v2 on tokens and cost", None, "! which metric"),
    ("ab analyze", "analyze checkout-flow", None, "ab analyze checkout-flow"),
    ("ab analyze", "is there a significant difference in checkout-flow?", None, "ab analyze checkout-flow"),
    ("ab analyze", "compare warm and cold", None, "ab analyze checkout-flow"),
    ("ab analyze", "analyze prompt-style with mde 0.1", None, "ab analyze prompt-style --mde 0.1"),
    ("ab analyze", "is warm winning in onboarding?", None, "! not a variant of onboarding"),
    ("ab analyze", "which variant has the best success rate in search-v2 over time", None, "ab analyze search-v2 --metric success --history"),
    ("ab analyze", "how much longer should onboarding run?", None, "ab analyze onboarding"),
    ("ab analyze", "analyze checkout-flow at alpha 0.05 and 0.01", None, "! '0.01'"),
    # ------------------------------------------------------------------ ab conclude
    ("ab conclude", "ship warm", None, "ab conclude checkout-flow --ship warm"),
    ("ab conclude", "ship warm because it is faster", None, "ab conclude checkout-flow --ship warm --note 'it is faster'"),
    ("ab conclude", "for onboarding, keep the control, note: no clear gain", None, "ab conclude onboarding --keep-control --note 'no clear gain'"),
    ("ab conclude", "stop the prompt-style test", None, "ab conclude prompt-style --stop"),
    ("ab conclude", "let's go with verbose", None, "ab conclude prompt-style --ship verbose"),
    ("ab conclude", "conclude search-v2: ship b", None, "ab conclude search-v2 --ship b"),
    ("ab conclude", "keep control on onboarding", None, "ab conclude onboarding --keep-control"),
    ("ab conclude", "don't ship anything on checkout-flow", None, "ab conclude checkout-flow --keep-control"),
    # not shipping one of several candidates is not keeping the control (found by held-out 1, after it was scored)
    ("ab conclude", "don't ship c", "search-v2", "! 2 variants besides the control"),
    ("ab conclude", "do not ship b on search-v2", None, "! 2 variants besides the control"),
    ("ab conclude", "don't ship warm", "checkout-flow", "ab conclude checkout-flow --keep-control"),
    ("ab conclude", "stop the test", CF, "ab conclude checkout-flow --stop"),
    ("ab conclude", "ship treatment", None, "ab conclude onboarding --ship treatment"),
    ("ab conclude", "roll out warm on checkout-flow", None, "ab conclude checkout-flow --ship warm"),
    ("ab conclude", "ship it", CF, "? ab conclude checkout-flow [--ship]"),
    ("ab conclude", "conclude onboarding", None, "? ab conclude onboarding [--ship]"),
    ("ab conclude", "ship warm or cold", None, "! which variant"),
    ("ab conclude", "ship warm to onboarding", None, "! not a variant of onboarding"),
    ("ab conclude", "ship hot", CF, "! no variant 'hot'"),
    ("ab conclude", "ship warm and archive checkout-flow", None, "! one request at a time"),
    ("ab conclude", "ship warm and keep the control", None, "! ambiguous"),
    # ------------------------------------------------------------------ ab archive / restore
    ("ab archive", "archive checkout-flow", None, "ab archive checkout-flow"),
    ("ab archive", "delete the onboarding test", None, "! tests are never deleted"),
    ("ab archive", "remove prompt-style", None, "ab archive prompt-style"),
    ("ab archive", "hide search-v2", None, "ab archive search-v2"),
    ("ab archive", "delete it", CF, "! type `ab archive checkout-flow`"),
    ("ab archive", "archive checkout-flow because we are done with it", None, "ab archive checkout-flow --reason 'we are done with it'"),
    ("ab archive", "delete checkout-flow permanently", None, "! never destroys"),
    ("ab archive", "delete all tests", None, "! one test at a time"),
    ("ab archive", "archive old-pricing", None, "! already archived"),
    ("ab archive", "archive", None, "? ab archive [NAME]"),
    ("ab archive", "delete the warm variant", None, "! variants cannot be removed"),
    ("ab archive", "archive smoke", None, "! only A/B tests"),
    ("ab archive", "remove prompt-style and onboarding", None, "! which test"),
    ("ab restore", "restore old-pricing", None, "ab restore old-pricing"),
    ("ab restore", "bring old-pricing back", None, "ab restore old-pricing"),
    ("ab restore", "undelete the old-pricing test", None, "ab restore old-pricing"),
    ("ab restore", "unarchive old-pricing", None, "ab restore old-pricing"),
    ("ab restore", "restore checkout-flow", None, "! not archived"),
    ("ab restore", "archive or restore old-pricing", None, "! more than one change"),
    # ------------------------------------------------------------------ events
    ("events log", "show me the log", None, "events log"),
    ("events log", "what happened?", None, "events log"),
    ("events log", "what's been happening lately", None, "events log"),
    ("events log", "show the last 5 events", None, "events log --limit 5"),
    ("events log", "last twenty events", None, "events log --limit 20"),
    ("events log", "events for checkout-flow", None, "events log --stream ab:checkout-flow"),
    ("events log", "show the log for run baseline-0401", None, "events log --stream eval-run:baseline-0401"),
    ("events log", "show only result events", None, "events log --type ResultAdded"),
    ("events log", "show TestArchived events", None, "events log --type TestArchived"),
    ("events log", "history of onboarding", None, "events log --stream ab:onboarding"),
    ("events log", "show the audit trail", None, "events log"),
    ("events log", "recent activity on checkout-flow, last 10", None, "events log --stream ab:checkout-flow --limit 10"),
    ("events log", "show events since position 100", None, "! '100'"),
    ("events log", "events for checkout-flow and onboarding", None, "! one stream at a time"),
    ("events verify", "is the ledger intact?", None, "events verify"),
    ("events verify", "check that nobody tampered with the log", None, "events verify"),
    ("events verify", "verify the hash chain", None, "events verify"),
    ("events verify", "has anyone edited the log?", None, "events verify"),
    ("events verify", "verify", None, "events verify"),
    ("events verify", "audit the log", None, "events verify"),
    ("events show", "show event 17", None, "events show 17"),
    ("events show", "show event number 17", None, "events show 17"),
    ("events show", "what is event #42", None, "events show 42"),
    ("events show", "show event", None, "? events show [POSITION]"),
    ("events export", "dump the event log", None, "events export"),
    ("events export", "export the events", None, "events export"),
    ("events export", "export the log to log.jsonl", None, "events export --output log.jsonl"),
    ("projections rebuild", "rebuild the read models", None, "projections rebuild"),
    ("projections rebuild", "rebuild projections", None, "projections rebuild"),
    ("projections rebuild", "refresh the tables", None, "projections rebuild"),
    # ------------------------------------------------------------------ eval
    ("eval suite add", "register cases/smoke2.yaml as a suite called smoke", None, "eval suite add cases/smoke2.yaml --name smoke"),
    ("eval suite add", "add suite cases.jsonl", None, "eval suite add cases.jsonl"),
    ("eval suite add", "add the cases in qa.yaml as a suite named qa", None, "eval suite add qa.yaml --name qa"),
    ("eval suite add", "add a suite", None, "? eval suite add [FILE]"),
    ("eval suite list", "which suites do I have", None, "eval suite list"),
    ("eval suite list", "list suites", None, "eval suite list"),
    ("eval suite show", "show the regression suite", None, "eval suite show regression"),
    ("eval suite show", "what's in smoke?", None, "eval suite show smoke"),
    ("eval suite show", "show suite smok", None, "! did you mean smoke"),
    ("eval run", "run smoke against http://127.0.0.1:8080/task with 3 epochs", None, "eval run smoke --target http://127.0.0.1:8080/task --epochs 3"),
    ("eval run", "evaluate the regression suite on openai:gpt-4o-mini, 10 at a time, scored by exact and judge", None, "eval run regression --target openai:gpt-4o-mini --concurrency 10 --scorer exact --scorer judge"),
    ("eval run", "run smoke against http://127.0.0.1:9/t 5 times with concurrency 20", None, "eval run smoke --target http://127.0.0.1:9/t --epochs 5 --concurrency 20"),
    ("eval run", "run smoke on python:agents.main:solve with the contains scorer", None, "eval run smoke --target python:agents.main:solve --scorer contains"),
    ("eval run", "run regression against command:./agent.sh, 8 in parallel", None, "eval run regression --target command:./agent.sh --concurrency 8"),
    ("eval run", "run the smoke suite", None, "? eval run smoke [--target]"),
    ("eval run", "run smoke against gpt-4o", None, "? eval run smoke [--target]"),
    ("eval run", "run the evals against http://127.0.0.1:9/t", None, "? eval run [SUITE]"),
    ("eval run", "run smoke against http://127.0.0.1:9/t with the fancy scorer", None, "! no scorer named 'fancy'"),
    ("eval run", "run smoke against http://127.0.0.1:9/t with 3", None, "! '3'"),
    ("eval resume", "resume baseline-0401", None, "eval resume baseline-0401"),
    ("eval resume", "continue the interrupted run candidate-0402", None, "eval resume candidate-0402"),
    ("eval resume", "resume", "candidate-0402", "eval resume candidate-0402"),
    ("eval resume", "resume the run", None, "? eval resume [RUN]"),
    ("eval list", "list eval runs", None, "eval list"),
    ("eval list", "what runs are there?", None, "eval list"),
    ("eval show", "show results of run baseline-0401", None, "eval show baseline-0401"),
    ("eval show", "show run 20250131-142502-7f3a9c", None, "eval show 20250131-142502-7f3a9c"),
    ("eval show", "how did candidate-0402 do?", None, "eval show candidate-0402"),
    ("eval show", "show run baseline-0501", None, "! did you mean baseline-0401"),
    ("eval compare", "compare baseline-0401 with candidate-0402", None, "eval compare baseline-0401 candidate-0402"),
    ("eval compare", "baseline-0401 vs candidate-0402", None, "eval compare baseline-0401 candidate-0402"),
    ("eval compare", "diff the runs baseline-0401 and candidate-0402", None, "eval compare baseline-0401 candidate-0402"),
    ("eval compare", "compare with candidate-0402", "baseline-0401", "eval compare baseline-0401 candidate-0402"),
    ("eval compare", "compare the two runs", None, "? eval compare [RUN_A]"),
    ("eval rescore", "rescore candidate-0402 with the judge", None, "eval rescore candidate-0402 --scorer judge"),
    ("eval rescore", "re-score baseline-0401 using exact", None, "eval rescore baseline-0401 --scorer exact"),
    ("eval rescore", "rescore candidate-0402", None, "? eval rescore candidate-0402 [--scorer]"),
    ("eval rescore", "rescore candidate-0402 with exact and judge", None, "eval rescore candidate-0402 --scorer exact --scorer judge"),
    # ------------------------------------------------------------------ audit
    ("audit", "why did we ship warm?", None, "audit checkout-flow"),
    ("audit", "would we still make the same call on onboarding?", None, "audit onboarding"),
    ("audit", "audit checkout-flow", None, "audit checkout-flow"),
    ("audit", "audit the decision on prompt-style", None, "audit prompt-style"),
    ("audit", "does the onboarding decision reproduce?", None, "audit onboarding"),
    ("audit", "did we ship warm?", None, "audit checkout-flow"),
    ("audit", "why did we stop?", CF, "audit checkout-flow"),
    ("audit report", "write an audit report for checkout-flow in markdown", None, "audit report checkout-flow --format markdown"),
    ("audit report", "audit report for onboarding as json", None, "audit report onboarding --format json"),
    ("audit report", "audit report for onboarding", None, "audit report onboarding"),  # markdown is its default (--help)
    ("audit report", "audit report for onboarding in markdown and json", None, "! one format"),
    # ------------------------------------------------------------------ out of scope and nonsense
    ("refused", "what's the weather in Paris", None, "! outside"),
    ("refused", "drop table events", None, "! outside"),
    ("refused", "tell me a joke", None, "! outside"),
    ("refused", "delete the event log", None, "! append-only"),
    ("refused", "edit result 5", None, "! never edited"),
    ("refused", "change the variant of the last result to cold", None, "! never edited"),
    ("refused", "create test x with variants a,b and then add a result", None, "! one request at a time"),
    ("refused", "hello", None, "! did not understand"),
    ("refused", "asdf qwerty", None, "! did not understand"),
    ("refused", "rm -rf /", None, "! outside"),
    ("refused", "purge old-pricing", None, "! never destroys"),
    ("refused", "start a canary of warm at 10%", None, "! canary"),
    ("refused", "ab list --all", None, "! looks like a command"),
    ("refused", "", None, "! say what you want"),
    ("refused", "use checkout-flow", None, "! shell command"),
    ("refused", "stop the run baseline-0401", None, "! Ctrl-C"),
    # a negation no rule read never becomes a change (it could mean the opposite of the line)
    ("refused", "never ship warm in checkout-flow", None, "! says 'never'"),
    ("refused", "don't archive checkout-flow", None, "! says \"don't\""),
    ("refused", "do not archive checkout-flow", None, "! says 'not'"),
    ("refused", "ship warm in checkout-flow? no", None, "! says 'no'"),
    ("refused", "don't add a warm result to checkout-flow: 12 calls", None, "! says \"don't\""),
    ("refused", "don't create a test pricing comparing monthly vs annual", None, "! says \"don't\""),
    ("refused", "don't keep the control in checkout-flow", None, "! says \"don't\""),
    ("refused", "add a warm result to checkout-flow: 5 calls, not done", None, "! says 'not'"),
    ("refused", "never restore old-pricing", None, "! says 'never'"),
    # ------------------------------------------------------------------ #24: a newcomer's requests
    # written from the README and --help only (bench/plain_fresh_table.txt; the held-out
    # third, bench/plain_fresh_heldout.txt, is scored by bench/plain_accuracy.py --heldout)
    ("ab create", "new test tool-policy: strict vs loose, strict is the control, primary metric error rate", None, "ab create tool-policy --variants strict,loose --control strict --metric error_rate"),
    ("ab create", "set up an A/B test called model-swap with gpt4 and mini, measuring cost", None, "ab create model-swap --variants gpt4,mini --metric cost"),
    ("ab create", "create cache-test, cold vs warm, and completion time must not get more than 10% worse", None, "ab create cache-test --variants cold,warm --guardrail completion_time:+10%"),
    ("ab create", "create latency-test with variants fast and slow where slow is the control, metric completion time, one thousand results expected", None, "ab create latency-test --variants fast,slow --control slow --metric completion_time --expected-results 1000"),
    ("ab create", "start an experiment named planner-depth testing one-step and two-step, with a split of one-step=3,two-step=1", None, "ab create planner-depth --variants one-step,two-step --split one-step=3,two-step=1"),
    ("unsure", "create a new test with a 5% guardrail on cost", None, "~"),
    ("ab create", "create ranker-test: new-ranker against old-ranker as the baseline", None, "ab create ranker-test --variants new-ranker,old-ranker --control old-ranker"),
    ("ab create", "create test ctx-window with variants 8k and 32k, easy difficulty", None, "ab create ctx-window --variants 8k,32k --difficulty easy"),
    ("unsure", "set up a test for the new tool router", None, "~"),
    ("ab add-result", "warm: 9 calls, 8 ok, 35s, succeeded", "checkout-flow", "ab add-result checkout-flow --variant warm --tool-calls 9 --successful-calls 8 --completion-time 35 --success"),
    ("ab add-result", "cold failed after 3 minutes, 2.2k tokens, $0.05", "checkout-flow", "ab add-result checkout-flow --variant cold --completion-time 180 --tokens 2200 --cost 0.05 --failure"),
    ("ab add-result", "variant b of search-v2 scored 0.82", None, "ab add-result search-v2 --variant b --score 0.82"),
    ("ab add-result", "a terse run on prompt-style used 950 tokens and cost 3 cents, case t-17", None, "ab add-result prompt-style --variant terse --tokens 950 --cost 0.03 --case-id t-17"),
    ("unsure", "add a result: 7 calls, 45s", "checkout-flow", "~"),
    ("ab add-result", "control on onboarding: 3 errors, took 45 seconds", None, "ab add-result onboarding --variant control --errors 3 --completion-time 45"),
    ("ab add-result", "warm result, session s-991, custom metric latency_p95=1.2", "checkout-flow", "ab add-result checkout-flow --variant warm --session-id s-991 --metric latency_p95=1.2"),
    ("unsure", "add a result to checkout-flow: 10 calls, 9 ok, success", None, "~"),
    ("unsure", "warm: 12 calls, one of them failed", "checkout-flow", "~"),
    ('ab add-result', 'cold session, 2k tokens, 4.5 cents, notes: flaky network', 'checkout-flow', "ab add-result checkout-flow --variant cold --tokens 2000 --cost 0.045 --notes 'flaky network'"),
    ("ab add-result", "treatment scored 7.5 on case onb-3", "onboarding", "ab add-result onboarding --variant treatment --score 7.5 --case-id onb-3"),
    ("unsure", "add a warm result to onboarding, 20 seconds", None, "~"),
    ("unsure", "warm succeeded in 30s", "search-v2", "~"),
    ("unsure", "record that it failed", "checkout-flow", "~"),
    ("ab add-result", "add a result for treatment: 15 calls, 14 successful, 1.2k tokens, $0.02, 50s, success", "onboarding", "ab add-result onboarding --variant treatment --tool-calls 15 --successful-calls 14 --tokens 1200 --cost 0.02 --completion-time 50 --success"),
    ("unsure", "add a terse result to prompt-style that took about a minute", None, "~"),
    ("ab add-result", "warm took 1 minute 30 seconds", "checkout-flow", "ab add-result checkout-flow --variant warm --completion-time 90"),
    ("unsure", "warm did well", "checkout-flow", "~"),
    ("ab import", "import week3-results.jsonl into checkout-flow", None, "ab import checkout-flow week3-results.jsonl"),
    ("ab import", "load batch2.jsonl", "onboarding", "ab import onboarding batch2.jsonl"),
    ("ab import", "import the saved test ~/.hermes/ab_tests/test_9c1d2e3f.json as debug-cold", None, "ab import debug-cold ~/.hermes/ab_tests/test_9c1d2e3f.json"),
    ("unsure", "import some results", None, "~"),
    ("ab import", "pull in the sessions in runs/prompt-style-week2.jsonl for prompt-style", None, "ab import prompt-style runs/prompt-style-week2.jsonl"),
    ("unsure", "import results.jsonl", None, "~"),
    ("unsure", "import the file I exported yesterday into onboarding", None, "~"),
    ("ab list", "what A/B tests exist?", None, "ab list"),
    ("ab list", "list every test, archived ones too", None, "ab list --all"),
    ("ab show", "show the last 10 results of search-v2", None, "ab show search-v2 --limit 10"),
    ("ab show", "show every single result of prompt-style", None, "ab show prompt-style --limit 0"),  # round 2: the CLI's 0 for all
    ("ab list", "tests as json", None, "ab list --json"),
    ('ab show', "what is checkout-flow's definition?", None, 'ab show checkout-flow'),
    ("unsure", "show me the results", None, "~"),
    ("ab summary", "how did old-pricing end up? just the summary", None, "ab summary old-pricing"),
    ("ab summary", "quick numbers please", "search-v2", "ab summary search-v2"),
    ("ab show", "show the last twenty-five results", "checkout-flow", "ab show checkout-flow --limit 25"),
    ("ab list", "which tests are running right now?", None, "ab list"),
    ("unsure", "show results of the test", None, "~"),
    ("ab analyze", "which variant is ahead?", "checkout-flow", "ab analyze checkout-flow"),
    ("ab analyze", "is warm quicker than cold?", "checkout-flow", "ab analyze checkout-flow --metric completion_time"),
    ("ab analyze", "is b cheaper than a in search-v2?", None, "ab analyze search-v2 --metric cost"),
    ("ab analyze", "analyze prompt-style on tokens with a 10% minimum detectable effect", None, "ab analyze prompt-style --metric tokens --mde 10%"),
    ("ab analyze", "analyze checkout-flow at 1% significance", None, "ab analyze checkout-flow --alpha 0.01"),
    ("ab analyze", "show me what the recommendation was after each result on onboarding", None, "ab analyze onboarding --history"),
    ("ab analyze", "analysis of search-v2 as of 2026-11-20, and what changed since", None, "ab analyze search-v2 --as-of 2026-11-20 --diff-now"),
    ("ab analyze", "plot the lift over time", "checkout-flow", "ab analyze checkout-flow --plot"),
    ("unsure", "is it significant?", None, "~"),
    ("unsure", "which one is better?", None, "~"),
    ("ab analyze", "is c faster, with a 2.5 second mde?", "search-v2", "ab analyze search-v2 --metric completion_time --mde 2.5"),
    ("unsure", "analyze it", None, "~"),
    ("unsure", "analyze pricing-v3", None, "~"),
    ("unsure", "analyze onboarding with alpha 0.7", None, "~"),
    ("ab analyze", "relative to a, is b any good?", "search-v2", "ab analyze search-v2"),
    ("unsure", "how does b compare to c?", "search-v2", "~"),
    ("ab analyze", "analyze old-pricing", None, "ab analyze old-pricing"),
    ("ab analyze", "is verbose worth it over terse? use alpha 0.1", None, "ab analyze prompt-style --alpha 0.1"),
    ('ab conclude', "we're shipping warm", 'checkout-flow', 'ab conclude checkout-flow --ship warm'),
    ('ab conclude', 'ship warm because users finish sooner', 'checkout-flow', "ab conclude checkout-flow --ship warm --note 'users finish sooner'"),
    ("ab conclude", "keep the control on search-v2", None, "ab conclude search-v2 --keep-control"),
    ("ab conclude", "stop prompt-style without picking a variant", None, "ab conclude prompt-style --stop"),
    ('ab conclude', "we're not going with warm, keep cold", 'checkout-flow', 'ab conclude checkout-flow --keep-control'),
    ("ab conclude", "ship b", "search-v2", "ab conclude search-v2 --ship b"),
    ('ab archive', 'archive onboarding, reason: superseded by onboarding-v2', None, "ab archive onboarding --reason 'superseded by onboarding-v2'"),
    ("ab archive", "get rid of prompt-style", None, "ab archive prompt-style"),
    ("ab restore", "unarchive old-pricing please", None, "ab restore old-pricing"),
    ("unsure", "delete all events", None, "~"),
    ("ab conclude", "ship warm, analyzed at alpha 0.01", "checkout-flow", "ab conclude checkout-flow --ship warm --alpha 0.01"),
    ("unsure", "conclude checkout-flow", None, "~"),
    ("unsure", "ship warm on onboarding", None, "~"),
    ("unsure", "archive it", None, "~"),
    ("ab conclude", "we decided on verbose for prompt-style", None, "ab conclude prompt-style --ship verbose"),
    ("unsure", "ship warm and keep the control", "checkout-flow", "~"),
    ("unsure", "go with the faster one", "checkout-flow", "~"),
    ("eval suite add", "register qa.jsonl as a suite called qa", None, "eval suite add qa.jsonl --name qa"),
    ("eval suite add", "add cases/regression.yaml as the next version of regression", None, "eval suite add cases/regression.yaml --name regression"),
    ("eval suite list", "which eval suites are there?", None, "eval suite list"),
    ("eval suite show", "show version 2 of the smoke suite", None, "eval suite show smoke --version 2"),
    ('eval suite add', "add suites/math.jsonl, described as 'grade school arithmetic'", None, "eval suite add suites/math.jsonl --description 'grade school arithmetic'"),
    ("unsure", "show the suite", None, "~"),
    ("eval suite list", "list suites as json", None, "eval suite list --json"),
    ("eval run", "run the smoke suite against http://127.0.0.1:8000/run, three epochs", None, "eval run smoke --target http://127.0.0.1:8000/run --epochs 3"),
    ("eval run", "run regression against openai:gpt-4o-mini with a $5 budget", None, "eval run regression --target openai:gpt-4o-mini --budget 5"),
    ("unsure", "run smoke", None, "~"),
    ("eval run", "run regression against command:./agent.sh and call the run nightly-1203", None, "eval run regression --target command:./agent.sh --name nightly-1203"),
    ("eval run", "run regression using the config run.toml", None, "eval run regression --config run.toml"),
    ("unsure", "run the nightly suite against http://127.0.0.1:8000/run", None, "~"),
    ("eval run", "run version 1 of regression against http://127.0.0.1:8000/run, at most 5 in flight, 2 retries, seed 7", None, "eval run regression --version 1 --target http://127.0.0.1:8000/run --concurrency 5 --retries 2 --seed 7"),
    ("unsure", "run smoke against the staging server", None, "~"),
    ("unsure", "run smoke against http://127.0.0.1:8000/run with zero epochs", None, "~"),
    ("unsure", "kick off an eval of regression", None, "~"),
    ("unsure", "run smoke against openai", None, "~"),
    ("eval list", "what eval runs are there?", None, "eval list"),
    ("eval show", "show baseline-0401", None, "eval show baseline-0401"),
    ("eval show", "give me 20250131-142502-7f3a9c as markdown", None, "eval show 20250131-142502-7f3a9c --markdown"),
    ("eval show", "show case q3", "baseline-0401", "eval show baseline-0401 --case q3"),
    ("eval show", "show every verdict of baseline-0401, including the replaced ones", None, "eval show baseline-0401 --all-verdicts"),
    ("eval show", "show the run as it was at position 120", "candidate-0402", "eval show candidate-0402 --at 120"),
    ("unsure", "show the latest run", None, "~"),
    ("unsure", "show run candidate-0499", None, "~"),
    ("eval list", "list eval runs in json", None, "eval list --json"),
    ("unsure", "show the results of the eval", None, "~"),
    ("eval compare", "compare candidate-0402 against baseline-0401", None, "eval compare baseline-0401 candidate-0402"),
    ("eval compare", "baseline-0401 vs candidate-0402 on the exact scorer", None, "eval compare baseline-0401 candidate-0402 --scorer exact"),
    ("unsure", "compare the two runs", None, "~"),
    ("eval compare", "compare baseline-0401 and candidate-0402 and feed the pairs into an A/B test called model-swap", None, "eval compare baseline-0401 candidate-0402 --into-ab model-swap"),
    ("eval compare", "did 20250131-142502-7f3a9c regress compared to baseline-0401?", None, "eval compare baseline-0401 20250131-142502-7f3a9c"),
    ("unsure", "compare baseline-0401 to candidate-0499", None, "~"),
    ("eval compare", "is candidate-0402 an improvement over baseline-0401 on contains?", None, "eval compare baseline-0401 candidate-0402 --scorer contains"),
    ("eval compare", "wins and losses of candidate-0402 versus baseline-0401, as json", None, "eval compare baseline-0401 candidate-0402 --json"),
    ("eval resume", "resume 20250131-142502-7f3a9c with 20 at a time", None, "eval resume 20250131-142502-7f3a9c --concurrency 20"),
    ("unsure", "continue the interrupted run", None, "~"),
    ("eval retry-failed", "retry the failed rollouts in candidate-0402", None, "eval retry-failed candidate-0402"),
    ("eval rescore", "rescore baseline-0401 with judge:openai, three repeats", None, "eval rescore baseline-0401 --scorer judge:openai --judge-repeats 3"),
    ("eval retry-failed", "re-run the failures of 20250131-142502-7f3a9c, 4 at a time", None, "eval retry-failed 20250131-142502-7f3a9c --concurrency 4"),
    ("eval rescore", "score the stored outputs again with equals and regex:^yes", "candidate-0402", "eval rescore candidate-0402 --scorer equals --scorer regex:^yes"),
    ("unsure", "resume candidate-0499", None, "~"),
    ("eval rescore", "rescore baseline-0401 with exact, 16 at a time", None, "eval rescore baseline-0401 --scorer exact --concurrency 16"),
    ('eval export', "export candidate-0402's traces to ./traces", None, 'eval export candidate-0402 --traces ./traces'),
    ("unsure", "export baseline-0401", None, "~"),
    ("eval export", "write the traces to /tmp/tr", "baseline-0401", "eval export baseline-0401 --traces /tmp/tr"),
    ("unsure", "export the traces to ./traces", None, "~"),
    ("unsure", "create a canary router-v2 with control router-v1 and candidate router-v2, stages 10, 50, 100, error rate may rise at most 2 points", None, "~"),
    ("canary list", "which canaries are there?", None, "canary list"),
    ("canary status", "where is router-v2 at?", None, "canary status router-v2"),
    ("canary advance", "advance router-v2 to 50%", None, "canary advance router-v2 --to 50"),
    ("canary rollback", "roll back router-v2 for good", None, "canary rollback router-v2"),
    ("canary complete", "finish router-v2 at its last stage", None, "canary complete router-v2"),
    ("canary audit", "audit canary router-v2 as markdown into audit.md", None, "canary audit router-v2 --format markdown --output audit.md"),
    ("canary import", "import canary results from canary.jsonl into router-v2", None, "canary import router-v2 canary.jsonl"),
    ("unsure", "create a canary for prompt-v3", None, "~"),
    ("unsure", "advance the canary", None, "~"),
    ("canary create", "plan a canary model-v2: candidate model-v2 over control model-v1, stages 5, 25 and 100, 200 results per stage, units are sessions", None, "canary create model-v2 --control model-v1 --candidate model-v2 --stages 5,25,100 --min-results 200 --unit session"),
    ("unsure", "roll it back", None, "~"),
    ("canary status", "status of router-v2 right after position 1200 in json", None, "canary status router-v2 --at 1200 --json"),
    ("canary watch", "watch router-v2 but give up after 1 hour without results", None, "canary watch router-v2 --timeout 3600"),
    ("unsure", "halt the canary", None, "~"),
    ("events log", "show me what was recorded", None, "events log"),
    ("events log", "the last 5 events", None, "events log --limit 5"),
    ("events log", "ResultAdded events since 2025-03-01", None, "events log --type ResultAdded --since 2025-03-01"),
    ("events log", "what did ann@laptop record?", None, "events log --actor ann@laptop"),
    ("events verify", "is the log intact?", None, "events verify"),
    ("events export", "export the log to log.jsonl", None, "events export --output log.jsonl"),
    ('events export', "export onboarding's stream, upcast, for reading", None, 'events export --stream ab:onboarding --upcast'),
    ("events import", "import log.jsonl into this log", None, "events import log.jsonl"),
    ("events log", "what happened between 2026-11-01 and 2026-11-30?", None, "events log --since 2026-11-01 --until 2026-11-30"),
    ("unsure", "what changed since yesterday?", None, "~"),
    ("events verify", "verify the hash chain and give me json", None, "events verify --json"),
    ("unsure", "edit event 12 to fix the variant", None, "~"),
    ("unsure", "import some events", None, "~"),
    ("unsure", "show the events for the pricing test", None, "~"),
    ("audit", "audit the checkout-flow decisions", None, "audit checkout-flow"),
    ("audit", "does the decision on onboarding still reproduce?", None, "audit onboarding"),
    ("audit report", "audit report for search-v2 in json", None, "audit report search-v2 --format json"),
    ("unsure", "audit", None, "~"),
    ("unsure", "audit pricing-v9", None, "~"),
    ("audit", "audit onboarding as json", None, "audit onboarding --json"),
    ("projections rebuild", "rebuild the read models", None, "projections rebuild"),
    ("projections rebuild", "the summary tables look stale, refold everything from the log", None, "projections rebuild"),
    ("projections rebuild", "drop and rebuild projections, json output", None, "projections rebuild --json"),
    ("demo", "run the demo", None, "demo"),
    ("demo --sessions", "demo with 100 sessions per variant", None, "demo --sessions 100"),
    ("unsure", "demo with 2 sessions", None, "~"),
    ("demo --sessions", "try the demo with fifteen sessions each and no eval run", None, "demo --sessions 15 --no-eval"),
    ("view", "start the web view", None, "view"),
    ("view --port", "serve the view on port 9000 and open it in my browser", None, "view --port 9000 --open"),
    ("unsure", "web view on port 70000", None, "~"),
    ("view --port", "serve the view on port 0 so it picks a free port", None, "view --port 0"),
    ("unsure", "what can you do?", None, "~"),
    ("unsure", "what options does ab create take?", None, "~"),
    ("unsure", "how do I resume an eval run?", None, "~"),
    ("unsure", "help me", None, "~"),
    ("unsure", "what does that mean?", None, "~"),
    # ------------------------------------------------------------------ #24 round 2: capabilities
    # the misses of a second newcomer's dev set (bench/plain_fresh2_dev.txt), grouped by what
    # the grammar could not read; each row is a paraphrase written here, not a dev line
    # decision reports: the kind from the name, the baseline from the role words, html said
    ("report ab", "write the decision report of search-v2 as json", None, "report ab search-v2 --format json"),
    ("report eval", "a report on baseline-0401 vs candidate-0402", None, "report eval candidate-0402 --baseline baseline-0401"),
    ("report canary", "decision report for router-v2 into canary.html", None, "report canary router-v2 --format html --output canary.html"),
    ("refused", "report on candidate-0402 and baseline-0401 and 20250131-142502-7f3a9c", None, "! one run"),
    ("ab add-result", "report a warm result: 12 calls, 11 ok", None, f"{AR} --variant warm --tool-calls 12 --successful-calls 11"),  # the verb, not a report
    ("ab add-result", "please report for warm: 3 calls", CF, f"{AR} --variant warm --tool-calls 3"),
    ("report ab", "report on onboarding", None, "report ab onboarding"),
    ("report ab", "decision report for checkout-flow with a latency budget of 2s", None, "report ab checkout-flow --latency-budget 2"),
    ("report canary", "report on router-v2, cost budget 3 cents per result", None, "report canary router-v2 --cost-budget 0.03"),
    ("report eval", "report on candidate-0402 against baseline-0401, p95 latency under 3 seconds, and check it is ready to ship", None, "report eval candidate-0402 --baseline baseline-0401 --latency-budget 3 --check"),
    ("refused", "report on checkout-flow with a latency budget of $2", None, "! in seconds"),
    ("ab show", "show checkout-flow as csv", None, "ab show checkout-flow --csv"),
    ("eval show", "show candidate-0402 as csv", None, "eval show candidate-0402 --csv"),
    # datasets for other tools: the format said (never guessed), passed-only, one source
    ("export dataset", "export baseline-0401 as a jsonl dataset", None, "export dataset baseline-0401 --format jsonl"),
    ("export dataset", "build fine-tuning data from candidate-0402 in openai chat format, only passed rollouts", None, "export dataset candidate-0402 --format openai-chat --passed-only"),
    ("export dataset", "make a dataset from onboarding", None, "? export dataset onboarding [--format]"),
    ("refused", "export a tensorzero dataset from checkout-flow and onboarding", None, "! one at a time"),
    ("export dataset", "export candidate-0402 as openai chat, scoring at least 0.8", None, "export dataset candidate-0402 --format openai-chat --min-score 0.8"),
    ("export dataset", "export candidate-0402 as jsonl with a min score of 0.7 on judge", None, "export dataset candidate-0402 --format jsonl --min-score 0.7 --scorer judge"),
    ("unsure", "export candidate-0402 as openai chat with scores above 0.8", None, "~"),  # more than, or at least?
    # a help question names its command by what it wants done; "examples"
    ("refused", "how do I archive a test?", None, "! `help ab archive`"),
    ("refused", "how can we resume an interrupted run", None, "! `help eval resume`"),
    ("refused", "any examples?", None, "! `help examples`"),
    # an output file's extension says the format (markdown, the default, is not added)
    ("audit report", "audit report for checkout-flow to audit.json", None, "audit report checkout-flow --format json --output audit.json"),
    ("report ab", "decision report of onboarding into r.md", None, "report ab onboarding --output r.md"),
    ("refused", "audit report of search-v2 into a.html", None, "! not html"),
    # an effect worth detecting, said without "mde"; a bare number is still asked about
    ("ab analyze", "is treatment ahead on onboarding, I only care about a 2 point lift", None, "ab analyze onboarding --mde 2pp"),
    ("ab analyze", "analyze onboarding, lifts of 4pp or more matter", None, "ab analyze onboarding --mde 4pp"),
    ("ab analyze", "which variant wins in search-v2 if only 5% or bigger counts", None, "ab analyze search-v2 --mde 5%"),
    ("ab analyze", "what does a 5 point mde look like on onboarding", None, "ab analyze onboarding --mde 5pp"),
    ("unsure", "analyze onboarding, I care about 5 or more", None, "~"),
    # a quantile beside a metric
    ("ab analyze", "analyze cost p90 for prompt-style", None, "ab analyze prompt-style --metric cost:p90"),
    ("ab analyze", "is warm faster than cold on checkout-flow at the p99 completion time", None, "ab analyze checkout-flow --metric completion_time:p99"),
    ("ab analyze", "median cost on prompt-style, verbose vs terse", None, "ab analyze prompt-style --metric cost:p50"),
    # a breakdown of a comparison; a key not known is carried only when a breakdown word says so
    ("eval compare", "compare baseline-0401 with candidate-0402 per category", None, "eval compare baseline-0401 candidate-0402 --by category"),
    ("eval compare", "candidate-0402 against baseline-0401, split by model", None, "eval compare baseline-0401 candidate-0402 --by model"),
    ("eval compare", "diff baseline-0401 and candidate-0402 broken down by lang", None, "eval compare baseline-0401 candidate-0402 --by metadata.lang"),
    ("unsure", "compare baseline-0401 and candidate-0402 by lang", None, "~"),
    # a canary change's reason in a clause after a comma; a negation or another change is not one
    ("canary halt", "halt router-v2, latency doubled overnight", None, "canary halt router-v2 --note 'latency doubled overnight'"),
    ("canary rollback", "roll back router-v2, users complained about wrong answers", None, "canary rollback router-v2 --note 'users complained about wrong answers'"),
    ("canary advance", "advance router-v2, looks healthy", None, "canary advance router-v2 --note 'looks healthy'"),
    ("refused", "halt router-v2, not yet", None, "! says 'not'"),
    ("refused", "halt router-v2, pause it and roll back", None, "! one canary step"),
    # all of them is --limit 0 (the CLI's "0 for all"); a command without --limit refuses it
    ("ab show", "show all the results of checkout-flow", None, "ab show checkout-flow --limit 0"),
    ("ab show", "show all of the sessions in search-v2 as json", None, "ab show search-v2 --json --limit 0"),
    ("events log", "show every single event", None, "events log --limit 0"),
    ("refused", "summarize all the results of onboarding", None, "! no --limit"),
    # a negation no rule read: a read is asked about (pre-filled), a report or dataset refused
    ("unsure", "compare baseline-0401 and candidate-0402, not broken down by difficulty", None, "? eval compare baseline-0401 candidate-0402 --by difficulty ['not']"),
    ("unsure", "analyze onboarding, I don't care about 2 points", None, "~"),
    ("unsure", "which tests are not archived?", None, "~"),
    ("refused", "export checkout-flow as tensorzero without failed sessions", None, "! says 'without'"),
    ("refused", "decision report for checkout-flow but not as html", None, "! says 'but'"),
    # a dataset's split, seed and plain nouns ("file", "data"); help on it
    ("export dataset", "export candidate-0402 to train.jsonl as openai-chat, split train=0.9,val=0.1", None, "export dataset candidate-0402 --format openai-chat --split train=0.9,val=0.1 --output train.jsonl"),
    ("export dataset", "export checkout-flow as tensorzero, split train=0.8,test=0.2 with seed 3", None, "export dataset checkout-flow --format tensorzero --split train=0.8,test=0.2 --seed 3"),
    ("export dataset", "give me the openai fine-tuning file for candidate-0402", None, "export dataset candidate-0402 --format openai-chat"),
    ("refused", "how can I export a dataset?", None, "! `help export dataset`"),
    ("refused", "what are the options of report ab", None, "! `help report ab`"),
    ("refused", "which flags does export dataset have?", None, "! `help export dataset`"),
    # a quantile said as a percentile; a breakdown said "break down … by"
    ("ab analyze", "is warm better on cost at the 99th percentile?", CF, "ab analyze checkout-flow --metric cost:p99"),
    ("ab analyze", "90th percentile tokens on search-v2", None, "ab analyze search-v2 --metric tokens:p90"),
    ("eval compare", "break down candidate-0402 vs baseline-0401 by category", None, "eval compare baseline-0401 candidate-0402 --by category"),
    # an effect to see: "looking for", "to see", "spot"; with a negation it is asked
    ("ab analyze", "analyze onboarding looking for a 1.5pp lift", None, "ab analyze onboarding --mde 1.5pp"),
    ("ab analyze", "how many sessions to see 4 points on onboarding", None, "ab analyze onboarding --mde 4pp"),
    ("ab analyze", "can we spot a 2pp gain on onboarding?", None, "ab analyze onboarding --mde 2pp"),
    ("unsure", "I don't need to see 4 points on onboarding", None, "~"),
    # events export --since POS: "after position 500", "from position 42", "after event 1200"
    ("events export", "export the events after position 500 to delta.jsonl", None, "events export --since 500 --output delta.jsonl"),
    ("events export", "export events from position 42 into part.jsonl", None, "events export --since 42 --output part.jsonl"),
    ("events export", "export the log after event 1200 upcast", None, "events export --since 1200 --upcast"),
    # a metric named on a read is carried (the analysis) or asked about, never dropped
    ("ab analyze", "how is search-v2 doing on error rate", None, "ab analyze search-v2 --metric error_rate"),
    ("ab analyze", "which arm of search-v2 leads on success", None, "ab analyze search-v2 --metric success"),
    ("unsure", "show checkout-flow's results on cost", None, "~"),
    # a file typed is carried: an audit written to a file is the audit report
    ("audit report", "audit onboarding into a.md", None, "audit report onboarding --output a.md"),
    ("audit report", "write the audit of prompt-style as json to p.json", None, "audit report prompt-style --format json --output p.json"),
    ("refused", "show the log into log.md", None, "! no --output"),
    ("audit", "check the decisions of search-v2", None, "audit search-v2"),
    ("ab show", "show results of checkout-flow, all of them", None, "ab show checkout-flow --limit 0"),
    # a canary's name after "canary called" (not the word "called")
    ("canary create", "create a canary called r3 with control old and candidate new", None, "canary create r3 --control old --candidate new"),
    ("canary create", "define a canary named r4: candidate v2 against control v1", None, "canary create r4 --control v1 --candidate v2"),
    ("canary create", "plan a canary called r5, control base, candidate next, stages 5 and 100", None, "canary create r5 --control base --candidate next --stages 5,100"),
    # a pronoun with the focus: the new families read "it" as the run, test or canary in focus,
    # and the role words place the focus against a named run
    ("report eval", "report on it", "candidate-0402", "report eval candidate-0402"),
    ("export dataset", "export this run as jsonl", "baseline-0401", "export dataset baseline-0401 --format jsonl"),
    ("export dataset", "make a tensorzero dataset from it, passed only", CF, "export dataset checkout-flow --format tensorzero --passed-only"),
    ("unsure", "export checkout-flow as tensorzero, only failed ones", None, "~"),
    ("canary halt", "halt it, errors doubled", "router-v2", "canary halt router-v2 --note 'errors doubled'"),
    ("ab analyze", "is it faster at p95?", CF, "ab analyze checkout-flow --metric completion_time:p95"),
    ("ab show", "show all of its results", "search-v2", "ab show search-v2 --limit 0"),
    ("eval compare", "break it down by difficulty against baseline-0401", "candidate-0402", "eval compare baseline-0401 candidate-0402 --by difficulty"),
    ("eval compare", "how does it do against candidate-0402", "20250131-142502-7f3a9c", "eval compare candidate-0402 20250131-142502-7f3a9c"),
    ("eval compare", "compare it with baseline-0401", "candidate-0402", "eval compare baseline-0401 candidate-0402"),
    # the metric named before its role word: "M is the metric"
    ("ab create", "new experiment retriever: bm25 vs hybrid, success is the metric", None, "ab create retriever --variants bm25,hybrid --metric success"),
    ("ab create", "new test r3: p vs q, completion time is our main metric", None, "ab create r3 --variants p,q --metric completion_time"),
    ("refused", "new test r4: p vs q, banana is the metric", None, "! 'banana'"),
    # a hedged clause is no reason; a report on "the canary" asks which
    ("refused", "stop it, i think", "router-v2", "! 'think'"),
    ("refused", "halt router-v2, maybe later", None, "! nothing was guessed"),
    ("report canary", "report on the canary", None, "? report canary [NAME]"),
    # comparatives "lower"/"higher" with a metric; "uses", "reached" as filler
    ("ab analyze", "are errors lower with warm?", CF, "ab analyze checkout-flow --metric errors"),
    ("ab analyze", "is the error rate higher for treatment on onboarding", None, "ab analyze onboarding --metric error_rate"),
    ("ab analyze", "which variant of checkout-flow uses fewer tokens", None, "ab analyze checkout-flow --metric tokens"),
    # "the event after 12" is not event 12; "run it again" is not a read of the run
    ("refused", "show the event after 12", None, "! `events show N` shows event N itself"),
    ("refused", "run it again", "candidate-0402", "! not run again in place"),
    ("refused", "rerun baseline-0401", None, "! not run again in place"),
    # "only the decisions": an event type after "only"; "replay the decisions" is the audit
    ("events log", "only the decisions in the log", None, "events log --type TestConcluded"),
    ("events log", "decision events", None, "events log --type TestConcluded"),
    ("audit", "replay the decisions of checkout-flow", None, "audit checkout-flow"),
    # "only" on a read is a filter: read by its rule (a type, passed only, an effect) or asked
    ("unsure", "show only warm results of checkout-flow", None, "? ab show checkout-flow ['only']"),
    ("unsure", "show only the failed rollouts of candidate-0402", None, "~"),
    ("events log", "only verdict events since 2026-11-01", None, "events log --type VerdictRecorded --since 2026-11-01"),
    # a command named by its words in a question about it is its help, never a run of it
    ("refused", "what does canary advance do?", None, "! `help canary advance`"),
    ("refused", "what does eval resume do exactly?", None, "! `help eval resume`"),
    ("refused", "what does ab conclude actually do, really?", None, "! `help ab conclude`"),
    ("refused", "explain ab analyze", None, "! `help ab analyze`"),
    ("refused", "usage of report eval", None, "! `help report eval`"),
    ("refused", "tell me how to import results", None, "! `help ab import`"),
    ("refused", "is there a command to export datasets?", None, "! `help export dataset`"),
    ("refused", "list the commands", None, "! `help`"),
    # an estimate is not a value to record; "for now" hedges a decision
    ("unsure", "add a warm result, about 12 calls", CF, "~"),
    ("unsure", "add a warm result with roughly 40s", CF, "~"),
    ("unsure", "cold took around 2 minutes and failed", CF, "~"),
    ("unsure", "keep the control for now", "onboarding", "~"),
    # events export --since is a log position, not a date
    ("refused", "export events since 2026-11-01 into x.jsonl", None, "! not a date"),
    # ------------------------------------------------------------------ #24 round 4: capabilities
    # CUPED by a case's mean score in an earlier run (--covariate case:RUN), said in words
    ("ab analyze", "analyze search-v2 with cuped on the case scores from candidate-0402", None, "ab analyze search-v2 --covariate case:candidate-0402"),
    ("ab analyze", "use baseline-0401's per-case scores as the covariate for prompt-style", None, "ab analyze prompt-style --covariate case:baseline-0401"),
    ("ab analyze", "adjust by each case's mean score in baseline-0401", "onboarding", "ab analyze onboarding --covariate case:baseline-0401"),
    ("ab analyze", "adjust search-v2 by each case's weird score in baseline-0401", None, "~"),
    ("ab analyze", "adjust search-v2 by each case's score in baseline-0401 and candidate-0402", None, "~"),
    # a pass-rate gate said in words (--fail-under SCORER=RATE): the scorer is the one said
    ("eval run", "run smoke against openai:gpt-4o with the exact scorer, fail when the pass rate drops below 0.8", None, "eval run smoke --target openai:gpt-4o --scorer exact --fail-under exact=0.8"),
    ("eval run", "run smoke against openai:gpt-4o scored by contains; exit 1 if contains passes less than 85 percent", None, "eval run smoke --target openai:gpt-4o --scorer contains --fail-under contains=85%"),
    ("eval run", "run smoke against openai:gpt-4o with exact and judge, fail if judge is below 70%", None, "eval run smoke --target openai:gpt-4o --scorer exact --scorer judge --fail-under judge=70%"),
    ("eval run", "run smoke against openai:gpt-4o with exact and judge, fail if under 90%", None, "~"),
    ("eval run", "run smoke against openai:gpt-4o, fail if it's under 90%", None, "~"),
    ("eval run", "run smoke against openai:gpt-4o with exact, fail if it is under 150%", None, "~"),
    # a change "from A to B" (A the baseline); a limit said in a clause of its own
    ("eval compare", "what regressed from baseline-0401 to candidate-0402? fail if more than 2", None, "eval compare baseline-0401 candidate-0402 --max-regressions 2"),
    ("eval compare", "going from 20250131-142502-7f3a9c to candidate-0402, did anything regress? exit if over 1", None, "eval compare 20250131-142502-7f3a9c candidate-0402 --max-regressions 1"),
    ("eval compare", "compare from candidate-0402 to baseline-0401", None, "? eval compare [RUN_A]"),
    ("eval compare", "compare baseline-0401 and candidate-0402, fail if more than 2 cases", None, "~"),
    # a test as it was ("what did X say on D"), and what changed since, is its analysis
    ("ab analyze", "what did onboarding say at position 40 and what has changed since", None, "ab analyze onboarding --at 40 --diff-now"),
    ("ab analyze", "what did it say on 2026-10-01, and what changed since?", "prompt-style", "ab analyze prompt-style --as-of 2026-10-01 --diff-now"),
    # a plot of what is in focus
    ("eval show", "draw the latency distribution", "baseline-0401", "eval show baseline-0401 --plot"),
    ("ab analyze", "plot it", "onboarding", "ab analyze onboarding --plot"),
    ("unsure", "plot the score distribution", None, "~"),
    # what a dataset is for names it ("fine-tuning data from X")
    ("export dataset", "training data from baseline-0401 as tensorzero, scoring at least 0.9 with exact", None, "export dataset baseline-0401 --format tensorzero --min-score 0.9 --scorer exact"),
    ("export dataset", "training examples out of candidate-0402 in openai chat format, passed only", None, "export dataset candidate-0402 --format openai-chat --passed-only"),
    ("export dataset", "fine-tuning data from onboarding", None, "? export dataset onboarding [--format]"),
    # an outcome said as the result's adjective ("a failing warm result")
    ("ab add-result", "record a passing terse session on prompt-style, 3 calls, 3 ok", None, "ab add-result prompt-style --variant terse --tool-calls 3 --successful-calls 3 --success"),
    ("ab add-result", "log an errored cold run with error \"gateway 502\"", CF, "ab add-result checkout-flow --variant cold --error 'gateway 502' --failure"),
    ("ab add-result", "add a failing warm result that passed", CF, "! both that it succeeded and that it failed"),
    # only options said, with a test or run in focus: options of what is in focus
    ("ab show", "the 5 newest sessions as json", "onboarding", "ab show onboarding --limit 5 --json"),
    ("unsure", "the 5 newest sessions as json", None, "~"),
    # "logged" asks for the log; a session "we logged" is not recorded again
    ("events log", "what has been logged for onboarding lately", None, "events log --stream ab:onboarding"),
    ("unsure", "we logged a warm session, 3 calls, 3 ok", CF, "~"),
    # a power check, "min" for minimum, the plotted intervals, the equivalence verdict's own words
    ("ab analyze", "a power analysis for onboarding with a min detectable lift of 3 points", None, "ab analyze onboarding --mde 3pp"),
    ("ab analyze", "chart the lift intervals of checkout-flow", None, "ab analyze checkout-flow --plot"),
    ("ab analyze", "plot the interval of error for search-v2", None, "~"),
    ("ab analyze", "is there no real difference on onboarding within an equivalence margin of 1pp?", None, "ab analyze onboarding --margin 1pp"),
    ("ab analyze", "is there no difference on onboarding within 1pp?", None, "~"),
    # eval run options said by their own name: --junit, --config FILE.toml, --seeds, --cache(-ttl)
    ("eval run", "run smoke against http://localhost:9000/agent, junit to evals.xml", None, "eval run smoke --target http://localhost:9000/agent --junit evals.xml"),
    ("eval run", "run smoke against openai:gpt-4o cached, write junit xml into ci/out.xml", None, "eval run smoke --target openai:gpt-4o --cache --junit ci/out.xml"),
    ("eval run", "run regression using nightly.toml over seeds 0-9,20", None, "eval run regression --config nightly.toml --seeds 0-9,20"),
    ("eval run", "run the config in runs/nightly.toml for seeds 0,3,7", None, "eval run --config runs/nightly.toml --seeds 0,3,7"),
    ("eval run", "run smoke on openai:gpt-4o using the cache, ttl 30m", None, "eval run smoke --target openai:gpt-4o --cache --cache-ttl 30m"),
    ("eval run", "run smoke against openai:gpt-4o with a ttl of 2h", None, "~"),
    ("eval run", "run smoke against openai:gpt-4o, judge:openai queried 2 times per answer", None, "eval run smoke --target openai:gpt-4o --scorer judge:openai --judge-repeats 2"),
    ("eval show", "show candidate-0402 with the synth columns", None, "eval show candidate-0402 --columns synth"),
    # a gate on the comparison's recommendation; a gate no rule read is never dropped
    ("eval compare", "compare baseline-0401 with candidate-0402 and exit 1 if it says no_difference", None, "eval compare baseline-0401 candidate-0402 --fail-on no_difference"),
    ("eval compare", "compare baseline-0401 and candidate-0402, fail on keep control", None, "~"),
    ("eval run", "run smoke against openai:gpt-4o, fail on keep control", None, "~"),
    ("eval compare", "put baseline-0401 vs candidate-0402 into an a/b test pair-2", None, "eval compare baseline-0401 candidate-0402 --into-ab pair-2"),
    # dataset options by name: tensorzero's function, a split as two slashed lists, -o FILE
    ("export dataset", "export candidate-0402 as tensorzero with function: answer_q", None, "export dataset candidate-0402 --format tensorzero --function answer_q"),
    ("export dataset", "export baseline-0401 as jsonl, split train/test 0.9/0.1, output to b.jsonl", None, "export dataset baseline-0401 --format jsonl --split train=0.9,test=0.1 --output b.jsonl"),
    ("export dataset", "export baseline-0401 as jsonl, split train/test 0.9/0.05/0.05", None, "~"),
    ("audit report", "audit report for checkout-flow -o a.md", None, "audit report checkout-flow --output a.md"),
    # a test with the CLI's default variants; a planned ratio between two variants
    ("ab create", "create a test called dv with the default variants", None, "ab create dv"),
    ("ab create", "set up test dv2 using the standard arms, metric cost", None, "ab create dv2 --metric cost"),
    ("ab create", "create test m4 with variants a and b, split 2:1 between a and b", None, "ab create m4 --variants a,b --split a=2,b=1"),
    ("ab create", "create test m8 comparing cold vs warm with a 1:2 split cold to warm", None, "ab create m8 --variants cold,warm --split cold=1,warm=2"),
    ("ab create", "create test m5 with variants a and b, a 2:1 split x to y", None, "! not two of the variants"),
    ("ab create", "create test m7 with variants a and b and a 1:3 split", None, "~"),
    # a list of guardrails; the command's own words typed as the request's verb
    ("ab create", "create test g5 with variants a and b, guardrails cost +5% and error rate +2pp", None, "ab create g5 --variants a,b --guardrail cost:+5% --guardrail error_rate:+2pp"),
    ("ab create", "create test g6 with variants a and b, guardrails cost +5% and error rate", None, "? ab create g6 --variants a,b --guardrail cost:+5% [--guardrail]"),
    ("ab create", "ab create t9 variants a,b", None, "ab create t9 --variants a,b"),
    ("ab create", "a/b create t11 with variants x and y", None, "ab create t11 --variants x,y"),
    # a canary planned "from A to B" at a list of percentages; "5,25,100" is a list of stages
    ("canary create", "create a canary r4 from r1 to r4 at 10, 30 and 100%", None, "canary create r4 --control r1 --candidate r4 --stages 10,30,100"),
    ("canary create", "create a canary r7: control r1, candidate r7, stages 10,50,100, cost guardrail +3c", None, "canary create r7 --control r1 --candidate r7 --stages 10,50,100 --guardrail cost:+0.03"),
    ("canary create", "create a canary r6 from r1 to r6 at 10 and 100 users", None, "~"),
    ("canary create", "create a canary r8: control r1, candidate r8, completion time guardrail +30s", None, "canary create r8 --control r1 --candidate r8 --guardrail completion_time:+30"),
    ("canary create", "create a canary r8: control r1, candidate r8, cost guardrail +30s", None, "~"),
    # the suite named "regression" read as a count's noun; an amount before its noun
    ("eval compare", "compare baseline-0401 and candidate-0402, at most 1 regression", None, "eval compare baseline-0401 candidate-0402 --max-regressions 1"),
    ("eval compare", "compare baseline-0401 and candidate-0402 on regression", None, "~"),
    ("ab add-result", "add a success for warm on checkout-flow with 2.4k tokens and $0.05 cost", None, "ab add-result checkout-flow --variant warm --tokens 2400 --cost 0.05 --success"),
    # a gate on a scorer spec; a canary watch's timeout by name; "run an eval"; help for datasets
    ("eval run", "run smoke on http://127.0.0.1:8000/run with the judge:openai scorer, fail if judge:openai pass rate is under 80%", None, "eval run smoke --target http://127.0.0.1:8000/run --scorer judge:openai --fail-under judge:openai=80%"),
    ("canary watch", "watch router-v2 with a 10 min timeout", None, "canary watch router-v2 --timeout 600"),
    ("eval run", "run an eval of smoke against openai:gpt-4o", None, "eval run smoke --target openai:gpt-4o"),
    ("eval run", "run an eval", None, "? eval run [SUITE]"),
    ("refused", "how do I run an eval?", None, "! `help eval run`"),
    ("refused", "help with datasets", None, "! `help export dataset`"),
    ("report ab", "report for search-v2 as json", None, "report ab search-v2 --format json"),
    # a list that ends on its separator; a canary step said as "by N%" (a step, not a stage)
    ("ab create", "new test t4: a vs b vs", None, "? ab create t4 [--variants]"),
    ("ab create", "create test t6 with variants a, b.", None, "ab create t6 --variants a,b"),
    ("canary advance", "advance router-v2 by 10%", None, "! is a step"),
    ("canary advance", "move router-v2 to 70", None, "? canary advance router-v2 [--to]"),
    # words that negate, hedge or date are never a new variant's name; a store's variant name
    # left unread in a change is never dropped; "instead"/"without" unread make a change unsure
    ("ab create", "create a test checkout-v3 comparing cold vs previous warm", None, "~"),
    ("ab create", "new a/b test pricing-page comparing monthly vs not annual", None, "~"),
    ("ab create", "create test speed with variants a and tomorrow b", None, "~"),
    ("unsure", "ship warm instead", CF, "~"),
    ("unsure", "add a warm result without 3 calls", CF, "~"),
    ("ab conclude", "stop onboarding without a clear winner", None, "ab conclude onboarding --stop"),
    ("ab conclude", "stop onboarding with no winner", None, "ab conclude onboarding --stop"),
    ("canary create", "plan a canary r9: candidate r9 over control r1, units are hardly sessions", None, "~"),
    ("ab create", "create test seg with variants a and b, segment by excluding category", None, "~"),
    ("canary create", "create a canary called r3 with control old and candidate otherwise new", None, "~"),
    ("eval run", "run regression using the config tomorrow run.toml", None, "~"),
    # a metric of a test with nothing else asked is its analysis on that metric
    ("ab analyze", "cost per success on checkout-flow", None, "ab analyze checkout-flow --metric cost_per_success"),
    ("ab analyze", "tokens on prompt-style", None, "ab analyze prompt-style --metric tokens"),
    ("ab show", "show checkout-flow on cost", None, "~"),
    # a dataset's "seed N" is no split; an A/B score named as the scorer; an option's name
    # that no rule read (its value lost) makes the request unsure
    ("export dataset", "fine-tuning data from checkout-flow, openai-chat, split train 0.8 val 0.2, seed 1", None, "export dataset checkout-flow --format openai-chat --split train=0.8,val=0.2 --seed 1"),
    ("export dataset", "dataset from prompt-style in jsonl format, scorer score, min score 0.5", None, "export dataset prompt-style --format jsonl --min-score 0.5 --scorer score"),
    ("export dataset", "dataset from prompt-style in jsonl format, min score 0.5, scorer", None, "~"),
    ("eval compare", "compare baseline-0401 and candidate-0402 with the scorer", None, "~"),
    # a canary "for X vs Y (control)": roles in brackets, named by what it rolls out; its
    # primary metric by name; "N min results per stage"
    ("canary create", "canary for r2 vs r1 (control), stages 10, 50 and 100", None, "canary create r2 --control r1 --candidate r2 --stages 10,50,100"),
    ("canary create", "canary for r2 vs r1 (candidate)", None, "~"),
    ("canary create", "plan a canary called r5 with r5 over r1 (control)", None, "canary create r5 --control r1 --candidate r5"),
    ("canary create", "create a canary r3 with control r1 and candidate r3, primary metric error rate", None, "canary create r3 --control r1 --candidate r3 --metric error_rate"),
    ("canary create", "create a canary r6 with control r1 and candidate r6, p99 cost metric, 50 min results per stage", None, "canary create r6 --control r1 --candidate r6 --metric cost:p99 --min-results 50"),
    # a directory of saved tests said with who saved them, or when
    ("ab import", "import all the existing saved tests in /data/h", None, "ab import /data/h"),
    ("ab import", "import all the hermes tests in /data/h", None, "ab import /data/h"),
    ("ab import", "import all the tests from /data/h except the old ones", None, "~"),
    # the cache turned off in words (never read as on), a ttl in days, every rollout allowed to fail
    ("eval run", "run smoke against openai:gpt-4o with the cache off", None, "eval run smoke --target openai:gpt-4o --no-cache"),
    ("eval run", "run smoke against openai:gpt-4o without the cache", None, "eval run smoke --target openai:gpt-4o --no-cache"),
    ("eval run", "run smoke against openai:gpt-4o, no cache, cached", None, "~"),
    ("eval run", "run smoke against openai:gpt-4o with the cache on, ttl 1d", None, "eval run smoke --target openai:gpt-4o --cache --cache-ttl 1d"),
    ("eval run", "run smoke against openai:gpt-4o and allow all rollouts to fail", None, "eval run smoke --target openai:gpt-4o --allow-all-failed"),
    # a read never drops a "without" (or "except") that no rule read: it leaves something out
    ("ab analyze", "analyze onboarding without the plot", None, "? ab analyze onboarding --plot ['without']"),
    ("eval compare", "compare baseline-0401 and candidate-0402 without the breakdown by difficulty", None, "~"),
    ("demo", "demo without the eval", None, "demo --no-eval"),
    # the log's export without its blobs; "the first N events" (--limit keeps the newest);
    # a canary's log with a date
    ("events export", "export the log with no blobs", None, "events export --no-blobs"),
    ("unsure", "the first 10 events", None, "~"),
    ("events log", "show the log for router-v2 since 2026-01-01", None, "events log --stream canary:router-v2 --since 2026-01-01"),
    ("refused", "how do I set up a canary?", None, "! `help canary create`"),
    # the command's own words typed as a request, with or without the program's name
    ("ab list", "ab list as json", None, "ab list --json"),
    ("ab summary", "trialbook ab summary checkout-flow", None, "ab summary checkout-flow"),
    # a run's role said after it ("X as the baseline"); asked when a name says otherwise
    ("eval compare", "compare candidate-0402 with 20250131-142502-7f3a9c as the baseline", None, "eval compare 20250131-142502-7f3a9c candidate-0402"),
    ("eval compare", "compare 20250131-142502-7f3a9c and candidate-0402, candidate-0402 is the baseline", None, "eval compare candidate-0402 20250131-142502-7f3a9c"),
    ("eval compare", "compare baseline-0401 and candidate-0402 with candidate-0402 as baseline", None, "? eval compare [RUN_A]"),
    # a power check on its own; the equivalence verdict asked by its words, its margin "within"
    ("ab analyze", "power analysis for checkout-flow", None, "ab analyze checkout-flow"),
    ("ab analyze", "is there no real difference on onboarding?", None, "ab analyze onboarding"),
    ("ab analyze", "equivalence check on onboarding within 2 points", None, "ab analyze onboarding --margin 2pp"),
    ("ab analyze", "equivalence check on onboarding within 2 points and a 1pp margin", None, "! given twice"),
    # decisions said in the past tense or with the verb's -ing form
    ("ab conclude", "we kept the control", "onboarding", "ab conclude onboarding --keep-control"),
    ("ab conclude", "conclude search-v2 by stopping it", None, "ab conclude search-v2 --stop"),
    # a split of a run or test into train/test is a dataset of it
    ("export dataset", "split baseline-0401 into train 0.8 and test 0.2 as jsonl", None, "export dataset baseline-0401 --format jsonl --split train=0.8,test=0.2"),
    ("export dataset", "train/test split 0.9/0.1 of search-v2 as tensorzero", None, "export dataset search-v2 --format tensorzero --split train=0.9,test=0.1"),
    # what `eval show --plot` draws, named with it
    ("eval show", "plot scores and latencies of candidate-0402", None, "eval show candidate-0402 --plot"),
    ("eval show", "plot the cost of candidate-0402", None, "~"),
    # a request read again for what is in focus is read afresh: nothing a first rule used is lost
    ("unsure", "$5 calls last 12", CF, "~"),
    # a saved test's file names its own test (its test id): no NAME needed
    ("ab import", "import the saved test ~/.hermes/ab_tests/test_ab12.json", None, "ab import ~/.hermes/ab_tests/test_ab12.json"),
    ("ab import", "import data/x.json", None, "? ab import [NAME]"),
    # round 5: meaning-light words are no part of the command; outcomes and hedges still are
    ("ab add-result", "warm one chewed through 3k tokens btw, 4 calls, success", CF, "ab add-result checkout-flow --variant warm --tokens 3000 --tool-calls 4 --success"),
    ("ab add-result", "honestly the cold session burned 900 tokens and failed", CF, "ab add-result checkout-flow --variant cold --tokens 900 --failure"),
    ("ab conclude", "end search-v2 and keep, um, the control", None, "ab conclude search-v2 --keep-control"),
    ("ab conclude", "end search-v2 and keep, the control", None, "ab conclude search-v2 --keep-control"),
    ("unsure", "yeah ship warm maybe", CF, "~"),
    ("eval show", "just the case q7 of baseline-0401 only", None, "eval show baseline-0401 --case q7"),
    ("unsure", "show only the warm results of checkout-flow", None, "~"),
    ("eval resume", "candidate-0402 has just died, resume it", None, "eval resume candidate-0402"),
    # round 5: options said by their own name, read from the CLI's parameters
    ("ab create", "create test t9 with variants a and b, prompt: \"sum these numbers\", category \"math\"", None, "ab create t9 --variants a,b --prompt 'sum these numbers' --category math"),
    ("ab create", "create test t9 with variants a and b, cap tokens at 5000", None, "ab create t9 --variants a,b --cap tokens:5000"),
    ("ab create", "create test t9 with variants a and b, description hi", None, "~"),
    ("ab create", "create test t9 with arms x, y, expected tools srch, rdfile", None, "ab create t9 --variants x,y --expected-tools srch,rdfile"),
    ("ab add-result", "warm, 2 calls, failed, errors \"timeout\" and \"429\"", CF, "ab add-result checkout-flow --variant warm --tool-calls 2 --failure --error timeout --error 429"),
    ("eval run", "run smoke on openai:gpt-4o, price gpt-4o at 2.5/10", None, "eval run smoke --target openai:gpt-4o --price gpt-4o=2.5/10"),
    ("unsure", "archive checkout-flow, price gpt-4o at 2.5/10", None, "~"),
    # round 5: a metric the variants are compared on; a canary's arm by its role
    ("ab create", "new test t9 comparing a vs b on completion time", None, "ab create t9 --variants a,b --metric completion_time"),
    ("ab create", "new test t9 comparing a and b on cost and on tokens", None, "~"),
    ("unsure", "router-v2 candidate and control result: 3 calls, success", None, "~"),
    # ------------------------------------------------------------------ #24 round 6: general rules
    # "one" right after a variant is the result it names, never a count of calls
    ("ab add-result", "a warm one failed after 8 calls, 5 ok", CF, f"{AR} --variant warm --tool-calls 8 --successful-calls 5 --failure"),
    ("ab add-result", "terse one passed: 4 calls, 4 ok", "prompt-style", "ab add-result prompt-style --variant terse --tool-calls 4 --successful-calls 4 --success"),
    ("ab add-result", "warm: 3 calls, one failed, 2 ok", CF, f"{AR} --variant warm --tool-calls 3 --successful-calls 2"),
    # a call verb keeps its particle ("went through", "worked fine"); "only" before a number read
    ("ab add-result", "cold failed, 9 tool calls and just 4 went through", CF, f"{AR} --variant cold --tool-calls 9 --successful-calls 4 --failure"),
    ("ab add-result", "warm: 6 calls, 6 worked fine, success", CF, f"{AR} --variant warm --tool-calls 6 --successful-calls 6 --success"),
    ("unsure", "show only 5 results of search-v2", None, "~"),
    # "mark it (as) X": the state word says it all
    ("ab add-result", "warm on checkout-flow, 3 calls, 1 ok, mark it as a failure", None, f"{AR} --variant warm --tool-calls 3 --successful-calls 1 --failure"),
    ("ab add-result", "verbose on prompt-style: 2 calls, 2 ok; flag it successful", None, "ab add-result prompt-style --variant verbose --tool-calls 2 --successful-calls 2 --success"),
    ("canary complete", "router-v2 looks fine, mark it as complete", None, "canary complete router-v2"),
    ("unsure", "mark it", CF, "~"),
    # a session or a run that "died" (halfway) failed / stopped
    ("ab add-result", "warm died midway on checkout-flow after 5 calls, 3 ok", None, f"{AR} --variant warm --tool-calls 5 --successful-calls 3 --failure"),
    ("eval resume", "the eval crashed partway, resume candidate-0402", None, "eval resume candidate-0402"),
    ("eval resume", "the run stalled overnight, pick candidate-0402 back up", None, "eval resume candidate-0402"),
    # how many results an effect needs, asked as a question; what the effect is called
    ("ab analyze", "what would it take to see a 4pp improvement on search-v2?", None, "ab analyze search-v2 --mde 4pp"),
    ("ab analyze", "how long will it take to detect a 2pp drop on onboarding", None, "ab analyze onboarding --mde 2pp"),
    ("ab analyze", "how many more sessions to spot a 15% increase in cost on prompt-style?", None, "ab analyze prompt-style --metric cost --mde 15%"),
    ("unsure", "what would it take to ship warm?", CF, "~"),
    # what a dataset is made of; "dump"/"give me" … jsonl; split lists joined by "/"
    ("export dataset", "dump the onboarding transcripts as jsonl", None, "export dataset onboarding --format jsonl"),
    ("export dataset", "export candidate-0402's rollouts in openai chat format", None, "export dataset candidate-0402 --format openai-chat"),
    ("export dataset", "give me baseline-0401 as jsonl, train/test 0.9/0.1, seed 5", None, "export dataset baseline-0401 --format jsonl --split train=0.9,test=0.1 --seed 5"),
    ("export dataset", "train/dev 0.7/0.3 of search-v2, jsonl", None, "export dataset search-v2 --format jsonl --split train=0.7,dev=0.3"),
    ("unsure", "train/dev 0.7/0.3/0.1 of search-v2, jsonl", None, "~"),
    # a file named as a log, or the store it goes into, is `events import`
    ("events import", "load events-backup.jsonl", None, "events import events-backup.jsonl"),
    ("events import", "ingest old/prod_ledger.jsonl into the database", None, "events import old/prod_ledger.jsonl"),
    ("ab import", "import sessions.jsonl into search-v2", None, "ab import search-v2 sessions.jsonl"),
    ("unsure", "import dialog.jsonl", None, "~"),
    # "what was recorded": the log
    ("events log", "what has been recorded for prompt-style?", None, "events log --stream ab:prompt-style"),
    ("events log", "what got logged on search-v2 since 2025-02-01?", None, "events log --stream ab:search-v2 --since 2025-02-01"),
    # a negated damage is what verify checks
    ("events verify", "make sure nobody tampered with the log", None, "events verify"),
    ("events verify", "check that the ledger was not altered", None, "events verify"),
    ("unsure", "verify the log, not the projections", None, "~"),
    # a test named new right after a word for a test is its creation (no verb needed)
    ("ab create", "an experiment called tone-3, variants plain and warm", None, "ab create tone-3 --variants plain,warm"),
    ("ab create", "a/b test retry-4: zero vs one vs two, metric errors", None, "ab create retry-4 --variants zero,one,two --metric errors"),
    ("ab create", "we need an ab test named cache-ttl with arms short and long", None, "ab create cache-ttl --variants short,long"),
    ("unsure", "an experiment called checkout-flow, variants a and b", None, "~"),
    # variants: spaced after their cue up to "," or the end; a list right after the new name
    ("ab create", "create test ctx with variants tiny mid huge, metric cost", None, "ab create ctx --variants tiny,mid,huge --metric cost"),
    ("ab create", "create test ctx with arms tiny mid huge", None, "ab create ctx --variants tiny,mid,huge"),
    ("unsure", "create test ctx with variants tiny mid huge with cost", None, "~"),
    ("ab create", "create ctx-2: small, large; metric tokens", None, "ab create ctx-2 --variants small,large --metric tokens"),
    ("ab create", "new test ctx-3 (small, large, huge), small as control", None, "ab create ctx-3 --variants small,large,huge --control small"),
    ("unsure", "new test ctx-3 (small, large", None, "~"),
    # a metric before its word ("success metric", "a cost guardrail of +5%"), after a comma list
    ("ab create", "create test t10 with variants a and b, error_rate metric", None, "ab create t10 --variants a,b --metric error_rate"),
    ("ab create", "create test t10 with variants a and b, completion time guardrail +10%", None, "ab create t10 --variants a,b --guardrail completion_time:+10%"),
    ("ab create", "create test t10 with variants p, q, cost guardrail +5%", None, "ab create t10 --variants p,q --guardrail cost:+5%"),
    ("ab create", "create test t10 with variants p, q, tokens metric, cost guardrail +0.02", None, "ab create t10 --variants p,q --metric tokens --guardrail cost:+0.02"),
    # a report said after its kind ("eval report", "ab report")
    ("report eval", "json eval report: candidate-0402 over baseline-0401", None, "report eval candidate-0402 --baseline baseline-0401 --format json"),
    ("report ab", "an ab report on prompt-style, html", None, "report ab prompt-style --format html"),
    # a canary named for one of its arms names that arm's result when no role is said
    ("canary add-result", "router-v2 handled user-3: 2 calls, failed", None, "canary add-result router-v2 --variant router-v2 --unit-id user-3 --tool-calls 2 --failure"),
    # an arm named by its role ("baseline" is the control) with only an outcome: its result
    ("canary add-result", "the baseline on router-v2 failed with 3 errors", None, "canary add-result router-v2 --variant router-v1 --errors 3 --failure"),
    ("canary add-result", "the candidate on router-v2 succeeded for user-5 in 20s", None, "canary add-result router-v2 --variant router-v2 --unit-id user-5 --completion-time 20 --success"),
    ("canary status", "did the candidate on router-v2 fail?", None, "~"),
    ("canary add-result", "record a router-v2 session for user-9, 45s, success", None, "canary add-result router-v2 --variant router-v2 --unit-id user-9 --completion-time 45 --success"),
    ("unsure", "router-v2 served user-17 and user-18, success", None, "~"),
    # the object of a covariate verb ("cuped it with X", "adjust this for X")
    ("ab analyze", "adjust it for prior_tokens", "onboarding", "ab analyze onboarding --covariate prior_tokens"),
    ("ab analyze", "cuped this with baseline_score", "search-v2", "ab analyze search-v2 --covariate baseline_score"),
    ("unsure", "cuped it with baseline_score", None, "~"),
    # a case of a run, asked what happened to it, is the run's case
    ("eval show", "how did case add-3 go in baseline-0401?", None, "eval show baseline-0401 --case add-3"),
    ("eval show", "what happened with case q7 in candidate-0402", None, "eval show candidate-0402 --case q7"),
    # "X per Y" with the comparative inside; "cost less" is the cost
    ("ab analyze", "does b cost more per successful session than a?", "search-v2", "ab analyze search-v2 --metric cost_per_success"),
    ("ab analyze", "is verbose cheaper per success than terse?", None, "ab analyze prompt-style --metric cost_per_success"),
    ("ab analyze", "does treatment cost less than control?", "onboarding", "ab analyze onboarding --metric cost"),
    # with --force, a concession ("even though …", "although …") is what the force overrides
    ("canary advance", "force router-v2 to 50% although the error rate is up", None, "canary advance router-v2 --force --to 50"),
    ("canary complete", "complete router-v2 even if the rule disagrees, force it", None, "canary complete router-v2 --force"),
    ("unsure", "advance router-v2 even though it does not have enough results", None, "~"),
    ("unsure", "force router-v2 forward even though it only has 12 results", None, "~"),
    # an A/B test's dataset floor said with "score" is on its score
    ("export dataset", "export prompt-style as jsonl, only sessions with a score of at least 0.6", None, "export dataset prompt-style --format jsonl --min-score 0.6 --scorer score"),
    ("export dataset", "export prompt-style as jsonl, only sessions scoring at least 0.6", None, "export dataset prompt-style --format jsonl --min-score 0.6"),
    ("export dataset", "export baseline-0401 as jsonl, scoring at least 0.5", None, "export dataset baseline-0401 --format jsonl --min-score 0.5"),
    # a last clause that says where all traffic goes is the change itself (or contradicts it)
    ("canary complete", "complete router-v2, everyone on the candidate", None, "canary complete router-v2"),
    ("canary rollback", "roll back router-v2, all traffic back to the control", None, "canary rollback router-v2"),
    ("refused", "complete router-v2, all users get the control", None, "! which is it"),
    ("canary complete", "finish router-v2, metrics look fine", None, "canary complete router-v2 --note 'metrics look fine'"),
    # "export everything" names nothing to export
    ("unsure", "export everything", None, "~"),
    ("events export", "back up everything", None, "events export"),
    # misspelt core words, a swap of two letters in a short one
    ("canary list", "lsit the canaries", None, "canary list"),
    ("ab create", "create test lx with variants lint and nolint", None, "ab create lx --variants lint,nolint"),
    # "what can I type here?" is help
    ("refused", "what can I say here?", None, "! `help`"),
    # "no inference" is the summary, not the analysis
    ("ab summary", "the descriptive numbers for onboarding, without significance tests", None, "ab summary onboarding"),
    ("ab summary", "onboarding numbers, no inference", None, "ab summary onboarding"),
    # idioms of an outcome: "got it right/wrong", "nailed it"
    ("ab add-result", "c got it right with 4 tool calls", "search-v2", "ab add-result search-v2 --variant c --tool-calls 4 --success"),
    ("ab add-result", "verbose got it wrong after 30s", "prompt-style", "ab add-result prompt-style --variant verbose --completion-time 30 --failure"),
    ("unsure", "warm didn't get it right", CF, "~"),
    # a conjunction opening a clause a rule read; an intention before an option
    ("ab create", "create test t11 with variants x and y, but y is the control", None, "ab create t11 --variants x,y --control y"),
    ("ab create", "create test t11 with variants x and y, and we intend to segment by region", None, "ab create t11 --variants x,y --segment region"),
    # a test defined by other parts and no variants has the CLI's default ones; a bare name asks
    ("ab create", "create test t12 with metric cost and a guardrail on tokens of +10%", None, "ab create t12 --metric cost --guardrail tokens:+10%"),
    ("ab create", "new test t12, category search, prompt \"find it\"", None, "ab create t12 --category search --prompt 'find it'"),
    ("ab create", "create test t12", None, "? ab create t12 [--variants]"),
    ("ab create", "create test t12 with control warm", None, "~"),
    # the view: an address is --host, "allow remote"/"remote access" is --allow-remote; "share"
    ("view", "serve the view on 0.0.0.0 port 9000 with remote access", None, "view --port 9000 --host 0.0.0.0 --allow-remote"),
    ("view", "share the dashboard with the team on port 8800", None, "view --port 8800"),
    ("view", "start the viewer, host 192.168.1.5, allow remote connections", None, "view --host 192.168.1.5 --allow-remote"),
    ("refused", "start the viewer on 0.0.0.0 and 10.0.0.1", None, "! one address"),
    # who may reach it said outright is the consent 'allow remote' gives (two newcomers of round 8
    # expected this; the line is still echoed and confirmed before the view starts)
    ("view", "serve the view on 0.0.0.0 so everyone can see it", None, "view --host 0.0.0.0 --allow-remote"),
    ("view", "serve the view on 0.0.0.0 so everyone can", None, "? view --host 0.0.0.0 [--allow-remote]"),
    ("view", "start the viewer on localhost port 9000", None, "view --port 9000 --host localhost"),
    # a question of which runs are stalled is answered by the list
    ("eval list", "show the eval runs, which crashed?", None, "eval list"),
    ("eval list", "list the runs, are any still running?", None, "eval list"),
    # a budget on p95 said before its words; "the exit code" is --check; "ready to ship" asked
    ("report ab", "is onboarding ready to ship within a 30 s p95 latency budget?", None, "report ab onboarding --latency-budget 30"),
    ("report ab", "report on prompt-style with a $0.05 cost budget, and give me the exit code", None, "report ab prompt-style --cost-budget 0.05 --check"),
    # a gate on regressions is eval compare's, whatever it is called ("CI gate: …")
    ("eval compare", "CI gate: fail if candidate-0402 has more than 2 regressions against baseline-0401", None, "eval compare baseline-0401 candidate-0402 --max-regressions 2"),
    ("report eval", "a ci check of candidate-0402 against baseline-0401", None, "report eval candidate-0402 --baseline baseline-0401 --check"),
    ("eval compare", "ci gate: compare baseline-0401 and candidate-0402, fail if more than 3 regressions", None, "eval compare baseline-0401 candidate-0402 --max-regressions 3"),
    # a canary planned with "A against B" / "A over B": B is the control; "M as the metric"
    ("canary create", "new canary r3: model-b over model-a, stages 10, 50 and 100", None, "canary create r3 --control model-a --candidate model-b --stages 10,50,100"),
    ("canary create", "create canary r4, model-b against model-a, error rate as the metric", None, "canary create r4 --control model-a --candidate model-b --metric error_rate"),
    ("refused", "new canary r4, model-b vs model-a", None, "! canary create NAME"),
    # results planned said with "expected"/"planned" before the number
    ("ab create", "set up an ab test named tools-v2 comparing none and some, planned 400 sessions", None, "ab create tools-v2 --variants none,some --expected-results 400"),
    ("ab create", "create test t13 with variants a and b, expected 250 results", None, "ab create t13 --variants a,b --expected-results 250"),
    # a new suite's name right after "suite", delimited by its file or "from"
    ("eval suite add", "add suite nightly from cases/n.yaml", None, "eval suite add cases/n.yaml --name nightly"),
    ("eval suite add", "register suite math-2 with suites/math2.jsonl", None, "eval suite add suites/math2.jsonl --name math-2"),
    ("eval suite add", "add suite file cases/new2.yaml", None, "eval suite add cases/new2.yaml"),
    # "A over B" in a new test puts B as the control, as "against" does
    ("ab create", "create test pay comparing fresh over stale", None, "ab create pay --variants fresh,stale --control stale"),
    ("ab create", "new test pay-2: v2 over v1, metric tokens", None, "ab create pay-2 --variants v2,v1 --control v1 --metric tokens"),
    # a comparative's floor "by at least N": the effect worth detecting; "by N" alone is asked
    ("ab analyze", "is treatment better than control by at least 3pp?", "onboarding", "ab analyze onboarding --mde 3pp"),
    ("ab analyze", "is verbose cheaper than terse by at least 10% on prompt-style", None, "ab analyze prompt-style --metric cost --mde 10%"),
    ("unsure", "is warm faster than cold by 10s?", CF, "~"),
    # errors listed in brackets after their count
    ("ab add-result", "warm failed with 2 errors (\"429\", \"bad gateway\")", CF, f"{AR} --variant warm --errors 2 --error 429 --error 'bad gateway' --failure"),
    # "what changed in X since position N": the change from then to now
    ("ab analyze", "what changed on search-v2 since position 75?", None, "ab analyze search-v2 --at 75 --diff-now"),
    # "see"/"look at" a metric of a test is its analysis on it
    ("ab analyze", "I'd like to see the cost per success for checkout-flow", None, "ab analyze checkout-flow --metric cost_per_success"),
    ("ab analyze", "let's look at tokens on prompt-style", None, "ab analyze prompt-style --metric tokens"),
    # a request announced as a question
    ("ab analyze", "quick question: is treatment ahead on onboarding?", None, "ab analyze onboarding"),
    ("events verify", "one question, is the log intact?", None, "events verify"),
    ("unsure", "question: ship warm", CF, "~"),
    # "rerun the judge" rescores; "the two runs" named
    ("eval rescore", "rerun the judge on baseline-0401", None, "eval rescore baseline-0401 --scorer judge"),
    ("eval compare", "compare the two runs baseline-0401 and candidate-0402 on the exact scorer", None, "eval compare baseline-0401 candidate-0402 --scorer exact"),
    # a canary shipped to everyone is completed
    ("canary complete", "promote router-v2 to all users", None, "canary complete router-v2"),
    ("unsure", "ship router-v2", None, "~"),
    # the name right after "test:"; how many variants said before their list must match it
    ("ab create", "a new experiment: tone-4, plain vs warm", None, "ab create tone-4 --variants plain,warm"),
    ("ab create", "create test g2 with two arms, x and y", None, "ab create g2 --variants x,y"),
    ("ab create", "create an experiment g4 with 3 variants: p, q, r", None, "ab create g4 --variants p,q,r"),
    ("refused", "create an experiment g4 with 2 variants: p, q, r", None, "! which is it"),
    ("ab create", "create test g3 with variants, metric cost", None, "~"),
    # #24 round 7 (the seventh newcomer's dev set): capabilities, each in paraphrases of its own
    # a clause naming a metric after a decision is the analysis it rests on, not a note
    ("ab conclude", "ship warm, we judged it on cost", CF, "ab conclude checkout-flow --ship warm --metric cost"),
    ("ab conclude", "keep the control on onboarding, judged on error rate", None, "ab conclude onboarding --keep-control --metric error_rate"),
    ("ab conclude", "ship c, the numbers are clear", "search-v2", "ab conclude search-v2 --ship c --note 'the numbers are clear'"),
    # a canary named where the result goes ("to router-v2") is not its arm: asked which
    ("unsure", "record a result for router-v2: success in 12s", None, "~"),
    ("unsure", "log a result into the router-v2 canary, it failed", None, "~"),
    ("canary add-result", "router-v2 handled user-3 in 9s, success", None, "canary add-result router-v2 --variant router-v2 --unit-id user-3 --completion-time 9 --success"),
    # "w/" is "with"; a request's first word one typo off a command verb
    ("ab create", "new test tone-9 w/ variants plain,warm", None, "ab create tone-9 --variants plain,warm"),
    ("ab add-result", "recrod a cold result for checkout-flow, failed", None, "ab add-result checkout-flow --variant cold --failure"),
    ("ab archive", "archvie onboarding", None, "ab archive onboarding"),
    ("ab create", "creaet test lint-fix with variants a and b", None, "ab create lint-fix --variants a,b"),
    # a separate "vN" after a suite's name is its version
    ("eval suite show", "show me smoke v2", None, "eval suite show smoke --version 2"),
    ("eval suite show", "the cases of regression v3", None, "eval suite show regression --version 3"),
    # "how do X work here"
    ("refused", "how does the event log work here?", None, "! `help events`"),
    # gates on the commands that finish a run
    ("eval resume", "resume candidate-0402 and fail if more than 2 rollouts failed", None, "eval resume candidate-0402 --max-failed 2"),
    ("eval retry-failed", "retry the failures of baseline-0401, fail when contains drops below 80%", None, "eval retry-failed baseline-0401 --fail-under contains=80%"),
    ("eval retry-failed", "retry the failures of baseline-0401, fail when it drops below 80%", None, "~"),
    # a canary planned by its name and a colon
    ("canary create", "canary ranker-2: control bm25, candidate hybrid, stages 10,50,100", None, "canary create ranker-2 --control bm25 --candidate hybrid --stages 10,50,100"),
    # a rough plan; a cap at the Nth percentile; "break it down by X later"
    ("ab create", "create test tips with variants on and off, we plan roughly 900 sessions", None, "ab create tips --variants on,off --expected-results 900"),
    ("ab create", "create test tips with variants on and off, we are planning ~400 results in total", None, "ab create tips --variants on,off --expected-results 400"),
    ("ab create", "create test tips with variants on and off, cap completion time at the 95th percentile", None, "ab create tips --variants on,off --cap completion_time:p95"),
    ("ab create", "create test tips with variants on and off, we will break it down by model later", None, "ab create tips --variants on,off --segment model"),
    # "ab test NAME with A vs B", whatever else it says about results
    ("ab create", "ab test ranker-9 with bm25 vs dense, we plan 500 results", None, "ab create ranker-9 --variants bm25,dense --expected-results 500"),
    ("ab create", "a/b test tone-10 with variants plain and warm", None, "ab create tone-10 --variants plain,warm"),
    # "openai MODEL" as a run's target; "openai" then names no dataset format
    ("eval run", "run smoke on openai gpt-4.1-mini", None, "eval run smoke --target openai:gpt-4.1-mini"),
    ("eval run", "evaluate regression with openai o3-mini, 2 epochs", None, "eval run regression --target openai:o3-mini --epochs 2"),
    # seeds listed before another option; a check report asked as "is X ready … check mode"
    ("eval run", "run smoke on openai:gpt-4o, seeds 1-20, with the cache", None, "eval run smoke --target openai:gpt-4o --seeds 1-20 --cache"),
    ("report canary", "the canary report of router-v2 in check mode", None, "report canary router-v2 --check"),
    # a split said as one ratio beside two split names
    ("export dataset", "export baseline-0401 as jsonl, split train/test 80/20", None, "export dataset baseline-0401 --format jsonl --split train=0.8,test=0.2"),
    ("export dataset", "jsonl dataset of baseline-0401, split 75/25 train/dev", None, "export dataset baseline-0401 --format jsonl --split train=0.75,dev=0.25"),
    ("unsure", "export baseline-0401 as jsonl, split 70/20 train/test", None, "~"),
    # a canary arm's result from a stage, by the stage's number
    ("canary add-result", "record a candidate result for router-v2 at stage 3: success in 20s", None, "canary add-result router-v2 --variant router-v2 --stage 3 --completion-time 20 --success"),
    ("unsure", "record a candidate result for router-v2 at stage 9: success", None, "~"),
    # after scoring the seventh held-out (dev data since): a command target by its kind word,
    # "VARIANT again", a split after the last variant, one share a variant in their order
    ("eval run", 'evaluate smoke against the command "node bot.js" with 2 epochs', None, "eval run smoke --target 'command:node bot.js' --epochs 2"),
    ("ab add-result", "cold again, failed after 20s", CF, "ab add-result checkout-flow --variant cold --completion-time 20 --failure"),
    ("ab create", "create test w4 with arms p, q, r split p=1,q=1,r=2", None, "ab create w4 --variants p,q,r --split p=1,q=1,r=2"),
    ("ab create", "create test w5 with variants x and y, split 3:1", None, "ab create w5 --variants x,y --split x=3,y=1"),
    ("refused", "create test w6 with variants x and y, split 3:1:1", None, "! '3'"),
    # the shell refuses what the command would refuse (domain rules), with its reason
    ("refused", "create test t7 with variants a and b, control c", None, "! not one of the variants"),
    # ---- round 8 (the eighth newcomer's dev set, #24): each capability in words of its own
    # CI gates said as what a scorer must reach, a mean score, the exit code they change
    ("eval run", "run smoke against http://127.0.0.1:8000/run with scorer contains, contains has to pass at least 0.8", None, "eval run smoke --target http://127.0.0.1:8000/run --scorer contains --fail-under contains=0.8"),
    ("eval run", "run regression on http://127.0.0.1:9000/task, exit 1 if the target's average score drops below 0.6", None, "eval run regression --target http://127.0.0.1:9000/task --fail-under target:mean=0.6"),
    ("unsure", "run regression on http://127.0.0.1:9000/task, exit 1 if the mean score drops below 0.6", None, "~"),
    ("eval run", "run smoke against http://127.0.0.1:8000/run and never exit 3 if all rollouts fail", None, "eval run smoke --target http://127.0.0.1:8000/run --allow-all-failed"),
    ("eval resume", "resume candidate-0402, exit 0 even if every rollout failed", None, "eval resume candidate-0402 --allow-all-failed"),
    ("eval resume", "resume baseline-0401; no more than 3 rollouts can fail", None, "eval resume baseline-0401 --max-failed 3"),
    ("eval retry-failed", "retry the failures of baseline-0401 and write junit to ci/retry.xml", None, "eval retry-failed baseline-0401 --junit ci/retry.xml"),
    ("eval run", "a ci run of regression against http://127.0.0.1:8000/run", None, "eval run regression --target http://127.0.0.1:8000/run"),
    ("eval run", "run smoke on http://127.0.0.1:8000/run and halt when we spend $4", None, "eval run smoke --target http://127.0.0.1:8000/run --budget 4"),
    # a split's shares spaced or joined by "and"; a segment asked for again; a quantile guardrail
    ("ab create", "new test tone-test with formal and casual, split formal=1 and casual=3", None, "ab create tone-test --variants formal,casual --split formal=1,casual=3"),
    ("ab create", "create test hint-style with variants none,short; break it down by difficulty later, so register it as a segment", None, "ab create hint-style --variants none,short --segment difficulty"),
    ("ab create", "new test cache-ttl with off vs on, guardrail: completion time p90 may not get more than 15% worse", None, "ab create cache-ttl --variants off,on --guardrail completion_time:p90:+15%"),
    # "but it (still) passed": the outcome after a contrast
    ("ab add-result", "cold on checkout-flow: 2 errors, but it still passed", None, "ab add-result checkout-flow --variant cold --errors 2 --success"),
    # the effect "worth detecting"; a pre-period test's metric as the covariate
    ("ab analyze", "analyze checkout-flow, the minimum lift worth detecting is 3pp", None, "ab analyze checkout-flow --mde 3pp"),
    ("ab analyze", "analyze checkout-flow cuped on onboarding's completion time", None, "ab analyze checkout-flow --covariate test:onboarding.completion_time"),
    ("ab analyze", "analyze it adjusted for the tokens of search-v2", CF, "ab analyze checkout-flow --covariate test:search-v2.tokens"),
    ("refused", "analyze checkout-flow and onboarding's tokens", None, "! which test"),
    # a stop at the start of a later clause; the metric a decision was "based on"
    ("ab conclude", "we're finished with search-v2, so end it without a winner", None, "ab conclude search-v2 --stop"),
    ("ab conclude", "ship warm on checkout-flow based on success", None, "ab conclude checkout-flow --ship warm --metric success"),
    # canary plans with their alpha, salt and a latency guardrail; unit ids asked of the canary in focus
    ("canary create", "plan canary ranker-v3: control ranker-v2, candidate ranker-v3, at alpha 0.02 with salt r3", None, "canary create ranker-v3 --control ranker-v2 --candidate ranker-v3 --alpha 0.02 --salt r3"),
    ("canary create", "plan canary fast-path with control slow-path and candidate fast-path, latency may not get more than 20% worse", None, "canary create fast-path --control slow-path --candidate fast-path --guardrail completion_time:+20%"),
    ("canary assign", "which arm does user-9 get?", "router-v2", "canary assign router-v2 user-9"),
    # positions after "events"/"everything"; all of the log
    ("events export", "export everything since 300", None, "events export --since 300"),
    ("events log", "the log, all of it", None, "events log --limit 0"),
    ("events log", "everything recorded by ann@laptop", None, "events log --actor ann@laptop --limit 0"),
    # ---- round 8, from the ninth newcomer's dev set: each capability in words of its own
    # a name said as a description is asked ("a test for the new planner"); a scorer's argument
    ("unsure", "make a test for the new planner, fast vs slow", None, "? ab create [NAME]"),
    ("eval run", "run smoke on http://127.0.0.1:8000/run with a regex scorer ^yes$", None, "eval run smoke --target http://127.0.0.1:8000/run --scorer 'regex:^yes$'"),
    ("eval run", 'evaluate regression against http://127.0.0.1:8000/run with a contains scorer "refund"', None, "eval run regression --target http://127.0.0.1:8000/run --scorer contains:refund"),
    ("eval rescore", "rescore baseline-0401 with equals and icontains", None, "eval rescore baseline-0401 --scorer equals --scorer icontains"),
    # a new test's metric: "judge it on", "our own X", "on METRIC" right after its name
    ("ab create", "new test tone2 with formal vs casual, judge it on error rate", None, "ab create tone2 --variants formal,casual --metric error_rate"),
    ("ab create", "create test t8, the metric is our own resolution_rate", None, "ab create t8 --metric resolution_rate"),
    ("ab create", "new test speedy on completion time, variants a1 and b1", None, "ab create speedy --variants a1,b1 --metric completion_time"),
    # a new name delimited by a colon before its two variants; caps; segments; "never let … fall"
    ("ab create", "hint-test2: short vs chatty, compare on tokens", None, "ab create hint-test2 --variants short,chatty --metric tokens"),
    ("unsure", "hint-test3: terse vs chatty", None, "~"),
    ("ab create", "new test c10 with a1 vs b1, cap tokens at the p95", None, "ab create c10 --variants a1,b1 --cap tokens:p95"),
    ("ab create", "new test c11 with a1 vs b1, cap latency at 300", None, "ab create c11 --variants a1,b1 --cap completion_time:300"),
    ("ab create", "new test seg2 with a1 vs b1, segment by category, model and region", None, "ab create seg2 --variants a1,b1 --segment category --segment model --segment region"),
    ("ab create", "new test seg3 with a1 vs b1, segment by category and cap cost at p99", None, "ab create seg3 --variants a1,b1 --segment category --cap cost:p99"),
    ("ab create", "new test g2 with a1 vs b1; never let success fall by more than 3 points", None, "ab create g2 --variants a1,b1 --guardrail success:+3pp"),
    # a failure's message after "with"; "blew up"; "after each single result"; a dir's "everything"
    ("ab add-result", 'warm crashed with "tool timeout" on checkout-flow', None, "ab add-result checkout-flow --variant warm --error 'tool timeout' --failure"),
    ("canary add-result", "the control on router-v2 blew up for user-8", None, "canary add-result router-v2 --variant router-v1 --unit-id user-8 --failure"),
    ("ab analyze", "what would onboarding's verdict have been after each single result", None, "ab analyze onboarding --history"),
    ("ab import", "import everything inside ./saved-tests", None, "ab import ./saved-tests"),
    ("ab conclude", "keep the control on onboarding with the covariate prior_score", None, "ab conclude onboarding --keep-control --covariate prior_score"),
    # a canary's arm by its own name (the canary in focus); plans without a colon, with an arrow
    ("canary add-result", "router-v1 succeeded in 25s", "router-v2", "canary add-result router-v2 --variant router-v1 --completion-time 25 --success"),
    ("canary create", "canary ranker-x control old-r candidate new-r", None, "canary create ranker-x --control old-r --candidate new-r"),
    ("canary create", "plan canary ranker-y old-r -> new-r, at least 100 results per stage", None, "canary create ranker-y --control old-r --candidate new-r --min-results 100"),
    # a verb mistyped at a clause's start; "allowing at most N"; a case of the run in focus; --fail-on lists
    ("eval resume", "candidate-0402 stalled midway through, resmue it", None, "eval resume candidate-0402"),
    ("eval retry-failed", "retry the failures of baseline-0401, allowing at most 1 failure", None, "eval retry-failed baseline-0401 --max-failed 1"),
    ("eval show", "what happened on case c12?", "baseline-0401", "eval show baseline-0401 --case c12"),
    ("eval compare", "compare baseline-0401 and candidate-0402, exit 1 on no_difference or continue", None, "eval compare baseline-0401 candidate-0402 --fail-on no_difference,continue"),
    # money where a run stops; an OpenAI-compatible target's key variable; a config by its kind
    ("eval run", "run regression on openai:gpt-4o-mini, halt after $3", None, "eval run regression --target openai:gpt-4o-mini --budget 3"),
    ("eval run", "evaluate smoke against openai:mistral-small@http://127.0.0.1:9000/v1, api key env MISTRAL_KEY", None, "eval run smoke --target 'openai:mistral-small@http://127.0.0.1:9000/v1;api_key_env=MISTRAL_KEY'"),
    ("eval run", "run the synthetic config dev.toml, seeds 0-9", None, "eval run --config dev.toml --seeds 0-9"),
    # "shippable per the report"; who may reach the view said outright (else it is asked)
    ("report ab", "is checkout-flow shippable per the report? ci gate", None, "report ab checkout-flow --check"),
    ("view", "serve the view on 0.0.0.0 so colleagues can open it", None, "view --host 0.0.0.0 --allow-remote"),
    ("unsure", "serve the view on 0.0.0.0 so I can open it", None, "~"),
    ("ab analyze", "could we even see a 3 point lift?", "onboarding", "ab analyze onboarding --mde 3pp"),
    # a canary stage by its percentage, now that --stage takes one (`--stage 10%`); one the plan lacks is asked
    ("canary add-result", "record a candidate result for router-v2 at the 10% stage: success in 20s", None, "canary add-result router-v2 --variant router-v2 --stage 10% --completion-time 20 --success"),
    ("canary add-result", "router-v2 control result from stage 50%: failed", None, "canary add-result router-v2 --variant router-v1 --stage 50% --failure"),
    ("unsure", "record a candidate result for router-v2 at the 25% stage: success", None, "~"),
    # ---- round 8, from the tenth newcomer's dev set (sentences): each capability in words of its own
    # a note ends before a closing "Record it." (it was part of the note: a wrong write)
    ("ab conclude", "we're keeping the control on onboarding, note: no lift after a week. Log it.", None, "ab conclude onboarding --keep-control --note 'no lift after a week'"),
    # measures said in sentences
    ("ab add-result", "log a warm result on checkout-flow with nps 9 as a custom metric, success", None, "ab add-result checkout-flow --variant warm --metric nps=9 --success"),
    ("ab add-result", "warm on checkout-flow: the grader rated it 0.9, success", None, "ab add-result checkout-flow --variant warm --score 0.9 --success"),
    ("ab add-result", "cold on checkout-flow failed and the user had to correct it 3 times", None, "ab add-result checkout-flow --variant cold --corrections 3 --failure"),
    ("ab add-result", 'warm on checkout-flow: 2 errors "timeout" and "bad json", failed', None, "ab add-result checkout-flow --variant warm --error timeout --error 'bad json' --failure"),
    ("unsure", 'warm on checkout-flow: 3 errors "timeout" and "bad json", failed', None, "~"),
    ("ab add-result", "add an a result to search-v2, success", None, "ab add-result search-v2 --variant a --success"),
    ("ab add-result", 'a cold session on checkout-flow fail with "card declined" after 20s', None, "ab add-result checkout-flow --variant cold --error 'card declined' --completion-time 20 --failure"),
    # who a read is for; a scorer by its provider; retries and concurrency in words; cached answers
    ("audit report", "write the checkout-flow audit to audit.md for the retro", None, "audit report checkout-flow --output audit.md"),
    ("eval rescore", "rescore candidate-0402 with the openai judge", None, "eval rescore candidate-0402 --scorer judge:openai"),
    ("eval run", "run regression on openai:gpt-4o-mini with the openai judge, failing if the judge's average is below 0.6", None, "eval run regression --target openai:gpt-4o-mini --scorer judge:openai --fail-under judge:openai:mean=0.6"),
    ("eval run", "run smoke on http://127.0.0.1:8000/run, retry up to 3 times on transient errors", None, "eval run smoke --target http://127.0.0.1:8000/run --retries 3"),
    ("eval run", "run smoke on http://127.0.0.1:8000/run, 12 at once", None, "eval run smoke --target http://127.0.0.1:8000/run --concurrency 12"),
    ("eval run", "run smoke against http://127.0.0.1:8000/run reusing cached answers no older than 2d", None, "eval run smoke --target http://127.0.0.1:8000/run --cache --cache-ttl 2d"),
    # a canary's stage now, said beside its step; plan stages "and then"; new names are no unit ids
    ("canary advance", "router-v2 is at 10% and healthy, move it up to 50", None, "canary advance router-v2 --to 50"),
    ("canary complete", "router-v2 is at 100% and clean, wrap up the rollout", None, "canary complete router-v2"),
    ("canary create", "plan a canary c6 with control a1 and candidate b1, go 10 and then 100 percent", None, "canary create c6 --control a1 --candidate b1 --stages 10,100"),
    # a canary by the first part of its name and its kind word ("the router canary")
    ("canary add-result", "record a control result for the router canary at stage 1: success", None, "canary add-result router-v2 --variant router-v1 --stage 1 --success"),
    ("events log", "every event of the router canary", None, "events log --stream canary:router-v2 --limit 0"),
    ("canary watch", "watch router-v2 and let it act on its own, stop after 300 seconds without results", None, "canary watch router-v2 --auto --timeout 300"),
    ("canary assign", "which arm would user-31 land in on router-v2?", None, "canary assign router-v2 user-31"),
    # runs: "measure up against", what stopped them, gates on what still fails, providers after models, prices in words
    ("eval compare", "how does candidate-0402 measure up against baseline-0401?", None, "eval compare baseline-0401 candidate-0402"),
    ("eval resume", "the vm crashed midway through candidate-0402, pick it up from where it left off", None, "eval resume candidate-0402"),
    ("eval retry-failed", "retry the failures of baseline-0401 and fail if more than 2 cases still fail", None, "eval retry-failed baseline-0401 --max-failed 2"),
    ("eval run", "run smoke against gpt-4.1-mini via openai, 2 epochs", None, "eval run smoke --target openai:gpt-4.1-mini --epochs 2"),
    ("eval run", "run smoke on http://127.0.0.1:8000/run, price gpt-4o-mini at 0.15 in / 0.6 out per million tokens", None, "eval run smoke --target http://127.0.0.1:8000/run --price gpt-4o-mini=0.15/0.6"),
    ("eval run", "run smoke on http://127.0.0.1:8000/run but stop at $3", None, "eval run smoke --target http://127.0.0.1:8000/run --budget 3"),
    ("unsure", "compare baseline-0401 and candidate-0402, fail on any regressions", None, "~"),
    # UTC times; a file named after the word; a suite's description after its name; dataset filters in words
    ("ab analyze", "how did onboarding look at 2026-11-01 09:30 UTC?", None, "ab analyze onboarding --as-of '2026-11-01 09:30'"),
    ("report ab", "the decision report for onboarding as a markdown file, onboarding.md", None, "report ab onboarding --format markdown --output onboarding.md"),
    ("eval suite add", 'add cases/q.jsonl as a suite named faq, "questions from the help centre"', None, "eval suite add cases/q.jsonl --name faq --description 'questions from the help centre'"),
    ("export dataset", "export baseline-0401 as jsonl, only the ones that passed", None, "export dataset baseline-0401 --format jsonl --passed-only"),
    # effects said in sentences; a custom metric named as one; a test's report by its name
    ("ab analyze", "analyze onboarding, we only care about an improvement of at least 3 points", None, "ab analyze onboarding --mde 3pp"),
    ("ab analyze", "a 5% relative lift is the smallest we'd care about on onboarding", None, "ab analyze onboarding --mde 5%"),
    ("ab analyze", "analyze onboarding on the custom nps metric", None, "ab analyze onboarding --metric nps"),
    ("unsure", "analyze onboarding on nps", None, "~"),
    ("report ab", "what would the checkout-flow report have said at position 300?", None, "report ab checkout-flow --at 300"),
    # the old warm-session tests of a directory; 'is anything stalled'; the judge's reasons
    ("ab import", "pull in the old warm-session tests from ./saved", None, "ab import ./saved"),
    ("eval list", "which eval runs are there, and is anything stuck?", None, "eval list"),
    ("eval show", "case q3 in baseline-0401 with the judge's reasons", None, "eval show baseline-0401 --case q3"),
    # who gave up; the quantile a decision rests on; a canary's arm by the canary's name and "arm"
    ("ab add-result", "cold on checkout-flow, the customer gave up, failure", None, "ab add-result checkout-flow --variant cold --failure"),
    ("ab conclude", "ship b on search-v2 based on the p90 cost analysis", None, "ab conclude search-v2 --ship b --metric cost:p90"),
    ("canary add-result", "router-v2 arm, user u-7: failed", None, "canary add-result router-v2 --variant router-v2 --unit-id u-7 --failure"),
    # a transcript attached to a new result; a score by the name it has there; a reason sentence after ";"
    ("ab add-result", "attach the transcript ./t/x.json to a new cold result on checkout-flow, failure", None, "ab add-result checkout-flow --variant cold --transcript ./t/x.json --failure"),
    ("ab add-result", "cold on checkout-flow: helpfulness score 0.4, failure", None, "ab add-result checkout-flow --variant cold --score 0.4 --failure"),
    ("ab conclude", "ship warm on checkout-flow; the numbers are clear", None, "ab conclude checkout-flow --ship warm --note 'the numbers are clear'"),
    ("ab conclude", "stop prompt-style; it never won anything", None, "ab conclude prompt-style --stop --note 'it never won anything'"),
    # a suite on a target is a run even with "rerun … no cache"; who a read is for, mid-sentence;
    # several metrics per variant are the summary's
    ("eval run", "rerun regression on http://127.0.0.1:8000/run with no cache", None, "eval run regression --target http://127.0.0.1:8000/run --no-cache"),
    ("projections rebuild", "the cache looks stale, rebuild it", None, "projections rebuild"),
    ("eval show", "candidate-0402 as markdown for the retro, with the synth columns", None, "eval show candidate-0402 --markdown --columns synth"),
    ("ab summary", "what are the success rate and cost for each variant of onboarding?", None, "ab summary onboarding"),
    ("refused", "is treatment better on success and cost?", "onboarding", "! which metric"),
    # after scoring the eighth and ninth held-out sets (dev data since): each in words of its own
    ("ab create", "make a test called cw3 cold vs warm, we plan about 600 results", None, "ab create cw3 --variants cold,warm --expected-results 600"),
    ("ab create", "ab test hint-q, variants terse2,chatty2, prompt \"Find me a cheap flight\"", None, "ab create hint-q --variants terse2,chatty2 --prompt 'Find me a cheap flight'"),
    ("ab create", "new test t13 with a1 vs b1, cost may not rise more than 0.05", None, "ab create t13 --variants a1,b1 --guardrail cost:+0.05"),
    ("ab import", "pull in ./saved/test_1.json as a test named mem-2", None, "ab import mem-2 ./saved/test_1.json"),
    ("canary create", "canary router-v4: control router-v2, candidate router-v4, stages 5,50,100", None, "canary create router-v4 --control router-v2 --candidate router-v4 --stages 5,50,100"),
    ("canary status", "how far along is it?", "router-v2", "canary status router-v2"),
    ("eval run", "run smoke on http://127.0.0.1:8000/run, cache on with a 6h ttl", None, "eval run smoke --target http://127.0.0.1:8000/run --cache --cache-ttl 6h"),
    ("eval run", "run smoke on http://127.0.0.1:8000/run, cache answers but not older than 1d", None, "eval run smoke --target http://127.0.0.1:8000/run --cache --cache-ttl 1d"),
    ("eval show", "candidate-0402 with every verdict, even the replaced ones", None, "eval show candidate-0402 --all-verdicts"),
    ("export dataset", "dataset from baseline-0401, jsonl, only score >= 0.7", None, "export dataset baseline-0401 --format jsonl --min-score 0.7"),
    ("unsure", "dataset from baseline-0401, jsonl, score > 0.7", None, "~"),
    # a variant said with ab show/summary, which list every variant: asked, never dropped (it was)
    ("unsure", "show checkout-flow for warm", None, "? ab show checkout-flow ['warm']"),
    ("unsure", "the last 10 cold results of checkout-flow", None, "? ab show checkout-flow --limit 10 ['cold']"),
    # ---- round 9, from the eleventh newcomer's dev set (#24): each capability in words of its own
    # a word one typo from a core word that became a name was the name ("summarizer", not "summarize")
    ("ab create", "create test summarizer with variants short,long", None, "ab create summarizer --variants short,long"),
    ("ab create", "new test analyzer: fast vs slow", None, "ab create analyzer --variants fast,slow"),
    ("ab create", "create a test x9 with variants a1,b1, metric sucess", None, "ab create x9 --variants a1,b1 --metric success"),
    # the verb a session met an error with
    ("ab add-result", "the cold one ran into an error \"rate limit\"", CF, f"{AR} --variant cold --error 'rate limit'"),
    ("ab add-result", "cold threw the error \"bad json\" and failed", CF, f"{AR} --variant cold --failure --error 'bad json'"),
    ("ab add-result", "cold hit 3 errors and failed", CF, f"{AR} --variant cold --errors 3 --failure"),
    ("ab add-result", "cold saw no errors and passed", CF, f"{AR} --variant cold --errors 0 --success"),
    ("ab add-result", "warm failed with 2 errors: \"429\", \"bad gateway\"", CF, f"{AR} --variant warm --failure --error 429 --error 'bad gateway'"),
    ("unsure", "warm failed with 3 errors: \"429\", \"bad gateway\"", CF, "~"),
    # a reason that says what is not there is still a reason; one that takes the request back is not
    ("ab conclude", "stop prompt-style, no effect worth chasing", None, "ab conclude prompt-style --stop --note 'no effect worth chasing'"),
    ("refused", "stop prompt-style, not now please", None, "! says 'not'"),
    ("refused", "stop prompt-style, no wait", None, "~"),
    # the cache's age limit said as what to ignore
    ("eval run", "run smoke on http://127.0.0.1:8000/run with the cache, skip cached answers older than 2d", None, "eval run smoke --target http://127.0.0.1:8000/run --cache --cache-ttl 2d"),
    # scorer arguments in words
    ("eval rescore", "rescore baseline-0401 with numeric within 1%", None, "eval rescore baseline-0401 --scorer numeric:1%"),
    ("eval rescore", "rescore candidate-0402 with length between 20 and 500 characters", None, "eval rescore candidate-0402 --scorer length:20-500"),
    ("eval rescore", "rescore candidate-0402 with numeric tolerance 0.5 and length 1-80", None, "eval rescore candidate-0402 --scorer numeric:0.5 --scorer length:1-80"),
    ("unsure", "rescore baseline-0401 with numeric 0.01", None, "~"),
    # "why did … fail" about a run's case is that case shown (a run has no decision to audit)
    ("eval show", "why did case c-12 fail in candidate-0402", None, "eval show candidate-0402 --case c-12"),
    ("audit", "why did we stop onboarding?", None, "audit onboarding"),
    # a count of regressions "allowed"
    ("eval compare", "compare baseline-0401 with candidate-0402, 1 regression tolerated", None, "eval compare baseline-0401 candidate-0402 --max-regressions 1"),
    # a directory said with its trailing slash
    ("eval export", "write the traces of candidate-0402 into traces/", None, "eval export candidate-0402 --traces traces/"),
    # a canary that rolls its candidate "out over" the control
    ("canary create", "plan a canary r5 rolling r5 out over r4", None, "canary create r5 --control r4 --candidate r5"),
    # a canary result at a share that is one of its stages
    ("canary add-result", "candidate on router-v2 at 10% failed", None, "canary add-result router-v2 --variant router-v2 --stage 10% --failure"),
    ("refused", "candidate on router-v2 at 30% failed", None, "~"),
    # a forced step "even without" what its rule asks
    ("canary advance", "force router-v2 to 50% even without enough results", None, "canary advance router-v2 --force --to 50"),
    # a halt's or a rollback's reason after a colon, its numbers as typed
    ("canary halt", "halt router-v2: error rate doubled to 4%", None, "canary halt router-v2 --note 'error rate doubled to 4%'"),
    ("refused", "roll back router-v2: not yet", None, "! says 'not'"),
    # --- round 10 (#24): general readings behind the twelfth newcomer's dev misses
    # a primary metric's quantile said after it, as a word or as the option writes it
    ("ab create", "create test lat with a and b, metric completion_time p95", None, "ab create lat --variants a,b --metric completion_time:p95"),
    ("ab create", "new test lat2 with variants fast and slow, primary metric completion_time:p99", None, "ab create lat2 --variants fast,slow --metric completion_time:p99"),
    ("canary create", "canary emb-2 with control emb-1 and candidate emb-2, primary metric completion_time p95", None, "canary create emb-2 --control emb-1 --candidate emb-2 --metric completion_time:p95"),
    ("canary create", "canary emb-3 with control emb-1 and candidate emb-3, completion_time:p90 as the metric", None, "canary create emb-3 --control emb-1 --candidate emb-3 --metric completion_time:p90"),
    # an event by its id
    ("events show", "show event 0190b7a5-3c1e-7f00-8a4b-2f6d1c9e0a11 as json", None, "events show 0190b7a5-3c1e-7f00-8a4b-2f6d1c9e0a11 --json"),
    ("events show", "what is event 0190b7a5-3c1e-7f00-8a4b-2f6d1c9e0a11?", None, "events show 0190b7a5-3c1e-7f00-8a4b-2f6d1c9e0a11"),
    # a canary's arm typed by its name beside "on canary NAME" (where the result goes)
    ("canary add-result", "a router-v1 session failed at stage 2 on canary router-v2, 3 errors", None, "canary add-result router-v2 --variant router-v1 --stage 2 --errors 3 --failure"),
    ("canary add-result", "router-v1 succeeded on the canary router-v2 in 30s", None, "canary add-result router-v2 --variant router-v1 --success --completion-time 30"),
    ("refused", "add a result to canary router-v2: success", None, "~"),
    # assignments and buckets of several units
    ("canary assign", "check assignments for user-3, user-8 and user-21 on router-v2", None, "canary assign router-v2 user-3 user-8 user-21"),
    ("canary assign", "show the buckets of user-3 on router-v2", None, "canary assign router-v2 user-3"),
    # a last clause naming an analysis option is the decision's analysis, never its note
    ("ab conclude", "ship warm on checkout-flow, with prior_score as the covariate", None, "ab conclude checkout-flow --ship warm --covariate prior_score"),
    ("ab conclude", "keep the control on onboarding, cuped on prior_score", None, "ab conclude onboarding --keep-control --covariate prior_score"),
    ("refused", "conclude checkout-flow by shipping warm, recording the cuped analysis with prior_score as covariate", None, "~"),
    # "make a test X …" creates X, though a plan's "results" and a variant are said
    ("ab create", "make a test tr2 with variants v1,v2,v3, control v2, we plan 600 results", None, "ab create tr2 --variants v1,v2,v3 --control v2 --expected-results 600"),
    ("ab create", "make a new test tr3 with variants cold and warm, we expect about 400 results", None, "ab create tr3 --variants cold,warm --expected-results 400"),
    # the verb a case was run with
    ("ab add-result", "b ran case q7 and got score 0.82", "search-v2", "ab add-result search-v2 --variant b --score 0.82 --case-id q7"),
    ("ab add-result", "warm tried case t-3 and failed", "checkout-flow", "ab add-result checkout-flow --variant warm --failure --case-id t-3"),
    # eval run's gates in the options' own words
    ("eval run", "run smoke on http://localhost:9000/run, max failed 0", None, "eval run smoke --target http://localhost:9000/run --max-failed 0"),
    ("eval run", "run smoke on http://localhost:9000/run, maximum failures: 3", None, "eval run smoke --target http://localhost:9000/run --max-failed 3"),
    ("eval run", "run smoke on http://localhost:9000/run, fail if more than 2 fail", None, "eval run smoke --target http://localhost:9000/run --max-failed 2"),
    ("eval run", "run smoke on http://localhost:9000/run, fail under exact=0.9", None, "eval run smoke --target http://localhost:9000/run --fail-under exact=0.9"),
    ("refused", "run smoke on http://localhost:9000/run, fail under exact=7", None, "~"),
    # both runs' roles in words
    ("eval compare", "baseline baseline-0401 vs candidate candidate-0402", None, "eval compare baseline-0401 candidate-0402"),
    ("eval compare", "compare candidate candidate-0402 with baseline-0401", None, "eval compare baseline-0401 candidate-0402"),
    # "rolling out X over Y", the particle before the candidate
    ("canary create", "plan a canary r6 rolling out r6 over r5", None, "canary create r6 --control r5 --candidate r6"),
    ("canary create", "new canary r7 rolling out r7 over r5, salt s1", None, "canary create r7 --control r5 --candidate r7 --salt s1"),
    # the shell's own words said as requests: named in the answer, nothing runs
    ("refused", "clear the screen", None, "! type `clear`"),
    ("refused", "focus on checkout-flow", None, "! type `use checkout-flow`"),
    ("refused", "clear the cache", None, "~"),
]
# fmt: on

#: the store of the requests quoted in #24 (runs called "bad" and "good")
ISSUE_VOCAB = Vocabulary(
    tests=dict(VOCAB.tests), archived=dict(VOCAB.archived), suites=VOCAB.suites,
    runs={*VOCAB.runs, "bad", "good"}, scorers=VOCAB.scorers, canaries=dict(VOCAB.canaries),
)  # fmt: skip
#: the misses quoted in #24, each as it must now be read
# fmt: off
ISSUE_CASES: list[tuple[str, str | None, str]] = [
    ("start a new experiment prompt-v2 comparing baseline vs terse, measured on completion time", None, "ab create prompt-v2 --variants baseline,terse --metric completion_time"),
    ("how many more sessions do we need for checkout-flow to detect a 5 point lift", None, "ab analyze checkout-flow --mde 5pp"),
    ("how many more sessions do we need to detect a 5 point lift on success", CF, "ab analyze checkout-flow --metric success --mde 5pp"),
    ("compare run bad against good", None, "eval compare good bad"),
    ("compare good with bad", None, "eval compare good bad"),
    ("is bad an improvement over good?", None, "eval compare good bad"),
    ("bad vs baseline good", None, "eval compare good bad"),
    ("open eval run bad", None, "eval show bad"),
    ("show the last 10 results", CF, "ab show checkout-flow --limit 10"),
    ("how did run good do on case add-3", None, "eval show good --case add-3"),
    ("create a test tool-policy with control strict and treatment lenient", None, "ab create tool-policy --variants strict,lenient --control strict"),
    ("new test tone: control formal, treatment casual", None, "ab create tone --variants formal,casual --control formal"),
    ("we're shipping warm", CF, "ab conclude checkout-flow --ship warm"),
    ("we decided on terse", None, "ab conclude prompt-style --ship terse"),
    ("stop and keep the control", CF, "ab conclude checkout-flow --keep-control"),
    ("we shipped warm", CF, "ab conclude checkout-flow --ship warm"),
    ("we went with terse", None, "ab conclude prompt-style --ship terse"),
    ("why was warm shipped?", None, "audit checkout-flow"),
    ("show position 17", None, "events show 17"),
    ("add a new version of smoke from cases/smoke-v2.yaml", None, "eval suite add cases/smoke-v2.yaml --name smoke"),
    ("register cases/smoke.jsonl", None, "eval suite add cases/smoke.jsonl"),
    ("show the event at position 5", None, "events show 5"),
    # a new name must be delimited: the comma after a "vs" list ends it
    ("create a test t2 comparing a vs b, measured by cost", None, "ab create t2 --variants a,b --metric cost"),
    ("create a test t3 comparing fast vs slow, nightly", None, "~"),
    ("create test speed comparing fast and slow and medium", None, "? ab create speed [--variants]"),
    # a word that judges a session without saying whether it succeeded is asked about
    ("warm was ok", CF, "? ab add-result checkout-flow --variant warm [--success]"),
    ("show the 20 most recent results of onboarding", None, "ab show onboarding --limit 20"),
    ("add a failed cold session that took 2 minutes and made 3 errors", None, "ab add-result checkout-flow --variant cold --errors 3 --completion-time 120 --failure"),
    ("new test hints: none vs short, guardrail on error rate of 2 points", None, "ab create hints --variants none,short --guardrail error_rate:+2pp"),
    ("set up model-test comparing gpt4o against claude, with claude as control", None, "ab create model-test --variants gpt4o,claude --control claude"),
    ("create test planner with variants shallow and deep, expecting 2000 results", None, "ab create planner --variants shallow,deep --expected-results 2000"),
    ("analyze onboarding on error rate with a margin of 2 points", None, "ab analyze onboarding --metric error_rate --margin 2pp"),
    ("we're keeping the control on search-v2", None, "ab conclude search-v2 --keep-control"),
    ("resume baseline-0401 with a $3 budget", None, "eval resume baseline-0401 --budget 3"),
    ("demo without the eval", None, "demo --no-eval"),
    ("demo with the eval skipped", None, "~"),
    ("watch router-v2 and act on its own", None, "canary watch router-v2 --auto"),
    ("export everything since 2026-01-01 to all.jsonl", None, "! not a date"),  # round 2: --since is a POS (--help)
    ("show the events from yesterday", None, "~"),
    ("halt router-v2 and roll it back", None, "! one canary step at a time"),
    ("resume baseline-0401 and candidate-0402", None, "! which run"),
    ("create test ab-2 with variants x,y,z, control y", None, "ab create ab-2 --variants x,y,z --control y"),
    # what a decision was judged on is carried, never dropped
    ("ship warm on completion time", CF, "ab conclude checkout-flow --ship warm --metric completion_time"),
    ("ship b with an mde of 5 points", "search-v2", "ab conclude search-v2 --ship b --mde 5pp"),
    ("create test q2 with variants a and b on cost", None, "~"),
    ("show help for eval run", None, "! `help eval run`"),
    ("compare baseline-0401 and candidate-0402 and put the pairs in an a/b test called pair-test", None, "eval compare baseline-0401 candidate-0402 --into-ab pair-test"),
    ("add the suite in data/qa.yaml, call it qa, described as 'customer questions'", None, "eval suite add data/qa.yaml --name qa --description 'customer questions'"),
    ("run smoke on python:pkg.mod:fn with a timeout of 30 seconds", None, "eval run smoke --target python:pkg.mod:fn --timeout 30"),
    ("eval list in json", None, "eval list --json"),
    ("which variant does user-17 get in router-v2?", None, "canary assign router-v2 user-17"),
    ("create test cards with variants red and blue, category ui, task id ui-7", None, "ab create cards --variants red,blue --task-id ui-7 --category ui"),
    ("create a test called onboarding-v2 with variants old and new and a success guardrail of 5 points", None, "ab create onboarding-v2 --variants old,new --guardrail success:+5pp"),
    ("create test x1 comparing a and b with 500 expected results", None, "ab create x1 --variants a,b --expected-results 500"),
    # a word that changes what a change means is never left unread
    ("ship warm on both tests", None, "~"),
    ("ship warm only if it is faster", None, "~"),
    ("maybe ship warm", None, "~"),
    # a question that asks never becomes a change
    ("did baseline-0401 finish?", None, "! asks a question"),
    ("is warm shipped?", None, "~"),
    ("add a warm result for each variant", CF, "~"),
    ("rescore candidate-0402 with judge but only the failures", None, "~"),
    ("run smoke against http://127.0.0.1:8000/run until it passes", None, "~"),
    ("create test g1 with variants a and b, guardrail on cost of 5 points", None, "! points are percentage points of a proportion"),
    ("create test g2 with variants a and b, error rate guardrail of 150 points", None, "! 150 points"),
    ("create a canary r3 with control r1 and candidate r3, error rate may rise at most 2 points", None, "canary create r3 --control r1 --candidate r3 --guardrail error_rate:+2pp"),
    ("create a canary r3 with control r1 and candidate r3, cost may rise at most 2 points", None, "! points are percentage points"),
    ("create a canary r3 with control r1 and candidate r3, stages 10, 50 and 100", None, "canary create r3 --control r1 --candidate r3 --stages 10,50,100"),
    ("assign user-17 and user-18 in router-v2", None, "canary assign router-v2 user-17 user-18"),
    ("record a canary result for router-v2: 3 calls, success", None, "! canary add-result NAME --variant V"),
    # every number and name typed is carried, or the request is unsure
    ("show the last 10 events of checkout-flow as json", None, "events log --stream ab:checkout-flow --limit 10 --json"),
    ("show checkout-flow 10", None, "~"),
    ("verify the log of checkout-flow", None, "~"),
    ("summarize checkout-flow as json", None, "ab summary checkout-flow --json"),
    ("summarize checkout-flow as markdown", None, "! has no --markdown option"),
]
# fmt: on


def _canon(argv: list[str] | tuple[str, ...]) -> tuple[list[str], list[tuple[str, ...]]]:
    """Positional words in order, options as a sorted list (option order does not matter to click)."""
    pos: list[str] = []
    opts: list[tuple[str, ...]] = []
    i = 0
    while i < len(argv):
        if argv[i].startswith("--"):
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                opts.append((argv[i], argv[i + 1]))
                i += 2
            else:
                opts.append((argv[i],))
                i += 1
        else:
            pos.append(argv[i])
            i += 1
    return pos, sorted(opts)


def matches(t: Translation, expected: str) -> bool:
    """Whether a translation is what the table expects (see the module docstring)."""
    if expected == "~":
        return t.status in ("incomplete", "refused")
    if expected.startswith("!"):
        return t.status == "refused" and expected[1:].strip() in t.reason
    if expected.startswith("?"):
        m = re.fullmatch(r"\?\s*(.*?)\s*\[(\S+)\]", expected)
        assert m, expected
        line, first_missing = m.groups()
        return (
            t.status == "incomplete"
            and _canon(t.argv) == _canon(shlex.split(line))
            and bool(t.missing)
            and t.missing[0].split()[0] == first_missing
        )
    return t.status == "command" and _canon(t.argv) == _canon(shlex.split(expected))


def accuracy(
    cases: list[tuple[str, str, str | None, str]] = CASES, vocab: Vocabulary = VOCAB
) -> dict[str, tuple[int, int]]:
    """(correct, total) per family; used by ``bench/plain_accuracy.py``."""
    out: dict[str, tuple[int, int]] = {}
    for family, text, focus, expected in cases:
        good, total = out.get(family, (0, 0))
        out[family] = (good + matches(translate(text, vocab, focus), expected), total + 1)
    return out


# ---------------------------------------------------------------------- the table


def test_the_table_has_at_least_200_requests_across_all_families() -> None:
    families = {c[0] for c in CASES}
    assert len(CASES) >= 200
    assert {
        "ab create",
        "ab add-result",
        "ab import",
        "ab list",
        "ab show",
        "ab summary",
        "ab analyze",
        "ab conclude",
        "ab archive",
        "ab restore",
        "events log",
        "events verify",
        "events show",
        "events export",
        "projections rebuild",
        "eval suite add",
        "eval suite list",
        "eval suite show",
        "eval run",
        "eval resume",
        "eval list",
        "eval show",
        "eval compare",
        "eval rescore",
        "audit",
        "audit report",
        "refused",
    } <= families
    refusals = [c for c in CASES if c[3].startswith(("!", "?"))]
    assert len(refusals) >= 60


@pytest.mark.parametrize("family", sorted({c[0] for c in CASES}))
def test_every_request_translates_as_the_table_says_and_fits_the_grammar(family: str) -> None:
    wrong = []
    for fam, text, focus, expected in CASES:
        if fam != family:
            continue
        t = translate(text, VOCAB, focus)
        problem = None
        if not matches(t, expected):
            problem = (
                f"expected {expected!r}, got {t.status}: {t.line} | reason={t.reason!r} "
                f"missing={t.missing} suggestions={t.suggestions}"
            )
        elif t.status != "refused":
            problem = conforms(t.argv, complete=t.status == "command")
        if problem:
            wrong.append(f"{text!r} (focus {focus}): {problem}")
    assert not wrong, "\n".join(wrong)


def test_accuracy_on_the_table_is_printed_and_complete(capsys: pytest.CaptureFixture[str]) -> None:
    result = accuracy()
    good = sum(g for g, _ in result.values())
    total = sum(n for _, n in result.values())
    with capsys.disabled():
        print(f"\nplain-language table accuracy: {good}/{total} = {good / total:.1%}")
    assert good == total


@pytest.mark.parametrize(
    ("text", "focus", "expected"), ISSUE_CASES, ids=[c[0] for c in ISSUE_CASES]
)
def test_the_requests_quoted_in_issue_24_are_read_right(
    text: str, focus: str | None, expected: str
) -> None:
    t = translate(text, ISSUE_VOCAB, focus)
    assert matches(t, expected), (t.status, t.line, t.reason, t.missing)
    if t.status != "refused":
        assert conforms(t.argv, complete=t.status == "command") is None


class TestEffectSizes:
    """Margins mean what they say for the metric's kind (domain/units.py, as the CLI reads them)."""

    @pytest.mark.parametrize(
        ("said", "mde"),
        [
            ("a 5 point lift", "5pp"),
            ("a 5pp lift", "5pp"),
            ("5 percentage points", "5pp"),
            ("a 5 % lift", "5%"),
            ("a 5% lift", "5%"),
            ("an mde of 0.05", "0.05"),
        ],
    )
    def test_points_percent_and_a_proportion_on_success(self, said: str, mde: str) -> None:
        t = translate(f"analyze checkout-flow on success to detect {said}", VOCAB)
        assert t.line == f"ab analyze checkout-flow --metric success --mde {mde}"

    def test_a_bare_5_on_a_proportion_is_refused_with_the_reason(self) -> None:
        t = translate("analyze checkout-flow on success with mde 5", VOCAB)
        assert t.status == "refused" and "500 points" in t.reason and "5pp" in t.reason

    def test_more_than_100_points_is_refused(self) -> None:
        t = translate("analyze checkout-flow on error rate with mde 150 points", VOCAB)
        assert t.status == "refused" and "150 points" in t.reason

    def test_points_on_a_metric_that_is_no_proportion_are_refused(self) -> None:
        t = translate("analyze checkout-flow on completion time with mde 5 points", VOCAB)
        assert t.status == "refused" and "not one" in t.reason

    def test_a_bare_number_on_an_unnamed_metric_is_asked_about(self) -> None:
        t = translate("analyze checkout-flow with mde 5", VOCAB)
        assert t.status == "incomplete" and t.missing == ("--mde EFFECT",)
        assert "5pp" in t.reason and "5%" in t.reason

    def test_units_of_the_metric_are_its_own(self) -> None:
        t = translate("is warm faster, with a 2.5 second mde?", VOCAB, CF)
        assert t.line == "ab analyze checkout-flow --metric completion_time --mde 2.5"
        t = translate("analyze checkout-flow on cost with mde $0.01", VOCAB)
        assert t.line == "ab analyze checkout-flow --metric cost --mde 0.01"

    def test_the_parser_and_the_cli_read_a_margin_alike(self) -> None:
        from trialbook.domain.units import parse_margin

        for said, metric in (("5 points", "success"), ("10 %", "tokens"), ("0.05", "error_rate")):
            t = translate(f"analyze checkout-flow on {metric} with mde {said}", VOCAB)
            mde = t.argv[t.argv.index("--mde") + 1]
            assert parse_margin(mde, metric) == parse_margin(said.replace(" ", ""), metric)


def test_every_generic_option_the_parser_adds_is_an_option_of_that_command() -> None:
    from trialbook.plain.options import TAKES

    for path, options in TAKES.items():
        _, valued, flags = GRAMMAR[path]
        assert options <= valued | flags, (path, options - valued - flags)


def test_the_help_topics_name_every_command_of_each_family() -> None:
    """``help_request``'s families list every subcommand click has ("how do I use canary
    add-result?" pointed at ``help canary`` while add-result was missing)."""
    from trialbook.plain.app import _FAMILIES

    for family, subs in _FAMILIES.items():
        assert subs == {p[1] for p in GRAMMAR if len(p) >= 2 and p[0] == family}, family


def test_every_command_with_a_generic_option_is_known_to_take_it() -> None:
    """The other direction: a command the CLI gives --json (or --limit, --as-of …) is in
    TAKES with it, or "as json" on it is refused as an option it lacks ("canary assign … json")."""
    from trialbook.plain.options import TAKES

    generic = frozenset().union(*TAKES.values())
    missing = {}
    for path, (_, valued, flags) in GRAMMAR.items():
        if path == ("ask",):
            continue  # a plain request is never translated into `ask`
        lacks = (generic & (valued | flags)) - TAKES.get(path, frozenset())
        if lacks:
            missing[" ".join(path)] = sorted(lacks)
    assert not missing, missing


def test_the_result_slots_are_the_options_of_ab_add_result() -> None:
    """plain/ab_result's hand-kept tables name ``ab add-result``'s options: the order it writes
    them in lists every option the command has (a new option the parser could never write would
    be dropped from "… with 3 retries"), the ``key=value`` names map onto real options, and the
    slots it reads as whole numbers are exactly the command's integer options."""
    from trialbook.plain import ab_result as r
    from trialbook.shell.line_checks import resolve_command

    _, cmd, _, _ = resolve_command(["ab", "add-result", "x"])
    options = {p.name: p for p in cmd.params if isinstance(p, click.Option)}
    written = {"error": "error_messages", "metric": "metrics", "dimension": "dimensions"}
    assert {written.get(k, k) for k in r._OPTION_ORDER} | {"variant"} == set(options)
    assert set(r._KV_NUMERIC.values()) | set(r._KV_TEXT.values()) <= set(options)
    assert {
        n
        for n, p in options.items()
        if p.type is click.INT or getattr(p.type, "name", "") == "tokens"
    } == r._INT_SLOTS


def test_the_gate_decisions_are_the_analysis_decisions() -> None:
    """``eval compare --fail-on`` names a recommendation; the parser's list is the engine's."""
    from trialbook.domain.stats.engine import DECISIONS
    from trialbook.plain.evals import _DECISIONS

    assert set(_DECISIONS) == set(_DECISIONS.values()) == set(DECISIONS)


# ---------------------------------------------------------------------- the API


class TestTranslationValues:
    def test_a_command_says_whether_it_writes_and_which_tier_understood_it(self) -> None:
        t = translate("add a warm result: 12 calls, 11 ok", VOCAB)
        assert (t.status, t.writes, t.tier) == ("command", True, "rules")
        assert t.command == ("ab", "add-result")
        r = translate("summarize checkout-flow", VOCAB)
        assert (r.status, r.writes, r.tier) == ("command", False, "rules")

    def test_an_incomplete_request_gives_an_editable_line_ending_at_the_missing_option(
        self,
    ) -> None:
        t = translate("add a result for search-v2: 3 calls", VOCAB)
        assert t.status == "incomplete"
        assert t.prefill == "ab add-result search-v2 --tool-calls 3 --variant "
        assert t.suggestions == ("a", "b", "c")

    def test_an_incomplete_name_leaves_the_cursor_after_the_known_options(self) -> None:
        t = translate("which variant is winning?", VOCAB)
        assert t.prefill == "ab analyze "
        assert set(t.suggestions) == {*VOCAB.tests, *VOCAB.archived}

    def test_a_refusal_has_a_one_line_reason_and_suggestions_that_are_not_run(self) -> None:
        t = translate("summarize chekout-flow", VOCAB)
        assert t.status == "refused" and "\n" not in t.reason
        assert t.argv == () and t.suggestions == ("checkout-flow",)

    def test_the_line_is_shell_quoted(self) -> None:
        t = translate("ship warm because it is faster", VOCAB)
        assert t.line == "ab conclude checkout-flow --ship warm --note 'it is faster'"

    def test_the_vocabulary_is_frozen_and_hashable(self) -> None:
        v = Vocabulary(tests={"x": ("a", "b")}, archived={"y": ()}, suites={"s"})
        assert v.tests["x"] == ("a", "b") and v.archived["y"] == ()
        assert hash(v) == hash(
            Vocabulary(tests={"x": ("a", "b")}, archived={"y": ()}, suites=frozenset({"s"}))
        )
        with pytest.raises(TypeError):
            v.tests["z"] = ()  # type: ignore[index]

    def test_translate_does_not_import_click(self) -> None:
        import subprocess
        import sys

        code = "import sys, trialbook.plain.translate as t; t.translate('ship warm', t.Vocabulary()); print('click' in sys.modules)"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("argv", "writes"),
    [
        (["ab", "create", "x", "--variants", "a,b"], True),
        (["ab", "add-result", "x", "--variant", "a"], True),
        (["ab", "import", "x", "f.jsonl"], True),
        (["ab", "conclude", "x", "--stop"], True),
        (["ab", "archive", "x"], True),
        (["ab", "restore", "x"], True),
        (["projections", "rebuild"], True),
        (["eval", "suite", "add", "f.yaml"], True),
        (["eval", "run", "s", "--target", "t"], True),
        (["eval", "resume", "r"], True),
        (["eval", "rescore", "r", "--scorer", "s"], True),
        (["ab", "list"], False),
        (["ab", "show", "x"], False),
        (["ab", "summary", "x"], False),
        (["ab", "analyze", "x"], False),
        (["events", "log"], False),
        (["events", "verify"], False),
        (["events", "show", "1"], False),
        (["events", "export"], False),
        (["eval", "suite", "list"], False),
        (["eval", "suite", "show", "s"], False),
        (["eval", "list"], False),
        (["eval", "show", "r"], False),
        (["eval", "compare", "a", "b"], False),
        (["eval", "compare", "a", "b", "--into-ab", "t"], True),
        (["eval", "retry-failed", "r"], True),
        (["canary", "create", "c", "--control", "a", "--candidate", "b"], True),
        (["demo"], True),
        (["view", "--port", "0"], True),
        (["events", "export", "--output", "log.jsonl"], True),
        (["eval", "export", "r", "--traces", "d"], True),
        (["audit", "x"], False),
        (["audit", "report", "x", "--format", "json"], False),
        ([], False),
    ],
)
def test_is_write_knows_every_command(argv: list[str], writes: bool) -> None:
    assert is_write(argv) is writes


#: every command of the CLI that only reads (or prints); a new command must join this set or
#: WRITE_COMMANDS, so a write is never offered without its confirmation by default
READ_ONLY_COMMANDS = {
    ("ab", "analyze"), ("ab", "list"), ("ab", "show"), ("ab", "summary"), ("ask",), ("audit",),
    ("audit", "report"), ("canary", "assign"), ("canary", "audit"), ("canary", "list"),
    ("canary", "status"), ("eval", "compare"), ("eval", "list"), ("eval", "show"),
    ("eval", "suite", "list"), ("eval", "suite", "show"), ("events", "export"), ("events", "log"),
    ("events", "show"), ("events", "verify"), ("export", "dataset"), ("report", "ab"),
    ("report", "canary"), ("report", "eval"),
}  # fmt: skip


def test_every_command_of_the_cli_is_classified_as_a_write_or_a_read() -> None:
    from trialbook.plain.types import WRITE_COMMANDS

    assert set(GRAMMAR) - WRITE_COMMANDS == READ_ONLY_COMMANDS
    assert set(GRAMMAR) >= WRITE_COMMANDS


def test_every_help_example_translates_to_its_command() -> None:
    pairs = examples()
    assert len(pairs) >= 10
    for request, cmd in pairs:
        t = translate(request, EXAMPLE_VOCABULARY)
        assert t.status == "command" and _canon(t.argv) == _canon(shlex.split(cmd)), (request, t)


#: commands whose last argument takes one or more values (`canary assign NAME UNIT_ID...`)
VARIADIC: set[tuple[str, ...]] = set()


#: commands with arguments click does not require (counted in ``_cli_grammar``)
OPTIONAL_ARGS: dict[tuple[str, ...], int] = {}
#: each command's options that may be given more than once (click's ``multiple=True``; read in
#: ``_cli_grammar``, so a repeatable option added to the CLI needs no list kept by hand here)
REPEATABLE: dict[tuple[str, ...], set[str]] = {}


def _cli_grammar() -> dict[tuple[str, ...], tuple[int, set[str], set[str]]]:
    """The CLI's own grammar, read from the click group: command -> (positional arguments,
    options that take a value, flags). The parser targets exactly what the CLI takes."""
    import click

    import trialbook.shell.cli  # noqa: F401 - registers every command on the group
    from trialbook.shell.group import cli

    out: dict[tuple[str, ...], tuple[int, set[str], set[str]]] = {}

    def walk(cmd: click.Command, path: tuple[str, ...], ctx: click.Context) -> None:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None:
                    walk(sub, (*path, name), ctx)
            return
        npos, valued, flags = 0, set(), set()
        for p in cmd.params:
            if isinstance(p, click.Option):
                names = [o for o in [*p.opts, *p.secondary_opts] if o.startswith("--")]
                (flags if p.is_flag else valued).update(names)
                if p.multiple:
                    REPEATABLE.setdefault(path, set()).update(names)
            else:
                npos += 1
                if not p.required:  # `ab import [NAME] FILE|DIR`: one argument is a DIR
                    OPTIONAL_ARGS[path] = OPTIONAL_ARGS.get(path, 0) + 1
                if p.nargs == -1:
                    VARIADIC.add(path)
        out[path] = (npos, valued - {"--help"}, flags - {"--help"})

    walk(cli, (), click.Context(cli))
    # `audit NAME [--json]`: the group's default command, parsed by the group itself
    out[("audit",)] = (1, set(), {"--json"})
    return out


#: the CLI grammar the parser targets: command -> (positional arguments, options that take a value, flags)
GRAMMAR = _cli_grammar()


def conforms(argv: tuple[str, ...], complete: bool = True) -> str | None:
    """Why ``argv`` breaks :data:`GRAMMAR` (``None`` if it fits); ``complete=False`` allows missing parts."""
    path = command_path(argv)
    if path not in GRAMMAR:
        return f"unknown command {path}"
    npos, valued, flags = GRAMMAR[path]
    rest, positional, seen = list(argv[len(path) :]), 0, []
    while rest:
        arg = rest.pop(0)
        if arg in flags:
            seen.append(arg)
        elif arg in valued:
            if not rest:
                return f"{arg} has no value"
            rest.pop(0)
            seen.append(arg)
        elif arg.startswith("--"):
            return f"unknown option {arg}"
        else:
            positional += 1
    if path in VARIADIC and positional > npos:
        positional = npos
    if positional > npos or (complete and not npos - OPTIONAL_ARGS.get(path, 0) <= positional):
        return f"{positional} arguments, expected {npos}"
    dupes = {o for o in seen if seen.count(o) > 1 and o not in REPEATABLE.get(path, set())}
    if dupes:
        return f"repeated {dupes}"
    if (
        len(set(seen) & {"--success", "--failure"}) > 1
        or len(set(seen) & {"--ship", "--keep-control", "--stop"}) > 1
    ):
        return "exclusive options together"
    if (
        path == ("ab", "conclude")
        and complete
        and not set(seen) & {"--ship", "--keep-control", "--stop"}
    ):
        return "conclude needs --ship, --keep-control or --stop"
    if path == ("ab", "add-result") and complete and "--variant" not in seen:
        return "add-result needs --variant"
    if path == ("eval", "run") and complete and not {"--target", "--config"} & set(seen):
        return "eval run needs --target"
    return None


# ---------------------------------------------------------------------- safety properties

_NUMBER_WORDS = {
    "twelve": 12,
    "eleven": 11,
    "forty": 40,
    "two": 2,
    "three": 3,
    "zero": 0,
    "ten": 10,
    "twenty-one": 21,
    "one hundred": 100,
    "hundred": 100,
    "seven": 7,
    "one": 1,
    "twenty": 20,
}
_UNITS = (Decimal(1), Decimal(60), Decimal(3600), Decimal("0.01"), Decimal("0.001"))
#: a unit times an optional k/thousand/million multiplier ("1.5k tokens", "2k min")
_FACTORS = {u * m for u in _UNITS for m in (Decimal(1), Decimal(1000), Decimal(1_000_000))}
_NAME_OPTIONS = {"--variant", "--control", "--ship", "--scorer"}


def _mentions(text: str) -> set[Decimal]:
    """Every number written in ``text`` (digits, the number words above, "no"/"none" as 0)."""
    low = text.lower()
    found = {Decimal(m.replace(",", "")) for m in re.findall(r"\d[\d,]*(?:\.\d+)?|\.\d+", low)}
    found |= {
        Decimal(m.replace(",", "")) for m in re.findall(r"(?<![\w.])-\d[\d,]*(?:\.\d+)?", low)
    }
    for word, value in _NUMBER_WORDS.items():
        if re.search(rf"\b{word}\b", low):
            found.add(Decimal(value))
    # spelled compounds: "twelve hundred", "one hundred and eleven", "twenty-one"
    words = re.findall(r"[a-z-]+", low)
    small = {k: v for k, v in _NUMBER_WORDS.items() if " " not in k and v < 100}
    for i in range(len(words)):
        total = None
        for x in words[i:]:
            if x in small:
                total = (total or 0) + small[x]
            elif x == "hundred":
                total = (total or 1) * 100
            elif x == "and" and total is not None:
                continue
            else:
                break
            found.add(Decimal(total))
    if re.search(r"\b(no|none|without|zero)\b", low):
        found.add(Decimal(0))
    if re.search(r"\b(every|all)\s+single\b|\beach and every\b|\ball (of )?the\b", low):
        found.add(Decimal(0))
    return found


def _grounded(value: Decimal, mentions: set[Decimal]) -> bool:
    """``value`` is a mention times a unit factor, or a compound duration (1m30s, 2 min 800 ms)."""
    if value in {m * f for m in mentions for f in _FACTORS}:
        return True
    times = (Decimal(3600), Decimal(60), Decimal(1), Decimal("0.001"))
    return any(
        a * big + b * small == value
        for a in mentions
        for b in mentions
        for big in times
        for small in times
        if big > small
    )


_NUMERIC_OPTIONS = {
    "--tool-calls",
    "--successful-calls",
    "--errors",
    "--completion-time",
    "--messages",
    "--corrections",
    "--tokens",
    "--cost",
    "--score",
    "--alpha",
    "--mde",
    "--epochs",
    "--concurrency",
    "--limit",
    "--at",
    "--port",
    "--sessions",
    "--retries",
    "--seed",
    "--budget",
    "--version",
    "--judge-repeats",
    "--min-results",
    "--timeout",
    "--expected-results",
    "--to",
}


def _numbers_in(argv: tuple[str, ...]) -> list[Decimal]:
    """The numbers of numeric options, ``--metric k=N``, ``--guardrail m:+N%`` and ``events show N``."""
    out: list[Decimal] = []
    for i, arg in enumerate(argv):
        prev = argv[i - 1] if i else ""
        if prev in _NUMERIC_OPTIONS or prev in ("--mde", "--margin"):
            out.append(Decimal(arg.rstrip("%").removesuffix("pp")))
        elif prev == "--metric" and "=" in arg:
            out.append(Decimal(arg.split("=", 1)[1]))
        elif prev == "--guardrail":
            out.append(Decimal(arg.split(":+", 1)[1].rstrip("%")))
    if argv[:2] == ("events", "show") and len(argv) > 2 and argv[2].isdigit():
        out.append(Decimal(argv[2]))
    return out


def _names_in(argv: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for i, arg in enumerate(argv):
        if argv[i - 1] in _NAME_OPTIONS if i else False:
            out.append(arg)
        if i > 0 and argv[i - 1] == "--variants":
            out.extend(arg.split(","))
    path = command_path(argv)
    if path in GRAMMAR and path[0] in ("ab", "eval", "audit", "canary") and path != ("ab", "list"):
        _, valued, _ = GRAMMAR[path]
        rest, positional = list(argv[len(path) :]), []
        while rest:
            arg = rest.pop(0)
            if arg in valued and rest:
                rest.pop(0)
            elif not arg.startswith("--"):
                positional.append(arg)
        if path not in (("eval", "suite", "add"), ("ab", "import"), ("canary", "import")):
            out.extend(positional[:2])
        elif path != ("eval", "suite", "add"):
            out.extend(positional[:1])
    return [name for name in out if not name.startswith("--")]


def _known_name(name: str, text: str, vocab: Vocabulary) -> bool:
    pool = {
        *vocab.tests,
        *vocab.archived,
        *vocab.suites,
        *vocab.runs,
        *vocab.scorers,
        *vocab.canaries,
    }
    for variants in [*vocab.tests.values(), *vocab.archived.values()]:
        pool.update(variants)
    return name in pool or name.lower() in text.lower()


_WORDS = shlex.split(
    "add a the warm cold result results for to checkout-flow onboarding search-v2 b c calls tool ok "
    "successful failed did not succeed succeeded errors error tokens took s seconds min 40s 2 min "
    "1.5k $0.03 3 cents of 12 11 twelve eleven 7 0.5 ship keep control stop archive delete restore "
    "analyze which variant is winning summary show log events last verify run smoke against "
    "http://127.0.0.1:9/t epochs concurrency exact judge compare baseline-0401 candidate-0402 "
    "rescore audit why we create test called new-test variants vs alpha mde 5% history note: "
    "all none no , : ? and or with in at one hundred forty ten zero score case id import x.jsonl "
    "suite regression treatment a/b hot wram -3 1m30s 800ms 2m 1,200 twenty-one "
    "json last 10 position 120 at a time 5pp points since 2026-11-01 limit retries seed budget $5 "
    "demo view port sessions measured comparing against over relative than canary router-v2"
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.lists(st.sampled_from(_WORDS), min_size=1, max_size=14),
    focus=st.sampled_from([None, CF, "search-v2", "baseline-0401"]),
)
def test_no_request_gets_a_number_or_a_name_not_in_it_and_none_typed_is_dropped(
    words: list[str], focus: str | None
) -> None:
    text = " ".join(words)
    t = translate(text, VOCAB, focus)
    assert t.status in ("command", "incomplete", "refused")
    if t.status == "refused":
        assert t.argv == ()
        return
    assert conforms(t.argv, complete=t.status == "command") is None, (text, t.argv)
    mentions = _mentions(text)
    for value in _numbers_in(t.argv):
        assert _grounded(value, mentions), (text, t.argv, value)
    for name in _names_in(t.argv):
        assert _known_name(name, text, VOCAB) or name == focus, (text, t.argv, name)
    if t.status != "command":
        return
    # never dropped: every number typed, and every test, run or suite named, is in the command
    carried = _carried_numbers(t.argv)
    for typed in _typed_numbers(text):
        assert any(_grounded(v, {typed}) for v in carried), (text, t.argv, typed)
    for name in _typed_names(text):
        assert any(name == a or a.endswith(f":{name}") for a in t.argv), (text, t.argv, name)


#: a number typed in digits, standing alone (not inside a name, a path, a URL or a date)
_TYPED_NUMBER = re.compile(
    r"(?<![\w./:@-])\$?(\d[\d,]*(?:\.\d+)?)(?:k|s|m|h|ms|min|pp|%)?(?![\w/.:@-]|,\d)"
)


def _typed_numbers(text: str) -> set[Decimal]:
    return {Decimal(m.group(1).replace(",", "")) for m in _TYPED_NUMBER.finditer(text)}


def _carried_numbers(argv: tuple[str, ...]) -> list[Decimal]:
    """Every number in the command's values: ``40``, ``5pp``, ``cost:+10%``, ``a=3``, and a
    grouped one kept as typed in a note (``1,200``)."""
    out: list[Decimal] = []
    for arg in argv:
        for m in re.finditer(r"\d+(?:\.\d+)?", arg):
            out.append(Decimal(m.group(0)))
        for m in re.finditer(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", arg):
            out.append(Decimal(m.group(0).replace(",", "")))
    return out


def _typed_names(text: str) -> set[str]:
    """The tests, runs and suites of the store that ``text`` names as whole words."""
    pool = {*VOCAB.tests, *VOCAB.archived, *VOCAB.runs, *VOCAB.suites}
    words = set(re.findall(r"[\w.-]+", text.lower()))
    return {name for name in pool if name in words}


_COUNT = st.integers(min_value=0, max_value=400)


@st.composite
def _result_request(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """A request for a result written in one of many ways, and the options it must give."""
    variant = draw(st.sampled_from(["cold", "warm"]))
    parts: list[str] = []
    want: dict[str, str] = {"--variant": variant}
    if draw(st.booleans()):
        total = draw(_COUNT)
        ok = draw(st.integers(min_value=0, max_value=total))
        style = draw(
            st.sampled_from(
                [
                    "{t} calls, {o} ok",
                    "{o} of {t} calls succeeded",
                    "{o}/{t} tool calls ok",
                    "{t} tool calls, {o} successful",
                    "{t} calls of which {o} succeeded",
                ]
            )
        )
        parts.append(style.format(t=total, o=ok))
        want["--tool-calls"], want["--successful-calls"] = str(total), str(ok)
    if draw(st.booleans()):
        secs = draw(st.integers(min_value=1, max_value=3000))
        unit = draw(st.sampled_from(["s", " seconds", " sec", "min", " minutes"]))
        parts.append(f"took {secs}{unit}")
        want["--completion-time"] = str(secs * 60 if "min" in unit else secs)
    if draw(st.booleans()):
        tokens = draw(st.integers(min_value=1, max_value=999))
        if draw(st.booleans()):
            parts.append(f"{tokens}k tokens")
            want["--tokens"] = str(tokens * 1000)
        else:
            parts.append(f"{tokens} tokens")
            want["--tokens"] = str(tokens)
    if draw(st.booleans()):
        cents = draw(st.integers(min_value=1, max_value=99))
        if draw(st.booleans()):
            parts.append(f"{cents} cents")
        else:
            parts.append(f"${cents / 100:.2f}")
        want["--cost"] = (
            str(Decimal(cents) / 100).rstrip("0").rstrip(".") if cents % 100 else str(cents // 100)
        )
    if draw(st.booleans()):
        errors = draw(st.integers(min_value=0, max_value=50))
        parts.append(f"{errors} errors")
        want["--errors"] = str(errors)
    outcome = draw(
        st.sampled_from(
            [None, "succeeded", "failed", "did not succeed", "was unsuccessful", "passed"]
        )
    )
    if outcome:
        parts.append(outcome)
        want["--success" if outcome in ("succeeded", "passed") else "--failure"] = ""
    if not parts:
        parts.append("succeeded")
        want["--success"] = ""
    order = draw(st.permutations(parts))
    lead = draw(
        st.sampled_from(
            ["add a {v} result: ", "{v}: ", "record a {v} session, ", "log a {v} result with "]
        )
    )
    return lead.format(v=variant) + ", ".join(order), want


@settings(max_examples=150, deadline=None)
@given(case=_result_request())
def test_results_written_any_way_give_exactly_their_numbers(
    case: tuple[str, dict[str, str]],
) -> None:
    text, want = case
    t = translate(text, VOCAB)
    assert t.status == "command", (text, t.reason, t.missing)
    got: dict[str, str] = {}
    argv = list(t.argv[3:])
    i = 0
    while i < len(argv):
        if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            got[argv[i]] = argv[i + 1]
            i += 2
        else:
            got[argv[i]] = ""
            i += 1
    assert got == want, text


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=60))
def test_arbitrary_text_never_raises(text: str) -> None:
    t = translate(text, VOCAB)
    assert t.status in ("command", "incomplete", "refused")


#: words no rule reads as a value, a name or filler: put into a change, the change is unsure
_NEVER_READ = ("instead", "tomorrow", "hardly", "otherwise", "previous", "excluding")
#: words that start free text (a note, a reason, a description), where any word may stand
_FREE_TEXT = frozenset(
    [
        "note",
        "notes",
        "noting",
        "reason",
        "because",
        "described",
        "description",
        "criteria",
        "comment",
        "since",
        "as",
        "why",
    ]
)


def test_a_word_no_rule_reads_put_anywhere_into_a_change_makes_it_unsure() -> None:
    """Each write of the table, with one of :data:`_NEVER_READ` put in before each of its words
    (and at the end), is never a write: the word is not dropped, nor read as a name (#24 round 4:
    'cold vs previous warm' made the variants cold,previous)."""
    wrong = []
    tried = 0
    for k, (_, text, focus, _) in enumerate(CASES):
        said = set(re.split(r"[\s,:]+", text.lower()))
        t0 = translate(text, VOCAB, focus)
        if t0.status != "command" or not t0.writes or "'" in text or '"' in text:
            continue
        if said & _FREE_TEXT:
            continue  # free text takes any word
        word = _NEVER_READ[k % len(_NEVER_READ)]
        parts = text.split()
        for i in range(len(parts) + 1):
            mutated = " ".join([*parts[:i], word, *parts[i:]])
            t = translate(mutated, VOCAB, focus)
            tried += 1
            if t.status == "command" and t.writes:
                wrong.append(f"{mutated!r} (focus {focus}) -> {t.line}")
    assert tried > 1000
    assert not wrong, "\n".join(wrong)


#: words that leave out or turn around what follows them
_NEGATING = ("without", "except", "instead", "excluding", "not", "never")
#: negations a rule reads for what they say: "summary without stats" is what a summary is
_READ_NEGATIONS = ("without stats",)


def test_a_negating_word_put_anywhere_into_a_read_makes_it_unsure() -> None:
    """Each read of the table, with one of :data:`_NEGATING` put in before each of its words (and
    at the end), is never a command: read without the word it could be the opposite request
    (#24 round 4: 'analyze onboarding without the plot' drew the plot)."""
    wrong = []
    tried = 0
    for _, text, focus, _ in CASES:
        said = set(re.split(r"[\s,:]+", text.lower()))
        t0 = translate(text, VOCAB, focus)
        if t0.status != "command" or t0.writes or "'" in text or '"' in text:
            continue
        if said & _FREE_TEXT:
            continue
        parts = text.split()
        for word in _NEGATING:  # every word (one per request depended on the table's order)
            for i in range(len(parts) + 1):
                mutated = " ".join([*parts[:i], word, *parts[i:]])
                t = translate(mutated, VOCAB, focus)
                tried += 1
                if t.status == "command" and not any(n in mutated for n in _READ_NEGATIONS):
                    wrong.append(f"{mutated!r} (focus {focus}) -> {t.line}")
    assert tried > 6000
    assert not wrong, "\n".join(wrong)


def test_the_grammar_knows_which_options_repeat_from_click() -> None:
    """REPEATABLE is read from click (``multiple=True``), not kept by hand: a repeated single
    option breaks the grammar, a repeatable one does not."""
    assert conforms(("ab", "add-result", "x", "--variant", "a", "--variant", "b")) == (
        "repeated {'--variant'}"
    )
    assert conforms(("ab", "create", "x", "--segment", "a", "--segment", "b")) is None
    assert (
        conforms(("eval", "compare", "r1", "r2", "--fail-on", "ship", "--fail-on", "blocked"))
        is None
    )
    assert "--segment" in REPEATABLE[("ab", "create")] and "--variant" not in REPEATABLE.get(
        ("ab", "add-result"), set()
    )
