package drp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/tasks"
)

// Environment variables the Go agent sets for a task.
const (
	EnvEndpoint = "RS_ENDPOINT" // API base URL, e.g. https://drp:8092 (no /api/v3)
	EnvToken    = "RS_TOKEN"
	EnvUUID     = "RS_UUID"
)

// CallTimeout bounds each DRP API call.
var CallTimeout = 30 * time.Second

// Session is an API session for one machine.
type Session struct {
	Client  *Client
	Machine Machine
}

// Connect opens an API session from RS_ENDPOINT and RS_TOKEN (DRP's
// self-signed certificate is accepted, as DRP's own clients do) and reads
// machine RS_UUID.
func Connect(ctx context.Context, getenv func(string) string) (*Session, error) {
	endpoint, token, uuid := getenv(EnvEndpoint), getenv(EnvToken), getenv(EnvUUID)
	var missing []string
	for _, kv := range [][2]string{{EnvEndpoint, endpoint}, {EnvToken, token}, {EnvUUID, uuid}} {
		if strings.TrimSpace(kv[1]) == "" {
			missing = append(missing, kv[0])
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s not set (run inside a DRP task)", errkind.ErrInvalid, strings.Join(missing, ", "))
	}
	// Checked before any request: the token must not cross the network in
	// clear, and the UUID goes into request paths.
	if !IsUUID(uuid) {
		return nil, fmt.Errorf("%w: %s is not a machine UUID (8-4-4-4-12 hex digits); no request was sent", errkind.ErrInvalid, EnvUUID)
	}
	if err := httpsEndpoint(endpoint); err != nil {
		return nil, err
	}
	c, err := NewClient(endpoint, token, getenv)
	if err != nil {
		return nil, fmt.Errorf("%w: open session to %s: %w", errkind.ErrDRP, endpoint, err)
	}
	m, err := GetMachine(ctx, c, uuid)
	if err != nil {
		return nil, err
	}
	return &Session{Client: c, Machine: *m}, nil
}

// uuidRe is a UUID as DRP writes machine UUIDs (RFC 4122 text form).
var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsUUID reports whether s is a UUID in its text form. Machine UUIDs go
// into API paths: anything else ("../../profiles/global") could make a
// token reach another object.
func IsUUID(s string) bool { return uuidRe.MatchString(s) }

// httpsEndpoint refuses an RS_ENDPOINT that is not https before the token
// is sent: over http:// the bearer token (which can read the machine's
// Secure Params) would cross the network in clear. DRP serves its API only
// over https. The error wraps errkind.ErrDRP (exit 3) and shows the scheme alone.
func httpsEndpoint(endpoint string) error {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	switch {
	case err != nil || u.Host == "":
		return fmt.Errorf("%w: %s is not an https URL; the token was not sent", errkind.ErrDRP, EnvEndpoint)
	case !strings.EqualFold(u.Scheme, "https"):
		return fmt.Errorf("%w: %s is not https (its scheme is %s): the token would cross the network in clear; it was not sent (DRP serves its API over https, port 8092 by default)",
			errkind.ErrDRP, EnvEndpoint, sanitizeScheme(u.Scheme))
	}
	return nil
}

// GetMachine reads a machine's UUID, Name and Address.
func GetMachine(ctx context.Context, c *Client, uuid string) (*Machine, error) {
	var m struct {
		Uuid, Name, Address string
	}
	if err := c.call(ctx, http.MethodGet, url.Values{"slim": {"Params"}}, nil, &m, "machines", uuid); err != nil {
		return nil, fmt.Errorf("%w: GET machines/%s: %s", errkind.ErrDRP, uuid, errorText(err))
	}
	if m.Address == "<nil>" || m.Address == "0.0.0.0" {
		m.Address = ""
	}
	if m.Uuid == "" {
		m.Uuid = uuid
	}
	return &Machine{UUID: m.Uuid, Name: m.Name, Address: m.Address}, nil
}

// ReadParams reads the input Params of a machine in one call, aggregated
// (machine, profiles, stage, global) and decoded (Secure values in
// plaintext: the token needs machines getSecure on this machine, which DRP's
// default machine token and a job's token carry). Unset Params come back
// null; defaults are not applied here.
func ReadParams(ctx context.Context, c *Client, uuid string) (map[string]any, error) {
	vals := map[string]any{}
	q := url.Values{"aggregate": {"true"}, "decode": {"true"}, "params": {strings.Join(InputParams(), ",")}}
	if err := c.call(ctx, http.MethodGet, q, nil, &vals, "machines", uuid, "params"); err != nil {
		// The error comes from DRP's error body or the transport; neither
		// carries a decoded value.
		return nil, fmt.Errorf("%w: GET machines/%s/params (aggregate, decode): %s", errkind.ErrDRP, uuid, errorText(err))
	}
	for _, n := range InputParams() {
		if v, ok := vals[n]; ok && isSecureData(v) {
			return nil, fmt.Errorf("%w: Param %s came back encrypted: the token lacks the machines getSecure claim", errkind.ErrDRP, n)
		}
	}
	return vals, nil
}

// paramDefault reads a Param's definition from DRP and returns its Schema
// default, and whether it has one.
func paramDefault(ctx context.Context, c *Client, name string) (any, bool, error) {
	var p struct{ Schema any }
	if err := c.call(ctx, http.MethodGet, nil, nil, &p, "params", name); err != nil {
		return nil, false, err
	}
	d, ok := content.SchemaDefault(p.Schema)
	return d, ok, nil
}

// FromDRP is the task side of a run: it connects with RS_ENDPOINT, RS_TOKEN
// and RS_UUID, reads the machine's Params and builds the job.Config. The
// Session is returned whenever the API could be reached, so that a report
// can be written even when the Params are invalid.
func FromDRP(ctx context.Context, getenv func(string) string) (job.Config, *Session, error) {
	s, err := Connect(ctx, getenv)
	if err != nil {
		return job.Config{}, nil, err
	}
	vals, err := ReadParams(ctx, s.Client, s.Machine.UUID)
	if err != nil {
		return job.Config{}, s, err
	}
	cfg, err := Config(s.Machine, vals)
	return cfg, s, err
}

// WriteReport stores the report in esxi/manage-users-report on the machine.
func WriteReport(ctx context.Context, c *Client, uuid string, r *tasks.Report) error {
	if err := c.call(ctx, http.MethodPost, nil, r, nil, "machines", uuid, "params", content.ParamReport); err != nil {
		return fmt.Errorf("%w: POST machines/%s/params/%s: %s", errkind.ErrDRP, uuid, content.ParamReport, errorText(err))
	}
	return nil
}
