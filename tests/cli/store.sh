#!/usr/bin/env bash
# The store as the binary uses it: migration from schema version 1, default paths and
# their modes, WAL and foreign keys, and files that are not (or not yet) ours.
. "$(dirname "$0")/lib.sh"

latest=$(sed -n 's/^#define CL_STORE_SCHEMA_VERSION \([0-9]*\)$/\1/p' \
	"$CL_SOURCE_DIR/include/classlab/cl_store.h")
[ -n "$latest" ] || fail "cannot read CL_STORE_SCHEMA_VERSION"

# Columns of a table as SQLite sees them, to compare a migrated file with a new one.
columns() { sqlite3 "$1" "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('$2')"; }

# --- migration: a version-1 file with data opens, migrates, keeps every row ---
sqlite3 "$DB" <"$CL_TEST_DATA/store/v1/schema.sql" || fail "cannot load the v1 fixture"
expect_eq "$(sql 'PRAGMA user_version')" 1 "fixture version"
expect_exit 0 lab list
expect_eq "$(sql 'PRAGMA user_version')" "$latest" "user_version after migration"
expect_eq "$(sql 'SELECT count(*) FROM labs')/$(sql 'SELECT count(*) FROM students')/$(sql 'SELECT count(*) FROM schedules')/$(sql 'SELECT count(*) FROM sizes')" \
	"2/3/1/9" "rows kept"
expect_eq "$(sql "SELECT name, image, username, quota_seconds, price_micro FROM labs WHERE id = 2")" \
	"old-lab|/images/ubuntu.qcow2|learner|7200|20000" "old lab's fields kept"
# Columns version 2 added take their defaults.
expect_eq "$(sql "SELECT listen, public_host, port_min, port_max, memory_mib, vcpus, template_state, template_version, verified_version, spec_json IS NULL FROM labs WHERE name = 'ds101'")" \
	"127.0.0.1|127.0.0.1|61000|65535|0|0|none|0|0|1" "new columns' defaults"
expect_eq "$(sql "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('vms', 'usage', 'locks', 'events')")" \
	4 "version-2 tables"
# A migrated file has the same tables and columns as a new one.
"$CLASSLAB" --db "$T/fresh.db" sizes list >/dev/null 2>&1 || fail "cannot create a fresh database"
for t in sizes labs students schedules vms usage locks events lab_totals; do
	[ "$(columns "$DB" $t)" = "$(columns "$T/fresh.db" $t)" ] || fail "table $t differs after migration"
	pass
done
# Version 3's per-lab totals start from the students already there.
expect_eq "$(sql "SELECT group_concat(t.lab_id || ':' || t.students || ':' || t.overrides || ':' || t.override_seconds, ' ') FROM lab_totals t")" \
	"$(sql "SELECT group_concat(id || ':' || n || ':' || o || ':' || q, ' ') FROM (SELECT l.id, count(s.id) AS n, count(s.quota_seconds) AS o, coalesce(sum(s.quota_seconds), 0) AS q FROM labs l LEFT JOIN students s ON s.lab_id = l.id GROUP BY l.id ORDER BY l.id)")" \
	"totals after migration"
# The migrated data answers like new: ds101 (alice 10 h + bob 15 h): 2 × 20 + 25 = 65 × 139 =
# $90.35; old-lab: 5 Monday classes × 2 h = 10 h + carol's 2 h = 12 × 33 × $0.02 = $7.92.
cl -o json cost report
expect_eq "$(json_get '.labs[0].total_cents')/$(json_get '.labs[1].total_cents')" "9035/792" \
	"estimates from the migrated file"
expect_eq "$(json_get .total_cents)" 9827 "report total from the migrated file"
# Opening again changes nothing.
db_snapshot
expect_exit 0 lab list
db_unchanged "a second open"
expect_exit 0 students add ds101 carol
expect_eq "$(sql 'PRAGMA journal_mode')" wal "journal mode"

# --- foreign keys: deleting a lab removes its students and schedules ---
expect_exit 0 lab delete old-lab --yes
expect_eq "$(sql 'SELECT count(*) FROM students WHERE lab_id = 2')/$(sql 'SELECT count(*) FROM schedules WHERE lab_id = 2')" \
	"0/0" "cascade from lab delete"
expect_eq "$(sql 'PRAGMA foreign_key_check' | wc -l)" 0 "foreign key check"
expect_eq "$(sql 'PRAGMA integrity_check')" ok "integrity check"

