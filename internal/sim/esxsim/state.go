package esxsim

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// ESXi's system role ids (AuthorizationManager.roleList on ESXi; the ESX
// model's esx.RoleList has the same ids, checked by TestSystemRoles).
const (
	roleAdmin     int32 = -1
	roleReadOnly  int32 = -2
	roleView      int32 = -3
	roleAnonymous int32 = -4
	roleNoAccess  int32 = -5
)

// Option keys added to the host's advanced options (options.go).
const (
	optPasswordQualityControl = "Security.PasswordQualityControl"
	optPasswordHistory        = "Security.PasswordHistory"
	optDCUIAccess             = "DCUI.Access"
)

// account is a local user. The password is kept only as a salted SHA-512.
type account struct {
	id          string
	description string
	salt        []byte
	hash        []byte // nil: no password set, the account cannot log in
	seq         int    // creation order, the order of ESXi's /etc/passwd
	uid         int32  // POSIX user id (PosixUserSearchResult.id)
	shell       bool   // shell access (HostPosixAccountSpec.shellAccess)

	failures    int       // consecutive failed logins (lockout.go)
	lastFailure time.Time // of the last failed login
}

func hashPassword(salt []byte, password string) []byte {
	h := sha512.New()
	h.Write(salt)
	h.Write([]byte(password))
	return h.Sum(nil)
}

func (a *account) setPassword(password string) error {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	a.salt, a.hash = salt, hashPassword(salt, password)
	return nil
}

func (a *account) checkPassword(password string) bool {
	if a.hash == nil {
		return false
	}
	return subtle.ConstantTimeCompare(a.hash, hashPassword(a.salt, password)) == 1
}

// state is the simulated host's user database, permissions and the option
// values the account code needs. mu guards everything below it; it is never
// held while calling into the simulator.
type state struct {
	opt  Options
	srv  *Server
	root types.ManagedObjectReference // ServiceContent.rootFolder

	mu         sync.Mutex
	users      map[string]*account
	nextSeq    int
	nextUID    int32
	perms      map[types.ManagedObjectReference][]types.Permission
	policy     string
	history    int64
	dcuiAccess string

	// roles is the role table the privilege checks use (roles.go), kept
	// in step with the AuthorizationManager's roleList.
	roles      map[int32]*roleDef
	knownPrivs map[string]bool
	nextRole   int32

	// host is the HostSystem (nil on a vCenter's managed host, whose
	// privileges vCenter checks) and hostOptions its advanced options.
	host        *types.ManagedObjectReference
	hostOptions types.ManagedObjectReference

	// Account lockout (lockout.go): Security.AccountLockFailures and
	// Security.AccountUnlockTime (seconds).
	lockFailures int64
	unlockTime   int64

	approved approvals // logins decided by checkLogin (login.go)

	// domainUser tells domain users (who hold Admin, privileges.go) from
	// local ones; nil: isDomainUser.
	domainUser func(string) bool

	// Lockdown mode (lockdown.go): the mode, the exception list and the
	// permissions lockdown mode took away, to restore when it ends.
	lockdown   types.HostLockdownMode
	exceptions []string
	suspended  map[types.ManagedObjectReference][]types.Permission

	// agent is the host account a managing vCenter acts as on the host
	// (vcenterAgent) for a vCenter's managed host, "" on a standalone
	// host, whose callers are the sessions' users.
	agent string
}

func newState(opt Options, srv *Server) *state {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	return &state{
		opt:        opt,
		srv:        srv,
		users:      make(map[string]*account),
		perms:      make(map[types.ManagedObjectReference][]types.Permission),
		policy:     opt.PasswordQualityControl,
		dcuiAccess: "root",
		lockdown:   types.HostLockdownModeLockdownDisabled,

		lockFailures: DefaultAccountLockFailures,
		unlockTime:   DefaultAccountUnlockTime,
	}
}

