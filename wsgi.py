"""WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

from gatekeeper.app import create_app

app = create_app()
