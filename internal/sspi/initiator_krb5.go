//go:build !windows

package sspi

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/esxi-users/esxi-users/internal/krbaccept/gss"
)

// krb5Initiator speaks SSPI's wire format with gokrb5 credentials.
type krb5Initiator struct {
	pkg    Package
	spn    string
	mutual bool
	cl     *client.Client

	state        int // 0 initial, 1 awaiting reply, 2 done
	sessionKey   types.EncryptionKey
	auth         types.Authenticator
	mechTypesDER []byte
}

// NewInitiator returns a Kerberos initiator using a credential cache or a keytab.
func NewInitiator(cfg Config) (Initiator, error) {
	pkg, err := cfg.pkg()
	if err != nil {
		return nil, err
	}
	if cfg.SPN == "" {
		return nil, errors.New("sspi: no SPN")
	}
	if strings.Contains(cfg.SPN, "@") {
		return nil, errors.New("sspi: SPN must not contain @REALM")
	}
	confPath := cfg.Krb5Conf
	if confPath == "" {
		confPath = os.Getenv("KRB5_CONFIG")
	}
	if confPath == "" {
		confPath = "/etc/krb5.conf"
	}
	kcfg, err := config.Load(confPath)
	if err != nil {
		return nil, fmt.Errorf("sspi: loading %s: %w", confPath, err)
	}
	var cl *client.Client
	if cfg.Keytab != "" {
		kt, err := keytab.Load(cfg.Keytab)
		if err != nil {
			return nil, fmt.Errorf("sspi: loading keytab: %w", err)
		}
		user, realm := cfg.Principal, kcfg.LibDefaults.DefaultRealm
		if i := strings.LastIndex(user, "@"); i >= 0 {
			user, realm = user[:i], user[i+1:]
		}
		if user == "" {
			return nil, errors.New("sspi: Keytab needs Principal")
		}
		cl = client.NewWithKeytab(user, realm, kt, kcfg, client.DisablePAFXFAST(true))
		if err := cl.Login(); err != nil {
			return nil, fmt.Errorf("sspi: keytab login for %s@%s: %w", user, realm, err)
		}
	} else {
		path := cfg.CCache
		if path == "" {
			path = os.Getenv("KRB5CCNAME")
		}
		if path == "" {
			path = fmt.Sprintf("/tmp/krb5cc_%d", os.Getuid())
		}
		if strings.Contains(path, ":") {
			if !strings.HasPrefix(path, "FILE:") {
				return nil, fmt.Errorf("sspi: only FILE: credential caches are supported")
			}
			path = strings.TrimPrefix(path, "FILE:")
		}
		cc, err := credentials.LoadCCache(path)
		if err != nil {
			return nil, fmt.Errorf("sspi: loading credential cache: %w", err)
		}
		cl, err = client.NewFromCCache(cc, kcfg, client.DisablePAFXFAST(true))
		if err != nil {
			return nil, fmt.Errorf("sspi: credential cache: %w", err)
		}
	}
	return &krb5Initiator{pkg: pkg, spn: cfg.SPN, mutual: !cfg.NoMutual, cl: cl}, nil
}

func (k *krb5Initiator) Close() error {
	if k.cl != nil {
		k.cl.Destroy()
		k.cl = nil
	}
	k.sessionKey = types.EncryptionKey{}
	k.auth = types.Authenticator{}
	return nil
}

func (k *krb5Initiator) Step(challenge []byte) ([]byte, bool, error) {
	switch k.state {
	case 0:
		if len(challenge) != 0 {
			return nil, false, errors.New("sspi: first Step takes no challenge")
		}
		return k.first()
	case 1:
		if len(challenge) == 0 {
			return nil, false, errors.New("sspi: Step needs the server's challenge")
		}
		tok, err := k.second(challenge)
		if err != nil {
			k.state = 2
			return nil, false, err
		}
		k.state = 2
		return tok, true, nil
	}
	return nil, false, ErrUnexpectedChallenge
}

