"""`adolf-marketing secret-key`: print a new key, or rotate the key credentials are encrypted with."""

from __future__ import annotations

import typer

from app.core.database import session_scope
from app.core.secrets import (
    begin_key_file_rotation,
    finish_key_file_rotation,
    generate_key,
    uses_key_file,
)
from app.services.credentials_rotation import rotate_credentials


def secret_key_command(
    rotate: bool = typer.Option(
        False,
        "--rotate",
        help=(
            "Re-encrypt every account's credentials with the current key (SECRET_KEY, previous keys in "
            "SECRET_KEY_PREVIOUS); with the embedded default, first put a new key in DATA_DIR."
        ),
    ),
) -> None:
    if not rotate:
        typer.echo(generate_key())
        return
    in_file = uses_key_file()
    if in_file:
        begin_key_file_rotation()
    with session_scope() as session:
        rotation = rotate_credentials(session)
    if in_file:
        finish_key_file_rotation()
    typer.echo(
        f"re-encrypted {rotation.reencrypted} account(s) with the current key; "
        f"{rotation.already_current} already used it"
        + ("" if in_file else "; remove SECRET_KEY_PREVIOUS from every host once all run the new key")
    )
