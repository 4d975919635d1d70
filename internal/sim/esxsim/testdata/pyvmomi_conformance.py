#!/usr/bin/python3
"""The simulator's conformance suite, driven by VMware's pyVmomi (Debian
python3-pyvmomi) as a third-party client: each check asserts the answer
ESXi documents (sources in the comments and in pyvmomi_test.go).

Protocol with the Go test (pyvmomi_test.go): the connection comes from the
environment (ESXSIM_HOST, ESXSIM_PORT, ESXSIM_PASSWORD for root,
ESXSIM_CAFILE), ESXi's default password policy from ESXSIM_DEFAULT_POLICY
(the project's one definition, passwdqc.ESXiDefault, which cites VMware's
defaults table); each check prints "ok NAME" or "FAIL NAME :: why"; to pass
time (account lockout) it prints "ADVANCE SECONDS" and waits for a line on
stdin; it ends with "DONE".
"""
import os
import ssl
import sys

from pyVim import connect as connect_module
from pyVim.connect import SmartConnect, Disconnect
from pyVmomi import vim, vmodl, VmomiSupport

from pyvmomi_checks import check, done, expect, out, raises

HOST = os.environ["ESXSIM_HOST"]
PORT = int(os.environ["ESXSIM_PORT"])
ROOT_PW = os.environ["ESXSIM_PASSWORD"]
CAFILE = os.environ["ESXSIM_CAFILE"]
DEFAULT_POLICY = os.environ["ESXSIM_DEFAULT_POLICY"]
GOOD_PW = "S3cr3tP455!"
LONG = VmomiSupport.GetVmodlType("long")

def tls():
    return ssl.create_default_context(cafile=CAFILE)


def connect(user, pwd):
    return SmartConnect(host=HOST, port=PORT, user=user, pwd=pwd, sslContext=tls())


def advance(seconds):
    out("ADVANCE %d" % seconds)
    sys.stdin.readline()


root_si = connect("root", ROOT_PW)
content = root_si.RetrieveContent()
am = content.accountManager
authz = content.authorizationManager
root_folder = content.rootFolder
host = root_folder.childEntity[0].hostFolder.childEntity[0].host[0]
opts = host.configManager.advancedOption


def posix(uid, pw=GOOD_PW, desc=None, shell=None):
    spec = vim.host.LocalAccountManager.PosixAccountSpecification(id=uid, password=pw)
    if desc is not None:
        spec.description = desc
    if shell is not None:
        spec.shellAccess = shell
    return spec


def grant(principal, role, entity=None):
    authz.SetEntityPermissions(entity=entity or root_folder, permission=[
        vim.AuthorizationManager.Permission(principal=principal, group=False, roleId=role, propagate=True)])


def role_id(name):
    for r in authz.roleList:
        if r.name == name:
            return r.roleId
    raise AssertionError("no role " + name)


@check("about: ESXi 8.0.3")
def _():
    a = content.about
    expect(a.version == "8.0.3" and a.apiVersion == "8.0.3.0", "version %s api %s" % (a.version, a.apiVersion))
    expect(a.fullName == "VMware ESXi 8.0.3 build-24674464", a.fullName)
    expect(a.apiType == "HostAgent", a.apiType)


@check("api: pyVmomi negotiates 6.7.1, its newest, from the versions ESXi 8.0.3 lists")
def _():
    # pyVim.connect.__FindSupportedVersion takes the first of pyVmomi's
    # versions (newest first) that /sdk/vimServiceVersions.xml lists, and
    # sends it as SOAPAction "urn:vim25/<version>" (SoapAdapter.py).
    expect(root_si._stub.versionId == '"urn:vim25/6.7.1"', root_si._stub.versionId)
    tree = getattr(connect_module, "__GetElementTree")("https", HOST, PORT, "/sdk/vimServiceVersions.xml", tls())
    expect(tree is not None and tree.findtext("namespace/version") == "8.0.3.0", "vimServiceVersions.xml")
    # vimService.wsdl, pyVmomi's fallback without vimServiceVersions.xml,
    # names the urn:vim25 namespace, which pyVmomi reads as its vim25 base
    # version (versionMap["vim25"], 2.5u2).
    wsdl = getattr(connect_module, "__GetElementTree")("https", HOST, PORT, "/sdk/vimService.wsdl", tls())
    expect(wsdl is not None and getattr(connect_module, "__VersionIsSupported")(VmomiSupport.versionMap["vim25"], wsdl),
           "vimService.wsdl")


