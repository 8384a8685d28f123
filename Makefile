# A thin wrapper over Meson. `make test` and `make run` install what is
# missing (Debian, as root), build, then test or run.
BUILD    ?= build
FUZZDIR  ?= build-fuzz
FUZZTIME ?= 60
MESON    ?= meson
BENCHFLAGS ?=

.PHONY: all deps build test run fuzz bench clean

all: build

deps:
	@scripts/deps test

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD)

build: $(BUILD)/build.ninja
	$(MESON) compile -C $(BUILD)

test: deps
	@$(MAKE) --no-print-directory build
	$(MESON) test -C $(BUILD) --print-errorlogs

run: deps
	@$(MAKE) --no-print-directory build
	$(BUILD)/src/mxtlsd/mxtlsd

# Each libFuzzer target for FUZZTIME seconds, from its committed corpus.
fuzz:
	@scripts/deps fuzz
	@[ -f $(FUZZDIR)/build.ninja ] || CC=clang $(MESON) setup $(FUZZDIR) -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false
	$(MESON) compile -C $(FUZZDIR)
	@scripts/fuzz-run $(FUZZDIR) $(FUZZTIME)

# mxtlsd beside postfix-mta-sts-resolver and a no-work floor (bench/README.md).
bench: deps
	bench/run $(BENCHFLAGS)

clean:
	rm -rf $(BUILD) $(FUZZDIR)
