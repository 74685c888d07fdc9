# shellcheck shell=bash disable=SC2034
# (SC2034: the variables below are used by the scripts that source this file.)
# Shared by install.sh, update.sh and uninstall.sh; sourced, not run.
#
# Layout (every path under $KABINET_PREFIX, empty on a real machine):
#   /opt/kabinet/releases/<version>/venv     one virtualenv per release
#   /opt/kabinet/releases/<version>/share    installer scripts, config.example.toml
#   /opt/kabinet/current -> releases/<version>
#   /opt/kabinet/previous -> releases/<version>  the release before the last good update
#   /opt/kabinet/releases/failed/<version>-<time> releases that failed their update
#   /etc/kabinet/config.toml                 mode 0600, user kabinet (from the answers)
#   /etc/logrotate.d/kabinet                 without systemd only (a log file to rotate)
#   /var/lib/kabinet/                        data (SQLite store), backups/
#   /etc/systemd/system/kabinet.service
#
# KABINET_PREFIX=/some/dir  puts all of the above under that directory, creates
#                           no user and runs everything as the calling user: for
#                           exercising the scripts in a test sandbox.
# KABINET_NO_SYSTEMD=1      no systemctl: the service is a plain background
#                           process with a pid file (/run/kabinet/kabinet.pid)
#                           and a log (/var/log/kabinet/kabinet.log).
# Other knobs: KABINET_PYTHON (interpreter for the venvs), KABINET_HEALTH_TIMEOUT
# (seconds, 60), KABINET_HEALTH_URL, KABINET_KEEP_RELEASES (3), KABINET_SKIP_APT=1.

set -euo pipefail

PREFIX="${KABINET_PREFIX:-}"
PREFIX="${PREFIX%/}"
OPT_DIR="$PREFIX/opt/kabinet"
RELEASES_DIR="$OPT_DIR/releases"
CURRENT_LINK="$OPT_DIR/current"
PREVIOUS_LINK="$OPT_DIR/previous"
FAILED_DIR="$RELEASES_DIR/failed"
ETC_DIR="$PREFIX/etc/kabinet"
CONFIG_FILE="$ETC_DIR/config.toml"
DATA_DIR="$PREFIX/var/lib/kabinet"
BACKUP_DIR="$DATA_DIR/backups"
UNIT_FILE="$PREFIX/etc/systemd/system/kabinet.service"
RUN_DIR="$PREFIX/run/kabinet"
PID_FILE="$RUN_DIR/kabinet.pid"
LOG_DIR="$PREFIX/var/log/kabinet"
SERVICE_USER=kabinet
HEALTH_TIMEOUT="${KABINET_HEALTH_TIMEOUT:-60}"
KEEP_RELEASES="${KABINET_KEEP_RELEASES:-3}"

# In a sandbox (a prefix) nothing outside it is touched: no user, no chown, no apt.
if [[ -n "$PREFIX" ]]; then SANDBOX=1; else SANDBOX=0; fi
if [[ "${KABINET_NO_SYSTEMD:-0}" == 1 ]]; then USE_SYSTEMD=0; else USE_SYSTEMD=1; fi

log() { echo "kabinet: $*"; }
warn() { echo "kabinet: warning: $*" >&2; }
die() {
    echo "kabinet: error: $*" >&2
    exit 1
}
# die_code CODE MESSAGE: the install's own exit codes (install.sh --help lists them).
die_code() {
    local code=$1
    shift
    echo "kabinet: error: $*" >&2
    exit "$code"
}

require_root() {
    if ((!SANDBOX)) && [[ $EUID -ne 0 ]]; then
        die "run as root (sudo $0 $*)"
    fi
}

# One installer at a time: an update racing an install would leave a mess.
take_lock() {
    mkdir -p "$OPT_DIR"
    exec 9>"$OPT_DIR/.installer.lock"
    flock -n 9 || die "another install/update/uninstall is running (lock: $OPT_DIR/.installer.lock)"
}

# ------------------------------------------------------------- the release --