# --- default paths: directory 0700 and file 0600 whatever the umask ---
mode() { stat -c %a "$1"; }
(
	umask 000
	CLASSLAB_HOME="$T/clhome/data" "$CLASSLAB" lab list >/dev/null 2>"$ERR"
) || fail "lab list with CLASSLAB_HOME"
expect_eq "$(mode "$T/clhome/data")" 700 "CLASSLAB_HOME directory mode"
expect_eq "$(mode "$T/clhome/data/classlab.db")" 600 "CLASSLAB_HOME database mode"
(
	umask 000
	XDG_DATA_HOME="$T/xdg/share" "$CLASSLAB" lab create xdg --size small >/dev/null 2>"$ERR"
) || fail "lab create with XDG_DATA_HOME"
expect_eq "$(mode "$T/xdg/share/classlab")" 700 "XDG data directory mode"
expect_eq "$(mode "$T/xdg/share/classlab/classlab.db")" 600 "XDG database mode"
expect_eq "$(sqlite3 "$T/xdg/share/classlab/classlab.db" 'SELECT name FROM labs')" xdg "lab in the XDG database"
expect_eq "$(sqlite3 "$T/xdg/share/classlab/classlab.db" 'PRAGMA journal_mode')" wal "WAL on a new file"
(
	umask 000
	unset XDG_DATA_HOME
	HOME="$T/h" "$CLASSLAB" lab list >/dev/null 2>"$ERR"
) || fail "lab list with only HOME"
expect_eq "$(mode "$T/h/.local/share/classlab/classlab.db")" 600 "HOME fallback database mode"
(
	umask 000
	CLASSLAB_DB="$T/envdb/x.db" "$CLASSLAB" lab list >/dev/null 2>"$ERR"
) || fail "lab list with CLASSLAB_DB"
expect_eq "$(mode "$T/envdb")/$(mode "$T/envdb/x.db")" "700/600" "CLASSLAB_DB modes"
# --db beats CLASSLAB_DB.
CLASSLAB_DB="$T/envdb/x.db" "$CLASSLAB" --db "$T/flag.db" lab create flag --size small 2>"$ERR" ||
	fail "--db with CLASSLAB_DB set"
expect_eq "$(sqlite3 "$T/flag.db" 'SELECT name FROM labs')/$(sqlite3 "$T/envdb/x.db" 'SELECT count(*) FROM labs')" \
	"flag/0" "--db wins over CLASSLAB_DB"

# --- files that are not a classlab database: exit 1, a clear message, file untouched ---
refuse_file() { # FILE TEXT WHAT
	local before
	before=$(md5sum <"$1")
	cl_nodb --db "$1" lab list
	expect_eq "$RC" 1 "$3: exit"
	expect_stdout_empty
	expect_stderr_contains "$2"
	grep -q '^classlab: lab list: ' "$ERR" || fail "$3: message format"
	expect_eq "$(md5sum <"$1")" "$before" "$3: file untouched"
	[ ! -e "$1-wal" ] && [ ! -e "$1-journal" ] || fail "$3: a journal was left beside it"
}
printf 'name,email\nalice,alice@example.org\n' >"$T/text.db"
refuse_file "$T/text.db" "is not a classlab database" "a text file"
head -c 8192 /dev/urandom >"$T/junk.db"
refuse_file "$T/junk.db" "is not a classlab database" "random bytes"
sqlite3 "$T/v99.db" 'CREATE TABLE future (x); PRAGMA user_version = 99;'
refuse_file "$T/v99.db" "schema version 99, newer than this classlab" "a newer schema"
expect_eq "$(sqlite3 "$T/v99.db" 'PRAGMA user_version')" 99 "newer schema kept"
# A directory, and a symlink (never followed: the store opens with O_NOFOLLOW): exit 2.
mkdir "$T/dir.db"
cl_nodb --db "$T/dir.db" lab list
expect_eq "$RC" 2 "a directory as the database: exit"
expect_stderr_contains "classlab: lab list: database path '$T/dir.db' is a directory"
ln -s "$T/fresh.db" "$T/link.db"
before=$(md5sum <"$T/fresh.db")
cl_nodb --db "$T/link.db" lab create via-link --size small
expect_eq "$RC" 2 "a symlink as the database: exit"
expect_stderr_contains "symbolic link"
expect_eq "$(md5sum <"$T/fresh.db")" "$before" "symlink target untouched"

# A lab whose kept totals row was deleted by hand: the report says the file is damaged.
"$CLASSLAB" --db "$T/fresh.db" -q lab create dmg --size small >/dev/null 2>&1 || fail "lab create dmg"
sqlite3 "$T/fresh.db" "DELETE FROM lab_totals WHERE lab_id = (SELECT id FROM labs WHERE name = 'dmg')"
cl_nodb --db "$T/fresh.db" cost report
expect_eq "$RC" 1 "report on damaged totals: exit"
expect_stderr_contains "the database is damaged: of 1 labs, 0 have a known size and student totals"

