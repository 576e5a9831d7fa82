# kvm-exitstat: see README.md.  The module itself is built by Kbuild
# (make -C $(KDIR) M=$(CURDIR)); this Makefile drives everything else.

KDIR ?= $(CURDIR)/build/linux
export KDIR
# Our own kernel tree is built on demand; a tree given with KDIR= is the user's.
OWN_KERNEL := $(if $(filter $(CURDIR)/build/linux,$(KDIR)),kernel)

.PHONY: all kernel module exitstat clippy selftests host-test check demo bench test clean
.NOTPARALLEL:

all: module

kernel:
	scripts/build-kernel.sh

module: $(OWN_KERNEL)
	scripts/build-module.sh

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

# What counting costs per exit, on the emulated machine.
bench: module exitstat build/exit_cost
	scripts/rig.sh bench

build/exit_cost: tests/bench/exit_cost.c
	mkdir -p build
	$(CC) -static -O2 -Wall -Wextra -o $@ $<

build/vm_churn: tests/rig/vm_churn.c
	mkdir -p build
	$(CC) -static -O2 -Wall -Wextra -pthread -o $@ $<

# The emulator must not depend on the caller's locale: one machine runs in
# a UTF-8 locale, the other in the C locale; side by side on two cores.
test: host-test check clippy exitstat selftests build/exit_cost build/vm_churn
	scripts/rigs.sh C.UTF-8 'kselftest seed knobs churn bench' C unload

clean:
	rm -rf build target
	rm -f rust/*.o rust/*.ko rust/*.mod rust/*.mod.c rust/.*.cmd rust/modules.order \
		rust/.*.d Module.symvers modules.order .*.cmd
