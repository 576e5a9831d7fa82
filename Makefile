# kvm-exitstat: see README.md.  The module itself is built by Kbuild
# (make -C $(KDIR) M=$(CURDIR)); this Makefile drives everything else.

KDIR ?= $(CURDIR)/build/linux
export KDIR
# Our own kernel tree is built on demand; a tree given with KDIR= is the user's.
OWN_KERNEL := $(if $(filter $(CURDIR)/build/linux,$(KDIR)),kernel)

.PHONY: all kernel module debug-kernel debug-module bench-kernel bench-module offsets exitstat \
	clippy selftests host-test check \
	demo demo-amd bench test clean
.NOTPARALLEL:

all: module

kernel:
	scripts/build-kernel.sh

module: $(OWN_KERNEL)
	scripts/build-module.sh

# The same with KASAN, for the rig's debug runs.
debug-kernel:
	scripts/build-kernel.sh debug

debug-module: debug-kernel
	scripts/build-module.sh debug

# Without the debug options, with CPU mitigations: for make bench.
bench-kernel:
	scripts/build-kernel.sh bench

bench-module: bench-kernel
	scripts/build-module.sh bench
	KDIR=$(CURDIR)/build/linux-bench scripts/build-offsets.sh

# Where the rig kernel keeps a VMX exit reason, for the bench's BPF program.
offsets: $(OWN_KERNEL)
	scripts/build-offsets.sh

exitstat:
	scripts/build-exitstat.sh

clippy: $(OWN_KERNEL)
	CLIPPY=1 scripts/build-module.sh

selftests: $(OWN_KERNEL)
	scripts/build-selftests.sh

host-test:
	cargo test --locked
	cargo clippy --locked --all-targets -- -D warnings

check: $(OWN_KERNEL)
	scripts/check-style.sh
	KVM_EXITSTAT_KSRC=$(KDIR) cargo test --locked --test reasons_match_kernel -- --ignored

# The main job: the seed's experiment on the emulated VMX machine.
demo: module exitstat build/exit_cost
	scripts/rig.sh seed

# The same on the emulated SVM machine, with kvm_amd.
demo-amd: module exitstat build/exit_cost
	scripts/rig.sh --svm seed

# What counting costs per exit, beside tracing and BPF, on the emulated
# VMX machine with the benchmark kernel.
bench: bench-module exitstat build/exit_cost build/bpf_exits
	scripts/rig.sh --bench bench
	@grep -a '^bench: +' build/rig/vmx-bench-bench/serial.log

build/exit_cost: tests/bench/exit_cost.c
	mkdir -p build
	$(CC) -static -O2 -Wall -Wextra -o $@ $<

build/bpf_exits: tests/bench/bpf_exits.c
	mkdir -p build
	$(CC) -static -O2 -Wall -Wextra -o $@ $<

build/reload: tests/rig/reload.c
	mkdir -p build
	$(CC) -static -O2 -Wall -Wextra -o $@ $<

build/vm_churn: tests/rig/vm_churn.c
	mkdir -p build
	$(CC) -static -O2 -Wall -Wextra -pthread -o $@ $<

# The emulators must not depend on the caller's locale: the machines run in
# a UTF-8 locale and in the C locale.  Two machines run at a time on two
# cores, the longest first: the 2-CPU VMX machine (Bochs) and the SVM one
# (QEMU) on the debug kernel, then the SVM stress machine and the 1-CPU VMX
# one as cores free up.
test: host-test check clippy exitstat selftests debug-module offsets build/exit_cost \
		build/vm_churn build/reload build/bpf_exits
	scripts/rigs.sh C unload C.UTF-8 '--svm --debug kselftest seed knobs churn' \
		C.UTF-8 '--svm --debug stress' C.UTF-8 'kselftest seed knobs bench'

clean:
	rm -rf build target
	rm -f rust/*.o rust/*.ko rust/*.mod rust/*.mod.c rust/.*.cmd rust/modules.order \
		rust/.*.d Module.symvers modules.order .*.cmd
