"""``python -m shell``: the same as the ``trialbook`` command."""

from shell.cli import main

main()
