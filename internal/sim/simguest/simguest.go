// Package simguest adds a GuestAuthManager to the govmomi simulator (vcsim,
// VPX and ESX models): guest SSPI authentication (AcquireCredentialsInGuest
// with SSPIAuthentication, the challenge/sessionID exchange and
// TicketedSessionAuthentication), ValidateCredentialsInGuest and
// ReleaseCredentialsInGuest, with Kerberos tokens verified by a
// krbaccept.Acceptor — real Kerberos, so tests can run internal/guestauth
// against a simulated vCenter or ESXi.
//
// # How it hooks in
//
// The simulator's GuestOperationsManager has no authManager (asking govmomi
// for it panics). Install puts a Server (embedding mo.GuestAuthManager) into
// the registry and sets GuestOperationsManager.authManager to it; the
// simulator dispatches the three methods to it by name. It also replaces the
// GuestProcessManager with a wrapper whose ListProcessesInGuest checks the
// VM and the credentials (vcsim's own ignores both); the other process
// methods are the simulator's. A registry handler drops a VM's tickets and
// pending conversations when it stops being powered on, its tools stop, or
// it is removed: the ticketed session "stores state inside of the guest"
// (vim.vm.guest.SSPIAuthentication).
//
// # The SSPI exchange (vim.vm.guest.SSPIAuthentication)
//
// "Call AcquireCredentialsInGuest with the SSPIAuthentication object and no
// sessionID. After issuing the AcquireCredentialsInGuest call, a
// GuestAuthenticationChallenge will be thrown. Use the serverChallenge
// sspiToken … to generate the proper SSPI response token … and call
// AcquireCredentialsInGuest with the SSPIAuthentication object and the
// sessionID found in GuestAuthenticationChallenge. Successful authentication
// will result in a TicketedSessionAuthentication object being returned."
//
// So the first call never returns a ticket. It gives the client's token to
// the Acceptor (conversation "simguest/<vm>/<sessionID>") and answers
// GuestAuthenticationChallenge{ServerChallenge: SSPIAuthentication{SspiToken:
// base64 challenge}, SessionID: a new random non-zero id}. The challenge is
// the acceptor's output token. The guest side of VMware Tools has the same
// shape, one challenge then one response: VGAuth_GenerateSSPIChallenge
// ("takes an initial request to begin an SSPI negotiation and generates a
// challenge", with the Negotiate package) and VGAuth_ValidateSSPIResponse
// (open-vm-tools/vgauth/lib/auth.c; only Windows guests implement them,
// authPosix.c answers VGAUTH_E_UNSUPPORTED; how the Windows implementation
// treats a context that completed on the request is not public). With
// standard Kerberos the
// acceptor usually completes on the first token: its final token (the
// AP-REP of mutual authentication; for Negotiate the accept-completed
// NegTokenResp) is delivered as the challenge (krbaccept.FinalAsChallenge),
// the client's context completes on it with an empty output token, and that
// empty answer, with the sessionID, gets the ticket. With
// krbaccept.Options.MechListMIC the Negotiate acceptor instead runs SPNEGO's
// mechListMIC exchange, and the answer is the client's mechListMIC, which
// only the holder of the ticket's session key can make. An acceptor that
// completes with nothing to challenge with (raw Kerberos without mutual
// authentication) is refused with InvalidGuestLogin: the guest must throw a
// challenge, and a client whose context is already complete cannot answer
// one. Acceptor challenges on later legs (several legs, as NTLM would need)
// are passed on with the same sessionID, up to MaxLegs calls.
//
// A follow-up must name a pending sessionID of the same VM and the same
// vSphere session; each pending conversation gets one attempt per leg and
// expires after Options.ConversationTTL. A ticket is issued only when the
// acceptor completes on an answer to its challenge: a fresh initial token
// sent as a follow-up restarts the exchange under the same sessionID and is
// challenged again.
//
// # Faults (AcquireCredentialsInGuest reference, seed 003)
//
//   - invalid, tampered, replayed or wrong-service token, unknown sessionID,
//     an answer that does not verify (a mechListMIC) or is not empty after
//     a final token: InvalidGuestLogin;
//   - VM not powered on: InvalidPowerState (requested poweredOn);
//   - tools not running in the guest: GuestOperationsUnavailable;
//   - more than Options.MaxSessionsPerVM tickets plus pending conversations
//     in one VM: TooManyGuestLogons;
//   - requestedAuth not SSPIAuthentication: InvalidArgument (assumed: the
//     reference only says the call "is not needed" for NamePassword).
//
// Tickets (random, 32 bytes hex) are valid for their VM only, until
// released, and until the guest loses its state (power off, tools stop).
// A ticket used on another VM or after release: InvalidGuestLogin.
// NamePasswordAuthentication works in guest operations as in vcsim (any
// non-empty user and password) unless Options.Accounts lists the accounts.
//
// Tokens and tickets are never logged.
package simguest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/gss"
	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
)

