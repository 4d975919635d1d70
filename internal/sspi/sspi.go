// Package sspi logs in to vCenter/ESXi with SessionManager.LoginBySSPI, the
// pass-through authentication esxcli offers with --passthroughauth
// (--passthroughauthpackage Negotiate|Kerberos).
//
// An Initiator produces the security tokens: on Windows the real SSPI with
// the current user's credentials (github.com/alexbrainman/sspi); elsewhere
// Kerberos via gokrb5 from a credential cache (kinit) or a keytab, speaking
// the same wire format SSPI does: SPNEGO (RFC 4178) for "Negotiate", a raw
// Kerberos GSS token (RFC 4121) for "Kerberos".
//
// # The challenge loop
//
// Exchange is the one SSPI challenge loop, shared by Login (LoginBySSPI and
// its SSPIChallenge fault) and internal/guestauth (AcquireCredentialsInGuest
// and GuestAuthenticationChallenge). It sends a token; while the server
// answers with a challenge it feeds the challenge's token to the Initiator
// and sends the next token, up to MaxLegs calls. Whether a real vCenter needs
// more than one leg for Kerberos is not documented; the loop handles one or
// many. It follows what the SSPI documentation says a client does with the
// status of InitializeSecurityContext (ISC; "InitializeSecurityContext
// (Kerberos)", Microsoft Learn):
//
//   - SEC_I_CONTINUE_NEEDED: "the client must send the output token to the
//     server and wait for a return token … The output token can be empty."
//   - SEC_E_OK with an output token: "that token must be sent to the
//     server". So a challenge that completes the context (the acceptor's
//     AP-REP, a SPNEGO accept-completed reply) is answered with the output,
//     even an empty one: the server's challenge means it waits for another
//     call, as in Microsoft's .NET NegotiateStream protocol, whose client
//     sends its final output token, possibly empty, with the HandshakeDone
//     message ([MS-NNS] 3.1.5.1) when the server's message said the
//     handshake was still in progress.
//   - SEC_E_OK, then another challenge: "If the return code is SEC_E_OK,
//     there will be no second InitializeSecurityContext (Kerberos) call,
//     and no response from the server is expected", and calling it again on
//     a completed context "indicates to the security package that a
//     reauthentication is wanted". [MS-NNS] 3.1.5.4 makes any
//     in-progress message after completion invalid: the authentication
//     fails. Exchange fails with ErrUnexpectedChallenge.
//   - The server completes the login while the initiator still expected the
//     acceptor's mutual-authentication reply (LoginBySSPI cannot return a
//     final token): the login is accepted; the server's identity then rests
//     on TLS alone, as for SSPI clients whose context never saw the reply.
//
// There is no token of this project's own design: a raw Kerberos context is
// complete once the initiator has verified the acceptor's AP-REP (RFC 4121
// has no third token); SPNEGO adds only its standard mechListMIC exchange.
//
// Tokens and tickets are never logged or included in errors.
package sspi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/vfault"
)

// Package is the SSPI security package.
type Package string

// Security packages.
const (
	Negotiate Package = "Negotiate" // SPNEGO wrapping Kerberos (the default)
	Kerberos  Package = "Kerberos"  // raw Kerberos GSS token
)

// DefaultSPNService is the service part of the default SPN (host/<server>).
const DefaultSPNService = "host"

// Initiator produces SSPI tokens, like InitializeSecurityContext: Step(nil)
// gives the first token; each server challenge token goes back in. done
// reports that the security context is complete (SEC_E_OK); a token returned
// with done=true, even an empty one, still answers the challenge it came
// from (see Exchange).
type Initiator interface {
	Step(challenge []byte) (token []byte, done bool, err error)
	Close() error
}

// Config selects credentials and the target for NewInitiator.
type Config struct {
	// Package is Negotiate (default) or Kerberos.
	Package Package
	// SPN is the server's service principal, e.g. "host/vc.example.com"
	// (commonly host/<vCenter FQDN>; see SPNFor). Without "@REALM".
	SPN string
	// CCache is the credential cache (KRB5CCNAME syntax, FILE: only); ""
	// uses $KRB5CCNAME, then /tmp/krb5cc_<uid>. Not used on Windows.
	CCache string
	// Keytab and Principal log in from a keytab instead of a cache
	// ("user" or "user@REALM"). Not used on Windows.
	Keytab, Principal string
	// Krb5Conf is the krb5.conf path; "" uses $KRB5_CONFIG, then
	// /etc/krb5.conf. Not used on Windows.
	Krb5Conf string
	// NoMutual drops the mutual-authentication request. By default the
	// initiator asks for it, so the server may answer with a second leg.
	NoMutual bool
}

// SPNFor returns the default SPN for a server host name: "host/<host>".
func SPNFor(host string) string { return DefaultSPNService + "/" + host }

// LoginClient logs c in with LoginBySSPI using the caller's credentials as
// c describes (SPN default: SPNFor the client's host), answering every
// SSPIChallenge, and returns the session. Errors name the package and SPN.
func (c Config) LoginClient(ctx context.Context, vc *vim25.Client) (*types.UserSession, error) {
	c = c.For(vc.URL().Hostname())
	in, err := NewInitiator(c)
	if err != nil {
		return nil, fmt.Errorf("SSPI pass-through (%s, SPN %s): %w", c.Package, c.SPN, err)
	}
	defer in.Close()
	us, err := Login(ctx, vc, in, "")
	if err != nil {
		return nil, fmt.Errorf("SSPI pass-through (%s, SPN %s): %w", c.Package, c.SPN, err)
	}
	return us, nil
}

