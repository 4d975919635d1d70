#!/usr/bin/env bash
# The lint tools beyond gofmt and go vet, pinned, offline once installed:
#
#   tools/lint.sh install      install what is missing: staticcheck, deadcode and
#                              govulncheck into bin/tools, and the Go vulnerability
#                              database (built from the golang.org/x/vulndb module)
#   tools/lint.sh staticcheck  staticcheck ./... (zero findings), also as the task binaries
#                              ship (-tags nosim) and for Windows (the SSPI initiators)
#   tools/lint.sh deadcode     deadcode ./cmds/... (-test off), as built by default and
#                              with -tags nosim (what ships: mk/drp.mk's task binaries):
#                              functions a build never reaches; and deadcode -test ./...:
#                              functions not even a test reaches; less tools/deadcode.allow
#   tools/lint.sh govulncheck  govulncheck -db file://<database> ./... : fails on any
#                              advisory reachable from the project's code
#   tools/lint.sh all          install, then the three checks
#
# Each check installs what it needs first, so `make lint` works on a fresh machine.
# The database lives outside the repository, shared by every clone on the machine:
# $ESXI_USERS_CACHE, default ${XDG_CACHE_HOME:-$HOME/.cache}/esxi-users.
set -euo pipefail

STATICCHECK_VERSION=v0.8.2 # honnef.co/go/tools
DEADCODE_VERSION=v0.52.0   # golang.org/x/tools
GOVULNCHECK_VERSION=v1.9.0 # golang.org/x/vuln
# The Go vulnerability database: the module proxy serves it as a module (its
# data/osv holds the OSV entries; cmd/indexdb writes the v1 database that
# govulncheck -db file:// reads). A newer pseudo-version brings newer advisories.
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-go}
tools_bin="$root/bin/tools"

# The toolchain is go.mod's toolchain line unless the caller chose one (the
# Makefile and .ci/run export it; a machine with GOTOOLCHAIN=local in go env
# ignores the line).
want_go=$(sed -n 's/^toolchain //p' go.mod)
export GOTOOLCHAIN="${GOTOOLCHAIN:-$want_go}"

if [ -n "${ESXI_USERS_CACHE:-}" ]; then
  cache=$ESXI_USERS_CACHE
elif [ -n "${XDG_CACHE_HOME:-}" ] || [ -n "${HOME:-}" ]; then
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/esxi-users
else
  cache="$root/.cache/esxi-users"
fi
vulndb="$cache/vulndb/$VULNDB_VERSION"

log() { echo "lint: $*" >&2; }

# check_toolchain: the checks must see the toolchain the project ships with,
# or govulncheck reports the older standard library's advisories.
check_toolchain() {
  local have
  have=$("$GO" env GOVERSION)
  if [ -n "$want_go" ] && [ "$have" != "$want_go" ]; then
    log "go is $have but go.mod's toolchain is $want_go: export GOTOOLCHAIN=$want_go (the Makefile does)"
    exit 1
  fi
}

# ensure_tool NAME PACKAGE VERSION: bin/tools/NAME built from PACKAGE@VERSION
# by the current Go, installed when missing or different.
ensure_tool() {
  local name=$1 pkg=$2 version=$3 bin="$tools_bin/$1" goversion info
  goversion=$("$GO" env GOVERSION)
  if [ -x "$bin" ]; then
    info=$("$GO" version -m "$bin" 2>/dev/null || true)
    if [ "$(awk 'NR==1 {print $2}' <<<"$info")" = "$goversion" ] &&
      [ "$(awk '$1 == "mod" {print $3}' <<<"$info")" = "$version" ]; then
      return 0
    fi
  fi
  log "installing $name ($pkg@$version, $goversion) into bin/tools"
  mkdir -p "$tools_bin"
  GOBIN="$tools_bin" GOWORK=off "$GO" install "$pkg@$version"
}

