"""``python -m trialbook``: the same as the ``trialbook`` command."""

from trialbook.shell.cli import main

if __name__ == "__main__":
    main()
