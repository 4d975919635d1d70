package passwdqc

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
)

// Disabled is the value passwdqc stores for a "disabled" min= field
// (INT_MAX): no password can ever be that long.
const Disabled = math.MaxInt32

// ESXiDefault is the default value of ESXi's Security.PasswordQualityControl:
// the one definition the project uses (the simulator's initial policy, and
// the policy checked against when a host's cannot be read and none is given).
//
// Source: VMware Cloud Foundation, "Configure the Local User Password
// Complexity Policy for ESXi" (defaults table: Security.PasswordHistory 0,
// Security.PasswordQualityControl "retry=3 min=disabled,disabled,disabled,7,7"),
// https://techdocs2-prod.adobecqms.net/us/en/vmware-cis/vcf/vcf-5-2-and-earlier/4-5/configure-the-password-complexity-policy-for-esxi.html
// and Broadcom KB 412881 (https://knowledge.broadcom.com/external/article/412881,
// "Security.PasswordQualityControl ... retry=3 min=disabled,disabled,disabled,7,7").
const ESXiDefault = "retry=3 min=disabled,disabled,disabled,7,7"

// Enforce values of the PAM-only enforce= option.
const (
	EnforceNone     = "none"
	EnforceUsers    = "users"
	EnforceEveryone = "everyone"
)

// Policy is a parsed passwdqc configuration (passwdqc_params_t).
//
// The zero value is not a useful policy; start from Parse("") for passwdqc's
// defaults.
type Policy struct {
	// Min holds N0..N4 of min=: the minimum lengths for passwords of one
	// class, two classes, passphrases, three classes and four classes.
	// Disabled (INT_MAX) disables a kind.
	Min [5]int
	// Max is the maximum length (max=); max=8 means "truncate to 8".
	Max int
	// Passphrase is the number of words required for a passphrase (0: no
	// passphrases).
	Passphrase int
	// Match is the length of common substring looked for (0: no substring
	// checks at all).
	Match int
	// Similar is true for similar=deny (the default).
	Similar bool
	// Random is the random= bit count (only used by pam_passwdqc to offer
	// random passphrases).
	Random int

	// Wordlist, Denylist and Filter are the files of wordlist=, denylist=
	// and filter= ("" when unset). Wordlist and Denylist are read by Check;
	// Filter (pwqfilter's binary format) is not supported and makes every
	// check fail with "check failed", which is what passwdqc answers when
	// it cannot use the file.
	Wordlist, Denylist, Filter string

	// PAM-only settings, accepted for compatibility and irrelevant to Check.
	Retry           int    // retry=N (default 3)
	Enforce         string // enforce= none|users|everyone (default everyone)
	NonUnix         bool   // non-unix
	AskOldAuthtok   string // "" (unset), "prelim" (ask_oldauthtok) or "update" (ask_oldauthtok=update)
	CheckOldAuthtok bool   // check_oldauthtok
	UseFirstPass    bool   // use_first_pass (implies use_authtok)
	UseAuthtok      bool   // use_authtok
	NoAudit         bool   // noaudit
}

// defaultPolicy returns passwdqc 2.0.2's built-in defaults (passwdqc_parse.c
// "defaults"): min=disabled,24,11,8,7 max=72 passphrase=3 match=4
// similar=deny random=47 enforce=everyone retry=3.
func defaultPolicy() Policy {
	return Policy{
		Min:        [5]int{Disabled, 24, 11, 8, 7},
		Max:        72,
		Passphrase: 3,
		Match:      4,
		Similar:    true,
		Random:     47,
		Retry:      3,
		Enforce:    EnforceEveryone,
	}
}

// ParseError reports an option token passwdqc would refuse. Its message is
// pwqcheck's, without the "pwqcheck: " prefix:
//
//	Error parsing parameter "<token>": Invalid parameter value
type ParseError struct {
	Token  string // the offending token
	Reason string // "Invalid parameter", "Invalid parameter value", or a config file error
	Err    error  // underlying error (config= file), if any
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("Error parsing parameter %q: %s", e.Token, e.Reason)
}

