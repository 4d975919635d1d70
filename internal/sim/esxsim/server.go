// Package esxsim runs govmomi's vcsim with its ESX model over HTTPS and
// patches the parts of it that matter for managing ESXi local users, so that
// it answers like a real ESXi host would:
//
//   - HostLocalAccountManager stores passwords (salted hash) and descriptions,
//     validates user names, enforces Security.PasswordQualityControl with
//     passwdqc and answers a weak password with ESXi's SystemError
//     "Weak password: <reason>." (accounts.go);
//   - UserDirectory.RetrieveUserGroups reports the stored users as
//     PosixUserSearchResult with uid, shellAccess and their description as
//     FullName (accounts.go);
//   - AuthorizationManager keeps one permission per principal and entity,
//     merges SetEntityPermissions, validates principals and role ids and
//     protects the last Administrator permission (authz.go);
//   - the host's advanced options carry Security.PasswordQualityControl,
//     Security.PasswordHistory and DCUI.Access (options.go);
//   - SessionManager.Login checks passwords and permissions, answers
//     ESXi's messages and locks accounts out (login.go, lockout.go);
//   - every call checks the session user's privileges and answers
//     NoPermission with privilegeId (privileges.go, propcollector.go);
//     custom roles work (roles.go);
//   - the host is ESXi 8.0.3 or 7.0.3 (version.go), its advanced options
//     are described in supportedOption (options.go);
//   - /sdk/vimServiceVersions.xml lists the API versions ESXi lists, and
//     each request is answered in the version its SOAPAction negotiates
//     (apiversion.go, vimfilter.go);
//   - write calls can be made to fail on purpose (this file).
//
// Each behaviour cites where ESXi's behaviour is documented, next to the code
// and in the test that checks it.
package esxsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/passwdqc"
	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
	"github.com/esxi-users/esxi-users/internal/sim/simsspi"
)

// Common are the settings a simulated ESXi host (Options) and a simulated
// vCenter (VCenterOptions) share.
type Common struct {
	// Listen is the TCP address to listen on; "127.0.0.1:0" when empty,
	// e.g. "127.0.0.1:8989".
	Listen string
	// Username is the login user put in the URL. A host's is "root" by
	// default; when it is not one of the seeded accounts (root, dcui,
	// vpxuser) it is created as a local user with Password and the Admin
	// role on the root folder. A vCenter's is its administrator,
	// DefaultVCenterUser by default.
	Username string
	// Password is the login user's password (a host's root's too); ""
	// generates a random one (crypto/rand), on a host one that meets its
	// password policy.
	Password string
	// PasswordQualityControl is the initial value of the host's (a
	// vCenter's: every host's) Security.PasswordQualityControl option; ""
	// means ESXi's default (passwdqc.ESXiDefault).
	// Through a vCenter, change a single host's policy through its advanced
	// options, or with VCenterOptions.HostPasswordPolicies.
	PasswordQualityControl string
	// CheckPassword enforces the host's policy on CreateUser/UpdateUser;
	// nil uses the project's passwdqc package (policy.go).
	CheckPassword PasswordChecker
	// FailWrite > 0 makes the k-th write call received fail (counted from 1
	// since server start), see Server.SetFailWrite; through a vCenter the
	// k-th write to any host's state (VCenter.SetFailWrite), or with
	// VCenterOptions.FailHost the k-th write to that host's state
	// (VCenter.SetFailHostWrite).
	FailWrite int
	// FailFault is the fault for FailWrite; nil means
	// &types.SystemError{Reason: "injected fault"}.
	FailFault types.BaseMethodFault
	// Trace, when set, receives one line per SOAP request and per account or
	// permission change. Passwords are never written to it.
	Trace io.Writer
	// SSPI, when set, makes SessionManager.LoginBySSPI (a host's, or a
	// vCenter's) accept Kerberos or SPNEGO tokens verified by this acceptor
	// (simulate --sspi-keytab); otherwise LoginBySSPI is answered as vcsim
	// does.
	SSPI *krbaccept.Acceptor
	// SSPIOptions tune LoginBySSPI (allowed principals, user-name form).
	SSPIOptions simsspi.Options
	// ESXiVersion is the simulated ESXi release (a vCenter's managed
	// hosts'), ESXi803 (default) or ESXi703 (version.go); a vCenter itself
	// is vCenter Server 8.0.3.
	ESXiVersion string
	// WeakPasswordFault is the form of the fault for a password the policy
	// rejects (faults.go); the default is ESXi 7.0/8.0's "passwd:
	// Authentication token manipulation error".
	WeakPasswordFault WeakPasswordForm
}

