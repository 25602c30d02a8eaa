#!/bin/bash
# shellcheck disable=SC2010 # ls | grep: pool volume names are classlab's own ([a-z0-9.-])
# End-to-end: removing a student revokes their access (issue 13, item 5), on real tiny
# guests under qemu:///embed (one lab, two students).
#   students remove --connect test:///default -> exit 5, bob's VM untouched
#   students remove, killed half-way (remove:disk), then run again -> bob's qemu stopped,
#       domain, disk, seed, VM record, key pair, host keys and row gone; his old port
#       answers no more; alice untouched
#   students add bob + publish -> a new VM with a new key: bob's old key is refused by the
#       new VM, the new one logs in
# Exit: 0 pass, 1 fail, 77 skipped (reason on stderr).
set -u
set -o pipefail

. "$(dirname "${BASH_SOURCE[0]}")/e2e-lib.sh"
: "${CL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${CL_TEST_DATA:=$CL_SOURCE_DIR/tests/data}"
need_guest qemu-system-x86_64 qemu-img sqlite3 ssh ssh-keygen

unset CLASSLAB_DB CLASSLAB_URI LIBVIRT_DEFAULT_URI
H=$(mktemp -d /tmp/cle.XXXX) || exit 1
export CLASSLAB_HOME=$H
LAB=e2e-rm
LABFILE=$H/rm.json
DB=$H/classlab.db
POOL=$H/pool
KEYS=$H/labs/$LAB
T=$H/t
mkdir -p "$T"
# Own lab name and port range, so that the e2e scripts can run side by side (ctest -j).
sed -e 's/"public_host": "127.0.0.1",/&\n  "port_range": [53000, 53999],/' \
	-e 's/"name": "e2e-two"/"name": "'$LAB'"/' "$CL_TEST_DATA/labs/two.json" >"$LABFILE"

# shellcheck disable=SC2317 # called through trap
cleanup() { finish_labs $? "$H" "$LAB"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

START=$(date +%s)
qemu_pid() { pgrep -f -- "guest=$1,.*$H/" | head -n1; }
ssh_cfg() { ssh -F "$T/ssh_config" -o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR "$@"; }
# login KEY PORT: logs in as the student with only that key and the lab's known_hosts.
login() {
	ssh -o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR -o IdentitiesOnly=yes \
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$KEYS/known_hosts" \
		-i "$1" -p "$2" student@127.0.0.1 hostname
}
port_of() { sqlite3 "$DB" "select ssh_port from vms where name='$1'"; }

must up "$LABFILE"
must ssh-config "$LAB"
cp "$T/out" "$T/ssh_config"
for s in alice bob; do
	[ "$(ssh_cfg "$LAB-$s" hostname)" = "$LAB-$s" ] || fail "$LAB-$s does not answer after up"
done
A_PID=$(qemu_pid "$LAB-alice")
B_PID=$(qemu_pid "$LAB-bob")
[ -n "$A_PID" ] && [ -n "$B_PID" ] || fail "no qemu for alice ($A_PID) or bob ($B_PID)"
OLD_PORT=$(port_of "$LAB-bob")
cp "$KEYS/students/bob/id_ed25519" "$T/old_bob_key"
chmod 600 "$T/old_bob_key"
[ "$(login "$T/old_bob_key" "$OLD_PORT")" = "$LAB-bob" ] || fail "bob's key does not log in before removal"
pass "up: alice and bob answer; bob's key logs in on port $OLD_PORT"

# Connected to another hypervisor, where bob's domain is not: refused (exit 5), not
# "removed" while his VM runs on (the lab recorded where its VMs live at up).
cl --connect test:///default students remove "$LAB" bob
[ "$RC" = 5 ] || fail "students remove on another hypervisor exited $RC, want 5: $(cat "$T/err")"
grep -q "has its VMs on 'qemu:///embed" "$T/err" || fail "remove elsewhere: $(cat "$T/err")"
[ "$(qemu_pid "$LAB-bob")" = "$B_PID" ] || fail "bob's qemu went with a refused remove"
[ "$(login "$T/old_bob_key" "$OLD_PORT")" = "$LAB-bob" ] || fail "bob's VM after a refused remove"
pass "students remove connected to another hypervisor: exit 5, bob's VM untouched"

# Killed half-way through (disk deleted, seed and records left): the student is still
# listed, and running the command again finishes the job.
rc=$( (CLASSLAB_KILL_AT=remove:disk "$CLASSLAB" -q students remove "$LAB" bob >/dev/null 2>&1
	echo $?) 2>/dev/null)
[ "$rc" = 137 ] || fail "students remove with a kill at remove:disk exited $rc, want 137"
[ "$(sqlite3 "$DB" "select count(*) from students where name='bob'")" = 1 ] ||
	fail "bob's row went before his VM was gone"
must students remove "$LAB" bob
for _ in $(seq 20); do [ -z "$(qemu_pid "$LAB-bob")" ] && break; sleep 0.5; done
[ -z "$(qemu_pid "$LAB-bob")" ] || fail "bob's qemu still runs after students remove"
kill -0 "$B_PID" 2>/dev/null && fail "bob's qemu (pid $B_PID) still runs"
ls "$POOL" | grep -q "^$LAB-bob" && fail "bob's volumes are still in the pool: $(ls "$POOL")"
[ "$(sqlite3 "$DB" "select count(*) from vms where name='$LAB-bob'")" = 0 ] || fail "bob's VM record remains"
[ "$(sqlite3 "$DB" "select count(*) from students where name='bob'")" = 0 ] || fail "bob's row remains"
[ ! -e "$KEYS/students/bob" ] || fail "bob's key pair remains: $(ls "$KEYS/students/bob")"
[ ! -e "$KEYS/hostkeys/$LAB-bob" ] || fail "bob's host keys remain"
grep -q ":$OLD_PORT\]" "$KEYS/known_hosts" && fail "known_hosts still names bob's port $OLD_PORT"
login "$T/old_bob_key" "$OLD_PORT" >/dev/null 2>&1 && fail "bob's old key still logs in on port $OLD_PORT"
[ "$(qemu_pid "$LAB-alice")" = "$A_PID" ] || fail "removing bob restarted alice's VM"
[ "$(ssh_cfg "$LAB-alice" hostname)" = "$LAB-alice" ] || fail "alice does not answer after bob's removal"
cl students remove "$LAB" bob
[ "$RC" = 3 ] || fail "a second students remove exited $RC, want 3"
pass "students remove (killed once, run again): bob's qemu, domain, volumes, record, keys and row are gone; alice untouched"

# A new bob: a new VM and a new key; the old key opens nothing.
must students add "$LAB" bob
must template publish "$LAB"
NEW_PORT=$(port_of "$LAB-bob")
[ -n "$NEW_PORT" ] || fail "no VM for the new bob"
cmp -s "$T/old_bob_key" "$KEYS/students/bob/id_ed25519" && fail "the new bob got the old bob's key"
[ "$(login "$KEYS/students/bob/id_ed25519" "$NEW_PORT")" = "$LAB-bob" ] ||
	fail "the new bob's key does not log in on port $NEW_PORT"
login "$T/old_bob_key" "$NEW_PORT" >/dev/null 2>&1 && fail "the old bob's key logs in to the new bob's VM"
[ "$(qemu_pid "$LAB-alice")" = "$A_PID" ] || fail "publishing the new bob restarted alice's VM"
pass "students add + publish: the new bob logs in with a new key; the old key is refused"
pass "student-remove: $(($(date +%s) - START)) s"
