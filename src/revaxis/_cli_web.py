"""`revaxis serve` and `revaxis users`: the web app and its users."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from revaxis._errors import RevaxisError
from revaxis._users import ROLES
from revaxis.cli import OutputFormat, _fail, _print_frame, _workspace, app, err, out

users_app = typer.Typer(
    help="Manage the users of the web app and REST API, and their API tokens.",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")

EmailArgument = Annotated[str, typer.Argument(help="The user's email address.")]
RoleArgument = Annotated[
    str, typer.Option("--role", help=f"Role: {', '.join(ROLES)}.", show_default=True)
]


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    email: EmailArgument,
    role: RoleArgument = "viewer",
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from the first line of standard input "
            "instead of prompting.",
        ),
    ] = False,
) -> None:
    """Create a user (the password is asked for, or read with --password-stdin)."""
    try:
        with _workspace(create=True) as ws:
            password = _read_password(password_stdin)
            user = ws.users.add(email, password, role)
    except RevaxisError as exc:
        _fail(exc)
    out.print(f"Created {user.email} with role {user.role}.")


@users_app.command("list")
def users_list() -> None:
    """List users and their roles."""
    import pandas as pd

    try:
        with _workspace() as ws:
            users = ws.users.list()
    except RevaxisError as exc:
        _fail(exc)
    frame = pd.DataFrame([(u.email, u.role) for u in users], columns=["email", "role"])
    _print_frame(frame, OutputFormat.table, "Users")


@users_app.command("set-role")
def users_set_role(
    email: EmailArgument,
    role: Annotated[str, typer.Argument(help=f"One of: {', '.join(ROLES)}.")],
) -> None:
    """Change a user's role."""
    try:
        with _workspace() as ws:
            user = ws.users.set_role(email, role)
    except RevaxisError as exc:
        _fail(exc)
    out.print(f"{user.email} is now {user.role}.")


@users_app.command("password")
def users_password(
    email: EmailArgument,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the new password from stdin."),
    ] = False,
) -> None:
    """Change a user's password."""
    try:
        with _workspace() as ws:
            ws.users.set_password(email, _read_password(password_stdin))
    except RevaxisError as exc:
        _fail(exc)
    out.print(f"Password of {email} changed.")


@users_app.command("delete")
def users_delete(email: EmailArgument) -> None:
    """Delete a user and revoke their API tokens."""
    try:
        with _workspace() as ws:
            ws.users.delete(email)
    except RevaxisError as exc:
        _fail(exc)
    out.print(f"Deleted {email}.")


@users_app.command("token")
def users_token(
    email: EmailArgument,
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
) -> None:
    """Create an API token for a user and print it; it cannot be shown again."""
    try:
        with _workspace() as ws:
            token = ws.users.create_token(email, name)
    except RevaxisError as exc:
        _fail(exc)
    err.print(f"API token for {email} ({name}); store it now, it is not kept:")
    sys.stdout.write(token + "\n")


@users_app.command("tokens")
def users_tokens(
    email: Annotated[
        str | None, typer.Argument(help="Only this user's tokens. Default: all.")
    ] = None,
) -> None:
    """List API tokens (of one user, or of all)."""
    import pandas as pd

    try:
        with _workspace() as ws:
            tokens = ws.users.tokens(email)
    except RevaxisError as exc:
        _fail(exc)
    frame = pd.DataFrame(
        [(t.token_id, t.email, t.name, t.created_at, t.last_used_at) for t in tokens],
        columns=["id", "email", "name", "created_at", "last_used_at"],
    )
    _print_frame(frame, OutputFormat.table, "API tokens")


@users_app.command("revoke")
def users_revoke(
    token_id: Annotated[
        int, typer.Argument(help="Token id, from `revaxis users tokens`.")
    ],
) -> None:
    """Revoke an API token by its id (see `revaxis users tokens`)."""
    try:
        with _workspace() as ws:
            ws.users.revoke_token(token_id)
    except RevaxisError as exc:
        _fail(exc)
    out.print(f"Revoked token {token_id}.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies",
            help="Send the session cookie over HTTPS only (behind a TLS proxy).",
        ),
    ] = False,
    trust_proxy: Annotated[
        bool,
        typer.Option(
            "--trust-proxy",
            help="Take the client address from X-Forwarded-For when the request "
            "comes from 127.0.0.1 (a reverse proxy on this machine). Without it, "
            "the login rate limit counts the connection's own address.",
        ),
    ] = False,
) -> None:
    """Serve the web app and the REST API (/api/v1) on the workspace."""
    import uvicorn

    from revaxis.web import create_app

    try:
        ws = _workspace()
        if ws.users.count() == 0 and not _create_first_admin(ws):
            ws.close()
            raise typer.Exit(1)
        application = create_app(ws, secure_cookies=secure_cookies)
    except RevaxisError as exc:
        _fail(exc)
    err.print(f"revaxis serving {ws.path} on http://{host}:{port}/")
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=trust_proxy,
        forwarded_allow_ips="127.0.0.1" if trust_proxy else None,
    )


def _create_first_admin(ws: object) -> bool:
    """Ask for the first admin when a terminal is attached, else print how to
    create one. Return whether an admin now exists."""
    if not sys.stdin.isatty():
        err.print(
            "No user exists yet. Create the first admin, then start again:\n"
            "  revaxis users add EMAIL --role admin"
        )
        return False
    err.print("No user exists yet: create the first admin.")
    email = typer.prompt("Email")
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = ws.users.add(email, password, "admin")  # type: ignore[attr-defined]
    err.print(f"Created {user.email} with role admin.")
    return True