@check("api: 6.5 calls HasUserPrivilegeOnEntities and FetchUserPrivilegeOnEntities answer from the permissions")
def _():
    # Both are "Since vSphere API 6.5" (vSphere Web Services API reference,
    # AuthorizationManager); pyVmomi refuses them on a 6.0 connection.
    am.CreateUser(user=posix("reader65"))
    grant("reader65", -2)
    ep = authz.HasUserPrivilegeOnEntities(entities=[root_folder], userName="reader65",
                                          privId=["System.Read", "Host.Local.ManageUserGroups"])
    got = {p.privId: p.isGranted for p in ep[0].privAvailability}
    expect(got == {"System.Read": True, "Host.Local.ManageUserGroups": False}, got)
    res = authz.FetchUserPrivilegeOnEntities(entities=[root_folder], userName="reader65")
    privs = set(res[0].privileges)
    expect({"System.Anonymous", "System.View", "System.Read"} <= privs, privs)
    expect("Host.Local.ManageUserGroups" not in privs, privs)


@check("api: privilegeList holds the system privileges and every privilege of the roles")
def _():
    privs = {p.privId: p for p in authz.privilegeList}
    for pid in ("System.Anonymous", "System.View", "System.Read"):
        p = privs.get(pid)
        expect(p is not None and p.privGroupName == "System" and p.name == pid[len("System."):] and p.onParent is False, p)
    for r in authz.roleList:
        missing = set(r.privilege or []) - set(privs)
        expect(not missing, "role %s: %s" % (r.name, sorted(missing)))


@check("login: wrong password is InvalidLogin with ESXi's message")
def _():
    e = raises(vim.fault.InvalidLogin, connect, "root", "wrong")
    expect(e.msg == "Cannot complete login due to an incorrect user name or password.", e.msg)


@check("login: valid user without permission is NoPermission")
def _():
    am.CreateUser(user=posix("noperm"))
    e = raises(vim.fault.NoPermission, connect, "noperm", GOOD_PW)
    expect(e.privilegeId == "System.View", e.privilegeId)


@check("users: weak password is SystemError 'passwd: Authentication token manipulation error'")
def _():
    e = raises(vmodl.fault.SystemError, am.CreateUser, user=posix("weak", pw="aB3$xy"))
    expect(e.reason == "passwd: Authentication token manipulation error", e.reason)
    expect(e.msg == "A general system error occurred: passwd: Authentication token manipulation error", e.msg)
    expect("aB3$xy" not in str(e), "the password is in the fault")


@check("users: AlreadyExists, UserNotFound, InvalidArgument")
def _():
    am.CreateUser(user=posix("alice", desc="Alice"))
    raises(vim.fault.AlreadyExists, am.CreateUser, user=posix("alice"))
    raises(vim.fault.UserNotFound, am.UpdateUser, user=posix("ghost", pw=None))
    raises(vim.fault.UserNotFound, am.RemoveUser, userName="ghost")
    e = raises(vmodl.fault.InvalidArgument, am.CreateUser, user=posix("bad name"))
    expect(e.invalidProperty == "id", e.invalidProperty)


