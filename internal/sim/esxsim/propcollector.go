package esxsim

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// propertyCollector wraps vcsim's PropertyCollector so that properties are
// read with the privileges ESXi requires: System.View on the object (a
// managed entity) or on the root folder (any other managed object, e.g.
// AuthorizationManager.roleList, whose documented privilege is System.View:
// pyvmomi docs/vim/AuthorizationManager.rst "roleList ... privilege:
// System.View"). A property the session may not read is reported in the
// ObjectContent's missingSet with a NoPermission fault, which is how
// clients receive it: pyVmomi raises missingSet[0].fault
// (pyVmomi/StubAdapterAccessorImpl.py) and govmomi returns it as the error
// of mo.ObjectContentToType (vim25/mo/retrieve.go).
//
// The type embeds vcsim's by value: vcsim makes each session's collector
// with reflect.New of the registered collector's type (Session.Get), so a
// zero value must be usable.
type propertyCollector struct {
	simulator.PropertyCollector
}

// unguardedTypes are read by any session: the service's own objects and
// the session-scoped view and collector objects.
var unguardedTypes = map[string]bool{
	"ServiceInstance": true, "SessionManager": true, "PropertyCollector": true,
	"PropertyFilter": true, "ViewManager": true, "ContainerView": true,
	"ListView": true, "InventoryView": true,
}

// installPropertyCollector replaces the model's PropertyCollector.
func installPropertyCollector(m *simulator.Registry) {
	si, ok := m.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	if !ok {
		return
	}
	pc := &propertyCollector{}
	pc.Self = si.Content.PropertyCollector
	m.Put(pc)
}

// stateOf returns the privilege state of ctx's model: the one behind its
// AuthorizationManager.
func stateOf(ctx *simulator.Context) *state {
	si, ok := ctx.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	if !ok || si.Content.AuthorizationManager == nil {
		return nil
	}
	if am, ok := ctx.Map.Get(*si.Content.AuthorizationManager).(*authorizationManager); ok {
		return am.st
	}
	return nil
}

// guard moves the properties the session may not read into missingSet.
func guard(ctx *simulator.Context, objs []types.ObjectContent) []types.ObjectContent {
	if ctx.Session == nil {
		return objs
	}
	st := stateOf(ctx)
	if st == nil {
		return objs
	}
	user := ctx.Session.UserName
	for i := range objs {
		oc := &objs[i]
		if unguardedTypes[oc.Obj.Type] || len(oc.PropSet) == 0 {
			continue
		}
		target := oc.Obj
		if len(entityChain(ctx, target)) == 0 {
			target = st.root
		}
		f := st.need(ctx, user, target, PrivSystemView)
		if f == nil {
			continue
		}
		for _, p := range oc.PropSet {
			oc.MissingSet = append(oc.MissingSet, types.MissingProperty{
				Path:  p.Name,
				Fault: types.LocalizedMethodFault{Fault: f.VimFault().(types.BaseMethodFault), LocalizedMessage: f.String},
			})
		}
		oc.PropSet = nil
	}
	return objs
}

// RetrieveProperties is vcsim's, with guard.
func (pc *propertyCollector) RetrieveProperties(ctx *simulator.Context, r *types.RetrieveProperties) soap.HasFault {
	res := pc.PropertyCollector.RetrieveProperties(ctx, r)
	if b, ok := res.(*methods.RetrievePropertiesBody); ok && b.Res != nil {
		b.Res.Returnval = guard(ctx, b.Res.Returnval)
	}
	return res
}

// RetrievePropertiesEx is vcsim's, with guard.
func (pc *propertyCollector) RetrievePropertiesEx(ctx *simulator.Context, r *types.RetrievePropertiesEx) soap.HasFault {
	res := pc.PropertyCollector.RetrievePropertiesEx(ctx, r)
	if b, ok := res.(*methods.RetrievePropertiesExBody); ok && b.Res != nil && b.Res.Returnval != nil {
		b.Res.Returnval.Objects = guard(ctx, b.Res.Returnval.Objects)
	}
	return res
}

// ContinueRetrievePropertiesEx is vcsim's, with guard.
func (pc *propertyCollector) ContinueRetrievePropertiesEx(ctx *simulator.Context, r *types.ContinueRetrievePropertiesEx) soap.HasFault {
	res := pc.PropertyCollector.ContinueRetrievePropertiesEx(ctx, r)
	if b, ok := res.(*methods.ContinueRetrievePropertiesExBody); ok && b.Res != nil {
		b.Res.Returnval.Objects = guard(ctx, b.Res.Returnval.Objects)
	}
	return res
}
