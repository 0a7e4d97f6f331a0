# Two commands on a fresh machine: `make demo` and `make test`.
CARGO ?= cargo
DEMO_DIR := target/demo

.PHONY: build demo test lint bench install clean

PREFIX ?= /usr/local
DESTDIR ?=

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
	$(CARGO) test --all-targets --no-fail-fast 2>&1

bench: build
	python3 bench/bench.py

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 755 target/release/stagerun $(DESTDIR)$(PREFIX)/bin/stagerun
	./target/release/stagerun man --dir $(DESTDIR)$(PREFIX)/share/man/man1
	./target/release/stagerun completions bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/stagerun
	./target/release/stagerun completions zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_stagerun
	./target/release/stagerun completions fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/stagerun.fish

clean:
	$(CARGO) clean
