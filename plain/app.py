"""Rules for the commands around the store: ``demo``, ``view``, and questions about help.

Help is the shell's own (``help``, ``help ab create``), not a command line of the
CLI, so a request for it is answered with what to type rather than run.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from trialbook.plain.lex import fmt
from trialbook.plain.request import Request, number_refusal, unknown_refusal
from trialbook.plain.types import Translation, command, incomplete, refused
from trialbook.plain.words import _w

#: the command families `help` knows, for "what options does ab create take?"
_FAMILIES = {
    "ab": _w("create add-result import list show summary analyze conclude archive restore"),
    "eval": _w("run resume retry-failed show list compare rescore export suite"),
    "events": _w("log show verify export import"),
    "canary": _w(
        "create add-result assign status advance halt rollback complete watch audit list import"
    ),
    "audit": _w("report"),
    "projections": _w("rebuild"),
    "report": _w("ab eval canary"),
    "export": _w("dataset"),
}
_DEMO_MIN, _DEMO_MAX = 3, 10000


#: how a help question names what it wants to do: "how do I add a result?", "how can we …"
_HOW = ("how", {"do", "can", "should", "would"}, {"i", "we", "you"})


def is_help(req: Request) -> bool:
    """ "help me", "what can you do?", "what options does ab create take?", "how do I …?"."""
    ws = req.words()
    if not ws:
        return False
    if ws[0] == "help" or req.seq("what", "can", "you", "do") >= 0:
        return True
    # "what can I type here?", "what can I ask?", "what may I say": what the shell reads
    k = req.seq("what", {"can", "could", "may", "should"}, {"i", "we"}, _w("type ask say write do"))
    if k == 0 and all(w in _w("here now in this shell prompt") for w in ws[4:]):
        return True
    if "help" in ws and ws[0] in ("show", "give", "get", "need", "i", "display"):
        return True
    if req.seq("what", {"options", "flags", "arguments", "commands"}) >= 0:
        return True
    if "commands" in ws and ws[0] in ("list", "show", "which", "all"):
        return True  # "list the commands"
    said = {"options", "flags", "arguments"} & set(ws)
    if said and req.is_question() or (said and ws[0] in ("what", "which", "list", "show")):
        return bool(_FAMILIES.keys() & set(ws))  # "what are the options of report ab"
    if {"examples", "example"} & set(ws) and ws[0] in ("show", "give", "list", "any", "some"):
        return True
    # a command named by its words in a question about it: "what does canary advance do?",
    # "explain ab analyze", "the syntax for eval run", "usage of report eval"
    if _named_command(ws) and (
        set(ws) & _ABOUT_COMMAND
        or req.seq("what", {"does", "do"}) >= 0
        and "do" in ws[1:]
        and set(ws[len(ws) - ws[::-1].index("do") :]) <= _AFTER_DO
    ):
        return True
    if req.seq("how", "to") >= 0 and ws[0] in ("how", "tell", "show", "explain"):
        return True
    if _how_it_works(req) and (_named_command(ws) or _family_of(ws)):
        return True  # "how does canary advance work?", "how do canaries work", "explain how evals work"
    if req.seq({"a", "the"}, "command", {"to", "for"}) >= 0:
        return True
    return req.seq(*_HOW) >= 0


#: words that may follow the last "do" of "what does X do": "what does canary advance do exactly?"
_AFTER_DO = frozenset({"exactly", "precisely", "actually", "really", "again", "here", "there"})


#: a family named by a word of its own: "how do canaries work?" is `help canary`
_FAMILY_WORDS = {
    "canary": "canary",
    "canaries": "canary",
    "eval": "eval",
    "evals": "eval",
    "evaluations": "eval",
    "a/b": "ab",
    "ab": "ab",
    "experiments": "ab",
    "events": "events",
    "event": "events",
    "log": "events",
    "ledger": "events",
    "audit": "audit",
    "audits": "audit",
    "projections": "projections",
    "reports": "report",
    "report": "report",
    "datasets": "export",
}


def _family_of(ws: list[str]) -> str:
    return next((_FAMILY_WORDS[w] for w in ws if w in _FAMILY_WORDS), "")


def _how_it_works(req: Request) -> bool:
    """ "how does X work?", "how do X work (here)", "how X works", "explain how X works"."""
    ws = req.words()
    while ws and ws[-1] in _AFTER_DO:  # "how do canaries work here?"
        ws = ws[:-1]
    works = bool(ws) and ws[-1] in ("work", "works", "working")
    return works and "how" in ws and ws.index("how") <= 1


#: words that ask about a command rather than run it
_ABOUT_COMMAND = _w("explain syntax usage documentation docs manual")


def _named_command(ws: list[str]) -> bool:
    """Whether ``ws`` holds a family word right before one of its commands ("canary advance")."""
    return any(w in _FAMILIES and n in _FAMILIES[w] for w, n in zip(ws, ws[1:], strict=False))


def help_request(req: Request, read: Callable[[str], tuple[str, ...]] | None = None) -> Translation:
    """Point at the shell's ``help`` for the command the question names (nothing runs).

    The command is named by its words ("what options does eval run take?") or by what
    the question wants done ("how do I add a result?": the command ``read`` makes of
    "add a result", whether or not it is complete); "examples" is ``help examples``.
    """
    ws = req.words()
    if {"examples", "example"} & set(ws) and not _FAMILIES.keys() & set(ws):
        return refused(
            req.text, "type `help examples` to see requests I understand", ["help examples"]
        )
    topic: list[str] = []
    k, n = req.seq(*_HOW), 3
    if k < 0:  # "tell me how to import results", "is there a command to export datasets?"
        k, n = req.seq("how", "to"), 2
    if k < 0:
        k, n = req.seq({"a", "the"}, "command", {"to", "for"}), 3
    if read is not None and not _named_command(ws) and k >= 0 and k + n < len(req.tokens):
        rest = req.text[req.tokens[k + n].start :].rstrip(" ?")
        topic = list(read(rest))
    for at, w in enumerate(ws if not topic else []):
        if w in _FAMILIES:
            subs = [x for x in ws[at + 1 :] if x in _FAMILIES[w]] or [
                x for x in ws if x in _FAMILIES[w]
            ]
            rare = [x for x in subs if x not in ("run", "show", "list")]
            topic = [w, *(rare or subs)[:1]]
            break
    if not topic and _family_of(ws):  # "how do canaries work?", "help with canaries"
        topic = [_family_of(ws)]
    if topic == ["canary"] and set(ws) & _w("plan create new set start"):
        topic = ["canary", "create"]  # "how do I plan a canary?"
    if not topic:
        for family, subs in _FAMILIES.items():
            verbs = [w for w in ws if w in subs and w not in ("show", "list", "create", "import")]
            if verbs and (family != "eval" or {"eval", "run", "runs"} & set(ws)):
                topic = [family, verbs[0]]
                break
    if topic == ["export"]:
        topic = ["export", "dataset"]  # its one command ("help with datasets")
    line = " ".join(["help", *topic])
    return refused(
        req.text,
        f"type `{line}` to see {'its options' if topic else 'the commands'}; "
        "`help examples` lists requests I understand",
        [line],
    )


def demo(req: Request) -> Translation:
    """``demo [--sessions N] [--no-eval]`` from "demo with 100 sessions per variant"."""
    opts: list[str] = []
    toks = req.tokens
    for i in req.indexes(_w("demo run try start show")):
        req.use(i)
    for i, t in enumerate(toks):
        if t.is_int and req.free(i) and req.w(i + 1) in ("sessions", "session", "results"):
            if not _DEMO_MIN <= t.value <= _DEMO_MAX:
                return refused(
                    req.text,
                    f"the demo records {_DEMO_MIN} to {_DEMO_MAX} sessions per variant, not {t.text}",
                )
            req.use(i, i + 1)
            for k in (i + 2, i + 3):
                if req.w(k) in ("per", "each", "variant", "arm"):
                    req.use(k)
            opts += ["--sessions", fmt(t.value)]
            break
    k = req.seq({"no", "without", "skip"}, {"eval", "evals", "evaluation"})
    n = 2
    if k < 0:
        k, n = req.seq({"no", "without", "skip"}, {"the", "an", "any"}, {"eval", "evals"}), 3
    if k >= 0:
        req.use(*range(k, k + n + (req.w(k + n) in ("run", "runs", "part", "step", "bit"))))
        opts.append("--no-eval")
    elif req.index({"eval", "evals", "evaluation"}) >= 0:
        return refused(req.text, "the demo records an eval run unless you say 'without the eval'")
    refusal = number_refusal(req) or unknown_refusal(req)
    return refusal or command(req.text, ["demo", *opts])


def view(req: Request) -> Translation:
    """``view [--port N] [--open]`` from "serve the view on port 9000 and open it in my browser"."""
    opts: list[str] = []
    toks = req.tokens
    for i in req.indexes(_w("view viewer web serve start launch run ui dashboard")):
        req.use(i)
    for i in req.indexes(_w("port")):
        j = i + 1 + (req.p(i + 1) in (":", "="))
        if j < len(toks) and toks[j].is_int and req.free(j):
            if toks[j].value > 65535:
                return refused(
                    req.text, f"port {toks[j].text} does not exist: a port is 0 to 65535"
                )
            req.use(i, j)
            if req.w(i - 1) == "on":
                req.use(i - 1)
            opts += ["--port", fmt(toks[j].value)]
    # "on 0.0.0.0 so the team can see it": who may reach it said outright, as 'allow remote' is
    k = req.seq("so", {"the", "my", "our"}, {"team", "others", "colleagues", "everyone"})
    k = k if k >= 0 else req.seq("so", {"others", "colleagues", "everyone", "anyone"})
    remote = False
    if k >= 0:
        j = k + 2 + (req.w(k + 1) in ("the", "my", "our"))
        who = req.w(j - 1) in ("team", "others", "colleagues", "everyone", "anyone")
        can = req.w(j) in ("can", "may", "could")
        if (
            who
            and can
            and req.w(j + 1) in ("see", "reach", "open", "use", "view", "access", "read")
        ):
            end = j + 2 + (req.w(j + 2) in ("it", "this", "them"))
            req.use(*range(k, end))
            remote = True
    k = next((i for i in req.indexes(_w("browser open")) if req.free(i)), -1)
    if k >= 0:  # (not "so colleagues can open it": who else may reach it, read above)
        for i in req.indexes(_w("browser open it my in")):
            req.use(i)
        opts.append("--open")
    k = req.seq("so", "it", "picks", "a", "free", "port")
    if k >= 0:
        req.use(*range(k, k + 6))
    hosts = [i for i, t in enumerate(toks) if t.kind == "word" and _IPV4.fullmatch(t.norm)]
    hosts += req.indexes({"localhost"})
    if len(hosts) > 1:
        return refused(req.text, "one address at a time: which --host?")
    if hosts:  # "on 0.0.0.0", "host 192.168.1.5", "bind to 0.0.0.0"
        i = hosts[0]
        req.use(i, *[j for j in (i - 1, i - 2) if req.w(j) in ("on", "host", "bind", "to", "at")])
        opts += ["--host", toks[i].norm]
    k = req.seq("allow", {"remote", "remotely"})
    k = k if k >= 0 else req.seq({"remote"}, {"access", "allowed"})
    if k >= 0:  # "allow remote", "remote access": --allow-remote, never said for the user
        req.use(k, k + 1)
        if req.w(k + 2) in ("access", "connections") and req.free(k + 2):
            req.use(k + 2)
        opts.append("--allow-remote")
    elif remote:
        opts.append("--allow-remote")
    for i in req.indexes({"share", "sharing"}):  # "share the view with the team": serve it
        req.use(i)
        j = req.seq("with", "the", {"team", "others", "colleagues"}, start=i)
        if j >= 0:
            req.use(j, j + 1, j + 2)
    refusal = number_refusal(req) or unknown_refusal(req)
    if refusal:
        return refusal
    host = opts[opts.index("--host") + 1] if "--host" in opts else "127.0.0.1"
    loopback = host == "localhost" or host.startswith("127.")
    if not loopback and "--allow-remote" not in opts:
        # the view has no login: serving it beyond this machine is said, never assumed
        return incomplete(
            req.text,
            ["view", *opts],
            ["--allow-remote"],
            f"{host} is reachable from other machines and the view has no login: say 'allow "
            "remote' (--allow-remote) if anyone who reaches it may read everything",
        )
    return command(req.text, ["view", *opts])


_IPV4 = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}")
