"""WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

from gatekeeper import create_app

app = create_app()
