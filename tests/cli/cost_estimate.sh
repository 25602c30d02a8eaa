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

finish
