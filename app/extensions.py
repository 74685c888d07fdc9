"""Flask extensions, created once and bound in the app factory."""

from flask_sqlalchemy import SQLAlchemy

from core.db import Base

# The domain models are plain SQLAlchemy on core.db.Base; Flask-SQLAlchemy only manages
# the engine and the per-request session.
db = SQLAlchemy(model_class=Base)
