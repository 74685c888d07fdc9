# Kabinet as a container, for clinics that run Docker instead of the installer.
#   docker build -t kabinet .
#   docker run -d -p 8080:8080 -v kabinet-data:/var/lib/kabinet \
#       -v /srv/kabinet/config.toml:/etc/kabinet/config.toml:ro kabinet
# The config must make the panel listen on 0.0.0.0:8080 inside the container.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KABINET_CONFIG=/etc/kabinet/config.toml

# Client libraries the MIS connectors load at run time: unixODBC with the
# FreeTDS (MS SQL), PostgreSQL and MariaDB drivers for pyodbc, and Firebird's
# libfbclient for fdb; pg_dump/pg_restore for backups of a PostgreSQL store.
# Not version-pinned: bookworm only ships security fixes for them, and those
# should be picked up on rebuild.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        unixodbc tdsodbc odbc-postgresql odbc-mariadb libfbclient2 postgresql-client \
    && rm -rf /var/lib/apt/lists/*

# Non-root service user with a fixed uid/gid, so a bind-mounted data directory
# can be chown'ed to 10001 on the host. Its data directory is the volume below
# (SQLite store, backups); the config directory is readable, not writable.
RUN groupadd --system --gid 10001 kabinet \
    && useradd --system --uid 10001 --gid kabinet --home-dir /var/lib/kabinet \
        --shell /usr/sbin/nologin kabinet \
    && install -d -o kabinet -g kabinet -m 0750 /var/lib/kabinet /var/lib/kabinet/backups \
    && install -d -o root -g kabinet -m 0750 /etc/kabinet

WORKDIR /opt/kabinet/src
COPY . .
# The project itself, from this source tree; its dependencies' version ranges
# live in setup.cfg (DL3013 is about pinning named PyPI packages).
# hadolint ignore=DL3013
RUN pip install --no-cache-dir '.[firebird,mssql,mysql,postgresql]'

USER 10001:10001
WORKDIR /var/lib/kabinet
VOLUME /var/lib/kabinet
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

CMD ["kabinet", "run"]
