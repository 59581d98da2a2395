"""Error pages in the app's own look and language: what happened and where to go, never a raw
server page."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
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
}


def init_error_pages(app: Flask) -> None:
    for code in ERROR_PAGES:
        app.register_error_handler(code, error_page)


def error_page(error: HTTPException):
    title, advice = ERROR_PAGES[error.code]
    if request.accept_mimetypes.best == "application/json":
        return jsonify(error=str(title)), error.code
    response = render_template("error.html", code=error.code, heading=title, advice=advice,
                               title=title)
    return response, error.code, error.get_headers() if error.code == 405 else {}
