//go:build windows

package sspi

import (
	"errors"
	"fmt"

	winsspi "github.com/alexbrainman/sspi"
	"github.com/alexbrainman/sspi/kerberos"
	"github.com/alexbrainman/sspi/negotiate"
)

// winInitiator uses Windows SSPI with the current user's logon credentials,
// as esxcli --passthroughauth does.
type winInitiator struct {
	pkg   Package
	spn   string
	flags uint32
	cred  *winsspi.Credentials
	neg   *negotiate.ClientContext
	krb   *kerberos.ClientContext
	state int // 0 initial, 1 in progress, 2 done
}

// NewInitiator returns an SSPI initiator for the current Windows user.
// CCache, Keytab, Principal and Krb5Conf do not apply on Windows.
func NewInitiator(cfg Config) (Initiator, error) {
	pkg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if cfg.Keytab != "" || cfg.CCache != "" {
		return nil, errors.New("sspi: keytabs and credential caches are not used on Windows (SSPI uses the logged-on user)")
	}
	flags := uint32(winsspi.ISC_REQ_CONNECTION | winsspi.ISC_REQ_INTEGRITY)
	if !cfg.NoMutual {
		flags |= winsspi.ISC_REQ_MUTUAL_AUTH
	}
	var cred *winsspi.Credentials
	if pkg == Kerberos {
		cred, err = kerberos.AcquireCurrentUserCredentials()
	} else {
		cred, err = negotiate.AcquireCurrentUserCredentials()
	}
	if err != nil {
		return nil, fmt.Errorf("sspi: acquiring %s credentials of the current user: %w", pkg, err)
	}
	return &winInitiator{pkg: pkg, spn: cfg.SPN, flags: flags, cred: cred}, nil
}

func (w *winInitiator) Step(challenge []byte) ([]byte, bool, error) {
	if w.cred == nil {
		return nil, false, errors.New("sspi: initiator closed")
	}
	switch w.state {
	case 0:
		if len(challenge) != 0 {
			return nil, false, errors.New("sspi: first Step takes no challenge")
		}
		w.state = 1
		if w.pkg == Kerberos {
			ctx, done, tok, err := kerberos.NewClientContextWithFlags(w.cred, w.spn, w.flags)
			if err != nil {
				return nil, false, fmt.Errorf("sspi: InitializeSecurityContext (Kerberos): %w", err)
			}
			w.krb = ctx
			if done {
				w.state = 2
			}
			return tok, done, nil
		}
		ctx, tok, err := negotiate.NewClientContextWithFlags(w.cred, w.spn, w.flags)
		if err != nil {
			return nil, false, fmt.Errorf("sspi: InitializeSecurityContext (Negotiate): %w", err)
		}
		w.neg = ctx
		return tok, false, nil
	case 1:
		if len(challenge) == 0 {
			return nil, false, errors.New("sspi: Step needs the server's challenge")
		}
		var (
			done bool
			tok  []byte
			err  error
		)
		if w.krb != nil {
			done, tok, err = w.krb.Update(challenge)
		} else {
			done, tok, err = w.neg.Update(challenge)
		}
		if err != nil {
			w.state = 2
			return nil, false, fmt.Errorf("%w: InitializeSecurityContext: %w", ErrMutualAuth, err)
		}
		if done {
			w.state = 2
		}
		return tok, done, nil
	}
	return nil, false, ErrUnexpectedChallenge
}

func (w *winInitiator) Close() error {
	var errs []error
	if w.neg != nil {
		errs = append(errs, w.neg.Release())
		w.neg = nil
	}
	if w.krb != nil {
		errs = append(errs, w.krb.Release())
		w.krb = nil
	}
	if w.cred != nil {
		errs = append(errs, w.cred.Release())
		w.cred = nil
	}
	return errors.Join(errs...)
}
