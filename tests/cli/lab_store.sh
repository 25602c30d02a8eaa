#!/usr/bin/env bash
# A lab from the store: create, import a roster with an override, change quotas, add
# schedules, and check `cost estimate LAB`, `cost report`, `lab list/show` to the cent.
# Every expected value is worked out by hand in the comments.
. "$(dirname "$0")/lib.sh"

ROSTERS="$CL_TEST_DATA/roster"

# estimate_is LAB BREAKDOWN CENTS: the table's breakdown line and JSON total_cents.
estimate_is() {
	cl cost estimate "$1"
	expect_eq "$RC" 0 "cost estimate $1 exit"
	expect_stdout_line "estimate        $2" || echo "  (lab $1)" >&2
	cl -o json cost estimate "$1"
	expect_eq "$(json_get .total_cents)" "$3" "cost estimate $1: total_cents"
}

expect_exit 0 lab create ds101 --size small-gpu-compute --scheduled-hours 20 --quota-hours 10
expect_stdout_empty
expect_stderr_contains "created lab 'ds101'"

# No students yet: 0 × (20 + 10) × 139 = $0.00.
estimate_is ds101 '0 × (20 + 10) × 139 × $0.01 = $0.00' 0

# Roster: alice, bob (own quota 15), carol (no email), dave.
expect_exit 0 students import ds101 "$ROSTERS/override/input.csv"
expect_stdout_line "imported 4 students into lab 'ds101'"
cl -o json students import ds101 "$ROSTERS/header-only/input.csv"
expect_eq "$RC" 0 "header-only import exit"
expect_eq "$(json_get .imported)" 0 "header-only import count"

cl -o json students list ds101
expect_eq "$(json_get '[.[] | .name] | join(",")')" '"alice,bob,carol,dave"' "students list"
expect_eq "$(json_get '.[1].quota_hours')" 15 "bob's quota"
expect_eq "$(json_get '.[1].quota_override')" true "bob's override flag"
expect_eq "$(json_get '.[0].quota_hours')" 10 "alice's quota (the lab's)"
expect_eq "$(json_get '.[2].email')" null "carol has no email"

# Quotas 10 + 15 + 10 + 10 = 45 h; 4 × 20 + 45 = 125 student-hours;
# × 139 = 17375 lab-unit-hours × $0.01 = $173.75.
estimate_is ds101 '(4 × 20 + 45) × 139 × $0.01 = $173.75' 17375

# carol 2.5 h: 10 + 15 + 2.5 + 10 = 37.5; 80 + 37.5 = 117.5; × 139 = 16332.5 cents,
# exactly half a cent: rounds up to $163.33.
expect_exit 0 quota set ds101 carol 2.5
expect_stdout_empty
estimate_is ds101 '(4 × 20 + 37.5) × 139 × $0.01 = $163.33' 16333

# The lab's default to 12 (alice, dave): 12 + 15 + 2.5 + 12 = 41.5; 121.5 × 139 = 16888.5 -> $168.89.
expect_exit 0 quota set ds101 12
estimate_is ds101 '(4 × 20 + 41.5) × 139 × $0.01 = $168.89' 16889

# bob back to the lab's: 12 + 12 + 2.5 + 12 = 38.5; 118.5 × 139 = 16471.5 -> $164.72.
expect_exit 0 quota set ds101 bob default
estimate_is ds101 '(4 × 20 + 38.5) × 139 × $0.01 = $164.72' 16472

# A schedule replaces the lab's 20 scheduled hours. One 3-hour class:
# 4 × 3 + 38.5 = 50.5; × 139 = 7019.5 -> $70.20.
expect_exit 0 schedule add ds101 --start 2026-02-02T09:00 --end 2026-02-02T12:00
estimate_is ds101 '(4 × 3 + 38.5) × 139 × $0.01 = $70.20' 7020
cl cost estimate ds101
expect_stdout_line 'scheduled hours 3 (from the schedule)'

# Weekly 1.5 h on Tuesdays from 3 Feb until 3 Mar inclusive: Feb 3, 10, 17, 24, Mar 3 =
# 5 × 1.5 = 7.5 h; with the 3 h: 10.5. 4 × 10.5 + 38.5 = 80.5; × 139 = 11189.5 -> $111.90.
expect_exit 0 schedule add ds101 --start 2026-02-03T14:00 --end 2026-02-03T15:30 \
	--weekly-until 2026-03-03
estimate_is ds101 '(4 × 10.5 + 38.5) × 139 × $0.01 = $111.90' 11190
cl -o json schedule list ds101
expect_eq "$(json_get 'length')" 2 "schedule list rows"
expect_eq "$(json_get '.[1].hours')" '"1.5"' "weekly event hours"
# With a UTC offset: 10:00+02:00 is 08:00Z.
expect_exit 0 lab create tz --size small
expect_exit 0 schedule add tz --start 2026-02-02T10:00+02:00 --end 2026-02-02T11:00+02:00
cl -o json schedule list tz
expect_eq "$(json_get '.[0].start')" '"2026-02-02T08:00:00Z"' "schedule offset to UTC"
expect_exit 0 lab delete tz --yes

# A second lab by `students add`, its own price: quotas 10 + 5 = 15; 2 × 20 + 15 = 55;
# × 20 = 1100 lab-unit-hours × $0.02 = $22.00.
expect_exit 0 lab create ml --size small --scheduled-hours 20 --quota-hours 10 \
	--price-per-unit-hour '$0.02'
