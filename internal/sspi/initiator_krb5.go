//go:build !windows

package sspi

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/esxi-users/esxi-users/internal/gss"
	"github.com/esxi-users/esxi-users/internal/vfault"
)

// krb5Initiator speaks SSPI's wire format with gokrb5 credentials.
type krb5Initiator struct {
	pkg    Package
	spn    string
	mutual bool
	cl     *client.Client

	state      int // stateInitial, stateSent, stateMIC, stateDone
	sessionKey types.EncryptionKey
	auth       types.Authenticator
	mechList   []byte // SPNEGO: DER MechTypeList, the mechListMIC payload
	micKey     types.EncryptionKey
	micFlags   byte
	accSeq     uint64
}

const (
	stateInitial = iota
	stateSent    // first token sent; the acceptor's reply is due
	stateMIC     // SPNEGO: our mechListMIC sent; the acceptor's is due
	stateDone
)

// NewInitiator returns a Kerberos initiator using a credential cache or a keytab.
func NewInitiator(cfg Config) (Initiator, error) {
	pkg, err := cfg.check()
	if err != nil {
		return nil, err
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
	k.sessionKey, k.micKey = types.EncryptionKey{}, types.EncryptionKey{}
	k.auth = types.Authenticator{}
	return nil
}

// Step is InitializeSecurityContext for gokrb5 credentials (see Initiator).
func (k *krb5Initiator) Step(challenge []byte) ([]byte, bool, error) {
	switch k.state {
	case stateInitial:
		if len(challenge) != 0 {
			return nil, false, errors.New("sspi: first Step takes no challenge")
		}
		return k.first()
	case stateSent, stateMIC:
		if len(challenge) == 0 {
			return nil, false, errors.New("sspi: Step needs the server's challenge")
		}
		var (
			tok  []byte
			done bool
			err  error
		)
		switch {
		case k.pkg == Kerberos:
			err = k.verifyAPRep(challenge)
			done = err == nil
		case k.state == stateSent:
			tok, done, err = k.negReply(challenge)
		default:
			done, err = k.negMIC(challenge)
		}
		if err != nil {
			k.state = stateDone
			return nil, false, err
		}
		if done {
			k.state = stateDone
		}
		return tok, done, nil
	}
	return nil, false, ErrUnexpectedChallenge
}

// first builds the AP-REQ (RFC 4120 3.2, with the RFC 4121 4.1.1 checksum)
// framed as a Kerberos GSS token, inside a NegTokenInit for Negotiate.
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
	gflags := uint32(gssapi.ContextFlagInteg | gssapi.ContextFlagConf | gssapi.ContextFlagSequence | gssapi.ContextFlagReplay)
	if k.mutual {
		gflags |= gssapi.ContextFlagMutual
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
	k.state = stateSent
	if k.pkg == Kerberos {
		// Without mutual authentication RFC 4121 has nothing more to say:
		// the context is complete (ISC returns SEC_E_OK with this token).
		if !k.mutual {
			k.state = stateDone
		}
		return tok, !k.mutual, nil
	}
	mechs := []asn1.ObjectIdentifier{gss.OIDKRB5}
	if k.mechList, err = gss.MechListMICPayload(mechs); err != nil {
		return nil, false, err
	}
	tok, err = gss.MarshalSPNEGOInit(mechs, tok)
	if err != nil {
		return nil, false, err
	}
	// SPNEGO always waits for the acceptor's NegTokenResp (as Windows'
	// Negotiate package returns SEC_I_CONTINUE_NEEDED here).
	return tok, false, nil
}

// verifyAPRep checks the acceptor's Kerberos reply token: an AP-REP that
// decrypts with the session key and echoes our authenticator (RFC 4120
// 3.2.5). It keeps the key and sequence number for a mechListMIC.
func (k *krb5Initiator) verifyAPRep(tok []byte) error {
	id, msg, err := gss.UnwrapKRB5(tok)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMutualAuth, err)
	}
	if id == gss.TokError {
		var ke messages.KRBError
		if err := ke.Unmarshal(msg); err == nil {
			return fmt.Errorf("%w: server returned Kerberos error %d", vfault.InvalidLogin, ke.ErrorCode)
		}
		return fmt.Errorf("%w: server returned a Kerberos error", vfault.InvalidLogin)
	}
	if id != gss.TokAPRep {
		return fmt.Errorf("%w: reply is not an AP-REP", ErrMutualAuth)
	}
	part, err := gss.VerifyAPRep(msg, k.sessionKey, k.auth.CTime, k.auth.Cusec)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMutualAuth, err)
	}
	k.micKey, k.micFlags = gss.MICKey(k.sessionKey, &k.auth.SubKey, &part.Subkey)
	k.accSeq = uint64(uint32(part.SequenceNumber))
	return nil
}

