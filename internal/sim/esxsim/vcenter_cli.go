package esxsim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	esxcli "github.com/vmware/govmomi/cli/esx"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	vimxml "github.com/vmware/govmomi/vim25/xml"
)

// esxcli through vCenter.
//
// govmomi's cli/esx.Executor (the library behind `govc host.esxcli`, the
// equivalent of esxcli's --vihost) calls HostSystem.RetrieveManagedMethodExecuter
// and then ManagedMethodExecuter.ExecuteSoap with moid "ha-cli-handler-<ns>"
// and method "vim.EsxCLI.<ns>.<cmd>"; it first fetches the namespace's
// command description with method "vim.CLIInfo.FetchCLIInfo" (typeName
// "vim.EsxCLI.<ns>"). vcsim answers ExecuteSoap by reflection on its own
// ManagedMethodExecuter type, so the namespaces "system.account" and
// "system.permission" are served by hostCLI, which replaces the host's
// executer in the registry and hands every other command to vcsim's.
//
// Commands and options follow the ESXCLI reference
// (https://developer.broadcom.com/xapis/esxcli-command-reference/latest/namespace/esxcli_system.html):
// system account add|set (--description|-d, --id|-i (required),
// --password|-p, --password-confirmation|-c "Required if password is
// specified", --shell-access|-s), list, remove (--id|-i); and the vSphere
// CLI documentation's permission examples (esxcli system permission list;
// "set --id test1 -r ReadOnly", "Specify one of three roles, Admin, ReadOnly
// or NoAccess", "--group"; "unset --id test1"; output columns "Principal,
// Is Group, Role", https://docs.vmware.com/en/VMware-vSphere/6.7/vspherecli-concepts-examples/GUID-3C1F3933-E86C-478F-80F7-EC8AE1105CF2.html).
// The permission list's "Role Description" column and the "-g" short
// option are assumptions; the role descriptions are ESXi's role summaries
// (Admin "Full access rights", ReadOnly "See details of objects, but not
// make changes", NoAccess "Used for restricting granted access"; vim-cmd
// vimsvc/auth/roles output, https://wiki.vi-toolkit.com/index.php?title=Vimsvc%2Fauth%2Froles).
//
// Errors: a real host answers a failed esxcli command with the fault message
// "EsxCLI.CLIFault.summary" and the details in the fault's errMsg
// (govmomi issues #2148 and #3073), as vcsim does; the errMsg text for these
// commands is not documented, so it is the message of the vim fault the same
// change gets through the API (e.g. "The user or group named 'x' does not
// exist.", "A general system error occurred: Weak password: too short.").
// --shell-access sets the account's shell access (as HostPosixAccountSpec.shellAccess).

// cliWriteMethods are the esxcli methods that write host state.
var cliWriteMethods = map[string]bool{
	"vim.EsxCLI.system.account.add":      true,
	"vim.EsxCLI.system.account.set":      true,
	"vim.EsxCLI.system.account.remove":   true,
	"vim.EsxCLI.system.permission.set":   true,
	"vim.EsxCLI.system.permission.unset": true,
}

func cliParam(name, long, short, help string, flag bool) esxcli.CommandInfoParam {
	aliases := []string{"--" + long}
	if short != "" {
		aliases = []string{"-" + short, "--" + long}
	}
	return esxcli.CommandInfoParam{
		CommandInfoItem: esxcli.CommandInfoItem{Name: name, DisplayName: long, Help: help},
		Aliases:         aliases,
		Flag:            flag,
	}
}

func cliMethod(name, help string, hints esxcli.CommandInfoHints, params ...esxcli.CommandInfoParam) esxcli.CommandInfoMethod {
	return esxcli.CommandInfoMethod{
		CommandInfoItem: esxcli.CommandInfoItem{Name: name, DisplayName: name, Help: help},
		Param:           params,
		Hints:           hints,
	}
}

