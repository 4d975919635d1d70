#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, only when missing:
#   passwdqc          pwqcheck, the oracle for the password-policy tests
#   libpasswdqc1      the library whose word list tools/passwdqc-wordlist reads
#   curl              the Go-agent scripts' HTTP client (their end-to-end tests)
#   krb5-kdc, krb5-admin-server, krb5-user
#                     a real MIT KDC, kadmin.local and kinit for the SSPI tests
#   python3-gssapi    MIT GSSAPI as a third-party initiator and acceptor (interop tests)
#   python3-pyvmomi   VMware's pyVmomi as a third-party vSphere client (the
#                     simulator's conformance suite, internal/sim/esxsim)
#   ansible           Ansible with community.vmware, whose lockdown modules are
#                     run against the simulated vCenter (internal/sim/esxsim)
# downloads the Go modules, and installs the lint tools (tools/lint.sh install:
# staticcheck, deadcode and govulncheck into bin/tools, the Go vulnerability
# database into the user's cache). Safe to run again. apt waits (up to
# APT_LOCK_WAIT seconds, default 600) while another apt or dpkg holds its lock
# (tools/apt-install.sh).
set -euo pipefail

missing=()
command -v pwqcheck >/dev/null 2>&1 || missing+=(passwdqc)
compgen -G '/usr/lib/*-linux-gnu*/libpasswdqc.so.1' >/dev/null || missing+=(libpasswdqc1)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v krb5kdc >/dev/null 2>&1 || [ -x /usr/sbin/krb5kdc ] || missing+=(krb5-kdc)
command -v kadmin.local >/dev/null 2>&1 || [ -x /usr/sbin/kadmin.local ] || missing+=(krb5-admin-server)
command -v kinit >/dev/null 2>&1 || missing+=(krb5-user)
/usr/bin/python3 -c 'import gssapi' >/dev/null 2>&1 || missing+=(python3-gssapi)
/usr/bin/python3 -c 'import pyVmomi, pyVim.connect' >/dev/null 2>&1 || missing+=(python3-pyvmomi)
[ -x /usr/bin/ansible-playbook ] || missing+=(ansible)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${missing[*]}"
  # Waits (bounded) while another apt or dpkg holds its lock.
  "$(dirname "$0")/apt-install.sh" "${missing[@]}"
fi

# The toolchain in go.mod (the Makefile exports it; so does this script when
# run alone), fetched from the module proxy on first use.
export GOTOOLCHAIN="${GOTOOLCHAIN:-$(sed -n 's/^toolchain //p' "$(dirname "$0")/../go.mod")}"
go mod download
"$(dirname "$0")/lint.sh" install
