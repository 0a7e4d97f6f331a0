# Two commands on a fresh machine: `make demo` and `make test`.
CARGO ?= cargo
DEMO_DIR := target/demo

.PHONY: build demo test lint bench install clean

build:
	$(CARGO) build --release

demo: build
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	@cp -r fixtures/work-items/ORCH-115 $(DEMO_DIR)/
	@echo "== stagerun run $(DEMO_DIR)/ORCH-115 (local transport, reference suite)"
	@./target/release/stagerun run $(DEMO_DIR)/ORCH-115 --repo orch-core --config fixtures/demo.stagerun.yaml; \
	  code=$$?; echo "== exit code $$code"; \
	  echo "== $(DEMO_DIR)/ORCH-115/15-staging-log.md"; cat $(DEMO_DIR)/ORCH-115/15-staging-log.md; \
	  echo "== stagerun gate $(DEMO_DIR)/ORCH-115"; ./target/release/stagerun gate $(DEMO_DIR)/ORCH-115; echo "== gate exit code $$?"; \
	  test $$code -eq 0

test:
	$(CARGO) test --all-targets 2>&1

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

clean:
	$(CARGO) clean
