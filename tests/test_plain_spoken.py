"""Every text or list option said by its own name, read from the CLI's own parameters (#24 round 5).

``plain/spoken.py`` reads ``description "…"``, ``prompt "…"``, ``errors "a" and "b"``, ``expected
tools a, b``, ``cap completion_time at 600``, ``price M at 0.15/0.6``; its table of options is the
click commands', checked here, and every option of every command is tried on a request of the
table that makes that command.
"""

from __future__ import annotations

import shlex

import pytest

from tests.test_plain import CASES, GRAMMAR, VOCAB, _canon
from trialbook.plain.spoken import EXCLUDED, SPEC
from trialbook.plain.translate import translate
from trialbook.plain.types import command_path


def _click_text_options() -> dict[tuple[str, ...], dict[str, tuple[bool, str | None]]]:
    """command -> its options with a text value: (repeatable, metavar)."""
    import click

    import trialbook.shell.cli  # noqa: F401 - registers every command on the group
    from trialbook.shell.group import cli

    out: dict[tuple[str, ...], dict[str, tuple[bool, str | None]]] = {}
    ctx = click.Context(cli)

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None:
                    walk(sub, (*path, name))
            return
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.is_flag and p.type.name == "text":
                for o in p.opts:
                    if o.startswith("--"):
                        out.setdefault(path, {})[o] = (p.multiple, p.metavar)

    walk(cli, ())
    return out


def _shape(option: str, multiple: bool, metavar: str | None) -> str:
    """The shape the CLI's metavar says (``A,B`` a list, ``MODEL=IN/OUT`` a key and a number)."""
    if option.endswith("-id") or option == "--case":
        return "id"
    meta = metavar or ""
    if "," in meta:
        return "list"
    if "=" in meta:
        return "kv="
    if ":" in meta:
        return "kv:"
    return "texts" if multiple else "text"


def test_the_options_read_by_name_are_the_clis_text_options_of_each_command() -> None:
    """Walks every command's options: each text option is read by name (in the shape its metavar
    says) or excluded with a reason; none read is one the command does not have."""
    click_options = _click_text_options()
    derived = {
        path: {o: _shape(o, m, mv) for o, (m, mv) in opts.items() if o not in EXCLUDED}
        for path, opts in click_options.items()
    }
    derived = {p: o for p, o in derived.items() if o}
    assert derived == SPEC
    every = {o for opts in click_options.values() for o in opts}
    assert every >= EXCLUDED, EXCLUDED - every  # nothing excluded that the CLI does not have


#: a value of each shape, as said and as the command line carries it
_SAMPLES = {
    "id": ("zz-17", ["zz-17"]),
    "text": ('"some words, here"', ["some words, here"]),
    "texts": ('"first thing" and "second thing"', ["first thing", "second thing"]),
    "list": ("srch, rdfile", ["srch,rdfile"]),
    "kv:": ("completion_time at 600", ["completion_time:600"]),
    "kv=": ("m-1 at 0.15/0.6", ["m-1=0.15/0.6"]),
}


def _all_examples() -> dict[tuple[str, ...], list[tuple[str, str | None, tuple[str, ...]]]]:
    """Requests of the table by the command they translate to, free of quotes and free text."""
    out: dict[tuple[str, ...], list[tuple[str, str | None, tuple[str, ...]]]] = {}
    for _, text, focus, expected in CASES:
        if expected.startswith(("!", "?", "~")) or "'" in text or '"' in text:
            continue
        if any(w in text.lower() for w in ("note", "because", "reason", "description", "why")):
            continue
        path = command_path(tuple(shlex.split(expected)))
        t = translate(text, VOCAB, focus)
        if t.status == "command":
            out.setdefault(path, []).append((text, focus, t.argv))
    return out


EXAMPLES = _all_examples()
#: (command, option) pairs with a table request of the command that lacks the option; the
#: rest cannot be tried by adding the option to a table request (counted below, not skipped)
TRIED = [
    (p, o)
    for p, opts in sorted(SPEC.items())
    for o in sorted(opts)
    if any(o not in argv for _, _, argv in EXAMPLES.get(p, []))
]


