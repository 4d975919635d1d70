package passwdqc

import "bytes"

// maxLength is passwdqc's hard length limit (passwdqc_check.c).
const maxLength = 10000

// Account is the personal information a password is compared with, as
// pam_passwdqc gets it from getpwnam() and pwqcheck from a passwd(5) line:
// the login name, the whole GECOS field (on ESXi, the account description)
// and the home directory.
type Account struct {
	User, Gecos, Home string
}

// Check returns "" if password is acceptable under p, otherwise passwdqc's
// reason, e.g. "too short", "not enough different characters or classes",
// "based on a dictionary word and not a passphrase". acct may be nil (no
// personal-information check, like pwqcheck -1/-2).
//
// Check follows pwqcheck: acct is used whenever it is given, whatever
// non-unix says (pam_passwdqc would skip the lookup with non-unix; callers
// emulating that pass nil).
func (p Policy) Check(password string, acct *Account) string {
	return p.check(cString(password), nil, acct)
}

// cString returns s up to its first NUL byte, as C sees it. The result is
// never nil, so an empty old password stays distinguishable from none.
func cString(s string) []byte {
	if i := bytes.IndexByte([]byte(s), 0); i >= 0 {
		s = s[:i]
	}
	return append(make([]byte, 0, len(s)), s...)
}

// check is passwdqc_check() (passwdqc_check.c, 2.0.2). old is nil when there
// is no old password. The order of the tests and the reasons are
// passwdqc's; the first failing test wins.
func (p *Policy) check(pw, old []byte, acct *Account) string {
	defer wipe(pw)
	length := len(pw)
	if length < p.Min[4] {
		return ReasonShort
	}
	if length > maxLength {
		return ReasonLong
	}
	if length > p.Max {
		// passwdqc.conf(5): max=8 means "truncate to 8" (traditional DES
		// crypt); any other max rejects longer passwords.
		if p.Max != 8 {
			return ReasonLong
		}
		pw = pw[:8]
		length = 8
		if len(old) >= 8 && bytes.Equal(old[:8], pw) {
			return ReasonSame
		}
	}
	if old != nil && bytes.Equal(old, pw) {
		return ReasonSame
	}
	if p.isSimple(pw, 0, 0) {
		if length < p.Min[1] && p.Min[1] <= p.Max {
			return ReasonSimpleShort
		}
		return ReasonSimple
	}
	u := unify(pw)
	defer wipe(u)
	rev := reversed(u)
	defer wipe(rev)

	if old != nil && p.Similar {
		uo := unify(old)
		defer wipe(uo)
		if p.isBased(uo, u, pw, modeRemove, false) || p.isBased(uo, rev, pw, modeRemove, true) {
			return ReasonSimilar
		}
	}
	if acct != nil {
		for _, h := range [...]string{acct.User, acct.Gecos, acct.Home} {
			uh := unify(cString(h))
			if p.isBased(uh, u, pw, modeRemove, false) || p.isBased(uh, rev, pw, modeRemove, true) {
				return ReasonPersonal
			}
		}
	}
	if r := p.isWordBased(u, rev, pw); r != "" {
		return r
	}
	if p.Filter != "" {
		// pwqfilter's binary format is not implemented; passwdqc answers
		// "check failed" when it cannot use the filter file.
		return ReasonError
	}
	return ""
}

// wipe zeroes a copy of password material once it is no longer needed.
func wipe(b []byte) {
	clear(b)
}
