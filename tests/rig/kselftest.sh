# The kselftest exit_stats_test: SKIP without the module, PASS with it.
KX_NAME=kselftest-skip
/bin/exit_stats_test >/tmp/skip.out 2>&1
rc=$?
sed 's/^/  /' /tmp/skip.out
[ $rc -eq 4 ] || fail "without kvm_exitstat: exit code $rc, expected 4 (KSFT_SKIP)"
result $KX_NAME PASS "reports SKIP without the module"

# Without a vendor module that reports exits, the module refuses to load
# rather than serve figures that stay at zero.
KX_NAME=needs-vendor
rmmod $VENDOR_MODULE || fail "rmmod $VENDOR_MODULE failed"
if insmod /lib/modules/kvm_exitstat.ko 2>/tmp/insmod.err; then
	fail "kvm_exitstat loaded without $VENDOR_MODULE"
fi
why=$(dmesg | grep -m 1 'kvm_exitstat: .*vendor module')
[ -n "$why" ] || fail "no dmesg line says why: $(cat /tmp/insmod.err)"
insmod $VENDOR_KO || fail "insmod $VENDOR_KO failed"
result $KX_NAME PASS "refused without $VENDOR_MODULE: ${why#*kvm_exitstat: }"

KX_NAME=kselftest
load_exitstat
# Shown as it runs, so that a hang shows where.
{
	/bin/exit_stats_test 2>&1
	echo $? >/tmp/test.rc
} | tee /tmp/test.out | sed 's/^/  /'
rc=$(cat /tmp/test.rc)
[ $rc -eq 0 ] || fail "exit code $rc: $(grep -m 1 '^not ok' /tmp/test.out)"
grep -q '^# Totals: pass:31 fail:0' /tmp/test.out || fail "not all 31 cases passed"
result $KX_NAME PASS "$(grep -E '^# (.*round pairs matched|every round:|ECX sweep|emulated CPUID|nested RDTSC|two vCPUs:)' /tmp/test.out | sed 's/^# //' | tr '\n' ';')"
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
