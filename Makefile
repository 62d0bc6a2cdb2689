# Entry points (README): make demo | make test | make bench.
# Each installs missing Debian packages first, then builds with CMake.
# Two build trees: build/ (optimised) and build-san/ (AddressSanitizer +
# UndefinedBehaviorSanitizer); `make test` runs every test in both.

JOBS ?= $(shell nproc)
BUILD ?= build
SAN ?= build-san

.PHONY: all deps build build-san test test-fast demo bench pcaps clean format check

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-san: deps
	@cmake -S . -B $(SAN) -DCMAKE_BUILD_TYPE=Debug -DDLP_SANITIZE=ON >/dev/null
	@cmake --build $(SAN) -j $(JOBS)

# Regenerates every capture in pcaps/ from its script (they are committed;
# a test checks that the scripts still make the same bytes).
pcaps: deps
	@./pcaps/gen/make-all.sh pcaps

test: build build-san
	@./scripts/check-source.sh
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(SAN) && ctest --output-on-failure -j $(JOBS)

# The optimised tree only: for quick iterations.
test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@./scripts/demo.sh $(BUILD)/dlpsensor

bench: build
	@./bench/run.sh $(BUILD)

# Installs the optimised build (docs/deploy.md): binary, rules, systemd unit,
# man page, example configuration. Prefix: cmake -B build -DCMAKE_INSTALL_PREFIX=...
# (default /usr/local); DESTDIR=DIR stages the files under DIR.
.PHONY: install
install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(SAN)
