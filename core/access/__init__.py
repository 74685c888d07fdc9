"""Panel access: password hashing, server-side staff sessions and the audit log.

The web layer (app/auth.py, app/permissions.py, app/audit.py) wires these to Flask-Login
and Flask-WTF; nothing here imports Flask, so the CLI and the tests use them directly.
"""
