package esx

// An esxcli command without options, through vCenter, in two requests (one
// once the executer is known) instead of govmomi's four. govmomi's cli/esx.Executor asks for
// the host's ManagedMethodExecuter and its DynamicTypeManager, then for the
// command's CLI information (to type the options it is given), then runs
// the command. A command without options needs only the executer and the
// ExecuteSoap call; the answer is read the same way (esxcli.Response). The
// requests are those govmomi's internal package sends (internal/methods.go,
// internal/types.go: RetrieveManagedMethodExecuter, ExecuteSoap with moid,
// version "urn:vim25/5.0" and method, as Executor.Execute sends them).

import (
	"context"

	esxcli "github.com/vmware/govmomi/cli/esx"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

type retrieveMMERequest struct {
	This types.ManagedObjectReference `xml:"_this"`
}

type retrieveMMEResponse struct {
	Returnval *types.ManagedObjectReference `xml:"urn:vim25 returnval"`
}

type retrieveMMEBody struct {
	Req    *retrieveMMERequest  `xml:"urn:vim25 RetrieveManagedMethodExecuter"`
	Res    *retrieveMMEResponse `xml:"urn:vim25 RetrieveManagedMethodExecuterResponse"`
	Fault_ *soap.Fault
}

func (b *retrieveMMEBody) Fault() *soap.Fault { return b.Fault_ }

type executeSoapRequest struct {
	This    types.ManagedObjectReference `xml:"_this"`
	Moid    string                       `xml:"moid"`
	Version string                       `xml:"version"`
	Method  string                       `xml:"method"`
}

type executeSoapResult struct {
	Response string `xml:"response,omitempty"`
	Fault    *struct {
		FaultMsg    string `xml:"faultMsg"`
		FaultDetail string `xml:"faultDetail,omitempty"`
	} `xml:"fault,omitempty"`
}

type executeSoapResponse struct {
	Returnval *executeSoapResult `xml:"urn:vim25 returnval"`
}

type executeSoapBody struct {
	Req    *executeSoapRequest  `xml:"urn:vim25 ExecuteSoap"`
	Res    *executeSoapResponse `xml:"urn:vim25 ExecuteSoapResponse"`
	Fault_ *soap.Fault
}

func (b *executeSoapBody) Fault() *soap.Fault { return b.Fault_ }

// plainCLI runs the esxcli command args (command words only, no options) on
// the host with one ExecuteSoap, after finding the host's executer once.
// A command's failure is an esxcli.Fault, as the Executor returns it.
// Callers hold h.cliMu.
func (h *ViHost) plainCLI(ctx context.Context, args []string) (*esxcli.Response, error) {
	if h.mme == nil {
		var res retrieveMMEBody
		if err := h.s.Client.RoundTrip(ctx, &retrieveMMEBody{Req: &retrieveMMERequest{This: h.ref}}, &res); err != nil {
			return nil, err
		}
		if res.Res == nil || res.Res.Returnval == nil {
			return nil, &esxcli.Fault{Message: "the host has no ManagedMethodExecuter"}
		}
		h.mme = res.Res.Returnval
	}
	cmd := esxcli.NewCommand(args)
	var res executeSoapBody
	req := &executeSoapRequest{This: *h.mme, Moid: cmd.Moid(), Version: "urn:vim25/5.0", Method: cmd.Method()}
	if err := h.s.Client.RoundTrip(ctx, &executeSoapBody{Req: req}, &res); err != nil {
		return nil, err
	}
	out := &esxcli.Response{}
	if res.Res == nil || res.Res.Returnval == nil {
		return out, nil
	}
	if f := res.Res.Returnval.Fault; f != nil {
		return nil, &esxcli.Fault{Message: f.FaultMsg, Detail: f.FaultDetail}
	}
	if err := xml.Unmarshal([]byte(res.Res.Returnval.Response), out); err != nil {
		return nil, err
	}
	return out, nil
}
