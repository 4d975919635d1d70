// Package gss holds the Kerberos GSS-API (RFC 4121) and SPNEGO (RFC 4178)
// wire pieces that gokrb5 lacks and that both sides of an SSPI login need:
// the InitialContextToken framing, the AP-REP of mutual authentication
// (built and verified by hand with gokrb5's crypto and message types),
// the authenticator checksum of RFC 4121 4.1.1, MIC tokens and raw
// NegTokenInit/NegTokenResp encoding that keeps the DER of the mechanism
// list (the mechListMIC is computed over those exact bytes).
//
// Nothing here logs tokens or keys.
package gss

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"time"

	fasn1 "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Mechanism OIDs.
var (
	OIDKRB5   = asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}
	OIDMSKRB5 = asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2} // Microsoft's legacy Kerberos OID
	OIDSPNEGO = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 2}
)

// Kerberos GSS token identifiers (RFC 4121 4.1).
var (
	TokAPReq = [2]byte{0x01, 0x00}
	TokAPRep = [2]byte{0x02, 0x00}
	TokError = [2]byte{0x03, 0x00}
)

// GSS context flags carried in the authenticator checksum (RFC 4121 4.1.1.1).
const (
	FlagDeleg    = 1
	FlagMutual   = 2
	FlagReplay   = 4
	FlagSequence = 8
	FlagConf     = 16
	FlagInteg    = 32
)

// ChecksumTypeGSS is the authenticator checksum type of the Kerberos GSS mechanism.
const ChecksumTypeGSS = 0x8003

// MIC token flags (RFC 4121 4.2.2).
const (
	MICSentByAcceptor = 0x01
	MICAcceptorSubkey = 0x04
)

// SPNEGO negotiation states.
const (
	AcceptCompleted  = 0
	AcceptIncomplete = 1
	Reject           = 2
	RequestMIC       = 3
)

// IsKRB5 reports whether oid names the Kerberos mechanism (standard or Microsoft's).
func IsKRB5(oid asn1.ObjectIdentifier) bool {
	return oid.Equal(OIDKRB5) || oid.Equal(OIDMSKRB5)
}

// WrapInitial frames inner as an InitialContextToken: [APPLICATION 0] { thisMech OID, inner }.
func WrapInitial(mech asn1.ObjectIdentifier, inner []byte) ([]byte, error) {
	ob, err := asn1.Marshal(mech)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true, Bytes: append(ob, inner...)})
}

// UnwrapInitial parses an InitialContextToken and returns the mechanism OID
// and the bytes that follow it.
func UnwrapInitial(b []byte) (asn1.ObjectIdentifier, []byte, error) {
	var rv asn1.RawValue
	rest, err := asn1.Unmarshal(b, &rv)
	if err != nil {
		return nil, nil, fmt.Errorf("not a GSS initial context token: %w", err)
	}
	if len(rest) != 0 || rv.Class != asn1.ClassApplication || rv.Tag != 0 || !rv.IsCompound {
		return nil, nil, errors.New("not a GSS initial context token")
	}
	var oid asn1.ObjectIdentifier
	inner, err := asn1.Unmarshal(rv.Bytes, &oid)
	if err != nil {
		return nil, nil, fmt.Errorf("GSS token without mechanism OID: %w", err)
	}
	return oid, inner, nil
}

// WrapKRB5 frames a Kerberos message (AP-REQ, AP-REP, KRB-ERROR) as a Kerberos GSS token.
func WrapKRB5(tokID [2]byte, msg []byte) ([]byte, error) {
	return WrapInitial(OIDKRB5, append(tokID[:], msg...))
}

// UnwrapKRB5 parses a Kerberos GSS token and returns its token id and message.
func UnwrapKRB5(b []byte) ([2]byte, []byte, error) {
	var id [2]byte
	oid, inner, err := UnwrapInitial(b)
	if err != nil {
		return id, nil, err
	}
	if !IsKRB5(oid) {
		return id, nil, fmt.Errorf("GSS token for mechanism %v, not Kerberos", oid)
	}
	if len(inner) < 2 {
		//lint:ignore ST1005 Kerberos is a proper noun
		return id, nil, errors.New("Kerberos GSS token too short")
	}
	copy(id[:], inner[:2])
	return id, inner[2:], nil
}

// NewChecksum returns the RFC 4121 4.1.1 authenticator checksum value (no
// channel bindings, no delegation) for the given flags.
func NewChecksum(flags uint32) types.Checksum {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[0:4], 16)
	binary.LittleEndian.PutUint32(b[20:24], flags)
	return types.Checksum{CksumType: ChecksumTypeGSS, Checksum: b}
}

