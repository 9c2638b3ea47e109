"""The plain-language parser: a request in words to exactly one trialbook command line.

Pure (no terminal, database, network or clock); the shell (``trialbook.shell``)
echoes what it produced and asks before any write. A map of the package:

- ``translate``: :func:`translate`, the entry point, and the rules that pick a family;
- ``ab``, ``evals``, ``ledger``, ``canary``, ``app``: the rules for the ``ab``, ``eval``,
  ``events``/``audit``/``projections``, ``canary`` and ``demo``/``view`` commands;
- ``options``: the options any command may take ("as json", "the last 10", "since
  DATE", "at position N", "4 at a time", "into FILE"), read once per request;
- ``request``: one request being parsed (tokens, store names found, what was used);
- ``lex``: tokens (words, numbers with units, quoted text, files, URLs);
- ``words``: the cue words, slot nouns and synonyms the rules know;
- ``types``: :class:`Vocabulary` (the store's names) and :class:`Translation`.
"""
