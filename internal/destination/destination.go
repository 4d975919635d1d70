// Package destination keeps a machine's login going only where it went
// before. In DRP, whoever holds a machine's token (the ESXi task's rendered
// script has one) can rewrite that machine's Params, the server and the
// certificate pin included; the plugin then holds the password those Params
// lead to. So the plugin records, per machine, the destination a run last
// logged in to — the server (host:port), the managed host through vCenter,
// and the certificate the server presented — in a store that machine tokens
// cannot write, and refuses a run whose destination differs before any
// password is sent.
//
// Check decides, before anything is contacted, from the requested
// destination (the machine's Params), the machine's record and the
// operator's policy (State):
//
//   - a record exists: the server and managed host must be the recorded ones,
//     or the run is refused (errkind.ErrDestinationRefused) without a
//     connection; the certificate is pinned to the recorded one (or to the
//     server's known-hosts line, which an admin wrote and which wins over the
//     record), so a different certificate fails the TLS handshake, before the
//     first request;
//   - no record (first use): with trust on first use off, the run is
//     refused; with known-hosts lines, the server must be listed and its
//     certificate is pinned to its line; otherwise the run connects as the
//     Params say (their thumbprint, the CA, or insecure) and the destination
//     it logged in to is recorded (Guard.Observed) before anything is
//     written on the host.
//
// The Params' own thumbprint must match the certificate as well
// (Guard.VerifyPeer), and every connection of a run must present the
// certificate of its first one. The store itself (a DRP profile) and the
// admin step that accepts a legitimate move live in internal/drp.
package destination

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/tlspin"
)

// Refused is a refusal decided elsewhere (the plugin answering the task
// binary), with its message: it wraps errkind.ErrDestinationRefused.
func Refused(msg string) error { return &refusedError{msg} }

type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }
func (e *refusedError) Unwrap() error { return errkind.ErrDestinationRefused }

// Requested is where a run is about to log in, from the machine's Params.
type Requested struct {
	// Server is the host's (or, with ViHost, the vCenter's) host:port, as
	// tlspin.ServerKey writes it.
	Server string
	// ViHost is the host managed through the vCenter, in lower case without
	// a final dot; "" for a direct connection.
	ViHost string
	// Thumbprint is the Params' certificate pin ("" if none).
	Thumbprint string
}

// Request normalises a run's server, managed host and thumbprint.
func Request(server, vihost, thumbprint string) (Requested, error) {
	key, err := tlspin.ServerKey(server)
	if err != nil {
		return Requested{}, err
	}
	if thumbprint != "" {
		if _, err := tlspin.Parse(thumbprint); err != nil {
			return Requested{}, err
		}
	}
	return Requested{Server: key, ViHost: normHost(vihost), Thumbprint: thumbprint}, nil
}

func normHost(s string) string { return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".") }

func (r Requested) String() string {
	if r.ViHost != "" {
		return fmt.Sprintf("host %s through vCenter %s", r.ViHost, r.Server)
	}
	return r.Server
}

// Record is where a machine's runs log in. An admin may write one before
// the first run (pre-seed); SHA256 may then be empty: the first run's
// certificate is recorded.
type Record struct {
	Server string `json:"server"`
	ViHost string `json:"vihost,omitempty"`
	// SHA256 and SHA1 are the certificate's fingerprints, in govc's form
	// (AB:CD:…).
	SHA256 string `json:"sha256,omitempty"`
	SHA1   string `json:"sha1,omitempty"`
	// Machine is the machine's name when the record was written (for
	// people; records are keyed by the machine's UUID).
	Machine  string    `json:"machine,omitempty"`
	Recorded time.Time `json:"recorded,omitzero"`
}

