// Package gss holds the GSS-API wire pieces both sides of an SSPI login
// need — internal/sspi's initiator and internal/sim/krbaccept's acceptor — for
// the Kerberos mechanism (RFC 4121) alone and inside SPNEGO (RFC 4178).
//
// gokrb5 (github.com/jcmturner/gokrb5/v8) provides the types used here
// wherever they cover the need: the mechanism OIDs and context flags
// (gssapi), MIC tokens (gssapi.MICToken), NegTokenInit/NegTokenResp and the
// SPNEGO initial-token framing (spnego), the Kerberos messages (messages).
// What it lacks is written here:
//
//   - the generic initial-context-token framing of RFC 2743 3.1 for any
//     mechanism, with the Kerberos token ids of RFC 4121 4.1 (gokrb5's
//     spnego.KRB5Token can only marshal an AP-REQ whose authenticator it
//     made itself, and parses only the standard Kerberos OID);
//   - the authenticator checksum of RFC 4121 4.1.1 with chosen flags;
//   - building and verifying the AP-REP of mutual authentication;
//   - parsing a NegTokenResp whose optional negState is absent.
//
// Nothing here logs tokens or keys.
package gss

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Mechanism OIDs (gokrb5's gssapi names).
var (
	OIDKRB5   = gssapi.OIDKRB5.OID()
	OIDMSKRB5 = gssapi.OIDMSLegacyKRB5.OID() // Microsoft's legacy Kerberos OID
	OIDSPNEGO = gssapi.OIDSPNEGO.OID()
)

// IsKRB5 reports whether oid names the Kerberos mechanism (standard or Microsoft's).
func IsKRB5(oid asn1.ObjectIdentifier) bool {
	return oid.Equal(OIDKRB5) || oid.Equal(OIDMSKRB5)
}

// TokID is a Kerberos GSS token identifier (RFC 4121 4.1).
type TokID [2]byte

// Kerberos GSS token identifiers.
var (
	TokAPReq = TokID{0x01, 0x00}
	TokAPRep = TokID{0x02, 0x00}
	TokError = TokID{0x03, 0x00}
)

// WrapInitial frames inner as an InitialContextToken (RFC 2743 3.1):
// [APPLICATION 0] IMPLICIT SEQUENCE { thisMech OID, innerContextToken }.
func WrapInitial(mech asn1.ObjectIdentifier, inner []byte) ([]byte, error) {
	ob, err := asn1.Marshal(mech)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true, Bytes: append(ob, inner...)})
}

// UnwrapInitial parses an InitialContextToken and returns the mechanism OID
// and the inner token that follows it.
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

// WrapKRB5 frames a Kerberos message (AP-REQ, AP-REP, KRB-ERROR, with its
// APPLICATION tag) as a Kerberos GSS token: the framing of RFC 2743 3.1
// with the standard Kerberos OID, then the token id (RFC 4121 4.1).
func WrapKRB5(id TokID, msg []byte) ([]byte, error) {
	return WrapInitial(OIDKRB5, append(id[:], msg...))
}

// UnwrapKRB5 parses a Kerberos GSS token (standard or Microsoft OID) and
// returns its token id and message.
func UnwrapKRB5(b []byte) (TokID, []byte, error) {
	var id TokID
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

// LooksInitial reports whether b starts like an InitialContextToken
// ([APPLICATION 0] constructed): a first token, SPNEGO or raw Kerberos.
func LooksInitial(b []byte) bool { return len(b) > 0 && b[0] == 0x60 }

// LooksNegTokenResp reports whether b starts like a SPNEGO NegTokenResp ([1] constructed).
func LooksNegTokenResp(b []byte) bool { return len(b) > 0 && b[0] == 0xa1 }

// ChecksumTypeGSS is the authenticator checksum type of the Kerberos GSS
// mechanism (RFC 4121 4.1.1), 0x8003.
const ChecksumTypeGSS = chksumtype.GSSAPI

// NewChecksum returns the RFC 4121 4.1.1 authenticator checksum (no channel
// bindings, no delegation) carrying the GSS context flags
// (gssapi.ContextFlagMutual, …).
func NewChecksum(flags uint32) types.Checksum {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[0:4], 16)
	binary.LittleEndian.PutUint32(b[20:24], flags)
	return types.Checksum{CksumType: ChecksumTypeGSS, Checksum: b}
}

// ChecksumFlags extracts the GSS context flags from an authenticator checksum.
func ChecksumFlags(c types.Checksum) (uint32, error) {
	if c.CksumType != ChecksumTypeGSS {
		return 0, fmt.Errorf("authenticator checksum type %d is not the GSS type", c.CksumType)
	}
	if len(c.Checksum) < 24 || binary.LittleEndian.Uint32(c.Checksum[0:4]) != 16 {
		return 0, errors.New("malformed GSS authenticator checksum")
	}
	return binary.LittleEndian.Uint32(c.Checksum[20:24]), nil
}
