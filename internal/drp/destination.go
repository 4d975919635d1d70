package drp

// The destination store (internal/destination says what it protects): the
// profile content.DestinationsProfile, which only admins and the plugin can
// write. In dr-provision, machine, job and unknown-machine tokens carry no
// claim on the profiles scope (backend/renderData.go GenerateToken), so no
// token rendered onto a host can change a record; and the plugin reads the
// profile itself, never a machine's aggregated Params (a machine may attach
// any profile to itself). Records live on a profile rather than on the
// plugin's own object because DRP stops and restarts a plugin whenever its
// Params change (backend/plugin.go restartPlugin), which would cut off every
// run in progress each time a record is written.

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/destination"
	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/tlspin"
)

// DestinationParam is the Param of the destinations profile that holds a
// machine's record.
func DestinationParam(uuid string) string { return content.ParamDestinationPrefix + uuid }

// AcceptCommand is the admin step that accepts a new destination for a
// machine: its record is removed, and the next run records anew (checked
// against esxi-users/known-hosts, if set).
func AcceptCommand(uuid string) string {
	return fmt.Sprintf("drpcli profiles remove %s param %s", content.DestinationsProfile, DestinationParam(uuid))
}

// RecordCommand is the admin step that records a machine's destination
// before its first run.
func RecordCommand(uuid string) string {
	return fmt.Sprintf(`drpcli profiles set %s param %s to '{"server": "HOST:443", "sha256": "AB:CD:..."}'`, content.DestinationsProfile, DestinationParam(uuid))
}

// LoadDestination reads a machine's record and the policy from the
// destinations profile, in one call. A profile that does not exist yet is
// created, empty (trust on first use). Errors wrap errkind.ErrDRP: nothing may be
// contacted without the store.
func LoadDestination(ctx context.Context, c *Client, uuid string) (destination.State, error) {
	st := destination.State{Policy: destination.Policy{
		TrustOnFirstUse:     true,
		KnownHostsName:      fmt.Sprintf("%s (profile %s)", content.ParamKnownHosts, content.DestinationsProfile),
		TrustOnFirstUseName: fmt.Sprintf("%s (profile %s)", content.ParamTrustOnFirstUse, content.DestinationsProfile),
		Accept:              AcceptCommand(uuid),
		Seed:                RecordCommand(uuid),
	}}
	key := DestinationParam(uuid)
	vals := map[string]json.RawMessage{}
	q := url.Values{"params": {strings.Join([]string{key, content.ParamKnownHosts, content.ParamTrustOnFirstUse}, ",")}}
	get := func() error {
		return c.call(ctx, http.MethodGet, q, nil, &vals, "profiles", content.DestinationsProfile, "params")
	}
	err := get()
	if isStatus(err, http.StatusNotFound) {
		// DRP answers a read it does not allow with 404 too
		// (frontend/frontend.go assureAuth): the store is empty only if
		// the profile can be created now. If another run created it
		// meanwhile (409), it is read again.
		err = createStore(ctx, c)
		if !isStatus(err, http.StatusConflict) {
			return st, err
		}
		if err = get(); isStatus(err, http.StatusNotFound) {
			return st, fmt.Errorf("%w: profile %s exists but cannot be read (GET answered 404): the destination store is unusable; nothing was contacted", errkind.ErrDRP, content.DestinationsProfile)
		}
	}
	if err != nil {
		return st, fmt.Errorf("%w: read the destination store (GET profiles/%s/params): %s", errkind.ErrDRP, content.DestinationsProfile, errorText(err))
	}
	bad := func(name, why string) error {
		return fmt.Errorf("%w: the destination store: Param %s of profile %s %s; nothing was contacted", errkind.ErrDRP, name, content.DestinationsProfile, why)
	}
	if raw := vals[key]; len(raw) > 0 && string(raw) != "null" {
		var rec destination.Record
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			return st, bad(key, "is not a destination record ({\"server\": …, \"vihost\": …, \"sha256\": …})")
		}
		if err := rec.Validate(); err != nil {
			return st, bad(key, "is not a valid record: "+err.Error())
		}
		st.Record = &rec
	}
	if raw := vals[content.ParamKnownHosts]; len(raw) > 0 && string(raw) != "null" {
		var text string
		if json.Unmarshal(raw, &text) != nil {
			return st, bad(content.ParamKnownHosts, "is not a string")
		}
		kh, err := tlspin.ParseKnownHosts(text, content.ParamKnownHosts)
		if err != nil {
			return st, bad(content.ParamKnownHosts, "is not valid: "+err.Error())
		}
		st.KnownHosts = kh
	}
	if raw := vals[content.ParamTrustOnFirstUse]; len(raw) > 0 && string(raw) != "null" {
		if json.Unmarshal(raw, &st.TrustOnFirstUse) != nil {
			return st, bad(content.ParamTrustOnFirstUse, "is not a boolean")
		}
	}
	return st, nil
}