// For is c with its defaults filled in for a server host: the package
// Negotiate, the SPN SPNFor(host).
func (c Config) For(host string) Config {
	if c.SPN == "" {
		c.SPN = SPNFor(host)
	}
	if c.Package == "" {
		c.Package = Negotiate
	}
	return c
}

// check is what every NewInitiator checks first: the package (Negotiate
// when empty) and an SPN without @REALM.
func (c Config) check() (Package, error) {
	var pkg Package
	switch c.Package {
	case "", Negotiate:
		pkg = Negotiate
	case Kerberos:
		pkg = Kerberos
	default:
		return "", fmt.Errorf("sspi: unsupported package %q (want Negotiate or Kerberos)", c.Package)
	}
	if c.SPN == "" {
		return "", errors.New("sspi: no SPN")
	}
	if strings.Contains(c.SPN, "@") {
		return "", errors.New("sspi: SPN must not contain @REALM")
	}
	return pkg, nil
}

// MaxLegs bounds the calls of one Exchange.
const MaxLegs = 10

// Errors of Login and Exchange. A server fault comes back as a
// *vfault.Error (the project's fault table): errors.Is matches its row
// (vfault.InvalidLogin, vfault.NoPermission, vfault.InvalidLocale,
// vfault.NotSupported: the faults LoginBySSPI's reference lists), and
// fault.Is/fault.As still reach the fault.
var (
	ErrTooManyLegs         = errors.New("sspi: too many SSPI challenge legs")
	ErrUnexpectedChallenge = errors.New("sspi: server sent a challenge after the security context was complete")
	ErrMutualAuth          = errors.New("sspi: server's mutual-authentication reply does not verify")
	ErrNoToken             = errors.New("sspi: the initiator produced no first token")
)

// Exchange is one SSPI conversation over a vSphere method that answers each
// token with success or with a challenge fault (see the package
// documentation for the rules it follows).
type Exchange struct {
	// Send makes one call with token. A nil error means the server
	// completed the exchange.
	Send func(ctx context.Context, token []byte) error
	// Challenge recognises a challenge in Send's error: it returns the
	// challenge's token, or ok=false and the error Run returns (the
	// server's fault, mapped as the caller likes; or why the challenge is
	// unusable).
	Challenge func(err error) (token []byte, ok bool, final error)
	// MaxLegs bounds the calls; default MaxLegs.
	MaxLegs int
}

// Run drives in through the exchange and returns the number of calls made.
// Initiator errors are returned as they are.
func (x Exchange) Run(ctx context.Context, in Initiator) (int, error) {
	max := x.MaxLegs
	if max <= 0 {
		max = MaxLegs
	}
	tok, done, err := in.Step(nil)
	if err != nil {
		return 0, err
	}
	if len(tok) == 0 {
		return 0, ErrNoToken
	}
	for leg := 1; leg <= max; leg++ {
		err := x.Send(ctx, tok)
		if err == nil {
			return leg, nil
		}
		challenge, ok, final := x.Challenge(err)
		if !ok {
			return leg, final
		}
		if done {
			return leg, ErrUnexpectedChallenge
		}
		if tok, done, err = in.Step(challenge); err != nil {
			return leg, err
		}
	}
	return max, ErrTooManyLegs
}

// Login runs SessionManager.LoginBySSPI with tokens from in and returns the
// new session. The vim25 client keeps the session cookie. It does not close in.
func Login(ctx context.Context, c *vim25.Client, in Initiator, locale string) (*types.UserSession, error) {
	if c == nil || c.ServiceContent.SessionManager == nil {
		return nil, errors.New("sspi: client has no SessionManager")
	}
	var us *types.UserSession
	x := Exchange{
		Send: func(ctx context.Context, tok []byte) error {
			res, err := methods.LoginBySSPI(ctx, c, &types.LoginBySSPI{
				This:        *c.ServiceContent.SessionManager,
				Base64Token: base64.StdEncoding.EncodeToString(tok),
				Locale:      locale,
			})
			if err == nil {
				if res == nil {
					return errors.New("sspi: empty LoginBySSPI response")
				}
				us = &res.Returnval
			}
			return err
		},
		Challenge: func(err error) ([]byte, bool, error) {
			var ch *types.SSPIChallenge
			if _, ok := fault.As(err, &ch); !ok || ch == nil {
				return nil, false, fmt.Errorf("sspi: LoginBySSPI: %w", vfault.Describe(err))
			}
			tok, derr := base64.StdEncoding.DecodeString(ch.Base64Token)
			if derr != nil || len(tok) == 0 {
				return nil, false, fmt.Errorf("%w: undecodable SSPIChallenge token", vfault.InvalidLogin)
			}
			return tok, true, nil
		},
	}
	if _, err := x.Run(ctx, in); err != nil {
		return nil, err
	}
	return us, nil
}
