"""Command families of the ``trialbook`` CLI (imported lazily by ``shell.group``)."""
