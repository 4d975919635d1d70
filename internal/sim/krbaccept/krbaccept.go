// Package krbaccept is the service (acceptor) side of a Kerberos SSPI login:
// it verifies the tokens a Windows SSPI client ("Negotiate" or "Kerberos"
// package), MIT GSSAPI or this project's internal/sspi initiator produces,
// with a service keytab, and answers them as RFC 4121 and RFC 4178 say.
//
// # Tokens accepted
//
//   - SPNEGO (RFC 4178) NegTokenInit whose first mechanism is Kerberos
//     (1.2.840.113554.1.2.2 or Microsoft's 1.2.840.48018.1.2.2) with an
//     optimistic Kerberos token — what SSPI's Negotiate package sends.
//   - A raw Kerberos GSS InitialContextToken (RFC 2743 3.1 framing, token id
//     01 00, AP-REQ) — what SSPI's Kerberos package sends.
//
// The AP-REQ is verified with gokrb5's service.VerifyAPREQ (PAC decoding off:
// MIT >= 1.20 issues a minimal PAC gokrb5 cannot decode), after checking that
// the ticket's server principal is exactly Options.SPN (and realm). Replays
// (same client principal, ctime and cusec) are rejected by a replay cache.
//
// # What the acceptor answers (like gss_accept_sec_context)
//
// Accept returns an output token and done. done=false means the output must
// reach the initiator and another token is expected; done=true means the
// context is established, and a non-empty output is the acceptor's final
// token (SSPI's AcceptSecurityContext returning SEC_E_OK with an output
// buffer), which the initiator needs to complete its side.
//
//   - Raw Kerberos: one token. Without mutual authentication there is no
//     output; with it (the GSS mutual flag in the authenticator checksum,
//     RFC 4121 4.1.1.1) the final token is a Kerberos AP-REP: it echoes the
//     authenticator's ctime/cusec, carries a fresh acceptor subkey and a
//     sequence number, and is encrypted with the ticket session key (key
//     usage 12). RFC 4121 has no third token: once the initiator has
//     verified the AP-REP its context is complete.
//   - SPNEGO: the final token is a NegTokenResp, accept-completed, with
//     supportedMech = the client's Kerberos OID and, with mutual
//     authentication, the AP-REP as responseToken — what MIT's acceptor
//     answers (RFC 4178 5: the mechListMIC exchange is optional when the
//     accepted mechanism is the initiator's first choice).
//   - SPNEGO with Options.MechListMIC and mutual authentication: the
//     optional mechListMIC exchange of RFC 4178 5 b. The reply is
//     accept-incomplete and adds a mechListMIC (an RFC 4121 MIC over the DER
//     of the initiator's mechanism list, with the acceptor subkey); the
//     initiator must answer with a NegTokenResp carrying its own mechListMIC,
//     which only the holder of the session key can make. MIT's initiator does
//     (tested with python3-gssapi), as RFC 4178 requires.
//
// A transport whose success reply cannot carry a token (LoginBySSPI returns
// a UserSession) either drops a final token or delivers it as one more
// challenge with FinalAsChallenge.
//
// Conversations are keyed by an opaque id chosen by the caller (for example a
// pre-login session cookie) and expire after the maximum clock skew.
//
// Tokens, tickets and keys are never logged or put in error messages.
package krbaccept

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/esxi-users/esxi-users/internal/gss"
)

// Errors. Every error Accept returns wraps ErrInvalidToken (use
// errors.Is(err, ErrInvalidToken) to map it to an InvalidLogin fault) and,
// where known, one of the more specific sentinels.
var (
	ErrInvalidToken    = errors.New("krbaccept: invalid token")
	ErrMalformed       = fmt.Errorf("%w: malformed", ErrInvalidToken)
	ErrUnsupportedMech = fmt.Errorf("%w: unsupported mechanism", ErrInvalidToken)
	ErrWrongSPN        = fmt.Errorf("%w: ticket is for another service principal", ErrInvalidToken)
	ErrWrongKey        = fmt.Errorf("%w: ticket does not decrypt with the service keytab", ErrInvalidToken)
	ErrReplay          = fmt.Errorf("%w: replayed authenticator", ErrInvalidToken)
	ErrExpired         = fmt.Errorf("%w: ticket expired or clock skew too large", ErrInvalidToken)
	ErrVerify          = fmt.Errorf("%w: verification failed", ErrInvalidToken)
	ErrNoConversation  = fmt.Errorf("%w: no conversation in progress for a continuation token", ErrInvalidToken)
	ErrBadMIC          = fmt.Errorf("%w: the initiator's mechListMIC does not verify", ErrInvalidToken)
)

