#!/usr/bin/env bash
# Two processes writing at once: every write lands (busy_timeout + BEGIN IMMEDIATE, no
# "database is locked"), and two overlapping roster imports never half-write: for each
# name exactly one import wins, the other exits 4 with nothing of it written.
. "$(dirname "$0")/lib.sh"

# 2 × 200 adds; fewer under the sanitizers, whose start-up is several times slower.
N=${CL_TEST_WRITERS:-200}
if [ -z "${CL_TEST_WRITERS:-}" ] && cl_sanitized; then N=50; fi

# Both writers start on a file that does not exist yet: creating and migrating it races too.
writer() { # PREFIX
	local i fails=0
	for ((i = 0; i < N; i++)); do
		"$CLASSLAB" --db "$DB" -q students add ml "$1-$i" 2>>"$T/$1.err" || fails=$((fails + 1))
	done
	echo "$fails" >"$T/$1.fails"
}
(
	"$CLASSLAB" --db "$DB" lab create ml --size small 2>"$T/create.err" || echo fail >"$T/create.fails"
) &
"$CLASSLAB" --db "$DB" sizes list >/dev/null 2>"$T/sizes.err" || fail "sizes list racing the first open: $(cat "$T/sizes.err")"
wait
[ ! -e "$T/create.fails" ] || fail "lab create racing the first open: $(cat "$T/create.err")"
writer a &
writer b &
wait
expect_eq "$(cat "$T/a.fails")/$(cat "$T/b.fails")" "0/0" "failed adds (of $N each)"
if grep -q -i locked "$T/a.err" "$T/b.err"; then fail "database is locked: $(head -3 "$T/a.err" "$T/b.err")"; else pass; fi
expect_eq "$(sql "SELECT count(*) FROM students")" $((2 * N)) "students after 2 × $N parallel adds"
expect_eq "$(sql "SELECT count(DISTINCT name) FROM students WHERE name LIKE 'a-%'")/$(sql "SELECT count(DISTINCT name) FROM students WHERE name LIKE 'b-%'")" \
	"$N/$N" "each writer's students"
expect_eq "$(sql 'PRAGMA integrity_check')" ok "integrity after parallel writes"

# Overlapping rosters: x has s0..s299, y has s150..s449. Imports are all or nothing, so
# one wins whole and the other is refused whole (its s150..s299 are duplicates).
expect_exit 0 lab create race --size small
{ echo name,email; for i in $(seq 0 299); do echo "s$i,s$i@example.org"; done; } >"$T/x.csv"
{ echo name,email; for i in $(seq 150 449); do echo "s$i,"; done; } >"$T/y.csv"
for round in 1 2 3; do
	lab=race$round
	expect_exit 0 lab create "$lab" --size small
	"$CLASSLAB" --db "$DB" students import "$lab" "$T/x.csv" >/dev/null 2>"$T/x.err" &
	px=$!
	"$CLASSLAB" --db "$DB" students import "$lab" "$T/y.csv" >/dev/null 2>"$T/y.err" &
	py=$!
	wait $px; rx=$?
	wait $py; ry=$?
	count=$(sql "SELECT count(*) FROM students s JOIN labs l ON l.id = s.lab_id WHERE l.name = '$lab'")
	with_email=$(sql "SELECT count(*) FROM students s JOIN labs l ON l.id = s.lab_id WHERE l.name = '$lab' AND s.email IS NOT NULL")
	case "$rx/$ry" in
	0/4) expect_eq "$count/$with_email" "300/300" "round $round: x won whole" ;;
	4/0) expect_eq "$count/$with_email" "300/0" "round $round: y won whole" ;;
	*) fail "round $round: imports exited $rx and $ry, want one 0 and one 4: $(cat "$T/x.err" "$T/y.err" | head -4)" ;;
	esac
	if grep -q -i locked "$T/x.err" "$T/y.err"; then fail "round $round: database is locked"; else pass; fi
done
finish
