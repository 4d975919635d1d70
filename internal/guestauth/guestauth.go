// Package guestauth authenticates in a VM's guest with SSPI (Kerberos)
// through vCenter/ESXi's GuestAuthManager and hands out the resulting
// TicketedSessionAuthentication for guest operations.
//
// # The exchange (vim.vm.guest.SSPIAuthentication, vSphere API 5.0+)
//
// Acquire sends AcquireCredentialsInGuest with an SSPIAuthentication holding
// the initiator's first token (base64) and no sessionID. The server answers
// with a GuestAuthenticationChallenge fault ("After issuing the
// AcquireCredentialsInGuest call, a GuestAuthenticationChallenge will be
// thrown"); its serverChallenge.sspiToken goes to the Initiator, and the
// answer goes back with the challenge's sessionID. This repeats (at most
// MaxLegs calls) until a TicketedSessionAuthentication is returned. The loop
// is sspi.Exchange, the one LoginBySSPI uses, with its rules: a challenge
// that completes the initiator's context (the guest's AP-REP) is answered
// with the context's output token, which for Kerberos is empty; a challenge
// after the context was already complete fails (ErrProtocol). So a raw
// Kerberos initiator must ask for mutual authentication (the default): the
// guest then has an AP-REP to challenge with.
//
// The ticket is then used in guest operations (Ticket.Auth) and released
// with ReleaseCredentialsInGuest ("When you no longer need the
// TicketedSessionAuthentication object, you should call
// ReleaseCredentialsInGuest").
//
// # Errors
//
// Server faults come back as *Error, whose Kind is one of the Err*
// sentinels (errors.Is(err, vfault.InvalidGuestLogin)) and which
// unwraps to the SOAP fault, so govmomi's fault.Is/fault.As work too
// (fault.Is(err, &types.InvalidGuestLogin{})).
//
// Tokens and tickets are never logged, printed or put in errors; Ticket's
// String/GoString/Format show no ticket.
package guestauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/sspi"
	"github.com/esxi-users/esxi-users/internal/vfault"
)

// MaxLegs bounds the AcquireCredentialsInGuest calls of one Acquire.
const MaxLegs = 10

// ReleaseTimeout bounds ReleaseCredentialsInGuest when the caller's context
// is already done.
const ReleaseTimeout = 30 * time.Second

// Sentinels: the Kind of an *Error that is not a fault. A fault's Kind is
// its row in the project's fault table (internal/vfault: those the
// AcquireCredentialsInGuest reference lists, vfault.InvalidGuestLogin,
// vfault.GuestOperationsUnavailable, …, and vfault.GuestOperationsFault for
// its subtypes without a row).
var (
	ErrNotSupported = errors.New("the server has no guest authentication manager")
	ErrProtocol     = errors.New("unexpected guest authentication exchange")
	ErrTooManyLegs  = errors.New("too many guest authentication challenge legs")
	ErrOther        = errors.New("guest authentication call failed")
)

// Error is a failed guest authentication call.
type Error struct {
	Op   string // the vSphere method, e.g. "AcquireCredentialsInGuest"
	VM   types.ManagedObjectReference
	Kind error // the fault's row (a *vfault.Fault) or one of the Err* sentinels
	Err  error // the underlying error (a SOAP fault), may be nil
}

func (e *Error) Error() string {
	s := e.Op
	if e.VM.Value != "" {
		s += " on " + e.VM.Value
	}
	kind := e.Kind.Error()
	if f, ok := e.Kind.(*vfault.Fault); ok && e.Err != nil {
		kind = f.Describe(e.Err) // with the fault's details
	}
	s += ": " + kind
	if e.Err != nil && (e.Kind == ErrOther || e.Kind == ErrProtocol) {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error (so fault.Is/fault.As see the fault).
func (e *Error) Unwrap() error { return e.Err }

// Is matches the Kind sentinel.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Wrap turns the error of a guest call (Op on vm) into an *Error with the
// matching Kind. nil stays nil; an *Error is returned as is.
func Wrap(op string, vm types.ManagedObjectReference, err error) error {
	if err == nil {
		return nil
	}
	var ge *Error
	if errors.As(err, &ge) {
		return err
	}
	if f, ok := vfault.Lookup(err); ok {
		return &Error{Op: op, VM: vm, Kind: f, Err: err}
	}
	return &Error{Op: op, VM: vm, Kind: ErrOther, Err: err}
}

// AuthManager returns the server's GuestAuthManager, or an *Error of kind
// ErrNotSupported when it has none.
func AuthManager(ctx context.Context, c *vim25.Client) (types.ManagedObjectReference, error) {
	if c == nil || c.ServiceContent.GuestOperationsManager == nil {
		return types.ManagedObjectReference{}, &Error{Op: "GuestOperationsManager", Kind: ErrNotSupported}
	}
	var g mo.GuestOperationsManager
	err := property.DefaultCollector(c).RetrieveOne(ctx, *c.ServiceContent.GuestOperationsManager, []string{"authManager"}, &g)
	if err != nil {
		return types.ManagedObjectReference{}, Wrap("RetrieveProperties(GuestOperationsManager.authManager)", types.ManagedObjectReference{}, err)
	}
	if g.AuthManager == nil {
		return types.ManagedObjectReference{}, &Error{Op: "GuestOperationsManager", Kind: ErrNotSupported}
	}
	return *g.AuthManager, nil
}

// Ticket is an acquired guest ticket. Release it when done.
type Ticket struct {
	c    *vim25.Client
	mgr  types.ManagedObjectReference
	vm   types.ManagedObjectReference
	auth *types.TicketedSessionAuthentication
	legs int

	mu       sync.Mutex
	released bool
}

// Auth returns the credentials for guest operation calls on the ticket's VM.
func (t *Ticket) Auth() types.BaseGuestAuthentication { return t.auth }

// Legs returns the number of AcquireCredentialsInGuest calls it took.
func (t *Ticket) Legs() int { return t.legs }

// String hides the ticket.
func (t *Ticket) String() string { return fmt.Sprintf("guest ticket for %s (redacted)", t.vm.Value) }

// GoString hides the ticket.
func (t *Ticket) GoString() string { return t.String() }

// Format hides the ticket in every fmt verb.
func (t *Ticket) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(t.String())) }