// Defaults.
const (
	// DefaultMaxSessionsPerVM bounds tickets plus pending conversations per
	// VM. The real guest's limit is not documented; this is an assumption.
	DefaultMaxSessionsPerVM = 8
	// DefaultConversationTTL bounds how long a challenged conversation waits
	// for its answer (krbaccept's own conversations expire after its MaxSkew).
	DefaultConversationTTL = 5 * time.Minute
	// MaxLegs bounds the AcquireCredentialsInGuest calls of one conversation.
	MaxLegs = 10
)

// Options configure the simulated guest authentication.
type Options struct {
	// MaxSessionsPerVM: tickets plus pending conversations allowed in one
	// VM before TooManyGuestLogons; default DefaultMaxSessionsPerVM.
	MaxSessionsPerVM int
	// ConversationTTL: lifetime of a pending challenge; default
	// DefaultConversationTTL.
	ConversationTTL time.Duration
	// Accounts, if not nil, are the guest accounts (user → password)
	// NamePasswordAuthentication is checked against; nil keeps vcsim's rule
	// (any non-empty user name and password).
	Accounts map[string]string
	// Processes, if set, is the process list of a VM's guest for
	// ListProcessesInGuest (owner is the authenticated user: the Kerberos
	// principal of a ticket, or the NamePassword user). Unset lists vcsim's
	// process manager (programs started with StartProgramInGuest).
	Processes func(vm types.ManagedObjectReference, owner string) []types.GuestProcessInfo
	// KeepToolsStatus leaves the VMs' guest.toolsRunningStatus as the model
	// created it (guestToolsNotRunning for vcsim's VMs). By default Install
	// simulates a running VMware Tools agent in every VM.
	KeepToolsStatus bool
	// Acceptors, if set, gives VMs their own acceptor (each guest has its
	// own SPN and keytab, e.g. host/<vm name>), keyed by VM name; VMs not
	// listed use the acceptor given to Install.
	Acceptors map[string]Acceptor
	// Now is the clock for conversation expiry; default time.Now.
	Now func() time.Time
}

// Acceptor verifies SSPI tokens: *krbaccept.Acceptor, or any
// krbaccept.Interface (MIT's acceptor in tests).
type Acceptor = krbaccept.Interface

// Stats counts what the server did.
type Stats struct {
	Challenges int // GuestAuthenticationChallenge faults thrown
	Acquired   int // tickets issued
	Released   int // tickets released by ReleaseCredentialsInGuest
	Dropped    int // tickets dropped because the guest lost its state
	Rejected   int // InvalidGuestLogin answers to AcquireCredentialsInGuest
	TooMany    int // TooManyGuestLogons answers
}

type pendingConv struct {
	vm      types.ManagedObjectReference
	session string // vSphere session key
	conv    string // krbaccept conversation id
	acc     Acceptor
	created time.Time
	legs    int
}

type ticket struct {
	vm        types.ManagedObjectReference
	principal string
	issued    time.Time
}

// Server is the simulated GuestAuthManager. It is put into the simulator's
// registry; its exported methods are the vSphere methods it implements.
type Server struct {
	mo.GuestAuthManager

	reg   *simulator.Registry
	acc   Acceptor
	opts  Options
	pm    *processManager
	final krbaccept.FinalAsChallenge // final tokens become the challenge

	mu      sync.Mutex
	pending map[int64]*pendingConv
	tickets map[string]*ticket
	stats   Stats
}

