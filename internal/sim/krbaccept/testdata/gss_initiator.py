#!/usr/bin/python3
"""MIT GSSAPI initiator driven by a Go test (interop with krbaccept).

Usage: gss_initiator.py TARGET_PRINCIPAL spnego|krb5 mutual|nomutual

Credentials come from KRB5CCNAME, configuration from KRB5_CONFIG.
Protocol on stdout, one line each step:
    TOKEN <base64 or ->  COMPLETE|CONTINUE
and on stdin, one line per challenge:
    <base64>
Errors go to stderr with exit status 2.
"""
import base64
import sys

import gssapi


def main():
    target, mech_name, mutual = sys.argv[1:4]
    name = gssapi.Name(target, gssapi.NameType.kerberos_principal)
    mech = gssapi.MechType.kerberos if mech_name == "krb5" else gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
    flags = gssapi.RequirementFlag.integrity | gssapi.RequirementFlag.out_of_sequence_detection
    if mutual == "mutual":
        flags |= gssapi.RequirementFlag.mutual_authentication
    ctx = gssapi.SecurityContext(name=name, mech=mech, flags=flags, usage="initiate")

    def emit(tok):
        enc = base64.b64encode(tok).decode() if tok else "-"
        print("TOKEN %s %s" % (enc, "COMPLETE" if ctx.complete else "CONTINUE"), flush=True)

    emit(ctx.step())
    while not ctx.complete:
        line = sys.stdin.readline()
        if not line:
            return 0
        emit(ctx.step(base64.b64decode(line.strip())))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except gssapi.exceptions.GSSError as e:
        print("GSSError: %s" % e, file=sys.stderr)
        sys.exit(2)