// Options configures Start. The zero value is usable.
type Options struct {
	Common
	// Clock is the simulator's time, for account lockout (lockout.go);
	// nil means time.Now. Tests advance it to pass Security.AccountUnlockTime.
	Clock func() time.Time
	// Lockdown is the host's lockdown mode from the start (a
	// HostLockdownMode value, see ParseLockdownMode; "" is disabled;
	// simulate --lockdown), with LockdownExceptions on its exception list:
	// a host vCenter put in lockdown mode (lockdown.go).
	Lockdown           string
	LockdownExceptions []string
	// Sessions, when set, counts the host's sessions (Server.Sessions),
	// shared with other hosts given the same gauge; nil gives the host its
	// own.
	Sessions *SessionGauge
}

// PasswordChecker returns "" when the password is acceptable under policy
// (a Security.PasswordQualityControl value), else passwdqc's reason, e.g.
// "too short". err is for a policy that cannot be used.
type PasswordChecker func(policy, user, gecos, password string) (reason string, err error)

// Server is a running simulator. Close it when done. Its writes are
// CreateUser, UpdateUser, RemoveUser, SetEntityPermissions and
// RemoveEntityPermission.
type Server struct {
	*endpoint
	st *state
}

// vcsimMu serializes vcsim model creation and removal (endpoint.start).
var vcsimMu sync.Mutex

// writeMethods are the calls counted by Writes and subject to SetFailWrite.
var writeMethods = map[string]bool{
	"CreateUser":             true,
	"UpdateUser":             true,
	"RemoveUser":             true,
	"SetEntityPermissions":   true,
	"RemoveEntityPermission": true,
}