// Validate checks a record read from the store and normalises it.
func (r *Record) Validate() error {
	key, err := tlspin.ServerKey(r.Server)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	r.Server, r.ViHost = key, normHost(r.ViHost)
	for _, f := range []struct {
		name string
		v    *string
		alg  tlspin.Algorithm
	}{{"sha256", &r.SHA256, tlspin.SHA256}, {"sha1", &r.SHA1, tlspin.SHA1}} {
		if *f.v == "" {
			continue
		}
		fp, err := tlspin.Parse(*f.v)
		if err != nil || fp.Algorithm != f.alg {
			return fmt.Errorf("%s is not a %s fingerprint", f.name, f.alg)
		}
		*f.v = fp.String()
	}
	return nil
}

// String names the destination and its certificate, for messages.
func (r Record) String() string {
	var b strings.Builder
	if r.ViHost != "" {
		fmt.Fprintf(&b, "host %s through vCenter %s", r.ViHost, r.Server)
	} else {
		b.WriteString(r.Server)
	}
	if r.SHA256 != "" {
		fmt.Fprintf(&b, " (certificate SHA-256 %s", r.SHA256)
	} else {
		b.WriteString(" (certificate not recorded yet")
	}
	if !r.Recorded.IsZero() {
		fmt.Fprintf(&b, ", recorded %s", r.Recorded.UTC().Format(time.RFC3339))
	}
	b.WriteString(")")
	return b.String()
}

// Policy is the operator's settings for machines without a record.
type Policy struct {
	// KnownHosts pins servers' certificates. A first run may go only to a
	// listed server when there is any; a listed server's line also wins
	// over a machine's recorded certificate (an admin wrote it).
	KnownHosts tlspin.KnownHosts
	// KnownHostsName names where KnownHosts come from, for messages.
	KnownHostsName string
	// TrustOnFirstUse lets a machine without a record log in (to a listed
	// server, if KnownHosts lists any) and record where it logged in.
	// Off, only machines an admin recorded run.
	TrustOnFirstUse bool
	// TrustOnFirstUseName names that setting, for messages.
	TrustOnFirstUseName string
	// Accept says how an admin accepts a new destination for the machine,
	// and Seed how an admin records one before its first run (commands,
	// for the refusal messages).
	Accept, Seed string
}

// State is what the store holds for one machine.
type State struct {
	Record *Record // nil: none recorded
	Policy
}

// ChangedError is a run refused because its destination differs from the
// recorded one. It wraps errkind.ErrDestinationRefused.
type ChangedError struct {
	Recorded  Record
	Requested Requested
	// Presented is the fingerprint the server presented, when the
	// certificate is what differs.
	Presented string
	// Pinned, when Presented is set, is the pin the certificate failed and
	// where it came from.
	Pinned string
	Accept string
}

func (e *ChangedError) Error() string {
	var b strings.Builder
	b.WriteString("refused before any password was sent: ")
	if e.Presented != "" {
		fmt.Fprintf(&b, "%s presented a certificate with SHA-256 %s, not the pinned %s; this machine's recorded destination is %s",
			e.Requested, e.Presented, e.Pinned, e.Recorded)
	} else {
		fmt.Fprintf(&b, "this machine's recorded destination is %s; this run asks for %s", e.Recorded, e.Requested)
	}
	b.WriteString(". A machine's token can rewrite its own Params, so a new destination is never taken on their say-so")
	if e.Accept != "" {
		fmt.Fprintf(&b, ". If the host really moved (re-installed, new address or certificate), an admin accepts it with: %s", e.Accept)
	}
	return b.String()
}

func (e *ChangedError) Unwrap() error { return errkind.ErrDestinationRefused }

// NotRecordedError is a first run that the policy does not allow. It wraps
// errkind.ErrDestinationRefused.
type NotRecordedError struct {
	Requested Requested
	Why       string
	Seed      string
}

func (e *NotRecordedError) Error() string {
	msg := fmt.Sprintf("refused before any password was sent: no destination is recorded for this machine and %s (this run asks for %s)", e.Why, e.Requested)
	if e.Seed != "" {
		msg += "; an admin records it with: " + e.Seed
	}
	return msg
}

func (e *NotRecordedError) Unwrap() error { return errkind.ErrDestinationRefused }

