#!/usr/bin/env bash
# cost estimate from numbers: the seed's class, other sizes and prices, rounding at the
# cent, totals beyond 32 bits, and overflow refused. Expected values worked out by hand.
. "$(dirname "$0")/lib.sh"

est() { cl cost estimate "$@"; }

# The seed (seeds/001): 25 × (20 + 10) × 139 × $0.01 = 104250 lab-unit-hours = $1042.50.
est --students 25 --scheduled-hours 20 --quota-hours 10 --size small-gpu-compute
expect_eq "$RC" 0 "seed exit"
expect_stdout_contains '$1042.50'
expect_stdout_contains '25 × (20 + 10) × 139 × $0.01 = $1042.50'
expect_stdout_line 'lab-unit-hours  104250'

cl -o json cost estimate --students 25 --scheduled-hours 20 --quota-hours 10 --size small-gpu-compute
expect_eq "$RC" 0 "seed json exit"
expect_eq "$(json_get .total_cents)" 104250 "seed total_cents (an integer, not a string)"
expect_eq "$(json_get .total)" '"$1042.50"' "seed total"
expect_eq "$(json_get .students)" 25 "seed students"
expect_eq "$(json_get .scheduled_hours)" 20 "seed scheduled_hours"
expect_eq "$(json_get .quota_hours)" 10 "seed quota_hours"
expect_eq "$(json_get .lab_units)" 139 "seed lab_units"
expect_eq "$(json_get .lab_unit_hours)" 104250 "seed lab_unit_hours"
expect_eq "$(json_get .price_per_unit_hour)" '"0.01"' "seed price"
expect_eq "$(json_get .size)" '"small-gpu-compute"' "seed size"

# table: args -> the breakdown line the table prints.
while IFS='|' read -r args want; do
	[ -z "$args" ] && continue
	# shellcheck disable=SC2086 # args are whitespace-separated on purpose
	est $args
	if [ "$RC" != 0 ]; then
		fail "cost estimate $args exited $RC"
		continue
	fi
	expect_stdout_line "estimate        $want" || echo "  (for: $args)" >&2
