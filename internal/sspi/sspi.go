// Package sspi logs in to vCenter/ESXi with SessionManager.LoginBySSPI, the
// pass-through authentication esxcli offers with --passthroughauth
// (--passthroughauthpackage Negotiate|Kerberos).
//
// An Initiator produces the security tokens: on Windows the real SSPI with
// the current user's credentials (github.com/alexbrainman/sspi); elsewhere
// Kerberos via gokrb5 from a credential cache (kinit) or a keytab, speaking
// the same wire format SSPI does: SPNEGO for "Negotiate", a raw Kerberos GSS
// token for "Kerberos".
//
// Login runs the LoginBySSPI loop: it sends a token, and while the server
// answers with an SSPIChallenge fault it feeds the challenge to the
// Initiator and sends the next token, up to MaxLegs calls. Whether a real
// vCenter needs more than one leg for Kerberos is not documented; the loop
// handles one or many. If the server completes the login while the
// initiator still expected a mutual-authentication reply, the login is
// accepted (the server's identity then rests on TLS alone), as SSPI clients do.
//
// Tokens and tickets are never logged or included in errors.
package sspi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
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

// Initiator produces SSPI tokens: Step(nil) gives the first token; each
// server challenge token goes back in. done reports that the initiator needs
// no further input (a non-empty token must still be sent).
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

func (c Config) pkg() (Package, error) {
	switch c.Package {
	case "", Negotiate:
		return Negotiate, nil
	case Kerberos:
		return Kerberos, nil
	}
	return "", fmt.Errorf("sspi: unsupported package %q (want Negotiate or Kerberos)", c.Package)
}

// MaxLegs bounds the number of LoginBySSPI calls in one Login.
const MaxLegs = 10

// Errors returned by Login. Server faults are wrapped together with the
// original error, so fault.Is/fault.As still work on the result.
var (
	ErrInvalidLogin        = errors.New("sspi: login rejected (InvalidLogin)")
	ErrNoPermission        = errors.New("sspi: user is not permitted to log in (NoPermission)")
	ErrInvalidLocale       = errors.New("sspi: invalid locale (InvalidLocale)")
	ErrNotSupported        = errors.New("sspi: server does not support SSPI login (NotSupported)")
	ErrTooManyLegs         = errors.New("sspi: too many SSPI challenge legs")
	ErrUnexpectedChallenge = errors.New("sspi: server sent a challenge after the client finished")
	ErrMutualAuth          = errors.New("sspi: server's mutual-authentication reply does not verify")
)

// Login runs SessionManager.LoginBySSPI with tokens from in and returns the
// new session. The vim25 client keeps the session cookie. It does not close in.
func Login(ctx context.Context, c *vim25.Client, in Initiator, locale string) (*types.UserSession, error) {
	if c == nil || c.ServiceContent.SessionManager == nil {
		return nil, errors.New("sspi: client has no SessionManager")
	}
	tok, done, err := in.Step(nil)
	if err != nil {
		return nil, err
	}
	for leg := 1; leg <= MaxLegs; leg++ {
		if len(tok) == 0 {
			return nil, fmt.Errorf("%w: the initiator has no token to send", ErrInvalidLogin)
		}
		res, err := methods.LoginBySSPI(ctx, c, &types.LoginBySSPI{
			This:        *c.ServiceContent.SessionManager,
			Base64Token: base64.StdEncoding.EncodeToString(tok),
			Locale:      locale,
		})
		if err == nil {
			if res == nil {
				return nil, errors.New("sspi: empty LoginBySSPI response")
			}
			return &res.Returnval, nil
		}
		var ch *types.SSPIChallenge
		if _, ok := fault.As(err, &ch); ok && ch != nil {
			if done {
				return nil, ErrUnexpectedChallenge
			}
			challenge, derr := base64.StdEncoding.DecodeString(ch.Base64Token)
			if derr != nil || len(challenge) == 0 {
				return nil, fmt.Errorf("%w: undecodable SSPIChallenge token", ErrInvalidLogin)
			}
			tok, done, err = in.Step(challenge)
			if err != nil {
				return nil, err
			}
			continue
		}
		return nil, mapFault(err)
	}
	return nil, ErrTooManyLegs
}

func mapFault(err error) error {
	for _, k := range []struct {
		fault types.BaseMethodFault
		kind  error
	}{
		{&types.InvalidLogin{}, ErrInvalidLogin},
		{&types.NoPermission{}, ErrNoPermission},
		{&types.InvalidLocale{}, ErrInvalidLocale},
		{&types.NotSupported{}, ErrNotSupported},
	} {
		if fault.Is(err, k.fault) {
			return &LoginError{Kind: k.kind, Err: err}
		}
	}
	return fmt.Errorf("sspi: LoginBySSPI: %w", err)
}

// LoginError is a LoginBySSPI fault. errors.Is matches its Kind (e.g.
// ErrInvalidLogin); Unwrap returns the server's fault alone, so govmomi's
// fault.Is and fault.As reach it.
type LoginError struct {
	Kind error
	Err  error
}

func (e *LoginError) Error() string        { return e.Kind.Error() + ": " + e.Err.Error() }
func (e *LoginError) Unwrap() error        { return e.Err }
func (e *LoginError) Is(target error) bool { return target == e.Kind }