# Sets REL_SRC (a private copy of the release source) and REL_VERSION.
# Accepts a source directory (with setup.cfg or pyproject.toml) or a tarball of
# one (an sdist or `git archive` output, with or without one top-level folder).
STAGING=""
stage_release() {
    local src=$1 top
    STAGING="$(mktemp -d "${TMPDIR:-/tmp}/kabinet-release.XXXXXX")"
    if [[ -d "$src" ]]; then
        # A copy, so building the package leaves nothing in the given directory
        # and a checkout's .venv / .git / var never get in.
        tar -C "$src" --exclude=./.git --exclude=./.venv --exclude=./var \
            --exclude='*.egg-info' --exclude=./build -cf - . | tar -C "$STAGING" -xf -
        REL_SRC="$STAGING"
    elif [[ -f "$src" ]]; then
        tar -C "$STAGING" -xf "$src" || die "cannot unpack $src"
        REL_SRC="$STAGING"
        if [[ ! -e "$REL_SRC/setup.cfg" && ! -e "$REL_SRC/pyproject.toml" ]]; then
            top="$(find "$STAGING" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
            REL_SRC="${top:-$STAGING}"
        fi
    else
        die "no such release: $src"
    fi
    REL_BUNDLE=0
    if [[ -f "$REL_SRC/manifest.json" && -d "$REL_SRC/wheels" ]]; then
        REL_BUNDLE=1
        REL_VERSION="$(manifest_get "$REL_SRC" version)"
        [[ "$REL_VERSION" =~ ^[A-Za-z0-9][A-Za-z0-9.+_-]*$ ]] || die "$src: unreadable manifest"
        return 0
    fi
    [[ -e "$REL_SRC/setup.cfg" || -e "$REL_SRC/pyproject.toml" ]] \
        || die "$src does not look like a Kabinet release (no setup.cfg/pyproject.toml/manifest.json)"

    REL_VERSION=""
    if [[ -f "$REL_SRC/PKG-INFO" ]]; then # an sdist states its version
        REL_VERSION="$(sed -n 's/^Version: *//p' "$REL_SRC/PKG-INFO" | head -n 1)"
    fi
    if [[ -z "$REL_VERSION" && -f "$REL_SRC/core/__init__.py" ]]; then
        REL_VERSION="$(sed -n -E 's/^__version__ *= *["'\'']([^"'\'']+)["'\''].*/\1/p' "$REL_SRC/core/__init__.py" | head -n 1)"
    fi
    [[ "$REL_VERSION" =~ ^[A-Za-z0-9][A-Za-z0-9.+_-]*$ ]] \
        || die "cannot tell the version of $src (looked at PKG-INFO and core/__init__.py)"
}

# manifest_get DIR KEY: a value of a bundle's manifest.json (the system python3, stdlib).
manifest_get() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1] + "/manifest.json"))[sys.argv[2]])' "$1" "$2"
}

# Every file of an unpacked bundle against its manifest's SHA-256 sums (stdlib only, so it
# runs before any venv exists). The signature is checked by `kabinet update`, or, on a first
# install, by the new release itself once built (verify_bundle_signature).
check_bundle_sums() {
    python3 - "$1" <<'PY'
import hashlib, json, pathlib, sys
root = pathlib.Path(sys.argv[1])
files = json.loads((root / "manifest.json").read_text())["files"]
present = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
extra = present - set(files) - {"manifest.json", "manifest.sig"}
bad = [n for n, h in files.items()
       if not (root / n).is_file() or hashlib.sha256((root / n).read_bytes()).hexdigest() != h]
if bad or extra:
    sys.exit(f"kabinet: error: the bundle is damaged: {', '.join(sorted(bad + list(extra))[:5])}")
PY
}

cleanup_staging() {
    if [[ -n "$STAGING" ]]; then rm -rf "$STAGING"; fi
}

