# mcast.linux — developer entry points. Everything runs as root on Debian 12 (namespaces, podman).
SHELL      := /bin/bash
REPO       := $(CURDIR)
VENV       := $(REPO)/.venv
BIN        := $(VENV)/bin
BUILD      := $(REPO)/.build
COLLECTION := $(BUILD)/collections/ansible_collections/mcast/linux
LABCTL     := $(BIN)/python tests/lab/labctl
LAB_INV    := $(BUILD)/lab/inventory.yml
INSTALLED  := $(BUILD)/installed

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(BUILD)/collections
export ANSIBLE_FORCE_COLOR := 0
export ANSIBLE_NOCOLOR := 1
export CONTAINERS_CONF := $(REPO)/tests/lab/containers.conf

.PHONY: help require-root setup lab lab-up lab-down lab-status build install test test-unit test-integration \
        test-molecule sanity lint docs-lint bench-mcastd bench-querier bench-nftables bench-modules bench-roles bench-fleet docs \
        docs-html clean ee

help:
	@echo "make lab         set up this machine, bring the container lab up and run the main job"
	@echo "make lab-down    remove the lab (containers, namespaces, links)"
	@echo "make lab-status  show the lab"
	@echo "make test        every test: unit, integration, molecule, sanity, lint, docs lint"
	@echo "make docs        regenerate docs/reference (antsibull-docs); make docs-html builds a site"
	@echo "make bench-mcastd  mcastd against smcroute, side by side"
	@echo "make bench-querier mcastd's IGMP querier against igmpproxy and pimd, side by side"
	@echo "make bench-roles   the router role against a plain playbook, side by side"
	@echo "make bench-fleet   host role and compliance on 50 namespace hosts, side by side with ansible -m ping"
	@echo "make ee          build the AWX execution environment (ansible-builder, podman) and run compliance in it"

setup:
	@tests/tools/setup.sh

require-root:
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "This target needs root: it creates network namespaces, veth links and podman containers." >&2; \
	  echo "Run it as root (for example: sudo make $(MAKECMDGOALS))." >&2; exit 1; fi

# The collection built and installed from its tarball: the lab runs the content from there,
# the way users get it, not from the checkout.
build: setup
	@mkdir -p $(BUILD)/dist
	@rm -f $(BUILD)/dist/mcast-linux-*.tar.gz
	@$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD)/dist . >/dev/null
	@ls $(BUILD)/dist/mcast-linux-*.tar.gz

install: build
	@rm -rf $(INSTALLED)
	@$(BIN)/ansible-galaxy collection install --offline --force -p $(INSTALLED) $(BUILD)/dist/mcast-linux-*.tar.gz >/dev/null
	@echo "installed mcast.linux into $(INSTALLED)"

# No skipped-task lines: the tables of the main job stand out.
lab: require-root install lab-up
	ANSIBLE_COLLECTIONS_PATH=$(INSTALLED) ANSIBLE_DISPLAY_SKIPPED_HOSTS=0 \
	  $(BIN)/ansible-playbook -i $(LAB_INV) mcast.linux.lab

lab-up: require-root setup
	@mkdir -p $(dir $(LAB_INV))
	$(LABCTL) up --mode containers --inventory-out $(LAB_INV)

lab-down: require-root setup
	$(LABCTL) down --mode containers

lab-status: require-root setup
	$(LABCTL) status --mode containers

test: require-root setup test-unit test-integration test-molecule sanity lint docs-lint
	@echo "make test: all parts passed"

# pytest exits 5 when it collects nothing: an empty suite fails instead of passing silently.
test-unit: setup
	$(BIN)/python -m pytest tests/unit

test-integration: require-root setup
	$(BIN)/python -m pytest tests/integration

# One image per tested Debian release: default is Debian 12, debian11 and debian13 the others.
test-molecule: require-root setup
	@set -e; export MCAST_LAB_IMAGE=$$($(LABCTL) build-image); \
	export MCAST_LAB_IMAGE_BULLSEYE=$$($(LABCTL) build-image --suite bullseye); \
	export MCAST_LAB_IMAGE_TRIXIE=$$($(LABCTL) build-image --suite trixie); \
	for scenario in molecule/*/molecule.yml; do \
	  name=$$(basename $$(dirname $$scenario)); \
	  echo "==> molecule test -s $$name"; \
	  $(BIN)/molecule test -s $$name; \
	done

sanity: setup
	tests/tools/sanity.sh

lint: setup
	$(BIN)/ansible-lint --profile production

docs-lint: setup
	$(BIN)/antsibull-docs lint-collection-docs --plugin-docs $(COLLECTION)

bench-mcastd: require-root setup
	$(BIN)/python tests/bench/bench_mcastd.py

# igmpproxy and pimd come from apt but are unpacked, not installed: see peer_binaries() in the script.
bench-querier: require-root setup
	$(BIN)/python tests/bench/bench_querier.py

bench-nftables: require-root setup
	$(BIN)/python tests/bench/bench_nftables.py

bench-modules: require-root setup
	tests/bench/six_modules.sh

bench-roles: require-root setup
	$(BIN)/python tests/bench/bench_roles.py

# BENCH_FLEET_ARGS, for example: --compare DIR (another mcast.linux below DIR/ansible_collections) --profile
bench-fleet: require-root setup
	$(BIN)/python tests/bench/bench_fleet.py $(BENCH_FLEET_ARGS)

# The execution environment of execution-environment.yml, built offline on a local Debian 12 base,
# then the lab configured and checked from inside it with ansible-runner (docs/execution-environment.md).
ee: require-root build
	$(BIN)/python tests/ee/ee.py

docs: setup
	docs/build.sh

docs-html: setup
	docs/build.sh --html

clean:
	rm -rf $(BUILD)