# --- lab locks: a holder is its pid *and* that process's start time (schema 4) ---
# A lock row whose pid the kernel has given to another process blocks nothing; one whose
# holder still runs is kept, and `lab unlock` refuses to clear it (issue 13, item 15).
LK="$T/locks.db"
lk() { cl_nodb --db "$LK" "$@"; }
lock_row() { # PID START
	sqlite3 "$LK" "INSERT OR REPLACE INTO locks (lab, kind, pid, pid_start, since)
	               VALUES ('lk', 'template publish', $1, $2, 1700000000)"
}
locks() { sqlite3 "$LK" "SELECT count(*) FROM locks"; }
lk lab create lk --size small
expect_eq "$RC" 0 "lab create lk"
expect_eq "$(sqlite3 "$LK" 'PRAGMA user_version')" "$latest" "locks.db schema"
sleep 300 &
holder=$!
start=$(awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$holder/stat")
lock_row "$holder" "$start" # the holder runs
lk lab unlock lk
expect_eq "$RC" 4 "unlock while the holder runs: exit"
expect_stderr_contains "pid $holder"
expect_eq "$(locks)" 1 "a live holder's lock stays"
lk --connect test:///default down lk --yes
expect_eq "$RC" 4 "down while the holder runs: exit"
expect_stderr_contains "is busy (pid $holder"
lock_row "$holder" $((start + 1)) # same pid, another process: the holder is gone
lk --connect test:///default down lk --yes
expect_eq "$RC" 0 "down takes over a lock whose pid was reused"
expect_eq "$(locks)" 0 "down released the lock it took over"
lock_row "$holder" $((start + 1))
lk lab unlock lk
expect_eq "$RC" 0 "unlock of a reused pid's lock: exit"
expect_stderr_contains "released lab 'lk'"
expect_eq "$(locks)" 0 "reused pid's lock cleared"
lock_row "$holder" 0 # from before schema 4: the pid runs, but it is no classlab
lk lab unlock lk
expect_eq "$RC" 0 "unlock of a pre-4 lock held by a non-classlab pid: exit"
expect_eq "$(locks)" 0 "pre-4 lock cleared"
kill "$holder"
wait "$holder" 2>/dev/null
lock_row "$holder" "$start" # the holder is gone
lk lab unlock lk
expect_eq "$RC" 0 "unlock of a dead holder's lock: exit"
expect_eq "$(locks)" 0 "dead holder's lock cleared"
lk lab unlock lk
expect_eq "$RC" 0 "unlock of an unlocked lab: exit"
expect_stderr_contains "was not locked"
lk lab unlock nolab
expect_eq "$RC" 3 "unlock of an unknown lab: exit"

# --- a full disk is said to be full, never "not a classlab database" (issue 13, item 16) ---
# A 512 KiB tmpfs in a private mount namespace (root and unshare needed; else skipped).
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	mkdir "$T/full" "$T/fr"
	{ echo name; seq -f 's%g' 1 3000; } >"$T/fr/r.csv"
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare -m bash -c '
		R=$1 C=$2 M=$3
		mount -t tmpfs -o size=512k tmpfs "$M" || exit 77
		"$C" --db "$M/c.db" lab create aa --size small >/dev/null 2>&1 || exit 3
		dd if=/dev/zero of="$M/fill" bs=1k 2>/dev/null
		run() { n=$1; shift; "$C" "$@" >"$R/o$n" 2>"$R/e$n"; echo $? >"$R/r$n"; }
		run 1 --db "$M/c.db" lab create bb --size small
		run 2 --db "$M/c.db" lab list
		run 3 --db "$M/new.db" lab list
		rm -f "$M/fill" "$M/new.db"*
		free=$(df -k "$M" | awk "NR == 2 { print \$4 }")
		dd if=/dev/zero of="$M/fill" bs=1k count=$((free - 40)) 2>/dev/null
		run 4 --db "$M/c.db" students import aa "$R/r.csv"
		run 5 --db "$M/c.db" lab list
		sqlite3 "$M/c.db" "PRAGMA integrity_check; SELECT count(*) FROM students" >"$R/ic"
	' full-disk "$T/fr" "$CLASSLAB" "$T/full"
	case $? in
	0)
		for n in 1 2 3 4; do
			expect_eq "$(cat "$T/fr/r$n")" 1 "full disk, command $n: exit"
			grep -q "is full" "$T/fr/e$n" || fail "full disk, command $n: $(cat "$T/fr/e$n")"
			grep -q "not a classlab database" "$T/fr/e$n" &&
				fail "full disk, command $n blames the database: $(cat "$T/fr/e$n")"
		done
		expect_eq "$(cat "$T/fr/r5")" 0 "lab list with 40 KiB free: exit"
		grep -q '^aa ' "$T/fr/o5" || fail "lab list with 40 KiB free lost lab aa"
		expect_eq "$(tr '\n' ' ' <"$T/fr/ic")" "ok 0 " "database intact after the refused import"
		;;
	77) echo "note: cannot mount a tmpfs here; full-disk checks skipped" >&2 ;;
	*) fail "full-disk setup failed" ;;
	esac
else
	echo "note: not root or no unshare -m; full-disk checks skipped" >&2
fi

finish
