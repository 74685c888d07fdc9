#!/usr/bin/env bash
# First installation of Kabinet on a Debian/Ubuntu server, as root:
#
#   sudo installer/install.sh [--answers FILE | --ask] [BUNDLE.tar | RELEASE_TARBALL_OR_DIR]
#
# On a terminal it asks a few questions (Enter takes the default): the clinic's name
# and time zone, the MIS profile and DSN, the bot token, the first owner's login.
# --answers FILE reads them from a file instead (installer/answers.example shows every
# answer); --ask asks on standard input even when it is not a terminal.
# Every answer is checked before anything is written: the time zone, the token's form,
# the MIS by `kabinet mis check` (a DSN that fails is never saved). The release
# defaults to the source tree this script sits in; a signed bundle (`make release`)
# installs from its own wheels with no network. Steps:
#   0. checks: Linux, systemd (or KABINET_NO_SYSTEMD=1), free disk, the panel's port
#   1. system user "kabinet", run-time packages (unixODBC + drivers, libfbclient2)
#   2. /opt/kabinet/releases/<version>/venv and the /opt/kabinet/current symlink
#   3. /etc/kabinet/config.toml (mode 0600) from the answers; <data>/secret_key
#   4. `kabinet db upgrade`; the first owner, whose password is shown once on the
#      terminal (/dev/tty when there is one: not in a piped log, nor the journal)
#   5. log rotation (without systemd), kabinet.service enabled and started
#
# Running it again repairs the installation and keeps the config and the secret key
# as they are (with --answers it refuses instead: nothing is overwritten). Exit codes:
#   2 bad arguments, or the answers file cannot be read   3 unsupported system
#   4 not enough free disk      5 the port is in use      6 an answer is refused
#   7 the MIS check failed      8 already configured: --answers would overwrite
# KABINET_MIN_FREE_MB (1024) sets the free space required; see common.sh for
# KABINET_PREFIX and KABINET_NO_SYSTEMD (test sandboxes).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$here/common.sh"

answers="" ask=0 release_src=""
while (($#)); do
    case "$1" in
        -h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --answers) [[ $# -ge 2 ]] || die_code 2 "--answers needs a file"; answers=$2; shift ;;
        --answers=*) answers=${1#--answers=} ;;
        --ask) ask=1 ;;
        -*) die_code 2 "unknown option: $1 (see $0 --help)" ;;
        *) [[ -z "$release_src" ]] || die_code 2 "one release at a time: $release_src, $1"; release_src=$1 ;;
    esac
    shift
done
release_src="${release_src:-$here/..}"
if [[ -n "$answers" ]]; then
    [[ -f "$answers" && -r "$answers" ]] || die_code 2 "no such answers file: $answers"
    answers="$(cd "$(dirname "$answers")" && pwd)/$(basename "$answers")"
    ((!ask)) || die_code 2 "--answers and --ask: one or the other"
fi

require_root "$@"
take_lock
trap cleanup_staging EXIT

# 0. can it work here? -------------------------------------------------------------
# Everything that can refuse does so before anything is built or written.
check_system
if [[ -e "$CONFIG_FILE" ]]; then
    if [[ -n "$answers" ]]; then
        die_code 8 "$CONFIG_FILE exists and is kept: install.sh never overwrites it. To install afresh from $answers, move it away first; to repair this installation, run install.sh without --answers."
    fi
    configure=0
else
    configure=1
    if [[ -n "$answers" ]]; then
        run_answers check --answers "$answers"
    elif ((!ask)) && [[ ! -t 0 ]]; then
        die_code 2 "no terminal to ask the questions on: give --answers FILE (see $here/answers.example) or --ask"
    fi
fi
check_disk
check_port "$answers"

stage_release "$release_src"
version="$REL_VERSION"
if ((REL_BUNDLE)); then check_bundle_sums "$REL_SRC"; fi
installed="$(current_version || true)"
if [[ -n "$installed" && "$installed" != "$version" ]]; then
    die "Kabinet $installed is installed; to move to $version use: $here/update.sh $release_src"
fi

# 1. user and packages ---------------------------------------------------------
if ((!SANDBOX)); then
    if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
        log "creating system user $SERVICE_USER"
        useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "Kabinet appliance" "$SERVICE_USER"
    fi
fi
install_system_packages

# 2. the release ---------------------------------------------------------------
mkdir -p "$RELEASES_DIR"
if [[ -x "$RELEASES_DIR/$version/venv/bin/kabinet" ]]; then
    log "release $version is already built"
