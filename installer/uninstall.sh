#!/usr/bin/env bash
# Remove Kabinet, as root:
#
#   sudo /opt/kabinet/current/share/installer/uninstall.sh [--purge]
#
# Stops and disables kabinet.service and removes /opt/kabinet, the unit and the
# logrotate snippet.
# The clinic's data is kept: /etc/kabinet (config), /var/lib/kabinet (the
# store and its backups), /var/log/kabinet and the kabinet user, so that a
# later install.sh picks up where this one left off.
#   --purge  also deletes those, and the user. There is no undo.
# See common.sh for KABINET_PREFIX and KABINET_NO_SYSTEMD (test sandboxes).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$here/common.sh"

main() {
    local purge=0 arg
    for arg in "$@"; do
        case "$arg" in
            --purge) purge=1 ;;
            -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
            *) die "unknown argument: $arg (usage: $0 [--purge])" ;;
        esac
    done
    require_root "$@"
    take_lock

    log "stopping the service"
    if ((USE_SYSTEMD)); then
        if [[ -e "$UNIT_FILE" ]]; then
            systemctl disable --now kabinet.service || warn "systemctl could not stop/disable kabinet.service"
        fi
    else
        service_stop
    fi
    rm -f "$UNIT_FILE" "$LOGROTATE_FILE"
    if ((USE_SYSTEMD)); then systemctl daemon-reload || true; fi

    log "removing $OPT_DIR"
    rm -rf "$OPT_DIR" "$RUN_DIR"

    if ((purge)); then
        log "purging $ETC_DIR, $DATA_DIR (including backups) and $LOG_DIR"
        rm -rf "$ETC_DIR" "$DATA_DIR" "$LOG_DIR"
        if ((!SANDBOX)) && id -u "$SERVICE_USER" >/dev/null 2>&1; then
            userdel "$SERVICE_USER" || warn "could not delete user $SERVICE_USER"
        fi
        log "Kabinet is removed, data included."
    else
        log "Kabinet is removed. Kept: $CONFIG_FILE, $DATA_DIR (backups in $BACKUP_DIR), $LOG_DIR and user $SERVICE_USER."
        log "To delete them too: uninstall.sh --purge (in the installer/ folder of any release)"
    fi
}

# Run from main, read whole before it starts: this script may itself live
# under /opt/kabinet, which it deletes.
main "$@"
