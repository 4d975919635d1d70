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
#                 into bin/linux/, stores them gzip-compressed in
#                 cmds/esxi-users/embedded/ (+ .sha256 of each binary), then
#                 bin/esxi-users for this OS (set DRP_PLUGIN_GOOS/DRP_PLUGIN_GOARCH
#                 for DRP's); all stripped (-trimpath -s -w); prints the sizes.
#                 The task binaries are built with -tags $(DRP_TASK_TAGS): nosim
#                 leaves the simulator out (simulate and --simulate exit 2);
#                 cmds/esxi-manage-users/ship_test.go checks that neither they
#                 nor the plugin link a test double

GO                ?= go
DRP_ARCHES        ?= amd64 arm64
DRP_TASK_TAGS     := nosim
DRP_EMBED_DIR     := cmds/esxi-users/embedded
DRP_TASK_DIR      := bin/linux
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

# Task binaries are built into $(DRP_TASK_DIR); embedded/ gets each one
# gzip-compressed (-9; the plugin's unpack decompresses with compress/gzip)
# and the SHA-256 of the binary itself (what unpack publishes, what define
# pins, what the Linux agent downloads and compares).
plugin-binaries:
	@mkdir -p $(DRP_TASK_DIR)
	@rm -f $(DRP_EMBED_DIR)/esxi-manage-users.*.linux # uncompressed, from older builds: would be embedded
	@set -e; for arch in $(DRP_ARCHES); do \
	  name=esxi-manage-users.$$arch.linux; \
	  echo "building $(DRP_TASK_DIR)/$$name"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -tags $(DRP_TASK_TAGS) \
	    -ldflags "-s -w" -o $(DRP_TASK_DIR)/$$name ./cmds/esxi-manage-users; \
	  gzip -9 -n -c $(DRP_TASK_DIR)/$$name > $(DRP_EMBED_DIR)/$$name.gz.tmp; \
	  mv $(DRP_EMBED_DIR)/$$name.gz.tmp $(DRP_EMBED_DIR)/$$name.gz; \
	  (cd $(DRP_TASK_DIR) && $(DRP_SHA256) $$name) > $(DRP_EMBED_DIR)/$$name.sha256; \
	done

plugin: plugin-binaries
	@mkdir -p bin
	CGO_ENABLED=0 GOOS=$(DRP_PLUGIN_GOOS) GOARCH=$(DRP_PLUGIN_GOARCH) $(GO) build -trimpath \
	  -ldflags "-s -w -X main.version=$(DRP_VERSION)" -o bin/esxi-users ./cmds/esxi-users
	@echo "sizes (MB = 10^6 bytes):"
	@for arch in $(DRP_ARCHES); do \
	  $(call drp_size,$(DRP_TASK_DIR)/esxi-manage-users.$$arch.linux,25); \
	  $(call drp_size,$(DRP_EMBED_DIR)/esxi-manage-users.$$arch.linux.gz,); \
	done
	@$(call drp_size,bin/esxi-users,50)
	@echo "wrote bin/esxi-users (upload: drpcli plugin_providers upload esxi-users from bin/esxi-users)"

# drp_size prints a file's size and, given a target in MB, whether it is met.
drp_size = wc -c < $(1) | awk -v f=$(1) -v max=$(2) '{ \
	  printf "  %-60s %6.1f MB (%d bytes)", f, $$1/1e6, $$1; \
	  if (max != "") printf "  target <= %s MB: %s", max, ($$1 <= max*1e6 ? "met" : "MISSED"); \
	  printf "\n" }'
