# Helpers for the CLI tests: run the real binary on a temporary database and check
# exit code, stdout, stderr and that a refused command left the database as it was.
# Sourced by tests/cli/*.sh. Environment: CLASSLAB (the binary), CL_TEST_DATA
# (tests/data), CL_SOURCE_DIR (the source tree). Exit: 0 pass, 1 fail, 77 skip.

set -u

if [ -z "${CLASSLAB:-}" ] || [ ! -x "$CLASSLAB" ]; then
	echo "skip: CLASSLAB is not set to the classlab binary" >&2
	exit 77
fi
: "${CL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${CL_TEST_DATA:=$CL_SOURCE_DIR/tests/data}"
command -v sqlite3 >/dev/null || { echo "skip: the sqlite3 command is not installed" >&2; exit 77; }

# Sanitizer reports fail the run that printed them (and exit with codes no command uses).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:exitcode=90"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:exitcode=91"
if [ -z "${LSAN_OPTIONS:-}" ] && [ -f "$CL_SOURCE_DIR/tests/lsan.supp" ]; then
	export LSAN_OPTIONS="suppressions=$CL_SOURCE_DIR/tests/lsan.supp:use_tls=0:print_suppressions=0" # see scripts/test
fi

# Nothing from the caller's environment may pick another database or hypervisor.
unset CLASSLAB_DB CLASSLAB_URI CLASSLAB_HOME LIBVIRT_DEFAULT_URI
T=$(mktemp -d "${TMPDIR:-/tmp}/classlab-cli.XXXXXX")
export HOME="$T/home" XDG_DATA_HOME="$T/xdg-data" XDG_CACHE_HOME="$T/xdg-cache"
DB="$T/classlab.db"
OUT="$T/stdout"
ERR="$T/stderr"
FAILS=0
CHECKS=0
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

# Is the binary instrumented? (Used only to scale the heaviest loops.)
cl_sanitized() { grep -q -a -m1 __asan_init "$CLASSLAB" 2>/dev/null; }

fail() {
	FAILS=$((FAILS + 1))
	echo "FAIL: $*" >&2
	if [ -s "$OUT" ]; then sed 's/^/  stdout: /' "$OUT" | head -20 >&2; fi
	if [ -s "$ERR" ]; then sed 's/^/  stderr: /' "$ERR" | head -20 >&2; fi
}
pass() { CHECKS=$((CHECKS + 1)); }

# Runs classlab on the test database; stdout/stderr go to $OUT/$ERR, the status to $RC and
# stderr's text to $ERRTEXT. (Checks use bash builtins: these scripts run hundreds of commands.)
cl() { run_classlab --db "$DB" "$@"; }
# Same, without --db (for tests of the default paths and the global options).
cl_nodb() { run_classlab "$@"; }
run_classlab() {
	"$CLASSLAB" "$@" >"$OUT" 2>"$ERR"
	RC=$?
	ERRTEXT=
	IFS= read -r -d '' ERRTEXT <"$ERR"
	case $ERRTEXT in
	*Sanitizer* | *"runtime error:"*) fail "sanitizer report from: classlab $*" ;;
	esac
	return 0
}

# expect_exit CODE ARGS...: runs classlab ARGS on $DB and checks the exit status.
expect_exit() {
	local want=$1
	shift
	cl "$@"
	if [ "$RC" != "$want" ]; then
		fail "classlab $* exited $RC, want $want"
		return 1
	fi
	pass
}

# The contract for a refused command: exit CODE, nothing on stdout, every stderr line
# "classlab: <noun verb>: <why>" and the why contains TEXT, the database unchanged.
# expect_refused CODE TEXT ARGS...
expect_refused() {
	local want=$1 text=$2
	shift 2
	db_snapshot
	cl "$@"
	local where="classlab $*"
	[ "$RC" = "$want" ] || { fail "$where exited $RC, want $want"; return 1; }
	[ ! -s "$OUT" ] || { fail "$where printed on stdout"; return 1; }
	[ -n "$ERRTEXT" ] || { fail "$where printed no message"; return 1; }
	local line
	while IFS= read -r line; do
		[[ -z $line || $line == "classlab: "* ]] && continue
		fail "$where: a stderr line does not start with 'classlab: '"
		return 1
	done <<<"$ERRTEXT"
	[[ $ERRTEXT == *"$text"* ]] || { fail "$where: stderr lacks '$text'"; return 1; }
	db_unchanged "$where" || return 1
	pass
}