// ChecksumFlags extracts the GSS flags from an authenticator checksum.
func ChecksumFlags(c types.Checksum) (uint32, error) {
	if c.CksumType != ChecksumTypeGSS {
		return 0, fmt.Errorf("authenticator checksum type %d is not the GSS type", c.CksumType)
	}
	if len(c.Checksum) < 24 || binary.LittleEndian.Uint32(c.Checksum[0:4]) != 16 {
		return 0, errors.New("malformed GSS authenticator checksum")
	}
	return binary.LittleEndian.Uint32(c.Checksum[20:24]), nil
}

// RandomSeq returns a random non-zero 30-bit sequence number.
func RandomSeq() (int64, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<30-1))
	if err != nil {
		return 0, err
	}
	return n.Int64() + 1, nil
}

// NewRandomKey returns a fresh random key of the given encryption type
// (for the AES types random-to-key is the identity).
func NewRandomKey(etype int32) (types.EncryptionKey, error) {
	et, err := crypto.GetEtype(etype)
	if err != nil {
		return types.EncryptionKey{}, err
	}
	b := make([]byte, et.GetKeyByteSize())
	if _, err := rand.Read(b); err != nil {
		return types.EncryptionKey{}, err
	}
	return types.EncryptionKey{KeyType: etype, KeyValue: b}, nil
}

// encAPRepPart mirrors RFC 4120 EncAPRepPart for marshalling.
type encAPRepPart struct {
	CTime          time.Time           `asn1:"generalized,explicit,tag:0"`
	Cusec          int                 `asn1:"explicit,tag:1"`
	Subkey         types.EncryptionKey `asn1:"optional,explicit,tag:2"`
	SequenceNumber int64               `asn1:"optional,explicit,tag:3"`
}

type apRep struct {
	PVNO    int                 `asn1:"explicit,tag:0"`
	MsgType int                 `asn1:"explicit,tag:1"`
	EncPart types.EncryptedData `asn1:"explicit,tag:2"`
}

// MarshalAPRep builds a KRB_AP_REP (DER, with its APPLICATION 15 tag) that
// echoes the authenticator's ctime/cusec, encrypted with the ticket's session
// key under key usage 12. subkey may be nil; seq must be non-zero.
func MarshalAPRep(sessionKey types.EncryptionKey, ctime time.Time, cusec int, subkey *types.EncryptionKey, seq int64) ([]byte, error) {
	p := encAPRepPart{CTime: ctime.UTC().Truncate(time.Second), Cusec: cusec, SequenceNumber: seq}
	if subkey != nil {
		p.Subkey = *subkey
	}
	pb, err := fasn1.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("marshalling EncAPRepPart: %w", err)
	}
	pb = asn1tools.AddASNAppTag(pb, asnAppTag.EncAPRepPart)
	ed, err := crypto.GetEncryptedData(pb, sessionKey, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, fmt.Errorf("encrypting EncAPRepPart: %w", err)
	}
	b, err := fasn1.Marshal(apRep{PVNO: iana.PVNO, MsgType: msgtype.KRB_AP_REP, EncPart: ed})
	if err != nil {
		return nil, fmt.Errorf("marshalling AP-REP: %w", err)
	}
	return asn1tools.AddASNAppTag(b, asnAppTag.APREP), nil
}

