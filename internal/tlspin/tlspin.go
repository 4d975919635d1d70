// Package tlspin pins a server's TLS certificate by its fingerprint: it
// reads fingerprints as people paste them, verifies a TLS connection against
// one in a single handshake, and reads govc's known-hosts file
// (GOVC_TLS_KNOWN_HOSTS), which pins one fingerprint per server.
//
// A fingerprint is the SHA-1 or SHA-256 digest of the certificate's DER
// encoding, written as govc, vSphere (SSLVerifyFault.thumbprint,
// HostConnectSpec.sslThumbprint) and the simulator print it: upper-case hex
// pairs separated by colons, "AB:CD:…".
package tlspin

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

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/textsafe"
)

// Algorithm is a fingerprint's digest.
type Algorithm int

const (
	SHA1   Algorithm = iota + 1 // 20 bytes, 40 hex digits
	SHA256                      // 32 bytes, 64 hex digits
)

// String is the algorithm's name as messages use it: "SHA-1", "SHA-256".
func (a Algorithm) String() string {
	switch a {
	case SHA1:
		return "SHA-1"
	case SHA256:
		return "SHA-256"
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// Fingerprint is a certificate digest. The zero value is no fingerprint.
type Fingerprint struct {
	Algorithm Algorithm
	sum       string // the digest's bytes
}

// Of returns the fingerprint of cert with algorithm a.
func Of(cert *x509.Certificate, a Algorithm) Fingerprint {
	switch a {
	case SHA1:
		s := sha1.Sum(cert.Raw)
		return Fingerprint{Algorithm: SHA1, sum: string(s[:])}
	case SHA256:
		s := sha256.Sum256(cert.Raw)
		return Fingerprint{Algorithm: SHA256, sum: string(s[:])}
	}
	return Fingerprint{}
}

// IsZero reports whether f is no fingerprint.
func (f Fingerprint) IsZero() bool { return f.Algorithm == 0 }

// Bytes returns the digest.
func (f Fingerprint) Bytes() []byte { return []byte(f.sum) }

// String is the fingerprint in govc's form: upper-case hex pairs separated
// by colons.
func (f Fingerprint) String() string {
	var b strings.Builder
	for i := 0; i < len(f.sum); i++ {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", f.sum[i])
	}
	return b.String()
}

// Matches reports whether cert has this fingerprint.
func (f Fingerprint) Matches(cert *x509.Certificate) bool {
	if f.IsZero() || cert == nil {
		return false
	}
	got := Of(cert, f.Algorithm)
	return subtle.ConstantTimeCompare([]byte(got.sum), []byte(f.sum)) == 1
}

// Forms describes the fingerprints Parse accepts, for messages.
const Forms = `a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) fingerprint, in either case, with a colon between every two digits (AB:CD:…) or none (ABCD…), optionally after "thumbprint:" as simulate prints it`

// Parse reads a fingerprint as people paste it: SHA-1 or SHA-256, hex
// digits in either case, with a colon between every pair or no separator
// at all, optionally preceded by "thumbprint:" (what `simulate` prints,
// any case) and surrounded by spaces. Anything else is an error wrapping
// errkind.ErrInvalid (exit 2) that says what is wrong and which forms are
// accepted. It never quotes the value: a password pasted into the wrong
// field must not reach a log.
func Parse(s string) (Fingerprint, error) {
	text := strings.TrimSpace(s)
	const prefix = "thumbprint:"
	if len(text) >= len(prefix) && strings.EqualFold(text[:len(prefix)], prefix) {
		text = strings.TrimSpace(text[len(prefix):])
	}
	// Positions in messages count the characters of s as given.
	before := utf8.RuneCountInString(strings.TrimRightFunc(s, unicode.IsSpace)) - utf8.RuneCountInString(text)
	digits, problem := hexDigits(text, before)
	if problem == "" {
		switch len(digits) {
		case 2 * sha1.Size:
			b, _ := hex.DecodeString(digits)
			return Fingerprint{Algorithm: SHA1, sum: string(b)}, nil
		case 2 * sha256.Size:
			b, _ := hex.DecodeString(digits)
			return Fingerprint{Algorithm: SHA256, sum: string(b)}, nil
		}
		problem = fmt.Sprintf("it has %d hex digits", len(digits))
	}
	return Fingerprint{}, errkind.Invalidf("not a certificate thumbprint (%s); accepted: %s", problem, Forms)
}

// hexDigits returns the hex digits of text, written with a colon between
// every two digits or with no separator, or what is wrong with it (never
// quoting it). before is the number of characters that preceded text.
func hexDigits(text string, before int) (digits, problem string) {
	if text == "" {
		return "", "it is empty"
	}
	for i, r := range []rune(text) {
		if !isHex(r) && r != ':' {
			return "", fmt.Sprintf("character %d is not a hex digit or a colon", before+i+1)
		}
	}
	if strings.Contains(text, ":") {
		groups := strings.Split(text, ":")
		for i, g := range groups {
			if len(g) != 2 {
				return "", fmt.Sprintf("group %d has %d digits: a colon goes between every two digits", i+1, len(g))
			}
		}
		text = strings.Join(groups, "")
	}
	return strings.ToUpper(text), ""
}

func isHex(r rune) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F'
}

// clip quotes s for a message, clipped as every echoed input value is
// (textsafe.Clip).
func clip(s string) string { return fmt.Sprintf("%q", textsafe.Clip(s)) }

// MismatchError is a server certificate that is not the pinned one.
type MismatchError struct {
	// Pinned is the expected fingerprint.
	Pinned Fingerprint
	// Presented is the server certificate's fingerprint with the pinned
	// algorithm, and PresentedSHA256 its SHA-256 fingerprint (what govc
	// about.cert -thumbprint writes).
	Presented, PresentedSHA256 Fingerprint
	// Source, when set, says where the pin came from ("known_hosts:3").
	Source string
}

func (e *MismatchError) Error() string {
	presented := e.Pinned.Algorithm.String() + " " + e.Presented.String()
	if e.Pinned.Algorithm != SHA256 {
		presented += " (SHA-256 " + e.PresentedSHA256.String() + ")"
	}
	src := ""
	if e.Source != "" {
		src = " (" + e.Source + ")"
	}
	return fmt.Sprintf("the host's certificate does not match the pinned %s thumbprint%s %s: the host presented %s",
		e.Pinned.Algorithm, src, e.Pinned, presented)
}

// ErrNoCertificate is a TLS server that sent no certificate.
var ErrNoCertificate = errors.New("the server sent no certificate")

// VerifyConnection returns a tls.Config.VerifyConnection function that
// accepts exactly the certificate with fingerprint pin (the leaf the server
// presented) and fails with a *MismatchError otherwise. source, if not
// empty, names where the pin came from in that error.
func VerifyConnection(pin Fingerprint, source string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return ErrNoCertificate
		}
		leaf := cs.PeerCertificates[0]
		if pin.Matches(leaf) {
			return nil
		}
		return &MismatchError{Pinned: pin, Presented: Of(leaf, pin.Algorithm), PresentedSHA256: Of(leaf, SHA256), Source: source}
	}
}

// Pin makes tc accept exactly the server certificate with fingerprint pin,
// in a single handshake: chain and name verification are skipped (the pin
// is the trust) and the leaf certificate's fingerprint is checked in
// VerifyConnection, which runs on every handshake, resumed ones included.
// (govmomi's own thumbprint support first tries a verified handshake and
// falls back to the thumbprint after it fails: two handshakes per
// connection, and a "bad certificate" alert in the server's log each time.)
// A zero pin is an error: nothing would be verified.
func Pin(tc *tls.Config, pin Fingerprint, source string) error {
	if pin.IsZero() {
		return errors.New("tlspin: no fingerprint to pin")
	}
	tc.InsecureSkipVerify = true
	tc.VerifyConnection = VerifyConnection(pin, source)
	return nil
}