var (
	noHints = esxcli.CommandInfoHints{{Key: "formatter", Value: ""}}

	accountParams = []esxcli.CommandInfoParam{
		cliParam("description", "description", "d", "User description, e.g. full name.", false),
		cliParam("id", "id", "i", `User ID, e.g. "administrator".`, false),
		cliParam("password", "password", "p", "User password.", false),
		cliParam("passwordconfirmation", "password-confirmation", "c", "Password confirmation. Required if password is specified.", false),
		cliParam("shellaccess", "shell-access", "s", "Whether the user is allowed shell access if they have the appropriate administrator privileges.", false),
	}

	cliInfo = map[string]esxcli.CommandInfo{
		"system.account": {
			CommandInfoItem: esxcli.CommandInfoItem{Name: "system.account", DisplayName: "account", Help: "Manage local user accounts."},
			Method: []esxcli.CommandInfoMethod{
				cliMethod("add", "Create a new local user account.", noHints, accountParams...),
				cliMethod("list", "List local user accounts.", esxcli.CommandInfoHints{
					{Key: "fields:UserAccount", Value: "User ID,Description"},
					{Key: "formatter", Value: "table"},
					{Key: "table-columns", Value: "User ID,Description"},
				}),
				cliMethod("remove", "Remove an existing local user account.", noHints,
					cliParam("id", "id", "i", "ID of user to be removed.", false)),
				cliMethod("set", "Modify an existing local user account.", noHints, accountParams...),
			},
		},
		"system.permission": {
			CommandInfoItem: esxcli.CommandInfoItem{Name: "system.permission", DisplayName: "permission", Help: "Manage permissions for accessing the ESXi host."},
			Method: []esxcli.CommandInfoMethod{
				cliMethod("list", "List permissions defined on the host.", esxcli.CommandInfoHints{
					{Key: "fields:Permission", Value: "Principal,Is Group,Role Name,Role Description"},
					{Key: "formatter", Value: "table"},
					{Key: "table-columns", Value: "Principal,Is Group,Role Name,Role Description"},
				}),
				cliMethod("set", "Set permission for a user or group.", noHints,
					cliParam("group", "group", "g", "Specifies that the supplied ID refers to a group. Default is user.", true),
					cliParam("id", "id", "i", "ID of user or group.", false),
					cliParam("role", "role", "r", "Name of role that specifies user access rights. Admin, ReadOnly, NoAccess.", false)),
				cliMethod("unset", "Remove permission for a user or group.", noHints,
					cliParam("group", "group", "g", "Specifies that the supplied ID refers to a group. Default is user.", true),
					cliParam("id", "id", "i", "ID of user or group.", false)),
			},
		},
	}

	// roles esxcli system permission set accepts, with their descriptions.
	cliRoles = map[string]struct {
		id   int32
		desc string
	}{
		"Admin":    {roleAdmin, "Full access rights"},
		"ReadOnly": {roleReadOnly, "See details of objects, but not make changes"},
		"NoAccess": {roleNoAccess, "Used for restricting granted access"},
	}
)

// hostCLI replaces a host's ManagedMethodExecuter.
type hostCLI struct {
	*simulator.ManagedMethodExecuter
	h *vcHost
}

// installCLI creates the host's executer (vcsim creates it lazily on the
// first RetrieveManagedMethodExecuter and keeps it) and replaces it in the
// registry with hostCLI, so that ExecuteSoap reaches hostCLI.
func installCLI(m *simulator.Registry, hs *simulator.HostSystem, h *vcHost) error {
	hs.RetrieveManagedMethodExecuter(&simulator.Context{Map: m}, nil)
	ref := types.ManagedObjectReference{Type: "ManagedMethodExecuter", Value: hs.Self.Value}
	mme, ok := m.Get(ref).(*simulator.ManagedMethodExecuter)
	if !ok {
		return fmt.Errorf("esxsim: host %s: unexpected ManagedMethodExecuter %T", hs.Name, m.Get(ref))
	}
	m.Put(&hostCLI{ManagedMethodExecuter: mme, h: h})
	return nil
}

// cliError is an esxcli failure: errMsg lines.
type cliError []string

// cliHandler runs one command against the host's state (st.mu not held).
type cliHandler func(c *hostCLI, args esxcli.Values) (*esxcli.Response, cliError)

var cliHandlers = map[string]cliHandler{
	"vim.EsxCLI.system.account.list":     (*hostCLI).accountList,
	"vim.EsxCLI.system.account.add":      (*hostCLI).accountAdd,
	"vim.EsxCLI.system.account.set":      (*hostCLI).accountSet,
	"vim.EsxCLI.system.account.remove":   (*hostCLI).accountRemove,
	"vim.EsxCLI.system.permission.list":  (*hostCLI).permissionList,
	"vim.EsxCLI.system.permission.set":   (*hostCLI).permissionSet,
	"vim.EsxCLI.system.permission.unset": (*hostCLI).permissionUnset,
}

