// Package simsspi adds SessionManager.LoginBySSPI to the govmomi simulator
// (vcsim), verifying tokens with an acceptor (krbaccept.Interface): real
// Kerberos with krbaccept.Acceptor, or MIT's GSSAPI acceptor in tests
// (krbtest.MITAcceptor), so internal/sspi can log in to a simulated vCenter
// or ESXi.
//
// # How it hooks in
//
// The simulator dispatches by method name and type-asserts its own
// SessionManager, so the SessionManager cannot be wrapped. Install sets the
// Registry.Handler hook instead (chaining any handler already there): a
// LoginBySSPI call is routed to this package's object under the method name
// "Login" (a name the simulator lets through without a session) whose
// Login(*simulator.Context, *types.LoginBySSPI) does the work. The call's
// moref is re-aimed at a private one ("SimSSPILogin"), because with a
// session the simulator would resolve the SessionManager moref to its own
// per-session copy.
//
// # Multi-leg conversations
//
// LoginBySSPI carries no conversation id, so — like vCenter, which hands out
// its session cookie before login — the first SSPIChallenge comes with a
// vmware_soap_session cookie for a *pending* session. The cookie value is
// the krbaccept conversation id. A pending session is not authenticated:
// the hook answers NotAuthenticated for any method an anonymous client could
// not call, and runs the anonymous ones (RetrieveServiceContent, Login, …)
// as if there were no session. On success the pending session becomes the
// user's session (same cookie); on failure it is logged out.
//
// # Final tokens
//
// LoginBySSPI's reference says: "If the context has been successfully
// formed, the server proceeds with login"; a UserSession cannot carry the
// acceptor's final token (the AP-REP of mutual authentication), so by
// default it is dropped and the login completes in one call, the way
// AcceptSecurityContext returning SEC_E_OK ends the server's side.
// Options.ChallengeFinalToken instead delivers it as an SSPIChallenge
// (krbaccept.FinalAsChallenge) and completes the login on the next call,
// whose token must be the initiator's empty output: how a real vCenter
// behaves here is not documented, and the client must cope with both.
//
// # Results
//
//   - success: a simulator.Session whose UserName is "REALM\user" (the
//     "DOMAIN\user" form vCenter shows for Windows/AD users, e.g.
//     ESXI.TEST\alice); FullName is the Kerberos principal (alice@ESXI.TEST).
//     Options.UserName can choose another form.
//   - challenge: SSPIChallenge fault with the base64 token.
//   - bad, tampered, replayed or wrong-service tokens: InvalidLogin.
//   - a valid principal not in Options.AllowedPrincipals: NoPermission.
//   - a locale that is not "ll" or "ll_CC": InvalidLocale.
//   - Options.NotSupported (what a real ESXi host answers): NotSupported.
//
// Without Install the simulator answers LoginBySSPI as vcsim does
// (NotAuthenticated before login, MethodNotFound after).
package simsspi

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
)

// Options configure the simulated LoginBySSPI.
type Options struct {
	// AllowedPrincipals lists who may log in, as Kerberos principals
	// ("alice@ESXI.TEST") or user names ("ESXI.TEST\alice"); nil allows any
	// authenticated principal.
	AllowedPrincipals []string
	// UserName maps a principal (user@REALM) to the session's user name;
	// default DefaultUserName ("REALM\user").
	UserName func(principal string) string
	// NotSupported makes LoginBySSPI answer NotSupported, as ESXi does.
	NotSupported bool
	// ChallengeFinalToken delivers the acceptor's final token as an
	// SSPIChallenge instead of dropping it (see "Final tokens").
	ChallengeFinalToken bool
}

