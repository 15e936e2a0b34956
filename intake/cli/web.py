"""Commands of the web page: `intake web`, `intake user add`, `intake token add`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from intake.cli.support import JsonOpt, emit, err, out, runtime
from intake.errors import BadInput

user_app = typer.Typer(help="People who log in to the web page.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens of the JSON API.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")

    @app.command()
    def web(
        host: Annotated[str | None, typer.Option(help="Listen here (default [web] host).")] = None,
        port: Annotated[int | None, typer.Option(help="Listen on this port (default [web] port).")] = None,
    ) -> None:
        """Serve the web page and the JSON API alone (`intake serve` runs them beside the channels)."""
        import asyncio

        from intake.web.server import serve_alone

        asyncio.run(serve_alone(runtime(), host, port))


@user_app.command("add")
def user_add(
    email: str,
    role: Annotated[str, typer.Option(help="manager or engineer.")] = "engineer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin instead of prompting.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Give someone an account on the web page (engineers answer tickets; managers also review, retrain)."""
    from intake.web.auth import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
    if not password:
        raise BadInput("the password is empty")
    rt = runtime()
    with rt.sessions() as session:
        user = add_user(session, email, role, password, rt.clock.now())
        doc = {"email": user.email, "role": user.role}
    if as_json:
        emit(doc)
    else:
        out.print(f"{doc['email']} can log in as {doc['role']}")


@token_app.command("add")
def token_add(name: str, as_json: JsonOpt = False) -> None:
    """Create an API token; it is shown once, only its hash is kept."""
    from intake.web.auth import add_token

    rt = runtime()
    with rt.sessions() as session:
        token = add_token(session, name, rt.clock.now())
    if as_json:
        emit({"name": name, "token": token})
    else:
        err.print(f"token {name} (shown once; send it as 'Authorization: Bearer ...'):")
        out.print(token)
