package esxsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func start(t *testing.T, opt Options) *Server {
	t.Helper()
	s, err := Start(opt)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// dial returns an unauthenticated client that verifies the server with
// CertPEM as root CA (no --insecure; TestTLSVerification covers the
// thumbprint, which govmomi only tries after a failed verified handshake).
func dial(t *testing.T, s *Server) *vim25.Client {
	t.Helper()
	u := *s.URL
	u.User = nil
	sc := soap.NewClient(&u, false)
	sc.DefaultTransport().TLSClientConfig = &tls.Config{RootCAs: certPool(t, s.CertPEM)}
	c, err := vim25.NewClient(testContext(t), sc)
	if err != nil {
		t.Fatalf("vim25.NewClient: %v", err)
	}
	return c
}

// login logs in as user/password on a fresh connection.
func login(t *testing.T, s *Server, user, password string) (*vim25.Client, error) {
	t.Helper()
	c := dial(t, s)
	err := session.NewManager(c).Login(testContext(t), url.UserPassword(user, password))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// root logs in with the credentials of Server.URL.
func root(t *testing.T, s *Server) *vim25.Client {
	t.Helper()
	pw, _ := s.URL.User.Password()
	c, err := login(t, s, s.URL.User.Username(), pw)
	if err != nil {
		t.Fatalf("login as %s: %v", s.URL.User.Username(), err)
	}
	return c
}

func accounts(c *vim25.Client) *object.HostAccountManager {
	return object.NewHostAccountManager(c, *c.ServiceContent.AccountManager)
}

func authz(c *vim25.Client) *object.AuthorizationManager {
	return object.NewAuthorizationManager(c)
}

func rootFolder(c *vim25.Client) types.ManagedObjectReference {
	return c.ServiceContent.RootFolder
}

// hostOptionManager returns HostSystem.configManager.advancedOption.
func hostOptionManager(t *testing.T, c *vim25.Client) *object.OptionManager {
	t.Helper()
	ctx := testContext(t)
	// ESX has exactly one HostSystem: ha-host.
	host := object.NewHostSystem(c, types.ManagedObjectReference{Type: "HostSystem", Value: "ha-host"})
	om, err := host.ConfigManager().OptionManager(ctx)
	if err != nil {
		t.Fatalf("advanced option manager: %v", err)
	}
	return om
}

func createUser(t *testing.T, c *vim25.Client, id, password, description string) {
	t.Helper()
	err := accounts(c).Create(testContext(t), &types.HostAccountSpec{Id: id, Password: password, Description: description})
	if err != nil {
		t.Fatalf("CreateUser %s: %v", id, err)
	}
}

func grant(t *testing.T, c *vim25.Client, user string, role int32) {
	t.Helper()
	err := authz(c).SetEntityPermissions(testContext(t), rootFolder(c), []types.Permission{{Principal: user, RoleId: role, Propagate: true}})
	if err != nil {
		t.Fatalf("SetEntityPermissions %s %d: %v", user, role, err)
	}
}

// vimFault returns the fault of a SOAP error, or nil.
func vimFault(err error) types.BaseMethodFault {
	if err == nil {
		return nil
	}
	var f types.HasFault
	if errors.As(err, &f) {
		return f.Fault()
	}
	if soap.IsSoapFault(err) {
		return soap.ToSoapFault(err).VimFault().(types.BaseMethodFault)
	}
	return nil
}

func wantFault[T types.BaseMethodFault](t *testing.T, err error) T {
	t.Helper()
	var zero T
	if err == nil {
		t.Fatalf("want fault %T, got success", zero)
	}
	f, ok := vimFault(err).(T)
	if !ok {
		t.Fatalf("want fault %T, got %v (%T)", zero, err, vimFault(err))
	}
	return f
}

func users(t *testing.T, c *vim25.Client) map[string]string {
	t.Helper()
	res, err := methods.RetrieveUserGroups(testContext(t), c, &types.RetrieveUserGroups{
		This:      *c.ServiceContent.UserDirectory,
		FindUsers: true,
	})
	if err != nil {
		t.Fatalf("RetrieveUserGroups: %v", err)
	}
	m := map[string]string{}
	for _, r := range res.Returnval {
		u := r.GetUserSearchResult()
		m[u.Principal] = u.FullName
	}
	return m
}

func rootPerms(t *testing.T, c *vim25.Client) map[string]types.Permission {
	t.Helper()
	ps, err := authz(c).RetrieveEntityPermissions(testContext(t), rootFolder(c), false)
	if err != nil {
		t.Fatalf("RetrieveEntityPermissions: %v", err)
	}
	m := map[string]types.Permission{}
	for _, p := range ps {
		m[p.Principal] = p
	}
	return m
}

func certPool(t *testing.T, pemBytes []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("CertPEM has no certificate")
	}
	return pool
}
