// Package passwdqc is a pure-Go re-implementation of the password check of
// passwdqc 2.0.2 (Openwall, https://www.openwall.com/passwdqc/), the library
// behind pam_passwdqc, which ESXi uses to enforce the advanced option
// Security.PasswordQualityControl.
//
// The package parses passwdqc option strings exactly like
// passwdqc_params_parse (passwdqc_parse.c) and checks passwords exactly like
// passwdqc_check (passwdqc_check.c), returning passwdqc's own reason strings.
// Its behaviour is verified against Debian's pwqcheck 2.0.2 by the
// differential tests in this package.
//
// Passwords are byte strings, as in C: lengths are byte counts and character
// classes are decided per byte in the C locale (every byte >= 0x80 is of the
// "unknown" class). Like C strings, every input is cut at its first NUL byte.
//
// Nothing in this package logs, and no error or reason ever contains a
// password.
package passwdqc