func (st *state) tracef(format string, args ...any) {
	tracef(st.opt.Trace, "esxsim: ", format, args...)
}

// traceMu makes each trace line whole: the states of a simulated vCenter's
// hosts and the vCenter itself write one trace at the same time.
var traceMu sync.Mutex

// tracef writes one line, prefix then format, to w (nil: none).
func tracef(w io.Writer, prefix, format string, args ...any) {
	if w == nil {
		return
	}
	traceMu.Lock()
	defer traceMu.Unlock()
	fmt.Fprintf(w, prefix+format+"\n", args...)
}

// seedAccounts are the local users of a fresh ESXi host that is managed by
// vCenter, each with the Admin role on the root folder, propagating.
//
// Sources: vSphere Security 8.0, "ESXi Users and Permissions" / "Predefined
// ESXi Users and Privileges" (root: Administrator role; vpxuser: used by
// vCenter Server, Administrator privileges; dcui: acts with Administrator
// rights), https://docs.vmware.com/en/VMware-vSphere/8.0/vsphere-security/GUID-2215AADC-D4CD-49DD-AF92-65BED243D851.html
// and the vSphere CLI "Managing permissions" example output of
// `esxcli system permission list` (dcui, root, vpxuser: Admin),
// https://vdc-repo.vmware.com/vmwb-repository/dcr-public/24be7af7-d9cd-48d9-bab8-8c91614be19d/0ca33108-8017-4b40-86b9-f066456894ea/doc/GUID-3C1F3933-E86C-478F-80F7-EC8AE1105CF2.html
// The descriptions are the GECOS fields of ESXi's /etc/passwd. vpxuser only
// exists once vCenter has added the host (vSphere 4 "Host users" page);
// it is seeded anyway because managed hosts are the common case.
//
// uid and shell are the PosixUserSearchResult id and shellAccess; ESXi's
// /etc/passwd gives root uid 0, dcui 100 and vpxuser 500, and only root
// and vpxuser a login shell (assumed from ESXi's /etc/passwd; dcui's shell
// is /sbin/nologin, the DCUI being its only use).
var seedAccounts = []struct {
	id, description string
	uid             int32
	shell           bool
}{
	{"root", "Administrator", 0, true},
	{"dcui", "DCUI User", 100, false},
	{"vpxuser", "VMware VirtualCenter administration account", 500, true},
}

// firstUID is the uid of the first account created on the host (assumed:
// useradd's default UID_MIN; not documented for ESXi).
const firstUID = 1000

// install patches the model: it must run after model.Create and before the
// server starts.
func (st *state) install(model *simulator.Model) error {
	m := model.Map()
	si, ok := m.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	if !ok {
		return fmt.Errorf("esxsim: no ServiceInstance in model")
	}
	content := si.Content
	st.root = content.RootFolder
	rel, err := esxiRelease(st.opt.ESXiVersion)
	if err != nil {
		return err
	}
	if err := installRelease(m, rel); err != nil {
		return err
	}
	if err := st.seed(); err != nil {
		return err
	}

	lam, ok := m.Get(*content.AccountManager).(*simulator.HostLocalAccountManager)
	if !ok {
		return fmt.Errorf("esxsim: unexpected HostLocalAccountManager %T", m.Get(*content.AccountManager))
	}
	m.Put(&accountManager{HostLocalAccountManager: lam, st: st})

	ud, ok := m.Get(*content.UserDirectory).(*simulator.UserDirectory)
	if !ok {
		return fmt.Errorf("esxsim: unexpected UserDirectory %T", m.Get(*content.UserDirectory))
	}
	m.Put(&userDirectory{UserDirectory: ud, st: st})

	am, ok := m.Get(*content.AuthorizationManager).(*simulator.AuthorizationManager)
	if !ok {
		return fmt.Errorf("esxsim: unexpected AuthorizationManager %T", m.Get(*content.AuthorizationManager))
	}
	st.loadRoles(am, nil)
	am.PrivilegeList = privilegeList(st.knownPrivs)
	authz := &authorizationManager{AuthorizationManager: am, st: st}
	m.Put(authz)

	if err := st.installOptions(m); err != nil {
		return err
	}
	if err := st.installLockdown(m, authz); err != nil {
		return err
	}
	installDenier(m)
	installPropertyCollector(m)

	m.SessionManager().ValidLogin = st.validLogin
	m.Handler = st.srv.handler
	return nil
}

