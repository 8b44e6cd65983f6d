# strata — build, test, demo, bench.  See README.md.
#
#   make                      build build/strata
#   make check                unit tests (plain and ASan+UBSan), fuzz corpora, integration tests
#   make SANITIZE=address,undefined check
#   make fuzz CC=clang        run every libFuzzer target for FUZZ_SECONDS each
#   make demo                 loopback registry + busybox image -> pull -> mount -> run
#   make bench                strata side by side with kernel overlayfs, fuse-overlayfs, skopeo+umoci
#   make deps                 install Debian packages (scripts/deps.sh)
#   make install [PREFIX=/usr/local] [DESTDIR=]   strata, strata-fsd, strata-overlayfs, man page, completions
#   make uninstall [PREFIX=...] [DESTDIR=]

CC ?= gcc
PYTHON ?= /usr/bin/python3
PKGS := fuse3 libarchive libcurl jansson libssl libcrypto libzstd zlib libisal
SANITIZE ?=
BUILD ?= build$(if $(SANITIZE),-san)

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes -Wno-unused-parameter
CFLAGS ?= -O2 -g
override CFLAGS += -std=gnu11 $(WARN) -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I. \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null) -MMD -MP
LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lutil
# The flags above are read when make parses this file: on a fresh machine
# that is before `make deps` has installed the -dev packages.  So the README's
# targets install the packages first and then build in a second make, which
# parses this file again; a bare `make` without them says what is missing.
PKGS_OK := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes)
ifneq ($(SANITIZE),)
override CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
override LDFLAGS += -fsanitize=$(SANITIZE)
endif

.DEFAULT_GOAL := all

# Modules, in link order (a module may use only those after it).
MODULES := containerfile pack fs unpack fetch store util
define module_rules
$(1)_SRC := $$(wildcard $(1)/*.c)
$(1)_OBJ := $$($(1)_SRC:%.c=$(BUILD)/%.o)
$(BUILD)/lib$(1).a: $$($(1)_OBJ)
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call module_rules,$(m))))
ARCHIVES := $(foreach m,$(MODULES),$(BUILD)/lib$(m).a)

# cli/ is an archive too (all but main.c), so unit tests can reach its pure logic.
CLI_SRC := $(filter-out cli/main.c cli/fsd.c,$(wildcard cli/*.c))
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
$(BUILD)/libcli.a: $(CLI_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
ARCHIVES := $(BUILD)/libcli.a $(ARCHIVES)

UNIT_SRC := $(wildcard tests/unit/test-*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_LIB := $(BUILD)/tests/tap.o

FUZZ_SRC := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_RUN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 60

.PHONY: install uninstall man completions all deps check check-built unit unit-san fuzz-corpus integration fuzz demo bench clean pkgs-present
all: pkgs-present $(BUILD)/strata $(BUILD)/strata-overlayfs $(BUILD)/strata-fsd

pkgs-present:
ifneq ($(PKGS_OK),yes)
	@echo "make: the libraries' -dev packages are missing (pkg-config: $(PKGS)); run 'make deps' (or 'make demo' / 'make check', which run it)" >&2; exit 1
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# The build's git commit for `strata version` ("unknown" outside a checkout);
# the stamp file changes only when the commit does, and rebuilds cmd-version.o.
GIT_COMMIT := $(shell git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)
$(BUILD)/cli/cmd-version.o: override CFLAGS += -DSTRATA_GIT_COMMIT='"$(GIT_COMMIT)"'
$(BUILD)/cli/cmd-version.o: $(BUILD)/git-commit
$(BUILD)/git-commit: FORCE
	@mkdir -p $(@D)
	@echo '$(GIT_COMMIT)' | cmp -s - $@ || echo '$(GIT_COMMIT)' > $@
FORCE:

$(BUILD)/strata: $(BUILD)/cli/main.o $(ARCHIVES)
	$(CC) $(LDFLAGS) -o $@.tmp $(BUILD)/cli/main.o $(ARCHIVES) $(LIBS) && mv -f $@.tmp $@

# The mount daemon on its own (cli/fsd.c): fs/ and util/ only, so that with
# --as-needed it loads libfuse and libc and none of the other libraries.
$(BUILD)/strata-fsd: $(BUILD)/cli/fsd.o $(BUILD)/libfs.a $(BUILD)/libutil.a
	$(CC) $(LDFLAGS) -Wl,--as-needed -o $@.tmp $< $(BUILD)/libfs.a $(BUILD)/libutil.a $(LIBS) && mv -f $@.tmp $@

$(BUILD)/strata-overlayfs: $(BUILD)/strata
	ln -sf strata $@

$(BUILD)/tests/tap.o: tests/unit/tap.c tests/unit/tap.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/test-%: tests/unit/test-%.c $(UNIT_LIB) $(ARCHIVES)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(UNIT_LIB) $(ARCHIVES) $(LIBS)

# Fuzz targets: under `make check` each runs once over its corpus through a
# plain driver (tests/fuzz/driver.c); `make fuzz CC=clang` links libFuzzer.
$(BUILD)/fuzz/fuzz-%: tests/fuzz/fuzz-%.c tests/fuzz/driver.c $(ARCHIVES)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/driver.c $(ARCHIVES) $(LIBS)

deps:
	@scripts/deps.sh

# ------------------------------------------------------------- install
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d

# strata(1) from its scdoc source; the completion scripts from the binary
# (they are made from its command table, see cli/completion.c).
man: $(BUILD)/strata.1
$(BUILD)/strata.1: doc/strata.1.scd
	@mkdir -p $(@D)
	@command -v scdoc >/dev/null || { echo "make: scdoc is missing: run 'make deps'" >&2; exit 1; }
	scdoc < $< > $@.tmp && mv -f $@.tmp $@
completions: $(BUILD)/completion/strata.bash $(BUILD)/completion/strata.fish
$(BUILD)/completion/strata.%: $(BUILD)/strata
	@mkdir -p $(@D)
	$(BUILD)/strata completion $* > $@.tmp && mv -f $@.tmp $@

install: all man completions
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 0755 $(BUILD)/strata $(BUILD)/strata-fsd $(DESTDIR)$(BINDIR)/
	ln -sf strata $(DESTDIR)$(BINDIR)/strata-overlayfs
	install -m 0644 $(BUILD)/strata.1 $(DESTDIR)$(MANDIR)/man1/strata.1
	install -m 0644 $(BUILD)/completion/strata.bash $(DESTDIR)$(BASHCOMPDIR)/strata
	install -m 0644 $(BUILD)/completion/strata.fish $(DESTDIR)$(FISHCOMPDIR)/strata.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/strata $(DESTDIR)$(BINDIR)/strata-fsd $(DESTDIR)$(BINDIR)/strata-overlayfs \
		$(DESTDIR)$(MANDIR)/man1/strata.1 $(DESTDIR)$(BASHCOMPDIR)/strata $(DESTDIR)$(FISHCOMPDIR)/strata.fish

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

unit-san:
	$(MAKE) SANITIZE=address,undefined unit fuzz-corpus

fuzz-corpus: $(FUZZ_RUN)
	@set -e; for f in $(FUZZ_RUN); do n=$${f##*/fuzz-}; echo "== $$f tests/fuzz/corpus/$$n"; \
		$$f tests/fuzz/corpus/$$n; done