done <<'EOF'
--students 25 --scheduled-hours 20 --quota-hours 10 --size small|25 × (20 + 10) × 20 × $0.01 = $150.00
--students 25 --scheduled-hours 20 --quota-hours 10 --size medium|25 × (20 + 10) × 42 × $0.01 = $315.00
--students 25 --scheduled-hours 20 --quota-hours 10 --size medium-nested|25 × (20 + 10) × 55 × $0.01 = $412.50
--students 25 --scheduled-hours 20 --quota-hours 10 --size large|25 × (20 + 10) × 70 × $0.01 = $525.00
--students 25 --scheduled-hours 20 --quota-hours 10 --size large-nested|25 × (20 + 10) × 84 × $0.01 = $630.00
--students 25 --scheduled-hours 20 --quota-hours 10 --size small-gpu-visualization|25 × (20 + 10) × 160 × $0.01 = $1200.00
--students 25 --scheduled-hours 20 --quota-hours 10 --size medium-gpu-visualization|25 × (20 + 10) × 408 × $0.01 = $3060.00
--students 25 --scheduled-hours 20 --quota-hours 10 --size small --price-per-unit-hour $0.02|25 × (20 + 10) × 20 × $0.02 = $300.00
--students 25 --scheduled-hours 20 --quota-hours 10 --size medium-gpu-visualization --price-per-unit-hour 0.015|25 × (20 + 10) × 408 × $0.015 = $4590.00
--students 3 --scheduled-hours 1.5 --quota-hours 0.25 --lab-units 20|3 × (1.5 + 0.25) × 20 × $0.01 = $1.05
--students 25 --scheduled-hours 20 --quota-hours 10 --lab-units 139|25 × (20 + 10) × 139 × $0.01 = $1042.50
--students 0 --scheduled-hours 20 --quota-hours 10 --size small|0 × (20 + 10) × 20 × $0.01 = $0.00
--students 1 --scheduled-hours 1 --quota-hours 0 --size small --price-per-unit-hour 0|1 × (1 + 0) × 20 × $0.00 = $0.00
--students 1 --scheduled-hours 1 --quota-hours 0 --lab-units 1 --price-per-unit-hour 0.005|1 × (1 + 0) × 1 × $0.005 = $0.01
--students 1 --scheduled-hours 1 --quota-hours 0 --lab-units 1 --price-per-unit-hour 0.004999|1 × (1 + 0) × 1 × $0.004999 = $0.00
--students 3 --scheduled-hours 1 --quota-hours 0 --lab-units 1 --price-per-unit-hour 0.015|3 × (1 + 0) × 1 × $0.015 = $0.05
--students 7 --scheduled-hours 1 --quota-hours 0 --lab-units 1 --price-per-unit-hour 0.000001|7 × (1 + 0) × 1 × $0.000001 = $0.00
--students 1 --scheduled-hours 0.01 --quota-hours 0 --lab-units 1 --price-per-unit-hour 0.5|1 × (0.01 + 0) × 1 × $0.50 = $0.01
--students 1 --scheduled-hours 0.01 --quota-hours 0 --lab-units 1 --price-per-unit-hour 0.49|1 × (0.01 + 0) × 1 × $0.49 = $0.00
--students 100000 --scheduled-hours 87600 --quota-hours 0 --lab-units 100000|100000 × (87600 + 0) × 100000 × $0.01 = $8760000000000.00
--students 100000 --scheduled-hours 87600 --quota-hours 87600 --lab-units 100000 --price-per-unit-hour 1|100000 × (87600 + 87600) × 100000 × $1.00 = $1752000000000000.00
--students 100000 --scheduled-hours 87600 --quota-hours 87600 --lab-units 100000 --price-per-unit-hour 52.6|100000 × (87600 + 87600) × 100000 × $52.60 = $92155200000000000.00
EOF
# Rounding notes: 0.005 $/h × 1 h = 0.5 cent, exactly half: rounds up to 1 cent; 0.004999 rounds
# down. 3 × 0.015 = 4.5 cents -> 5. 0.01 h × $0.50 = 0.5 cent -> 1; × $0.49 = 0.49 cent -> 0.
# Large: 100000 × 87600 × 100000 = 8.76e14 lab-unit-hours × 1 cent = 8.76e14 cents (> 2^32).
# 1.752e15 lab-unit-hours × 5260 cents = 9.21552e18 cents, just under INT64_MAX (9.22e18).

cl -o json cost estimate --students 100000 --scheduled-hours 87600 --quota-hours 87600 \
	--lab-units 100000 --price-per-unit-hour 1
expect_eq "$(json_get .total_cents)" 175200000000000000 "large total_cents exact"
expect_eq "$(json_get .lab_unit_hours)" 1752000000000000 "large lab_unit_hours exact"

# One step over: × $52.70 = 9.23e18 cents > INT64_MAX: refused, exit 2, nothing printed.
expect_refused 2 "too large" cost estimate --students 100000 --scheduled-hours 87600 \
	--quota-hours 87600 --lab-units 100000 --price-per-unit-hour 52.7
expect_refused 2 "too large" cost estimate --students 100000 --scheduled-hours 87600 \
	--quota-hours 87600 --lab-units 100000 --price-per-unit-hour 1000

