package gss

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

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

// MarshalAPRep builds a KRB_AP_REP (RFC 4120 5.5.2, DER with its
// APPLICATION 15 tag) that echoes the authenticator's ctime/cusec, encrypted
// with the ticket's session key under key usage 12. subkey may be nil; seq
// must be non-zero. gokrb5 has the message types but cannot build one.
func MarshalAPRep(sessionKey types.EncryptionKey, ctime time.Time, cusec int, subkey *types.EncryptionKey, seq int64) ([]byte, error) {
	p := messages.EncAPRepPart{CTime: ctime.UTC().Truncate(time.Second), Cusec: cusec, SequenceNumber: seq}
	if subkey != nil {
		p.Subkey = *subkey
	}
	pb, err := asn1.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("marshalling EncAPRepPart: %w", err)
	}
	pb = asn1tools.AddASNAppTag(pb, asnAppTag.EncAPRepPart)
	ed, err := crypto.GetEncryptedData(pb, sessionKey, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, fmt.Errorf("encrypting EncAPRepPart: %w", err)
	}
	b, err := asn1.Marshal(messages.APRep{PVNO: iana.PVNO, MsgType: msgtype.KRB_AP_REP, EncPart: ed})
	if err != nil {
		return nil, fmt.Errorf("marshalling AP-REP: %w", err)
	}
	return asn1tools.AddASNAppTag(b, asnAppTag.APREP), nil
}

// VerifyAPRep decrypts an AP-REP with the session key and checks that it
// echoes the authenticator's ctime and cusec (RFC 4120 3.2.5). gokrb5 parses
// the message but does not verify it.
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
