// Package netfault runs Toxiproxy (github.com/Shopify/toxiproxy/v2,
// in-process) between a vSphere client and a simulator, for the chaos tests
// and the latency benchmark: connection resets, lost answers and latency on
// real TCP connections. It is imported only by tests and benchmarks.
package netfault

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Proxy is a TCP proxy with toxics. Point the client at Addr.
type Proxy struct {
	// Addr is the proxy's listening host:port (127.0.0.1).
	Addr string
	p    *toxiproxy.Proxy
}

// Start proxies 127.0.0.1:<free port> to upstream (host:port).
func Start(upstream string) (*Proxy, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "esx", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("netfault: start proxy to %s: %w", upstream, err)
	}
	return &Proxy{Addr: p.Listen, p: p}, nil
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() { p.p.Stop() }

// Add adds a toxic (Toxiproxy's types: latency, reset_peer, limit_data,
// timeout, ...) to stream "upstream" (client to server) or "downstream"
// (server to client) of every connection, present and future.
func (p *Proxy) Add(name, typ, stream string, attributes map[string]any) error {
	b, err := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attributes})
	if err != nil {
		return err
	}
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(string(b))); err != nil {
		return fmt.Errorf("netfault: add %s toxic %s: %w", typ, name, err)
	}
	return nil
}

// Remove removes a toxic.
func (p *Proxy) Remove(name string) error {
	if err := p.p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		return fmt.Errorf("netfault: remove toxic %s: %w", name, err)
	}
	return nil
}

// ResetBeforeForward makes the next data a client sends on any connection
// be dropped and the connection reset (reset_peer, upstream): a request
// that never reaches the server.
func (p *Proxy) ResetBeforeForward(name string) error {
	return p.Add(name, "reset_peer", "upstream", map[string]any{"timeout": 0})
}

// LoseAnswers closes each connection when the server's next data arrives,
// forwarding none of it (limit_data of 0 bytes, downstream): a request the
// server applies whose answer is lost.
func (p *Proxy) LoseAnswers(name string) error {
	return p.Add(name, "limit_data", "downstream", map[string]any{"bytes": 0})
}

// HoldAnswers holds back the server's data on every connection until the
// toxic is removed, when the connection is closed (timeout toxic of 0,
// downstream): a request the server applies whose answer comes after the
// client's timeout.
func (p *Proxy) HoldAnswers(name string) error {
	return p.Add(name, "timeout", "downstream", map[string]any{"timeout": 0})
}

// Latency delays the data of stream by d. Keep d below the client's
// timeout: removing a latency toxic that holds a large answer for a client
// that has gone takes 5 s per chunk (Toxiproxy's flush).
func (p *Proxy) Latency(name, stream string, d time.Duration) error {
	return p.Add(name, "latency", stream, map[string]any{"latency": d.Milliseconds()})
}
