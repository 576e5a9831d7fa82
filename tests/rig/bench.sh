# What counting costs, side by side with tracing and BPF: guest-visible TSC
# cycles per exit (tests/bench/exit_cost.c) of two kinds, a CPUID, which KVM
# handles in its full exit path, and an x2APIC ICR write, which it handles
# in its fastpath, each
#   - with nothing loaded (the hook's static branch off),
#   - with kvm_exitstat loaded,
#   - with the kvm_exit and kvm_entry trace events on, into ftrace's ring
#     buffer (what perf kvm stat record and trace-cmd pay in the kernel),
#   - with a BPF program counting exits per reason in a per-CPU array on
#     kvm_exit, as a tracepoint and as a raw tracepoint program
#     (tests/bench/bpf_exits.c; BCC kvmexit's two ways).
# Each cell is the median of 5 runs of 10000 exits (4000 on the rig
# kernel), with min and max.  Each setup must have seen every exit: the
# module's table, the trace buffer and the BPF counts are checked.  On Bochs the TSC follows the instruction
# count: these are emulated instruction cycles, to be read as ratios.
KX_NAME=bench
[ $VENDOR = vmx ] || fail "the bench runs on the VMX machine"
# The rig kernel's run in make test checks the figures; Bochs repeats them
# to the cycle, so fewer exits per run do.  The benchmark kernel's are the
# README's.
if [ -e /proc/lockdep ]; then exits=4000; else exits=10000; fi
runs=5
tracing=/sys/kernel/tracing
mount -t tracefs nodev $tracing 2>/dev/null
[ -f $tracing/events/kvm/kvm_exit/enable ] || fail "no kvm:kvm_exit trace event: the kernel lacks CONFIG_FTRACE"
offset=$(cat /lib/vmx_exit_reason_offset) || fail "no /lib/vmx_exit_reason_offset"

# Runs exit_cost for one exit kind, with a prefix command; sets MEDIAN and
# CELL (median, min, max).
measure() { # kind (cpuid|icr), prefix...
	local kind=$1 out
	shift
	out=$("$@" exit_cost $([ "$kind" = icr ] && echo --icr) $exits $runs 2>/tmp/bench.err) ||
		fail "exit_cost ($kind, $*) failed: $out $(cat /tmp/bench.err)"
	set -- $(echo "$out" | sed -n 's/.*median \([0-9]*\) TSC cycles per exit (min \([0-9]*\), max \([0-9]*\)).*/\1 \2 \3/p')
	[ $# -eq 3 ] || fail "no median in '$out'"
	MEDIAN=$1 CELL="$1 ($2-$3)"
}

# The exits of reason $2 that bpf_exits printed in $1.
bpf_counted() {
	sed -n "s/.* $2:\([0-9]*\).*/\1/p" "$1"
}

for kind in cpuid icr; do
	if [ $kind = cpuid ]; then reason=10 name=CPUID; else reason=32 name="x2APIC ICR write"; fi
	# exit_cost's own exits of that reason: the ICR guest's first WRMSR
	# switches its APIC to x2APIC mode.
	expected=$((exits * runs + $([ $kind = icr ] && echo $runs || echo 0)))

	measure $kind
	base=$MEDIAN
	row="$(printf '%-18s %-16s' "$name" "$CELL")"

	load_exitstat
	echo 1 >/sys/kernel/debug/kvm_exitstat/reset
	measure $kind
	set -- $(table_row /sys/kernel/debug/kvm_exitstat/stats $reason)
	rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
	[ "$1" -eq $expected ] || fail "kvm_exitstat counted $1 $name exits, exit_cost made $expected"
	module=$MEDIAN
	row="$row $(printf '%-16s' "$CELL")"

	echo >$tracing/trace
	echo 1 >$tracing/events/kvm/kvm_exit/enable
	echo 1 >$tracing/events/kvm/kvm_entry/enable
	measure $kind
	echo 0 >$tracing/events/kvm/kvm_exit/enable
	echo 0 >$tracing/events/kvm/kvm_entry/enable
	traced=$(grep -c "kvm_exit: vcpu 0 reason" $tracing/trace)
	[ "$traced" -gt 0 ] || fail "the kvm_exit trace event recorded nothing"
	echo >$tracing/trace
	ftrace=$MEDIAN
	row="$row $(printf '%-16s' "$CELL")"

	measure $kind bpf_exits tp
	counted=$(bpf_counted /tmp/bench.err $reason)
	[ "$counted" = $expected ] || fail "the tracepoint program counted '$counted' $name exits, exit_cost made $expected: $(cat /tmp/bench.err)"
	bpf_tp=$MEDIAN
	row="$row $(printf '%-16s' "$CELL")"

	measure $kind bpf_exits raw:$offset
	counted=$(bpf_counted /tmp/bench.err $reason)
	[ "$counted" = $expected ] || fail "the raw tracepoint program counted '$counted' $name exits, exit_cost made $expected: $(cat /tmp/bench.err)"
	bpf_raw=$MEDIAN
	row="$row $CELL"

	eval "table_$kind=\$row"
	eval "added_$kind='$((module - base)) $((bpf_raw - base)) $((bpf_tp - base)) $((ftrace - base))'"
done

if [ -e /proc/lockdep ]; then kernel="the rig kernel (lockdep, kmemleak)"; else kernel="the benchmark kernel"; fi
echo "bench: cycles per exit on $kernel, median (min-max) of $runs runs of $exits exits:"
echo "bench: $(printf '%-18s %-16s %-16s %-16s %-16s %s' exit 'nothing loaded' kvm_exitstat 'ftrace events' 'BPF tracepoint' 'BPF raw tp')"
echo "bench: $table_cpuid"
echo "bench: $table_icr"
set -- $added_cpuid
summary="+$1 cycles per CPUID exit with kvm_exitstat, +$2 with a BPF raw tracepoint counter, +$3 with a BPF tracepoint counter, +$4 with the ftrace events"
set -- $added_icr
summary="$summary; per x2APIC ICR write: +$1, +$2, +$3, +$4"
echo "bench: $summary"
result $KX_NAME PASS "$summary"
