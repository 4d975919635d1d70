#!/usr/bin/python3
"""MIT GSSAPI acceptor driven by a Go test (krbtest.MITAcceptor).

Usage: gss_acceptor.py SERVICE_PRINCIPAL   (e.g. host/esx.test@ESXI.TEST)

The service key comes from the keytab in KRB5_KTNAME, the configuration
from KRB5_CONFIG. One security context: on stdin, one initiator token per
line (base64); on stdout, one line per token:
    TOKEN <base64 output token or -> CONTINUE
    TOKEN <base64 output token or -> COMPLETE <initiator principal>
GSS errors go to stderr with exit status 2. Tokens are never printed
anywhere else.
"""
import base64
import sys

import gssapi


def main():
    name = gssapi.Name(sys.argv[1], gssapi.NameType.kerberos_principal)
    creds = gssapi.Credentials(name=name, usage="accept")
    ctx = gssapi.SecurityContext(creds=creds, usage="accept")
    for line in sys.stdin:
        out = ctx.step(base64.b64decode(line.strip()))
        enc = base64.b64encode(out).decode() if out else "-"
        if ctx.complete:
            print("TOKEN %s COMPLETE %s" % (enc, ctx.initiator_name), flush=True)
            return 0
        print("TOKEN %s CONTINUE" % enc, flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except gssapi.exceptions.GSSError as e:
        print("GSSError: %s" % e, file=sys.stderr)
        sys.exit(2)
