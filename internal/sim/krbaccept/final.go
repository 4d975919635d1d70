package krbaccept

import (
	"fmt"
	"sync"
	"time"

	"github.com/esxi-users/esxi-users/internal/gss"
)

// ErrFinalAnswer: after a final token delivered as a challenge, the
// initiator's answer was not empty.
var ErrFinalAnswer = fmt.Errorf("%w: the answer to a final token must be empty", ErrInvalidToken)

// DefaultFinalTTL bounds how long FinalAsChallenge waits for the answer to
// a final token.
const DefaultFinalTTL = 5 * time.Minute

// FinalAsChallenge delivers acceptors' final tokens over a transport whose
// success reply cannot carry one: LoginBySSPI returns a UserSession, and a
// guest's AcquireCredentialsInGuest answers its first call with a
// challenge in any case (vim.vm.guest.SSPIAuthentication). When the wrapped
// acceptor completes with a final token (a raw Kerberos AP-REP, a SPNEGO
// accept-completed NegTokenResp), Accept returns it as a challenge
// (done=false) instead; the initiator feeds it to its context, which
// completes without an output token (InitializeSecurityContext returns
// SEC_E_OK with an empty buffer), and the empty output it sends back
// completes the conversation with the principal already authenticated.
// Any other answer fails with ErrFinalAnswer. A non-empty token is passed
// to the wrapped acceptor (an initial token starts a new exchange).
//
// The zero value is ready; one FinalAsChallenge can serve any number of
// acceptors as long as conversation ids are unique across them.
type FinalAsChallenge struct {
	// TTL bounds the wait for the answer; default DefaultFinalTTL.
	TTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu      sync.Mutex
	pending map[string]finalPending
}

type finalPending struct {
	principal string
	at        time.Time
}

// Wrap returns a's conversations with final tokens delivered as challenges.
func (f *FinalAsChallenge) Wrap(a Interface) Interface { return finalWrapped{f: f, a: a} }

type finalWrapped struct {
	f *FinalAsChallenge
	a Interface
}

func (w finalWrapped) Forget(conv string) {
	w.f.take(conv)
	w.a.Forget(conv)
}

func (w finalWrapped) Accept(conv string, token []byte) ([]byte, string, bool, error) {
	if p, ok := w.f.take(conv); ok && len(token) == 0 {
		return nil, p.principal, true, nil
	} else if ok && len(token) > 0 && !gss.LooksInitial(token) {
		w.a.Forget(conv)
		return nil, "", false, ErrFinalAnswer
	}
	out, principal, done, err := w.a.Accept(conv, token)
	if err != nil || !done || len(out) == 0 {
		return out, principal, done, err
	}
	w.f.mu.Lock()
	if w.f.pending == nil {
		w.f.pending = map[string]finalPending{}
	}
	w.f.pending[conv] = finalPending{principal: principal, at: w.f.now()}
	w.f.mu.Unlock()
	return out, "", false, nil
}

func (f *FinalAsChallenge) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// take removes and returns conv's pending final-token state, dropping
// expired entries on the way.
func (f *FinalAsChallenge) take(conv string) (finalPending, bool) {
	ttl := f.TTL
	if ttl <= 0 {
		ttl = DefaultFinalTTL
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, p := range f.pending {
		if now.Sub(p.at) > ttl {
			delete(f.pending, k)
		}
	}
	p, ok := f.pending[conv]
	delete(f.pending, conv)
	return p, ok
}
