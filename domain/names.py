"""The rule for the names people give things: A/B tests, suites, variants of a compare.

One rule, so the plain-language parser, the eval commands and the domain can
never disagree about what a name may be. Pure: the standard library only.
"""

from __future__ import annotations

import re

#: 1-64 lowercase letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
#: the rule in words, for the end of an error message
NAME_RULE = "use 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