// Start builds an ESX model, patches it and serves it over HTTPS.
func Start(opt Options) (s *Server, err error) {
	if opt.Username == "" {
		opt.Username = "root"
	}
	if err := defaults(&opt.Listen, &opt.PasswordQualityControl, &opt.CheckPassword); err != nil {
		return nil, err
	}
	if _, err := esxiRelease(opt.ESXiVersion); err != nil {
		return nil, err
	}
	if opt.Lockdown != "" && !validLockdownMode(types.HostLockdownMode(opt.Lockdown)) {
		return nil, fmt.Errorf("esxsim: Lockdown %q is not a lockdown mode (lockdownDisabled, lockdownNormal, lockdownStrict)", opt.Lockdown)
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Password == "" {
		opt.Password, err = generatePassword(opt.Common)
		if err != nil {
			return nil, err
		}
	}
	ep, err := newEndpoint(opt.Listen, opt.FailWrite, opt.FailFault)
	if err != nil {
		return nil, err
	}
	ep.sessions = opt.Sessions
	if ep.sessions == nil {
		ep.sessions = &SessionGauge{}
	}
	s = &Server{endpoint: ep}
	err = s.start(created(simulator.ESX()), func(model *simulator.Model) error {
		s.st = newState(opt, s)
		if err := s.st.install(model); err != nil {
			return err
		}
		if opt.SSPI != nil {
			simsspi.Install(model.Map(), opt.SSPI, opt.SSPIOptions)
		}
		return nil
	}, opt.Listen, opt.Username, opt.Password)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// defaults fills in what Start and StartVCenter default alike: the listen
// address and the hosts' password policy and checker, which must accept
// the policy.
func defaults(listen, policy *string, check *PasswordChecker) error {
	if *listen == "" {
		*listen = "127.0.0.1:0"
	}
	if *policy == "" {
		*policy = passwdqc.ESXiDefault
	}
	if *check == nil {
		*check = PasswdqcChecker
	}
	if err := validPolicy(*check, *policy); err != nil {
		return fmt.Errorf("esxsim: PasswordQualityControl %q: %w", *policy, err)
	}
	return nil
}

// handler is installed as the vim25 Registry.Handler: it sees every SOAP
// request before dispatch.
func (s *Server) handler(ctx *simulator.Context, m *simulator.Method) (mo.Reference, types.BaseMethodFault) {
	n := s.requests.Add(1)
	s.st.tracef("request %s %s", m.Name, m.This.Value)
	if f := s.intercept(ctx, m, n); f != nil {
		return nil, f
	}
	if m.Name == "Login" {
		if d := s.st.checkLogin(ctx, m); d != nil {
			return d, nil
		}
		return &countedLogin{Self: m.This, gauge: s.sessions}, nil
	}
	if writeMethods[m.Name] {
		if n, f := s.countWrite(ctx); f != nil {
			s.st.tracef("write #%d %s: injected fault %T", n, m.Name, f)
		}
	}
	if f := s.st.authorize(ctx, m); f != nil {
		s.st.tracef("%s by %q: %s", m.Name, ctx.Session.UserName, f.String)
		deny(m, f)
	}
	return nil, nil
}

// selfSignedCert returns a fresh ECDSA certificate for 127.0.0.1, ::1,
// localhost and host.
func selfSignedCert(host string) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "esxsim", Organization: []string{"esxsim"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else if ip == nil && host != "" && host != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}

// ErrNoPassword is StartVCenter's and Start's error when no password meets
// a host's initial Security.PasswordQualityControl (generatePassword): the
// policy asks for more than any password can be (min above max, every kind
// disabled), or only for passwords these are not.
var ErrNoPassword = errors.New("no password meets the policy")

// generatePassword returns a random password that the configured checker
// accepts under the initial policy: characters from all four classes,
// starting and ending with a lowercase letter so that passwdqc counts every
// class — 20 of them, or as many as the policy asks for (a passphrase or
// four-class minimum above 20, a max below 20): every length from 20 up to
// 128, then down to 8, until one is accepted. Its error wraps ErrNoPassword
// and says what the checker answered last.
func generatePassword(opt Common) (string, error) {
	const (
		lower   = "abcdefghijkmnopqrstuvwxyz"
		upper   = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		digit   = "23456789"
		special = "!#%*+-=_.,"
	)
	pick := func(set string) (byte, error) {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return 0, err
		}
		return set[n.Int64()], nil
	}
	all := lower + upper + digit + special
	var lengths []int
	for n := 20; n <= 128; n++ {
		lengths = append(lengths, n)
	}
	for n := 19; n >= 8; n-- {
		lengths = append(lengths, n)
	}
	last := ""
	for _, n := range lengths {
		for try := 0; try < 5; try++ {
			b := make([]byte, n)
			var err error
			for i := range b {
				set := all
				switch {
				case i == 0 || i == len(b)-1:
					set = lower
				case i == 1:
					set = upper
				case i == 2:
					set = digit
				case i == 3:
					set = special
				}
				if b[i], err = pick(set); err != nil {
					return "", err
				}
			}
			pw := string(b)
			reason, err := opt.CheckPassword(opt.PasswordQualityControl, opt.Username, "", pw)
			if err != nil {
				return "", err
			}
			if reason == "" {
				return pw, nil
			}
			last = reason
		}
	}
	return "", fmt.Errorf("esxsim: policy %q: %w: random passwords of 8 to 128 characters of all four classes were refused (the last: %s)", opt.PasswordQualityControl, ErrNoPassword, last)
}