// createStore creates the destinations profile, empty. A profile that
// exists already is the API's *Error with status 409.
func createStore(ctx context.Context, c *Client) error {
	profile := map[string]any{
		"Name":        content.DestinationsProfile,
		"Description": "esxi-users: where each machine's runs log in (written by the esxi-users plugin and admins only)",
		"Documentation": "Records of the esxi-users plugin, one Param esxi-users/destination/<machine UUID> per machine, " +
			"and its policy (esxi-users/known-hosts, esxi-users/trust-on-first-use). Never attach this profile to a machine " +
			"and never render a profile token for it.",
		"Params": map[string]any{},
	}
	err := c.call(ctx, http.MethodPost, nil, profile, nil, "profiles")
	if isStatus(err, http.StatusConflict) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: create the destination store (POST profiles %s): %s; nothing was contacted", errkind.ErrDRP, content.DestinationsProfile, errorText(err))
	}
	return nil
}

// isStatus reports whether err is an API answer with status code.
func isStatus(err error, code int) bool {
	var derr *Error
	return errors.As(err, &derr) && derr.Code == code
}

// SaveDestination writes a machine's record on the destinations profile.
// Errors wrap errkind.ErrDRP.
func SaveDestination(ctx context.Context, c *Client, uuid string, rec destination.Record) error {
	key := DestinationParam(uuid)
	if err := c.call(ctx, http.MethodPost, nil, rec, nil, "profiles", content.DestinationsProfile, "params", key); err != nil {
		return fmt.Errorf("%w: record the destination (POST profiles/%s/params/%s): %s", errkind.ErrDRP, content.DestinationsProfile, key, errorText(err))
	}
	return nil
}

// decide checks cfg's destination against the store for machine m,
// before anything is contacted. The error wraps errkind.ErrDestinationRefused
// (the destination differs, or the policy wants a record), errkind.ErrDRP (the
// store could not be read) or errkind.ErrInvalid (the server is not one).
func decide(ctx context.Context, c *Client, m Machine, cfg job.Config) (*destination.Guard, error) {
	req, err := requested(cfg)
	if err != nil {
		return nil, err
	}
	st, err := LoadDestination(ctx, c, m.UUID)
	if err != nil {
		return nil, err
	}
	return destination.Check(req, st)
}

// requested is the destination cfg asks for.
func requested(cfg job.Config) (destination.Requested, error) {
	if _, err := esx.ServerURL(cfg.Server); err != nil {
		return destination.Requested{}, err // invalid input (exit 2), as job.Run would say
	}
	req, err := destination.Request(cfg.Server, cfg.ViHost, cfg.Thumbprint)
	if err != nil {
		return destination.Requested{}, fmt.Errorf("%w: %w", errkind.ErrInvalid, err)
	}
	return req, nil
}

// arm makes cfg's run connect only as g allows: pinned to the store's
// certificate (if it pins), each handshake checked (g.VerifyPeer), and,
// once logged in and before the host is read, the destination recorded
// with record when g says so (an error stops the run, nothing changed).
func arm(g *destination.Guard, cfg *job.Config, machine string, record func(context.Context, destination.Record) error, log ActionLog) {
	d := g.Decision()
	where := destination.Requested{Server: d.Server, ViHost: d.ViHost}
	if pin, source := g.Pin(); !pin.IsZero() {
		cfg.Thumbprint, cfg.ThumbprintSource, cfg.Insecure = pin.String(), source, false
		log("info", fmt.Sprintf("destination %s: certificate pinned (%s)", where, source))
	} else if d.Recorded == nil {
		log("info", fmt.Sprintf("no destination is recorded for this machine yet: this run records %s once logged in", where))
	}
	cfg.VerifyPeer = g.VerifyPeer
	cfg.Connected = func(ctx context.Context) error {
		rec, ok := g.Observed(machine, time.Now())
		if !ok {
			return nil
		}
		if err := record(ctx, rec); err != nil {
			return fmt.Errorf("%w; logged in, but nothing was changed", err)
		}
		log("info", fmt.Sprintf("recorded destination %s in profile %s", rec, content.DestinationsProfile))
		return nil
	}
}

