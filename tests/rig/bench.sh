# The cost of counting: guest-visible TSC cycles per CPUID exit without and
# with kvm_exitstat loaded (tests/bench/exit_cost.c; on Bochs the TSC
# follows the instruction count, so these are emulated-instruction cycles).
KX_NAME=bench
without=$(/bin/exit_cost 20000 5) || fail "exit_cost failed: $without"
load_exitstat
with=$(/bin/exit_cost 20000 5) || fail "exit_cost with the module failed: $with"
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
echo "without kvm_exitstat: $without"
echo "with kvm_exitstat:    $with"
median() { echo "$1" | sed -n 's/.*median \([0-9]*\) .*/\1/p'; }
a=$(median "$without") b=$(median "$with")
[ -n "$a" ] && [ -n "$b" ] || fail "no median in '$without' / '$with'"
result $KX_NAME PASS "cycles per CPUID exit: $a without the module, $b with it (+$((b - a)))"
