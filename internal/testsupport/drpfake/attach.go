package drpfake

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/digitalrebar/provision/v4/models"
)

// AttachPlugin registers a configured plugin instance whose provider is
// handler, served in process on a unix socket: the fake calls its actions
// over that socket exactly as it calls a process StartPlugin runs
// (POST /api-plugin/v4/action, the answer's Type set to INVOKE). It is for
// tests of a package whose action bodies are called without building the
// plugin binary; the instance has no process, Params or restarts. It is
// removed when the test ends.
func (s *Server) AttachPlugin(tb testing.TB, def models.PluginProvider, handler http.Handler) *Plugin {
	tb.Helper()
	dir, err := os.MkdirTemp("", "drpfake")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "to.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	p := &Plugin{Def: def, Name: def.Name, ToSock: sock, s: s, proc: &process{client: unixClient(sock)}}
	s.mu.Lock()
	s.configured = append(s.configured, p)
	s.mu.Unlock()
	tb.Cleanup(func() {
		srv.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, q := range s.configured {
			if q == p {
				s.configured = append(s.configured[:i], s.configured[i+1:]...)
				break
			}
		}
	})
	return p
}