// Interface is an acceptor as the simulators use it: *Acceptor, a
// FinalAsChallenge wrapper, or a test's acceptor (krbtest.MITAcceptor runs
// MIT's). Accept consumes one initiator token of conversation conv and
// returns the output token; done reports that the context is established
// (principal is then "user@REALM", and a non-empty out is a final token).
// Forget drops a conversation's state.
type Interface interface {
	Accept(conv string, token []byte) (out []byte, principal string, done bool, err error)
	Forget(conv string)
}

var _ Interface = (*Acceptor)(nil)

// Options configure an Acceptor.
type Options struct {
	// Keytab holds the service key(s); KeytabPath is loaded when Keytab is nil.
	Keytab     *keytab.Keytab
	KeytabPath string
	// SPN is the service principal the ticket must be for, without realm,
	// e.g. "host/esx.test". Compared exactly (no canonicalization).
	SPN string
	// Realm, if set, must equal the ticket's realm.
	Realm string
	// MechListMIC makes the SPNEGO acceptor run the optional mechListMIC
	// exchange of RFC 4178 5 when the initiator asked for mutual
	// authentication: the AP-REP comes with the acceptor's mechListMIC
	// (accept-incomplete) and the initiator must answer with its own. Off,
	// the reply completes the context at once, as MIT's acceptor does.
	MechListMIC bool
	// MaxSkew bounds clock skew, replay-cache lifetime and conversation
	// lifetime; default 5 minutes.
	MaxSkew time.Duration
	// Clock returns the current time for replay-cache and conversation
	// expiry; default time.Now. (gokrb5 checks ticket times with time.Now.)
	Clock func() time.Time
}

// Acceptor verifies client tokens. It is safe for concurrent use.
type Acceptor struct {
	opt      Options
	kt       *keytab.Keytab
	spn      types.PrincipalName
	mu       sync.Mutex
	replay   map[replayKey]time.Time
	convs    map[string]*conv
	settings *service.Settings
}

type replayKey struct {
	client string
	ctime  int64
	cusec  int
}

// conv is a SPNEGO conversation waiting for the initiator's mechListMIC.
type conv struct {
	created   time.Time
	principal string
	micKey    types.EncryptionKey
	micFlags  byte
	initSeq   uint64
	mechList  []byte // DER MechTypeList: payload of both mechListMICs
}