# The interpreter for new venvs: KABINET_PYTHON, else the newest python3.1x
# that is at least 3.11 and can make a venv.
find_python() {
    local candidate
    for candidate in ${KABINET_PYTHON:-python3.13 python3.12 python3.11 python3}; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# Run-time libraries of the MIS connectors (as in the Dockerfile) and venv
# support; only what is missing, and only on a real machine.
install_system_packages() {
    ((SANDBOX)) && return 0
    [[ "${KABINET_SKIP_APT:-0}" == 1 ]] && return 0
    command -v apt-get >/dev/null 2>&1 || { warn "no apt-get: install unixODBC, FreeTDS and libfbclient2 yourself"; return 0; }
    local wanted=(python3-venv unixodbc tdsodbc odbc-postgresql odbc-mariadb libfbclient2) missing=() pkg
    store_is_postgresql && wanted+=(postgresql-client) # pg_dump/pg_restore for its backups
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii' || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    log "installing system packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Build releases/<version> from REL_SRC: a venv of its own with the package and
# its extras, plus the installer and example config for later use. A failed
# build leaves nothing behind.
build_release() {
    if ((REL_BUNDLE)); then
        build_release_from_bundle "$1"
        return
    fi
    local version=$1 dest="$RELEASES_DIR/$1" python pip_args=()
    python="$(find_python)" || die "need Python >= 3.11 with venv (Debian 12: apt-get install python3-venv; or set KABINET_PYTHON)"
    # An offline release carries its wheels; then PyPI is not needed.
    if [[ -d "$REL_SRC/wheels" ]]; then
        pip_args=(--no-index --find-links "$REL_SRC/wheels")
    fi
    rm -rf "$dest"
    mkdir -p "$dest/share"
    log "building release $version in $dest (python: $python)"
    if ! {
        "$python" -m venv "$dest/venv" \
            && "$dest/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
                --no-cache-dir "${pip_args[@]}" "${REL_SRC}[firebird,mssql,mysql,postgresql]" \
            && [[ -x "$dest/venv/bin/kabinet" ]]
    }; then
        rm -rf "$dest"
        return 1
    fi
    cp -a "$REL_SRC/installer" "$dest/share/installer" 2>/dev/null || true
    cp -a "$REL_SRC/config.example.toml" "$dest/share/" 2>/dev/null || true
    echo "$version" >"$dest/VERSION"
}

# From a bundle: only its own wheels, hash-checked, with no index and none of this
# machine's pip settings, so a bundle copied by hand installs with no network at all.
build_release_from_bundle() {
    local version=$1 dest="$RELEASES_DIR/$1" want python
    want="$(manifest_get "$REL_SRC" python)"
    python="${KABINET_PYTHON:-python$want}"
    command -v "$python" >/dev/null 2>&1 || die "this bundle is for Python $want: install python$want (and python$want-venv)"
    python="$(command -v "$python")"
    "$python" -c "import sys; sys.exit(f'{sys.version_info[0]}.{sys.version_info[1]}' != '$want')" \
        || die "$python is not Python $want, which this bundle is built for"
    rm -rf "$dest"
    mkdir -p "$dest/share"
    log "installing release $version in $dest from the bundle's wheels (offline; python: $python)"
    local pip=(env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null
        "$dest/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir
        --no-index --find-links "$REL_SRC/wheels")
    if ! {
        "$python" -m venv "$dest/venv" \
            && "${pip[@]}" --require-hashes -r "$REL_SRC/requirements.txt" \
            && "${pip[@]}" --no-deps "$REL_SRC"/wheels/kabinet-*.whl \
            && [[ -x "$dest/venv/bin/kabinet" ]]
    }; then
        rm -rf "$dest"
        return 1
    fi
    cp -a "$REL_SRC/installer" "$dest/share/installer"
    cp -a "$REL_SRC/config.example.toml" "$REL_SRC/manifest.json" "$dest/share/"
    cp -a "$REL_SRC/RELEASE_NOTES.md" "$dest/share/" 2>/dev/null || true
    manifest_get "$REL_SRC" schema_head >"$dest/SCHEMA"
    echo "$version" >"$dest/VERSION"
}

current_version() {
    local target
    target="$(readlink "$CURRENT_LINK" 2>/dev/null)" || return 1
    basename "$target"
}

previous_version() {
    local target
    target="$(readlink "$PREVIOUS_LINK" 2>/dev/null)" || return 1
    [[ -d "$OPT_DIR/$target" ]] || return 1
    basename "$target"
}

# Atomic switch: a new symlink renamed over the old one.
switch_current() {
    local version=$1
    ln -sfn "releases/$version" "$OPT_DIR/.current.new"
    mv -Tf "$OPT_DIR/.current.new" "$CURRENT_LINK"
}

# set_previous VERSION, or no argument: there is no release to go back to.
set_previous() {
    if [[ -z "${1:-}" ]]; then
        rm -f "$PREVIOUS_LINK"
        return
    fi
    ln -sfn "releases/$1" "$OPT_DIR/.previous.new"
    mv -Tf "$OPT_DIR/.previous.new" "$PREVIOUS_LINK"
}

# A release that failed (or was rolled back by hand) moves to releases/failed/, kept for
# inspection, out of the way of `previous` and of a later install of the same version.
set_aside_failed() {
    local version=$1 dest
    [[ -d "$RELEASES_DIR/$version" ]] || return 0
    mkdir -p "$FAILED_DIR"
    dest="$FAILED_DIR/$version-$(date -u +%Y%m%dT%H%M%SZ)"
    mv -T "$RELEASES_DIR/$version" "$dest"
    log "release $version set aside in $dest"
}

# Keep the newest KEEP_RELEASES releases (by mtime), never the current or the previous
# one; releases/failed/ keeps its newest KEEP_RELEASES too.
prune_releases() {
    local cur prev n=0 dir
    cur="$(current_version || true)"
    prev="$(previous_version || true)"
    while IFS= read -r dir; do
        n=$((n + 1))
        [[ "$(basename "$dir")" == "$cur" || "$(basename "$dir")" == "$prev" ]] && continue
        [[ "$(basename "$dir")" == failed ]] && continue
        if ((n > KEEP_RELEASES)); then
            log "removing old release $(basename "$dir")"
            rm -rf "$dir"
        fi
    done < <(find "$RELEASES_DIR" -mindepth 1 -maxdepth 1 -type d ! -name failed -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
    [[ -d "$FAILED_DIR" ]] || return 0
    find "$FAILED_DIR" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn \
        | tail -n +"$((KEEP_RELEASES + 1))" | cut -d' ' -f2- | while IFS= read -r dir; do rm -rf "$dir"; done
}

# ------------------------------------------------------ checks and answers ----

MIN_FREE_MB="${KABINET_MIN_FREE_MB:-1024}"
LOGROTATE_FILE="$PREFIX/etc/logrotate.d/kabinet"

# Linux, and systemd to supervise the service unless told to run without it.
check_system() {
    local os
    os="$(uname -s)"
    [[ "$os" == Linux ]] || die_code 3 "Kabinet installs on Linux (Debian 12, Ubuntu 24.04), not on $os; on Windows see the README's \"Windows\""
    if ((USE_SYSTEMD)) && [[ ! -d "${KABINET_SYSTEMD_RUN:-/run/systemd/system}" ]]; then
        die_code 3 "this machine does not run systemd (a container? WSL 1?); install on a systemd host, or set KABINET_NO_SYSTEMD=1 to run Kabinet as a plain background process (no restart after a crash or a reboot)"
    fi
    if [[ -r /etc/os-release ]] && ! grep -qE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; then
        warn "not Debian or Ubuntu: install unixODBC, FreeTDS and libfbclient2 with this system's tools"
    fi
}

# Room for a release (~300 MB each, three kept) and the store with its backups, on the
# disks of /opt/kabinet and /var/lib/kabinet (the nearest existing folder of each).
check_disk() {
    local dir free
    for dir in "$OPT_DIR" "$DATA_DIR"; do
        while [[ ! -d "$dir" ]]; do dir="$(dirname "$dir")"; done
        free=$(($(df -Pk "$dir" | awk 'NR == 2 {print $4}') / 1024))
        if ((free < MIN_FREE_MB)); then
            die_code 4 "only $free MB free on the disk of $dir; Kabinet needs at least $MIN_FREE_MB MB (KABINET_MIN_FREE_MB). Free some space or mount a bigger disk there"
        fi
    done
}

# answers.py with any Python >= 3.11 (before a release exists) or with a release's own.
# -B: no __pycache__ beside it, which would be an unlisted file in an unpacked bundle.
run_answers() {
    local python
    python="$(find_python)" || python=python3
    "$python" -B "$(dirname "${BASH_SOURCE[0]}")/answers.py" "$@"
}
run_answers_with() {
    local rel=$1
    shift
    "$rel/venv/bin/python" -B "$(dirname "${BASH_SOURCE[0]}")/answers.py" "$@"
}

# The panel's port must be free, unless it is this installation's own running service.
check_port() {
    local answers=$1 address host port
    if [[ -e "$CURRENT_LINK" ]] && service_running 2>/dev/null; then
        log "Kabinet is running already: its port is not checked"
        return 0
    fi
    address="$(run_answers port --answers "$answers" --config "$CONFIG_FILE")" || exit $?
    read -r host port <<<"$address"
    run_answers port-free "$host" "$port" || exit $?
}

# The MIS profiles a release knows: its connectors/profiles/*.toml.
release_profiles() {
    local rel=$1 f names=()
    for f in "$rel"/venv/lib/python3*/site-packages/connectors/profiles/*.toml; do
        [[ -e "$f" ]] && names+=("$(basename "$f" .toml)")
    done
    local IFS=,
    echo "${names[*]}"
}

# Without systemd the service appends to $LOG_DIR/kabinet.log, which logrotate keeps in
# bounds; under systemd it logs to the journal, which journald rotates by itself.
install_log_rotation() {
    local template=$1
    if ((USE_SYSTEMD)); then
        log "logs go to the journal (journalctl -u kabinet); journald rotates them"
        return 0
    fi
    mkdir -p "$(dirname "$LOGROTATE_FILE")" "$LOG_DIR"
    sed -e "s#/var/log/kabinet#$LOG_DIR#g" "$template" >"$LOGROTATE_FILE.tmp"
    chmod 0644 "$LOGROTATE_FILE.tmp"
    mv -f "$LOGROTATE_FILE.tmp" "$LOGROTATE_FILE"
    command -v logrotate >/dev/null 2>&1 \
        || warn "logrotate is not installed: $LOG_DIR/kabinet.log will grow (apt-get install logrotate)"
    log "log rotation for $LOG_DIR/kabinet.log: $LOGROTATE_FILE (weekly or at 50 MB, 8 kept)"
}

# A secret for the person at the terminal: written to /dev/tty when there is one, so a
# piped or tee'd installer output (a log) never gets it; else to standard output.
show_once() {
    local text=$1 line
    line="$(printf '%*s' 72 '' | tr ' ' '=')"
    if { : >/dev/tty; } 2>/dev/null; then
        printf '\n%s\n%s\n%s\n\n' "$line" "$text" "$line" >/dev/tty
    else
        printf '\n%s\n%s\n%s\n\n' "$line" "$text" "$line"
    fi
}

# --------------------------------------------------------------- the CLI ----

# The environment every kabinet command runs with. In a sandbox the data dir
# is moved under the prefix through the config's environment override.
kabinet_env() {
    local e=("KABINET_CONFIG=$CONFIG_FILE")
    ((SANDBOX)) && e+=("KABINET_DATA_DIR=$DATA_DIR")
    printf '%s\n' "${e[@]}"
}

# kabinet_cli RELEASE_DIR ARGS... : run that release's CLI as the service user
# (so files it creates, such as the SQLite store, belong to that user).
kabinet_cli() {
    local rel=$1 env_vars=()
    shift
    mapfile -t env_vars < <(kabinet_env)
    if ((!SANDBOX)) && [[ $EUID -eq 0 ]]; then
        (cd "$DATA_DIR" && runuser -u "$SERVICE_USER" -- env "${env_vars[@]}" "$rel/venv/bin/kabinet" "$@")
    else
        (cd "$DATA_DIR" && env "${env_vars[@]}" "$rel/venv/bin/kabinet" "$@")
    fi
}

# Read a key from config.toml with the release's own Python (tomllib).
config_get() {
    local rel=$1 section=$2 key=$3 default=$4
    "$rel/venv/bin/python" - "$CONFIG_FILE" "$section" "$key" "$default" <<'PY' 2>/dev/null || echo "$4"
import sys, tomllib
path, section, key, default = sys.argv[1:]
try:
    with open(path, "rb") as f:
        print(tomllib.load(f).get(section, {}).get(key, default))
except OSError:
    print(default)
PY
}

# Where the panel answers, as seen from this machine.
health_url() {
    local rel=$1 host port
    if [[ -n "${KABINET_HEALTH_URL:-}" ]]; then
        echo "$KABINET_HEALTH_URL"
        return
    fi
    host="${KABINET_HOST:-$(config_get "$rel" web host 127.0.0.1)}"
    port="${KABINET_PORT:-$(config_get "$rel" web port 8080)}"
    case "$host" in 0.0.0.0 | "" | "::") host=127.0.0.1 ;; esac
    echo "http://$host:$port/healthz"
}

panel_url() {
    local rel=$1 public host port
    public="$(config_get "$rel" web public_url "")"
    if [[ -n "$public" ]]; then
        echo "$public"
        return
    fi
    host="${KABINET_HOST:-$(config_get "$rel" web host 127.0.0.1)}"
    port="${KABINET_PORT:-$(config_get "$rel" web port 8080)}"
    if [[ "$host" == 0.0.0.0 || "$host" == "::" ]]; then
        host="$(hostname -I 2>/dev/null | awk '{print $1}')"
        host="${host:-$(hostname)}"
    fi
    echo "http://$host:$port/"
}

# Poll /healthz until the release is healthy or HEALTH_TIMEOUT passes. With a baseline
# (`kabinet status --json` of the release before, in HEALTH_BASELINE), healthy means what
# installer/health_gate.py says: the store and the runner fine, and nothing that was fine
# before the update bad now; without one, an HTTP 200.
HEALTH_BASELINE="${HEALTH_BASELINE:-}"
wait_healthy() {
    local rel=$1 url deadline gate reason=""
    url="$(health_url "$rel")"
    gate="$(dirname "${BASH_SOURCE[0]}")/health_gate.py"
    deadline=$((SECONDS + HEALTH_TIMEOUT))
    log "waiting for $url (up to ${HEALTH_TIMEOUT}s)"
    while ((SECONDS < deadline)); do
        if ((!USE_SYSTEMD)) && ! service_running; then
            warn "the service process exited (log: $LOG_DIR/kabinet.log)"
            return 1
        fi
        if reason="$("$rel/venv/bin/python" "$gate" "$url" "$HEALTH_BASELINE" 2>&1)"; then
            log "healthy: $url"
            return 0
        fi
        sleep 1
    done
    warn "no healthy answer from $url within ${HEALTH_TIMEOUT}s: ${reason:-no answer}"
    return 1
}

# ----------------------------------------------------------- the service ----

install_unit() {
    local template=$1
    mkdir -p "$(dirname "$UNIT_FILE")"
    # The unit names real paths; under a prefix they are moved with it.
    sed -e "s#/opt/kabinet#$OPT_DIR#g" -e "s#/etc/kabinet#$ETC_DIR#g" \
        -e "s#/var/lib/kabinet#$DATA_DIR#g" "$template" >"$UNIT_FILE.tmp"
    chmod 0644 "$UNIT_FILE.tmp"
    mv -f "$UNIT_FILE.tmp" "$UNIT_FILE"
    if ((USE_SYSTEMD)); then
        systemctl daemon-reload
    fi
}

service_running() {
    if ((USE_SYSTEMD)); then
        systemctl is-active --quiet kabinet.service
    else
        [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
    fi
}

service_start() {
    if ((USE_SYSTEMD)); then
        systemctl start kabinet.service
        return
    fi
    service_running && return 0
    local env_vars=() cmd
    mapfile -t env_vars < <(kabinet_env)
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    cmd=(env "${env_vars[@]}" "$CURRENT_LINK/venv/bin/kabinet" --config "$CONFIG_FILE" run)
    if ((!SANDBOX)) && [[ $EUID -eq 0 ]]; then
        # setpriv execs (runuser would fork), so the pid file names the service.
        cmd=(setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups -- "${cmd[@]}")
    fi
    # setsid: the service must not die with the installer's terminal/session.
    # 9>&-: it must not inherit (and so keep holding) the installer's lock.
    (cd "$DATA_DIR" && exec setsid "${cmd[@]}" >>"$LOG_DIR/kabinet.log" 2>&1 </dev/null 9>&-) &
    echo $! >"$PID_FILE"
    log "started kabinet (pid $(cat "$PID_FILE"), log $LOG_DIR/kabinet.log)"
}

service_stop() {
    if ((USE_SYSTEMD)); then
        systemctl stop kabinet.service
        return
    fi
    [[ -f "$PID_FILE" ]] || return 0
    local pid i
    pid="$(cat "$PID_FILE")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 30; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 1
        done
        if kill -0 "$pid" 2>/dev/null; then
            warn "kabinet (pid $pid) ignored SIGTERM for 30s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$PID_FILE"
}

service_enable_and_start() {
    if ((USE_SYSTEMD)); then
        systemctl enable --now kabinet.service
    else
        service_start
    fi
}

# ------------------------------------------------------- a PostgreSQL store ----

# True when storage.database_url (in the config file, or KABINET_DATABASE_URL) names
# PostgreSQL. Its backups, and so every update, need pg_dump and pg_restore: Debian's
# postgresql-client, whose major version must be at least the server's (a newer server:
# postgresql-client-<major> from apt.postgresql.org). The driver, psycopg2, is in every
# release already.
store_is_postgresql() {
    [[ "${KABINET_DATABASE_URL:-}" == postgres* ]] && return 0
    [[ -r "$CONFIG_FILE" ]] || return 1
    grep -Eq "^[[:space:]]*database_url[[:space:]]*=[[:space:]]*[\"']postgres" "$CONFIG_FILE"
}
