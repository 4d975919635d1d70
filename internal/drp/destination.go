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
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/destination"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/tlspin"
	"github.com/esxi-users/esxi-users/params"
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
// an empty store (trust on first use). Errors wrap ErrDRP: nothing may be
// contacted without the store.
func LoadDestination(ctx context.Context, c *Client, uuid string) (destination.State, error) {
	st := destination.State{Policy: destination.Policy{
		TrustOnFirstUse:     true,
		KnownHostsName:      fmt.Sprintf("%s (profile %s)", content.ParamKnownHosts, content.DestinationsProfile),
		TrustOnFirstUseName: fmt.Sprintf("%s (profile %s)", content.ParamTrustOnFirstUse, content.DestinationsProfile),
		Accept:              AcceptCommand(uuid),
	}}
	key := DestinationParam(uuid)
	vals := map[string]json.RawMessage{}
	q := url.Values{"params": {strings.Join([]string{key, content.ParamKnownHosts, content.ParamTrustOnFirstUse}, ",")}}
	err := c.call(ctx, http.MethodGet, q, nil, &vals, "profiles", content.DestinationsProfile, "params")
	var derr *Error
	if errors.As(err, &derr) && derr.Code == http.StatusNotFound {
		// DRP answers a read it does not allow with 404 too
		// (frontend/frontend.go assureAuth): the store is empty only if
		// the profile can be created now.
		return st, createStore(ctx, c)
	}
	if err != nil {
		return st, fmt.Errorf("%w: read the destination store (GET profiles/%s/params): %s", ErrDRP, content.DestinationsProfile, errorText(err))
	}
	bad := func(name, why string) error {
		return fmt.Errorf("%w: the destination store: Param %s of profile %s %s; nothing was contacted", ErrDRP, name, content.DestinationsProfile, why)
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
// exists (409) but could not be read is an error: its records must not be
// skipped.
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
	var derr *Error
	if errors.As(err, &derr) && derr.Code == http.StatusConflict {
		return fmt.Errorf("%w: profile %s exists but cannot be read (GET answered 404): the destination store is unusable; nothing was contacted", ErrDRP, content.DestinationsProfile)
	}
	if err != nil {
		return fmt.Errorf("%w: create the destination store (POST profiles %s): %s; nothing was contacted", ErrDRP, content.DestinationsProfile, errorText(err))
	}
	return nil
}

// SaveDestination writes a machine's record on the destinations profile.
// Errors wrap ErrDRP.
func SaveDestination(ctx context.Context, c *Client, uuid string, rec destination.Record) error {
	key := DestinationParam(uuid)
	if err := c.call(ctx, http.MethodPost, nil, rec, nil, "profiles", content.DestinationsProfile, "params", key); err != nil {
		return fmt.Errorf("%w: record the destination (POST profiles/%s/params/%s): %s", ErrDRP, content.DestinationsProfile, key, errorText(err))
	}
	return nil
}

// guardRun checks cfg's destination against the store for machine m before
// anything is contacted, and makes the run connect only as the store
// allows: pinned to the recorded (or known-hosts) certificate, each
// handshake checked, and the destination recorded once logged in and
// before the host is read. The error wraps destination.ErrRefused (the
// destination differs) or ErrDRP (the store could not be read).
func guardRun(ctx context.Context, c *Client, m Machine, cfg *job.Config, log ActionLog) (*destination.Guard, error) {
	if _, err := esx.ServerURL(cfg.Server); err != nil {
		return nil, err // invalid input (exit 2), as job.Run would say
	}
	req, err := destination.Request(cfg.Server, cfg.ViHost, cfg.Thumbprint)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", params.ErrInvalid, err)
	}
	st, err := LoadDestination(ctx, c, m.UUID)
	if err != nil {
		return nil, err
	}
	g, err := destination.Check(req, st)
	if err != nil {
		return nil, err
	}
	if pin, source := g.Pin(); !pin.IsZero() {
		cfg.Thumbprint, cfg.ThumbprintSource, cfg.Insecure = pin.String(), source, false
		log("info", fmt.Sprintf("%s: destination %s: certificate pinned (%s)", content.ActionName, req, source))
	} else if st.Record == nil {
		log("info", fmt.Sprintf("%s: no destination recorded for this machine yet: this run records %s once logged in", content.ActionName, req))
	}
	cfg.VerifyPeer = g.VerifyPeer
	cfg.Connected = func(ctx context.Context) error {
		rec, ok := g.Observed(m.Name, time.Now())
		if !ok {
			return nil
		}
		if err := SaveDestination(ctx, c, m.UUID, rec); err != nil {
			return fmt.Errorf("%w; logged in, but nothing was changed", err)
		}
		log("info", fmt.Sprintf("%s: recorded destination %s in profile %s", content.ActionName, rec, content.DestinationsProfile))
		return nil
	}
	return g, nil
}
