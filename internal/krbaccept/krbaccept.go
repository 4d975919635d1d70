// Package krbaccept is the service (acceptor) side of a Kerberos SSPI login:
// it verifies the tokens a Windows SSPI client ("Negotiate" or "Kerberos"
// package), MIT GSSAPI or this project's internal/sspi initiator produces,
// with a service keytab, and runs the optional second leg of mutual
// authentication.
//
// # Tokens accepted
//
//   - SPNEGO (RFC 4178) NegTokenInit whose first mechanism is Kerberos
//     (1.2.840.113554.1.2.2 or Microsoft's 1.2.840.48018.1.2.2) with an
//     optimistic Kerberos token — what SSPI's Negotiate package sends.
//   - A raw Kerberos GSS InitialContextToken (OID + TOK_ID 01 00 + AP-REQ) —
//     what SSPI's Kerberos package sends.
//
// The AP-REQ is verified with gokrb5's service.VerifyAPREQ (PAC decoding off:
// MIT ≥ 1.20 issues a minimal PAC gokrb5 cannot decode), after checking that
// the ticket's server principal is exactly Options.SPN (and realm). Replays
// (same client principal, ctime and cusec) are rejected by a replay cache.
//
// # The second leg
//
// When Options.RequireSecondLeg is set, or the client asked for mutual
// authentication (GSS flag in the authenticator checksum), the first call
// returns a challenge instead of a principal:
//
//   - SPNEGO: a NegTokenResp (accept-incomplete, supportedMech = the client's
//     Kerberos OID) carrying an AP-REP as responseToken and a mechListMIC. The
//     AP-REP echoes the authenticator's ctime/cusec, carries a fresh acceptor
//     subkey and a sequence number, and is encrypted with the ticket session
//     key (key usage 12). The mechListMIC is an RFC 4121 MIC over the DER
//     mechanism list, made with the acceptor subkey. The client must answer
//     with a NegTokenResp whose mechListMIC is its own MIC over the same
//     mechanism list, made with the acceptor subkey (which it can only know
//     by decrypting the AP-REP) and its authenticator's sequence number. This
//     is the standard SPNEGO MIC exchange: MIT GSSAPI sends it because the
//     acceptor's reply carries a mechListMIC (tested with python3-gssapi);
//     Windows SSPI should too per RFC 4178, but that is untested here.
//   - Raw Kerberos: the challenge is a Kerberos GSS AP-REP token. Plain
//     RFC 4121 has no third token, so this package requires, as its own
//     extension, an initiator MIC token over the exact challenge bytes (same
//     key and sequence-number rules). internal/sspi's initiator sends it;
//     Windows SSPI's Kerberos package would not — use RequireSecondLeg with
//     raw Kerberos only with such clients. Without RequireSecondLeg a raw
//     Kerberos login completes in one leg even if mutual authentication was
//     asked; the AP-REP is then returned as a final token (done=true) that a
//     caller may hand to the client or drop (LoginBySSPI cannot return it).
//
// Conversations are keyed by an opaque id chosen by the caller (for example a
// pre-login session cookie) and expire after the maximum clock skew.
//
// Tokens, tickets and keys are never logged or put in error messages.
package krbaccept

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/esxi-users/esxi-users/internal/krbaccept/gss"
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
	ErrBadMIC          = fmt.Errorf("%w: second-leg proof does not verify", ErrInvalidToken)
)

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
	// RequireSecondLeg forces the mutual-authentication exchange even when
	// the client did not ask for it.
	RequireSecondLeg bool
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

