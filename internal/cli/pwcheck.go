package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/esxi-users/esxi-users/internal/passwdqc"
)

// pwcheckOptions configures checkPasswords.
type pwcheckOptions struct {
	// Policy is the passwdqc option string (Security.PasswordQualityControl),
	// used exactly as given for line mode and for JSONL lines without
	// "policy".
	Policy string
	// ESXi selects passwdqc.ParseESXi (default max=40) for Policy.
	ESXi bool
	// User and Gecos are the account checked for personal information
	// (login name and description); empty User means no account.
	User, Gecos string
	// JSONL selects the JSON-lines input and output format.
	JSONL bool
}

// policyError reports a policy string passwdqc would refuse.
type policyError struct {
	Line int // input line number (1-based), 0 for pwcheckOptions.Policy
	Err  error
}

func (e *policyError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("invalid policy: %v", e.Err)
	}
	return fmt.Sprintf("line %d: invalid policy: %v", e.Line, e.Err)
}

func (e *policyError) Unwrap() error { return e.Err }

// inputError reports a JSONL line that could not be used.
type inputError struct {
	Line   int
	Reason string // never contains input bytes
}

func (e *inputError) Error() string {
	return fmt.Sprintf("line %d: invalid input: %s", e.Line, e.Reason)
}

// pwcheckRequest is one JSONL input object.
type pwcheckRequest struct {
	User        *string `json:"user"`
	Password    *string `json:"password"`
	Policy      *string `json:"policy"`
	Description *string `json:"description"`
}

// pwcheckResult is one JSONL output object.
type pwcheckResult struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
}

// esxiHomeDir is the home directory of ESXi local accounts in /etc/passwd.
const esxiHomeDir = "/"

// checkPasswords is the logic of `esxi-manage-users check-password`: it
// reads candidates from in and checks them against an ESXi
// Security.PasswordQualityControl policy with package passwdqc, writing one
// verdict per candidate to out, in order, without ever echoing a password.
// It returns whether every candidate was accepted.
//
// # Input and output formats
//
// Line mode: every input line is one password (the line ends at the first
// CR or LF, as pwqcheck reads it; a final line without newline counts).
// Every line gets one output line: "OK" or passwdqc's reason, e.g.
// "too short". An empty line is an empty password (rejected).
//
// JSONL mode: every non-blank input line is a JSON object
//
//	{"user": "...", "password": "...", "policy": "...", "description": "..."}
//
// "password" is required; "user" and "description" (the account
// description, i.e. the GECOS field) default to pwcheckOptions.User and
// pwcheckOptions.Gecos; unknown fields are invalid. "policy", when present, is
// parsed with plain passwdqc 2.0.2 defaults (passwdqc.Parse) exactly as
// written; without it, pwcheckOptions.Policy applies. Every non-blank line
// gets one output object: {"ok":true,"reason":""} or
// {"ok":false,"reason":"..."}. Blank lines are skipped.
//
// # Errors
//
// A malformed pwcheckOptions.Policy is reported before any input is read:
// checkPasswords returns a *policyError with Line 0 and writes nothing
// (callers exit 2). A malformed per-line "policy" does not stop the run:
// that line's output is {"ok":false,"reason":"invalid policy: <passwdqc's
// parse error>"}, the remaining lines are checked, and checkPasswords
// finally returns a *policyError for that line (joined with any others),
// so callers exit 2. A line that is not a valid JSON object, or lacks
// "password", gets {"ok":false,"reason":"invalid input: ..."} and yields an
// *inputError the same way. Error and reason texts never contain input bytes other than
// policy strings and line numbers; in particular never a password.
func checkPasswords(in io.Reader, out io.Writer, opt pwcheckOptions) (allOK bool, err error) {
	parse := passwdqc.Parse
	if opt.ESXi {
		parse = passwdqc.ParseESXi
	}
	base, err := parse(opt.Policy)
	if err != nil {
		return false, &policyError{Err: err}
	}
	w := bufio.NewWriter(out)
	r := bufio.NewReader(in)
	allOK = true
	var lineErrs []error
	policies := map[string]policyOrErr{} // per-line policies, parsed once
	for lineNo := 1; ; lineNo++ {
		line, rerr := r.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			clear(line)
			return false, fmt.Errorf("reading input: %w", rerr)
		}
		if len(line) == 0 && rerr != nil {
			break
		}
		var verdict string
		var lineErr error
		if opt.JSONL {
			if len(bytes.TrimSpace(line)) == 0 {
				if rerr != nil {
					break
				}
				continue
			}
			verdict, lineErr = checkJSONLine(line, lineNo, base, opt, policies)
			res := pwcheckResult{OK: verdict == "" && lineErr == nil, Reason: verdict}
			b, merr := json.Marshal(res)
			if merr != nil {
				return false, fmt.Errorf("encoding result: %w", merr)
			}
			w.Write(b)
			w.WriteByte('\n')
		} else {
			pw := line
			if k := bytes.IndexAny(pw, "\r\n"); k >= 0 {
				pw = pw[:k]
			}
			verdict = base.Check(string(pw), pwcheckAccount(opt.User, opt.Gecos))
			if verdict == "" {
				w.WriteString("OK\n")
			} else {
				w.WriteString(verdict + "\n")
			}
		}
		clear(line)
		if verdict != "" || lineErr != nil {
			allOK = false
		}
		if lineErr != nil {
			lineErrs = append(lineErrs, lineErr)
		}
		if rerr != nil {
			break
		}
	}
	if err := w.Flush(); err != nil {
		return false, fmt.Errorf("writing output: %w", err)
	}
	return allOK, errors.Join(lineErrs...)
}

type policyOrErr struct {
	p   passwdqc.Policy
	err error
}

func pwcheckAccount(user, gecos string) *passwdqc.Account {
	if user == "" {
		return nil
	}
	return &passwdqc.Account{User: user, Gecos: gecos, Home: esxiHomeDir}
}

// checkJSONLine checks one JSONL line. It returns the reason to print and, for
// unusable lines, the error to report at the end.
func checkJSONLine(line []byte, lineNo int, base passwdqc.Policy, opt pwcheckOptions, policies map[string]policyOrErr) (string, error) {
	var req pwcheckRequest
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		// json's messages may quote input bytes: report a fixed text.
		return "invalid input: not a JSON object with string fields user, password, policy, description",
			&inputError{Line: lineNo, Reason: "not a JSON object with string fields user, password, policy, description"}
	}
	defer func() {
		if req.Password != nil {
			*req.Password = ""
		}
	}()
	if dec.More() {
		return "invalid input: more than one JSON value on the line", &inputError{Line: lineNo, Reason: "more than one JSON value on the line"}
	}
	if req.Password == nil {
		return "invalid input: missing \"password\"", &inputError{Line: lineNo, Reason: "missing \"password\""}
	}
	pol := base
	if req.Policy != nil {
		pe, ok := policies[*req.Policy]
		if !ok {
			pe.p, pe.err = passwdqc.Parse(*req.Policy)
			policies[*req.Policy] = pe
		}
		if pe.err != nil {
			return "invalid policy: " + pe.err.Error(), &policyError{Line: lineNo, Err: pe.err}
		}
		pol = pe.p
	}
	user, gecos := opt.User, opt.Gecos
	if req.User != nil {
		user = *req.User
	}
	if req.Description != nil {
		gecos = *req.Description
	}
	return pol.Check(*req.Password, pwcheckAccount(user, gecos)), nil
}