expect_stdout_contains() {
	grep -q -F -- "$1" "$OUT" || { fail "stdout lacks '$1'"; return 1; }
	pass
}
expect_stdout_line() {
	grep -q -x -F -- "$1" "$OUT" || { fail "stdout has no line '$1'"; return 1; }
	pass
}
expect_stderr_contains() {
	[[ $ERRTEXT == *"$1"* ]] || { fail "stderr lacks '$1'"; return 1; }
	pass
}
expect_stdout_empty() {
	[ ! -s "$OUT" ] || { fail "stdout is not empty"; return 1; }
	pass
}
# expect_eq GOT WANT WHAT
expect_eq() {
	[ "$1" = "$2" ] || { fail "$3: got '$1', want '$2'"; return 1; }
	pass
}
# A JSON value of the last command's stdout, compact: json_get .labs[0].total_cents
# (jq; python3 if jq is missing, which is slower to start).
json_get() {
	if command -v jq >/dev/null; then
		jq -c "$1" "$OUT"
	else
		python3 -c 'import json,re,sys
v=json.load(open(sys.argv[1]))
for k in re.findall(r"\.(\w+)|\[(\d+)\]", sys.argv[2]):
    v=v[k[0]] if k[0] else v[int(k[1])]
print(json.dumps(v, separators=(",", ":")))' "$OUT" "$1"
	fi
}

# A text dump of the database, to prove a refused command wrote nothing. Comparing
# checksums first keeps this cheap: the dump is taken only when the bytes differ.
db_sum() { md5sum "$DB" "$DB-wal" 2>/dev/null; }
db_dump() {
	if [ -e "$DB" ]; then sqlite3 "$DB" .dump; else echo "(no database)"; fi
}
SNAP_SUM=
SNAP_DUMP_SUM=
db_snapshot() {
	local sum
	sum=$(db_sum)
	if [ "$sum" != "$SNAP_DUMP_SUM" ]; then
		db_dump >"$T/snapshot.sql"
		SNAP_DUMP_SUM=$sum
	fi
	SNAP_SUM=$sum
}
db_unchanged() {
	[ "$(db_sum)" = "$SNAP_SUM" ] && return 0
	db_dump >"$T/now.sql"
	if ! cmp -s "$T/snapshot.sql" "$T/now.sql"; then
		fail "${1:-command} changed the database:"
		diff "$T/snapshot.sql" "$T/now.sql" | head -20 >&2
		return 1
	fi
}
sql() { sqlite3 "$DB" "$@"; }
# attach_test_sshd LAB STUDENT: the record `vm attach` leaves, pointing at the test sshd
# (tests/e2e/sshd-lib.sh's sshd_start), so access commands reach it without a guest.
attach_test_sshd() {
	local hostkey
	hostkey=$(cut -d' ' -f1,2 <<<"$SSHD_HOST_PUB")
	sql "INSERT INTO vms(lab_id, student_id, name, kind, ssh_port, host_key_pub, address,
	     username, auth_secret, state, created_at)
	     SELECT l.id, s.id, '$1-$2', 'attached', $SSHD_PORT, '$hostkey', '127.0.0.1',
	     '$SSHD_USER', 'key:$SSHD_USER_KEY', 'running', 0
	     FROM labs l JOIN students s ON s.lab_id = l.id WHERE l.name = '$1' AND s.name = '$2'"
}

finish() {
	if [ "$FAILS" -gt 0 ]; then
		echo "$(basename "$0"): $FAILS failed, $CHECKS passed" >&2
		exit 1
	fi
	echo "$(basename "$0"): $CHECKS passed"
	exit 0
}