else
    build_release "$version" || die "building release $version failed (see pip's output above)"
    if ((REL_BUNDLE)) && [[ -f "$release_src" ]] \
        && ! "$RELEASES_DIR/$version/venv/bin/kabinet" release verify "$release_src"; then
        rm -rf "${RELEASES_DIR:?}/$version"
        die "$release_src is not signed by the vendor; nothing was installed"
    fi
fi

# 3. config and secret key -----------------------------------------------------------
# Only the service account may read it (0600): it holds the bot token and the MIS password.
if ((SANDBOX)); then
    install -d -m 0750 "$ETC_DIR"
else
    install -d -o root -g "$SERVICE_USER" -m 0750 "$ETC_DIR"
fi
owner_login="" bot=on
if ((configure)); then
    example="$REL_SRC/config.example.toml"
    [[ -f "$example" ]] || die "the release has no config.example.toml to start $CONFIG_FILE from"
    result="$(mktemp "${TMPDIR:-/tmp}/kabinet-answers.XXXXXX")"
    mode=(--ask)
    [[ -n "$answers" ]] && mode=(--answers "$answers")
    code=0
    run_answers_with "$RELEASES_DIR/$version" configure --example "$example" --config "$CONFIG_FILE" \
        --kabinet "$RELEASES_DIR/$version/venv/bin/kabinet" --owner-out "$result" \
        --profiles "$(release_profiles "$RELEASES_DIR/$version")" "${mode[@]}" || code=$?
    if ((code)); then
        rm -f "$result"
        die_code "$code" "nothing was configured; the release stays built in $RELEASES_DIR/$version for the next try"
    fi
    owner_login="$(sed -n 's/^owner=//p' "$result")"
    bot="$(sed -n 's/^bot=//p' "$result")"
    rm -f "$result"
    ((SANDBOX)) || chown "$SERVICE_USER:$SERVICE_USER" "$CONFIG_FILE"
    # A PostgreSQL store (DATABASE_URL) is known only now: its pg_dump/pg_restore.
    install_system_packages
else
    log "keeping the existing $CONFIG_FILE (not changed)"
fi

# 4. data, schema, the first owner ------------------------------------------------------
if ((SANDBOX)); then
    install -d -m 0750 "$DATA_DIR" "$BACKUP_DIR"
else
    install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0750 "$DATA_DIR" "$BACKUP_DIR"
fi
case "$(run_answers secret-key "$DATA_DIR/secret_key")" in
    written) log "secret key written to $DATA_DIR/secret_key (mode 0600; it signs panel sessions)" ;;
    *) log "keeping the existing secret key $DATA_DIR/secret_key (not changed)" ;;
esac
((SANDBOX)) || chown "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR/secret_key"

log "bringing the database schema up to date"
kabinet_cli "$RELEASES_DIR/$version" db upgrade || die "kabinet db upgrade failed; nothing was started"
owner_password=""
if [[ -n "$owner_login" ]]; then
    # Captured, never echoed to the installer's output (which may be a log): shown below.
    made="$(kabinet_cli "$RELEASES_DIR/$version" user add "$owner_login" --role owner --name "Владелец" 2>&1)" \
        || die "the first owner $owner_login could not be created: $made"
    owner_password="${made##*password: }"
    log "created the first owner account $owner_login"
fi

# 5. log rotation, symlink, service -------------------------------------------------------
install_log_rotation "$here/kabinet.logrotate"
switch_current "$version"
install_unit "$here/kabinet.service"
if ((USE_SYSTEMD)); then
    systemctl enable kabinet.service
    # restart, not start: re-running install.sh applies a changed unit/config.
    systemctl restart kabinet.service
else
    service_stop
    service_start
fi

if ! wait_healthy "$CURRENT_LINK"; then
    where="$LOG_DIR/kabinet.log"
    ((USE_SYSTEMD)) && where="journalctl -u kabinet -n 100"
    [[ -n "$owner_password" ]] && show_once "Kabinet did not start, but the owner exists: $owner_login / $owner_password"
    die "Kabinet $version is installed but the panel does not answer; see $where"
fi

# 6. done ----------------------------------------------------------------------
log "Kabinet $version is installed and running."
log "Panel: $(panel_url "$CURRENT_LINK")"
if [[ "$bot" == off ]]; then
    warn "the bot is OFF: there is no Telegram token. Set [telegram] token in $CONFIG_FILE (and mode = \"polling\"), then restart kabinet."
fi
if [[ -n "$owner_password" ]]; then
    show_once "First owner of the panel: login $owner_login, password $owner_password
Write it down now: it is shown only this once and kept nowhere (change it in the panel)."
fi
