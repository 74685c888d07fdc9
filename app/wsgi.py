"""WSGI entry point for gunicorn: `gunicorn app.wsgi:application` with $KABINET_CONFIG set."""

from app import create_app

application = create_app()
