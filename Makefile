# turnpike build. `make` builds build/turnpike; `make run`, `make test`, `make bench`.
CC      ?= cc
PKGS    := luajit hiredis yaml-0.1
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation -fno-strict-aliasing \
           -D_GNU_SOURCE $(shell pkg-config --cflags $(PKGS))
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lev -lbearssl -lhttp_parser -lm -ldl
# -E exports tp_ffi_* so the LuaJIT FFI finds them with ffi.C.
LDFLAGS += -Wl,-E

CORE_SRC  := $(filter-out core/main.c,$(wildcard core/*.c))
CORE_OBJ  := $(patsubst core/%.c,build/obj/%.o,$(CORE_SRC))
C_TESTS   := $(patsubst core/test/%.c,build/test/%,$(wildcard core/test/test_*.c))
FUZZ_TARGETS := $(patsubst core/fuzz/%.c,build/fuzz/%,$(wildcard core/fuzz/*.c))
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all deps run test test-c test-lua test-integration bench clean spec asan fuzz

all: build/turnpike

deps:
	@sh vendor/install.sh

# The gateway itself is built with link-time optimization: the core's small helpers (pools,
# buffers, header lists) inline across files (~20% fewer instructions in the core per request).
LTO := -flto=auto

build/obj/%.o: core/%.c core/*.h | build/obj
	$(CC) $(CFLAGS) $(LTO) -c -o $@ $<

# The RSA arithmetic's carry chains run ~25% faster unrolled (bench: 2048-bit public op).
build/obj/tp_rsa.o build/obj/tp_rsa_ifma.o: CFLAGS += -funroll-loops

build/turnpike: build/obj/main.o $(CORE_OBJ)
	$(CC) $(LDFLAGS) $(filter -O%,$(CFLAGS)) $(LTO) -o $@ $^ $(LDLIBS)

build/obj build/test build/asan:
	@mkdir -p $@

# C unit tests: each core/test/test_X.c is built with ASan+UBSan against the core sources.
build/test/%: core/test/%.c $(CORE_SRC) core/*.h core/test/*.h | build/test
	$(CC) $(filter-out -O2,$(CFLAGS)) $(SAN_FLAGS) -Icore -o $@ $< $(CORE_SRC) $(LDLIBS)

run: deps all
	@sh examples/run-quickstart.sh

test: deps all $(C_TESTS) build/asan/turnpike $(FUZZ_TARGETS)
	@sh spec/run-all.sh

test-c: $(C_TESTS)
	@sh spec/run-all.sh c

spec: all
	@build/turnpike spec $(ARGS)

bench: deps all
	@sh bench/run.sh

clean:
	rm -rf build

# The gateway itself under AddressSanitizer + UBSan (used by the integration specs in CI).
ASAN_OBJ := $(patsubst core/%.c,build/asan/%.o,$(CORE_SRC) core/main.c)
build/asan/%.o: core/%.c core/*.h | build/asan
	$(CC) $(filter-out -O2,$(CFLAGS)) $(SAN_FLAGS) -c -o $@ $<
build/asan/turnpike: $(ASAN_OBJ)
	$(CC) $(LDFLAGS) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)
asan: build/asan/turnpike

# Fuzz targets for parsers of untrusted input (libFuzzer); `make fuzz` runs each briefly.
build/fuzz:
	@mkdir -p $@
build/fuzz/%: core/fuzz/%.c $(CORE_SRC) core/*.h core/test/*.h | build/fuzz
	clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icore \
		$(shell pkg-config --cflags $(PKGS)) -o $@ $< $(CORE_SRC) $(LDLIBS)
fuzz: $(FUZZ_TARGETS)
	@for f in $(FUZZ_TARGETS); do mkdir -p build/fuzz/corpus-$$(basename $$f); \
		$$f -max_total_time=$${FUZZ_SECONDS:-20} -max_len=8192 build/fuzz/corpus-$$(basename $$f) \
		2>&1 | tail -n 2 || exit 1; done
