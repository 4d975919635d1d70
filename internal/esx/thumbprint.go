package esx

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/esxi-users/esxi-users/params"
)

// Thumbprint is a certificate fingerprint: the SHA-1 or SHA-256 digest of
// its DER encoding, as govc, vSphere (SSLVerifyFault.thumbprint) and the
// simulator print it. The zero value is no thumbprint.
//
// (internal/tlspin, not yet merged here, has the same parsing; the lead
// reconciles the two.)
type Thumbprint struct {
	// Algorithm is "SHA-1" or "SHA-256".
	Algorithm string
	sum       []byte
}

// The fingerprint algorithms, as messages name them.
const (
	SHA1   = "SHA-1"
	SHA256 = "SHA-256"
)

// ThumbprintForms says which thumbprints ParseThumbprint accepts, for
// messages and usage texts.
const ThumbprintForms = `a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) fingerprint, in upper or lower case, ` +
	`with a colon between every two digits (AB:CD:…) or none (ABCD…), optionally after "thumbprint:" as simulate prints it`

// ParseThumbprint reads a thumbprint as people paste it: SHA-1 or SHA-256,
// hex digits in any case, with a colon between every two digits or no
// separator at all, optionally after "thumbprint:" (any case; what
// `esxi-manage-users simulate` prints) and surrounded by spaces. Anything
// else is an error wrapping params.ErrInvalid (exit 2) that says what is
// wrong and which forms are accepted; it never quotes the value.
func ParseThumbprint(s string) (Thumbprint, error) {
	text := strings.TrimSpace(s)
	const prefix = "thumbprint:"
	if len(text) >= len(prefix) && strings.EqualFold(text[:len(prefix)], prefix) {
		text = strings.TrimSpace(text[len(prefix):])
	}
	// Positions in messages count the characters of s as given.
	before := utf8.RuneCountInString(strings.TrimRightFunc(s, unicode.IsSpace)) - utf8.RuneCountInString(text)
	problem := ""
	digits := text
	if text == "" {
		problem = "it is empty"
	}
	for i, r := range []rune(text) {
		if problem == "" && !isHexDigit(r) && r != ':' {
			problem = fmt.Sprintf("character %d is not a hex digit or a colon", before+i+1)
		}
	}
	if problem == "" && strings.Contains(text, ":") {
		groups := strings.Split(text, ":")
		for i, g := range groups {
			if len(g) != 2 {
				problem = fmt.Sprintf("group %d has %d digits: a colon goes between every two digits", i+1, len(g))
				break
			}
		}
		digits = strings.Join(groups, "")
	}
	if problem == "" {
		sum, _ := hex.DecodeString(digits)
		switch len(sum) {
		case sha1.Size:
			return Thumbprint{Algorithm: SHA1, sum: sum}, nil
		case sha256.Size:
			return Thumbprint{Algorithm: SHA256, sum: sum}, nil
		}
		problem = fmt.Sprintf("it has %d hex digits", len(digits))
	}
	return Thumbprint{}, params.Invalidf("not a certificate thumbprint (%s); accepted: %s", problem, ThumbprintForms)
}

func isHexDigit(r rune) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F'
}

// ThumbprintOf is cert's fingerprint with the algorithm alg (SHA1 or
// SHA256).
func ThumbprintOf(cert *x509.Certificate, alg string) Thumbprint {
	if alg == SHA256 {
		s := sha256.Sum256(cert.Raw)
		return Thumbprint{Algorithm: SHA256, sum: s[:]}
	}
	s := sha1.Sum(cert.Raw)
	return Thumbprint{Algorithm: SHA1, sum: s[:]}
}

// IsZero reports whether t is no thumbprint.
func (t Thumbprint) IsZero() bool { return t.Algorithm == "" }

// String is the fingerprint as govc prints it: upper-case hex pairs with
// colons.
func (t Thumbprint) String() string {
	parts := make([]string, len(t.sum))
	for i, b := range t.sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// Matches reports whether cert has this fingerprint.
func (t Thumbprint) Matches(cert *x509.Certificate) bool {
	if t.IsZero() || cert == nil {
		return false
	}
	return subtle.ConstantTimeCompare(ThumbprintOf(cert, t.Algorithm).sum, t.sum) == 1
}

// pinThumbprint makes tc accept exactly the certificate with fingerprint
// pin, in a single handshake. (govmomi's own thumbprint support first tries
// a verified handshake and falls back on failure: two handshakes per
// connection, and a "bad certificate" alert in the server's log every
// time.) Chain verification is skipped: the pin is the trust.
func pinThumbprint(tc *tls.Config, pin Thumbprint) {
	tc.InsecureSkipVerify = true
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the server sent no certificate")
		}
		leaf := cs.PeerCertificates[0]
		if pin.Matches(leaf) {
			return nil
		}
		return &ThumbprintError{Pinned: pin, Got: ThumbprintOf(leaf, pin.Algorithm)}
	}
}

// ThumbprintError is a server certificate that does not match the pinned
// thumbprint. It is never retried.
type ThumbprintError struct {
	// Pinned is the expected fingerprint; Got the server certificate's, with
	// the same algorithm.
	Pinned, Got Thumbprint
}

func (e *ThumbprintError) Error() string {
	return fmt.Sprintf("the server's certificate does not match the pinned %s thumbprint %s: the server presented %s %s",
		e.Pinned.Algorithm, e.Pinned, e.Got.Algorithm, e.Got)
}