@check("users: RetrieveUserGroups returns PosixUserSearchResult with id and shellAccess")
def _():
    am.CreateUser(user=posix("noshell", shell=False))
    res = content.userDirectory.RetrieveUserGroups(searchStr="", exactMatch=False, findUsers=True, findGroups=True)
    by = {}
    for u in res:
        expect(isinstance(u, vim.PosixUserSearchResult), "%s is %s" % (u.principal, type(u).__name__))
        by[u.principal] = u
    # What Ansible's vmware_local_user_info reads.
    expect(by["root"].id == 0 and by["root"].shellAccess is True, by["root"])
    expect(by["dcui"].shellAccess is False, by["dcui"])
    expect(by["noshell"].shellAccess is False, by["noshell"])
    expect(by["alice"].fullName == "Alice" and by["alice"].shellAccess is True, by["alice"])
    am.UpdateUser(user=vim.host.LocalAccountManager.PosixAccountSpecification(id="noshell", shellAccess=True))
    res = content.userDirectory.RetrieveUserGroups(searchStr="noshell", exactMatch=True, findUsers=True, findGroups=False)
    expect(len(res) == 1 and res[0].shellAccess is True, res)


@check("permissions: merge, InvalidArgument for View and for the HostSystem")
def _():
    grant("alice", -2)
    perms = {p.principal: p.roleId for p in authz.RetrieveEntityPermissions(entity=root_folder, inherited=False)}
    expect(perms.get("alice") == -2 and perms.get("root") == -1, perms)
    raises(vmodl.fault.InvalidArgument, grant, "alice", -3)
    e = raises(vmodl.fault.InvalidArgument, grant, "alice", -2, host)
    expect(e.invalidProperty == "entity", e.invalidProperty)
    raises(vim.fault.UserNotFound, grant, "ghost", -2)
    raises(vim.fault.NotFound, authz.RemoveEntityPermission, entity=root_folder, user="noshell", isGroup=False)


@check("protected users: root cannot be removed (last DCUI.Access user)")
def _():
    raises(vmodl.fault.SecurityError, am.RemoveUser, userName="root")


@check("policy: Security.PasswordQualityControl is read and set with the advanced options")
def _():
    v = opts.QueryOptions(name="Security.PasswordQualityControl")[0].value
    expect(v == DEFAULT_POLICY, v)
    opts.UpdateOptions(changedValue=[vim.option.OptionValue(key="Security.PasswordQualityControl",
                                                            value="retry=3 min=disabled,disabled,disabled,disabled,15")])
    raises(vmodl.fault.SystemError, am.CreateUser, user=posix("shortpw"))
    raises(vmodl.fault.InvalidArgument, opts.UpdateOptions, changedValue=[
        vim.option.OptionValue(key="Security.PasswordQualityControl", value="min=bogus")])
    raises(vim.fault.InvalidName, opts.UpdateOptions, changedValue=[vim.option.OptionValue(key="Security.NoSuchOption", value="x")])
    opts.UpdateOptions(changedValue=[vim.option.OptionValue(key="Security.PasswordQualityControl",
                                                            value=DEFAULT_POLICY)])


@check("supportedOption: every option with its type and default (as vmware_host_config_manager reads it)")
def _():
    defs = {d.key: d for d in opts.supportedOption}
    for s in opts.setting:
        expect(s.key in defs, "no supportedOption for " + s.key)
    lf = defs["Security.AccountLockFailures"].optionType
    expect(isinstance(lf, vim.option.LongOption) and lf.defaultValue == 5, lf)
    ut = defs["Security.AccountUnlockTime"].optionType
    expect(isinstance(ut, vim.option.LongOption) and ut.defaultValue == 900, ut)
    pq = defs["Security.PasswordQualityControl"].optionType
    expect(isinstance(pq, vim.option.StringOption), pq)
    expect(isinstance(defs["DCUI.Access"].optionType, vim.option.StringOption), "DCUI.Access")
    # The module converts the value to the option's type and sets it.
    opts.UpdateOptions(changedValue=[vim.option.OptionValue(key="Security.AccountLockFailures", value=LONG(5))])