// AuthManagerRef is the moref of the GuestAuthManager Install creates.
var AuthManagerRef = types.ManagedObjectReference{Type: "GuestAuthManager", Value: "guestOperationsAuthManager"}

// Install adds the GuestAuthManager to r (a VPX or ESX model's registry),
// verifying SSPI tokens with acc. Call it before serving clients.
func Install(r *simulator.Registry, acc Acceptor, opts Options) *Server {
	if opts.MaxSessionsPerVM <= 0 {
		opts.MaxSessionsPerVM = DefaultMaxSessionsPerVM
	}
	if opts.ConversationTTL <= 0 {
		opts.ConversationTTL = DefaultConversationTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{reg: r, acc: acc, opts: opts, pending: map[int64]*pendingConv{}, tickets: map[string]*ticket{}}
	s.Self = AuthManagerRef
	r.Put(s)

	ctx := &simulator.Context{Context: context.Background(), Map: r}
	content := r.Get(vim25.ServiceInstance).(interface{ ServiceContent() types.ServiceContent }).ServiceContent()
	gom := r.Get(*content.GuestOperationsManager).(*simulator.GuestOperationsManager)
	ref := s.Self
	r.WithLock(ctx, gom, func() { gom.AuthManager = &ref })

	if gom.ProcessManager != nil {
		if orig, ok := r.Get(*gom.ProcessManager).(*simulator.GuestProcessManager); ok {
			s.pm = &processManager{GuestProcessManager: orig, s: s}
			r.Put(s.pm)
		}
	}
	if !opts.KeepToolsStatus {
		for _, e := range r.All("VirtualMachine") {
			s.setTools(ctx, e.(*simulator.VirtualMachine), true)
		}
	}
	r.AddHandler(s)
	return s
}

// SetToolsRunning starts or stops the simulated VMware Tools agent of a VM
// (guest.toolsRunningStatus). Stopping it drops the VM's tickets.
func (s *Server) SetToolsRunning(vm types.ManagedObjectReference, running bool) {
	ctx := &simulator.Context{Context: context.Background(), Map: s.reg}
	if v, ok := s.reg.Get(vm).(*simulator.VirtualMachine); ok {
		s.setTools(ctx, v, running)
	}
}

func (s *Server) setTools(ctx *simulator.Context, vm *simulator.VirtualMachine, running bool) {
	status, tools := types.VirtualMachineToolsRunningStatusGuestToolsRunning, types.VirtualMachineToolsStatusToolsOk
	if !running {
		status, tools = types.VirtualMachineToolsRunningStatusGuestToolsNotRunning, types.VirtualMachineToolsStatusToolsNotRunning
	}
	ctx.WithLock(vm, func() {
		if vm.Guest == nil {
			vm.Guest = &types.GuestInfo{}
		}
		ctx.Update(vm, []types.PropertyChange{
			{Name: "guest.toolsRunningStatus", Val: string(status)},
			{Name: "guest.toolsStatus", Val: tools},
		})
	})
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Sessions returns the number of live tickets and pending conversations of vm.
func (s *Server) Sessions(vm types.ManagedObjectReference) (tickets, pending int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
	for _, t := range s.tickets {
		if t.vm == vm {
			tickets++
		}
	}
	for _, p := range s.pending {
		if p.vm == vm {
			pending++
		}
	}
	return tickets, pending
}

// TicketPrincipal returns the principal a ticket was issued to, if it is live.
func (s *Server) TicketPrincipal(tkt string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[tkt]
	if !ok {
		return "", false
	}
	return t.principal, true
}

// --- registry handler: the guest loses its state -------------------------

// PutObject implements simulator.RegisterObject.
func (s *Server) PutObject(*simulator.Context, mo.Reference) {}

// UpdateObject drops a VM's guest sessions when it stops running or its
// tools stop.
func (s *Server) UpdateObject(_ *simulator.Context, obj mo.Reference, changes []types.PropertyChange) {
	ref := obj.Reference()
	if ref.Type != "VirtualMachine" {
		return
	}
	for _, c := range changes {
		switch c.Name {
		case "runtime.powerState":
			if st, ok := c.Val.(types.VirtualMachinePowerState); ok && st != types.VirtualMachinePowerStatePoweredOn {
				s.dropVM(ref)
			}
		case "guest.toolsRunningStatus":
			if st, ok := c.Val.(string); ok && st != string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) {
				s.dropVM(ref)
			}
		}
	}
}

// RemoveObject drops a removed VM's guest sessions.
func (s *Server) RemoveObject(_ *simulator.Context, ref types.ManagedObjectReference) {
	if ref.Type == "VirtualMachine" {
		s.dropVM(ref)
	}
}

func (s *Server) dropVM(vm types.ManagedObjectReference) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.tickets {
		if t.vm == vm {
			delete(s.tickets, k)
			s.stats.Dropped++
		}
	}
	for id, p := range s.pending {
		if p.vm == vm {
			p.acc.Forget(p.conv)
			delete(s.pending, id)
		}
	}
}

