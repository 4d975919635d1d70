package passwdqc

import (
	"strconv"
	"strings"
)

// Policy methods only the tests use: the oracle tests compare password
// changes with pwqcheck's second line, and the parser tests round-trip
// options through a canonical string.

// CheckChange is Check for a password change from old (pwqcheck's second
// line): it also rejects a new password equal to, or with similar=deny based
// on, the old one. An empty old password behaves like pwqcheck's empty
// second line.
func (p Policy) CheckChange(password, old string, acct *Account) string {
	o := cString(old)
	defer wipe(o)
	return p.check(cString(password), o, acct)
}

// String returns a canonical option string that Parse turns back into p,
// e.g. "min=disabled,24,11,8,7 max=72 passphrase=3 match=4 similar=deny
// random=47 enforce=everyone retry=3". PAM-only flags are included when set.
func (p Policy) String() string {
	minField := func(v int) string {
		if v >= Disabled {
			return "disabled"
		}
		return strconv.Itoa(v)
	}
	m := p.Min
	randomOnly := false
	// random=N,only sets N4=INT_MAX without the min= ordering rule; emit it
	// that way when N4 alone breaks the ordering.
	if m[4] >= Disabled && m[3] < Disabled {
		m[4] = m[3]
		randomOnly = true
	}
	var parts []string
	ms := make([]string, 5)
	for i, v := range m {
		ms[i] = minField(v)
	}
	parts = append(parts, "min="+strings.Join(ms, ","))
	parts = append(parts, "max="+strconv.Itoa(p.Max))
	parts = append(parts, "passphrase="+strconv.Itoa(p.Passphrase))
	parts = append(parts, "match="+strconv.Itoa(p.Match))
	if p.Similar {
		parts = append(parts, "similar=deny")
	} else {
		parts = append(parts, "similar=permit")
	}
	r := "random=" + strconv.Itoa(p.Random)
	if randomOnly {
		r += ",only"
	}
	parts = append(parts, r)
	for _, f := range []struct{ key, val string }{
		{"wordlist=", p.Wordlist}, {"denylist=", p.Denylist}, {"filter=", p.Filter},
	} {
		if f.val != "" {
			parts = append(parts, f.key+f.val)
		}
	}
	if p.Enforce != "" {
		parts = append(parts, "enforce="+p.Enforce)
	}
	parts = append(parts, "retry="+strconv.Itoa(p.Retry))
	if p.NonUnix {
		parts = append(parts, "non-unix")
	}
	switch p.AskOldAuthtok {
	case "prelim":
		parts = append(parts, "ask_oldauthtok")
	case "update":
		parts = append(parts, "ask_oldauthtok=update")
	}
	if p.CheckOldAuthtok {
		parts = append(parts, "check_oldauthtok")
	}
	if p.UseFirstPass {
		parts = append(parts, "use_first_pass")
	} else if p.UseAuthtok {
		parts = append(parts, "use_authtok")
	}
	if p.NoAudit {
		parts = append(parts, "noaudit")
	}
	return strings.Join(parts, " ")
}