// seed adds the accounts and root-folder permissions of a fresh managed
// ESXi host (seedAccounts), root's password and, if opt.Username is not a
// seeded account, that user as an Admin. st.root must be set.
func (st *state) seed() error {
	for _, u := range seedAccounts {
		st.addUser(&account{id: u.id, description: u.description, uid: u.uid, shell: u.shell})
		st.perms[st.root] = append(st.perms[st.root], types.Permission{
			Entity: &st.root, Principal: u.id, RoleId: roleAdmin, Propagate: true,
		})
	}
	if err := st.users["root"].setPassword(st.opt.Password); err != nil {
		return err
	}
	if _, ok := st.users[st.opt.Username]; !ok {
		a := &account{id: st.opt.Username, shell: true}
		if err := a.setPassword(st.opt.Password); err != nil {
			return err
		}
		st.addUser(a)
		st.perms[st.root] = append(st.perms[st.root], types.Permission{
			Entity: &st.root, Principal: a.id, RoleId: roleAdmin, Propagate: true,
		})
	} else if st.opt.Username != "root" {
		if err := st.users[st.opt.Username].setPassword(st.opt.Password); err != nil {
			return err
		}
	}
	return nil
}

// addUser stores a new account, giving it the next uid unless it has one.
// st.mu must be held (or st not yet shared).
func (st *state) addUser(a *account) {
	st.nextSeq++
	a.seq = st.nextSeq
	if a.uid == 0 && a.id != "root" {
		if st.nextUID < firstUID {
			st.nextUID = firstUID
		}
		a.uid = st.nextUID
		st.nextUID++
	}
	st.users[a.id] = a
}

// hasAdminOnRoot reports whether principal (a user) has the Admin role on
// the root folder. st.mu must be held.
func (st *state) hasAdminOnRoot(principal string) bool {
	for _, p := range st.perms[st.root] {
		if !p.Group && p.Principal == principal && p.RoleId == roleAdmin {
			return true
		}
	}
	return false
}

// adminsOnRoot counts Admin permissions on the root folder. st.mu must be held.
func (st *state) adminsOnRoot(perms []types.Permission) int {
	n := 0
	for _, p := range perms {
		if p.RoleId == roleAdmin {
			n++
		}
	}
	return n
}

// dcuiUsers returns the users listed in DCUI.Access. st.mu must be held.
func (st *state) dcuiUsers() []string {
	var r []string
	for _, u := range strings.Split(st.dcuiAccess, ",") {
		if u = strings.TrimSpace(u); u != "" {
			r = append(r, u)
		}
	}
	return r
}

// sortedEntities returns the entities with permissions, root folder first.
// st.mu must be held.
func (st *state) sortedEntities() []types.ManagedObjectReference {
	refs := make([]types.ManagedObjectReference, 0, len(st.perms))
	for ref := range st.perms {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool {
		if (refs[i] == st.root) != (refs[j] == st.root) {
			return refs[i] == st.root
		}
		if refs[i].Type != refs[j].Type {
			return refs[i].Type < refs[j].Type
		}
		return refs[i].Value < refs[j].Value
	})
	return refs
}

func clonePerms(p []types.Permission) []types.Permission {
	r := make([]types.Permission, len(p))
	for i := range p {
		r[i] = p[i]
		if p[i].Entity != nil {
			e := *p[i].Entity
			r[i].Entity = &e
		}
	}
	return r
}