@check("privileges: ReadOnly is refused writes with NoPermission and privilegeId")
def _():
    si = connect("alice", GOOD_PW)
    c = si.RetrieveContent()
    e = raises(vim.fault.NoPermission, c.accountManager.CreateUser, user=posix("x1"))
    expect(e.privilegeId == "Host.Local.ManageUserGroups", e.privilegeId)
    expect(e.msg == "Permission to perform this operation was denied.", e.msg)
    e = raises(vim.fault.NoPermission, c.authorizationManager.SetEntityPermissions, entity=c.rootFolder, permission=[
        vim.AuthorizationManager.Permission(principal="alice", group=False, roleId=-1, propagate=True)])
    expect(e.privilegeId == "Authorization.ModifyPermissions", e.privilegeId)
    e = raises(vim.fault.NoPermission, c.userDirectory.RetrieveUserGroups, searchStr="", exactMatch=False, findUsers=True, findGroups=False)
    expect(e.privilegeId == "Authorization.ModifyPermissions", e.privilegeId)
    expect(len(c.authorizationManager.roleList) > 0, "roleList")  # System.View
    Disconnect(si)


@check("privileges: a custom role with exactly the needed privileges, and no escalation")
def _():
    rid = authz.AddAuthorizationRole(name="UserManager", privIds=["Host.Local.ManageUserGroups", "Authorization.ModifyPermissions"])
    privs = set([r for r in authz.roleList if r.roleId == rid][0].privilege)
    expect({"System.Anonymous", "System.View", "System.Read"} <= privs, privs)
    raises(vim.fault.AlreadyExists, authz.AddAuthorizationRole, name="UserManager", privIds=[])
    raises(vmodl.fault.InvalidArgument, authz.UpdateAuthorizationRole, roleId=-1, newName="Admin2", privIds=[])
    am.CreateUser(user=posix("svc"))
    grant("svc", rid)
    si = connect("svc", GOOD_PW)
    c = si.RetrieveContent()
    c.accountManager.CreateUser(user=posix("bob"))
    c.authorizationManager.SetEntityPermissions(entity=c.rootFolder, permission=[
        vim.AuthorizationManager.Permission(principal="bob", group=False, roleId=-2, propagate=True)])
    e = raises(vim.fault.NoPermission, c.authorizationManager.SetEntityPermissions, entity=c.rootFolder, permission=[
        vim.AuthorizationManager.Permission(principal="svc", group=False, roleId=-1, propagate=True)])
    expect(e.privilegeId not in ("", "Authorization.ModifyPermissions"), e.privilegeId)
    key = c.sessionManager.currentSession.key
    ep = c.authorizationManager.HasPrivilegeOnEntities(entity=[c.rootFolder], sessionId=key,
                                                       privId=["Host.Local.ManageUserGroups", "Authorization.ModifyRoles"])
    got = {p.privId: p.isGranted for p in ep[0].privAvailability}
    expect(got == {"Host.Local.ManageUserGroups": True, "Authorization.ModifyRoles": False}, got)
    # Demoted by another session: the next call is refused.
    grant("svc", -5)
    e = raises(vim.fault.NoPermission, c.accountManager.CreateUser, user=posix("carol"))
    expect(e.privilegeId == "Host.Local.ManageUserGroups", e.privilegeId)
    Disconnect(si)


@check("lockout: 5 failures lock the account, the unlock time unlocks it")
def _():
    am.CreateUser(user=posix("lock"))
    grant("lock", -2)
    for _ in range(5):
        raises(vim.fault.InvalidLogin, connect, "lock", "wrong")
    raises(vim.fault.InvalidLogin, connect, "lock", GOOD_PW)
    advance(899)
    raises(vim.fault.InvalidLogin, connect, "lock", GOOD_PW)
    advance(1)
    Disconnect(connect("lock", GOOD_PW))


Disconnect(root_si)
done()