// --- checks ----------------------------------------------------------------

// guestReady checks that vm exists, is powered on and runs tools.
func guestReady(ctx *simulator.Context, ref types.ManagedObjectReference) types.BaseMethodFault {
	vm, ok := ctx.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return &types.ManagedObjectNotFound{Obj: ref}
	}
	var power types.VirtualMachinePowerState
	var tools string
	ctx.WithLock(vm, func() {
		power = vm.Runtime.PowerState
		if vm.Guest != nil {
			tools = vm.Guest.ToolsRunningStatus
		}
	})
	if power != types.VirtualMachinePowerStatePoweredOn {
		return &types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOn, ExistingState: power}
	}
	if tools != string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) {
		return &types.GuestOperationsUnavailable{}
	}
	return nil
}

// authorize checks guest-operation credentials for vm and returns the guest
// user they stand for.
func (s *Server) authorize(vm types.ManagedObjectReference, auth types.BaseGuestAuthentication) (string, types.BaseMethodFault) {
	switch a := auth.(type) {
	case *types.TicketedSessionAuthentication:
		s.mu.Lock()
		defer s.mu.Unlock()
		t, ok := s.tickets[a.Ticket]
		if !ok || t.vm != vm {
			return "", &types.InvalidGuestLogin{}
		}
		return t.principal, nil
	case *types.NamePasswordAuthentication:
		if s.opts.Accounts == nil {
			if a.Username == "" || a.Password == "" { // vcsim's rule
				return "", &types.InvalidGuestLogin{}
			}
			return a.Username, nil
		}
		if pw, ok := s.opts.Accounts[a.Username]; !ok || pw != a.Password {
			return "", &types.InvalidGuestLogin{}
		}
		return a.Username, nil
	}
	// "You should NOT attempt to use SSPIAuthentication in any guest
	// operations function call" (vim.vm.guest.SSPIAuthentication).
	return "", &types.InvalidGuestLogin{}
}

func (s *Server) expireLocked() {
	now := s.opts.Now()
	for id, p := range s.pending {
		if now.Sub(p.created) > s.opts.ConversationTTL {
			p.acc.Forget(p.conv)
			delete(s.pending, id)
		}
	}
}

func (s *Server) countLocked(vm types.ManagedObjectReference) int {
	n := 0
	for _, t := range s.tickets {
		if t.vm == vm {
			n++
		}
	}
	for _, p := range s.pending {
		if p.vm == vm {
			n++
		}
	}
	return n
}

func newSessionID() int64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := int64(binary.BigEndian.Uint64(b[:]) >> 1); id != 0 {
			return id
		}
	}
}

func newTicket() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// acceptor returns the acceptor for vm's guest.
func (s *Server) acceptor(ctx *simulator.Context, ref types.ManagedObjectReference) Acceptor {
	if len(s.opts.Acceptors) == 0 {
		return s.acc
	}
	vm, ok := ctx.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return s.acc
	}
	var name string
	ctx.WithLock(vm, func() { name = vm.Name })
	if a, ok := s.opts.Acceptors[name]; ok && a != nil {
		return a
	}
	return s.acc
}

