#!/usr/bin/env bash
# Bring up the database servers the test suite talks to, check each one with a
# real login, print one status line per service and write the connection facts
# to var/test-services.env (sourced by `make test`).
#
#   Firebird 3   127.0.0.1:3050, SYSDBA; password from /etc/firebird/3.0/SYSDBA.password;
#                test databases live in /var/lib/kabinet-test/firebird (owned by
#                firebird: the server process opens the files itself)
#   PostgreSQL   127.0.0.1:5432, trust auth, database "test"
#   MariaDB      127.0.0.1:3306, root with no password, database "test"
#   ODBC         drivers "PostgreSQL Unicode" and "MariaDB Unicode", connected through
#
# Anything that can't be brought up is reported and the script exits 1: CI must
# fail rather than skip the tests that need it.
#
# Environment overrides: KABINET_TEST_ENV_FILE (where to write the facts),
# KABINET_TEST_FIREBIRD_DIR, KABINET_FIREBIRD_PASSWORD_FILE, SERVICE_TIMEOUT (seconds
# to wait for a port, 30).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
env_file="${KABINET_TEST_ENV_FILE:-$repo_root/var/test-services.env}"
fb_dir="${KABINET_TEST_FIREBIRD_DIR:-/var/lib/kabinet-test/firebird}"
timeout_s="${SERVICE_TIMEOUT:-30}"

fb_password_file="${KABINET_FIREBIRD_PASSWORD_FILE:-/etc/firebird/3.0/SYSDBA.password}"
pg_dsn="postgresql://postgres@127.0.0.1:5432/test"
maria_dsn="mysql://root@127.0.0.1:3306/test"
pg_odbc="DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=5432;DATABASE=test;UID=postgres;PWD="
maria_odbc="DRIVER={MariaDB Unicode};SERVER=127.0.0.1;PORT=3306;DATABASE=test;UID=root;PWD="

failures=()
status_lines=()

log() { echo "services: $*" >&2; }
status() { status_lines+=("$(printf '%-11s %s' "$1" "$2")"); }
fail() { status "$1" "FAILED: $2"; failures+=("$1"); }

# Starting servers, reading the root-only password file and apt need root.
if [[ $EUID -eq 0 ]]; then
    as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root() { sudo -n "$@"; }
else
    as_root() {
        log "needs root (or password-less sudo) to run: $*"
        return 1
    }
fi

# True when something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp:
# no dependency on nc/ss being installed).
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# wait_port PORT [PROCESS]: wait up to timeout_s for the port; give up early if
# PROCESS (the server's binary name) has been gone for a few seconds.
wait_port() {
    local port=$1 process=${2:-} start=$SECONDS
    until port_open "$port"; do
        ((SECONDS - start < timeout_s)) || return 1
        if [[ -n "$process" ]] && ((SECONDS - start >= 3)) && ! pidof "$process" >/dev/null 2>&1; then
            log "$process is not running"
            return 1
        fi
        sleep 0.5
    done
}

