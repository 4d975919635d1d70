#!/usr/bin/python3
"""A simulated vCenter driven by VMware's pyVmomi (Debian python3-pyvmomi
6.7.1), as Ansible's vCenter modules drive one: each check asserts what
vCenter 8.0.3 documents or answers (sources in the comments, in apiversion.go
and vcenter.go).

Protocol with the Go test (pyvmomi_test.go): the connection comes from the
environment (ESXSIM_HOST, ESXSIM_PORT, ESXSIM_USER and ESXSIM_PASSWORD of
vCenter's administrator, ESXSIM_CAFILE, ESXSIM_HOSTS the managed hosts'
names, comma-separated); each check prints "ok NAME" or "FAIL NAME :: why";
it ends with "DONE".
"""
import os
import ssl

from pyVim.connect import SmartConnect, Disconnect
from pyVmomi import vim, vmodl

from pyvmomi_checks import check, done, expect, out, raises

HOST = os.environ["ESXSIM_HOST"]
PORT = int(os.environ["ESXSIM_PORT"])
USER = os.environ["ESXSIM_USER"]
PASSWORD = os.environ["ESXSIM_PASSWORD"]
CAFILE = os.environ["ESXSIM_CAFILE"]
HOSTS = os.environ["ESXSIM_HOSTS"].split(",")
GOOD_PW = "S3cr3tP455!"

# pyVmomi 6.7.1 could not connect to vcsim's vCenter: it listed API 6.5 and
# answered with managers 6.5 does not know (HostConnectFault "parse error").
si = SmartConnect(host=HOST, port=PORT, user=USER, pwd=PASSWORD, sslContext=ssl.create_default_context(cafile=CAFILE))
content = si.RetrieveContent()
authz = content.authorizationManager
root_folder = content.rootFolder


def hosts():
    view = content.viewManager.CreateContainerView(root_folder, [vim.HostSystem], True)
    try:
        return {h.name: h for h in view.view}
    finally:
        view.DestroyView()


@check("api: pyVmomi negotiates 6.7.1, its newest, from the versions vCenter 8.0.3 lists")
def _():
    expect(si._stub.versionId == '"urn:vim25/6.7.1"', si._stub.versionId)


@check("about: vCenter Server 8.0.3, API 8.0.3.0")
def _():
    a = content.about
    expect(a.apiType == "VirtualCenter" and a.productLineId == "vpx", (a.apiType, a.productLineId))
    expect(a.version == "8.0.3" and a.apiVersion == "8.0.3.0", (a.version, a.apiVersion))
    expect(a.fullName == "VMware vCenter Server 8.0.3 build-24022515", a.fullName)


@check("api: 6.5 calls HasUserPrivilegeOnEntities and FetchUserPrivilegeOnEntities answer from the permissions")
def _():
    ep = authz.HasUserPrivilegeOnEntities(entities=[root_folder], userName=USER, privId=["System.View", "Host.Local.ManageUserGroups"])
    got = {p.privId: p.isGranted for p in ep[0].privAvailability}
    expect(got == {"System.View": True, "Host.Local.ManageUserGroups": True}, got)
    res = authz.FetchUserPrivilegeOnEntities(entities=[root_folder], userName=USER)
    expect("Host.Local.ManageUserGroups" in set(res[0].privileges), res)


@check("api: privilegeList holds the system privileges and every privilege of the roles")
def _():
    privs = {p.privId: p for p in authz.privilegeList}
    for pid in ("System.Anonymous", "System.View", "System.Read"):
        p = privs.get(pid)
        expect(p is not None and p.privGroupName == "System" and p.name == pid[len("System."):], p)
    for r in authz.roleList:
        missing = set(r.privilege or []) - set(privs)
        expect(not missing, "role %s: %s" % (r.name, sorted(missing)))


@check("inventory: the managed hosts, ESXi 8.0.3")
def _():
    hs = hosts()
    expect(sorted(hs) == sorted(HOSTS), sorted(hs))
    for h in hs.values():
        p = h.config.product
        expect(p.apiType == "HostAgent" and p.version == "8.0.3", (h.name, p.apiType, p.version))


@check("host users through vCenter: CreateUser on one host, AlreadyExists, InvalidArgument")
def _():
    h = hosts()[HOSTS[0]]
    lam = h.configManager.accountManager
    spec = vim.host.LocalAccountManager.PosixAccountSpecification(id="alice", password=GOOD_PW, description="Alice")
    lam.CreateUser(user=spec)
    raises(vim.fault.AlreadyExists, lam.CreateUser, user=spec)
    bad = vim.host.LocalAccountManager.PosixAccountSpecification(id="bad name", password=GOOD_PW)
    raises(vmodl.fault.InvalidArgument, lam.CreateUser, user=bad)
    # The other host is not changed: creating alice there succeeds.
    hosts()[HOSTS[1]].configManager.accountManager.CreateUser(user=spec)


@check("host access through vCenter: ChangeAccessMode and RetrieveHostAccessControlEntries (API 6.0)")
def _():
    ham = hosts()[HOSTS[0]].configManager.hostAccessManager
    ham.ChangeAccessMode(principal="alice", isGroup=False, accessMode="accessReadOnly")
    got = {e.principal: e.accessMode for e in ham.RetrieveHostAccessControlEntries()}
    expect(got.get("alice") == "accessReadOnly" and got.get("root") == "accessAdmin", got)


Disconnect(si)
done()
