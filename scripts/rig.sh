#!/usr/bin/env bash
# Boots the patched kernel (L1) on an emulated machine whose CPU virtualizes,
# so that KVM runs for real, and runs the scenarios named on the command
# line (tests/rig/<name>.sh) inside it:
#   vmx (default): Bochs' Skylake-X CPU, with VMX, for kvm_intel;
#   svm (--svm):   QEMU's TCG with -cpu max, which has SVM and nested
#                  paging, for kvm_amd; three times faster than Bochs.
# Each scenario reports KX-RESULT lines on the serial console; this script
# turns them into pass/fail and exits non-zero if anything failed or the
# machine never finished.  No root needed: the initramfs comes from the
# kernel's gen_init_cpio, Bochs' boot disk from mkfs.vfat, syslinux, mtools.
#
# With --debug, L1 and L2 run the debug kernel (KASAN; make debug-kernel);
# with --bench, the benchmark kernel (make bench-kernel).
#
# Usage: scripts/rig.sh [--svm] [--debug|--bench] SCENARIO...
#        e.g. scripts/rig.sh kselftest
# Env:   RIG_TIMEOUT (s, default 900), KDIR (default build/linux)
set -euo pipefail
. "$(dirname "$0")/common.sh"

machine=vmx
module=$REPO/rust/kvm_exitstat.ko
kernel=kernel
variant=
selftest=$KDIR/tools/testing/selftests/kvm/x86_64/exit_stats_test
while [ $# -gt 0 ]; do
	case $1 in
	--svm) machine=svm ;;
	--debug | --bench)
		variant=-${1#--}
		KDIR=$BUILD/linux$variant
		module=$BUILD/module$variant/rust/kvm_exitstat.ko
		kernel="${1#--} kernel"
		;;
	*) break ;;
	esac
	shift
