"""Language of the interface: kk or ru, chosen by link, remembered in a cookie."""

from flask import Blueprint, current_app, has_request_context, redirect, request
from flask_babel import Babel, get_locale

bp = Blueprint("i18n", __name__)
babel = Babel()
COOKIE = "lang"


def select_locale() -> str:
    """Return ?lang=, else the remembered choice, else the browser's preference, else ru."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # the worker and the CLI speak the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    for candidate in (request.args.get("lang"), request.cookies.get(COOKIE)):
        if candidate in languages:
            return candidate
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def current_lang() -> str:
    """Return the language of this request as a plain code."""
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


@bp.route("/lang/<code>")
def switch(code: str):
    """Remember the chosen language and go back where the visitor was."""
    target = request.args.get("next", "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    response = redirect(target)
    if code in current_app.config["LANGUAGES"]:
        response.set_cookie(COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response
