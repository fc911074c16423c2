"""Re-encrypt every account's credentials with the current key (issue 14 item 4).

1. Every account row is read under `FOR UPDATE`, so an `accounts add` or a second rotation running
   at the same time waits instead of writing a blob this run would miss or overwrite.
2. A row the current key already reads is left as it is (a rotation interrupted half way, or run
   twice, finishes without touching what is done).
3. If any row can be read by no known key, nothing is changed: the run names those accounts and the
   operator adds the key they were written with to `SECRET_KEY_PREVIOUS`.
4. The caller commits; until then every reader still finds the old blobs, which the previous keys
   read, and after it the new ones, which the current key reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.secrets import CredentialsError, reencrypt, uses_current_key
from app.models.marketing import MarketplaceAccount


@dataclass(frozen=True)
class Rotation:
    reencrypted: int
    already_current: int


def rotate_credentials(session: Session) -> Rotation:
    accounts = session.scalars(
        select(MarketplaceAccount).order_by(MarketplaceAccount.id).with_for_update()
    ).all()
    stale = [account for account in accounts if not uses_current_key(account.credentials_encrypted)]
    renewed: dict[int, bytes] = {}
    unreadable: list[int] = []
    for account in stale:
        try:
            renewed[account.id] = reencrypt(account.credentials_encrypted)
        except CredentialsError:
            unreadable.append(account.id)
    if unreadable:
        listed = ", ".join(str(account_id) for account_id in unreadable)
        raise CredentialsError(
            f"accounts {listed} cannot be read with SECRET_KEY or any SECRET_KEY_PREVIOUS; nothing was "
            "re-encrypted: add the key they were written with to SECRET_KEY_PREVIOUS and run again"
        )
    for account in stale:
        account.credentials_encrypted = renewed[account.id]
    session.flush()
    return Rotation(reencrypted=len(stale), already_current=len(accounts) - len(stale))