# A lab's stored estimate must stay computable (issue 13, item 12). Each value below is
# accepted alone; the write that would make the lab's exact total overflow is refused
# (exit 2, nothing written), whichever input it changes.
# Per student: (87600 + 87600) h × 100000 units × $1000 = 1 752 000 000 000 000 cents;
# int64 holds 5264 of them.
roster() { # roster FILE FIRST LAST
	{ echo name; seq -f "s%g" "$2" "$3"; } >"$1"
}
expect_exit 0 size set huge --lab-units 100000
expect_exit 0 size set mid --lab-units 20
expect_exit 0 lab create big --size huge --scheduled-hours 87600 --quota-hours 87600 --price-per-unit-hour 1000
roster "$T/r5000.csv" 1 5000
roster "$T/r300.csv" 5001 5300
expect_exit 0 students import big "$T/r5000.csv"
expect_refused 2 "no exact cost estimate" students import big "$T/r300.csv"
for i in $(seq 5001 5264); do echo "s$i"; done | { echo name; cat; } >"$T/r264.csv"
expect_exit 0 students import big "$T/r264.csv"
expect_refused 2 "no exact cost estimate" students add big s9999
# The same lab with cheap units fits; raising the units of its size does not.
expect_exit 0 lab create big2 --size mid --scheduled-hours 87600 --quota-hours 87600 --price-per-unit-hour 1000
expect_exit 0 students import big2 "$T/r5000.csv"
expect_exit 0 students import big2 "$T/r300.csv"
expect_refused 2 "no exact cost estimate" size set mid --lab-units 100000
# Quotas: the lab's default and one student's own.
expect_exit 0 lab create big3 --size huge --scheduled-hours 87600 --quota-hours 0 --price-per-unit-hour 1000
expect_exit 0 students import big3 "$T/r5000.csv"
expect_exit 0 students import big3 "$T/r300.csv"
expect_refused 2 "no exact cost estimate" quota set big3 87600
# 10528 students × 87600 h fit; a 10529th student's worth of quota does not.
expect_exit 0 lab create big4 --size huge --scheduled-hours 87600 --quota-hours 0 --price-per-unit-hour 1000
roster "$T/r10528.csv" 1 10528
expect_exit 0 students import big4 "$T/r10528.csv"
expect_exit 0 quota set big4 s1 1
expect_refused 2 "no exact cost estimate" quota set big4 s2 87600

# An older database may already hold such a lab: list and report show that lab's estimate
# as unavailable and every other lab's as usual, exit 0.
expect_exit 0 lab create small1 --size small --scheduled-hours 20 --quota-hours 10
expect_exit 0 students add small1 alice
sqlite3 "$DB" "UPDATE labs SET price_micro = 1000000000, quota_seconds = 315360000 WHERE name = 'big3'"
cl lab list
expect_eq "$RC" 0 "lab list with an uncomputable lab"
grep -E '^big3 .*unavailable' "$OUT" >/dev/null && pass || fail "lab list: big3 not 'unavailable'"
grep -E '^small1 .*\$6\.00' "$OUT" >/dev/null && pass || fail "lab list: small1 lost its estimate"
cl -o json lab list
expect_eq "$RC" 0 "lab list -o json"
expect_eq "$(json_get '.[] | select(.name == "big3") | .estimate_cents')" null "big3 estimate_cents"
expect_eq "$(json_get '.[] | select(.name == "small1") | .estimate_cents')" 600 "small1 estimate_cents"
cl cost report
expect_eq "$RC" 0 "cost report with an uncomputable lab"
grep -E '^big3 .*unavailable' "$OUT" >/dev/null && pass || fail "cost report: big3 not 'unavailable'"
grep -E '^small1 .*\$6\.00' "$OUT" >/dev/null && pass || fail "cost report: small1 lost its estimate"
grep -E '^TOTAL .*unavailable' "$OUT" >/dev/null && pass || fail "cost report: total should be unavailable"
cl -o json cost report
expect_eq "$RC" 0 "cost report -o json"
expect_eq "$(json_get .total_cents)" null "report total_cents"
expect_eq "$(json_get '.labs[] | select(.lab == "big3") | .total_cents')" null "report big3 total_cents"
expect_eq "$(json_get '.labs[] | select(.lab == "small1") | .total_cents')" 600 "report small1"
cl lab show big3
expect_eq "$RC" 0 "lab show of the uncomputable lab"
expect_stdout_contains unavailable
expect_refused 2 "no exact estimate" cost estimate big3

finish
