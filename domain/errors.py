"""Errors raised by the domain layer.

Every class here carries a message written for the person at the terminal: it
names what was wrong and how to fix it, on one line.

    TrialbookError           the base of every error meant for the user (store errors too)
     └── DomainError
          ├── InvalidCommand   the command's values break a rule (negative count, unknown variant …)
          ├── NotFound         the named test, suite or run does not exist
          ├── AlreadyExists    a create command names something that exists
          └── StateConflict    the thing exists but its state forbids the command (archived …)
"""

from __future__ import annotations


class TrialbookError(Exception):
    """The base of every error trialbook raises for its user: the message is the CLI's one line."""


class DomainError(TrialbookError):
    """A command was refused; the message says why and how to fix it."""


class InvalidCommand(DomainError):
    """The command's values break a rule."""


class NotFound(DomainError):
    """The named thing does not exist."""


class AlreadyExists(DomainError):
    """A create command names something that already exists."""


class StateConflict(DomainError):
    """The current state forbids the command."""
