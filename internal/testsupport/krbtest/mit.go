package krbtest

import (
	"bufio"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/esxi-users/esxi-users/internal/testsupport/missing"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Python is Debian's python3, which has python3-gssapi (MIT GSSAPI); a
// pyenv or venv python on PATH usually lacks the module.
const Python = "/usr/bin/python3"

// GSSAPIInstallHint is the command that provides python3-gssapi.
const GSSAPIInstallHint = "apt-get install python3-gssapi"

// RequireGSSAPI skips the test when Debian's python3-gssapi is missing, or
// fails it when the CI environment variable is set: the interop tests with
// MIT's GSSAPI must run in CI.
func RequireGSSAPI(t testing.TB) {
	t.Helper()
	out, err := exec.Command(Python, "-c", "import gssapi").CombinedOutput()
	if err == nil {
		return
	}
	missing.Tool(t, "krbtest: python3-gssapi not available (%v: %s); %s", err, strings.TrimSpace(string(out)), GSSAPIInstallHint)
}

//go:embed testdata/gss_acceptor.py
var acceptorScript []byte

// MITAcceptorTimeout bounds the wait for one answer of MIT's acceptor.
const MITAcceptorTimeout = 30 * time.Second

// MITAcceptor is MIT's GSSAPI acceptor (python3-gssapi's
// SecurityContext(usage="accept") with the service keytab) behind the
// interface the simulators take (krbaccept.Interface): each conversation
// runs testdata/gss_acceptor.py, which feeds the initiator's tokens to one
// MIT security context. It lets the project's initiator be checked against
// a third-party acceptor.
type MITAcceptor struct {
	script, spn string
	env         []string
	mu          sync.Mutex
	convs       map[string]*mitConv
	tokens      int
}

type mitConv struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *strings.Builder
}

// MITAcceptor returns MIT's acceptor for the fixture's service principal,
// with its keytab. Processes left running are stopped by t.Cleanup.
func (f *Fixture) MITAcceptor(t testing.TB) *MITAcceptor {
	t.Helper()
	RequireGSSAPI(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "gss_acceptor.py")
	if err := os.WriteFile(script, acceptorScript, 0o600); err != nil {
		t.Fatal(err)
	}
	rcache := filepath.Join(dir, "rcache")
	if err := os.Mkdir(rcache, 0o700); err != nil {
		t.Fatal(err)
	}
	m := &MITAcceptor{
		script: script,
		spn:    f.SPN + "@" + f.Name,
		env:    append(f.Env(), "KRB5_KTNAME=FILE:"+f.ServiceKeytab, "KRB5RCACHEDIR="+rcache),
		convs:  map[string]*mitConv{},
	}
	t.Cleanup(m.close)
	return m
}

// Tokens returns how many initiator tokens MIT's acceptor has been given.
func (m *MITAcceptor) Tokens() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tokens
}

// Accept gives token to conversation conv's MIT security context (an
// initial token starts a new one) and returns MIT's output token; done
// when MIT's context is established, with the initiator's principal.
func (m *MITAcceptor) Accept(conv string, token []byte) ([]byte, string, bool, error) {
	if len(token) == 0 {
		m.Forget(conv)
		return nil, "", false, errors.New("krbtest: MIT acceptor: empty token")
	}
	m.mu.Lock()
	c := m.convs[conv]
	if c != nil && token[0] == 0x60 { // an InitialContextToken restarts
		c.stop()
		c = nil
	}
	m.tokens++
	m.mu.Unlock()
	if c == nil {
		var err error
		if c, err = m.start(); err != nil {
			return nil, "", false, err
		}
		m.mu.Lock()
		m.convs[conv] = c
		m.mu.Unlock()
	}
	out, principal, done, err := c.step(token)
	if err != nil || done {
		m.Forget(conv)
	}
	return out, principal, done, err
}

// Forget stops conversation conv's process.
func (m *MITAcceptor) Forget(conv string) {
	m.mu.Lock()
	c := m.convs[conv]
	delete(m.convs, conv)
	m.mu.Unlock()
	if c != nil {
		c.stop()
	}
}

func (m *MITAcceptor) close() {
	m.mu.Lock()
	convs := m.convs
	m.convs = map[string]*mitConv{}
	m.mu.Unlock()
	for _, c := range convs {
		c.stop()
	}
}

func (m *MITAcceptor) start() (*mitConv, error) {
	cmd := exec.Command(Python, m.script, m.spn)
	cmd.Env = m.env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &mitConv{cmd: cmd, stdin: stdin, lines: make(chan string, 4), stderr: new(strings.Builder)}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("krbtest: starting MIT acceptor: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c, nil
}

func (c *mitConv) step(token []byte) ([]byte, string, bool, error) {
	if _, err := fmt.Fprintln(c.stdin, base64.StdEncoding.EncodeToString(token)); err != nil {
		return nil, "", false, fmt.Errorf("krbtest: MIT acceptor: %w", err)
	}
	var line string
	select {
	case l, ok := <-c.lines:
		if !ok {
			_ = c.cmd.Wait()
			return nil, "", false, fmt.Errorf("krbtest: MIT acceptor refused the token: %s", strings.TrimSpace(c.stderr.String()))
		}
		line = l
	case <-time.After(MITAcceptorTimeout):
		return nil, "", false, errors.New("krbtest: MIT acceptor did not answer")
	}
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "TOKEN" || (f[2] == "COMPLETE") != (len(f) == 4) {
		return nil, "", false, fmt.Errorf("krbtest: MIT acceptor: unexpected line %q", line)
	}
	var out []byte
	if f[1] != "-" {
		var err error
		if out, err = base64.StdEncoding.DecodeString(f[1]); err != nil {
			return nil, "", false, fmt.Errorf("krbtest: MIT acceptor: %w", err)
		}
	}
	if f[2] == "COMPLETE" {
		return out, f[3], true, nil
	}
	return out, "", false, nil
}

func (c *mitConv) stop() {
	c.stdin.Close()
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}