#: what the parametrised test cannot try: no table request makes `canary add-result` (the
#: shell grounds its --variant in the canary's arms, see tests/test_plain_canary.py), and
#: every table request of `canary halt` has a --note already
UNTRIED = {
    (("canary", "halt"), "--note"),
}  # fmt: skip


def test_every_option_but_the_known_few_is_tried_by_adding_it_to_a_table_request() -> None:
    """The parametrised test below covers every option of :data:`SPEC` but :data:`UNTRIED`
    (a new option or command without table requests shows here, never as a skipped test)."""
    pairs = {(p, o) for p, opts in SPEC.items() for o in opts}
    assert pairs - set(TRIED) == UNTRIED


@pytest.mark.parametrize(("path", "option"), TRIED)
def test_every_option_said_by_its_name_is_read_into_its_command(
    path: tuple[str, ...], option: str
) -> None:
    """Each option of :data:`SPEC`, said by its name after a table request of its command (and
    before it), is added with its value; the rest of the command is what it was."""
    said, values = _SAMPLES[SPEC[path][option]]
    name = " ".join(option.lstrip("-").split("-"))
    tried = 0
    without = [e for e in EXAMPLES[path] if option not in e[2]]
    for text, focus, argv in without[:4]:
        want = _canon((*argv, *[x for v in values for x in (option, v)]))
        for mutated in (f"{text}, {name} {said}", f"{text} with {name}: {said}"):
            t = translate(mutated, VOCAB, focus)
            tried += 1
            assert t.status == "command", (mutated, t.status, t.reason)
            assert _canon(t.argv) == want, (mutated, t.line)
    assert tried


def test_an_option_said_by_name_that_the_command_does_not_have_is_never_dropped() -> None:
    """Said after a request of a command without it, the option makes the request refused or
    unsure, never a command without it."""
    wrong = []
    options = {o: s for opts in SPEC.values() for o, s in opts.items()}
    for path in sorted(GRAMMAR):
        takes = SPEC.get(path, {})
        for text, focus, _ in EXAMPLES.get(path, [])[:2]:
            for option, shape in options.items():
                if option in takes:
                    continue
                name = " ".join(option.lstrip("-").split("-"))
                mutated = f"{text}, {name} {_SAMPLES[shape][0]}"
                t = translate(mutated, VOCAB, focus)
                if t.status == "command" and option not in t.argv:
                    said = _SAMPLES[shape][0].strip('"')  # kept as typed in a note
                    if not any(said in a for a in t.argv):
                        wrong.append(f"{mutated!r} -> {t.line}")
    assert not wrong, "\n".join(wrong[:30])


def test_what_an_option_said_by_name_may_not_be() -> None:
    focus = "checkout-flow"
    # an unquoted text is not read: it could be anything
    assert translate("create test x with variants a and b, description hi", VOCAB).status != (
        "command"
    )
    # a list that goes on with a word a rule knows is the rule's ("search, fetch and open")
    t = translate(
        "create test tl with variants a and b, expected tools: search, fetch and open", VOCAB
    )
    assert "--expected-tools" in t.argv and "search,fetch,open" in t.argv, t.line
    # a key that is a negation or a hedge is no key
    assert translate("create test x with variants a and b, cap not at 600", VOCAB).status != (
        "command"
    )
    # two errors in quotes are both recorded
    t = translate('warm result, 3 calls, errors "boom" and "bad json"', VOCAB, focus)
    assert t.argv.count("--error") == 2, t.line


def test_every_target_kind_is_one_token_with_its_spec() -> None:
    """A ``--target`` spec of every kind the runners take is read whole: "rollout:http://…"
    lost its kind and became an http target (#24, the fifth newcomer's set)."""
    from trialbook.plain.lex import tokenize
    from trialbook.runners.targets.specs import TARGET_KINDS

    for kind in TARGET_KINDS:
        spec = f"{kind}:http://127.0.0.1:8103/x" if kind in ("http", "rollout") else f"{kind}:m"
        tokens = tokenize(f"run smoke against {spec} now")
        assert [t.text for t in tokens if t.kind == "spec"] == [spec], (kind, tokens)