// ExecuteSoap serves system.account and system.permission (and their
// command descriptions) and passes everything else to vcsim. req is a
// *internal.ExecuteSoapRequest, a govmomi-internal type: it is read and
// answered by reflection.
func (c *hostCLI) ExecuteSoap(ctx *simulator.Context, req any) soap.HasFault {
	method := soapMethod(req)
	args, argErr := soapArgs(req)
	if method == "vim.CLIInfo.FetchCLIInfo" && argErr == nil {
		if info, ok := cliInfo[strings.TrimPrefix(args.Value("typeName"), "vim.EsxCLI.")]; ok {
			return c.reply(ctx, req, toXML(&info), nil)
		}
	}
	handler, ok := cliHandlers[method]
	if !ok {
		return c.delegate(ctx, req)
	}
	if argErr != nil {
		return c.reply(ctx, req, "", cliError{"Invalid argument: " + argErr.Error()})
	}
	if cliWriteMethods[method] {
		if f := injectedFault(ctx); f != nil {
			c.h.st.tracef("esxcli %s on %s: injected fault", method, c.h.name)
			return c.reply(ctx, req, "", cliError{f.String})
		}
	}
	res, cerr := handler(c, args)
	if cerr != nil {
		c.h.st.tracef("esxcli %s on %s: error %q", method, c.h.name, []string(cerr))
		return c.reply(ctx, req, "", cerr)
	}
	c.h.st.tracef("esxcli %s on %s: ok", method, c.h.name)
	if res.String == "" {
		// As vcsim: the DataObject type carries the method name.
		res.Kind = strings.ReplaceAll(strings.ToUpper(method[:1])+method[1:], ".", "") + res.Kind
	}
	return c.reply(ctx, req, toXML(res), nil)
}

func (c *hostCLI) delegate(ctx *simulator.Context, req any) soap.HasFault {
	out := reflect.ValueOf(c.ManagedMethodExecuter).MethodByName("ExecuteSoap").Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(req)})
	return out[0].Interface().(soap.HasFault)
}

// reply builds ExecuteSoap's answer: vcsim's own ExecuteSoap is asked for a
// method that does not exist (which yields a well-formed body of the
// internal response type) and its result is overwritten.
func (c *hostCLI) reply(ctx *simulator.Context, req any, response string, cerr cliError) soap.HasFault {
	cp := reflect.New(reflect.TypeOf(req).Elem())
	cp.Elem().Set(reflect.ValueOf(req).Elem())
	cp.Elem().FieldByName("Method").SetString("vim.EsxCLI.esxsim.none")
	if a := cp.Elem().FieldByName("Argument"); a.IsValid() {
		a.Set(reflect.Zero(a.Type()))
	}
	body := c.delegate(ctx, cp.Interface())
	rv := reflect.ValueOf(body).Elem().FieldByName("Res").Elem().FieldByName("Returnval").Elem()
	rv.FieldByName("Response").SetString(response)
	ff := rv.FieldByName("Fault")
	if cerr == nil {
		ff.Set(reflect.Zero(ff.Type()))
		return body
	}
	f := reflect.New(ff.Type().Elem())
	f.Elem().FieldByName("FaultMsg").SetString("EsxCLI.CLIFault.summary")
	f.Elem().FieldByName("FaultDetail").SetString(cliFaultDetail(cerr))
	ff.Set(f)
	return body
}

// cliFaultDetail is the LocalizedMethodFault XML of a vim.EsxCLI.CLIFault
// with errMsg lines, as vcsim (and a real host) put in faultDetail.
func cliFaultDetail(msgs cliError) string {
	t, ok := types.TypeFunc()("VimEsxCLICLIFault")
	if !ok {
		return ""
	}
	v := reflect.New(t)
	v.Elem().FieldByName("ErrMsg").Set(reflect.ValueOf([]string(msgs)))
	bf, ok := v.Interface().(types.BaseMethodFault)
	if !ok {
		return ""
	}
	return toXML(&types.LocalizedMethodFault{Fault: bf, LocalizedMessage: "EsxCLI.CLIFault.summary"})
}

