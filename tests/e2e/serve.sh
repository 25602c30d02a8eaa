#!/bin/bash
# End-to-end: `classlab serve` runs a class on real tiny guests (qemu:///embed), with the
# test clock (CLASSLAB_TEST_CLOCK_FILE) moved by the test (issue 10).
#   a second serve for the same data directory exits 4 naming the first's pid
#   vm list through the service prints what it prints without it (same bytes)
#   class window opens (lead 10 min): both students' VMs start, once
#   serve killed -9 mid-class and restarted: no second start (one class-start event)
#   in class, 20 minutes on: bob (nobody connected) is stopped as idle, alice (an open
#       ssh session to her forward) is not
#   class over: alice is stopped
#   after class alice starts her VM (own time): at 90 % of a 6-minute quota a message
#       reaches her terminal, at 100 % the VM stops and vm start is refused (exit 4)
#       until she is exempted
#   usage report: the hours metered equal the (test clock's) time the VMs ran,
#       within one heartbeat, across the kill; SIGTERM removes the socket
# The clock moves 30 s per pass or less (a bigger step is a clock jump, which metering
# does not count as run time).
# Exit: 0 pass, 1 fail, 77 skipped (reason on stderr).
set -u
set -o pipefail

. "$(dirname "${BASH_SOURCE[0]}")/e2e-lib.sh"
: "${CL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${CL_TEST_DATA:=$CL_SOURCE_DIR/tests/data}"
need_guest qemu-system-x86_64 qemu-img sqlite3 ssh python3

unset CLASSLAB_DB CLASSLAB_URI LIBVIRT_DEFAULT_URI
H=$(mktemp -d /tmp/cls.XXXX) || exit 1
export CLASSLAB_HOME=$H
export CLASSLAB_TEST_CLOCK_FILE=$H/clock
LAB=e2e-serve
LABFILE=$H/serve.json
DB=$H/classlab.db
T=$H/t
mkdir -p "$T"
sed -e 's/"public_host": "127.0.0.1",/&\n  "port_range": [54000, 54999],/' \
	-e 's/"name": "e2e-two"/"name": "'$LAB'"/' "$CL_TEST_DATA/labs/two.json" >"$LABFILE"