done
[ $# -gt 0 ] || die "usage: scripts/rig.sh [--svm] [--debug|--bench] SCENARIO... (see tests/rig/)"
rig_pkgs="apt-get install bochs bochsbios vgabios syslinux mtools dosfstools busybox-static qemu-system-x86"
if [ $machine = vmx ]; then
	for tool in bochs syslinux mcopy mkfs.vfat; do need_cmd "$tool" "$rig_pkgs"; done
	[ -f /usr/share/bochs/BIOS-bochs-latest ] || die "Bochs BIOS not found: $rig_pkgs"
	[ -f /usr/share/vgabios/vgabios.bin ] || die "VGA BIOS not found: $rig_pkgs"
else
	need_cmd qemu-system-x86_64 "$rig_pkgs"
	[ -f /usr/share/seabios/bios-256k.bin ] || die "SeaBIOS not found: $rig_pkgs"
fi
busybox=/bin/busybox
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || die "$busybox is not static: $rig_pkgs"
scenarios=()
for t in "$@"; do
	[ -f "$REPO/tests/rig/$t.sh" ] || die "no scenario tests/rig/$t.sh"
	scenarios+=("$REPO/tests/rig/$t.sh")
done

bzimage=$KDIR/arch/x86/boot/bzImage
exitstat=$BUILD/exitstat
[ -f "$bzimage" ] || die "no kernel at $bzimage: run 'make ${variant#-}${variant:+-}kernel'"
[ -x "$KDIR/usr/gen_init_cpio" ] || die "no $KDIR/usr/gen_init_cpio: run 'make ${variant#-}${variant:+-}kernel'"
[ -f "$module" ] || die "no $module: run 'make ${variant#-}${variant:+-}module'"
# The module's sources: its crate root and the modules it declares.
sources=("$REPO/rust/kvm_exitstat.rs" $(sed -n "s|^pub mod \([a-z_]*\);|$REPO/rust/\1.rs|p" "$REPO/rust/kvm_exitstat.rs"))
[ -z "$(find "${sources[@]}" -newer "$module")" ] || die "$module is older than its sources in rust/: run 'make ${variant#-}${variant:+-}module'"
[ -x "$exitstat" ] || die "no $exitstat: run 'make exitstat'"

# A scenario that needs vCPUs and module unloads to race asks for 2 CPUs.
cpus=1
grep -q '^# rig: .*cpus=2' "${scenarios[@]}" && cpus=2
name=$machine$variant-$(IFS=-; echo "$*")
run=$BUILD/rig/$name
rm -rf "$run"
mkdir -p "$run"/l1/{bin,dev,proc,sys,tmp,lib/modules,tests}

# --- the L1 initramfs
cpio_spec() { # staging dir
	local dir=$1 p
	echo "nod /dev/console 0600 0 0 c 5 1"
	(cd "$dir" && find . -mindepth 1 | LC_ALL=C sort) | while read -r p; do
		p=${p#.}
		if [ -L "$dir$p" ]; then
			echo "slink $p $(readlink "$dir$p") 0777 0 0"
		elif [ -d "$dir$p" ]; then
			echo "dir $p 0755 0 0"
		else
			echo "file $p $dir$p $(stat -c %a "$dir$p") 0 0"
		fi
	done
}
cp "$busybox" "$run/l1/bin/busybox"
ln -s busybox "$run/l1/bin/sh"
cp "$exitstat" "$run/l1/bin/"
cp "$REPO/tests/rig/init" "$run/l1/init"
cp "$REPO"/tests/rig/*.sh "$run/l1/tests/"
cp "$KDIR/virt/lib/irqbypass.ko" "$KDIR/arch/x86/kvm/kvm.ko" "$KDIR/arch/x86/kvm/kvm-intel.ko" \
	"$KDIR/arch/x86/kvm/kvm-amd.ko" "$module" "$run/l1/lib/modules/"
if grep -q exit_cost "${scenarios[@]}"; then
	[ -x "$BUILD/exit_cost" ] || die "no $BUILD/exit_cost: run 'make bench'"
	cp "$BUILD/exit_cost" "$run/l1/bin/"
fi
if grep -q vm_churn "${scenarios[@]}"; then
	[ -x "$BUILD/vm_churn" ] || die "no $BUILD/vm_churn: run 'make build/vm_churn'"
	cp "$BUILD/vm_churn" "$run/l1/bin/"
fi
if grep -q bpf_exits "${scenarios[@]}"; then
	offsets=$BUILD/offsets-$(basename "$KDIR")
	[ -x "$BUILD/bpf_exits" ] || die "no $BUILD/bpf_exits: run 'make build/bpf_exits'"
	[ -s "$offsets/vmx_exit_reason" ] || die "no $offsets/vmx_exit_reason: run 'KDIR=$KDIR scripts/build-offsets.sh'"
	cp "$BUILD/bpf_exits" "$run/l1/bin/"
	cp "$offsets/vmx_exit_reason" "$run/l1/lib/vmx_exit_reason_offset"
fi
if grep -q reload "${scenarios[@]}"; then
	[ -x "$BUILD/reload" ] || die "no $BUILD/reload: run 'make build/reload'"
	cp "$BUILD/reload" "$run/l1/bin/"
fi
if grep -q exit_stats_test "${scenarios[@]}"; then
	[ -x "$selftest" ] || die "no $selftest: run 'make selftests'"
	cp "$selftest" "$run/l1/bin/"
fi

# Copies programs with the shared libraries they load.
copy_with_libs() { # root, program...
	local root=$1 f lib
	shift
	for f in "$@"; do
		for lib in "$f" $(ldd "$f" | grep -o '/[^ ]*'); do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	done
}

# An L2 guest for the scenarios that say so: QEMU (with KVM) in L1, and the
# same kernel with a busybox and Debian's cpuid as L2.
if grep -q '^# rig: l2' "${scenarios[@]}"; then
	for tool in qemu-system-x86_64 cpuid; do need_cmd "$tool" "$rig_pkgs qemu-system-x86 cpuid"; done
	mkdir -p "$run"/l2/{bin,dev,proc,sys,tmp} "$run/l1/l2" "$run/l1/usr/share/qemu"
	cp "$busybox" "$exitstat" "$run/l2/bin/"
	ln -s busybox "$run/l2/bin/sh"
	cp "$REPO/tests/rig/l2-init" "$run/l2/init"
	copy_with_libs "$run/l2" "$(command -v cpuid)"
	cpio_spec "$run/l2" >"$run/l2.spec"
	"$KDIR/usr/gen_init_cpio" "$run/l2.spec" >"$run/l1/l2/initrd.img"
	cp "$bzimage" "$run/l1/l2/bzImage"
	copy_with_libs "$run/l1" "$(command -v qemu-system-x86_64)"
	mv "$run/l1$(command -v qemu-system-x86_64)" "$run/l1/bin/"
	cp /usr/share/seabios/bios-256k.bin /usr/share/qemu/linuxboot_dma.bin \
		/usr/share/qemu/kvmvapic.bin "$run/l1/usr/share/qemu/"
fi

cpio_spec "$run/l1" >"$run/l1.spec"
"$KDIR/usr/gen_init_cpio" "$run/l1.spec" >"$run/initrd.img"

# Expedited RCU grace periods: every unload waits for a few, and at HZ=100 a
# normal one lasts jiffies, which on an emulator are long (an unload took
# 0.4 s instead of 0.1 s on the SVM machine's debug kernel).  The module's
# synchronize_rcu() calls mean the same either way.
cmdline="console=ttyS0,115200 panic=-1 oops=panic loglevel=4 rcupdate.rcu_expedited=1 kx.tests=$(IFS=,; echo "$*")"

# Bochs boots from a disk: FAT with syslinux, sized to whole cylinders (16
# heads, 63 sectors).
bochs_prepare() {
	cat >"$run/syslinux.cfg" <<-CFG
	DEFAULT l1
	PROMPT 0
	TIMEOUT 0
	LABEL l1
	  KERNEL bzimage
	  INITRD initrd.img
	  APPEND $cmdline
	CFG
	bytes=$(($(stat -c %s "$bzimage") + $(stat -c %s "$run/initrd.img") + 8 * 1024 * 1024))
	cylinders=$(((bytes + 516095) / 516096))
	disk=$run/disk.img
	truncate -s $((cylinders * 516096)) "$disk"
	mkfs.vfat -n KX "$disk" >/dev/null
	syslinux --install "$disk"
	mcopy -i "$disk" "$bzimage" ::/bzimage
	mcopy -i "$disk" "$run/initrd.img" ::/initrd.img
	mcopy -i "$disk" "$run/syslinux.cfg" ::/syslinux.cfg

	cat >"$run/bochsrc" <<-RC
	memory: guest=1536, host=1536
	cpu: model=corei7_skylake_x, count=$cpus, ips=100000000, reset_on_triple_fault=0
	romimage: file=/usr/share/bochs/BIOS-bochs-latest
	vgaromimage: file=/usr/share/vgabios/vgabios.bin
	ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
	ata0-master: type=disk, path=$disk, mode=flat, cylinders=$cylinders, heads=16, spt=63
	boot: disk
	clock: sync=none, time0=utc
	display_library: rfb, options="timeout=0"
	com1: enabled=1, mode=file, dev=$run/serial.log
	plugin_ctrl: speaker=0, gameport=0, parallel=0, iodebug=0
	sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
	mouse: enabled=0
	usb_uhci: enabled=0
	log: $run/bochs.log
	panic: action=fatal
	error: action=report
	info: action=ignore
	debug: action=ignore
	RC
	printf 'c\nquit\n' >"$run/bochs.cmds"
}

# --- boot, and wait for the machine to finish
locale=${LC_ALL:-${LC_CTYPE:-${LANG:-none}}}
: >"$run/serial.log"
if [ $machine = vmx ]; then
	bochs_prepare
	step "booting L1 ($kernel) on Bochs (corei7_skylake_x with VMX, $cpus CPU, locale $locale): $*; console: $run/serial.log"
	rm -f "$disk.lock"
	(cd "$run" && exec bochs -q -f bochsrc -rc bochs.cmds </dev/null >bochs.out 2>&1) &
else
	# One host thread for all vCPUs: QEMU 7.2's multi-threaded TCG can run
	# a stale translation of kernel text that another vCPU patches live
	# (it oopsed on a static key's int3 in kvm_cpuid() that text_poke_bp()
	# had already removed).
	step "booting L1 ($kernel) on QEMU TCG (-cpu max with SVM, $cpus CPU, locale $locale): $*; console: $run/serial.log"
	qemu-system-x86_64 -accel tcg,thread=single -cpu max -smp "$cpus" -m 1536 \
		-nodefaults -no-user-config -display none -no-reboot -monitor none \
		-serial "file:$run/serial.log" -kernel "$bzimage" -initrd "$run/initrd.img" \
		-append "$cmdline" </dev/null >"$run/qemu.out" 2>&1 &
fi
emulator_pid=$!
start=$SECONDS
trap 'kill $emulator_pid 2>/dev/null || true' EXIT
timeout=${RIG_TIMEOUT:-900}
outcome=""
while kill -0 $emulator_pid 2>/dev/null; do
	if grep -q '^KX-DONE' "$run/serial.log"; then
		outcome=done
		sleep 2
		break
	elif grep -q 'Failed to execute /init' "$run/serial.log"; then
		outcome="L1 could not run /init: $(grep -m 1 'Failed to execute /init' "$run/serial.log" | tr -d '\r')"
		break
	elif grep -q 'Kernel panic' "$run/serial.log"; then
		outcome="L1 kernel panicked: $(grep -m 1 'Kernel panic' "$run/serial.log" | tr -d '\r')"
		break
	elif [ $((SECONDS - start)) -ge "$timeout" ]; then
		outcome="timed out after $timeout s (last console line: $(tail -n 1 "$run/serial.log" | tr -d '\r'))"
		break
	fi
	sleep 1
done
status=0
if [ -n "$outcome" ]; then
	kill $emulator_pid 2>/dev/null || true
	wait $emulator_pid 2>/dev/null || true
else
	wait $emulator_pid || status=$?
fi
[ $machine = svm ] || rm -f "$disk.lock"

# Why the emulator stopped by itself: its own last error (glibc's abort
# message, a PANIC from a Bochs device model), else the console's last line.
emulator_error() {
	local why out=$run/qemu.out
	[ $machine = svm ] || out=$run/bochs.out
	why=$(grep -a -E '\*\*\*|PANIC|[Ee]rror|[Aa]bort|[Ff]atal|terminated|Segmentation' "$out" 2>/dev/null | tail -n 1)
	[ -n "$why" ] || [ $machine = svm ] || why=$(grep -a -m 1 '>>PANIC<<' "$run/bochs.log" 2>/dev/null)
	[ -n "$why" ] || why="last console line: $(tail -n 1 "$run/serial.log")"
	echo "$why" | tr -d '\r'
}
if [ -z "$outcome" ]; then
	# The emulator exits by itself when L1 powers off.
	if grep -q '^KX-DONE' "$run/serial.log"; then
		outcome=done
	else
		how=exited
		[ "$status" -eq 0 ] || how="exited with status $status"
		[ "$status" -le 128 ] || how="was killed by SIG$(kill -l $((status - 128)))"
		emulator=QEMU logs="$run/qemu.out"
		[ $machine = svm ] || emulator=Bochs logs="$run/bochs.out, bochs.log"
		outcome="$emulator $how before L1 finished: $(emulator_error) (logs: $logs)"
	fi
fi
elapsed=$((SECONDS - start))

# --- the verdict
sed -n '/^KX-BOOTED/,$p' "$run/serial.log" | tr -d '\r' | grep -v '^KX-' | sed 's/^/    /' || true
pass=0 failed=0
while read -r _ test verdict reason; do
	echo "$verdict $test: $reason"
	case $verdict in
	PASS) pass=$((pass + 1)) ;;
	SKIP) ;;
	*) failed=$((failed + 1)) ;;
	esac
done < <(tr -d '\r' <"$run/serial.log" | grep '^KX-RESULT')
if [ "$outcome" != done ]; then
	echo "FAIL rig: $outcome"
	failed=$((failed + 1))
fi
for t in "$@"; do
	grep -q "^KX-TEST $t" "$run/serial.log" || { echo "FAIL $t: never ran"; failed=$((failed + 1)); }
done
echo "rig ($*): ${elapsed} s"
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
