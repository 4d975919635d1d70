// Package drp is the Digital Rebar Provision side of esxi-users, shared by
// the task binary (esxi-manage-users apply --from-drp) and the plugin action
// (esxiManageUsers): it reads a machine's esxi/manage-users* Params, applies
// the content pack's defaults and documented fallbacks, runs the job, and
// writes esxi/manage-users-report.
//
// Nothing here logs or returns a secret: the Secure Params' values go into
// job.Config (as bytes and params.Password) and nowhere else.
package drp

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/sspi"
	"github.com/esxi-users/esxi-users/params"
)

// Machine is what the job needs to know about the DRP machine.
type Machine struct {
	UUID    string
	Name    string
	Address string // the machine's Address ("" when unset)
}

// InputParams are the Params a run reads: the task's Required and Optional
// Params, from the content pack.
func InputParams() []string {
	return append(content.RequiredParams(), content.OptionalParams()...)
}

// WithDefaults returns vals with the content pack's Schema default filled
// in for every input Param that is absent or null (DRP's aggregate=true
// does not apply defaults).
func WithDefaults(vals map[string]any) map[string]any {
	out := make(map[string]any, len(vals))
	for k, v := range vals {
		out[k] = v
	}
	for _, name := range InputParams() {
		if v, ok := out[name]; ok && v != nil {
			continue
		}
		if d, ok := content.Default(name); ok {
			out[name] = d
		}
	}
	return out
}

// Config builds a job.Config from a machine and its (aggregated, decoded)
// Param values. Defaults are applied first; then esxi/manage-users-server
// falls back to the machine's Address and esxi/manage-users-password to
// esxi/insecure-password. Errors name the Param, never its value, and wrap
// params.ErrInvalid.
func Config(m Machine, vals map[string]any) (job.Config, error) {
	vals = WithDefaults(vals)
	var cfg job.Config
	var err error

	users := vals[content.ParamUsers]
	switch u := users.(type) {
	case nil:
		cfg.Input = []byte("[]")
	case string: // a YAML or JSON document stored as text
		cfg.Input = []byte(u)
	default:
		if cfg.Input, err = json.Marshal(u); err != nil {
			return cfg, invalid(content.ParamUsers, "cannot be encoded as JSON")
		}
	}

	if cfg.Ignore, err = stringList(vals, content.ParamIgnoreList); err != nil {
		return cfg, err
	}
	if cfg.Server, err = str(vals, content.ParamServer); err != nil {
		return cfg, err
	}
	if cfg.Server == "" {
		cfg.Server = m.Address
	}
	if cfg.Server == "" {
		return cfg, invalid(content.ParamServer, "is not set and the machine has no Address")
	}
	if cfg.Username, err = str(vals, content.ParamUsername); err != nil {
		return cfg, err
	}
	if cfg.Username == "" {
		cfg.Username = "root"
	}
	pw, err := str(vals, content.ParamPassword)
	if err != nil {
		return cfg, err
	}
	if pw == "" {
		if pw, err = str(vals, content.ParamInsecurePassword); err != nil {
			return cfg, err
		}
	}
	cfg.Password = params.NewPassword(pw)
	if cfg.Thumbprint, err = str(vals, content.ParamThumbprint); err != nil {
		return cfg, err
	}
	if cfg.Insecure, err = boolean(vals, content.ParamInsecure); err != nil {
		return cfg, err
	}
	if cfg.PasswordPolicy, err = str(vals, content.ParamPasswordPolicy); err != nil {
		return cfg, err
	}
	if cfg.SkipPasswordCheck, err = boolean(vals, content.ParamSkipPasswordCheck); err != nil {
		return cfg, err
	}
	if cfg.ViHost, err = str(vals, content.ParamViHost); err != nil {
		return cfg, err
	}
	passThrough, err := boolean(vals, content.ParamPassThrough)
	if err != nil || !passThrough {
		return cfg, err
	}
	pkg, err := str(vals, content.ParamPassThroughPkg)
	if err != nil {
		return cfg, err
	}
	spn, err := str(vals, content.ParamSPN)
	if err != nil {
		return cfg, err
	}
	switch strings.ToLower(pkg) {
	case "", "negotiate":
		pkg = string(sspi.Negotiate)
	case "kerberos":
		pkg = string(sspi.Kerberos)
	default:
		return cfg, invalid(content.ParamPassThroughPkg, "must be Negotiate or Kerberos")
	}
	// Kerberos credentials and configuration come from the process's
	// environment (KRB5CCNAME, KRB5_CONFIG), as after kinit.
	cfg.PassThrough = &sspi.Config{Package: sspi.Package(pkg), SPN: spn}
	return cfg, nil
}

func invalid(name, msg string) error {
	return fmt.Errorf("%w: Param %s %s", params.ErrInvalid, name, msg)
}

// typeName describes a JSON value without quoting it.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, json.Number, int, int64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

func str(vals map[string]any, name string) (string, error) {
	switch v := vals[name].(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(v), nil
	default:
		return "", invalid(name, "must be a string, got "+typeName(v))
	}
}

func boolean(vals map[string]any, name string) (bool, error) {
	switch v := vals[name].(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	default:
		return false, invalid(name, "must be a boolean, got "+typeName(v))
	}
}

func stringList(vals map[string]any, name string) ([]string, error) {
	switch v := vals[name].(type) {
	case nil:
		return nil, nil
	case []string:
		return v, nil
	case []any:
		out := make([]string, 0, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, invalid(name, fmt.Sprintf("item %d must be a string, got %s", i+1, typeName(x)))
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, invalid(name, "must be an array of strings, got "+typeName(v))
	}
}