SERVE_PID=
SSH_PID=
# shellcheck disable=SC2317 # called through trap
cleanup() {
	local rc=$?
	[ -n "$SSH_PID" ] && kill "$SSH_PID" 2>/dev/null
	[ -n "$SERVE_PID" ] && kill -9 "$SERVE_PID" 2>/dev/null
	[ "$rc" != 0 ] && [ -f "$T/serve.log" ] && { echo "---- serve log ----" >&2; cat "$T/serve.log" >&2; }
	finish_labs "$rc" "$H" "$LAB"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

now() { cat "$CLASSLAB_TEST_CLOCK_FILE"; }
set_clock() { echo "$1" >"$CLASSLAB_TEST_CLOCK_FILE"; }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
start_serve() {
	"$CLASSLAB" serve --interval 1 >>"$T/serve.log" 2>&1 &
	SERVE_PID=$!
	local i
	for i in $(seq 1 100); do
		[ -S "$H/serve.sock" ] && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || fail "serve exited: $(cat "$T/serve.log")"
		sleep 0.1
	done
	fail "serve did not make its socket"
}
state_of() { # state_of STUDENT: the VM's state as vm list (through the service) says
	"$CLASSLAB" -o json vm list "$LAB" | python3 -c '
import json, sys
for v in json.load(sys.stdin):
    if v["student"] == sys.argv[1]:
        print(v["state"])' "$1"
}
wait_state() { # wait_state STUDENT STATE SECONDS
	local i
	for i in $(seq 1 "$3"); do
		[ "$(state_of "$1")" = "$2" ] && return 0
		sleep 1
	done
	fail "$1's VM is '$(state_of "$1")', not '$2', after $3 s"
}
events() { sqlite3 "$DB" "select count(*) from events where lab='$LAB' and kind='$1'"; }
# answers STUDENT: waits (up to 3 minutes) until the VM answers SSH (vm start does not wait)
answers() {
	local i
	for i in $(seq 1 90); do
		ssh -F "$T/ssh_config" -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=5 \
			"$LAB-$1" true </dev/null >/dev/null 2>&1 && return 0
		sleep 2
	done
	fail "$1's VM does not answer SSH"
}
# alice_session: an SSH session to alice's VM with a terminal (its output in alice.tty)
alice_session() {
	answers alice
	ssh -tt -F "$T/ssh_config" -o BatchMode=yes -o LogLevel=ERROR "$LAB-alice" sleep 3000 \
		</dev/null >"$T/alice.tty" 2>&1 &
	SSH_PID=$!
	sleep 3
}
end_session() {
	kill "$SSH_PID" 2>/dev/null
	wait "$SSH_PID" 2>/dev/null
	SSH_PID=
}
# advance_to T: the clock in 30 s steps, each seen by at least one pass (--interval 1)
advance_to() {
	local t
	t=$(now)
	while [ "$t" -lt "$1" ]; do
		t=$((t + 30 > $1 ? $1 : t + 30))
		set_clock "$t"
		sleep 1.3
	done
}

T0=$(date +%s)
set_clock "$T0"
must -q up "$LABFILE" --no-start
[ "$(state_of alice)" = "shut off" ] && [ "$(state_of bob)" = "shut off" ] ||
	fail "VMs not shut off after up --no-start"
CLASS_START=$((T0 + 7200))
CLASS_END=$((CLASS_START + 1800))
must schedule add "$LAB" --start "$(iso $CLASS_START)" --end "$(iso $CLASS_END)"

# Direct output first, to compare with the same command through the service.
"$CLASSLAB" vm list "$LAB" >"$T/direct.out" 2>"$T/direct.err" || fail "vm list failed"
start_serve
cl serve
[ "$RC" = 4 ] && grep -q "already running for this data directory (pid $SERVE_PID)" "$T/err" ||
	fail "a second serve: exit $RC, $(cat "$T/err")"
pass "a second serve exits 4 naming pid $SERVE_PID"
"$CLASSLAB" vm list "$LAB" >"$T/served.out" 2>"$T/served.err" || fail "vm list through serve failed"
grep -q "ran 'vm list' for a client" "$T/serve.log" || fail "vm list did not go through the service"
cmp -s "$T/direct.out" "$T/served.out" && cmp -s "$T/direct.err" "$T/served.err" ||
	fail "vm list differs through the service"
pass "vm list through the service prints the same bytes"

# The database busy: another process holds a write lock longer than the store waits
# (CL_STORE_BUSY_MS); the service says so, keeps running, and works when it is free.
python3 - "$DB" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
time.sleep(12)
db.execute("ROLLBACK")
PY
LOCKER=$!
sleep 11
wait "$LOCKER"
grep -q "warning: .*\(locked\|busy\)" "$T/serve.log" || fail "the service did not say the database was busy"
kill -0 "$SERVE_PID" || fail "the service died with the database busy"
"$CLASSLAB" vm list "$LAB" >/dev/null || fail "vm list after the database was free again"
pass "the database busy: the service said so, kept running and works again"

# Before the lead time: nothing starts.
set_clock $((CLASS_START - 601))
sleep 3
[ "$(state_of alice)" = "shut off" ] || fail "alice started before the lead time"
# Inside the lead time: both start, once.
set_clock $((CLASS_START - 590))
wait_state alice running 240
wait_state bob running 240
[ "$(events class-start)" = 1 ] || fail "class-start events: $(events class-start)"
pass "the class window started both VMs (10 minutes' lead)"

# kill -9 mid-class, restart (20 s of clock later, within one heartbeat): no second start.
kill -9 "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
set_clock $((CLASS_START - 570))
start_serve
sleep 4
[ "$(events class-start)" = 1 ] || fail "restart started the class again"
[ "$(grep -c 'starting .*: class ' "$T/serve.log")" = 2 ] || fail "the class was started again"
pass "a restarted service does not start the class again"

# Idle: alice keeps an SSH session open on her forward (with a terminal, to see
# messages), bob has none. bob was first seen idle at CLASS_START - 570.
must ssh-config "$LAB"
cp "$T/out" "$T/ssh_config"
alice_session
advance_to $((CLASS_START + 660))
wait_state bob "shut off" 60
grep -q "stopping $LAB-bob: idle for 20 min (stopped after 20 minutes with no SSH connection" \
	"$T/serve.log" || fail "no idle log line for bob"
[ "$(state_of alice)" = running ] || fail "alice, connected, was stopped"
pass "idle bob stopped after 20 minutes; connected alice kept"

# Class over: alice stops.
advance_to "$CLASS_END"
wait_state alice "shut off" 120
[ "$(events class-stop)" = 1 ] || fail "class-stop events: $(events class-stop)"
end_session
pass "the end of class stopped alice"

# Own time: a quota of 0.1 h (6 minutes).
must quota set "$LAB" 0.1
OWN_START=$(now)
must vm start "$LAB" alice
alice_session
advance_to $((OWN_START + 330))
sleep 3
grep -q "alice has used .* of 0.1 quota hours outside class" "$T/alice.tty" ||
	fail "no quota warning on alice's terminal: $(cat "$T/alice.tty")"
[ "$(state_of alice)" = running ] || fail "alice stopped before her quota was used"
pass "at 90 % of her quota alice's terminal got the warning"
advance_to $((OWN_START + 390))
wait_state alice "shut off" 60
[ "$(events quota-stop)" = 1 ] || fail "quota-stop events: $(events quota-stop)"
cl vm start "$LAB" alice
[ "$RC" = 4 ] && grep -q "has used their quota outside class" "$T/err" ||
	fail "vm start past the quota: exit $RC, $(cat "$T/err")"
must quota exempt "$LAB" alice
must vm start "$LAB" alice
must vm stop "$LAB" alice
end_session
# libvirt's lifecycle events reach the service (and are metered) after client commands too
sleep 2
grep -q "classlab serve: $LAB-alice started$" "$T/serve.log" &&
	grep -q "classlab serve: $LAB-alice stopped$" "$T/serve.log" ||
	fail "no lifecycle events in the service's log"
pass "at 100 % alice's VM stopped; start refused (exit 4) until she was exempted"

# The report: alice ran from CLASS_START - 590 to CLASS_END in class (the kill lost
# nothing: the restart came within one heartbeat), then about 6 minutes of own time
# until the quota stop (plus the exempt start and stop, at one clock value);
# bob from CLASS_START - 590 to his idle stop.
must -o json usage report "$LAB"
python3 - "$T/out" $((CLASS_END - CLASS_START + 590)) $((CLASS_START + 660 - (CLASS_START - 590))) <<'PY' ||
import json, sys
r = json.load(open(sys.argv[1]))
alice_class, bob_class = int(sys.argv[2]), int(sys.argv[3])
st = {s["student"]: s for s in r["students"]}
for s in st.values():  # hours, as integers or decimal text
    for k in ("class", "own"):
        s[k + "_seconds"] = round(float(s[k + "_hours"]) * 3600)
def near(what, got, want, slack=30):
    if abs(got - want) > slack:
        sys.exit(f"{what}: {got} s, expected {want} +- {slack}")
near("alice class", st["alice"]["class_seconds"], alice_class)
near("alice own", st["alice"]["own_seconds"], 390, 60)
near("bob class", st["bob"]["class_seconds"], bob_class)
near("bob own", st["bob"]["own_seconds"], 0, 0)
PY
	fail "usage report: $(cat "$T/out")"
pass "usage report: metered time equals the time the VMs ran, within one heartbeat"

kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
RC=$?
SERVE_PID=
[ "$RC" = 0 ] || fail "serve exited $RC on SIGTERM"
[ ! -e "$H/serve.sock" ] || fail "the socket is left after SIGTERM"
pass "SIGTERM stops the service cleanly ($(($(date +%s) - T0)) s in all)"