apt_updated=0
apt_install() {
    if ((!apt_updated)); then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

# ---------------------------------------------------------------- Firebird --

# The file is a shell fragment written by the Debian package:
#     ISC_USER=sysdba
#     ISC_PASSWORD="e6aa1a6d"
# (quotes optional). Parsed rather than sourced so nothing in it gets executed.
read_fb_password() {
    as_root cat "$fb_password_file" 2>/dev/null \
        | sed -n -E 's/^[[:space:]]*ISC_PASSWORD=//p' | tail -n 1 \
        | sed -E "s/^\"(.*)\"[[:space:]]*$/\1/; s/^'(.*)'[[:space:]]*$/\1/"
}

fb_password=""
firebird_up() {
    if [[ ! -x /usr/sbin/fbguard ]]; then
        log "Firebird is not installed; running setup-system.sh"
        "$repo_root/scripts/setup-system.sh" || { fail firebird "not installed (setup-system.sh failed)"; return; }
    fi

    fb_password="$(read_fb_password || true)"
    if [[ -z "$fb_password" && "$fb_password_file" == /etc/firebird/3.0/SYSDBA.password ]]; then
        # The postinst only sets a password when it could "start" the server;
        # reconfiguring generates one (noninteractive) and records it.
        log "no SYSDBA password in $fb_password_file; running dpkg-reconfigure firebird3.0-server"
        as_root env DEBIAN_FRONTEND=noninteractive dpkg-reconfigure firebird3.0-server >&2 || true
        fb_password="$(read_fb_password || true)"
    fi
    if [[ -z "$fb_password" ]]; then
        fail firebird "no ISC_PASSWORD in $fb_password_file (try: dpkg-reconfigure firebird3.0-server)"
        return
    fi

    # What systemd would create (RuntimeDirectory= and tmpfiles.d); there is
    # no systemd here, and fbguard can't start without its lock directories.
    as_root install -d -o firebird -g firebird -m 0770 /run/firebird3.0 /tmp/firebird
    # The server opens database files itself, as user firebird: test databases
    # must be in a directory it owns. The parent stays root-owned.
    as_root install -d -m 0755 "$(dirname "$fb_dir")"
    as_root install -d -o firebird -g firebird -m 0770 "$fb_dir"

    # Debian sets RemoteBindAddress = localhost, which binds [::1] only where
    # "localhost" resolves to ::1 first (IPv6 machines). Tests use 127.0.0.1.
    local fb_conf=/etc/firebird/3.0/firebird.conf bind_re='^[[:space:]]*RemoteBindAddress[[:space:]]*='
    if ! grep -Eq "${bind_re}[[:space:]]*127\.0\.0\.1[[:space:]]*$" "$fb_conf"; then
        log "setting RemoteBindAddress = 127.0.0.1 in $fb_conf"
        if grep -Eq "$bind_re" "$fb_conf"; then
            as_root sed -i -E "s/${bind_re}.*/RemoteBindAddress = 127.0.0.1/" "$fb_conf"
        else
            echo "RemoteBindAddress = 127.0.0.1" | as_root tee -a "$fb_conf" >/dev/null
        fi
        # A server started with the old setting and not on 127.0.0.1 yet: restart it.
        if ! port_open 3050 && pidof fbguard >/dev/null 2>&1; then
            as_root start-stop-daemon --stop --quiet --retry 15 --exec /usr/sbin/fbguard || true
        fi
    fi

    if ! port_open 3050; then
        if ! pidof fbguard >/dev/null 2>&1; then
            log "starting Firebird (fbguard as user firebird)"
            as_root su -s /bin/sh firebird -c "/usr/sbin/fbguard -daemon -forever" >&2 \
                || { fail firebird "fbguard did not start"; return; }
        fi
        if ! wait_port 3050 fbguard; then
            fail firebird "nothing listens on 127.0.0.1:3050 after ${timeout_s}s (see /var/log/firebird/firebird3.0.log)"
            return
        fi
    fi

    # A real round trip through the server: create a database in the test
    # directory as SYSDBA, query it, drop it. Catches a wrong password or a
    # directory the server can't write.
    local probe="$fb_dir/services-probe-$$.fdb" out
    if ! out="$(printf "create database '127.0.0.1/3050:%s' user 'SYSDBA' password '%s';\nselect 'fb-ok' from rdb\$database;\ndrop database;\n" \
        "$probe" "${fb_password//\'/\'\'}" | isql-fb -q 2>&1)" || [[ "$out" != *fb-ok* ]]; then
        as_root rm -f "$probe"
        fail firebird "SYSDBA login/create database failed: $(echo "$out" | tr '\n' ' ' | cut -c1-200)"
        return
    fi
    as_root rm -f "$probe"
    status firebird "up on 127.0.0.1:3050 (SYSDBA, databases in $fb_dir)"
}

# -------------------------------------------------------------- PostgreSQL --

pg_query() { psql -h 127.0.0.1 -p 5432 -U postgres -w -X -At "$@"; }

# Fresh install only: the same setup as the dev machine image (listen on
# 127.0.0.1, trust for local and 127.0.0.1 connections).
pg_configure_fresh() {
    local ver conf
    ver="$(pg_lsclusters -h | awk '$2 == "main" {print $1; exit}')"
    [[ -n "$ver" ]] || { log "no 'main' PostgreSQL cluster after install"; return 1; }
    conf="/etc/postgresql/$ver/main"
    as_root install -d "$conf/conf.d"
    printf "listen_addresses = '127.0.0.1'\nport = 5432\n" | as_root tee "$conf/conf.d/90-kabinet-test.conf" >/dev/null
    printf "local all all trust\nhost all all 127.0.0.1/32 trust\n" | as_root tee "$conf/pg_hba.conf" >/dev/null
}

pg_start() {
    local ver
    ver="$(pg_lsclusters -h 2>/dev/null | awk '$2 == "main" {print $1; exit}')"
    [[ -n "$ver" ]] || return 1
    log "starting PostgreSQL $ver/main"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 || true
}

postgres_up() {
    if ! port_open 5432; then
        if ! command -v pg_lsclusters >/dev/null 2>&1 || [[ -z "$(pg_lsclusters -h 2>/dev/null)" ]]; then
            log "PostgreSQL is not installed; installing it from Debian"
            if ! { apt_install postgresql >&2 && pg_configure_fresh; }; then
                fail postgresql "could not install/configure the postgresql package"
                return
            fi
        fi
        pg_start
        if ! wait_port 5432; then
            fail postgresql "nothing listens on 127.0.0.1:5432 after ${timeout_s}s"
            return
        fi
    fi
    if ! command -v psql >/dev/null 2>&1; then
        apt_install postgresql-client >&2 || { fail postgresql "psql missing and could not be installed"; return; }
    fi
    if ! pg_query -d postgres -c 'select 1' >/dev/null 2>&1; then
        fail postgresql "port 5432 is open but 'postgres' can't log in without a password (trust auth expected)"
        return
    fi
    if [[ "$(pg_query -d postgres -c "select 1 from pg_database where datname = 'test'")" != 1 ]]; then
        pg_query -d postgres -c 'create database test' >/dev/null \
            || { fail postgresql "could not create database test"; return; }
    fi
    status postgresql "up on 127.0.0.1:5432 ($pg_dsn)"
}

# ----------------------------------------------------------------- MariaDB --

maria_query() { mariadb -h 127.0.0.1 -P 3306 -u root --connect-timeout=5 -N -B "$@"; }

maria_start() {
    # No systemd: start mariadbd the way the machine image does. Its socket and
    # pid file go in /run/mysqld, which systemd would otherwise create.
    # --user: Debian's own config doesn't name the user, and mariadbd refuses
    # to run as root.
    as_root install -d -o mysql -g mysql -m 0755 /run/mysqld
    log "starting MariaDB"
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql >&2
}

# Fresh install only: what the dev machine image has. Debian's root uses
# unix_socket auth; tests connect over TCP as root with no password.
maria_configure_fresh() {
    as_root install -d /etc/mysql/mariadb.conf.d
    # Started in the background, mariadbd's stderr goes nowhere: log to a file.
    as_root install -d -o mysql -g adm -m 2750 /var/log/mysql
    printf '%s\n' '[mysqld]' 'user = mysql' 'bind-address = 127.0.0.1' 'port = 3306' \
        'skip-name-resolve' 'log-error = /var/log/mysql/error.log' \
        'character-set-server = utf8mb4' 'collation-server = utf8mb4_general_ci' \
        | as_root tee /etc/mysql/mariadb.conf.d/90-kabinet-test.cnf >/dev/null
}

maria_configure_users() {
    # Over the local socket root is allowed by unix_socket auth.
    as_root mariadb -u root <<'SQL'
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS test;
FLUSH PRIVILEGES;
SQL
}

mariadb_up() {
    local fresh=0
    if ! port_open 3306; then
        if [[ ! -x /usr/sbin/mariadbd ]]; then
            log "MariaDB is not installed; installing it from Debian"
            if ! { apt_install mariadb-server mariadb-client >&2 && maria_configure_fresh; }; then
                fail mariadb "could not install/configure the mariadb-server package"
                return
            fi
            fresh=1
        fi
        # A freshly installed server may have been started by its postinst with
        # the default config; restart it so the drop-in applies.
        if ((fresh)) && pidof mariadbd >/dev/null 2>&1; then
            as_root start-stop-daemon --stop --retry 30 --exec /usr/sbin/mariadbd >&2 || true
        fi
        maria_start || { fail mariadb "mariadbd did not start"; return; }
        if ! wait_port 3306 mariadbd; then
            fail mariadb "nothing listens on 127.0.0.1:3306 after ${timeout_s}s (see /var/log/mysql/error.log)"
            return
        fi
        if ((fresh)); then
            maria_configure_users >&2 || { fail mariadb "could not set up root@127.0.0.1"; return; }
        fi
    fi
    if ! command -v mariadb >/dev/null 2>&1; then
        apt_install mariadb-client >&2 || { fail mariadb "mariadb client missing and could not be installed"; return; }
    fi
    if ! maria_query -e 'select 1' >/dev/null 2>&1; then
        fail mariadb "port 3306 is open but root can't log in over TCP without a password"
        return
    fi
    maria_query -e 'create database if not exists test' >/dev/null \
        || { fail mariadb "could not create database test"; return; }
    status mariadb "up on 127.0.0.1:3306 ($maria_dsn)"
}

# -------------------------------------------------------------------- ODBC --

# The connectors reach PostgreSQL/MariaDB (and MS SQL at clinics) via pyodbc;
# check the drivers are registered and really connect, using unixODBC's isql.
odbc_check() {
    local drivers missing=() name conn out
    drivers="$(odbcinst -q -d 2>/dev/null || true)"
    for name in "PostgreSQL Unicode" "MariaDB Unicode"; do
        [[ "$drivers" == *"[$name]"* ]] || missing+=("$name")
    done
    if ((${#missing[@]})); then
        fail odbc "drivers not registered: ${missing[*]} (run scripts/setup-system.sh)"
        return
    fi
    for conn in "$pg_odbc" "$maria_odbc"; do
        # Only meaningful if the server itself is up; its failure is reported above.
        if ! out="$(echo "select 1" | isql -b -k "$conn" 2>&1)"; then
            fail odbc "connect failed: ${conn%%;*}: $(echo "$out" | tr '\n' ' ' | cut -c1-160)"
            return
        fi
    done
    status odbc "drivers 'PostgreSQL Unicode', 'MariaDB Unicode' connect"
}

# ------------------------------------------------------------------ output --

# KEY=value lines, shell-sourceable. Values are single-quoted only when they
# contain characters the shell would treat specially; Python can read the file
# with shlex (see tests/infra/test_tooling.py).
emit() {
    local key=$1 value=$2
    if [[ "$value" =~ ^[A-Za-z0-9_./:@%+,=-]*$ ]]; then
        printf '%s=%s\n' "$key" "$value"
    else
        printf "%s='%s'\n" "$key" "${value//\'/\'\\\'\'}"
    fi
}

write_env_file() {
    local tmp
    mkdir -p "$(dirname "$env_file")"
    tmp="$(mktemp "$env_file.XXXXXX")"
    {
        echo "# Written by scripts/services.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); do not edit."
        emit KABINET_TEST_FIREBIRD_HOST 127.0.0.1
        emit KABINET_TEST_FIREBIRD_PORT 3050
        emit KABINET_TEST_FIREBIRD_USER SYSDBA
        emit KABINET_TEST_FIREBIRD_PASSWORD "$fb_password"
        emit KABINET_TEST_FIREBIRD_DIR "$fb_dir"
        emit KABINET_TEST_PG_DSN "$pg_dsn"
        emit KABINET_TEST_PG_ODBC "$pg_odbc"
        emit KABINET_TEST_MARIADB_DSN "$maria_dsn"
        emit KABINET_TEST_MARIADB_ODBC "$maria_odbc"
        emit KABINET_TEST_CHROMIUM /usr/bin/chromium
    } >"$tmp"
    # The file holds the SYSDBA password.
    chmod 0600 "$tmp"
    mv -f "$tmp" "$env_file"
}

firebird_up
postgres_up
mariadb_up
odbc_check
if [[ ! -x /usr/bin/chromium ]]; then
    fail chromium "/usr/bin/chromium missing (run scripts/setup-system.sh)"
else
    status chromium "/usr/bin/chromium present"
fi

printf '%s\n' "${status_lines[@]}"
if ((${#failures[@]})); then
    echo "services: FAILED: ${failures[*]}" >&2
    exit 1
fi
write_env_file
echo "services: wrote ${env_file#"$repo_root"/}"
