"""create_app(): the only place that wires packages together."""

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import text
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from notifier import auth, i18n, outbox_views, webhooks
from notifier.config import ROOT, config_for
from notifier.db import db, migrate, use_wal
from notifier.errors import ServiceError
from notifier.limits import limiter

csrf = CSRFProtect()
talisman = Talisman()

CSP = {
    "default-src": "'self'",
    "img-src": "'self' data:",
    "style-src": "'self'",
    "script-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints, commands."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(config_for("testing" if test_config and test_config.get("TESTING") else None))
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY must be set in production")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config["TIMEZONE"])
    app.json.ensure_ascii = False  # Kazakh and Russian text as UTF-8, not \uXXXX escapes
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    register_jobs(app)
    return app


def register_extensions(app: Flask) -> None:
    """Initialise the database, migrations, login, CSRF, rate limits, i18n and security headers."""
    db.init_app(app)
    with app.app_context():
        use_wal(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    auth.login_manager.init_app(app)
    csrf.init_app(app)
    if app.config["PROXY_FIX_X_FOR"]:  # the client's address, not the proxy's, for per-IP limits and logs
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_FIX_X_FOR"])
    limiter.init_app(app)  # limits only the routes that ask for it (the subscription forms and API)
    i18n.babel.init_app(app, locale_selector=i18n.select_locale)
    talisman.init_app(
        app,
        content_security_policy=CSP,
        force_https=app.config["FORCE_HTTPS"],
        session_cookie_secure=app.config.get("SESSION_COOKIE_SECURE", False),
        strict_transport_security=app.config["FORCE_HTTPS"],
    )
    app.jinja_env.globals["current_lang"] = i18n.current_lang


def register_blueprints(app: Flask) -> None:
    """Mount every package's views."""
    from announcements import api, feeds, public, staff
    from appeals import api as appeals_api
    from appeals import dashboard, open311
    from appeals import staff as appeals_staff
    from subscribers import api as subscriptions_api
    from subscribers import public as subscribe
    from subscribers import staff as subscribers_staff

    app.register_blueprint(i18n.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(outbox_views.bp)
    app.register_blueprint(webhooks.bp)
    csrf.exempt(webhooks.bp)
    webhooks.mask_access_logs()
    app.register_blueprint(public.bp)
    app.register_blueprint(feeds.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)
    app.register_blueprint(subscribe.bp)
    app.register_blueprint(subscribers_staff.bp)
    app.register_blueprint(appeals_staff.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(subscriptions_api.bp)
    csrf.exempt(subscriptions_api.bp)
    app.register_blueprint(appeals_api.bp)
    csrf.exempt(appeals_api.bp)
    app.register_blueprint(open311.bp)
    csrf.exempt(open311.bp)

    @app.get("/livez")
    def livez():
        """Answer 200 while the process serves requests (no database: a liveness probe)."""
        return "OK", 200, {"Content-Type": "text/plain; charset=utf-8"}

    @app.get("/healthz")
    def healthz():
        """Answer 200 when the database is reachable, 503 otherwise."""
        try:
            db.session.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "not healthy", never a 500
            db.session.rollback()
            return jsonify(status="error", database=type(exc).__name__), 503
        return jsonify(status="ok")


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/open311/"))


def register_error_handlers(app: Flask) -> None:
    """Answer errors as JSON under /api/ and as a page elsewhere; never a bare 500."""

    @app.errorhandler(ServiceError)
    def service_error(err: ServiceError):
        db.session.rollback()
        if _wants_json():
            return jsonify(err.as_json()), err.status
        return render_template("error.html", code=err.status, message=err.message), err.status

    @app.errorhandler(CSRFError)
    def csrf_error(err: CSRFError):
        message = _("The form expired; reload the page and try again.")
        return render_template("error.html", code=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        if _wants_json():
            body = {"error": {"code": err.name.lower().replace(" ", "_"), "message": err.description}}
            return jsonify(body), err.code
        # Werkzeug's stock descriptions are English; show our own words unless a view gave a reason.
        message = err.description if err.description != type(err).description else ""
        return render_template("error.html", code=err.code, message=message), err.code

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        app.logger.exception("unhandled error")
        db.session.rollback()
        if _wants_json():
            return jsonify({"error": {"code": "internal", "message": "Something went wrong."}}), 500
        return render_template("error.html", code=500, message=_("Something went wrong. Please try again later.")), 500


def register_commands(app: Flask) -> None:
    """Add the CLI: demo-data, staff, worker."""
    from notifier import cli

    cli.register(app)


def register_jobs(app: Flask) -> None:
    """Tell the worker which jobs to run and how often (seconds), and how announcement SMS are worded."""
    import appeals.models  # noqa: F401 (the tables, for migrations and tests)
    from announcements.notify import render, send_reminders
    from announcements.service import publish_due
    from appeals import intake
    from appeals.sweeps import notify_overdue
    from notifier import dispatch, outbox, worker

    app.extensions["habarlama.render"] = render
    app.extensions["habarlama.jobs"] = [
        ("publish_due", publish_due, 10),
        ("send_reminders", send_reminders, 60),
        ("hold_and_release", outbox.hold_and_release, 30),
        ("dispatch", dispatch.dispatch, 3),
        ("sweep_stuck", dispatch.sweep_stuck, 60),
        ("reconcile", dispatch.reconcile, 30),
        ("poll_statuses", dispatch.poll_statuses, 65),
        ("process_inbound", intake.process_inbound, 2),
        ("poll_inbound", intake.poll_inbound, 60),
        ("notify_overdue", notify_overdue, 3600),
        # Without statistics SQLite sorts every public row for a page of 20.
        ("analyze_sqlite", worker.analyze_sqlite, 3600),
    ]
