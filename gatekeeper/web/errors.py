"""Error pages in the app's own look and language: what happened and where to go, never a raw
server page."""

from __future__ import annotations

from flask import Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

# Each error a person meets in ordinary use: a title, and what to do about it.
ERROR_PAGES = {
    403: (_l("Not for your role"),
          _l("Your role at this school does not open this page. If you need it, ask your head.")),
    404: (_l("Not found"),
          _l("There is nothing at this address: it may have been deleted, or the link is "
             "incomplete.")),
    405: (_l("Not like this"),
          _l("This page cannot be opened this way. Go back and use the page's own buttons.")),
    400: (_l("Not understood"),
          _l("Something the page sent was missing or not as expected: nothing was saved. Go "
             "back, reload the page and try again.")),
    409: (_l("Already decided"),
          _l("Someone has dealt with this already, or it changed while the page was open: "
             "nothing was changed. Go back and reload the page to see where it stands.")),
}


# A form whose token no longer holds: open longer than WTF_CSRF_TIME_LIMIT (a parent's email
# opened in the evening and answered the next morning), or a browser that dropped its session.
STALE_FORM = (_l("This page was open too long"),
              _l("Nothing was saved. Go back, reload the page and try again."))


def init_error_pages(app: Flask) -> None:
    for code in ERROR_PAGES:
        app.register_error_handler(code, error_page)
    app.register_error_handler(CSRFError, stale_form)


def error_page(error: HTTPException):
    title, advice = ERROR_PAGES[error.code]
    if request.accept_mimetypes.best == "application/json":
        return jsonify(error=str(title)), error.code
    response = render_template("error.html", code=error.code, heading=title, advice=advice,
                               title=title)
    return response, error.code, error.get_headers() if error.code == 405 else {}


def stale_form(error: CSRFError):
    """Nothing is saved. A parent's consent page or the sign-in page opens again with a note (the
    parent's in the school's language, which that page chooses); any other form gives the app's
    own error page, never Werkzeug's bare one; a script gets the words as JSON."""
    title, advice = STALE_FORM
    if request.endpoint == "parents.consent":  # its view gives the note in the school's language
        return redirect(url_for("parents.consent", token=request.view_args["token"], again=1),
                        303)
    if request.endpoint == "auth.login":
        flash(_("This page was open too long, so you were not signed in. Please try again."),
              "warning")
        return redirect(request.full_path.rstrip("?"), 303)
    if request.accept_mimetypes.best == "application/json" or request.is_json:
        return jsonify(error=f"{title}. {advice}"), 400
    return render_template("error.html", code=400, heading=title, advice=advice, title=title), 400