func (e *ParseError) Unwrap() error { return e.Err }

// Sentinel reasons of ParseError.
const (
	reasonInvalid      = "Invalid parameter"
	reasonInvalidValue = "Invalid parameter value"
)

// Parse parses a passwdqc option string the way pam_passwdqc and pwqcheck
// do (passwdqc_params_parse in passwdqc_parse.c, passwdqc.conf(5)): the
// string is split on whitespace, the tokens are applied in order to
// passwdqc 2.0.2's defaults (a later token overrides an earlier one), and
// any unknown token or bad value invalidates the whole string.
func Parse(s string) (Policy, error) {
	p := defaultPolicy()
	if err := p.apply(splitOptions(s), 0); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// ParseESXi is Parse for ESXi's Security.PasswordQualityControl: ESXi ships
// an older passwdqc whose built-in max is 40 (passwdqc <= 1.4.0), so when s
// has no max= token Max is 40 instead of 72.
func ParseESXi(s string) (Policy, error) {
	toks := splitOptions(s)
	p := defaultPolicy()
	p.Max = 40
	if err := p.apply(toks, 0); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// splitOptions splits on C isspace() bytes, as PAM's argument splitting
// would (space and tab; newline, CR, VT and FF are treated alike).
func splitOptions(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		switch r {
		case ' ', '\t', '\n', '\r', '\v', '\f':
			return true
		}
		return false
	})
}

// maxConfigDepth bounds config= nesting (passwdqc_load.c detects loops by
// device and inode; a depth limit gives the same outcome for loops).
const maxConfigDepth = 16

func (p *Policy) apply(toks []string, depth int) error {
	for _, t := range toks {
		if err := p.option(t, depth); err != nil {
			return err
		}
	}
	return nil
}

// cStrtoul mimics C strtoul(s, &end, 10) on an LP64 system: it skips
// leading isspace(), takes an optional sign, and reads decimal digits. It
// returns the value (saturated to ULONG_MAX on overflow, negated modulo
// 2^64 for "-") and the unparsed rest. With no digits the rest is s itself
// and the value 0.
func cStrtoul(s string) (uint64, string) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var v uint64
	overflow := false
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		d := uint64(s[i] - '0')
		if v > (math.MaxUint64-d)/10 {
			overflow = true
		}
		v = v*10 + d
		i++
	}
	if i == start {
		return 0, s
	}
	if overflow {
		return math.MaxUint64, s[i:]
	}
	if neg {
		v = -v
	}
	return v, s[i:]
}

func isCSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// parseUint reads a whole-token unsigned value (passwdqc: strtoul, then
// "*e || v > INT_MAX" is an error). An empty value reads as 0.
func parseUint(v string) (int, bool) {
	n, rest := cStrtoul(v)
	if rest != "" || n > math.MaxInt32 {
		return 0, false
	}
	return int(n), true
}

