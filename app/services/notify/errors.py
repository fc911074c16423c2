"""The one error type of the notification channels."""

from __future__ import annotations


class ChannelError(Exception):
    """A message could not be sent. `permanent`: sending it again cannot help (a chat that does not
    exist, an address the server refuses); `retry_after`: the channel asked to wait this long.
    The message never holds a secret (no token, no password, no URL with a token in it)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (str(self), self.permanent, self.retry_after))


def _rebuild(message: str, permanent: bool, retry_after: float | None) -> ChannelError:
    return ChannelError(message, permanent=permanent, retry_after=retry_after)
