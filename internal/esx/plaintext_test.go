package esx

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/testsupport/tcpcount"
	"github.com/esxi-users/esxi-users/params"
)

// Any server that is not https is refused before a connection is opened,
// with --insecure too, direct and through vCenter.
func TestPlaintextRefusedBeforeDialing(t *testing.T) {
	l := tcpcount.Start(t)
	addr := l.Addr()
	const canary = "Canary#Pw-7719-zz"
	tests := []struct{ server, want string }{
		{"http://" + addr, "ESXi serves its API only over HTTPS"},
		{"http://" + addr + "/sdk", "the login password and the new users' passwords would cross the network in clear"},
		{"HTTP://" + addr, "plain http:// is refused"},
		{"http://root:" + canary + "@" + addr, "plain http:// is refused"},
		{"ftp://" + addr, `scheme "ftp" is not supported`},
		{"ws://" + addr, `scheme "ws" is not supported`},
	}
	for _, tt := range tests {
		for _, insecure := range []bool{false, true} {
			cfg := Config{Server: tt.server, Username: "root", Password: params.NewPassword(canary), Insecure: insecure, Timeout: 5 * time.Second}
			_, err := Dial(context.Background(), cfg)
			if !errors.Is(err, errkind.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s insecure=%v: err = %v, want ErrInvalid and %q", tt.server, insecure, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), canary) {
				t.Errorf("password in the error: %v", err)
			}
			_, _, err = DialViHost(context.Background(), cfg, "esx01")
			if !errors.Is(err, errkind.ErrInvalid) {
				t.Errorf("%s through vCenter: err = %v", tt.server, err)
			}
		}
	}
	if n := l.Opened(t); n != 0 {
		t.Fatalf("%d connections opened", n)
	}
	// The counter sees a connection when one is made: https is dialed.
	if _, err := Dial(context.Background(), Config{Server: "https://" + addr, Password: params.NewPassword("x"), Insecure: true, Timeout: 5 * time.Second}); err == nil {
		t.Fatal("dialing a closed connection succeeded")
	}
	if n := l.Opened(t); n == 0 {
		t.Fatal("https was not dialed: the counter cannot prove anything")
	}
}

func TestServerURL(t *testing.T) {
	for in, want := range map[string]string{
		"esx01.example.com":             "https://esx01.example.com/sdk",
		"10.0.0.5:8443":                 "https://10.0.0.5:8443/sdk",
		"https://esx01/sdk":             "https://esx01/sdk",
		"HTTPS://esx01":                 "https://esx01/sdk",
		"https://root:secret@esx01/sdk": "https://esx01/sdk",
		"[fe80::1]:443":                 "https://[fe80::1]:443/sdk",
		" https://esx01.example.com/ ":  "https://esx01.example.com/sdk",
	} {
		u, err := ServerURL(in)
		if err != nil || u.String() != want {
			t.Errorf("ServerURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, bad := range []string{"", "http://esx01", "file:///etc/passwd", "gopher://esx01"} {
		if _, err := ServerURL(bad); !errors.Is(err, errkind.ErrInvalid) {
			t.Errorf("ServerURL(%q): err = %v", bad, err)
		}
	}
}

func TestDisplayServerDropsUserinfo(t *testing.T) {
	for in, want := range map[string]string{
		"https://root:p@ss@esx01/sdk":   "https://esx01/sdk",
		"root:p@ss/w#rd@esx01":          "esx01",
		"https://esx01/sdk":             "https://esx01/sdk",
		"http://root:x@10.0.0.1:80/sdk": "http://10.0.0.1:80/sdk",
	} {
		if got := DisplayServer(in); got != want {
			t.Errorf("DisplayServer(%q) = %q, want %q", in, got, want)
		}
	}
}