// VerifyAPRep decrypts an AP-REP with the session key and checks that it
// echoes the authenticator's ctime and cusec (RFC 4120 3.2.5).
func VerifyAPRep(b []byte, sessionKey types.EncryptionKey, ctime time.Time, cusec int) (*messages.EncAPRepPart, error) {
	var rep messages.APRep
	if err := rep.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("malformed AP-REP: %w", err)
	}
	pb, err := crypto.DecryptEncPart(rep.EncPart, sessionKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		return nil, fmt.Errorf("AP-REP does not decrypt with the session key: %w", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(pb); err != nil {
		return nil, fmt.Errorf("malformed EncAPRepPart: %w", err)
	}
	if !part.CTime.Equal(ctime.UTC().Truncate(time.Second)) || part.Cusec != cusec {
		return nil, errors.New("AP-REP ctime/cusec do not match the authenticator")
	}
	return &part, nil
}

// MICKey chooses the key that protects per-message tokens after context
// establishment (RFC 4121 2): the acceptor's subkey when it sent one, else
// the initiator's subkey, else the ticket session key. It also returns the
// MIC flag bits that go with it.
func MICKey(sessionKey types.EncryptionKey, initiatorSubkey, acceptorSubkey *types.EncryptionKey) (types.EncryptionKey, byte) {
	if acceptorSubkey != nil && len(acceptorSubkey.KeyValue) > 0 {
		return *acceptorSubkey, MICAcceptorSubkey
	}
	if initiatorSubkey != nil && len(initiatorSubkey.KeyValue) > 0 {
		return *initiatorSubkey, 0
	}
	return sessionKey, 0
}

func micHeader(flags byte, seq uint64) []byte {
	h := []byte{0x04, 0x04, flags, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(h[8:], seq)
	return h
}

func micChecksum(key types.EncryptionKey, usage uint32, payload, hdr []byte) ([]byte, error) {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, err
	}
	switch key.KeyType {
	case 1, 3, 16, 23, 24: // DES, 3DES, RC4: not RFC 4121 token formats
		return nil, fmt.Errorf("encryption type %d uses pre-RFC 4121 tokens, which are not supported", key.KeyType)
	}
	d := make([]byte, 0, len(payload)+len(hdr))
	d = append(append(d, payload...), hdr...)
	return et.GetChecksumHash(key.KeyValue, d, usage)
}

// NewMIC returns an RFC 4121 MIC token over payload. fromAcceptor selects the
// direction flag and key usage; extraFlags carries MICAcceptorSubkey.
func NewMIC(key types.EncryptionKey, payload []byte, seq uint64, fromAcceptor bool, extraFlags byte) ([]byte, error) {
	flags := extraFlags
	usage := uint32(keyusage.GSSAPI_INITIATOR_SIGN)
	if fromAcceptor {
		flags |= MICSentByAcceptor
		usage = keyusage.GSSAPI_ACCEPTOR_SIGN
	}
	hdr := micHeader(flags, seq)
	sum, err := micChecksum(key, usage, payload, hdr)
	if err != nil {
		return nil, err
	}
	return append(hdr, sum...), nil
}

// VerifyMIC checks an RFC 4121 MIC token over payload: the token must come
// from the expected side, carry the expected flags and sequence number, and
// its checksum must verify with key.
func VerifyMIC(tok []byte, key types.EncryptionKey, payload []byte, seq uint64, fromAcceptor bool, extraFlags byte) error {
	var mt gssapi.MICToken
	if err := mt.Unmarshal(tok, fromAcceptor); err != nil {
		return fmt.Errorf("malformed MIC token: %w", err)
	}
	want := extraFlags
	usage := uint32(keyusage.GSSAPI_INITIATOR_SIGN)
	if fromAcceptor {
		want |= MICSentByAcceptor
		usage = keyusage.GSSAPI_ACCEPTOR_SIGN
	}
	if mt.Flags != want {
		return fmt.Errorf("MIC token flags %#x, want %#x", mt.Flags, want)
	}
	if mt.SndSeqNum != seq {
		return errors.New("MIC token sequence number out of order")
	}
	sum, err := micChecksum(key, usage, payload, micHeader(mt.Flags, mt.SndSeqNum))
	if err != nil {
		return err
	}
	if !hmac.Equal(sum, mt.Checksum) {
		return errors.New("MIC token checksum does not verify")
	}
	return nil
}

// NegTokenInit is a parsed SPNEGO NegTokenInit.
type NegTokenInit struct {
	MechTypes []asn1.ObjectIdentifier
	// MechTypesDER is the DER of the MechTypeList exactly as received; the
	// mechListMIC is computed over it.
	MechTypesDER []byte
	ReqFlags     asn1.BitString
	MechToken    []byte
	MechListMIC  []byte
}

type negTokenInitRaw struct {
	MechTypes   asn1.RawValue  `asn1:"explicit,tag:0"`
	ReqFlags    asn1.BitString `asn1:"explicit,optional,tag:1"`
	MechToken   []byte         `asn1:"explicit,optional,tag:2"`
	MechListMIC []byte         `asn1:"explicit,optional,tag:3"`
}

// NegTokenResp is a SPNEGO NegTokenResp (negTokenTarg).
type NegTokenResp struct {
	NegState      int // -1 when absent
	SupportedMech asn1.ObjectIdentifier
	ResponseToken []byte
	MechListMIC   []byte
}

type negTokenRespRaw struct {
	NegState      asn1.Enumerated       `asn1:"explicit,optional,tag:0,default:-1"`
	SupportedMech asn1.ObjectIdentifier `asn1:"explicit,optional,tag:1"`
	ResponseToken []byte                `asn1:"explicit,optional,tag:2"`
	MechListMIC   []byte                `asn1:"explicit,optional,tag:3"`
}

// ParseSPNEGOInit parses the initial SPNEGO token (GSS framing with the SPNEGO OID around a NegTokenInit).
func ParseSPNEGOInit(b []byte) (*NegTokenInit, error) {
	oid, inner, err := UnwrapInitial(b)
	if err != nil {
		return nil, err
	}
	if !oid.Equal(OIDSPNEGO) {
		return nil, fmt.Errorf("initial token for mechanism %v, not SPNEGO", oid)
	}
	var choice asn1.RawValue
	if rest, err := asn1.Unmarshal(inner, &choice); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("malformed SPNEGO token: %v", err)
	}
	if choice.Class != asn1.ClassContextSpecific || choice.Tag != 0 {
		return nil, errors.New("SPNEGO initial token is not a NegTokenInit")
	}
	var raw negTokenInitRaw
	if rest, err := asn1.Unmarshal(choice.Bytes, &raw); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("malformed NegTokenInit: %v", err)
	}
	// Go decodes an explicitly tagged RawValue as the [0] wrapper itself:
	// its content is the MechTypeList SEQUENCE.
	der := raw.MechTypes.Bytes
	var mechs []asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(der, &mechs); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("malformed SPNEGO mechTypes: %v", err)
	}
	return &NegTokenInit{
		MechTypes:    mechs,
		MechTypesDER: append([]byte(nil), der...),
		ReqFlags:     raw.ReqFlags,
		MechToken:    raw.MechToken,
		MechListMIC:  raw.MechListMIC,
	}, nil
}

