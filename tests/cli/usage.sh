#!/usr/bin/env bash
# usage report, lab set and quota exempt through the real binary: empty reports, intervals
# seeded into the database as the service writes them, money, the uncertainty line, the
# chart files (and nothing written on error), refusals with exit 2/3 and nothing changed.
. "$(dirname "$0")/lib.sh"

expect_exit 0 lab create ml --size small --quota-hours 2
expect_exit 0 students add ml alice
expect_exit 0 students add ml bob

# An empty report: every student with nothing used, the estimate next to it.
expect_exit 0 usage report ml
expect_stdout_contains 'alice'
expect_stdout_contains 'actual $0.00 of an estimated $0.80 for the whole term'
expect_stdout_line 'every interval is exact'
expect_exit 0 -o json usage report
expect_eq "$(json_get '.students | length')" 2 "students listed"
expect_eq "$(json_get .actual_cents)" 0 "nothing used"
expect_eq "$(json_get .labs[0].estimate_cents)" 80 "estimate: 2 × 2 h × 20 × \$0.01"

# Intervals as the service records them: alice 4 h (no schedule: own time), bob 30 min
# closed by a reconcile after a kill (30 s uncertain), and one interval of another lab.
lab=$(sql "SELECT id FROM labs WHERE name = 'ml'")
t0=$(date -u -d 2026-01-05T08:00:00Z +%s)
sql "INSERT INTO run_intervals (lab_id, vm_name, student, start_ts, end_ts, last_seen, closed_by)
     VALUES ($lab, 'ml-alice', 'alice', $t0, $((t0 + 4 * 3600)), $((t0 + 4 * 3600)), 'event');
     INSERT INTO run_intervals (lab_id, vm_name, student, start_ts, end_ts, last_seen, closed_by,
     uncertain_s) VALUES ($lab, 'ml-bob', 'bob', $t0, $((t0 + 1800)), $((t0 + 1800)), 'reconcile', 30);"
expect_exit 0 -o json usage report ml --from 2026-01-01 --to 2026-01-31
expect_eq "$(json_get .students[0].own_hours)" 4 "alice own hours"
expect_eq "$(json_get .students[0].quota_left_hours)" 0 "alice quota left"
expect_eq "$(json_get .students[0].quota_percent)" 200 "alice quota percent"
expect_eq "$(json_get .students[0].cents)" 80 "alice: 4 h × 20 × \$0.01"
expect_eq "$(json_get .students[1].own_hours)" '"0.5"' "bob own hours"
expect_eq "$(json_get .actual_cents)" 90 "lab: 4.5 h × 20 × \$0.01"
expect_eq "$(json_get .uncertain_seconds)" 30 "uncertain seconds"
expect_eq "$(json_get .from)" '"2026-01-01T00:00:00Z"' "from"
expect_eq "$(json_get .to)" '"2026-02-01T00:00:00Z"' "to: a date counts its whole day"
expect_exit 0 usage report ml
expect_stdout_contains 'uncertain: 1 interval closed after the service stopped unexpectedly'
expect_stdout_contains 'within 30 seconds in all'
# A window that misses the intervals counts nothing of them, but quota use is the term's.
expect_exit 0 -o json usage report ml --from 2026-02-01
expect_eq "$(json_get .actual_cents)" 0 "February"
expect_eq "$(json_get .students[0].quota_left_hours)" 0 "quota use is the whole term's"
expect_exit 0 -o json usage report ml --to 2026-01-05T09:00:00Z
expect_eq "$(json_get .students[0].own_hours)" 1 "until 09:00"

# Exemption shows in the report; unknown students and labs are refused.
expect_exit 0 quota exempt ml alice
expect_exit 0 usage report ml
grep -q -E '^ml +alice .* exempt ' "$OUT" || fail "the report does not say alice is exempt"
expect_exit 0 -o json usage report ml
expect_eq "$(json_get .students[0].exempt)" true "exempt in json"
expect_exit 0 quota exempt ml alice --remove
expect_exit 0 -o json usage report ml
expect_eq "$(json_get .students[0].exempt)" false "exemption removed"
expect_refused 3 "student 'zed' not found" quota exempt ml zed
expect_refused 3 "not found" usage report nolab

# Bad input: exit 2, nothing written.
expect_refused 2 "invalid --from" usage report --from 2026-13-01
expect_refused 2 "invalid --to" usage report --to yesterday
expect_refused 2 "--to must come after --from" usage report --from 2026-02-01 --to 2026-01-01
expect_refused 2 "lab name" usage report BAD_NAME

# The chart: SVG and PNG by extension, checked by their magic; anything else exit 2.
expect_exit 0 usage report --chart "$T/use.svg"
head -c 200 "$T/use.svg" | grep -q '<svg' || fail "use.svg is not an SVG"
expect_stderr_contains "wrote chart"
expect_exit 0 usage report ml --chart "$T/use.png"
[ "$(head -c 8 "$T/use.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
	fail "use.png is not a PNG"
if command -v file >/dev/null; then
	file "$T/use.png" | grep -q 'PNG image data, 900 x 640' || fail "file(1): $(file "$T/use.png")"
	file "$T/use.svg" | grep -q 'SVG' || fail "file(1): $(file "$T/use.svg")"
fi
# --chart runs in classlab-vm (cairo is linked only there), however it is spelled.
expect_exit 0 usage report ml --cha="$T/abbrev.svg"
head -c 200 "$T/abbrev.svg" | grep -q '<svg' || fail "--cha= did not draw the chart"
if command -v ldd >/dev/null && ldd "$CLASSLAB" | grep -q libcairo; then
	fail "the classlab front end links cairo (every start would load it)"
fi
expect_refused 2 "must end in .svg or .png" usage report --chart "$T/use.jpg"
[ ! -e "$T/use.jpg" ] || fail "a refused chart was written"
expect_refused 2 "must end in .svg or .png" usage report --chart "$T/svg"
# A report that fails writes no chart.
expect_refused 3 "not found" usage report nolab --chart "$T/none.svg"
[ ! -e "$T/none.svg" ] || fail "a failed report wrote its chart"
cl usage report --chart "$T/no-such-dir/x.svg"
expect_eq "$RC" 1 "chart into a missing directory"
[ ! -e "$T/no-such-dir" ] || fail "a directory appeared"

# lab set / lab show: the service's settings and the idle rule in words.
expect_exit 0 lab show ml
expect_stdout_contains 'stopped after 20 minutes with no SSH connection to its forward and no Jupyter activity'
grep -q -E '^stop +shutdown$' "$OUT" || fail "lab show: no 'stop shutdown' line"
expect_exit 0 lab set ml --idle-minutes 45 --stop save --lead-minutes 5
expect_exit 0 -o json lab show ml
expect_eq "$(json_get .idle_minutes)" 45 "idle minutes"
expect_eq "$(json_get .stop)" '"save"' "stop mode"
expect_eq "$(json_get .lead_minutes)" 5 "lead minutes"
expect_eq "$(json_get .stop_grace_seconds)" 60 "grace kept"
expect_exit 0 lab set ml --idle-minutes 0
expect_exit 0 lab show ml
expect_stdout_contains 'never stopped for being idle'
expect_refused 2 "shutdown" lab set ml --stop hibernate
expect_refused 2 "--idle-minutes" lab set ml --idle-minutes 10081
expect_refused 2 "--lead-minutes" lab set ml --lead-minutes -1
expect_refused 2 "at least one setting" lab set ml
expect_refused 3 "not found" lab set nolab --idle-minutes 5

finish
