package errkind

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// Every kind maps to its exit code and HTTP status in one place; a wrapped
// kind maps as the kind does, and the DRP side's kinds win over the rest
// (nothing was applied).
func TestExitCodeAndHTTPStatus(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		exit   int
		status int
	}{
		{"nil", nil, ExitOK, http.StatusOK},
		{"invalid", fmt.Errorf("entry 1: %w", ErrInvalid), ExitInvalid, http.StatusBadRequest},
		{"Invalidf", Invalidf("--server %q: %w", "x", errors.New("bad")), ExitInvalid, http.StatusBadRequest},
		{"connect", fmt.Errorf("%w: dial: refused", ErrConnect), ExitConnect, http.StatusBadGateway},
		{"refused by the host", fmt.Errorf("%w: lockdown", ErrRefused), ExitConnect, http.StatusBadGateway},
		{"apply", fmt.Errorf("%w: entry 2", ErrApply), ExitApply, http.StatusConflict},
		{"interrupted", fmt.Errorf("%w before entry 3", ErrInterrupted), ExitApply, http.StatusConflict},
		{"any other error", errors.New("boom"), ExitApply, http.StatusConflict},
		{"host call kind alone", ErrNoSuchUser, ExitApply, http.StatusConflict},
		{"DRP API", fmt.Errorf("%w: GET machines/u", ErrDRP), ExitConnect, http.StatusServiceUnavailable},
		{"DRP API and invalid", fmt.Errorf("%w: %w", ErrDRP, ErrInvalid), ExitConnect, http.StatusServiceUnavailable},
		{"destination refused", fmt.Errorf("%w: changed", ErrDestinationRefused), ExitConnect, http.StatusForbidden},
		{"destination refused and DRP API", errors.Join(ErrDRP, ErrDestinationRefused), ExitConnect, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExitCode(tc.err); got != tc.exit {
				t.Errorf("ExitCode = %d, want %d", got, tc.exit)
			}
			if got := HTTPStatus(tc.err); got != tc.status {
				t.Errorf("HTTPStatus = %d, want %d (%s)", got, tc.status, http.StatusText(tc.status))
			}
		})
	}
}

// ErrRefused is a refusal to connect: errors.Is sees ErrConnect through it.
func TestRefusedWrapsConnect(t *testing.T) {
	if !errors.Is(ErrRefused, ErrConnect) {
		t.Error("ErrRefused does not wrap ErrConnect")
	}
}

// Invalidf's message is exactly the formatted text, and it wraps both
// ErrInvalid and what %w wraps.
func TestInvalidf(t *testing.T) {
	cause := errors.New("cause")
	err := Invalidf("known-hosts file: %w", cause)
	if err.Error() != "known-hosts file: cause" {
		t.Errorf("message %q", err)
	}
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, cause) {
		t.Errorf("errors.Is: ErrInvalid %v, cause %v", errors.Is(err, ErrInvalid), errors.Is(err, cause))
	}
}
