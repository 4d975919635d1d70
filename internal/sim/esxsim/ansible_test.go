package esxsim

import (
	"github.com/esxi-users/esxi-users/internal/testsupport/missing"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// ansiblePlaybook is Debian's ansible-playbook (package ansible, which
// bundles community.vmware; it runs the modules with /usr/bin/python3 and
// python3-pyvmomi).
const ansiblePlaybook = "/usr/bin/ansible-playbook"

// requireAnsible skips when ansible-playbook is missing, unless CI is set:
// then the test must run (tools/install-test-deps.sh installs it).
func requireAnsible(t *testing.T) {
	t.Helper()
	requirePyVmomi(t)
	missing.File(t, ansiblePlaybook, "apt-get install ansible")
}

// The Ansible anchors of lockdown mode, community.vmware's
// vmware_host_lockdown and vmware_host_lockdown_exceptions (Debian's
// ansible 7.7.0, community.vmware 3.7.0), run against the simulated vCenter
// (testdata/ansible_lockdown.yml asserts each task's result: changed or not,
// the previous and current states, UserNotFound for an unknown user); the
// host's state is then read with govmomi: strict lockdown mode, backup on
// the exception list, root without its permission.
func TestAnsibleLockdownAnchors(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: ansible-playbook runs for a while")
	}
	requireAnsible(t)
	v := startVC(t, VCenterOptions{Hosts: 2})
	c := vcAdmin(t, v)
	ctx := testContext(t)
	h := vcHostSystem(t, c, "DC0_H0")
	am := object.NewHostAccountManager(c, *h.ConfigManager.AccountManager)
	for _, id := range []string{"backup", "monitor"} {
		if err := am.Create(ctx, &types.HostAccountSpec{Id: id, Password: goodPassword}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, v.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(v.URL.Host)
	pw, _ := v.URL.User.Password()
	cmd := exec.CommandContext(ctx, ansiblePlaybook, "-i", "localhost,", "-c", "local", "testdata/ansible_lockdown.yml")
	cmd.Env = append(os.Environ(),
		"ESXSIM_HOST="+host, "ESXSIM_PORT="+port, "ESXSIM_PASSWORD="+pw,
		"SSL_CERT_FILE="+ca, // validate_certs: Python's default context trusts the simulator's certificate
		"ANSIBLE_PYTHON_INTERPRETER="+python, "ANSIBLE_NOCOLOR=1", "ANSIBLE_HOME="+dir,
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"), "ANSIBLE_REMOTE_TEMP="+filepath.Join(dir, "tmp"),
		"ANSIBLE_DEPRECATION_WARNINGS=0", "ANSIBLE_LOCALHOST_WARNING=0", "ANSIBLE_INVENTORY_UNPARSED_WARNING=0",
		"PYTHONWARNINGS=ignore")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ansible-playbook: %v\n%s", err, out)
	}
	if strings.Contains(string(out), pw) {
		t.Error("the password is in ansible's output")
	}
	t.Logf("ansible-playbook took %v", time.Since(start).Round(time.Second))
	got := readLockdown(t, c, h.Self, *h.ConfigManager.HostAccessManager)
	want := lockdownView{mode: "lockdownStrict", configMode: "lockdownStrict", exceptions: []string{"backup"}, system: []string{"dcui", "vpxuser"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after the playbook: %+v, want %+v", got, want)
	}
	perms := cliPerms(t, executor(t, c, h))
	if _, ok := perms["root"]; ok || perms["vpxuser"] != "Admin" {
		t.Errorf("permissions in lockdown mode: %v", perms)
	}
}