// New returns an Acceptor.
func New(opt Options) (*Acceptor, error) {
	kt := opt.Keytab
	if kt == nil {
		if opt.KeytabPath == "" {
			return nil, errors.New("krbaccept: no keytab")
		}
		b, err := os.ReadFile(opt.KeytabPath)
		if err != nil {
			return nil, fmt.Errorf("krbaccept: reading keytab: %w", err)
		}
		kt = new(keytab.Keytab)
		if err := kt.Unmarshal(b); err != nil {
			return nil, fmt.Errorf("krbaccept: parsing keytab: %w", err)
		}
	}
	if opt.SPN == "" {
		return nil, errors.New("krbaccept: no SPN")
	}
	if strings.Contains(opt.SPN, "@") {
		return nil, errors.New("krbaccept: SPN must not contain @REALM (set Options.Realm)")
	}
	if opt.MaxSkew <= 0 {
		opt.MaxSkew = 5 * time.Minute
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	spn, _ := types.ParseSPNString(opt.SPN)
	a := &Acceptor{opt: opt, kt: kt, spn: spn, replay: map[replayKey]time.Time{}, convs: map[string]*conv{}}
	a.settings = service.NewSettings(kt, service.DecodePAC(false), service.MaxClockSkew(opt.MaxSkew))
	return a, nil
}

// Forget drops any conversation state for conv.
func (a *Acceptor) Forget(convID string) {
	a.mu.Lock()
	delete(a.convs, convID)
	a.mu.Unlock()
}

// Pending reports whether a conversation awaits its next token.
func (a *Acceptor) Pending(convID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.convs[convID]
	return ok && a.opt.Clock().Sub(c.created) <= a.opt.MaxSkew
}

// Accept consumes one client token of conversation convID (see Interface
// and the package documentation). An initial token always starts the
// conversation afresh.
func (a *Acceptor) Accept(convID string, token []byte) (out []byte, principal string, done bool, err error) {
	a.expire()
	switch {
	case gss.LooksInitial(token):
		a.Forget(convID)
		return a.acceptInitial(convID, token)
	case gss.LooksNegTokenResp(token):
		principal, err := a.acceptMIC(convID, token)
		if err != nil {
			return nil, "", false, err
		}
		return nil, principal, true, nil
	default:
		return nil, "", false, fmt.Errorf("%w: not a GSS or SPNEGO token", ErrMalformed)
	}
}

func (a *Acceptor) expire() {
	now := a.opt.Clock()
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, t := range a.replay {
		if now.Sub(t) > 2*a.opt.MaxSkew {
			delete(a.replay, k)
		}
	}
	for k, c := range a.convs {
		if now.Sub(c.created) > a.opt.MaxSkew {
			delete(a.convs, k)
		}
	}
}

func (a *Acceptor) acceptInitial(convID string, token []byte) ([]byte, string, bool, error) {
	oid, _, err := gss.UnwrapInitial(token)
	if err != nil {
		return nil, "", false, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var (
		krbTok []byte
		init   *spnego.NegTokenInit
	)
	switch {
	case oid.Equal(gss.OIDSPNEGO):
		init, err = gss.ParseSPNEGOInit(token)
		if err != nil {
			return nil, "", false, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if len(init.MechTypes) == 0 || !gss.IsKRB5(init.MechTypes[0]) {
			return nil, "", false, fmt.Errorf("%w: the client's preferred SPNEGO mechanism is not Kerberos", ErrUnsupportedMech)
		}
		if len(init.MechTokenBytes) == 0 {
			return nil, "", false, fmt.Errorf("%w: NegTokenInit without a Kerberos token", ErrMalformed)
		}
		krbTok = init.MechTokenBytes
	case gss.IsKRB5(oid):
		krbTok = token
	default:
		return nil, "", false, fmt.Errorf("%w: mechanism %v", ErrUnsupportedMech, oid)
	}

	apreq, principal, flags, err := a.verify(krbTok)
	if err != nil {
		return nil, "", false, err
	}
	mutual := flags&gssapi.ContextFlagMutual != 0
	var apRep []byte
	var accSubkey *types.EncryptionKey
	var accSeq int64
	if mutual {
		if apRep, accSubkey, accSeq, err = a.apRep(apreq); err != nil {
			return nil, "", false, err
		}
	}
	if init == nil {
		return apRep, principal, true, nil // raw Kerberos: AP-REP or nothing, and done
	}
	resp := spnego.NegTokenResp{
		NegState:      asn1.Enumerated(spnego.NegStateAcceptCompleted),
		SupportedMech: init.MechTypes[0],
		ResponseToken: apRep,
	}
	if !a.opt.MechListMIC || !mutual {
		out, err := gss.MarshalNegTokenResp(resp)
		if err != nil {
			return nil, "", false, fmt.Errorf("%w: %w", ErrVerify, err)
		}
		return out, principal, true, nil
	}
	// The optional mechListMIC exchange (RFC 4178 5 b).
	mechList, err := gss.MechListMICPayload(init.MechTypes)
	if err != nil {
		return nil, "", false, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	auth := apreq.Authenticator
	micKey, micFlags := gss.MICKey(apreq.Ticket.DecryptedEncPart.Key, &auth.SubKey, accSubkey)
	mic, err := gss.NewMIC(micKey, mechList, uint64(accSeq), true, micFlags)
	if err != nil {
		return nil, "", false, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	resp.NegState = asn1.Enumerated(spnego.NegStateAcceptIncomplete)
	resp.MechListMIC = mic
	out, err := gss.MarshalNegTokenResp(resp)
	if err != nil {
		return nil, "", false, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	a.mu.Lock()
	a.convs[convID] = &conv{
		created:   a.opt.Clock(),
		principal: principal,
		micKey:    micKey,
		micFlags:  micFlags,
		initSeq:   uint64(uint32(auth.SeqNumber)),
		mechList:  mechList,
	}
	a.mu.Unlock()
	return out, "", false, nil
}

// verify checks a Kerberos AP-REQ token and returns the verified AP-REQ,
// the client principal and the GSS context flags.
func (a *Acceptor) verify(krbTok []byte) (*messages.APReq, string, uint32, error) {
	id, msg, err := gss.UnwrapKRB5(krbTok)
	if err != nil {
		return nil, "", 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if id != gss.TokAPReq {
		return nil, "", 0, fmt.Errorf("%w: Kerberos token is not an AP-REQ", ErrMalformed)
	}
	var apreq messages.APReq
	if err := apreq.Unmarshal(msg); err != nil {
		return nil, "", 0, fmt.Errorf("%w: AP-REQ does not parse", ErrMalformed)
	}
	if !apreq.Ticket.SName.Equal(a.spn) {
		return nil, "", 0, fmt.Errorf("%w: ticket for %q, expected %q", ErrWrongSPN, apreq.Ticket.SName.PrincipalNameString(), a.opt.SPN)
	}
	if a.opt.Realm != "" && apreq.Ticket.Realm != a.opt.Realm {
		return nil, "", 0, fmt.Errorf("%w: ticket realm %q, expected %q", ErrWrongSPN, apreq.Ticket.Realm, a.opt.Realm)
	}
	ok, creds, err := service.VerifyAPREQ(&apreq, a.settings)
	if err != nil || !ok {
		return nil, "", 0, classify(err)
	}
	auth := apreq.Authenticator
	// Our own replay cache: client principal + ctime + cusec.
	rk := replayKey{client: auth.CName.PrincipalNameString() + "@" + auth.CRealm, ctime: auth.CTime.Unix(), cusec: auth.Cusec}
	a.mu.Lock()
	_, seen := a.replay[rk]
	if !seen {
		a.replay[rk] = a.opt.Clock()
	}
	a.mu.Unlock()
	if seen {
		return nil, "", 0, ErrReplay
	}
	flags, err := gss.ChecksumFlags(auth.Cksum)
	if err != nil {
		return nil, "", 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return &apreq, creds.CName().PrincipalNameString() + "@" + creds.Domain(), flags, nil
}

// apRep builds the Kerberos GSS AP-REP token for apreq (already verified)
// with a fresh acceptor subkey, and returns it with the subkey and the
// acceptor's initial sequence number.
func (a *Acceptor) apRep(apreq *messages.APReq) ([]byte, *types.EncryptionKey, int64, error) {
	sessionKey := apreq.Ticket.DecryptedEncPart.Key
	seq, err := gss.RandomSeq()
	if err != nil {
		return nil, nil, 0, err
	}
	etype := sessionKey.KeyType
	if len(apreq.Authenticator.SubKey.KeyValue) > 0 {
		etype = apreq.Authenticator.SubKey.KeyType
	}
	subkey, err := gss.NewRandomKey(etype)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	rep, err := gss.MarshalAPRep(sessionKey, apreq.Authenticator.CTime, apreq.Authenticator.Cusec, &subkey, seq)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	tok, err := gss.WrapKRB5(gss.TokAPRep, rep)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	return tok, &subkey, seq, nil
}

// acceptMIC verifies the initiator's NegTokenResp carrying its mechListMIC.
func (a *Acceptor) acceptMIC(convID string, token []byte) (string, error) {
	a.mu.Lock()
	c, ok := a.convs[convID]
	delete(a.convs, convID) // one attempt per conversation
	a.mu.Unlock()
	if !ok {
		return "", ErrNoConversation
	}
	resp, err := gss.ParseNegTokenResp(token)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if spnego.NegState(resp.NegState) == spnego.NegStateReject {
		return "", fmt.Errorf("%w: the client rejected the negotiation", ErrVerify)
	}
	if len(resp.MechListMIC) == 0 {
		return "", fmt.Errorf("%w: NegTokenResp without mechListMIC", ErrBadMIC)
	}
	if err := gss.VerifyMIC(resp.MechListMIC, c.micKey, c.mechList, c.initSeq, false, c.micFlags); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadMIC, err)
	}
	return c.principal, nil
}

// classify maps gokrb5 verification errors to this package's sentinels.
func classify(err error) error {
	if err == nil {
		return ErrVerify
	}
	var ke messages.KRBError
	if errors.As(err, &ke) {
		switch ke.ErrorCode {
		case errorcode.KRB_AP_ERR_REPEAT:
			return ErrReplay
		case errorcode.KRB_AP_ERR_SKEW, errorcode.KRB_AP_ERR_TKT_EXPIRED, errorcode.KRB_AP_ERR_TKT_NYV:
			return ErrExpired
		case errorcode.KRB_AP_ERR_BAD_INTEGRITY, errorcode.KRB_AP_ERR_MODIFIED:
			return fmt.Errorf("%w: %s", ErrVerify, errorcode.Lookup(ke.ErrorCode))
		}
		return fmt.Errorf("%w: %s", ErrVerify, errorcode.Lookup(ke.ErrorCode))
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "error decrypting encpart of service ticket"),
		strings.Contains(msg, "Matching key not found in keytab"),
		strings.Contains(msg, "kvno"):
		return ErrWrongKey
	case strings.Contains(msg, "expired"), strings.Contains(msg, "not yet valid"):
		return ErrExpired
	}
	return ErrVerify
}
