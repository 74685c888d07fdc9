#!/usr/bin/env bash
# Move an installed Kabinet to another release, as root:
#
#   sudo /opt/kabinet/current/share/installer/update.sh BUNDLE.tar
#   (the same as: sudo /opt/kabinet/current/venv/bin/kabinet update BUNDLE.tar)
#
# A signed bundle (`make release`) goes through the installed release's `kabinet update`,
# which checks its signature and checksums and the upgrade path before anything is touched,
# then runs the bundle's own update.sh on the checked copy (--verified DIR). A source
# directory or tarball (for developers) is built as it is, unsigned. Then:
#   1. builds the new release beside the running one (releases/<new>); the
#      service keeps running meanwhile, and a failure here changes nothing
#   2. stops the service and takes a backup with the running release's
#      `kabinet backup` (stopped, so no write lands after the backup)
#   3. `kabinet db upgrade` from the new release
#   4. switches /opt/kabinet/current, installs the new unit file, starts
#   5. polls /healthz for up to 60 s (KABINET_HEALTH_TIMEOUT)
# If any step from 2 on fails, it restores the backup (`kabinet restore --yes`
# of the old release), switches the symlink back, starts the old release and exits
# non-zero saying what happened; the failed release goes to releases/failed/. On success
# /opt/kabinet/previous points at the old release (for rollback.sh) and the last
# KABINET_KEEP_RELEASES (3) releases are kept. See common.sh for KABINET_PREFIX and
# KABINET_NO_SYSTEMD (test sandboxes).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$here/common.sh"

old=""
new=""
backup_file=""
db_touched=0

# The unit file that goes with a release: the one it ships, else ours.
unit_template() {
    local shipped="$RELEASES_DIR/$1/share/installer/kabinet.service"
    if [[ -f "$shipped" ]]; then echo "$shipped"; else echo "$here/kabinet.service"; fi
}

