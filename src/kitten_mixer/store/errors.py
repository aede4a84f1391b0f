"""What the kitten store raises: each a one-line message a visitor or an operator can act on."""

from __future__ import annotations

from kitten_mixer.errors import KittenMixerError


class StoreError(KittenMixerError):
    """The store refused something: bad input (a code with NaN, an oversized picture...), an
    unusable URL or folder, a store written by a newer kitten-mixer. The subclasses below are
    the refusals a caller may want to tell apart; all are StoreErrors.

    `row` is the 1-based row of `import_rows` that was refused, when it was one.
    """

    def __init__(self, message: str, row: int | None = None):
        super().__init__(" ".join(str(message).split()))
        self.row = row


class StoreFull(StoreError):
    """The disk or the database is full: nothing was written, and nothing kept before is lost."""


class StoreDown(StoreError):
    """The database cannot be used now: a server down or restarting or refusing the URL's
    user or database, a SQLite file locked past the busy timeout or read-only. The message
    says which; the same call may work later."""


class RateLimited(StoreError):
    """One visitor kept more kittens in a minute than the store takes."""