// guardRun is the plugin action's check (see RunAction): decide, then arm
// the run to record in the store itself.
func guardRun(ctx context.Context, c *Client, m Machine, cfg *job.Config, log ActionLog) (*destination.Guard, error) {
	g, err := decide(ctx, c, m, *cfg)
	if err != nil {
		return nil, err
	}
	arm(g, cfg, m.Name, func(ctx context.Context, rec destination.Record) error { return SaveDestination(ctx, c, m.UUID, rec) },
		func(level, msg string) { log(level, content.ActionName+": "+msg) })
	return g, nil
}

// CertificateArg is the argument of the destination action that carries
// the certificate a run logged in to (base64 of its DER).
const CertificateArg = "certificate"

// DestinationAction is the body of the plugin's machine action
// content.DestinationActionName, which the task binary (apply --from-drp on
// a Go agent) calls: the store is readable and writable by the plugin
// only. The destination is the one the machine's stored Params ask for
// (read by the plugin, never taken from the arguments). Without arguments
// it answers the Decision (403 when the run must not go there); with
// CertificateArg, sent once the run has logged in, it records the
// destination when the decision says so and the certificate passes its
// pins, and answers the Decision.
func DestinationAction(ctx context.Context, c *Client, m Machine, args map[string]any) (*destination.Decision, *Error) {
	fail := func(code int, err error) *Error {
		return &Error{Model: "machines", Key: m.UUID, Type: "plugin", Code: code, Messages: safeLines([]string{err.Error()})}
	}
	stored, err := ReadParams(ctx, c, m.UUID)
	if err != nil {
		return nil, fail(http.StatusServiceUnavailable, err)
	}
	cfg, err := Config(m, stored)
	if err != nil {
		return nil, fail(http.StatusBadRequest, err)
	}
	g, err := decide(ctx, c, m, cfg)
	if err != nil {
		return nil, fail(errkind.HTTPStatus(err), err)
	}
	raw, ok := args[CertificateArg]
	if !ok {
		d := g.Decision()
		return &d, nil
	}
	der, err := decodeCertificate(raw)
	if err != nil {
		return nil, fail(http.StatusBadRequest, err)
	}
	if err := g.VerifyPeer(der); err != nil {
		return nil, fail(http.StatusForbidden, err)
	}
	if rec, ok := g.Observed(m.Name, time.Now()); ok {
		if err := SaveDestination(ctx, c, m.UUID, rec); err != nil {
			return nil, fail(http.StatusServiceUnavailable, err)
		}
	}
	d := g.Decision()
	return &d, nil
}

// decodeCertificate reads CertificateArg.
func decodeCertificate(v any) (*x509.Certificate, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%w: argument %s must be a string (base64 of a DER certificate)", errkind.ErrInvalid, CertificateArg)
	}
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: argument %s is not base64", errkind.ErrInvalid, CertificateArg)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: argument %s is not a DER certificate", errkind.ErrInvalid, CertificateArg)
	}
	return cert, nil
}

// guardTask is the task binary's check (apply --from-drp): it asks the
// plugin's destination action for the machine's Decision before anything
// is contacted, and arms the run to send the certificate back for the
// record once logged in. A refusal (403) wraps errkind.ErrDestinationRefused; a
// plugin that cannot be asked, errkind.ErrDRP: the run does not go on without the
// store.
func guardTask(ctx context.Context, s *Session, cfg *job.Config, log ActionLog) (*destination.Guard, error) {
	req, err := requested(*cfg)
	if err != nil {
		return nil, err
	}
	post := func(ctx context.Context, args map[string]any) (*destination.Decision, error) {
		var d destination.Decision
		q := url.Values{"plugin": {content.PluginName}}
		err := s.Client.call(ctx, http.MethodPost, q, args, &d, "machines", s.Machine.UUID, "actions", content.DestinationActionName)
		var derr *Error
		switch {
		case errors.As(err, &derr) && derr.Code == http.StatusForbidden && derr.Type != "AUTH": // the plugin's answer (DRP sets its Type to INVOKE), not DRP's claim check (AUTH)
			return nil, destination.Refused(strings.Join(derr.Messages, "; "))
		case err != nil:
			return nil, fmt.Errorf("%w: the %s plugin's destination check (POST machines/%s/actions/%s): %s; nothing was contacted",
				errkind.ErrDRP, content.PluginName, s.Machine.UUID, content.DestinationActionName, errorText(err))
		}
		return &d, nil
	}
	d, err := post(ctx, map[string]any{})
	if err != nil {
		return nil, err
	}
	g, err := destination.FromDecision(req, *d)
	if err != nil {
		return nil, err
	}
	arm(g, cfg, s.Machine.Name, func(ctx context.Context, _ destination.Record) error {
		cert := g.Certificate()
		_, err := post(ctx, map[string]any{CertificateArg: base64.StdEncoding.EncodeToString(cert.Raw)})
		return err
	}, log)
	return g, nil
}
