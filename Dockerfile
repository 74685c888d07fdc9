# Kabinet as a container, for clinics that run Docker instead of the installer.
#   docker build -t kabinet .
#   docker run -d -p 8080:8080 -v kabinet-data:/var/lib/kabinet \
#       -v /srv/kabinet/config.toml:/etc/kabinet/config.toml:ro kabinet
# The panel listens on 0.0.0.0:8080 inside the container (KABINET_HOST / KABINET_PORT
# below override web.host / web.port of the config). The demo: docker-compose.example.yml.

# --- builder: the pinned, hash-checked dependencies and the project, in a venv -----------
FROM python:3.11-slim-bookworm AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
# The whole lock (dev tools included) into a throwaway venv, hash-checked as `make venv`
# does: the run-time closure is read from its installed metadata.
COPY requirements.lock ./
RUN python -m venv /opt/lock \
    && /opt/lock/bin/pip install --no-cache-dir --require-hashes -r requirements.lock

COPY . .
# The run-time part of the lock (what a release bundle carries: install_requires plus the
# MIS drivers and PostgreSQL), hash-checked, into the venv the image runs; then the
# project's own wheel, built with the locked setuptools, without dependencies.
RUN /opt/lock/bin/python scripts/runtime_requirements.py > /tmp/runtime.txt \
    && python -m venv /opt/kabinet \
    && /opt/kabinet/bin/pip install --no-cache-dir --require-hashes --no-deps -r /tmp/runtime.txt \
    && /opt/lock/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation -w /tmp/wheel . \
    && /opt/kabinet/bin/pip install --no-cache-dir --no-deps /tmp/wheel/kabinet-*.whl

# --- runtime: slim, the system libraries the code loads, no compilers, no dev tools -----
FROM python:3.11-slim-bookworm AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/kabinet/bin:$PATH \
    KABINET_CONFIG=/etc/kabinet/config.toml \
    KABINET_HOST=0.0.0.0 \
    KABINET_PORT=8080

# Client libraries loaded at run time: unixODBC with the FreeTDS (MS SQL), PostgreSQL and
# MariaDB drivers for pyodbc, Firebird's libfbclient for fdb, pg_dump/pg_restore for
# backups of a PostgreSQL store, pango for WeasyPrint (the signed documents' PDFs) and
# DejaVu for their Cyrillic. Not version-pinned: bookworm only ships security fixes for
# them, and those should be picked up on rebuild.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        unixodbc tdsodbc odbc-postgresql odbc-mariadb libfbclient2 postgresql-client \
        libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Non-root service user with a fixed uid/gid, so a bind-mounted data directory can be
# chown'ed to 10001 on the host. Its data directory is the volume below (SQLite store,
# backups); the config directory is readable, not writable.
RUN groupadd --system --gid 10001 kabinet \
    && useradd --system --uid 10001 --gid kabinet --home-dir /var/lib/kabinet \
        --shell /usr/sbin/nologin kabinet \
    && install -d -o kabinet -g kabinet -m 0750 /var/lib/kabinet /var/lib/kabinet/backups \
    && install -d -o root -g kabinet -m 0750 /etc/kabinet

COPY --from=builder /opt/kabinet /opt/kabinet

USER 10001:10001
WORKDIR /var/lib/kabinet
VOLUME /var/lib/kabinet
EXPOSE 8080

# /healthz is 503 unless the store, the runner, the MIS, Telegram, the outbox and the
# backups are all well (README "Health and metrics"): urlopen raises, the check fails.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('KABINET_PORT', '8080'), timeout=4)"]

CMD ["kabinet", "run"]