# ensure_vulndb: the v1 database in $vulndb, built when missing from the
# golang.org/x/vulndb module (downloaded through the module proxy).
ensure_vulndb() {
  [ -f "$vulndb/index/modules.json" ] && return 0
  local started=$SECONDS src tmp
  log "building the Go vulnerability database $VULNDB_VERSION in $vulndb"
  mkdir -p "$cache/vulndb"
  tmp=$(mktemp -d "$cache/vulndb/.build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # Outside any module, so nothing here touches the project's go.mod or go.sum.
  src=$(cd "$tmp" && GOWORK=off "$GO" mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  if [ ! -d "$src/data/osv" ]; then
    log "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv (dir: ${src:-none})"
    exit 1
  fi
  (cd "$tmp" && GOWORK=off "$GO" run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" \
    -vulns "$src/data/osv" -out "$tmp/db")
  # Another run may have finished first; either copy is the same database.
  mv -T "$tmp/db" "$vulndb" 2>/dev/null || [ -f "$vulndb/index/modules.json" ]
  rm -rf "$tmp"
  trap - EXIT
  log "vulnerability database ready ($((SECONDS - started)) s, $(find "$vulndb/ID" -name '*.json' | wc -l) entries)"
}

install() {
  ensure_tool staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION"
  ensure_tool deadcode golang.org/x/tools/cmd/deadcode "$DEADCODE_VERSION"
  ensure_tool govulncheck golang.org/x/vuln/cmd/govulncheck "$GOVULNCHECK_VERSION"
  ensure_vulndb
}

run_staticcheck() {
  ensure_tool staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION"
  log "staticcheck $STATICCHECK_VERSION"
  "$tools_bin/staticcheck" ./...
  # The only platform-specific files are the SSPI initiators.
  GOOS=windows "$tools_bin/staticcheck" ./internal/sspi/...
  # The shipped task binary's build (-tags nosim: internal/cli without the simulator).
  "$tools_bin/staticcheck" -tags nosim ./cmds/... ./internal/cli/...
}

run_deadcode() {
  ensure_tool deadcode golang.org/x/tools/cmd/deadcode "$DEADCODE_VERSION"
  log "deadcode $DEADCODE_VERSION"
  local module found allow
  module=$("$GO" list -m)
  # The default build (the CLI with its simulator) and the shipped one
  # (-tags nosim, no simulator): a function either leaves unreached is
  # reported. Then every package with its tests (-test ./...): a function
  # no binary and no test reaches is dead even as a test helper.
  local format='{{range .Funcs}}{{$.Path}}.{{.Name}} {{.Position}}{{"\n"}}{{end}}'
  found=$(
    "$tools_bin/deadcode" -f "$format" ./cmds/...
    "$tools_bin/deadcode" -tags nosim -f "$format" ./cmds/...
    "$tools_bin/deadcode" -test -f "$format" ./...
  )
  found=$(sort -u <<<"$found")
  # tools/deadcode.allow: "<package>.<func> reason", package relative to the module.
  allow=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' tools/deadcode.allow | awk '{print $1}')
  local bad=0 fn pos
  while read -r fn pos; do
    [ -n "$fn" ] || continue
    fn=${fn#"$module/"}
    if grep -qxF -- "$fn" <<<"$allow"; then
      continue
    fi
    echo "$pos: unreachable func: $fn"
    bad=1
  done <<<"$found"
  if [ "$bad" -ne 0 ]; then
    log "dead code: remove it, move a test-only helper into a _test.go file, or list it in tools/deadcode.allow with the reason"
  fi
  # An allow entry that deadcode no longer reports is stale.
  for fn in $allow; do
    if ! grep -qF -- "$module/$fn " <<<"$found"; then
      log "tools/deadcode.allow: $fn is no longer reported; remove the line"
      bad=1
    fi
  done
  [ "$bad" -eq 0 ]
}

run_govulncheck() {
  ensure_tool govulncheck golang.org/x/vuln/cmd/govulncheck "$GOVULNCHECK_VERSION"
  ensure_vulndb
  log "govulncheck $GOVULNCHECK_VERSION, database $VULNDB_VERSION"
  "$tools_bin/govulncheck" -db "file://$vulndb" ./...
}

cmd=${1:-all}
case $cmd in
install) install ;;
staticcheck) check_toolchain; run_staticcheck ;;
deadcode) check_toolchain; run_deadcode ;;
govulncheck) check_toolchain; run_govulncheck ;;
all)
  check_toolchain
  install
  run_staticcheck
  run_deadcode
  run_govulncheck
  ;;
*)
  echo "usage: $0 [install|staticcheck|deadcode|govulncheck|all]" >&2
  exit 2
  ;;
esac