expect_exit 0 students add ml erin --email erin@example.org
expect_exit 0 students add ml frank --quota-hours 5
estimate_is ml '(2 × 20 + 15) × 20 × $0.02 = $22.00' 2200
# A third lab, empty.
expect_exit 0 lab create empty --size large

# The admin's report: ds101 $111.90 + empty $0.00 + ml $22.00 = $133.90.
cl -o json cost report
expect_eq "$RC" 0 "cost report exit"
expect_eq "$(json_get '[.labs[] | .lab] | join(",")')" '"ds101,empty,ml"' "report labs in name order"
expect_eq "$(json_get '[.labs[] | .total_cents] | join(",")')" '"11190,0,2200"' "report per lab"
expect_eq "$(json_get .total_cents)" 13390 "report grand total"
cl cost report
expect_stdout_contains '$133.90'
grep -q -E '^ds101 +small-gpu-compute +4 +80.5 +139 +0.01 +\$111.90 +-$' "$OUT" || fail "report row for ds101"

cl -o json lab list
expect_eq "$(json_get '[.[] | .estimate_cents] | join(",")')" '"11190,0,2200"' "lab list estimates"

# Where each lab runs (labs.hv_uri, claimed when its first VM is made): -o json says the
# URI or null; the table says "this host" for the embedded driver on this data directory
# (classlab's default), the URI for any other, "-" for a lab with no VM yet.
expect_eq "$(json_get '.[0].where')" null "lab list: an unclaimed lab's where"
HERE_URI="qemu:///embed?root=$XDG_DATA_HOME/classlab/hv"
REMOTE_URI="qemu+ssh://gpu1.example.org/system"
sql "UPDATE labs SET hv_uri = '$HERE_URI' WHERE name = 'ds101';
     UPDATE labs SET hv_uri = '$REMOTE_URI' WHERE name = 'ml';"
for cmd in "cost report" "lab list"; do
	# shellcheck disable=SC2086
	cl -o json $cmd
	rows=.
	[ "$cmd" = "cost report" ] && rows=.labs
	expect_eq "$(json_get "$rows[0].where")" "\"$HERE_URI\"" "$cmd -o json: ds101 where"
	expect_eq "$(json_get "$rows[1].where")" null "$cmd -o json: empty where"
	expect_eq "$(json_get "$rows[2].where")" "\"$REMOTE_URI\"" "$cmd -o json: ml where"
	# shellcheck disable=SC2086
	cl $cmd
	expect_eq "$(head -n 1 "$OUT" | awk '{ print $NF }')" WHERE "$cmd: the last column"
	grep -q -E '^ds101 .*\$111\.90 +this host$' "$OUT" || fail "$cmd: ds101 not on 'this host'"
	grep -q -E '^empty .*\$0\.00 +-$' "$OUT" || fail "$cmd: empty lab not '-'"
	grep -q -E '^ml .*\$22\.00 +qemu\+ssh://gpu1\.example\.org/system$' "$OUT" ||
		fail "$cmd: ml not on $REMOTE_URI"
done
cl cost report
grep -q -E '^TOTAL .*\$133\.90 +-$' "$OUT" || fail "cost report: the TOTAL row's where"
# Another data directory's embedded driver is not this host; this one's, %-escaped as
# libvirt URIs are written (a space in the path), is.
sql "UPDATE labs SET hv_uri = 'qemu:///embed?root=/elsewhere/classlab/hv' WHERE name = 'empty'"
cl lab list
grep -q -E '^empty .* qemu:///embed\?root=/elsewhere/classlab/hv$' "$OUT" ||
	fail "lab list: another data directory's embedded driver shown as '$(grep ^empty "$OUT")'"
mkdir -p "$T/my data"
chmod 0700 "$T/my data"
sql "UPDATE labs SET hv_uri = 'qemu:///embed?root=$T/my%20data/hv' WHERE name = 'empty'"
CLASSLAB_HOME="$T/my data" cl lab list
grep -q -E '^empty .* this host$' "$OUT" || fail "lab list: an escaped root not 'this host'"
grep -q -E '^ds101 .* qemu:///embed' "$OUT" || fail "lab list: ds101's root is not this data directory"
sql "UPDATE labs SET hv_uri = NULL"
cl -o json lab show ml
expect_eq "$(json_get .students)" 2 "lab show students"
expect_eq "$(json_get .price_per_unit_hour)" '"0.02"' "lab show price"
expect_eq "$(json_get .estimate)" '"$22.00"' "lab show estimate"

# An admin's own size: 25 × (20 + 10) × 33 = 24750 -> $247.50.
expect_exit 0 size set tiny-gpu --lab-units 33 --vcpus 4 --memory-mib 8192 --gpus 1
cl cost estimate --students 25 --scheduled-hours 20 --quota-hours 10 --size tiny-gpu
expect_stdout_line 'estimate        25 × (20 + 10) × 33 × $0.01 = $247.50'

# students remove, then the estimate follows: ml has frank only: 20 + 5 = 25 × 20 × 2 = $10.00.
expect_exit 0 students remove ml erin
estimate_is ml '(1 × 20 + 5) × 20 × $0.02 = $10.00' 1000

# Deleting a lab takes its students and schedules with it (foreign keys, ON DELETE CASCADE).
id=$(sql "SELECT id FROM labs WHERE name = 'ds101'")
expect_exit 0 lab delete ds101 --yes
expect_eq "$(sql "SELECT count(*) FROM students WHERE lab_id = $id")" 0 "students cascade"
expect_eq "$(sql "SELECT count(*) FROM schedules WHERE lab_id = $id")" 0 "schedules cascade"
expect_refused 3 "lab 'ds101' not found" cost estimate ds101

finish
