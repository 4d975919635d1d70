package drp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/digitalrebar/provision/v4/models"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/drp"
	"github.com/esxi-users/esxi-users/internal/testsupport/drpfake"
)

// attachPlugin serves this package's action bodies (drp.RunAction,
// drp.DestinationAction) to the fake DRP as the esxi-users plugin, with a
// superuser API session as DRP gives a plugin. The provider
// (cmds/esxi-users) wraps the same calls; its tests drive the binary.
func attachPlugin(t *testing.T, fake *drpfake.Server) {
	t.Helper()
	c, err := drp.NewClient(fake.Endpoint(), fake.SuperuserToken(), nil)
	must(t, err)
	def := models.PluginProvider{Name: content.PluginName, AvailableActions: []models.AvailableAction{
		{Model: "machines", Command: content.ActionName, RequiredParams: content.RequiredParams(), OptionalParams: content.OptionalParams()},
		{Model: "machines", Command: content.DestinationActionName},
	}}
	fake.AttachPlugin(t, def, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ma models.Action
		mc := &models.Machine{}
		if r.URL.Path != "/api-plugin/v4/action" || json.NewDecoder(r.Body).Decode(&ma) != nil || models.Remarshal(ma.Model, mc) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		m := drp.Machine{UUID: mc.UUID(), Name: mc.Name}
		var out any
		var derr *drp.Error
		switch ma.Command {
		case content.DestinationActionName:
			out, derr = drp.DestinationAction(context.Background(), c, m, ma.Params)
		case content.ActionName:
			out, derr = drp.RunAction(context.Background(), c, m, ma.Params, nil)
		}
		w.Header().Set("Content-Type", "application/json")
		if derr != nil {
			w.WriteHeader(derr.Code)
			json.NewEncoder(w).Encode(derr)
			return
		}
		json.NewEncoder(w).Encode(out)
	}))
}
