package cli

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	esxcli "github.com/vmware/govmomi/cli/esx"
	"github.com/vmware/govmomi/find"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
)

// hostAccounts reads every managed host's local accounts and permissions
// through its esxcli via vCenter (not through this project's adapter), as
// "host: user (description) role; ..." lines.
func hostAccounts(t *testing.T, vc *esxsim.VCenter) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, logout, err := vc.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer logout()
	hosts, err := find.NewFinder(c).HostSystemList(ctx, "*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, h := range hosts {
		e, err := esxcli.NewExecutor(ctx, c, h)
		if err != nil {
			t.Fatal(err)
		}
		users, err := e.Run(ctx, []string{"system", "account", "list"})
		if err != nil {
			t.Fatal(err)
		}
		perms, err := e.Run(ctx, []string{"system", "permission", "list"})
		if err != nil {
			t.Fatal(err)
		}
		role := map[string]string{}
		for _, v := range perms.Values {
			role[v.Value("Principal")] = v.Value("RoleName")
		}
		var lines []string
		for _, v := range users.Values {
			id := v.Value("UserID")
			lines = append(lines, strings.TrimSpace(fmt.Sprintf("%s (%s) %s", id, v.Value("Description"), role[id])))
		}
		sort.Strings(lines)
		out[h.Name()] = strings.Join(lines, "; ")
	}
	return out
}

// --vihost: the seed's example applied through a simulated vCenter leaves
// exactly the expected accounts and permissions on the chosen host and
// none on the others.
func TestViHostAppliesToThatHostOnly(t *testing.T) {
	vc, err := esxsim.StartVCenter(esxsim.VCenterOptions{Hosts: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	before := hostAccounts(t, vc)
	target := vc.Hosts[1]
	pw, _ := vc.URL.User.Password()
	for _, tt := range []struct {
		doc  string
		want string
	}{
		{firstEntries(fixture(t, "seed.yaml"), 3), "user1 (ESXi User) NoAccess; user2 (ESXi User) ReadOnly"},
		{fixture(t, "seed.json"), ""},
	} {
		var out, errb bytes.Buffer
		env := Env{Stdin: strings.NewReader(tt.doc), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			return map[string]string{"ESXI_PASSWORD": pw}[k]
		}}
		args := []string{"apply", "--output", "json", "--server", vc.URL.Host, "--thumbprint", vc.Thumbprint, "--username", vc.URL.User.Username(), "--vihost", target}
		if code := Run(context.Background(), args, env); code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, &out, &errb)
		}
		if !strings.Contains(out.String(), `"host": "`+target+`"`) {
			t.Errorf("report host is not the managed host:\n%s", &out)
		}
		after := hostAccounts(t, vc)
		for h, st := range after {
			want := before[h]
			if h == target && tt.want != "" {
				want = sortState(before[h] + "; " + tt.want)
			}
			if st != want {
				t.Errorf("host %s:\n got %s\nwant %s", h, st, want)
			}
		}
	}
}

func TestViHostNeedsVCenterUser(t *testing.T) {
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader("[]"), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	if code := Run(context.Background(), []string{"apply", "--server", "vc.example", "--vihost", "esx1"}, env); code != 2 || !strings.Contains(errb.String(), "--username") {
		t.Fatalf("exit %d: %s", code, &errb)
	}
}