integration: all
	STRATA_BIN=$(abspath $(BUILD)/strata) $(PYTHON) -m pytest -q -ra tests/integration $(PYTEST_ARGS)

# deps first, then a second make that reads the pkg-config flags afresh.
check: deps
	@$(MAKE) --no-print-directory check-built
check-built: all unit fuzz-corpus $(if $(SANITIZE),,unit-san) integration

fuzz:
	$(MAKE) CC=clang BUILD=build-fuzz SANITIZE=fuzzer,address,undefined fuzz-build
	@set -e; for f in tests/fuzz/fuzz-*.c; do n=$$(basename $$f .c); n=$${n#fuzz-}; \
		mkdir -p build-fuzz/corpus/$$n; \
		build-fuzz/fuzz-$$n -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus/$$n tests/fuzz/corpus/$$n; done

fuzz-build: $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/%)
$(BUILD)/fuzz-%: tests/fuzz/fuzz-%.c $(ARCHIVES)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(ARCHIVES) $(LIBS)

demo: deps
	@$(MAKE) --no-print-directory all
	scripts/demo.sh

# BENCH_ARGS: e.g. --quick; pull rows (bench-pull.py), image rows (bench-images.py),
# build rows (bench-build.py), then filesystem rows (bench.sh)
bench: deps
	@$(MAKE) --no-print-directory all
	scripts/bench-pull.py $(BENCH_ARGS)
	scripts/bench-images.py $(BENCH_ARGS)
	scripts/bench-rootless.py $(BENCH_ARGS)
	scripts/bench-build.py $(BENCH_ARGS)
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh $(BENCH_ARGS); fi

clean:
	rm -rf build build-san build-fuzz

-include $(shell find build build-san -name '*.d' 2>/dev/null)