// DefaultUserName turns "user@REALM" into "REALM\user".
func DefaultUserName(principal string) string {
	i := strings.LastIndex(principal, "@")
	if i < 0 {
		return principal
	}
	return principal[i+1:] + `\` + principal[:i]
}

// Server is an installed LoginBySSPI implementation.
type Server struct {
	reg  *simulator.Registry
	acc  krbaccept.Interface
	opts Options
	prev func(*simulator.Context, *simulator.Method) (mo.Reference, types.BaseMethodFault)
	ref  types.ManagedObjectReference

	mu      sync.Mutex
	pending map[string]time.Time // pending session keys
}

// Install routes LoginBySSPI calls on r's SessionManager to acc.
func Install(r *simulator.Registry, acc krbaccept.Interface, opts Options) *Server {
	if opts.UserName == nil {
		opts.UserName = DefaultUserName
	}
	if opts.ChallengeFinalToken {
		acc = new(krbaccept.FinalAsChallenge).Wrap(acc)
	}
	s := &Server{reg: r, acc: acc, opts: opts, prev: r.Handler, ref: r.SessionManager().Reference(), pending: map[string]time.Time{}}
	r.Handler = s.handle
	return s
}

// Uninstall restores the previous Registry.Handler.
func (s *Server) Uninstall() { s.reg.Handler = s.prev }

// handlerRef is the moref Server answers to. LoginBySSPI calls are re-aimed
// at it because, with a session, the simulator would otherwise resolve the
// SessionManager moref to a per-session copy of its own SessionManager.
var handlerRef = types.ManagedObjectReference{Type: "SimSSPILogin", Value: "simsspi-login"}

// Reference identifies Server to the simulator's dispatcher and locker.
func (s *Server) Reference() types.ManagedObjectReference { return handlerRef }

// anonymous lists the methods the simulator allows without a session.
var anonymous = map[string]bool{
	"Login": true, "LoginByToken": true, "LoginExtensionByCertificate": true, "CloneSession": true,
	"LoginBySSPI":            true,
	"RetrieveServiceContent": true, "RetrieveInternalContent": true, "PbmRetrieveServiceContent": true,
	"Fetch": true, "RetrieveProperties": true, "RetrievePropertiesEx": true,
	"List": true, "GetTrustedCertificates": true,
}

func (s *Server) isPending(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pending[key]
	return ok
}

func (s *Server) handle(ctx *simulator.Context, m *simulator.Method) (mo.Reference, types.BaseMethodFault) {
	if m.Name == "LoginBySSPI" && m.This == s.ref {
		if _, ok := m.Body.(*types.LoginBySSPI); ok {
			m.Name = "Login" // dispatched by reflection to Server.Login
			m.This = handlerRef
			return s, nil
		}
	}
	if ctx.Session != nil && s.isPending(ctx.Session.Key) {
		if !anonymous[m.Name] {
			return nil, &types.NotAuthenticated{NoPermission: types.NoPermission{Object: &m.This, PrivilegeId: "System.View"}}
		}
		ctx.Session = nil // an unauthenticated conversation: behave as anonymous
	}
	if s.prev != nil {
		return s.prev(ctx, m)
	}
	return nil, nil
}

// pendingTTL bounds how long an abandoned conversation's key is remembered
// (the simulator's own idle timeout removes the pending session itself).
const pendingTTL = time.Hour

var localeRE = regexp.MustCompile(`^[a-z]{2}(_[A-Z]{2})?$`)

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func fault(f types.BaseMethodFault) soap.HasFault {
	return &methods.LoginBySSPIBody{Fault_: simulator.Fault("", f)}
}

// Login implements LoginBySSPI (the hook renames the method to Login).
func (s *Server) Login(ctx *simulator.Context, req *types.LoginBySSPI) soap.HasFault {
	if s.opts.NotSupported {
		return fault(&types.NotSupported{})
	}
	if req.Locale != "" && !localeRE.MatchString(req.Locale) {
		return fault(&types.InvalidLocale{})
	}
	var key string
	pending := false
	if ctx.Session != nil {
		if !s.isPending(ctx.Session.Key) {
			return fault(&types.InvalidLogin{}) // already logged in, as simulator Login
		}
		key, pending = ctx.Session.Key, true
	} else {
		key = newKey()
	}

	fail := func(f types.BaseMethodFault) soap.HasFault {
		s.acc.Forget(key)
		if pending {
			s.mu.Lock()
			delete(s.pending, key)
			s.mu.Unlock()
			s.reg.SessionManager().Logout(ctx, &types.Logout{This: s.ref})
			ctx.Session = nil
		}
		return fault(f)
	}

	token, err := base64.StdEncoding.DecodeString(req.Base64Token)
	if err != nil || (len(token) == 0 && !pending) {
		// An empty token can only be the last answer of a conversation.
		return fail(&types.InvalidLogin{})
	}
	challenge, principal, done, err := s.acc.Accept(key, token)
	if err != nil {
		return fail(&types.InvalidLogin{})
	}
	now := time.Now().UTC()
	if !done {
		if !pending {
			s.mu.Lock()
			for k, t := range s.pending { // abandoned conversations
				if now.Sub(t) > pendingTTL {
					delete(s.pending, k)
				}
			}
			s.pending[key] = now
			s.mu.Unlock()
			ctx.SetSession(simulator.Session{
				UserSession: types.UserSession{Key: key, LoginTime: now, LastActiveTime: now},
				Registry:    simulator.NewRegistry(),
				Map:         ctx.Map,
			}, true)
		}
		return fault(&types.SSPIChallenge{Base64Token: base64.StdEncoding.EncodeToString(challenge)})
	}
	name := s.opts.UserName(principal)
	if !s.allowed(principal, name) {
		return fail(&types.NoPermission{Object: &s.ref, PrivilegeId: "System.Anonymous"})
	}
	if pending {
		s.mu.Lock()
		delete(s.pending, key)
		s.mu.Unlock()
	}
	locale := req.Locale
	if locale == "" {
		locale = "en"
	}
	ctx.SetSession(simulator.Session{
		UserSession: types.UserSession{
			Key:            key,
			UserName:       name,
			FullName:       principal,
			LoginTime:      now,
			LastActiveTime: now,
			Locale:         locale,
			MessageLocale:  locale,
		},
		Registry: simulator.NewRegistry(),
		Map:      ctx.Map,
	}, true)
	return &methods.LoginBySSPIBody{Res: &types.LoginBySSPIResponse{Returnval: ctx.Session.UserSession}}
}

func (s *Server) allowed(principal, name string) bool {
	if s.opts.AllowedPrincipals == nil {
		return true
	}
	for _, p := range s.opts.AllowedPrincipals {
		if p == principal || p == name {
			return true
		}
	}
	return false
}