func sessionKey(ctx *simulator.Context) string {
	if ctx.Session == nil {
		return ""
	}
	return ctx.Session.Key
}

// --- GuestAuthManager methods -------------------------------------------

// AcquireCredentialsInGuest implements GuestAuthManager.AcquireCredentialsInGuest.
func (s *Server) AcquireCredentialsInGuest(ctx *simulator.Context, req *types.AcquireCredentialsInGuest) soap.HasFault {
	body := new(methods.AcquireCredentialsInGuestBody)
	fail := func(f types.BaseMethodFault) soap.HasFault {
		body.Fault_ = simulator.Fault("", f)
		return body
	}
	if f := guestReady(ctx, req.Vm); f != nil {
		if req.SessionID != 0 {
			s.dropPending(req.SessionID)
		}
		return fail(f)
	}
	a, ok := req.RequestedAuth.(*types.SSPIAuthentication)
	if !ok {
		return fail(&types.InvalidArgument{InvalidProperty: "requestedAuth"})
	}
	res, f := s.acquireSSPI(ctx, req.Vm, a, req.SessionID)
	if f != nil {
		return fail(f)
	}
	body.Res = &types.AcquireCredentialsInGuestResponse{Returnval: res}
	return body
}

func (s *Server) dropPending(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pending[id]; ok {
		p.acc.Forget(p.conv)
		delete(s.pending, id)
	}
}

func (s *Server) reject() types.BaseMethodFault {
	s.mu.Lock()
	s.stats.Rejected++
	s.mu.Unlock()
	return &types.InvalidGuestLogin{}
}

func (s *Server) acquireSSPI(ctx *simulator.Context, vm types.ManagedObjectReference, a *types.SSPIAuthentication, id int64) (types.BaseGuestAuthentication, types.BaseMethodFault) {
	token, err := base64.StdEncoding.DecodeString(a.SspiToken)
	if err != nil || (len(token) == 0 && id == 0) {
		// An empty token can only answer a challenge.
		if id != 0 {
			s.dropPending(id)
		}
		return nil, s.reject()
	}

	acc := s.final.Wrap(s.acceptor(ctx, vm))
	var p *pendingConv
	s.mu.Lock()
	s.expireLocked()
	if id == 0 {
		// First call: a new conversation.
		if s.countLocked(vm) >= s.opts.MaxSessionsPerVM {
			s.stats.TooMany++
			s.mu.Unlock()
			return nil, &types.TooManyGuestLogons{}
		}
		id = newSessionID()
		for s.pending[id] != nil {
			id = newSessionID()
		}
		p = &pendingConv{vm: vm, session: sessionKey(ctx), conv: fmt.Sprintf("simguest/%s/%d", vm.Value, id), acc: acc, created: s.opts.Now()}
	} else {
		// A follow-up: the conversation must exist, for this VM and vSphere
		// session; it is taken out (one attempt per leg).
		p = s.pending[id]
		delete(s.pending, id)
		if p == nil || p.vm != vm || p.session != sessionKey(ctx) {
			if p != nil {
				p.acc.Forget(p.conv)
			}
			s.stats.Rejected++
			s.mu.Unlock()
			return nil, &types.InvalidGuestLogin{}
		}
	}
	s.mu.Unlock()

	first := p.legs == 0
	p.legs++
	challenge, principal, done, err := p.acc.Accept(p.conv, token)
	if err != nil {
		p.acc.Forget(p.conv)
		return nil, s.reject()
	}
	if done && (first || gss.LooksInitial(token)) {
		// Finished on an initial token with nothing to challenge with: no
		// answer to a challenge of this server (see the package
		// documentation); refuse rather than issue a ticket unchallenged.
		p.acc.Forget(p.conv)
		return nil, s.reject()
	}
	if !done {
		if len(challenge) == 0 || p.legs >= MaxLegs {
			p.acc.Forget(p.conv)
			return nil, s.reject()
		}
		s.mu.Lock()
		s.pending[id] = p
		s.stats.Challenges++
		s.mu.Unlock()
		return nil, &types.GuestAuthenticationChallenge{
			ServerChallenge: &types.SSPIAuthentication{SspiToken: base64.StdEncoding.EncodeToString(challenge)},
			SessionID:       id,
		}
	}

	// Authenticated. The guest may have lost its state meanwhile.
	if f := guestReady(ctx, vm); f != nil {
		return nil, f
	}
	tkt := newTicket()
	s.mu.Lock()
	defer s.mu.Unlock()
	// The conversation was counted while pending; it becomes the ticket.
	if s.countLocked(vm) >= s.opts.MaxSessionsPerVM {
		s.stats.TooMany++
		return nil, &types.TooManyGuestLogons{}
	}
	s.tickets[tkt] = &ticket{vm: vm, principal: principal, issued: s.opts.Now()}
	s.stats.Acquired++
	return &types.TicketedSessionAuthentication{Ticket: tkt}, nil
}

