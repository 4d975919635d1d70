package gss

import (
	"errors"
	"fmt"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// NegStateAbsent is the NegState ParseNegTokenResp reports when the
// optional negState field is missing (RFC 4178 4.2.2 makes it optional
// after the acceptor's first reply).
const NegStateAbsent asn1.Enumerated = -1

// MarshalSPNEGOInit builds the initial SPNEGO token (RFC 4178 4.2.1): the
// RFC 2743 3.1 framing with the SPNEGO OID around a NegTokenInit that lists
// mechs and carries the optimistic token of the first.
func MarshalSPNEGOInit(mechs []asn1.ObjectIdentifier, mechToken []byte) ([]byte, error) {
	t := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{MechTypes: mechs, MechTokenBytes: mechToken}}
	return t.Marshal()
}

// ParseSPNEGOInit parses an initial SPNEGO token: the framing with the
// SPNEGO OID around a NegTokenInit.
func ParseSPNEGOInit(b []byte) (*spnego.NegTokenInit, error) {
	oid, inner, err := UnwrapInitial(b)
	if err != nil {
		return nil, err
	}
	if !oid.Equal(OIDSPNEGO) {
		return nil, fmt.Errorf("initial token for mechanism %v, not SPNEGO", oid)
	}
	isInit, nt, err := spnego.UnmarshalNegToken(inner)
	if err != nil {
		return nil, fmt.Errorf("malformed SPNEGO token: %w", err)
	}
	n, ok := nt.(spnego.NegTokenInit)
	if !isInit || !ok {
		return nil, errors.New("SPNEGO initial token is not a NegTokenInit")
	}
	return &n, nil
}

// MechListMICPayload returns what a mechListMIC is computed over: the DER
// encoding of the initiator's MechTypeList (RFC 4178 5 a).
func MechListMICPayload(mechs []asn1.ObjectIdentifier) ([]byte, error) {
	return asn1.Marshal(mechs)
}

// MarshalNegTokenResp encodes a NegTokenResp (negState always present).
func MarshalNegTokenResp(r spnego.NegTokenResp) ([]byte, error) {
	return r.Marshal()
}

// negTokenResp is spnego.NegTokenResp's wire form with negState optional:
// gokrb5's decoder requires it.
type negTokenResp struct {
	NegState      asn1.Enumerated       `asn1:"explicit,optional,default:-1,tag:0"`
	SupportedMech asn1.ObjectIdentifier `asn1:"explicit,optional,tag:1"`
	ResponseToken []byte                `asn1:"explicit,optional,tag:2"`
	MechListMIC   []byte                `asn1:"explicit,optional,tag:3"`
}

// ParseNegTokenResp parses a NegTokenResp ([1] …). An absent negState is
// reported as NegStateAbsent.
func ParseNegTokenResp(b []byte) (spnego.NegTokenResp, error) {
	var choice asn1.RawValue
	if rest, err := asn1.Unmarshal(b, &choice); err != nil || len(rest) != 0 {
		return spnego.NegTokenResp{}, fmt.Errorf("malformed SPNEGO token: %w", err)
	}
	if choice.Class != asn1.ClassContextSpecific || choice.Tag != 1 || !choice.IsCompound {
		return spnego.NegTokenResp{}, errors.New("SPNEGO token is not a NegTokenResp")
	}
	var raw negTokenResp
	if rest, err := asn1.Unmarshal(choice.Bytes, &raw); err != nil || len(rest) != 0 {
		return spnego.NegTokenResp{}, fmt.Errorf("malformed NegTokenResp: %w", err)
	}
	return spnego.NegTokenResp{NegState: raw.NegState, SupportedMech: raw.SupportedMech, ResponseToken: raw.ResponseToken, MechListMIC: raw.MechListMIC}, nil
}