// Guard is one run's check: the pin to connect with, the certificate each
// handshake must present, and the record to write after the login.
type Guard struct {
	req       Requested
	rec       *Record
	pin       tlspin.Fingerprint
	pinSource string
	save      bool
	accept    string
	param     tlspin.Fingerprint // the Params' thumbprint, when the store pins

	mu   sync.Mutex
	seen *x509.Certificate // the first handshake's certificate
}

// Check decides what a run to req may do, before anything is contacted
// (see the package doc). Its errors wrap errkind.ErrDestinationRefused.
func Check(req Requested, st State) (*Guard, error) {
	g := &Guard{req: req, rec: st.Record, accept: st.Accept}
	kh, listed := st.KnownHosts.Lookup(req.Server)
	khSource := func() string { return fmt.Sprintf("%s line %d", st.KnownHostsName, kh.Line) }
	switch rec := st.Record; {
	case rec != nil:
		if rec.Server != req.Server || rec.ViHost != req.ViHost {
			return nil, &ChangedError{Recorded: *rec, Requested: req, Accept: st.Accept}
		}
		switch {
		case listed:
			g.pin, g.pinSource = kh.Fingerprint, khSource()
			g.save = !recorded(rec, kh.Fingerprint)
		case rec.SHA256 != "":
			g.pin, _ = tlspin.Parse(rec.SHA256) // Validate checked it
			g.pinSource = "recorded for this machine"
		default:
			g.save = true // pre-seeded without a certificate
		}
	case !st.TrustOnFirstUse:
		return nil, &NotRecordedError{Requested: req, Seed: st.Seed,
			Why: fmt.Sprintf("%s is false", st.TrustOnFirstUseName)}
	case listed:
		g.pin, g.pinSource, g.save = kh.Fingerprint, khSource(), true
	case st.KnownHosts.Len() > 0:
		return nil, &NotRecordedError{Requested: req, Seed: st.Seed,
			Why: fmt.Sprintf("%s does not list %s", st.KnownHostsName, req.Server)}
	default:
		g.save = true // trust on first use
	}
	if !g.pin.IsZero() && req.Thumbprint != "" {
		g.param, _ = tlspin.Parse(req.Thumbprint) // Request checked it
	}
	return g, nil
}

// recorded reports whether fp is one of rec's fingerprints.
func recorded(rec *Record, fp tlspin.Fingerprint) bool {
	s := fp.String()
	return s == rec.SHA256 || s == rec.SHA1
}

// Pin is the certificate fingerprint a run must connect with and where it
// comes from; zero when the store pins nothing (the Params' own thumbprint,
// CA or insecure setting then apply).
func (g *Guard) Pin() (tlspin.Fingerprint, string) { return g.pin, g.pinSource }

// VerifyPeer checks each handshake's leaf certificate (esx.Config.
// VerifyPeer): it must match the store's pin, if any, and the Params'
// thumbprint when the store pins, and every connection of the run must
// present the certificate of the first one. Its errors wrap
// errkind.ErrDestinationRefused.
func (g *Guard) VerifyPeer(leaf *x509.Certificate) error {
	if !g.pin.IsZero() && !g.pin.Matches(leaf) {
		// The TLS pin (Pin) has refused it already; this serves a
		// certificate that arrives otherwise (DestinationAction).
		return g.changed(leaf, fmt.Sprintf("%s %s (%s)", g.pin.Algorithm, g.pin, g.pinSource))
	}
	if !g.param.IsZero() && !g.param.Matches(leaf) {
		return g.changed(leaf, fmt.Sprintf("%s thumbprint %s of the machine's Params", g.param.Algorithm, g.param))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = leaf
		return nil
	}
	if !g.seen.Equal(leaf) {
		return g.changed(leaf, "certificate of this run's first connection "+tlspin.Of(g.seen, tlspin.SHA256).String())
	}
	return nil
}

func (g *Guard) changed(leaf *x509.Certificate, pinned string) error {
	rec := Record{Server: g.req.Server, ViHost: g.req.ViHost}
	if g.rec != nil {
		rec = *g.rec
	}
	return &ChangedError{Recorded: rec, Requested: g.req, Presented: tlspin.Of(leaf, tlspin.SHA256).String(), Pinned: pinned, Accept: g.accept}
}

