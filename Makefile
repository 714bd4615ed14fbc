# mcs build: one Makefile, wildcard module lists, -MMD dependencies.
#
#   make            build every binary into bin/
#   make test       unit + conformance + integration tests, then the same
#                   unit and integration tests under ASan + UBSan
#   make bench      benchmarks (ratios against peers measured in the same run)
#   make run        install missing packages, build, launch with the default config
#   make deps       install every Debian package the build, tests and benchmarks need
#
# Every stage directory's *.c files (main.c included) link into one binary;
# common/*.c and shm/*.c (less the two shm programs) are static libraries.
# Quiet unless V=1.

CC      ?= gcc
SAN     ?=
BUILD   := build$(if $(SAN),-san,)
BIN     := bin$(if $(SAN),-san,)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT     := $(if $(SAN),-O1 $(SANFLAGS),-O2)
CFLAGS  += -std=gnu11 -g $(OPT) -Wall -Wextra -Werror -Wno-unused-parameter -MMD -MP \
           -D_GNU_SOURCE -I. -pthread
LDFLAGS += $(if $(SAN),$(SANFLAGS),) -pthread
LIBS    := -levent -lcjson -lxxhash -lzstd -lz -lsnappy -lyaml -lpcre2-8 -luring -lm -lrt

ifeq ($(V),1)
Q :=
else
Q := @
endif

DEB_PKGS := build-essential pkg-config liburing-dev libevent-dev libcjson-dev libxxhash-dev \
            libzstd-dev libcmocka-dev libsnappy-dev zlib1g-dev libyaml-dev libpcre2-dev \
            curl python3 procps prometheus victoria-metrics prometheus-node-exporter \
            prometheus-alertmanager

# launch.c and its launchcfg module (which needs common/) are mcs-launch's own.
SHM_PROGS  := shm/launch.c shm/launchcfg.c shm/ringctl.c
SHM_SRC    := $(sort $(filter-out $(SHM_PROGS),$(wildcard shm/*.c)))
COMMON_SRC := $(sort $(wildcard common/*.c))
STAGES     := collector aggregator alerter apiserver
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
TOOL_SRC   := $(sort $(wildcard tests/tools/*.c))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIBSHM    := $(BUILD)/libmcsshm.a
LIBCOMMON := $(BUILD)/libmcscommon.a
STAGE_BINS := $(foreach s,$(STAGES),$(BIN)/mcs-$(s))
PROG_BINS  := $(BIN)/mcs-launch $(BIN)/mcs-ringctl $(BIN)/mcs-promqltest
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BIN)/tests/%,$(UNIT_SRC))
TOOL_BINS  := $(patsubst tests/tools/%.c,$(BIN)/tools/%,$(TOOL_SRC))

.PHONY: all deps test test-unit test-conformance test-integration test-san bench run clean
all: $(STAGE_BINS) $(PROG_BINS) $(UNIT_BINS) $(TOOL_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<",true)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIBSHM): $(call obj,$(SHM_SRC))
	$(Q)rm -f $@ && ar rcs $@ $^
$(LIBCOMMON): $(call obj,$(COMMON_SRC))
	$(Q)rm -f $@ && ar rcs $@ $^

define stage_rule
$(BIN)/mcs-$(1): $(call obj,$(sort $(wildcard $(1)/*.c))) $(LIBCOMMON) $(LIBSHM)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@",true)
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach s,$(STAGES),$(eval $(call stage_rule,$(s))))

$(BIN)/mcs-launch: $(BUILD)/shm/launch.o $(BUILD)/shm/launchcfg.o $(LIBCOMMON) $(LIBSHM)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
$(BIN)/mcs-ringctl: $(BUILD)/shm/ringctl.o $(LIBCOMMON) $(LIBSHM)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
# The PromQL test-file runner (issue 5): the conformance tool under its own name.
$(BIN)/mcs-promqltest: $(BUILD)/tests/tools/conformance_promql.o $(LIBCOMMON) $(LIBSHM)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# A unit test links the libraries plus, when it tests a stage module, that
# stage's objects except its main.c (tests/unit/test_<stage>_*.c).
stage_of = $(firstword $(filter $(STAGES),$(subst _, ,$(patsubst test_%,%,$(1)))))
stage_objs = $(if $(1),$(call obj,$(filter-out $(1)/main.c,$(sort $(wildcard $(1)/*.c)))),)
.SECONDEXPANSION:
$(BIN)/tests/%: $(BUILD)/tests/unit/%.o $$(call stage_objs,$$(call stage_of,%)) $(LIBCOMMON) $(LIBSHM)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka
$(BIN)/tools/%: $(BUILD)/tests/tools/%.o $(LIBCOMMON) $(LIBSHM)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

-include $(shell find build build-san -name '*.d' 2>/dev/null)

deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing:$$missing"; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing; \
	else echo "deps: all packages present"; fi

test: deps
	$(MAKE) all
	$(MAKE) test-unit test-conformance test-integration
	$(MAKE) test-san

test-unit: all
	@scripts/run-tests unit $(BIN)

test-conformance: all
	@scripts/run-tests conformance $(BIN)

test-integration: all
	@scripts/run-tests integration $(BIN)

test-san:
	$(MAKE) SAN=1 all
	@scripts/run-tests unit bin-san
	@scripts/run-tests integration bin-san

bench: deps all
	@scripts/bench

run: deps all
	bin/mcs-launch

clean:
	rm -rf build build-san bin bin-san