func (k *krb5Initiator) first() ([]byte, bool, error) {
	if k.cl == nil {
		return nil, false, errors.New("sspi: initiator closed")
	}
	tkt, key, err := k.cl.GetServiceTicket(k.spn)
	if err != nil {
		return nil, false, fmt.Errorf("sspi: service ticket for %s: %w", k.spn, err)
	}
	auth, err := types.NewAuthenticator(k.cl.Credentials.Domain(), k.cl.Credentials.CName())
	if err != nil {
		return nil, false, err
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, false, err
	}
	if err := auth.GenerateSeqNumberAndSubKey(key.KeyType, et.GetKeyByteSize()); err != nil {
		return nil, false, err
	}
	if auth.SeqNumber == 0 {
		auth.SeqNumber = 1
	}
	gflags := uint32(gss.FlagInteg | gss.FlagConf | gss.FlagSequence | gss.FlagReplay)
	if k.mutual {
		gflags |= gss.FlagMutual
	}
	auth.Cksum = gss.NewChecksum(gflags)
	apreq, err := messages.NewAPReq(tkt, key, auth)
	if err != nil {
		return nil, false, err
	}
	if k.mutual {
		types.SetFlag(&apreq.APOptions, flags.APOptionMutualRequired)
	}
	b, err := apreq.Marshal()
	if err != nil {
		return nil, false, err
	}
	tok, err := gss.WrapKRB5(gss.TokAPReq, b)
	if err != nil {
		return nil, false, err
	}
	k.sessionKey, k.auth = key, auth
	if k.pkg == Negotiate {
		k.mechTypesDER, err = gss.MarshalMechTypes([]asn1.ObjectIdentifier{gss.OIDKRB5})
		if err != nil {
			return nil, false, err
		}
		tok, err = gss.MarshalSPNEGOInit(k.mechTypesDER, tok)
		if err != nil {
			return nil, false, err
		}
	}
	k.state = 1
	return tok, !k.mutual, nil
}

// verifyAPRep checks the server's AP-REP token and returns the MIC key,
// flags and the server's initial sequence number.
func (k *krb5Initiator) verifyAPRep(tok []byte) (types.EncryptionKey, byte, uint64, error) {
	id, msg, err := gss.UnwrapKRB5(tok)
	if err != nil {
		return types.EncryptionKey{}, 0, 0, fmt.Errorf("%w: %v", ErrMutualAuth, err)
	}
	if id == gss.TokError {
		var ke messages.KRBError
		if err := ke.Unmarshal(msg); err == nil {
			return types.EncryptionKey{}, 0, 0, fmt.Errorf("%w: server returned Kerberos error %d", ErrInvalidLogin, ke.ErrorCode)
		}
		return types.EncryptionKey{}, 0, 0, fmt.Errorf("%w: server returned a Kerberos error", ErrInvalidLogin)
	}
	if id != gss.TokAPRep {
		return types.EncryptionKey{}, 0, 0, fmt.Errorf("%w: reply is not an AP-REP", ErrMutualAuth)
	}
	part, err := gss.VerifyAPRep(msg, k.sessionKey, k.auth.CTime, k.auth.Cusec)
	if err != nil {
		return types.EncryptionKey{}, 0, 0, fmt.Errorf("%w: %v", ErrMutualAuth, err)
	}
	key, fl := gss.MICKey(k.sessionKey, &k.auth.SubKey, &part.Subkey)
	return key, fl, uint64(uint32(part.SequenceNumber)), nil
}

func (k *krb5Initiator) second(challenge []byte) ([]byte, error) {
	ourSeq := uint64(uint32(k.auth.SeqNumber))
	if k.pkg == Kerberos {
		key, fl, _, err := k.verifyAPRep(challenge)
		if err != nil {
			return nil, err
		}
		// This project's second leg for raw Kerberos: a MIC over the AP-REP token.
		return gss.NewMIC(key, challenge, ourSeq, false, fl)
	}
	resp, err := gss.ParseNegTokenResp(challenge)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMutualAuth, err)
	}
	if resp.NegState == gss.Reject {
		return nil, fmt.Errorf("%w: server rejected the SPNEGO negotiation", ErrInvalidLogin)
	}
	if len(resp.SupportedMech) > 0 && !gss.IsKRB5(resp.SupportedMech) {
		return nil, fmt.Errorf("%w: server selected a mechanism other than Kerberos", ErrMutualAuth)
	}
	if len(resp.ResponseToken) == 0 {
		return nil, fmt.Errorf("%w: SPNEGO reply without AP-REP", ErrMutualAuth)
	}
	key, fl, srvSeq, err := k.verifyAPRep(resp.ResponseToken)
	if err != nil {
		return nil, err
	}
	if len(resp.MechListMIC) > 0 {
		if err := gss.VerifyMIC(resp.MechListMIC, key, k.mechTypesDER, srvSeq, true, fl); err != nil {
			return nil, fmt.Errorf("%w: mechListMIC: %v", ErrMutualAuth, err)
		}
	}
	mic, err := gss.NewMIC(key, k.mechTypesDER, ourSeq, false, fl)
	if err != nil {
		return nil, err
	}
	return gss.MarshalNegTokenResp(gss.NegTokenResp{NegState: gss.AcceptCompleted, MechListMIC: mic})
}
