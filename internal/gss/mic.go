package gss

import (
	"errors"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// MICKey chooses the key that protects per-message tokens after context
// establishment (RFC 4121 2): the acceptor's subkey when it sent one, else
// the initiator's subkey, else the ticket session key. It also returns the
// MIC flag bits that go with it (gssapi.MICTokenFlagAcceptorSubkey).
func MICKey(sessionKey types.EncryptionKey, initiatorSubkey, acceptorSubkey *types.EncryptionKey) (types.EncryptionKey, byte) {
	if acceptorSubkey != nil && len(acceptorSubkey.KeyValue) > 0 {
		return *acceptorSubkey, gssapi.MICTokenFlagAcceptorSubkey
	}
	if initiatorSubkey != nil && len(initiatorSubkey.KeyValue) > 0 {
		return *initiatorSubkey, 0
	}
	return sessionKey, 0
}

// micParams returns the direction flag and key usage of a MIC token
// (RFC 4121 4.2.2, 2), and rejects keys whose encryption types use the
// older token formats of RFC 1964/4757, which gssapi.MICToken does not make.
func micParams(key types.EncryptionKey, fromAcceptor bool) (byte, uint32, error) {
	switch key.KeyType {
	case 1, 3, 16, 23, 24: // DES, 3DES, RC4
		return 0, 0, fmt.Errorf("encryption type %d uses pre-RFC 4121 tokens, which are not supported", key.KeyType)
	}
	if fromAcceptor {
		return gssapi.MICTokenFlagSentByAcceptor, keyusage.GSSAPI_ACCEPTOR_SIGN, nil
	}
	return 0, keyusage.GSSAPI_INITIATOR_SIGN, nil
}

// NewMIC returns an RFC 4121 MIC token over payload (a gssapi.MICToken).
// fromAcceptor selects the direction flag and key usage; extraFlags carries
// gssapi.MICTokenFlagAcceptorSubkey.
func NewMIC(key types.EncryptionKey, payload []byte, seq uint64, fromAcceptor bool, extraFlags byte) ([]byte, error) {
	dir, usage, err := micParams(key, fromAcceptor)
	if err != nil {
		return nil, err
	}
	mt := gssapi.MICToken{Flags: extraFlags | dir, SndSeqNum: seq, Payload: payload}
	if err := mt.SetChecksum(key, usage); err != nil {
		return nil, err
	}
	return mt.Marshal()
}

// VerifyMIC checks an RFC 4121 MIC token over payload: it must come from the
// expected side, carry the expected flags and sequence number, and its
// checksum must verify with key.
func VerifyMIC(tok []byte, key types.EncryptionKey, payload []byte, seq uint64, fromAcceptor bool, extraFlags byte) error {
	dir, usage, err := micParams(key, fromAcceptor)
	if err != nil {
		return err
	}
	var mt gssapi.MICToken
	if err := mt.Unmarshal(tok, fromAcceptor); err != nil {
		return fmt.Errorf("malformed MIC token: %w", err)
	}
	if want := extraFlags | dir; mt.Flags != want {
		return fmt.Errorf("MIC token flags %#x, want %#x", mt.Flags, want)
	}
	if mt.SndSeqNum != seq {
		return errors.New("MIC token sequence number out of order")
	}
	mt.Payload = payload
	if ok, err := mt.Verify(key, usage); !ok || err != nil {
		// gokrb5's message carries both checksums; keep them out of errors.
		return errors.New("MIC token checksum does not verify")
	}
	return nil
}
