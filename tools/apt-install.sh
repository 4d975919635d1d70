#!/usr/bin/env bash
# apt-install.sh PACKAGE...: apt-get update, then apt-get install PACKAGE...
# (Debian; sudo when not root), waiting while another apt or dpkg holds
# their locks — unattended-upgrades after boot, another session's install —
# for up to APT_LOCK_WAIT seconds in all (default 600), then failing with
# apt's own message. apt-get update does not wait for the lists lock (apt
# 2.6: DPkg::Lock::Timeout is for the dpkg lock only), so each command is
# tried again every 3 s while its error is a lock another process holds; any
# other error fails at once. Called by install-test-deps.sh.
set -euo pipefail

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
wait_total="${APT_LOCK_WAIT:-600}"
deadline=$((SECONDS + wait_total))

# apt_get ARGS...: apt-get ARGS (its stdout as it is), again while a lock is
# held by another process, until the deadline.
apt_get() {
  local err said=""
  err="$(mktemp)"
  while true; do
    if $sudo apt-get "$@" 2>"$err"; then
      rm -f "$err"
      return 0
    fi
    if ! grep -q 'Could not get lock' "$err" || [ "$SECONDS" -ge "$deadline" ]; then
      cat "$err" >&2
      rm -f "$err"
      return 1
    fi
    if [ -z "$said" ]; then
      echo "apt-install: waiting for another apt or dpkg to finish (apt-get $1: $(grep -m1 'Could not get lock' "$err" | sed 's/^E: //')); up to ${wait_total} s in all" >&2
      said=1
    fi
    sleep 3
  done
}

[ $# -gt 0 ] || { echo "usage: apt-install.sh PACKAGE..." >&2; exit 2; }
apt_get update -qq
apt_get install -y -qq --no-install-recommends "$@" >/dev/null