// negReply handles the acceptor's first NegTokenResp (RFC 4178 4.2.2, 5).
func (k *krb5Initiator) negReply(challenge []byte) ([]byte, bool, error) {
	resp, err := gss.ParseNegTokenResp(challenge)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrMutualAuth, err)
	}
	state := spnego.NegState(resp.NegState)
	if state == spnego.NegStateReject {
		return nil, false, fmt.Errorf("%w: server rejected the SPNEGO negotiation", vfault.InvalidLogin)
	}
	if resp.NegState == gss.NegStateAbsent {
		return nil, false, fmt.Errorf("%w: the server's first SPNEGO reply has no negState", ErrMutualAuth)
	}
	if len(resp.SupportedMech) > 0 && !gss.IsKRB5(resp.SupportedMech) {
		return nil, false, fmt.Errorf("%w: server selected a mechanism other than Kerberos", ErrMutualAuth)
	}
	// Without an AP-REP the MIC keys are the initiator's, and the
	// acceptor's sequence numbers start at ours (as MIT's acceptor does).
	k.micKey, k.micFlags = gss.MICKey(k.sessionKey, &k.auth.SubKey, nil)
	k.accSeq = uint64(uint32(k.auth.SeqNumber))
	switch {
	case len(resp.ResponseToken) > 0:
		if err := k.verifyAPRep(resp.ResponseToken); err != nil {
			return nil, false, err
		}
	case k.mutual:
		return nil, false, fmt.Errorf("%w: SPNEGO reply without AP-REP", ErrMutualAuth)
	}
	if len(resp.MechListMIC) > 0 {
		if err := gss.VerifyMIC(resp.MechListMIC, k.micKey, k.mechList, k.accSeq, true, k.micFlags); err != nil {
			return nil, false, fmt.Errorf("%w: mechListMIC: %w", ErrMutualAuth, err)
		}
	}
	if state == spnego.NegStateAcceptCompleted {
		return nil, true, nil
	}
	// accept-incomplete or request-mic: the mechListMIC exchange. Our MIC
	// goes back in a NegTokenResp (accept-completed, as MIT's initiator
	// sends); if the acceptor has not sent its own yet, it is still due.
	mic, err := gss.NewMIC(k.micKey, k.mechList, uint64(uint32(k.auth.SeqNumber)), false, k.micFlags)
	if err != nil {
		return nil, false, err
	}
	tok, err := gss.MarshalNegTokenResp(spnego.NegTokenResp{NegState: asn1.Enumerated(spnego.NegStateAcceptCompleted), MechListMIC: mic})
	if err != nil {
		return nil, false, err
	}
	if len(resp.MechListMIC) == 0 {
		k.state = stateMIC
		return tok, false, nil
	}
	return tok, true, nil
}

// negMIC handles the acceptor's mechListMIC sent after ours.
func (k *krb5Initiator) negMIC(challenge []byte) (bool, error) {
	resp, err := gss.ParseNegTokenResp(challenge)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrMutualAuth, err)
	}
	if spnego.NegState(resp.NegState) == spnego.NegStateReject {
		return false, fmt.Errorf("%w: server rejected the SPNEGO negotiation", vfault.InvalidLogin)
	}
	if len(resp.MechListMIC) == 0 {
		return false, fmt.Errorf("%w: SPNEGO reply without the acceptor's mechListMIC", ErrMutualAuth)
	}
	if err := gss.VerifyMIC(resp.MechListMIC, k.micKey, k.mechList, k.accSeq, true, k.micFlags); err != nil {
		return false, fmt.Errorf("%w: mechListMIC: %w", ErrMutualAuth, err)
	}
	return true, nil
}
