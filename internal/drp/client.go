package drp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/digitalrebar/provision/v4/api"
	"github.com/digitalrebar/provision/v4/models"

	"github.com/esxi-users/esxi-users/content"
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

// ErrDRP marks a failure to reach, authenticate to or read from the DRP API
// before the run: nothing was applied (exit code 3, as an unreachable host).
// A failure to store the report after the run is reported separately.
var ErrDRP = errors.New("DRP API call failed")

// Session is an API session for one machine.
type Session struct {
	Client  *api.Client
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
		return nil, fmt.Errorf("%w: %s not set (run inside a DRP task)", tasks.ErrInvalid, strings.Join(missing, ", "))
	}
	c, err := api.TokenSession(strings.TrimSuffix(endpoint, "/"), token)
	if err != nil {
		return nil, fmt.Errorf("%w: open session to %s: %v", ErrDRP, endpoint, err)
	}
	m, err := GetMachine(ctx, c, uuid)
	if err != nil {
		return nil, err
	}
	return &Session{Client: c, Machine: *m}, nil
}

// GetMachine reads a machine's UUID, Name and Address.
func GetMachine(ctx context.Context, c *api.Client, uuid string) (*Machine, error) {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	var m struct {
		Uuid, Name, Address string
	}
	if err := c.Req().Context(ctx).UrlFor("machines", uuid).Params("slim", "Params").Do(&m); err != nil {
		return nil, fmt.Errorf("%w: GET machines/%s: %s", ErrDRP, uuid, apiError(err))
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
// plaintext: the token needs the machines getSecure claim, which the task
// adds). Unset Params come back null; defaults are not applied here.
func ReadParams(ctx context.Context, c *api.Client, uuid string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	vals := map[string]any{}
	err := c.Req().Context(ctx).UrlFor("machines", uuid, "params").
		Params("aggregate", "true", "decode", "true", "params", strings.Join(InputParams(), ",")).
		Do(&vals)
	if err != nil {
		// The error comes from DRP's error body or the transport; neither
		// carries a decoded value.
		return nil, fmt.Errorf("%w: GET machines/%s/params (aggregate, decode): %s", ErrDRP, uuid, apiError(err))
	}
	for _, n := range InputParams() {
		if v, ok := vals[n]; ok && models.IsSecureData(v) {
			return nil, fmt.Errorf("%w: Param %s came back encrypted: the token lacks the machines getSecure claim", ErrDRP, n)
		}
	}
	return vals, nil
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
func WriteReport(ctx context.Context, c *api.Client, uuid string, r *tasks.Report) error {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	var stored any
	err := c.Req().Context(ctx).Post(r).UrlFor("machines", uuid, "params", content.ParamReport).Do(&stored)
	if err != nil {
		return fmt.Errorf("%w: POST machines/%s/params/%s: %s", ErrDRP, uuid, content.ParamReport, apiError(err))
	}
	return nil
}

// apiError renders an API error: DRP's models.Error messages, or for a
// transport failure only its first line (never a response dump).
func apiError(err error) string {
	var me *models.Error
	if errors.As(err, &me) {
		msgs := me.Messages
		if me.Type == "CLIENT_ERROR" && len(msgs) > 0 {
			msgs = msgs[:1] // the SDK may append a raw response dump after the cause
		}
		s := strings.Join(msgs, "; ")
		if me.Code != 0 {
			s = fmt.Sprintf("%d %s", me.Code, s)
		}
		return firstLine(s)
	}
	return firstLine(err.Error())
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
