# SPDX-License-Identifier: Apache-2.0
# Thin wrapper over cmake and scripts/. `make` alone prints help.

BUILD       ?= build
BUILD_ASAN  ?= build-asan
BUILD_FUZZ  ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=

.DEFAULT_GOAL := help
.PHONY: help deps deps-puppet test-puppet package image image-test kernel-matrix build build-asan build-fuzz test fuzz test-unit test-bpf test-e2e test-asan soak demo bench format lint clean

help: ## Show this help
	@echo "synwatch — XDP SYN counting exporter"
	@echo
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps: ## Install the Debian packages the build, tests and demo need (root)
	@sh scripts/deps.sh

deps-puppet: ## Install what the Puppet module checks need (root)
	@sh scripts/puppet-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DSYNWATCH_WERROR=ON $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt ## Build synwatch and its tests (-Werror)
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD_ASAN)/CMakeCache.txt:
	cmake -S . -B $(BUILD_ASAN) -DSYNWATCH_SANITIZE=ON -DSYNWATCH_WERROR=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)

build-asan: deps $(BUILD_ASAN)/CMakeCache.txt ## Build with AddressSanitizer + UBSan
	cmake --build $(BUILD_ASAN) -j $(JOBS)

$(BUILD_FUZZ)/CMakeCache.txt:
	CC=clang CXX=clang++ cmake -S . -B $(BUILD_FUZZ) -DSYNWATCH_FUZZ=ON -DSYNWATCH_TESTS=OFF $(CMAKE_FLAGS)

build-fuzz: deps $(BUILD_FUZZ)/CMakeCache.txt ## Build the libFuzzer harnesses (clang)
	cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzzers

test: build build-asan build-fuzz ## Run every test CI runs (root for BPF and e2e tests)
	sh scripts/test.sh $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)

test-unit: build ## Unit tests only (no privileges)
	cd $(BUILD) && ctest -L unit --output-on-failure

test-bpf: build ## BPF packet tests (BPF_PROG_TEST_RUN, root)
	cd $(BUILD) && ctest -L bpf --output-on-failure

test-e2e: build ## End-to-end tests in network namespaces (root)
	cd $(BUILD) && ctest -L e2e --output-on-failure

test-puppet: build ## Puppet module checks and rspec-puppet
	SYNWATCH_BIN=$(CURDIR)/$(BUILD)/synwatch bash tests/puppet/run.sh

test-asan: build-asan ## Unit, BPF and e2e tests under ASan+UBSan
	cd $(BUILD_ASAN) && ctest --output-on-failure

fuzz: build-fuzz ## Fuzz each harness for FUZZ_SECONDS (60) over a kept copy of its seeds
	sh scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

SOAK_SECONDS ?= 600
soak: build ## Hostile HTTP clients for SOAK_SECONDS (600); fails if memory grows (root)
	SW_SOAK_SECONDS=$(SOAK_SECONDS) bash tests/e2e/hostile_http_test.sh $(BUILD)/synwatch

demo: build ## Run synwatch in a sandbox with real traffic and show its metrics (root)
	bash scripts/demo.sh $(BUILD)/synwatch

package: ## Build the .deb with dpkg-buildpackage (debian/) and run lintian on it
	sh scripts/package.sh

image: ## Bake the qcow2 VM image with Packer (base image built locally, cached)
	bash scripts/image/image.sh

image-test: ## Build, bake and boot the image under qemu; test install, upgrade, purge
	bash scripts/image/test.sh

kernel-matrix: build ## Boot Debian's kernels 5.10, 6.1, 6.12 under qemu: BPF suite and e2e in each (root)
	bash tests/kernel-matrix/run.sh $(BUILD)

bench: build ## Benchmarks; figures in build/bench/results.json
	bash tests/bench/run.sh $(BUILD)

format: ## Reformat C++ and BPF C with clang-format
	clang-format -i exporter/*.cc exporter/*/*.cc exporter/*/*.h tests/unit/*.cc tests/bpf/*.cc tests/bpf/*.h bpf/*.c bpf/*.h tests/bench/*.c tests/bench/tools/*.cc tests/fuzz/*.cc tests/fuzz/*.h

lint: build ## clang-format check, clang-tidy, shellcheck
	sh scripts/lint.sh $(BUILD)

clean: ## Remove build trees
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
