#!/usr/bin/env bash
# Install the Debian packages that Kabinet's development, tests and CI need.
#
# Idempotent and quick when warm: one dpkg-query decides what is missing, and
# apt-get (including `apt-get update`) only runs when something is. Safe to
# call from `make test` on every run.
#
# Usage: scripts/setup-system.sh [--dry-run]
#   --dry-run  print what would be installed ("nothing to install" when the
#              machine is complete) and change nothing.
#
# Not root and no sudo: prints the exact command to run and exits 1.
set -euo pipefail

dry_run=0
for arg in "$@"; do
    case "$arg" in
        --dry-run|-n) dry_run=1 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup-system: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

# What each package is for:
#   firebird3.0-server(+utils)  the MIS database most clinics run; tests talk to a
#                               real server (fdb), isql-fb is used by services.sh
#   chromium, fonts-liberation  browser tests (playwright with executable_path=
#                               /usr/bin/chromium; never `playwright install`)
#   unixodbc, odbc-*            pyodbc + the drivers the connector tests use
#   the ShellCheck package      lints the shell scripts (make lint, tests/infra)
#   sqlite3                     poking at the local store by hand
#   libpango-1.0-0, libpangoft2 WeasyPrint renders the documents patients sign (PDF)
#   fonts-dejavu-core           Cyrillic glyphs in those PDFs
#   make                        so `make test` can run on a bare machine
#   postgresql-client-15        pg_dump/pg_restore: backups of a PostgreSQL store
#                               (tests/jobs/test_backup_restore_pg.py); the major of
#                               the server scripts/services.sh installs (Debian 12's),
#                               as pg_dump must be at least the server's version
wanted=(
    make
    sqlite3
    shellcheck
    unixodbc
    odbc-postgresql
    odbc-mariadb
    firebird3.0-server
    firebird3.0-utils
    chromium
    fonts-liberation
    libpango-1.0-0
    libpangoft2-1.0-0
    fonts-dejavu-core
    postgresql-client-15
)

# The venv is made with the python3.11 found on PATH (pyenv on the dev image,
# Debian's elsewhere). Only pull Debian's if that one can't make a venv.
if ! python3.11 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    wanted+=(python3.11 python3.11-venv)
fi

# One dpkg-query for all of them; unknown packages print nothing on stdout.
declare -A installed=()
while read -r name status; do
    # ${db:Status-Abbrev} is "ii " for a fully installed package.
    [[ "$status" == ii* ]] && installed["$name"]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${wanted[@]}" 2>/dev/null || true)

missing=()
for pkg in "${wanted[@]}"; do
    [[ -n "${installed[$pkg]:-}" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "setup-system: nothing to install"
    exit 0
fi

if ((dry_run)); then
    echo "setup-system: would install: ${missing[*]}"
    exit 0
fi

if [[ $EUID -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo)
else
    echo "setup-system: missing packages: ${missing[*]}" >&2
    echo "setup-system: not root and no password-less sudo; as root, run:" >&2
    echo "    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "setup-system: installing: ${missing[*]}"
# noninteractive: firebird3.0-server asks for a SYSDBA password through debconf;
# without a frontend it generates a random one and writes it to
# /etc/firebird/3.0/SYSDBA.password, which services.sh reads.
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}"

# Firebird's postinst may start the server (on machines where services may
# start) or not (policy-rc.d in containers); either is fine, services.sh
# starts it as the firebird user when needed. Check the install left what
# services.sh depends on.
for f in /usr/sbin/fbguard /usr/bin/isql-fb /etc/firebird/3.0/firebird.conf; do
    if [[ ! -e "$f" ]]; then
        echo "setup-system: firebird3.0-server installed but $f is missing" >&2
        exit 1
    fi
done
echo "setup-system: done"
