# rig: l2
# The run-time settings in /sys/kernel/debug/kvm_exitstat/, each asserted
# from the L2 guest: the four-leaf layout, guest access off, reset, and the
# per-query log line off.
KX_NAME=knob-defaults
knobs=/sys/kernel/debug/kvm_exitstat
load_exitstat
for knob in "layout seed" "guest_access Y" "log_queries N"; do
	set -- $knob
	[ "$(cat "$knobs/$1")" = "$2" ] || fail "$1 is '$(cat "$knobs/$1")' after loading, not '$2'"
done
l2_start
l2_stock

# Four-leaf layout: 0x4ffffffe gives the total cycles, whatever ECX is.
KX_NAME=layouts
echo four-leaf >"$knobs/layout" || fail "could not select the four-leaf layout"
l2_query
set -- $(regs_to_totals "$L2_ANSWER")
cycles_before=$2
l2_query 0x4ffffffe 10
set -- $(regs "$L2_ANSWER")
[ "$1 $4" = "0 0" ] || fail "four-leaf 0x4ffffffe answered '$L2_ANSWER'"
fe_cycles=$(regs_to_totals "$L2_ANSWER" | cut -d' ' -f2)
l2_query
cycles_after=$(regs_to_totals "$L2_ANSWER" | cut -d' ' -f2)
[ "$cycles_before" -lt "$fe_cycles" ] && [ "$fe_cycles" -lt "$cycles_after" ] ||
	fail "four-leaf 0x4ffffffe: cycles $fe_cycles, between $cycles_before and $cycles_after?"
# Seed layout: 0x4ffffffe gives the exits of the reason in ECX.
if echo bogus >"$knobs/layout" 2>/dev/null; then fail "layout accepted 'bogus'"; fi
[ "$(cat "$knobs/layout")" = four-leaf ] || fail "a rejected write changed the layout"
echo seed >"$knobs/layout" || fail "could not select the seed layout"
l2_query 0x4ffffffe 10
set -- $(regs "$L2_ANSWER")
fe_exits=$1
[ "$1" -gt 0 ] && [ "$2 $3 $4" = "0 0 0" ] || fail "seed 0x4ffffffe ecx=10 answered '$L2_ANSWER'"
l2_query 0x4ffffffd 10
set -- $(regs "$L2_ANSWER")
[ "$1" -gt "$fe_exits" ] || fail "0x4ffffffd ecx=10 gave $1 after 0x4ffffffe's $fe_exits"
l2_query 0x4ffffffe 35
[ "$(regs "$L2_ANSWER")" = "0 0 0 4294967295" ] || fail "seed 0x4ffffffe ecx=35 answered '$L2_ANSWER'"
result $KX_NAME PASS "four-leaf: 0x4ffffffe = total cycles ($fe_cycles); seed: CPUID exits ($fe_exits)"

# Guest access off: stock answers, and exitstat in L2 says why it has none.
KX_NAME=guest-access
echo N >"$knobs/guest_access" || fail "could not switch guest access off"
l2_query
[ "$L2_ANSWER" = "$STOCK" ] || fail "guest access off: 0x4fffffff answered '$L2_ANSWER', stock is '$STOCK'"
l2_exitstat
[ "$L2_RC" = 1 ] && grep -q "not kvm-exitstat's" /tmp/l2-exitstat.out ||
	fail "exitstat with guest access off: rc $L2_RC, $(cat /tmp/l2-exitstat.out)"
echo Y >"$knobs/guest_access" || fail "could not switch guest access on"
l2_query
[ "$L2_ANSWER" != "$STOCK" ] || fail "guest access back on: still the stock answer"
set -- $(regs_to_totals "$L2_ANSWER")
exits_before_reset=$1
result $KX_NAME PASS "off: stock answer ($STOCK) and exitstat refuses; on: exits=$exits_before_reset"

# Reset: the counters start again from zero.
KX_NAME=reset
echo 1 >"$knobs/reset" || fail "could not reset"
l2_query
set -- $(regs_to_totals "$L2_ANSWER")
[ "$1" -gt 0 ] && [ "$1" -lt $((exits_before_reset / 2)) ] ||
	fail "after reset: exits=$1 (before: $exits_before_reset)"
exits_after_reset=$1
result $KX_NAME PASS "exits $exits_before_reset -> reset -> $exits_after_reset"

# The per-query log line, off by default.  (Each query's exits are unique
# to it.)
KX_NAME=log-queries
l2_query
set -- $(regs_to_totals "$L2_ANSWER")
if dmesg | grep -q "CPUID 0x4fffffff: exits=$1 "; then fail "log_queries=N, but the query was logged"; fi
echo Y >"$knobs/log_queries" || fail "could not switch the query log on"
l2_query
set -- $(regs_to_totals "$L2_ANSWER")
dmesg | grep -q "CPUID 0x4fffffff: exits=$1 " || fail "log_queries=Y, but no log line for exits=$1"
l2_stop
result $KX_NAME PASS "N: no line; Y: the line"
rmmod kvm_exitstat || fail "rmmod kvm_exitstat failed"