// option applies one token (parse_option in passwdqc_parse.c).
func (p *Policy) option(tok string, depth int) error {
	bad := func() error { return &ParseError{Token: tok, Reason: reasonInvalidValue} }
	switch {
	case strings.HasPrefix(tok, "min="):
		s := tok[len("min="):]
		var m [5]int
		for i := 0; i < 5; i++ {
			var v uint64
			if strings.HasPrefix(s, "disabled") {
				v = Disabled
				s = s[len("disabled"):]
			} else {
				v, s = cStrtoul(s)
			}
			if i < 4 {
				if s == "" || s[0] != ',' {
					return bad()
				}
				s = s[1:]
			}
			if v > math.MaxInt32 {
				return bad()
			}
			if i > 0 && int(v) > m[i-1] {
				return bad()
			}
			m[i] = int(v)
		}
		if s != "" {
			return bad()
		}
		p.Min = m
	case strings.HasPrefix(tok, "max="):
		n, rest := cStrtoul(tok[len("max="):])
		if rest != "" || n < 8 || n > math.MaxInt32 {
			return bad()
		}
		if n > 10000 {
			n = 10000
		}
		p.Max = int(n)
	case strings.HasPrefix(tok, "passphrase="):
		n, ok := parseUint(tok[len("passphrase="):])
		if !ok {
			return bad()
		}
		p.Passphrase = n
	case strings.HasPrefix(tok, "match="):
		n, ok := parseUint(tok[len("match="):])
		if !ok {
			return bad()
		}
		p.Match = n
	case strings.HasPrefix(tok, "similar="):
		switch tok[len("similar="):] {
		case "permit":
			p.Similar = false
		case "deny":
			p.Similar = true
		default:
			return bad()
		}
	case strings.HasPrefix(tok, "random="):
		n, rest := cStrtoul(tok[len("random="):])
		only := false
		if rest == ",only" {
			rest, only = "", true
		}
		if rest != "" || (n != 0 && n < 24) || n > 136 {
			return bad()
		}
		if only {
			p.Min[4] = Disabled
		}
		p.Random = int(n)
	case strings.HasPrefix(tok, "wordlist="):
		p.Wordlist = tok[len("wordlist="):]
	case strings.HasPrefix(tok, "denylist="):
		p.Denylist = tok[len("denylist="):]
	case strings.HasPrefix(tok, "filter="):
		p.Filter = tok[len("filter="):]
	case strings.HasPrefix(tok, "enforce="):
		switch v := tok[len("enforce="):]; v {
		case EnforceNone, EnforceUsers, EnforceEveryone:
			p.Enforce = v
		default:
			return bad()
		}
	case tok == "non-unix":
		if p.CheckOldAuthtok {
			return bad()
		}
		p.NonUnix = true
	case strings.HasPrefix(tok, "retry="):
		n, ok := parseUint(tok[len("retry="):])
		if !ok {
			return bad()
		}
		p.Retry = n
	case strings.HasPrefix(tok, "ask_oldauthtok"):
		p.AskOldAuthtok = ""
		if p.UseFirstPass {
			return bad()
		}
		switch tok[len("ask_oldauthtok"):] {
		case "":
			p.AskOldAuthtok = "prelim"
		case "=update":
			p.AskOldAuthtok = "update"
		default:
			return bad()
		}
	case tok == "check_oldauthtok":
		if p.NonUnix {
			return bad()
		}
		p.CheckOldAuthtok = true
	case tok == "use_first_pass":
		if p.AskOldAuthtok != "" {
			return bad()
		}
		p.UseFirstPass, p.UseAuthtok = true, true
	case tok == "use_authtok":
		p.UseAuthtok = true
	case tok == "noaudit":
		p.NoAudit = true
	case strings.HasPrefix(tok, "config="):
		if err := p.loadConfig(tok[len("config="):], depth); err != nil {
			return &ParseError{Token: tok, Reason: err.Error(), Err: err}
		}
	default:
		return &ParseError{Token: tok, Reason: reasonInvalid}
	}
	return nil
}

// errConfigLoop is returned for config= files nested too deeply (loops).
//
//lint:ignore ST1005 passwdqc's message, verbatim (pwqcheck ends a config= loop error with it)
var errConfigLoop = errors.New("Loop detected")

// loadConfig reads a passwdqc.conf(5) file (passwdqc_params_load in
// passwdqc_load.c): one option per line, blank lines and lines starting
// with '#' ignored, surrounding spaces/tabs allowed, a second token on a
// line is an error.
func (p *Policy) loadConfig(path string, depth int) error {
	if depth >= maxConfigDepth {
		return fmt.Errorf("Error opening %q: %w", path, errConfigLoop)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("Error opening %q: %w", path, err)
	}
	for n, line := range strings.Split(string(data), "\n") {
		if len(line) >= 8190 {
			return fmt.Errorf("Error reading %q at line %d: Line too long", path, n+1)
		}
		f := strings.FieldsFunc(line, func(r rune) bool {
			return r == ' ' || r == '\t' || r == '\r'
		})
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) > 1 {
			return fmt.Errorf("Error loading %q at line %d: Unexpected token", path, n+1)
		}
		if err := p.option(f[0], depth+1); err != nil {
			return fmt.Errorf("Error loading %q at line %d: %w", path, n+1, err)
		}
	}
	return nil
}
