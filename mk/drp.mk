# DRP packaging: drpcli, the content bundle, and the esxi-users plugin
# provider with the esxi-manage-users task binaries embedded.
#
#   make drpcli   bin/drpcli built from the DRP SDK module in go.mod (no download)
#   make bundle   dist/esxi-users.yaml: the content pack exactly as the plugin's
#                 define publishes it (task binaries built first, their SHA-256
#                 pinned in esxi-manage-users-sha256.tmpl; tasks keep
#                 ExtraDuration, which the SDK's drpcli v4.7.0 would drop)
#   make bundle-drpcli  dist/esxi-users.drpcli.yaml (drpcli contents bundle of
#                 content/: no pinned digests, no ExtraDuration; for checking)
#   make plugin   cross-builds esxi-manage-users for linux/amd64 and linux/arm64
#                 into cmds/esxi-users/embedded/ (+ .sha256), then bin/esxi-users
#                 for this OS (set DRP_PLUGIN_GOOS/DRP_PLUGIN_GOARCH for DRP's)

GO                ?= go
DRP_ARCHES        ?= amd64 arm64
DRP_EMBED_DIR     := cmds/esxi-users/embedded
DRP_PLUGIN_GOOS   ?= $(shell $(GO) env GOOS)
DRP_PLUGIN_GOARCH ?= $(shell $(GO) env GOARCH)
DRP_VERSION       ?= $(shell cat content/._Version.meta)
DRP_SHA256        := $(shell command -v sha256sum >/dev/null 2>&1 && echo sha256sum || echo 'shasum -a 256')

.PHONY: drpcli bundle bundle-drpcli plugin plugin-binaries

drpcli:
	@mkdir -p bin
	$(GO) build -o bin/drpcli github.com/digitalrebar/provision/v4/cmds/drpcli

bundle: plugin-binaries
	@mkdir -p dist
	$(GO) run ./cmds/esxi-users bundle dist/esxi-users.yaml
	@echo "wrote dist/esxi-users.yaml (digests of $(DRP_ARCHES) pinned)"

bundle-drpcli: drpcli
	@mkdir -p dist
	cd content && ../bin/drpcli contents bundle ../dist/esxi-users.drpcli.yaml
	@echo "wrote dist/esxi-users.drpcli.yaml"

plugin-binaries:
	@set -e; for arch in $(DRP_ARCHES); do \
	  out=$(DRP_EMBED_DIR)/esxi-manage-users.$$arch.linux; \
	  echo "building $$out"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath \
	    -ldflags "-s -w" -o $$out ./cmds/esxi-manage-users; \
	  (cd $(DRP_EMBED_DIR) && $(DRP_SHA256) esxi-manage-users.$$arch.linux > esxi-manage-users.$$arch.linux.sha256); \
	done

plugin: plugin-binaries
	@mkdir -p bin
	CGO_ENABLED=0 GOOS=$(DRP_PLUGIN_GOOS) GOARCH=$(DRP_PLUGIN_GOARCH) $(GO) build -trimpath \
	  -ldflags "-X main.version=$(DRP_VERSION)" -o bin/esxi-users ./cmds/esxi-users
	@echo "wrote bin/esxi-users (upload: drpcli plugin_providers upload esxi-users from bin/esxi-users)"