# `kabinet backup` writes a file under /var/lib/kabinet/backups and prints its
# path; if the path is not on its last line, take the file it just created.
take_backup() {
    local rel=$1 marker out last
    marker="$STAGING/.before-backup"
    touch "$marker"
    out="$(kabinet_cli "$rel" backup)" || return 1
    last="$(printf '%s\n' "$out" | awk 'NF {line = $0} END {print line}')"
    last="${last#"${last%%[![:space:]]*}"}"
    if [[ -n "$last" && "$last" != /* ]]; then last="$DATA_DIR/$last"; fi
    if [[ -n "$last" && -f "$last" ]]; then
        backup_file="$last"
    else
        backup_file="$(find "$BACKUP_DIR" -type f -newer "$marker" -printf '%T@ %p\n' 2>/dev/null \
            | sort -rn | head -n 1 | cut -d' ' -f2-)"
    fi
    [[ -n "$backup_file" && -f "$backup_file" ]]
}

# Undo everything after the point where the running service was stopped, then
# exit non-zero. Each step is attempted even if an earlier one failed.
rollback() {
    local reason=$1 old_rel="$RELEASES_DIR/$old" problems=()
    warn "update $old -> $new failed: $reason"
    warn "rolling back to $old"
    service_stop || problems+=("could not stop the new release")
    if ((db_touched)); then
        if kabinet_cli "$old_rel" restore --yes "$backup_file"; then
            log "restored the database from $backup_file"
        else
            problems+=("restoring $backup_file failed: run '$old_rel/venv/bin/kabinet restore --yes $backup_file' as $SERVICE_USER")
        fi
    fi
    switch_current "$old" || problems+=("could not point $CURRENT_LINK back at releases/$old")
    install_unit "$(unit_template "$old")" || problems+=("could not reinstall the unit of $old")
    if service_start && wait_healthy "$old_rel"; then
        log "Kabinet $old is running again"
    else
        problems+=("$old did not come back healthy")
    fi
    if ((${#problems[@]})); then
        printf 'kabinet: ROLLBACK INCOMPLETE: %s\n' "${problems[@]}" >&2
    fi
    set_aside_failed "$new" || true
    die "update to $new FAILED ($reason); rolled back to $old. Backup: ${backup_file:-none}. The failed release is kept in $FAILED_DIR for inspection."
}

# A bundle file goes to the installed release's `kabinet update`, which verifies it and
# calls back with --verified. Its environment carries the sandbox knobs through.
delegate_bundle() {
    local bundle=$1 cur="$CURRENT_LINK/venv/bin/kabinet"
    [[ -x "$cur" ]] || die "Kabinet is not installed here ($cur missing); use install.sh"
    "$cur" update --help >/dev/null 2>&1 \
        || die "the installed Kabinet $(current_version || echo '?') cannot check a signed bundle; update it from its source first"
    exec env "KABINET_CONFIG=$CONFIG_FILE" "$cur" update "$bundle"
}

main() {
    local verified=0
    case "${1:-}" in
        -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        "") die "usage: $0 BUNDLE.tar | RELEASE_DIR" ;;
        --verified) verified=1; shift ;;
    esac
    require_root "$@"
    # No `tar | grep -q`: grep's early exit would fail the pipe (pipefail) and skip this.
    if ((!verified)) && [[ -f "$1" ]] && [[ "$(tar -tf "$1" 2>/dev/null || true)" =~ (^|$'\n')[^/]*/manifest\.sig($'\n'|$) ]]; then
        delegate_bundle "$1"
    fi
    take_lock
    trap cleanup_staging EXIT

    old="$(current_version)" || die "Kabinet is not installed here ($CURRENT_LINK missing); use install.sh"
    [[ -x "$RELEASES_DIR/$old/venv/bin/kabinet" ]] || die "the current release $old is broken (no $RELEASES_DIR/$old/venv/bin/kabinet)"
    stage_release "$1"
    new="$REL_VERSION"
    if ((verified)); then
        ((REL_BUNDLE)) || die "--verified needs an unpacked bundle"
        check_bundle_sums "$REL_SRC"
    elif ((REL_BUNDLE)); then
        # An unpacked bundle given by hand would skip the signature check.
        die "$1 is a release bundle: update with '$CURRENT_LINK/venv/bin/kabinet update BUNDLE.tar', which checks its signature"
    fi
    if [[ "$new" == "$old" ]]; then
        log "Kabinet $old is already installed; nothing to do"
        exit 0
    fi
    log "updating Kabinet $old -> $new"

    # 1. Build beside the running release; nothing live is touched yet.
    install_system_packages
    build_release "$new" || die "building release $new failed (see pip's output above); $old keeps running, nothing changed"

    # What is fine now must still be fine after (installer/health_gate.py).
    HEALTH_BASELINE="$STAGING/health-before.json"
    kabinet_cli "$RELEASES_DIR/$old" status --json >"$HEALTH_BASELINE" 2>/dev/null || true

    # 2. Stop and back up. A failed backup only needs the old service started again.
    log "stopping the service"
    service_stop || die "could not stop the service; nothing changed"
    log "backing up"
    if ! take_backup "$RELEASES_DIR/$old"; then
        service_start || true
        die "kabinet backup failed; nothing changed, $old started again"
    fi
    log "backup: $backup_file"

    # 3-5. From here on any failure rolls back.
    db_touched=1
    kabinet_cli "$RELEASES_DIR/$new" db upgrade || rollback "kabinet db upgrade"
    switch_current "$new" || rollback "switching $CURRENT_LINK"
    install_unit "$(unit_template "$new")" || rollback "installing the unit file"
    service_start || rollback "starting the service"
    wait_healthy "$RELEASES_DIR/$new" || rollback "health check"

    set_previous "$old"
    printf 'from=%s\nbackup=%s\n' "$old" "$backup_file" >"$RELEASES_DIR/$new/UPDATED_FROM"
    prune_releases
    log "Kabinet is now at $new (was $old). Backup taken before the update: $backup_file"
    log "To go back to $old: $CURRENT_LINK/venv/bin/kabinet rollback"
    log "Panel: $(panel_url "$CURRENT_LINK")"
}

# Everything runs from main, which bash has read whole before it starts: the
# script may live in a release directory that this update switches away from.
main "$@"