// Validate calls ValidateCredentialsInGuest with the ticket.
func (t *Ticket) Validate(ctx context.Context) error {
	_, err := methods.ValidateCredentialsInGuest(ctx, t.c, &types.ValidateCredentialsInGuest{This: t.mgr, Vm: t.vm, Auth: t.auth})
	return Wrap("ValidateCredentialsInGuest", t.vm, err)
}

// Release calls ReleaseCredentialsInGuest. It may be called any number of
// times: after a successful release it does nothing. If ctx is already done
// it still tries, with ReleaseTimeout. An InvalidGuestLogin answer (the
// guest no longer knows the ticket) counts as released but is returned.
func (t *Ticket) Release(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.released {
		return nil
	}
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), ReleaseTimeout)
		defer cancel()
	}
	_, err := methods.ReleaseCredentialsInGuest(ctx, t.c, &types.ReleaseCredentialsInGuest{This: t.mgr, Vm: t.vm, Auth: t.auth})
	if err == nil {
		t.released = true
		return nil
	}
	err = Wrap("ReleaseCredentialsInGuest", t.vm, err)
	if errors.Is(err, vfault.InvalidGuestLogin) {
		t.released = true
	}
	return err
}

// Acquire runs the SSPI exchange for vm with tokens from in and returns the
// ticket. It does not close in.
func Acquire(ctx context.Context, c *vim25.Client, vm types.ManagedObjectReference, in sspi.Initiator) (*Ticket, error) {
	mgr, err := AuthManager(ctx, c)
	if err != nil {
		return nil, err
	}
	const op = "AcquireCredentialsInGuest"
	protocol := func(msg string) error { return &Error{Op: op, VM: vm, Kind: ErrProtocol, Err: errors.New(msg)} }
	var (
		sessionID int64
		tk        *types.TicketedSessionAuthentication
	)
	x := sspi.Exchange{
		MaxLegs: MaxLegs,
		Send: func(ctx context.Context, tok []byte) error {
			res, err := methods.AcquireCredentialsInGuest(ctx, c, &types.AcquireCredentialsInGuest{
				This:          mgr,
				Vm:            vm,
				RequestedAuth: &types.SSPIAuthentication{SspiToken: base64.StdEncoding.EncodeToString(tok)},
				SessionID:     sessionID,
			})
			if err != nil {
				return err
			}
			if res == nil {
				return protocol("empty response")
			}
			t, ok := res.Returnval.(*types.TicketedSessionAuthentication)
			if !ok || t == nil || t.Ticket == "" {
				if res.Returnval != nil {
					// Not what SSPI authentication returns; free it anyway.
					_, _ = methods.ReleaseCredentialsInGuest(ctx, c, &types.ReleaseCredentialsInGuest{This: mgr, Vm: vm, Auth: res.Returnval})
				}
				return &Error{Op: op, VM: vm, Kind: ErrProtocol, Err: fmt.Errorf("the server returned %T, not a TicketedSessionAuthentication", res.Returnval)}
			}
			tk = t
			return nil
		},
		Challenge: func(err error) ([]byte, bool, error) {
			var ch *types.GuestAuthenticationChallenge
			if _, ok := fault.As(err, &ch); !ok || ch == nil {
				return nil, false, Wrap(op, vm, err)
			}
			sa, ok := ch.ServerChallenge.(*types.SSPIAuthentication)
			if !ok || sa == nil {
				return nil, false, protocol("the challenge carries no SSPI token")
			}
			if ch.SessionID == 0 {
				return nil, false, protocol("the challenge carries no sessionID")
			}
			challenge, derr := base64.StdEncoding.DecodeString(sa.SspiToken)
			if derr != nil || len(challenge) == 0 {
				return nil, false, protocol("undecodable challenge token")
			}
			sessionID = ch.SessionID
			return challenge, true, nil
		},
	}
	legs, err := x.Run(ctx, in)
	switch {
	case errors.Is(err, sspi.ErrTooManyLegs):
		return nil, &Error{Op: op, VM: vm, Kind: ErrTooManyLegs}
	case errors.Is(err, sspi.ErrUnexpectedChallenge), errors.Is(err, sspi.ErrNoToken):
		return nil, &Error{Op: op, VM: vm, Kind: ErrProtocol, Err: err}
	case err != nil:
		return nil, err
	}
	return &Ticket{c: c, mgr: mgr, vm: vm, auth: tk, legs: legs}, nil
}
