#!/usr/bin/env bash
# First installation of Kabinet on a Debian/Ubuntu server, as root:
#
#   sudo installer/install.sh [BUNDLE.tar | RELEASE_TARBALL_OR_DIR]
#
# The release defaults to the source tree this script sits in. A signed bundle
# (`make release`) installs from its own wheels with no network; its checksums are
# checked first and its signature by the release once built. Steps:
#   1. system user "kabinet", run-time packages (unixODBC + drivers, libfbclient2)
#   2. /opt/kabinet/releases/<version>/venv and the /opt/kabinet/current symlink
#   3. /etc/kabinet/config.toml from config.example.toml, if there is none
#   4. /var/lib/kabinet (data) and /var/lib/kabinet/backups
#   5. `kabinet db upgrade`, then kabinet.service enabled and started
#   6. prints the panel's address
#
# Running it again with the same release repairs the installation (missing
# directories, unit file, service state) and changes nothing else; use
# update.sh to move to another release. See common.sh for KABINET_PREFIX and
# KABINET_NO_SYSTEMD (test sandboxes).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$here/common.sh"

case "${1:-}" in
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
release_src="${1:-$here/..}"

require_root "$@"
take_lock
trap cleanup_staging EXIT

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

# 3. config --------------------------------------------------------------------
# Readable by the service's group, not by everyone: it holds the bot token and
# the MIS password.
if ((SANDBOX)); then
    install -d -m 0750 "$ETC_DIR"
else
    install -d -o root -g "$SERVICE_USER" -m 0750 "$ETC_DIR"
fi
if [[ ! -e "$CONFIG_FILE" ]]; then
    example="$REL_SRC/config.example.toml"
    [[ -f "$example" ]] || die "the release has no config.example.toml to start $CONFIG_FILE from"
    if ((SANDBOX)); then
        install -m 0640 "$example" "$CONFIG_FILE"
    else
        install -o root -g "$SERVICE_USER" -m 0640 "$example" "$CONFIG_FILE"
    fi
    created_config=1
    log "created $CONFIG_FILE from config.example.toml: fill in the clinic's settings"
else
    created_config=0
    log "keeping the existing $CONFIG_FILE"
fi

# 4. data ----------------------------------------------------------------------
if ((SANDBOX)); then
    install -d -m 0750 "$DATA_DIR" "$BACKUP_DIR"
else
    install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0750 "$DATA_DIR" "$BACKUP_DIR"
fi

# 5. schema, symlink, service ----------------------------------------------------
log "bringing the database schema up to date"
kabinet_cli "$RELEASES_DIR/$version" db upgrade || die "kabinet db upgrade failed; nothing was started"
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
    ((created_config)) && warn "$CONFIG_FILE was just created from the example: fill it in, then restart kabinet"
    die "Kabinet $version is installed but the panel does not answer; see $where"
fi

# 6. done ----------------------------------------------------------------------
log "Kabinet $version is installed and running."
log "Panel: $(panel_url "$CURRENT_LINK")"
if ((created_config)); then
    log "Edit $CONFIG_FILE, then: systemctl restart kabinet"
fi
