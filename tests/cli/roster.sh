#!/usr/bin/env bash
# students import over every roster fixture (tests/data/roster/<case>/): a case whose
# expected.txt lists rows imports exactly those; one that lists errors is refused whole
# (exit 2, or the code in <case>/exit), every "line N: ..." reported, database unchanged.
. "$(dirname "$0")/lib.sh"

expect_exit 0 lab create ml --size small --quota-hours 10
n=0
for dir in "$CL_TEST_DATA"/roster/*/; do
	case=$(basename "$dir")
	lab="r$((n++))-${case:0:12}"
	lab=${lab%-}
	expect_exit 0 lab create "$lab" --size small || continue
	exp="$dir/expected.txt"
	want_exit=$(cat "$dir/exit" 2>/dev/null || true)
	if grep -q '^error: ' "$exp"; then
		expect_refused "${want_exit:-2}" "$(sed -n 's/^error: //p' "$exp")" \
			students import "$lab" "$dir/input.csv" || continue
		while IFS= read -r line; do
			expect_stderr_contains "input.csv: $line" || echo "  (case $case)" >&2
		done < <(grep '^line ' "$exp")
	elif [ -n "$want_exit" ]; then
		expect_refused "$want_exit" "nothing was imported" students import "$lab" "$dir/input.csv"
	else
		cl students import "$lab" "$dir/input.csv"
		expect_eq "$RC" 0 "import $case: exit" || continue
		# Rows as stored: name|email|quota override (hours) or empty.
		want=$(awk -F'|' '{ q = $4 == "default" ? "" : $4; print $2 "|" $3 "|" q }' "$exp" | sort)
		got=$(sql "SELECT s.name, coalesce(s.email, ''), coalesce(CASE WHEN s.quota_seconds % 3600 = 0 THEN s.quota_seconds / 3600 ELSE round(s.quota_seconds / 3600.0, 2) END, '') FROM students s JOIN labs l ON l.id = s.lab_id WHERE l.name = '$lab' ORDER BY s.name")
		expect_eq "$got" "$want" "rows imported from $case"
	fi
done
[ "$n" -ge 20 ] || fail "only $n roster fixtures"
finish
