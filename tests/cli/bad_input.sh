#!/usr/bin/env bash
# Every class of bad input: the right exit code, one "classlab: <noun verb>: <why>" on
# stderr naming the problem, nothing on stdout, and the database exactly as it was.
. "$(dirname "$0")/lib.sh"

# A database with something in it, so "unchanged" means something.
expect_exit 0 lab create ml --size small --scheduled-hours 20 --quota-hours 10
expect_exit 0 students add ml alice --email alice@example.org
expect_exit 0 schedule add ml --start 2026-02-02T09:00 --end 2026-02-02T11:00

# --- numbers: negative, non-numeric, overflow, exponent, spaces, empty, too many decimals ---
for v in -1 abc 1e3 ' 1' '1 ' '' 0x10 +1 1,5 '1.2.3' '١' 87600.01 99999999999999999999999 1.001 NaN; do
	expect_refused 2 "invalid --quota-hours '$v'" lab create ml2 --size small --quota-hours "$v"
done
for v in -1 1e3 ' 1' '' 87600.01; do
	expect_refused 2 "invalid --scheduled-hours '$v'" cost estimate --students 1 \
		--scheduled-hours "$v" --quota-hours 0 --size small
done
for v in -1 abc 1e3 ' 1' '' 1.5 100001 18446744073709551616; do
	expect_refused 2 "invalid --students '$v'" cost estimate --students "$v" \
		--scheduled-hours 1 --quota-hours 0 --size small
done
expect_refused 2 "invalid --lab-units '100001'" cost estimate --students 1 --scheduled-hours 1 \
	--quota-hours 0 --lab-units 100001
for v in -0.01 '$' '$$1' 0.0000001 1000.01 1e-2 '0,01' ' 0.01'; do
	expect_refused 2 "invalid --price-per-unit-hour '$v'" lab create ml2 --size small \
		--price-per-unit-hour "$v"
done
expect_refused 2 "'-5'" quota set ml alice -5
expect_refused 2 "invalid quota hours 'lots'" quota set ml lots
expect_refused 2 "invalid --quota-hours '1e3'" students add ml bob --quota-hours 1e3
expect_refused 2 "too large" cost estimate --students 100000 --scheduled-hours 87600 \
	--quota-hours 87600 --lab-units 100000 --price-per-unit-hour 1000
expect_refused 2 "invalid size name" size set Big --lab-units 10
expect_refused 2 "invalid --lab-units '-3'" size set big --lab-units -3
expect_refused 2 "needs --lab-units" size set brand-new --vcpus 2

# --- times ---
expect_refused 2 "invalid --start '2026-02-30T09:00'" schedule add ml --start 2026-02-30T09:00 --end 2026-03-01T09:00
expect_refused 2 "invalid --start 'tomorrow'" schedule add ml --start tomorrow --end 2026-03-01T09:00
expect_refused 2 "must end after it starts" schedule add ml --start 2026-02-02T11:00 --end 2026-02-02T09:00
expect_refused 2 "at most 31 days" schedule add ml --start 2026-01-01T00:00 --end 2026-03-01T00:00
expect_refused 2 "--weekly-until must be after the start" schedule add ml --start 2026-02-02T09:00 \
	--end 2026-02-02T10:00 --weekly-until 2026-01-01
expect_refused 2 "more than 10 years" schedule add ml --start 2026-02-02T09:00 \
	--end 2026-02-02T10:00 --weekly-until 2046-01-01
# 20 h a week for 10 years is more than 87600 h in all: 521 × 20 = 10420 h, fine; 31-day
# events weekly for 9 years (470 × 744 h) are not.
expect_refused 2 "exceed 87600 hours" schedule add ml --start 2026-01-01T00:00 \
	--end 2026-02-01T00:00 --weekly-until 2035-01-01

