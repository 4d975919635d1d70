package esx

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
)

// secretElements are SOAP elements whose content is never traced: login and
// account passwords, SSPI tokens, guest tickets.
var secretElements = regexp.MustCompile(`(?s)<(password|base64Token|sspiToken|ticket|serverChallenge)(\s[^>]*)?>.*?</(password|base64Token|sspiToken|ticket|serverChallenge)>`)

// traceTransport writes SOAP requests and responses with secrets removed.
type traceTransport struct {
	next    http.RoundTripper
	w       io.Writer
	secrets []string // redacted wherever they appear; set before the first request
}

func (t *traceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	t.write(fmt.Sprintf("> %s %s", req.Method, req.URL.Path), reqBody)
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		t.write("< error", []byte(err.Error()))
		return resp, err
	}
	b, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if rerr != nil {
		return resp, rerr
	}
	t.write(fmt.Sprintf("< %s", resp.Status), b)
	return resp, nil
}

// traceWrites makes each request and response of a trace whole: sessions
// that share one trace (a fleet's standalone hosts, each with its own
// session; the hosts of one vCenter session) write it at the same time.
var traceWrites sync.Mutex

func (t *traceTransport) write(head string, body []byte) {
	redacted := Redact(body, t.secrets...)
	traceWrites.Lock()
	defer traceWrites.Unlock()
	fmt.Fprintf(t.w, "%s\n%s\n", head, redacted)
}

// Redact removes secret SOAP elements and every given secret (also in its
// XML-escaped form) from b.
func Redact(b []byte, secrets ...string) []byte {
	out := secretElements.ReplaceAll(b, []byte("<$1>********</$1>"))
	for _, s := range secrets {
		if s == "" {
			continue
		}
		out = bytes.ReplaceAll(out, []byte(s), []byte("********"))
		var esc strings.Builder
		_ = xmlEscape(&esc, s)
		if e := esc.String(); e != s {
			out = bytes.ReplaceAll(out, []byte(e), []byte("********"))
		}
	}
	return out
}
