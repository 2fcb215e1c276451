"""The `revaxis sync stripe` and `revaxis sync chargebee` commands.

`revaxis.cli` imports this module at its end, so the `sync` group registers on
its `app`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer

from revaxis import _chargebee_sync
from revaxis._errors import InputError, RevaxisError
from revaxis._stripe_sync import (
    DEFAULT_ACCOUNT,
    DEFAULT_API_BASE,
    KEY_ENV,
    read_api_key,
    sync_stripe,
)
from revaxis.cli import _fail, _workspace, app, out

sync_app = typer.Typer(
    help="Read billing data from a service's API into the workspace.",
    no_args_is_help=True,
)
app.add_typer(sync_app, name="sync")


@sync_app.command("stripe")
def sync_stripe_command(
    since: Annotated[
        str | None,
        typer.Option(
            help="Read only objects created on or after this day (YYYY-MM-DD, "
            "UTC). Default: everything on the first sync, then what was created "
            "or changed since the previous sync."
        ),
    ] = None,
    api_base: Annotated[
        str,
        typer.Option(help="Base URL of the Stripe API, for a proxy or a mock."),
    ] = DEFAULT_API_BASE,
    account: Annotated[
        str,
        typer.Option(
            help="Name of the Stripe account in the workspace; it prefixes every "
            "id, so several accounts can share a workspace."
        ),
    ] = DEFAULT_ACCOUNT,
    key_file: Annotated[
        Path | None,
        typer.Option(
            help=f"File that contains the Stripe secret key. Default: ${KEY_ENV}."
        ),
    ] = None,
) -> None:
    """Sync a Stripe account: customers, products, prices, subscriptions,
    invoices and credit notes, upserted by id."""
    try:
        day = _parse_day(since) if since is not None else None
        key, origin = read_api_key(key_file, dict(os.environ))
        with _workspace(create=True) as ws:
            report = sync_stripe(
                ws,
                key,
                account=account,
                since=day,
                api_base=api_base,
                key_origin=origin,
            )
    except RevaxisError as exc:
        _fail(exc)
    out.print(report.summary())


@sync_app.command("chargebee")
def sync_chargebee_command(
    site: Annotated[
        str,
        typer.Option(
            help="Chargebee site name, the acme of acme.chargebee.com; it prefixes "
            "every id, so several sites can share a workspace.",
            show_default=False,
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            help="Read only resources changed on or after this day (YYYY-MM-DD, "
            "UTC). Default: everything on the first sync, then what changed "
            "since the previous sync."
        ),
    ] = None,
    api_base: Annotated[
        str | None,
        typer.Option(
            help="HTTPS base URL of the Chargebee API, for a proxy or a mock. "
            "Default: https://SITE.chargebee.com.",
            show_default=False,
        ),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            help="File that contains the Chargebee API key. Default: "
            f"${_chargebee_sync.KEY_ENV}."
        ),
    ] = None,
) -> None:
    """Sync a Chargebee site: customers, plans, addons, items, item prices,
    subscriptions, invoices and credit notes, upserted by id."""
    try:
        day = _parse_day(since) if since is not None else None
        key, origin = _chargebee_sync.read_api_key(key_file, dict(os.environ))
        with _workspace(create=True) as ws:
            report = _chargebee_sync.sync_chargebee(
                ws,
                key,
                site=site,
                since=day,
                api_base=api_base,
                key_origin=origin,
            )
    except RevaxisError as exc:
        _fail(exc)
    out.print(report.summary())


def _parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"Invalid --since date {text!r}: write it as YYYY-MM-DD."
        ) from None