# --- names: shell, quotes, XML, paths, unicode look-alikes, overlong, uppercase ---
# Every name as a lab name, one run each; as student names, all in one roster, where
# each must be reported with its line; in the other places a lab name goes, a few.
# A name starting with '-' is taken for an option: refused all the same.
printf 'name,email\n' >"$T/hostile.csv"
while IFS= read -r name; do
	case $name in -*) why="option" ;; *) why="invalid lab name" ;; esac
	expect_refused 2 "$why" lab create "$name" --size small
	printf '"%s",\n' "${name//\"/\"\"}" >>"$T/hostile.csv"
done <"$CL_TEST_DATA/hostile/names.txt"
expect_refused 2 "nothing was imported" students import ml "$T/hostile.csv"
n=$(grep -c . "$CL_TEST_DATA/hostile/names.txt")
expect_eq "$(grep -c ': line [0-9]*: invalid student name' "$ERR")" "$n" "every hostile student name reported"
for line in $(seq 2 $((n + 1))); do
	grep -q "hostile.csv: line $line: invalid student name" "$ERR" || fail "hostile roster line $line not reported"
done
for name in 'ml;ls' '../ml' 'ML' 'mа' '<ml>' "ml'"; do
	expect_refused 2 "invalid lab name" students add "$name" bob
	expect_refused 2 "invalid lab name" cost estimate "$name"
done
expect_refused 2 "invalid lab name ''" lab create '' --size small
expect_refused 2 "invalid lab name" lab create "$(printf 'a\tb')" --size small
expect_refused 2 "invalid lab name" lab create "$(printf 'ab\033[31m')" --size small
# 33 characters: over the name limit; 24..32 leave no room for "-template" in a lab's VM names.
expect_refused 2 "invalid lab name" lab create abcdefghijabcdefghijabcdefghijabc --size small
expect_refused 2 "at most 23 characters" lab create abcdefghijabcdefghijabcd --size small
expect_exit 0 students add ml abcdefghijabcdefghijabcdefghijab
expect_refused 2 "invalid student name" students add ml abcdefghijabcdefghijabcdefghijabc
expect_refused 2 "invalid size name" lab create ml2 --size 'small;ls'
expect_refused 2 "invalid username" lab create ml2 --size small --username Root
expect_refused 2 "invalid email" students add ml bob --email '=cmd|'"'"' /C calc'"'"'!A0'
expect_refused 2 "invalid email" students add ml bob --email 'bob@exa mple.org'
[ ! -e pwned ] || fail "a name was run by a shell"

# --- not found (3) and conflicts (4) ---
expect_refused 3 "size 'huge' not found" lab create ml2 --size huge
expect_refused 3 "size 'huge' not found" cost estimate --students 1 --scheduled-hours 1 --quota-hours 0 --size huge
expect_refused 3 "lab 'nolab' not found" cost estimate nolab
expect_refused 3 "lab 'nolab' not found" lab show nolab
expect_refused 3 "lab 'nolab' not found" lab delete nolab --yes
expect_refused 3 "lab 'nolab' not found" students add nolab bob
expect_refused 3 "lab 'nolab' not found" students list nolab
expect_refused 3 "lab 'nolab' not found" quota set nolab 5
expect_refused 3 "lab 'nolab' not found" schedule add nolab --start 2026-02-02T09:00 --end 2026-02-02T10:00
expect_refused 3 "student 'zed' not found" quota set ml zed 5
expect_refused 3 "student 'zed' not found" students remove ml zed
expect_refused 3 "cannot open" students import ml "$T/no-such.csv"
expect_refused 4 "lab 'ml' already exists" lab create ml --size large
expect_refused 4 "student 'alice' already exists" students add ml alice