func toXML(v any) string {
	var out bytes.Buffer
	if err := vimxml.NewEncoder(&out).Encode(v); err != nil {
		return ""
	}
	return out.String()
}

// soapArgs reads ExecuteSoap's arguments: each has a name and a value that
// is an XML fragment "<name>text</name>..." (cli/esx Command.Argument).
func soapArgs(req any) (esxcli.Values, error) {
	vals := esxcli.Values{}
	rv := reflect.ValueOf(req)
	if rv.Kind() != reflect.Ptr || rv.IsNil() {
		return vals, errors.New("no request")
	}
	list := rv.Elem().FieldByName("Argument")
	if !list.IsValid() || list.Kind() != reflect.Slice {
		return vals, nil
	}
	for i := 0; i < list.Len(); i++ {
		a := list.Index(i)
		name := a.FieldByName("Name").String()
		texts, err := fragmentText(a.FieldByName("Val").String())
		if err != nil {
			// Not the parser's message: it can quote the value (a password).
			return vals, fmt.Errorf("argument %q is not well-formed XML", name)
		}
		vals[name] = texts
	}
	return vals, nil
}

// fragmentText returns the text of each top-level element of an XML
// fragment.
func fragmentText(frag string) ([]string, error) {
	d := xml.NewDecoder(strings.NewReader(frag))
	var out []string
	depth := 0
	var cur strings.Builder
	for {
		t, err := d.Token()
		if err == io.EOF {
			if depth != 0 {
				return nil, errors.New("unterminated element")
			}
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				cur.Reset()
			}
		case xml.EndElement:
			depth--
			if depth == 0 {
				out = append(out, cur.String())
			}
		case xml.CharData:
			if depth >= 1 {
				cur.Write(t)
			}
		}
	}
}

func faultText(f *soap.Fault) cliError {
	if f == nil {
		return nil
	}
	return cliError{f.String}
}

func boolArg(args esxcli.Values, name string) (bool, cliError) {
	switch strings.ToLower(args.Value(name)) {
	case "", "false", "0", "no":
		return false, nil
	case "true", "1", "yes":
		return true, nil
	}
	return false, cliError{fmt.Sprintf("Invalid value for parameter '%s': %q is not a boolean.", name, args.Value(name))}
}

func requireArg(args esxcli.Values, name string) (string, cliError) {
	v := args.Value(name)
	if v == "" {
		return "", cliError{fmt.Sprintf("Missing required parameter -%s|--%s", name[:1], name)}
	}
	return v, nil
}

// cliOK is the answer of a successful add, set, remove or unset.
func cliOK() *esxcli.Response { return &esxcli.Response{Kind: "boolean", String: "true"} }

func (c *hostCLI) accountList(args esxcli.Values) (*esxcli.Response, cliError) {
	st := c.h.st
	st.mu.Lock()
	defer st.mu.Unlock()
	accts := make([]*account, 0, len(st.users))
	for _, a := range st.users {
		accts = append(accts, a)
	}
	sort.Slice(accts, func(i, j int) bool { return accts[i].seq < accts[j].seq })
	r := &esxcli.Response{Kind: "UserAccount"}
	for _, a := range accts {
		r.Values = append(r.Values, esxcli.Values{"UserID": {a.id}, "Description": {a.description}})
	}
	return r, nil
}

// accountSpec reads add/set options; the password must be confirmed.
func accountSpec(args esxcli.Values) (*types.HostAccountSpec, cliError) {
	id, cerr := requireArg(args, "id")
	if cerr != nil {
		return nil, cliError{"Missing required parameter -i|--id"}
	}
	pw := args.Value("password")
	if pw != "" || args.Value("passwordconfirmation") != "" {
		if args.Value("passwordconfirmation") == "" {
			return nil, cliError{"Password confirmation is required if password is specified."}
		}
		if pw != args.Value("passwordconfirmation") {
			return nil, cliError{"Password and password confirmation do not match."}
		}
	}
	return &types.HostAccountSpec{Id: id, Description: args.Value("description"), Password: pw}, nil
}

// shellArg reads --shell-access (nil when not given).
func shellArg(args esxcli.Values) (*bool, cliError) {
	if args.Value("shellaccess") == "" {
		return nil, nil
	}
	b, cerr := boolArg(args, "shellaccess")
	if cerr != nil {
		return nil, cerr
	}
	return &b, nil
}

