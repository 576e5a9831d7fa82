# The kselftest exit_stats_test: SKIP without the module, PASS with it.
KX_NAME=kselftest-skip
/bin/exit_stats_test >/tmp/skip.out 2>&1
rc=$?
sed 's/^/  /' /tmp/skip.out
[ $rc -eq 4 ] || fail "without kvm_exitstat: exit code $rc, expected 4 (KSFT_SKIP)"
result $KX_NAME PASS "reports SKIP without the module"

KX_NAME=kselftest
load_exitstat
/bin/exit_stats_test >/tmp/test.out 2>&1
rc=$?
sed 's/^/  /' /tmp/test.out
[ $rc -eq 0 ] || fail "exit code $rc: $(grep -m 1 '^not ok' /tmp/test.out)"
grep -q '^# Totals: pass:8 fail:0' /tmp/test.out || fail "not all 8 cases passed"
result $KX_NAME PASS "$(grep -E 'round pairs matched|every round:|ECX sweep' /tmp/test.out | sed 's/^# //' | tr '\n' ';')"
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
