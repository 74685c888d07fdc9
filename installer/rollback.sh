#!/usr/bin/env bash
# Go back to the release before the last good update, as root:
#
#   sudo /opt/kabinet/current/venv/bin/kabinet rollback
#   (or: sudo /opt/kabinet/current/share/installer/rollback.sh)
#
#   1. stops the service
#   2. if the two releases' schemas differ, restores the backup that update.sh took just
#      before the update (with the previous release's `kabinet restore`, which keeps what
#      it replaces in backups/before-restore/): what changed since the update is lost
#   3. points /opt/kabinet/current at the previous release, starts it, checks health
#   4. sets the release it left aside in releases/failed/: it never counts as "previous"
# There is one step back: afterwards there is no previous release until the next update.
# See common.sh for KABINET_PREFIX and KABINET_NO_SYSTEMD (test sandboxes).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$here/common.sh"

main() {
    case "${1:-}" in
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        "") ;;
        *) die "unknown argument: $1 (usage: $0)" ;;
    esac
    require_root "$@"
    take_lock
    local cur prev cur_rel prev_rel backup="" from=""
    cur="$(current_version)" || die "Kabinet is not installed here ($CURRENT_LINK missing)"
    prev="$(previous_version)" || die "there is no previous release to go back to (none kept since the last update or rollback)"
    cur_rel="$RELEASES_DIR/$cur"
    prev_rel="$RELEASES_DIR/$prev"
    [[ -x "$prev_rel/venv/bin/kabinet" ]] || die "the previous release $prev is broken (no $prev_rel/venv/bin/kabinet)"
    if [[ -f "$cur_rel/UPDATED_FROM" ]]; then
        from="$(sed -n 's/^from=//p' "$cur_rel/UPDATED_FROM")"
        backup="$(sed -n 's/^backup=//p' "$cur_rel/UPDATED_FROM")"
    fi
    [[ "$from" == "$prev" ]] || backup=""
    # Same schema head on both sides: the data stays as it is. Otherwise (or unknown) the
    # previous release cannot open the store, so it goes back to the pre-update backup.
    local need_restore=1
    if [[ -s "$cur_rel/SCHEMA" && -s "$prev_rel/SCHEMA" ]] && cmp -s "$cur_rel/SCHEMA" "$prev_rel/SCHEMA"; then
        need_restore=0
    fi
    if ((need_restore)) && [[ -z "$backup" || ! -f "$backup" ]]; then
        die "$cur changed the schema and the backup taken before the update from $prev is gone; restore a backup made by $prev by hand"
    fi

    log "rolling back $cur -> $prev"
    service_stop || die "could not stop the service; nothing changed"
    if ((need_restore)); then
        log "restoring $backup (taken before the update to $cur; later changes are lost)"
        kabinet_cli "$prev_rel" restore --yes "$backup" \
            || { service_start || true; die "restoring $backup failed; $cur started again"; }
    fi
    switch_current "$prev"
    set_previous ""
    install_unit "$(if [[ -f "$prev_rel/share/installer/kabinet.service" ]]; then echo "$prev_rel/share/installer/kabinet.service"; else echo "$here/kabinet.service"; fi)"
    service_start || die "could not start $prev"
    wait_healthy "$prev_rel" || die "rolled back to $prev, but it does not answer healthy; see $LOG_DIR/kabinet.log or journalctl -u kabinet"
    set_aside_failed "$cur"
    log "Kabinet is back at $prev (was $cur)."
}

# Everything runs from main, read whole first: the script may live in the release it sets aside.
main "$@"