// accountArgs reads the arguments of system account add|set: the account
// (accountSpec) and its shell access.
func accountArgs(args esxcli.Values) (spec *types.HostAccountSpec, shell *bool, cerr cliError) {
	if spec, cerr = accountSpec(args); cerr != nil {
		return nil, nil, cerr
	}
	shell, cerr = shellArg(args)
	return spec, shell, cerr
}

func (c *hostCLI) accountAdd(args esxcli.Values) (*esxcli.Response, cliError) {
	spec, shell, cerr := accountArgs(args)
	if cerr != nil {
		return nil, cerr
	}
	if f := c.h.st.createUser(spec, shell, c.h.st.shellOf(nil)); f != nil {
		return nil, faultText(f)
	}
	return cliOK(), nil
}

func (c *hostCLI) accountSet(args esxcli.Values) (*esxcli.Response, cliError) {
	spec, shell, cerr := accountArgs(args)
	if cerr != nil {
		return nil, cerr
	}
	if f := c.h.st.updateUser(spec, shell, c.h.st.shellOf(nil)); f != nil {
		return nil, faultText(f)
	}
	return cliOK(), nil
}

func (c *hostCLI) accountRemove(args esxcli.Values) (*esxcli.Response, cliError) {
	id, cerr := requireArg(args, "id")
	if cerr != nil {
		return nil, cliError{"Missing required parameter -i|--id"}
	}
	if f := c.h.st.removeUser(id); f != nil {
		return nil, faultText(f)
	}
	return cliOK(), nil
}

// permissionList lists the permissions on the host's root folder.
func (c *hostCLI) permissionList(args esxcli.Values) (*esxcli.Response, cliError) {
	st := c.h.st
	st.mu.Lock()
	defer st.mu.Unlock()
	r := &esxcli.Response{Kind: "Permission"}
	for _, p := range st.perms[st.root] {
		name, desc := c.roleName(p.RoleId)
		r.Values = append(r.Values, esxcli.Values{
			"Principal":       {p.Principal},
			"IsGroup":         {fmt.Sprint(p.Group)},
			"RoleName":        {name},
			"RoleDescription": {desc},
		})
	}
	return r, nil
}

// permissionSet sets a propagating permission on the host's root folder,
// replacing the principal's permission there (the rules of
// SetEntityPermissions apply: the last Admin cannot be demoted).
func (c *hostCLI) permissionSet(args esxcli.Values) (*esxcli.Response, cliError) {
	id, group, cerr := principalArgs(args)
	if cerr != nil {
		return nil, cerr
	}
	roleName, cerr := requireArg(args, "role")
	if cerr != nil {
		return nil, cerr
	}
	role, found := cliRoles[roleName]
	if !found {
		return nil, cliError{fmt.Sprintf("Invalid role name '%s'. Valid roles are: Admin, ReadOnly, NoAccess.", roleName)}
	}
	st := c.h.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if f := c.h.authz.setOne(st.root, types.Permission{Principal: id, Group: group, RoleId: role.id, Propagate: true}); f != nil {
		return nil, faultText(f)
	}
	return cliOK(), nil
}

// permissionUnset removes the principal's permission on the root folder.
func (c *hostCLI) permissionUnset(args esxcli.Values) (*esxcli.Response, cliError) {
	id, group, cerr := principalArgs(args)
	if cerr != nil {
		return nil, cerr
	}
	st := c.h.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if f := st.removePermission(st.root, id, group); f != nil {
		return nil, faultText(f)
	}
	return cliOK(), nil
}

// principalArgs reads the principal of system permission set|unset: --id
// (required) and --group.
func principalArgs(args esxcli.Values) (id string, group bool, cerr cliError) {
	if id, cerr = requireArg(args, "id"); cerr != nil {
		return "", false, cerr
	}
	group, cerr = boolArg(args, "group")
	return id, group, cerr
}

// roleName names a role id with its description, from the host's roles.
func (c *hostCLI) roleName(id int32) (name, desc string) {
	for n, role := range cliRoles {
		if role.id == id {
			return n, role.desc
		}
	}
	for _, role := range c.h.authz.RoleList {
		if role.RoleId == id {
			if d := role.Info.GetDescription(); d != nil {
				desc = d.Summary
			}
			return role.Name, desc
		}
	}
	return fmt.Sprintf("role#%d", id), ""
}
