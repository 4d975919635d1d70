package passwdqc

// Helpers that run Debian's pwqcheck (package passwdqc 2.0.2) as the oracle.

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/esxi-users/esxi-users/internal/testsupport/missing"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// oracleCase is one pwqcheck --multi triple.
type oracleCase struct {
	New, Old    string // Old "" = empty second line
	User, Gecos string // passwd line user:x:1000:1000:gecos:/home/user:/bin/sh
	Tag         string // which generator made it (for failure messages)
}

func (c oracleCase) account() *Account {
	return &Account{User: c.User, Gecos: c.Gecos, Home: "/home/" + c.User}
}

// goVerdict is what the Go package answers for c: Check when there is no
// old password (except for an empty new one, where pwqcheck's empty second
// line is an empty old password), else CheckChange.
func (p Policy) goVerdict(c oracleCase) string {
	if c.Old == "" && c.New != "" {
		return p.Check(c.New, c.account())
	}
	return p.CheckChange(c.New, c.Old, c.account())
}

// pwqcheckPath returns pwqcheck's path, or skips (fails under CI).
func pwqcheckPath(tb testing.TB) string {
	tb.Helper()
	return missing.LookPath(tb, "pwqcheck", "install Debian's passwdqc 2.0.2 (apt-get install passwdqc) to run the differential tests")
}

// validInput reports whether pwqcheck can take s on one line.
func validInput(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00")
}

func (c oracleCase) writeTo(w io.Writer) {
	fmt.Fprintf(w, "%s\n%s\n%s:x:1000:1000:%s:/home/%s:/bin/sh\n", c.New, c.Old, c.User, c.Gecos, c.User)
}

// parseOracleLine turns a --multi output line for password pw into a reason
// ("" for OK).
func parseOracleLine(line, pw string) (string, error) {
	if line == "OK: "+pw {
		return "", nil
	}
	const pre = "Bad passphrase ("
	suf := "): " + pw
	if strings.HasPrefix(line, pre) && strings.HasSuffix(line, suf) && len(line) >= len(pre)+len(suf) {
		return line[len(pre) : len(line)-len(suf)], nil
	}
	return "", fmt.Errorf("unexpected pwqcheck output line %q", line)
}

// runPwqcheck runs one `pwqcheck --multi <tokens>` over all cases and
// returns its verdicts in order. It may run in any goroutine.
func runPwqcheck(path string, tokens []string, cases []oracleCase) ([]string, error) {
	var in bytes.Buffer
	for _, c := range cases {
		if !validInput(c.New) || !validInput(c.Old) || !validInput(c.User+c.Gecos) || strings.Contains(c.User+c.Gecos, ":") || c.User == "" {
			return nil, fmt.Errorf("generator bug: case %q cannot be fed to pwqcheck", c.Tag)
		}
		c.writeTo(&in)
	}
	cmd := exec.Command(path, append([]string{"--multi"}, tokens...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pwqcheck --multi %s: %w; stderr: %s", strings.Join(tokens, " "), err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(cases) == 0 {
		lines = nil
	}
	if len(lines) != len(cases) {
		return nil, fmt.Errorf("pwqcheck answered %d lines for %d cases", len(lines), len(cases))
	}
	verdicts := make([]string, len(cases))
	for i, l := range lines {
		r, err := parseOracleLine(l, cases[i].New)
		if err != nil {
			return nil, fmt.Errorf("case %d: %w", i, err)
		}
		verdicts[i] = r
	}
	return verdicts, nil
}

// pwqcheckParse runs pwqcheck with the option tokens and no input: it
// returns "" when pwqcheck accepts them, else its error message without the
// "pwqcheck: " prefix.
func pwqcheckParse(tb testing.TB, tokens []string) string {
	tb.Helper()
	cmd := exec.Command(pwqcheckPath(tb), append([]string{"--multi"}, tokens...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdin = strings.NewReader("")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	msg := strings.TrimSuffix(strings.TrimPrefix(stderr.String(), "pwqcheck: "), "\n")
	if err == nil {
		if msg != "" {
			tb.Fatalf("pwqcheck accepted %q but printed %q", tokens, msg)
		}
		return ""
	}
	if msg == "" {
		tb.Fatalf("pwqcheck rejected %q without a message: %v", tokens, err)
	}
	return msg
}

// liveOracle keeps one line-buffered `pwqcheck --multi` per policy alive
// (for fuzzing): stdbuf -oL makes it answer each triple at once.
type liveOracle struct {
	mu    sync.Mutex
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startLiveOracle(tb testing.TB, tokens []string) *liveOracle {
	tb.Helper()
	path := pwqcheckPath(tb)
	stdbuf := missing.LookPath(tb, "stdbuf", "coreutils; needed to talk to pwqcheck line by line")
	cmd := exec.Command(stdbuf, append([]string{"-oL", path, "--multi"}, tokens...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return &liveOracle{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
}

func (o *liveOracle) ask(c oracleCase) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b bytes.Buffer
	c.writeTo(&b)
	if _, err := o.stdin.Write(b.Bytes()); err != nil {
		return "", fmt.Errorf("writing to pwqcheck: %w", err)
	}
	line, err := o.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading from pwqcheck: %w", err)
	}
	return parseOracleLine(strings.TrimSuffix(line, "\n"), c.New)
}

func (o *liveOracle) close() {
	o.stdin.Close()
	_ = o.cmd.Wait()
}