// ValidateCredentialsInGuest implements GuestAuthManager.ValidateCredentialsInGuest.
func (s *Server) ValidateCredentialsInGuest(ctx *simulator.Context, req *types.ValidateCredentialsInGuest) soap.HasFault {
	body := new(methods.ValidateCredentialsInGuestBody)
	if f := guestReady(ctx, req.Vm); f != nil {
		body.Fault_ = simulator.Fault("", f)
		return body
	}
	if _, f := s.authorize(req.Vm, req.Auth); f != nil {
		body.Fault_ = simulator.Fault("", f)
		return body
	}
	body.Res = new(types.ValidateCredentialsInGuestResponse)
	return body
}

// ReleaseCredentialsInGuest implements GuestAuthManager.ReleaseCredentialsInGuest.
// Only tickets can be released; a ticket of another VM, or one already
// released, is InvalidGuestLogin.
func (s *Server) ReleaseCredentialsInGuest(ctx *simulator.Context, req *types.ReleaseCredentialsInGuest) soap.HasFault {
	body := new(methods.ReleaseCredentialsInGuestBody)
	fail := func(f types.BaseMethodFault) soap.HasFault {
		body.Fault_ = simulator.Fault("", f)
		return body
	}
	if f := guestReady(ctx, req.Vm); f != nil {
		return fail(f)
	}
	a, ok := req.Auth.(*types.TicketedSessionAuthentication)
	if !ok {
		return fail(&types.InvalidArgument{InvalidProperty: "auth"})
	}
	s.mu.Lock()
	t, ok := s.tickets[a.Ticket]
	if ok && t.vm == req.Vm {
		delete(s.tickets, a.Ticket)
		s.stats.Released++
	}
	s.mu.Unlock()
	if !ok || t.vm != req.Vm {
		return fail(&types.InvalidGuestLogin{})
	}
	body.Res = new(types.ReleaseCredentialsInGuestResponse)
	return body
}

// --- process manager wrapper --------------------------------------------

// processManager wraps vcsim's GuestProcessManager so that
// ListProcessesInGuest checks the VM and the credentials.
type processManager struct {
	*simulator.GuestProcessManager
	s *Server
}

// ListProcessesInGuest implements GuestProcessManager.ListProcessesInGuest
// with the checks vcsim leaves out: the VM must be powered on with tools
// running, and the credentials valid for it (a live ticket of that VM, or
// NamePassword).
func (p *processManager) ListProcessesInGuest(ctx *simulator.Context, req *types.ListProcessesInGuest) soap.HasFault {
	body := new(methods.ListProcessesInGuestBody)
	if f := guestReady(ctx, req.Vm); f != nil {
		body.Fault_ = simulator.Fault("", f)
		return body
	}
	owner, f := p.s.authorize(req.Vm, req.Auth)
	if f != nil {
		body.Fault_ = simulator.Fault("", f)
		return body
	}
	if p.s.opts.Processes == nil {
		return p.GuestProcessManager.ListProcessesInGuest(ctx, req)
	}
	body.Res = new(types.ListProcessesInGuestResponse)
	for _, proc := range p.s.opts.Processes(req.Vm, owner) {
		if len(req.Pids) > 0 && !contains(req.Pids, proc.Pid) {
			continue
		}
		body.Res.Returnval = append(body.Res.Returnval, proc)
	}
	return body
}

func contains(xs []int64, x int64) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
