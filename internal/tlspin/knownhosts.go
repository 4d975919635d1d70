package tlspin

// govc's known-hosts file, as govmomi v0.56.0 reads it (cli/flags/client.go
// ConfigureTLS → vim25/soap Client.LoadThumbprints; the file is named by
// -tls-known-hosts or GOVC_TLS_KNOWN_HOSTS, a list of files separated like
// PATH, later ones overriding earlier ones, and `govc about.cert -k
// -thumbprint | tee -a ~/.govmomi/known_hosts` writes its lines):
//
//   - one entry per line, "HOST THUMBPRINT": split at the first space;
//   - HOST is host or host:port, stored as host:port with port 443 when
//     none is given (soap.hostAddr), and looked up by the address dialled,
//     host:port;
//   - THUMBPRINT is compared with the certificate's SHA-256 and SHA-1
//     fingerprints in govc's form (AB:CD:…; about.cert writes SHA-256);
//   - a later line for the same host replaces an earlier one (a map), which
//     is what appending about.cert's output after a certificate renewal
//     relies on, and so does a later file of the list.
//
// govc skips, silently, lines without a space (so blank lines) and a file
// that does not exist; it has no comment syntax, and a malformed line is an
// entry that never matches. LoadKnownHosts reads the same files with the
// same meaning, but, since a host missing from the file is not pinned, it
// refuses what govc would silently not use: a missing file, a line that is
// not "HOST FINGERPRINT", a fingerprint that does not parse (Parse's forms,
// so lower case and no colons are accepted too), a bad port, a line longer
// than MaxKnownHostsLine — and a host pinned twice with different
// fingerprints, in one file or across the files of a list: govc silently
// uses the later line, but one of the two is stale (a renewed certificate
// appended after the old one) or wrong, and which one only the operator
// knows. The same fingerprint given twice is one pin. It skips blank lines
// and lines starting with "#" (OpenSSH's known_hosts comments), and compares
// host names without regard to case or a final dot (DNS names).

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// MaxKnownHostsLine is the longest line a known-hosts file may have, in
// bytes: a host name (at most 253 bytes) and a fingerprint fit many times.
const MaxKnownHostsLine = bufio.MaxScanTokenSize

// KnownHost is one pinned server.
type KnownHost struct {
	// Server is host:port as looked up: the host in lower case, without a
	// final dot, IPv6 in brackets, port 443 when the file gives none.
	Server      string
	Fingerprint Fingerprint
	// File and Line say where the entry is (the first line for the server;
	// a later one may only repeat its fingerprint).
	File string
	Line int
}

// Source is "FILE:LINE", for messages.
func (k KnownHost) Source() string { return fmt.Sprintf("%s:%d", k.File, k.Line) }

// KnownHosts is the content of one or more known-hosts files. The zero
// value knows no host.
type KnownHosts struct {
	byServer map[string]KnownHost
}

// Lookup returns the entry for server: host[:port] (port 443 when none is
// given, as govc), or a URL whose host part is used. Host names compare
// without regard to case or a final dot.
func (k KnownHosts) Lookup(server string) (KnownHost, bool) {
	key, err := ServerKey(server)
	if err != nil {
		return KnownHost{}, false
	}
	e, ok := k.byServer[key]
	return e, ok
}

// LoadKnownHosts reads a known-hosts file. Errors name the file and, for a
// bad entry, the line; they wrap errkind.ErrInvalid (exit 2) and, for a file
// that cannot be read, the os error (errors.Is(err, fs.ErrNotExist)).
func LoadKnownHosts(path string) (KnownHosts, error) {
	var k KnownHosts
	return k, k.load(path)
}

// ParseKnownHosts reads known-hosts lines from text (name says where they
// come from in errors, e.g. a DRP Param), with LoadKnownHosts' rules.
func ParseKnownHosts(text, name string) (KnownHosts, error) {
	var k KnownHosts
	return k, k.parse(strings.NewReader(text), name)
}

// Len is the number of servers pinned.
func (k KnownHosts) Len() int { return len(k.byServer) }