// MarshalMechTypes returns the DER MechTypeList for mechs.
func MarshalMechTypes(mechs []asn1.ObjectIdentifier) ([]byte, error) {
	return asn1.Marshal(mechs)
}

// MarshalSPNEGOInit builds the initial SPNEGO token with one optimistic mechanism token.
func MarshalSPNEGOInit(mechTypesDER, mechToken []byte) ([]byte, error) {
	var seq []byte
	seq = append(seq, explicit(0, mechTypesDER)...)
	if len(mechToken) > 0 {
		ot, err := asn1.Marshal(mechToken)
		if err != nil {
			return nil, err
		}
		seq = append(seq, explicit(2, ot)...)
	}
	body, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: seq})
	if err != nil {
		return nil, err
	}
	return WrapInitial(OIDSPNEGO, explicit(0, body))
}

func explicit(tag int, inner []byte) []byte {
	b, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: true, Bytes: inner})
	return b
}

// ParseNegTokenResp parses a SPNEGO NegTokenResp ([1] ...).
func ParseNegTokenResp(b []byte) (*NegTokenResp, error) {
	var choice asn1.RawValue
	if rest, err := asn1.Unmarshal(b, &choice); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("malformed SPNEGO token: %v", err)
	}
	if choice.Class != asn1.ClassContextSpecific || choice.Tag != 1 {
		return nil, errors.New("SPNEGO token is not a NegTokenResp")
	}
	var raw negTokenRespRaw
	if rest, err := asn1.Unmarshal(choice.Bytes, &raw); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("malformed NegTokenResp: %v", err)
	}
	return &NegTokenResp{NegState: int(raw.NegState), SupportedMech: raw.SupportedMech, ResponseToken: raw.ResponseToken, MechListMIC: raw.MechListMIC}, nil
}

// MarshalNegTokenResp builds a SPNEGO NegTokenResp. negState < 0 omits it;
// a nil supportedMech omits it.
func MarshalNegTokenResp(r NegTokenResp) ([]byte, error) {
	var seq []byte
	if r.NegState >= 0 {
		e, err := asn1.Marshal(asn1.Enumerated(r.NegState))
		if err != nil {
			return nil, err
		}
		seq = append(seq, explicit(0, e)...)
	}
	if len(r.SupportedMech) > 0 {
		o, err := asn1.Marshal(r.SupportedMech)
		if err != nil {
			return nil, err
		}
		seq = append(seq, explicit(1, o)...)
	}
	for i, f := range [][]byte{r.ResponseToken, r.MechListMIC} {
		if len(f) == 0 {
			continue
		}
		o, err := asn1.Marshal(f)
		if err != nil {
			return nil, err
		}
		seq = append(seq, explicit(2+i, o)...)
	}
	body, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: seq})
	if err != nil {
		return nil, err
	}
	return explicit(1, body), nil
}

// LooksInitial reports whether b starts like a GSS initial context token.
func LooksInitial(b []byte) bool { return len(b) > 0 && b[0] == 0x60 }

// LooksNegTokenResp reports whether b starts like a SPNEGO NegTokenResp.
func LooksNegTokenResp(b []byte) bool { return len(b) > 0 && b[0] == 0xa1 }

// LooksMIC reports whether b starts like an RFC 4121 MIC token.
func LooksMIC(b []byte) bool { return len(b) >= 2 && bytes.Equal(b[:2], []byte{0x04, 0x04}) }