# --- rosters: every bad file refused whole (more cases in roster.sh) ---
R="$CL_TEST_DATA/roster"
expect_refused 2 "line 3: invalid student name 'Bad'" students import ml "$R/two-bad/input.csv"
expect_stderr_contains "line 5: invalid quota_hours 'abc'"
expect_stderr_contains "roster has 2 bad rows; nothing was imported"
expect_refused 2 "line 3: expected 2 fields, found 3" students import ml "$R/ragged/input.csv"
expect_refused 2 "line 3: unterminated quoted field" students import ml "$R/unterminated/input.csv"
expect_refused 2 "line 2: stray quote" students import ml "$R/stray-quote/input.csv"
expect_refused 2 "line 2: invalid email: contains control characters" students import ml "$R/embedded-newline/input.csv"
expect_refused 2 "line 2: invalid email '=cmd|' /C calc'!A0'" students import ml "$R/formula/input.csv"
expect_refused 2 "not valid UTF-8" students import ml "$R/binary-junk/input.csv"
expect_refused 2 "NUL bytes" students import ml "$R/nul-bytes/input.csv"
head -c 4096 /dev/urandom >"$T/random.csv"
expect_refused 2 "roster" students import ml "$T/random.csv"
expect_refused 2 "roster is empty" students import ml "$R/empty/input.csv"
expect_refused 2 "header has no 'name' column" students import ml "$R/missing-name/input.csv"
expect_refused 2 "column 2 is not one of those" students import ml "$R/unknown-column/input.csv"
expect_refused 2 "more than 64 fields" students import ml "$R/too-many-fields/input.csv"
expect_refused 4 "line 4: student 'alice' is also on line 2" students import ml "$R/dup-in-file/input.csv"
expect_stderr_contains "line 2: student 'alice' is already in lab 'ml'"
printf 'name,email\nzoe,\nalice,\n' >"$T/vs-existing.csv"
expect_refused 4 "line 3: student 'alice' is already in lab 'ml'" students import ml "$T/vs-existing.csv"
expect_refused 2 "not a regular file" students import ml /dev/zero
expect_refused 2 "larger than" students import ml <(head -c 17000000 /dev/zero)

# --- usage: unknown options, missing arguments, --yes, -o, unknown nouns and verbs ---
expect_refused 2 "unknown option or missing value: '--bogus'" lab create ml2 --size small --bogus
expect_refused 2 "unknown" lab list --bogus
expect_refused 2 "unexpected argument 'extra-arg'" cost report extra-arg
expect_refused 2 "missing argument" lab create
expect_refused 2 "--size is required" lab create ml2
expect_refused 2 "unknown option or missing value: '--size'" lab create ml2 --size
expect_refused 2 "missing argument" students add ml
expect_refused 2 "missing argument" students import ml
expect_refused 2 "missing argument" quota set ml
expect_refused 2 "unexpected argument" quota set ml alice 5 6
expect_refused 2 "--start and --end are required" schedule add ml --start 2026-02-02T09:00
expect_refused 2 "needs --yes" lab delete ml
expect_refused 2 "give a LAB or the numbers, not both" cost estimate ml --students 3
expect_refused 2 "give a LAB or the numbers, not both" cost estimate ml --price-per-unit-hour 0.02
expect_refused 2 "required without a LAB" cost estimate --students 3
expect_refused 2 "give exactly one of --size and --lab-units" cost estimate --students 1 \
	--scheduled-hours 1 --quota-hours 0 --size small --lab-units 3
expect_refused 2 "invalid output format 'yaml'" -o yaml lab list
expect_refused 2 "unknown command 'frob'" frob list
expect_refused 2 "unknown or missing verb 'frob'" lab frob
expect_refused 2 "unknown or missing verb" lab
expect_refused 2 "unknown option or missing value" --bogus lab list
db_snapshot
cl
expect_eq "$RC" 2 "no arguments: exit"
db_unchanged "no arguments"

# A bad accelerator is refused before any hypervisor is opened.
for v in fast KVM " kvm" "tcg;id"; do
	CLASSLAB_ACCEL=$v expect_refused 2 "CLASSLAB_ACCEL: '$v' is not kvm, tcg or auto" host gpus
done

# After all of that, the lab is as it was: alice and the long-named student, one event.
expect_eq "$(sql 'SELECT group_concat(name) FROM (SELECT name FROM students ORDER BY name)')" \
	"abcdefghijabcdefghijabcdefghijab,alice" "students after it all"
expect_eq "$(sql 'SELECT count(*) FROM schedules')/$(sql 'SELECT count(*) FROM labs')" "1/1" "rows after it all"

finish