// Refusal turns err, a failed connection, into a *ChangedError when the
// certificate failed the store's pin (a *tlspin.MismatchError); other
// errors, and any error of a nil Guard, are returned as they are.
func (g *Guard) Refusal(err error) error {
	var mm *tlspin.MismatchError
	if g == nil || err == nil || g.pin.IsZero() || !errors.As(err, &mm) || errors.Is(err, errkind.ErrDestinationRefused) {
		return err
	}
	rec := Record{Server: g.req.Server, ViHost: g.req.ViHost}
	if g.rec != nil {
		rec = *g.rec
	}
	return &ChangedError{Recorded: rec, Requested: g.req, Presented: mm.PresentedSHA256.String(),
		Pinned: fmt.Sprintf("%s %s (%s)", g.pin.Algorithm, g.pin, g.pinSource), Accept: g.accept}
}

// Observed is the record to store once the run has logged in, and whether
// one must be stored (a first use, a pre-seeded record without its
// certificate, or a certificate a known-hosts line renewed). machine is the
// machine's name.
func (g *Guard) Observed(machine string, now time.Time) (Record, bool) {
	g.mu.Lock()
	seen := g.seen
	g.mu.Unlock()
	if !g.save || seen == nil {
		return Record{}, false
	}
	return Record{
		Server: g.req.Server, ViHost: g.req.ViHost,
		SHA256: tlspin.Of(seen, tlspin.SHA256).String(), SHA1: tlspin.Of(seen, tlspin.SHA1).String(),
		Machine: machine, Recorded: now.UTC(),
	}, true
}

// Decision is a Guard's verdict in a form that crosses the DRP API: the
// plugin, which holds the store, answers the Go agent's task binary
// (apply --from-drp) with it, and the binary connects as it says.
type Decision struct {
	Server string `json:"server"`
	ViHost string `json:"vihost,omitempty"`
	// Recorded is the machine's record, if any.
	Recorded *Record `json:"recorded,omitempty"`
	// Pin is the certificate fingerprint to connect with ("" none) and
	// PinSource where it comes from.
	Pin       string `json:"pin,omitempty"`
	PinSource string `json:"pinSource,omitempty"`
	// Record says that the destination is recorded once logged in: the
	// binary then sends the certificate the server presented.
	Record bool   `json:"record"`
	Accept string `json:"accept,omitempty"`
}

// Decision is g's verdict, to send.
func (g *Guard) Decision() Decision {
	d := Decision{Server: g.req.Server, ViHost: g.req.ViHost, Recorded: g.rec, PinSource: g.pinSource, Record: g.save, Accept: g.accept}
	if !g.pin.IsZero() {
		d.Pin = g.pin.String()
	}
	return d
}

// FromDecision is the Guard of a run to req that the store's holder
// decided on (d): it refuses, as a *ChangedError, a decision made for
// another destination than req (the Params changed in between).
func FromDecision(req Requested, d Decision) (*Guard, error) {
	g := &Guard{req: req, rec: d.Recorded, pinSource: d.PinSource, save: d.Record, accept: d.Accept}
	if d.Server != req.Server || d.ViHost != req.ViHost {
		rec := Record{Server: d.Server, ViHost: d.ViHost}
		if d.Recorded != nil {
			rec = *d.Recorded
		}
		return nil, &ChangedError{Recorded: rec, Requested: req, Accept: d.Accept}
	}
	if d.Pin != "" {
		pin, err := tlspin.Parse(d.Pin)
		if err != nil {
			return nil, fmt.Errorf("the destination's pin: %w", err)
		}
		g.pin = pin
		if req.Thumbprint != "" {
			g.param, _ = tlspin.Parse(req.Thumbprint) // Request checked it
		}
	}
	return g, nil
}

// Certificate is the certificate of the run's first handshake (nil before
// one).
func (g *Guard) Certificate() *x509.Certificate {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seen
}
