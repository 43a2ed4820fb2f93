"""Flask CLI commands: demo-data, staff create/token, worker."""

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from notifier import auth
from notifier.db import db, utcnow
from notifier.directory import department_by_slug, ensure_reference_data

DEMO_PASSWORD = "habarlama-demo"  # noqa: S105 (public demo logins, printed by demo-data)
DEMO_DOMAIN = "demo.habarlama.kz"


def demo_staff() -> list[tuple[str, str, str | None]]:
    """Return (email, role, department slug) for every demo login."""
    rows = []
    for slug in ("gas", "electricity", "water", "heating", "housing", "land"):
        rows.append((f"{slug}.editor@{DEMO_DOMAIN}", auth.EDITOR, slug))
        rows.append((f"{slug}.approver@{DEMO_DOMAIN}", auth.APPROVER, slug))
    rows.append((f"operator@{DEMO_DOMAIN}", auth.OPERATOR, None))
    rows.append((f"admin@{DEMO_DOMAIN}", auth.ADMIN, None))
    return rows


def load_demo_data() -> list[str]:
    """Insert reference data and demo staff if missing; return the demo logins."""
    ensure_reference_data()
    logins = []
    for email, role, slug in demo_staff():
        if auth.user_by_email(email) is None:
            auth.create_staff(email, DEMO_PASSWORD, role, department_by_slug(slug) if slug else None)
        logins.append(f"{email:42} {role:9} {slug or ''}")
    return logins


staff_cli = AppGroup("staff", help="Manage staff accounts.")


@staff_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(auth.ROLES), required=True)
@click.option("--department", "department_slug", default=None, help="Department slug (editors, approvers).")
def staff_create(email: str, role: str, department_slug: str | None) -> None:
    """Create a staff account; the password comes from a prompt or stdin."""
    department = None
    if department_slug:
        department = department_by_slug(department_slug)
        if department is None:
            raise click.BadParameter(f"unknown department {department_slug!r}", param_hint="--department")
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        user = auth.create_staff(email, password, role, department)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"created {user.email} ({user.role})")


@staff_cli.command("token")
@click.argument("email")
def staff_token(email: str) -> None:
    """Print a new API token for the staff member."""
    user = auth.user_by_email(email)
    if user is None:
        raise click.ClickException(f"no staff member {email}")
    token = auth.issue_token(user)
    db.session.commit()
    click.echo(token)


@click.command("demo-data")
@with_appcontext
@click.option(
    "--history/--no-history",
    default=None,
    help="Also add a few months of demo history: subscribers, announcements, SMS, appeals "
    "(default: when there are no appeals yet, in development with SMS_GATEWAY=log).",
)
def demo_data(history: bool | None) -> None:
    """Load departments, districts and demo staff, and optionally demo history (idempotent)."""
    from appeals import demo  # notifier imports no domain package at module level

    if history and current_app.config["SMS_GATEWAY"] != "log":
        raise click.ClickException("demo history adds made-up phone numbers: only with SMS_GATEWAY=log")
    logins = load_demo_data()
    db.session.commit()
    click.echo(f"Demo data ready. Staff logins (password: {DEMO_PASSWORD}):")
    for line in logins:
        click.echo("  " + line)
    if history is None:
        history = demo.wanted_by_default()
    if history:
        click.echo("Demo history:")
        demo.load_history(utcnow(), click.echo)
        db.session.commit()


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Run every job once and exit.")
def worker(once: bool) -> None:
    """Run the scheduler process: publication, dispatch, follow-ups, sweeps."""
    from notifier.worker import run

    run(once=once)


def register(app: Flask) -> None:
    """Attach the commands to the app."""
    app.cli.add_command(staff_cli)
    app.cli.add_command(demo_data)
    app.cli.add_command(worker)