// LoadKnownHostsList reads the files of a GOVC_TLS_KNOWN_HOSTS value: paths
// separated by the system's list separator (":" on Unix, ";" on Windows).
// Unlike govc, a file that does not exist is an error, and so is a host
// that two files pin with different fingerprints (govc takes the later
// file's).
func LoadKnownHostsList(list string) (KnownHosts, error) {
	var k KnownHosts
	paths := filepath.SplitList(list)
	if len(paths) == 0 {
		return k, errkind.Invalidf("no known-hosts file given")
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if err := k.load(p); err != nil {
			return KnownHosts{}, err
		}
	}
	return k, nil
}

func (k *KnownHosts) load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return errkind.Invalidf("known-hosts file: %w", err)
	}
	defer f.Close()
	return k.parse(f, path)
}

func (k *KnownHosts) parse(r io.Reader, name string) error {
	if k.byServer == nil {
		k.byServer = map[string]KnownHost{}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, MaxKnownHostsLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) < 2 {
			return errkind.Invalidf("known-hosts file %s, line %d: want \"HOST[:PORT] FINGERPRINT\", found only %s", name, line, clip(fields[0]))
		}
		server, err := ServerKey(fields[0])
		if err != nil {
			return errkind.Invalidf("known-hosts file %s, line %d: %w", name, line, err)
		}
		// The rest of the line, as govc takes it ("thumbprint: AB:…", as
		// simulate prints it, is read too).
		fp, err := Parse(strings.Join(fields[1:], " "))
		if err != nil {
			return errkind.Invalidf("known-hosts file %s, line %d: host %s: %w", name, line, clip(fields[0]), err)
		}
		if prev, dup := k.byServer[server]; dup {
			if prev.Fingerprint != fp {
				return errkind.Invalidf("known-hosts file %s, line %d: host %s is pinned with another fingerprint by %s: a host has one certificate, so one of the two lines is stale or wrong; delete it (govc would silently use the later one)", name, line, clip(fields[0]), prev.Source())
			}
			continue
		}
		k.byServer[server] = KnownHost{Server: server, Fingerprint: fp, File: name, Line: line}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return errkind.Invalidf("known-hosts file %s, line %d: longer than %d bytes: not a \"HOST[:PORT] FINGERPRINT\" line (is it the right file?)", name, line+1, MaxKnownHostsLine)
	} else if err != nil {
		return errkind.Invalidf("known-hosts file %s, after line %d: %w", name, line, err)
	}
	return nil
}

// ServerKey returns server as known-hosts entries are keyed: host:port,
// with port 443 when none is given (govc's soap.hostAddr), the host in
// lower case without a final dot, an IPv6 address in brackets. server is
// host, host:port, [IPv6]:port, a bare IPv6 address, or a URL (its host
// part is used).
func ServerKey(server string) (string, error) {
	s := strings.TrimSpace(server)
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("server %s is not a host name, address or URL", clip(server))
		}
		s = u.Host
	}
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return "", fmt.Errorf("server %s: no closing ] after the IPv6 address", clip(server))
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			p, ok := strings.CutPrefix(port, ":")
			if !ok {
				return "", fmt.Errorf("server %s: want [IPv6]:PORT", clip(server))
			}
			port = p
		}
		if net.ParseIP(host) == nil {
			return "", fmt.Errorf("server %s: %s is not an IPv6 address", clip(server), clip(host))
		}
	case strings.Count(s, ":") > 1:
		// A bare IPv6 address: no port (govc would take the last group for
		// one).
		if net.ParseIP(s) == nil {
			return "", fmt.Errorf("server %s is not a host name or address (an IPv6 address with a port is written [ADDRESS]:PORT)", clip(server))
		}
	case strings.Contains(s, ":"):
		host, port, _ = strings.Cut(s, ":")
		if port == "" {
			return "", fmt.Errorf("server %s: empty port", clip(server))
		}
	}
	if port == "" {
		port = "443"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return "", fmt.Errorf("server %s: port %s is not a number from 1 to 65535", clip(server), clip(port))
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || strings.ContainsAny(host, "/@?#[] \t") {
		return "", fmt.Errorf("server %s is not a host name or address", clip(server))
	}
	return net.JoinHostPort(host, port), nil
}
