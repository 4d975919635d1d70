package drp

// The DRP API calls of a run, over net/http. DRP's SDK (its api package)
// would bring most of the SDK into the task binary for three calls; this is
// the documented wire format of those calls (the REST API below
// <RS_ENDPOINT>/api/v3, as the SDK's api.Client speaks it):
//
//   - every request carries "Authorization: Bearer <token>", "Accept:
//     application/json" and "Cache-Control: no-store"; a body is JSON
//     ("Content-Type: application/json");
//   - a path's parts are joined with "/" and not escaped (a Param name's
//     "/" stays: machines/<uuid>/params/esxi/manage-users-report);
//   - an answer with status >= 400 carries DRP's error body (models.Error:
//     {"Model","Key","Type","Messages","Code"}); a success is JSON;
//   - TLS: DRP endpoints serve a self-signed certificate, which DRP's own
//     clients and agents accept (api.TokenSession: InsecureSkipVerify); so
//     does this one. HTTP proxies come from the environment, and when
//     RS_LOCAL_PROXY names a unix socket the requests go through it, as with
//     the SDK.
//
// The plugin uses the same client, made from the session DRP gives it.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"
)

// EnvLocalProxy names the unix socket of a local API proxy (the SDK's
// api.TokenSession honours it too).
const EnvLocalProxy = "RS_LOCAL_PROXY"

// maxAnswer bounds an answer's body (the largest is the Params aggregate,
// whose esxi/manage-users is at most 1 MiB).
const maxAnswer = 16 << 20

// Client is a token session with the DRP API.
type Client struct {
	base  string // the endpoint (no /api/v3, no trailing "/"), or http://unix through a local proxy
	token string
	http  *http.Client
}

// NewClient opens a session with the API at endpoint (RS_ENDPOINT: e.g.
// https://drp:8092) authenticated by token, as api.TokenSession does.
// getenv is read for RS_LOCAL_PROXY (nil: none).
func NewClient(endpoint, token string, getenv func(string) string) (*Client, error) {
	endpoint = strings.TrimSuffix(strings.TrimSpace(endpoint), "/")
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("endpoint %q is not an http(s) URL", endpoint)
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: true}, // DRP's self-signed certificate, as DRP's clients
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	c := &Client{base: endpoint, token: token, http: &http.Client{Transport: tr}}
	if getenv != nil {
		if sock := getenv(EnvLocalProxy); sock != "" {
			if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
				tr.Proxy, tr.TLSClientConfig = nil, nil
				tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
					return dialer.DialContext(ctx, "unix", sock)
				}
				c.base = "http://unix"
			}
		}
	}
	return c, nil
}

// Error is DRP's error body (models.Error on the wire): what the API
// answers with a status >= 400, and what the plugin's action answers.
type Error struct {
	Model, Key, Type string
	Messages         []string
	Code             int
}

// Error renders it as DRP's models.Error does.
func (e *Error) Error() string {
	s := e.Type
	switch {
	case e.Key != "":
		s += ": " + path.Join(e.Model, e.Key)
	case e.Model != "":
		s += ": " + e.Model
	}
	switch len(e.Messages) {
	case 0:
		return s
	case 1:
		return s + ": " + e.Messages[0]
	}
	return s + "\n  " + strings.Join(e.Messages, "\n  ")
}

// do makes one call: method on the path below /api/v3 (parts joined with
// "/"), with query and a JSON body (nil: none; a rawBody is sent as it
// is), and decodes the JSON answer into out (nil: discarded; 204 has
// none). An error answer is an *Error.
func (c *Client) do(ctx context.Context, method string, query url.Values, body, out any, parts ...string) error {
	u, err := url.ParseRequestURI(c.base + path.Join("/api/v3", path.Join(parts...)))
	if err != nil {
		return err
	}
	u.RawQuery = query.Encode()
	var rd io.Reader
	ctype := "application/json"
	if rb, ok := body.(rawBody); ok {
		rd, ctype = bytes.NewReader(rb.data), rb.ctype
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cache-Control", "no-store")
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return err
	}
	if len(b) > maxAnswer {
		return fmt.Errorf("the answer is larger than %d bytes", maxAnswer)
	}
	if resp.StatusCode >= 400 {
		e := &Error{}
		if json.Unmarshal(b, e) != nil || e.Code == 0 {
			// Not DRP's error body (a proxy's page, say): the status alone.
			e = &Error{Type: "API_ERROR", Code: resp.StatusCode, Messages: []string{http.StatusText(resp.StatusCode)}}
		}
		return e
	}
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("answer of content type %q, not JSON (status %s)", resp.Header.Get("Content-Type"), resp.Status)
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, out)
}

// rawBody is a request body sent as it is, with its content type (a job
// log's application/octet-stream).
type rawBody struct {
	ctype string
	data  []byte
}

// call is do bounded by CallTimeout.
func (c *Client) call(ctx context.Context, method string, query url.Values, body, out any, parts ...string) error {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	return c.do(ctx, method, query, body, out, parts...)
}

// isSecureData reports whether a Param value is a Secure Param's sealed
// form ({"Key": 32 bytes, "Nonce": 24 bytes, "Payload": at least the NaCl
// box overhead, 16 bytes; base64 in JSON}): what models.IsSecureData checks.
func isSecureData(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	var s struct{ Key, Nonce, Payload []byte }
	if json.Unmarshal(b, &s) != nil {
		return false
	}
	return len(s.Key) == 32 && len(s.Nonce) == 24 && len(s.Payload) >= 16
}

// errorText renders an API error for a message: DRP's Error messages, or
// for a transport failure only its first line (never a response dump).
func errorText(err error) string {
	var e *Error
	if errors.As(err, &e) {
		s := strings.Join(e.Messages, "; ")
		if e.Code != 0 {
			s = fmt.Sprintf("%d %s", e.Code, s)
		}
		return firstLine(s)
	}
	return firstLine(err.Error())
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
