"""The errors graphbot reports to people.

``str(error)`` of every GraphbotError is a complete sentence for chat or a
terminal: what failed, why in the user's words, and what to do next.

    GraphbotError
    ├── InvalidSettings        settings file or environment cannot be used
    ├── HostNotCollected       one host could not be read; the others go on
    │   ├── HostUnreachable    refused, timed out, name unknown
    │   └── CertificateProblem expired, wrong host name, handshake refused
    ├── SnapshotUnreadable     a saved inventory.json cannot be read
    ├── OutputUnwritable       the output folder cannot be written
    ├── ChatUnavailable        Mattermost cannot be reached or refuses us
    └── UnknownCommand         chat text that names no command

A bug is not a GraphbotError: it is logged with its traceback where caught.
"""

from __future__ import annotations


class GraphbotError(Exception):
    """Base of every error meant to be read by a person."""


class InvalidSettings(GraphbotError):
    """The settings cannot be used; the message names the key and what is expected."""


class HostNotCollected(GraphbotError):
    """One host could not be collected."""

    def __init__(self, host: str, reason: str, *, kind: str = "error") -> None:
        self.host = host
        self.reason = reason
        self.kind = kind
        super().__init__(f'Host "{host}" was not collected: {reason}')


class HostUnreachable(HostNotCollected):
    """The engine did not answer: refused, timed out, or its name is unknown."""


class CertificateProblem(HostNotCollected):
    """The TLS connection failed because of a certificate."""


class SnapshotUnreadable(GraphbotError):
    """A saved inventory snapshot cannot be read."""


class OutputUnwritable(GraphbotError):
    """The output folder cannot be created or written."""


class ChatUnavailable(GraphbotError):
    """Mattermost cannot be reached, or refuses the bot."""


class UnknownCommand(GraphbotError):
    """Chat text that names no command."""

    def __init__(self, word: str, suggestions: list[str]) -> None:
        self.word = word
        self.suggestions = suggestions
        hint = f" Did you mean {' or '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f'I do not know the command "{word}".{hint} Say "help" for the list.'
        )