type conv struct {
	created      time.Time
	principal    string
	spnego       bool
	micKey       types.EncryptionKey
	micFlags     byte
	initSeq      uint64
	mechTypesDER []byte // SPNEGO: payload of both mechListMICs
	challenge    []byte // raw Kerberos: payload of the initiator's MIC
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

// SPN returns the service principal the acceptor accepts tickets for.
func (a *Acceptor) SPN() string { return a.opt.SPN }

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

// Accept consumes one client token of conversation convID. It returns either
// done=true with the authenticated principal ("user@REALM"), or done=false
// and a challenge token for the client. When done is true, challenge may
// still hold a final token (a raw Kerberos AP-REP) the caller may drop.
func (a *Acceptor) Accept(convID string, token []byte) (challenge []byte, principal string, done bool, err error) {
	a.expire()
	switch {
	case gss.LooksInitial(token):
		a.Forget(convID)
		return a.acceptInitial(convID, token)
	case gss.LooksNegTokenResp(token), gss.LooksMIC(token):
		principal, err := a.acceptContinuation(convID, token)
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
		return nil, "", false, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var (
		krbTok    []byte
		spnegoIn  *gss.NegTokenInit
		replyMech asn1.ObjectIdentifier
	)
	switch {
	case oid.Equal(gss.OIDSPNEGO):
		spnegoIn, err = gss.ParseSPNEGOInit(token)
		if err != nil {
			return nil, "", false, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if len(spnegoIn.MechTypes) == 0 || !gss.IsKRB5(spnegoIn.MechTypes[0]) {
			return nil, "", false, fmt.Errorf("%w: the client's preferred SPNEGO mechanism is not Kerberos", ErrUnsupportedMech)
		}
		if len(spnegoIn.MechToken) == 0 {
			return nil, "", false, fmt.Errorf("%w: NegTokenInit without a Kerberos token", ErrMalformed)
		}
		krbTok = spnegoIn.MechToken
		replyMech = spnegoIn.MechTypes[0]
	case gss.IsKRB5(oid):
		krbTok = token
	default:
		return nil, "", false, fmt.Errorf("%w: mechanism %v", ErrUnsupportedMech, oid)
	}

	id, msg, err := gss.UnwrapKRB5(krbTok)
	if err != nil {
		return nil, "", false, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if id != gss.TokAPReq {
		return nil, "", false, fmt.Errorf("%w: Kerberos token is not an AP-REQ", ErrMalformed)
	}
	var apreq messages.APReq
	if err := apreq.Unmarshal(msg); err != nil {
		return nil, "", false, fmt.Errorf("%w: AP-REQ does not parse", ErrMalformed)
	}
	if !apreq.Ticket.SName.Equal(a.spn) {
		return nil, "", false, fmt.Errorf("%w: ticket for %q, expected %q", ErrWrongSPN, apreq.Ticket.SName.PrincipalNameString(), a.opt.SPN)
	}
	if a.opt.Realm != "" && apreq.Ticket.Realm != a.opt.Realm {
		return nil, "", false, fmt.Errorf("%w: ticket realm %q, expected %q", ErrWrongSPN, apreq.Ticket.Realm, a.opt.Realm)
	}
	ok, creds, err := service.VerifyAPREQ(&apreq, a.settings)
	if err != nil || !ok {
		return nil, "", false, classify(err)
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
		return nil, "", false, ErrReplay
	}
	principal := creds.CName().PrincipalNameString() + "@" + creds.Domain()

	var flags uint32
	if f, err := gss.ChecksumFlags(auth.Cksum); err == nil {
		flags = f
	} else {
		return nil, "", false, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	mutual := flags&gss.FlagMutual != 0
	raw := spnegoIn == nil
	if !a.opt.RequireSecondLeg && (!mutual || raw) {
		if !mutual {
			return nil, principal, true, nil
		}
		// Raw Kerberos with mutual authentication, one leg: hand back the
		// AP-REP as a final token.
		tok, _, _, err := a.apRep(&apreq, false)
		if err != nil {
			return nil, "", false, err
		}
		return tok, principal, true, nil
	}

	sessionKey := apreq.Ticket.DecryptedEncPart.Key
	apRep, subkey, accSeq, err := a.apRep(&apreq, true)
	if err != nil {
		return nil, "", false, err
	}
	micKey, micFlags := gss.MICKey(sessionKey, &auth.SubKey, subkey)
	c := &conv{
		created:   a.opt.Clock(),
		principal: principal,
		spnego:    !raw,
		micKey:    micKey,
		micFlags:  micFlags,
		initSeq:   uint64(uint32(auth.SeqNumber)),
	}
	var challenge []byte
	if raw {
		challenge = apRep
		c.challenge = apRep
	} else {
		c.mechTypesDER = spnegoIn.MechTypesDER
		mic, err := gss.NewMIC(micKey, spnegoIn.MechTypesDER, uint64(accSeq), true, micFlags)
		if err != nil {
			return nil, "", false, fmt.Errorf("%w: %v", ErrVerify, err)
		}
		challenge, err = gss.MarshalNegTokenResp(gss.NegTokenResp{
			NegState:      gss.AcceptIncomplete,
			SupportedMech: replyMech,
			ResponseToken: apRep,
			MechListMIC:   mic,
		})
		if err != nil {
			return nil, "", false, fmt.Errorf("%w: %v", ErrVerify, err)
		}
	}
	a.mu.Lock()
	a.convs[convID] = c
	a.mu.Unlock()
	return challenge, "", false, nil
}

// apRep builds the Kerberos GSS AP-REP token for apreq (already verified),
// with a fresh acceptor subkey when withSubkey is set. It returns the token,
// the subkey and the acceptor's initial sequence number.
func (a *Acceptor) apRep(apreq *messages.APReq, withSubkey bool) ([]byte, *types.EncryptionKey, int64, error) {
	sessionKey := apreq.Ticket.DecryptedEncPart.Key
	seq, err := gss.RandomSeq()
	if err != nil {
		return nil, nil, 0, err
	}
	var subkey *types.EncryptionKey
	if withSubkey {
		etype := sessionKey.KeyType
		if len(apreq.Authenticator.SubKey.KeyValue) > 0 {
			etype = apreq.Authenticator.SubKey.KeyType
		}
		k, err := gss.NewRandomKey(etype)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%w: %v", ErrVerify, err)
		}
		subkey = &k
	}
	rep, err := gss.MarshalAPRep(sessionKey, apreq.Authenticator.CTime, apreq.Authenticator.Cusec, subkey, seq)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	tok, err := gss.WrapKRB5(gss.TokAPRep, rep)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	return tok, subkey, seq, nil
}

// acceptContinuation verifies the client's second-leg token.
func (a *Acceptor) acceptContinuation(convID string, token []byte) (string, error) {
	a.mu.Lock()
	c, ok := a.convs[convID]
	delete(a.convs, convID) // one attempt per conversation
	a.mu.Unlock()
	if !ok {
		return "", ErrNoConversation
	}
	if c.spnego {
		if !gss.LooksNegTokenResp(token) {
			return "", fmt.Errorf("%w: expected a SPNEGO NegTokenResp", ErrMalformed)
		}
		resp, err := gss.ParseNegTokenResp(token)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if resp.NegState == gss.Reject {
			return "", fmt.Errorf("%w: the client rejected the negotiation", ErrVerify)
		}
		if len(resp.MechListMIC) == 0 {
			return "", fmt.Errorf("%w: NegTokenResp without mechListMIC", ErrBadMIC)
		}
		if err := gss.VerifyMIC(resp.MechListMIC, c.micKey, c.mechTypesDER, c.initSeq, false, c.micFlags); err != nil {
			return "", fmt.Errorf("%w: %v", ErrBadMIC, err)
		}
		return c.principal, nil
	}
	if !gss.LooksMIC(token) {
		return "", fmt.Errorf("%w: expected a Kerberos MIC token", ErrMalformed)
	}
	if err := gss.VerifyMIC(token, c.micKey, c.challenge, c.initSeq, false, c.micFlags); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadMIC, err)
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
