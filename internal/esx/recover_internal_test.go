package esx

import (
	"context"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"

	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/tlspin"
	"github.com/esxi-users/esxi-users/internal/vfault"
)

// httpStatusError is the error govmomi returns for a non-SOAP HTTP answer.
func httpStatusError(t *testing.T, status int) error {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/sdk")
	_, err := methods.RetrieveServiceContent(context.Background(), soap.NewClient(u, true),
		&types.RetrieveServiceContent{This: vim25.ServiceInstance})
	if err == nil {
		t.Fatal("no error")
	}
	return err
}

// Faults the host answered with are final except NotAuthenticated; broken
// connections, lost and late answers and a proxy's 5xx are transport
// errors; a certificate that does not match is final.
func TestClassify(t *testing.T) {
	fault := func(f types.BaseMethodFault) error {
		return soap.WrapSoapFault(&soap.Fault{Code: "ServerFaultCode", String: "x", Detail: struct {
			//lint:ignore SA5008 govmomi's vim25/xml (not encoding/xml) reads typeattr, as soap.Fault's own Detail does
			Fault types.AnyType `xml:",any,typeattr"`
		}{Fault: f}})
	}
	tests := []struct {
		name string
		err  error
		want errKind
	}{
		{"NotAuthenticated", fault(&types.NotAuthenticated{}), kindSession},
		{"NotAuthenticated described", vfault.Describe(fault(&types.NotAuthenticated{})), kindSession},
		{"InvalidLogin", fault(&types.InvalidLogin{}), kindFinal},
		{"NoPermission", fault(&types.NoPermission{}), kindFinal},
		{"SystemError", vfault.Describe(fault(&types.SystemError{Reason: "x"})), kindFinal},
		{"EOF", &url.Error{Op: "Post", URL: "https://h/sdk", Err: io.EOF}, kindTransport},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), kindTransport},
		{"reset", &url.Error{Op: "Post", Err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}}, kindTransport},
		{"refused", &url.Error{Op: "Post", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, kindTransport},
		{"timeout", &url.Error{Op: "Post", Err: context.DeadlineExceeded}, kindTransport},
		{"truncated XML", &xml.SyntaxError{Msg: "unexpected EOF", Line: 1}, kindTransport},
		{"HTTP 503", httpStatusError(t, http.StatusServiceUnavailable), kindTransport},
		{"HTTP 502", httpStatusError(t, http.StatusBadGateway), kindTransport},
		{"HTTP 404", httpStatusError(t, http.StatusNotFound), kindFinal},
		{"unknown CA", &url.Error{Op: "Post", Err: x509.UnknownAuthorityError{}}, kindFinal},
		{"thumbprint", &url.Error{Op: "Post", Err: &tlspin.MismatchError{}}, kindFinal},
		{"other", errors.New("no password given"), kindFinal},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("%s: classify(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
