package esxsim

import (
	"fmt"
	"strconv"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// hostOptions wraps the host's advanced-option OptionManager
// (HostSystem.configManager.advancedOption) to validate and track the
// options the account code uses:
//
//   - Security.PasswordQualityControl (string, default
//     "retry=3 min=disabled,disabled,disabled,7,7") and
//     Security.PasswordHistory (long, default 0): VCF "Configure the Local
//     User Password Complexity Policy for ESXi" defaults table
//     (https://techdocs2-prod.adobecqms.net/us/en/vmware-cis/vcf/vcf-5-2-and-earlier/4-5/configure-the-password-complexity-policy-for-esxi.html),
//     vSphere Security "ESXi Passwords and Account Lockout" (set with the
//     advanced system settings, i.e. OptionManager.UpdateOptions);
//   - DCUI.Access (string, default "root"): comma-separated users with DCUI
//     access, used by RemoveUser's "last local user with DCUI access" rule
//     (vSphere 6.0 Security, "Add Users to the DCUI.Access Advanced Option":
//     "By default, the root user is included",
//     https://docs.vmware.com/en/VMware-vSphere/6.0/com.vmware.vsphere.security.doc/GUID-6779F098-48FE-4E22-B116-A8353D19FF56.html;
//     vSphere 5.1: "You can remove root from the list of DCUI access users,
//     as long as you specified at least one other user",
//     https://pubs.vmware.com/vsphere-51/topic/com.vmware.vsphere.security.doc/GUID-D92BB375-9F94-449E-838E-51086C43CF80.html).
//
// Security.PasswordHistory is stored and validated but not enforced: the
// fault ESXi returns for a reused password is not documented.
type hostOptions struct {
	*simulator.OptionManager
	st *state
}

func (st *state) installOptions(m *simulator.Registry) error {
	host, ok := m.Any("HostSystem").(*simulator.HostSystem)
	if !ok || host.ConfigManager.AdvancedOption == nil {
		return fmt.Errorf("esxsim: no HostSystem advanced option manager in model")
	}
	ref := host.Self
	st.host, st.hostOptions = &ref, *host.ConfigManager.AdvancedOption
	return st.installOptionsOn(m, *host.ConfigManager.AdvancedOption)
}

// installOptionsOn adds the tracked options to the advanced-option manager
// ref and wraps it so that their changes reach st.
func (st *state) installOptionsOn(m *simulator.Registry, ref types.ManagedObjectReference) error {
	om, ok := m.Get(ref).(*simulator.OptionManager)
	if !ok {
		return fmt.Errorf("esxsim: unexpected advanced option manager %T", m.Get(ref))
	}
	res := om.UpdateOptions(&types.UpdateOptions{ChangedValue: []types.BaseOptionValue{
		&types.OptionValue{Key: optPasswordQualityControl, Value: st.policy},
		&types.OptionValue{Key: optPasswordHistory, Value: int64(st.history)},
		&types.OptionValue{Key: optDCUIAccess, Value: st.dcuiAccess},
	}})
	if f := res.Fault(); f != nil {
		return fmt.Errorf("esxsim: adding advanced options: %s", f.String)
	}
	m.Put(&hostOptions{OptionManager: om, st: st})
	return nil
}

// optionInt accepts the integer types a client may send for an xsd:long.
func optionInt(v types.AnyType) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case string: // ESXi's own clients send the value in the option's type; be lenient
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// UpdateOptions validates the tracked options (an invalid value is
// InvalidArgument naming the key, as ESXi answers "A specified parameter
// was not correct: <key>"), then applies all changes.
func (o *hostOptions) UpdateOptions(ctx *simulator.Context, req *types.UpdateOptions) soap.HasFault {
	body := new(methods.UpdateOptionsBody)
	changes := make([]types.BaseOptionValue, len(req.ChangedValue))
	var policy, dcui *string
	var history *int64
	for i, c := range req.ChangedValue {
		changes[i] = c
		ov := c.GetOptionValue()
		switch ov.Key {
		case optPasswordQualityControl:
			s, ok := ov.Value.(string)
			if !ok || validPolicy(o.st.opt.CheckPassword, s) != nil {
				body.Fault_ = invalidArgument(ov.Key)
				return body
			}
			policy = &s
		case optPasswordHistory:
			n, ok := optionInt(ov.Value)
			if !ok || n < 0 {
				body.Fault_ = invalidArgument(ov.Key)
				return body
			}
			history = &n
			changes[i] = &types.OptionValue{Key: ov.Key, Value: n}
		case optDCUIAccess:
			s, ok := ov.Value.(string)
			if !ok {
				body.Fault_ = invalidArgument(ov.Key)
				return body
			}
			dcui = &s
		}
	}
	res := o.OptionManager.UpdateOptions(&types.UpdateOptions{This: req.This, ChangedValue: changes})
	if f := res.Fault(); f != nil {
		return res
	}
	o.st.mu.Lock()
	if policy != nil {
		o.st.policy = *policy
	}
	if history != nil {
		o.st.history = *history
	}
	if dcui != nil {
		o.st.dcuiAccess = *dcui
	}
	o.st.mu.Unlock()
	o.st.tracef("UpdateOptions: ok")
	return res
}
