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
//     passwdqc.ESXiDefault) and
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
//     https://pubs.vmware.com/vsphere-51/topic/com.vmware.vsphere.security.doc/GUID-D92BB375-9F94-449E-838E-51086C43CF80.html);
//   - Security.AccountLockFailures (long, default 5) and
//     Security.AccountUnlockTime (long, seconds, default 900), lockout.go.
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
// ref, describes every option it serves in supportedOption, and wraps it
// so that changes are validated and reach st.
func (st *state) installOptionsOn(m *simulator.Registry, ref types.ManagedObjectReference) error {
	om, ok := m.Get(ref).(*simulator.OptionManager)
	if !ok {
		return fmt.Errorf("esxsim: unexpected advanced option manager %T", m.Get(ref))
	}
	res := om.UpdateOptions(&types.UpdateOptions{ChangedValue: []types.BaseOptionValue{
		&types.OptionValue{Key: optPasswordQualityControl, Value: st.policy},
		&types.OptionValue{Key: optPasswordHistory, Value: int64(st.history)},
		&types.OptionValue{Key: optAccountLockFailures, Value: st.lockFailures},
		&types.OptionValue{Key: optAccountUnlockTime, Value: st.unlockTime},
		&types.OptionValue{Key: optDCUIAccess, Value: st.dcuiAccess},
	}})
	if f := res.Fault(); f != nil {
		return fmt.Errorf("esxsim: adding advanced options: %s", f.String)
	}
	om.SupportedOption = supportedOptions(om.Setting)
	m.Put(&hostOptions{OptionManager: om, st: st})
	return nil
}

// Limits of the long options. ESXi's exact minimum and maximum are not
// documented; these accept every value the documentation uses.
const (
	maxPasswordHistory = 200   // assumed
	maxLockFailures    = 100   // assumed
	maxUnlockTime      = 86400 // assumed: one day
)

// optionLabels are the descriptions of the options the simulator adds
// (vSphere Security, "ESXi Passwords and Account Lockout"; "Add Users to
// the DCUI.Access Advanced Option").
var optionLabels = map[string]string{
	optPasswordQualityControl: "Password quality control (pam_passwdqc) configuration",
	optPasswordHistory:        "Number of passwords to remember for each user",
	optAccountLockFailures:    "Maximum allowed failed login attempts before locking out a user's account. Zero disables account locking.",
	optAccountUnlockTime:      "Duration in seconds to lock out a user's account after exceeding the maximum allowed failed login attempts.",
	optDCUIAccess:             "Comma-separated list of local users with access to the DCUI",
}

// supportedOptions describes every option in settings, with its type and
// default (the value it starts with), as OptionManager.supportedOption does
// ("A list of supported key/value pair options including their type
// information", OptionManager reference; OptionDef.optionType is a
// StringOption, LongOption, BoolOption, ... with defaultValue and, for
// numbers, min and max). Clients read it before setting an option: Ansible's
// community.vmware.vmware_host_config_manager looks each key up in
// supportedOption and converts the value to its optionType, and refuses a
// key it does not find there.
func supportedOptions(settings []types.BaseOptionValue) []types.OptionDef {
	var defs []types.OptionDef
	for _, s := range settings {
		ov := s.GetOptionValue()
		label := optionLabels[ov.Key]
		if label == "" {
			label = ov.Key
		}
		def := types.OptionDef{ElementDescription: types.ElementDescription{
			Description: types.Description{Label: label, Summary: label},
			Key:         ov.Key,
		}}
		switch v := ov.Value.(type) {
		case string:
			def.OptionType = &types.StringOption{DefaultValue: v}
		case bool:
			def.OptionType = &types.BoolOption{DefaultValue: v, Supported: true}
		default:
			n, ok := optionInt(v)
			if !ok {
				continue
			}
			lo := &types.LongOption{DefaultValue: n, Min: 0, Max: 1<<31 - 1}
			switch ov.Key {
			case optPasswordHistory:
				lo.Max = maxPasswordHistory
			case optAccountLockFailures:
				lo.Max = maxLockFailures
			case optAccountUnlockTime:
				lo.Max = maxUnlockTime
			}
			def.OptionType = lo
		}
		defs = append(defs, def)
	}
	return defs
}

// checkOption validates a value against the option's definition; the
// value is returned in the option's type.
func checkOption(def *types.OptionDef, v types.AnyType) (types.AnyType, bool) {
	switch t := def.OptionType.(type) {
	case *types.StringOption:
		s, ok := v.(string)
		return s, ok
	case *types.BoolOption:
		b, ok := v.(bool)
		return b, ok
	case *types.LongOption:
		n, ok := optionInt(v)
		if !ok || n < t.Min || n > t.Max {
			return nil, false
		}
		return n, true
	}
	return v, true
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

// UpdateOptions validates every change against supportedOption (an
// unknown key is InvalidName, "if one or more OptionValue objects refers to
// a non-existent option"; a value of the wrong type or out of range is
// InvalidArgument naming the key, as ESXi answers "A specified parameter
// was not correct: <key>"; OptionManager reference), then applies all
// changes ("These properties are changed atomically: either all are applied
// or none are").
func (o *hostOptions) UpdateOptions(ctx *simulator.Context, req *types.UpdateOptions) soap.HasFault {
	body := new(methods.UpdateOptionsBody)
	defs := map[string]*types.OptionDef{}
	for i := range o.SupportedOption {
		defs[o.SupportedOption[i].Key] = &o.SupportedOption[i]
	}
	changes := make([]types.BaseOptionValue, len(req.ChangedValue))
	var policy, dcui *string
	var history, lockFailures, unlockTime *int64
	for i, c := range req.ChangedValue {
		ov := c.GetOptionValue()
		def, ok := defs[ov.Key]
		if !ok {
			body.Fault_ = simulator.Fault("A specified parameter was not correct: "+ov.Key, &types.InvalidName{Name: ov.Key})
			return body
		}
		v, ok := checkOption(def, ov.Value)
		if !ok {
			body.Fault_ = invalidArgument(ov.Key)
			return body
		}
		changes[i] = &types.OptionValue{Key: ov.Key, Value: v}
		switch ov.Key {
		case optPasswordQualityControl:
			s := v.(string)
			if validPolicy(o.st.opt.CheckPassword, s) != nil {
				body.Fault_ = invalidArgument(ov.Key)
				return body
			}
			policy = &s
		case optPasswordHistory:
			n := v.(int64)
			history = &n
		case optAccountLockFailures:
			n := v.(int64)
			lockFailures = &n
		case optAccountUnlockTime:
			n := v.(int64)
			unlockTime = &n
		case optDCUIAccess:
			s := v.(string)
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
	if lockFailures != nil {
		o.st.lockFailures = *lockFailures
	}
	if unlockTime != nil {
		o.st.unlockTime = *unlockTime
	}
	if dcui != nil {
		o.st.dcuiAccess = *dcui
	}
	o.st.mu.Unlock()
	o.st.tracef("UpdateOptions: ok")
	return res
}
