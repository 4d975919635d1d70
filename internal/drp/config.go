// Package drp is the Digital Rebar Provision side of esxi-users, shared by
// the task binary (esxi-manage-users apply --from-drp) and the plugin action
// (esxiManageUsers): it reads a machine's esxi/manage-users* Params, applies
// the content pack's defaults and documented fallbacks, runs the job, and
// writes esxi/manage-users-report.
//
// Nothing here logs or returns a secret: the Secure Params' values go into
// job.Config (as bytes and params.Password) and nowhere else, byte for byte
// (only non-secret Params are normalised). A server Param with user
// information in it (user:password@) is refused, never printed.
package drp

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/sspi"
	"github.com/esxi-users/esxi-users/internal/tlspin"
	"github.com/esxi-users/esxi-users/params"
)

// Machine is what the job needs to know about the DRP machine.
type Machine struct {
	UUID    string
	Name    string
	Address string // the machine's Address ("" when unset)
	// Job is the machine's CurrentJob as the plugin's action received it
	// ("" none): the job whose log a waiting run writes to (Queue).
	Job string
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
// errkind.ErrInvalid.
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
	if cfg.Server, err = server(vals); err != nil {
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
	// Secrets byte for byte: a password may begin or end with spaces.
	pw, err := secret(vals, content.ParamPassword)
	if err != nil {
		return cfg, err
	}
	if pw == "" {
		if pw, err = secret(vals, content.ParamInsecurePassword); err != nil {
			return cfg, err
		}
	}
	cfg.Password = params.NewPassword(pw)
	if cfg.Thumbprint, err = str(vals, content.ParamThumbprint); err != nil {
		return cfg, err
	}
	if cfg.Thumbprint != "" {
		if _, err := tlspin.Parse(cfg.Thumbprint); err != nil {
			return cfg, invalid(content.ParamThumbprint, "is "+err.Error())
		}
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
	if cfg.AllowSelfLockout, err = boolean(vals, content.ParamAllowSelfLockout); err != nil {
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
	return fmt.Errorf("%w: Param %s %s", errkind.ErrInvalid, name, msg)
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

// server reads esxi/manage-users-server. It is not a Secure Param, so a
// password must never be in it: any user information (user@ or
// user:password@) is refused, and so is plain http (ESXi serves its API only
// over HTTPS; the login and the users' passwords would cross the network in
// clear). The error names the Params, never the value.
func server(vals map[string]any) (string, error) {
	s, err := str(vals, content.ParamServer)
	if err != nil || s == "" {
		return s, err
	}
	if strings.Contains(s, "@") {
		return "", invalid(content.ParamServer, fmt.Sprintf("must not contain user information (user@ or user:password@): "+
			"it is not a Secure Param; put the user in %s and the password in %s (Secure)", content.ParamUsername, content.ParamPassword))
	}
	if scheme, _, ok := strings.Cut(s, "://"); ok && !strings.EqualFold(scheme, "https") {
		return "", invalid(content.ParamServer, fmt.Sprintf("uses %s://: ESXi serves its API only over https, and the login and "+
			"every new user's password would cross the network in clear; use https:// or a bare host name", strings.ToLower(sanitizeScheme(scheme))))
	}
	return s, nil
}

// sanitizeScheme keeps a URL scheme printable without echoing anything else.
func sanitizeScheme(s string) string {
	if len(s) > 10 {
		return "a non-https scheme"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return "a non-https scheme"
		}
	}
	return s
}

// DisplayServer is a server value safe to print: everything up to the last
// "@" of the authority (user information) is removed. Config refuses such
// values anyway; this guards every place a server is printed.
func DisplayServer(s string) string {
	s = strings.TrimSpace(s)
	rest, prefix := s, ""
	if i := strings.Index(s, "://"); i >= 0 {
		prefix, rest = s[:i+3], s[i+3:]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	return prefix + rest
}

// secret reads a Secure string Param exactly as stored (no trimming).
func secret(vals map[string]any, name string) (string, error) {
	switch v := vals[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", invalid(name, "must be a string, got "+typeName(v))
	}
}

// str reads a non-secret string Param, trimmed.
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
