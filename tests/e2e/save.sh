#!/bin/bash
# End-to-end: a lab with stop "save" keeps the student's place (issue 10, item 6), on a
# real tiny guest under qemu:///embed.
#   a process started in the guest, vm stop -> the VM is "saved" (libvirt managed save)
#   vm start -> the same process runs on, with the same pid and start time, and the
#       guest did not boot again (same kernel boot_id, uptime went on)
#   a new template version published over it -> the saved session is discarded with a
#       warning that names the VM, and the VM boots afresh
# Exit: 0 pass, 1 fail, 77 skipped (reason on stderr).
set -u
set -o pipefail

. "$(dirname "${BASH_SOURCE[0]}")/e2e-lib.sh"
: "${CL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${CL_TEST_DATA:=$CL_SOURCE_DIR/tests/data}"
need_guest qemu-system-x86_64 qemu-img ssh python3

unset CLASSLAB_DB CLASSLAB_URI LIBVIRT_DEFAULT_URI
H=$(mktemp -d /tmp/clv.XXXX) || exit 1
export CLASSLAB_HOME=$H
LAB=e2e-save
LABFILE=$H/save.json
T=$H/t
mkdir -p "$T"
python3 - "$CL_TEST_DATA/labs/two.json" "$LABFILE" "$LAB" <<'PY'
import json, sys
lab = json.load(open(sys.argv[1]))
lab.update(name=sys.argv[3], port_range=[56000, 56999], stop="save")
lab["students"] = lab["students"][:1]
json.dump(lab, open(sys.argv[2], "w"), indent=1)
PY

# shellcheck disable=SC2317 # called through trap
cleanup() { finish_labs $? "$H" "$LAB"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

state_of() {
	"$CLASSLAB" -o json vm list "$LAB" | python3 -c '
import json, sys
print([v["state"] for v in json.load(sys.stdin) if v["student"] == "alice"][0])'
}
on_vm() { ssh -F "$T/ssh_config" -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=10 "$LAB-alice" "$@"; }
answers() {
	local i
	for i in $(seq 1 90); do
		on_vm true </dev/null >/dev/null 2>&1 && return 0
		sleep 2
	done
	fail "alice's VM does not answer SSH"
}

must -q up "$LABFILE"
must lab show "$LAB"
grep -q "^stop  *save" "$T/out" || fail "lab show does not say stop save: $(cat "$T/out")"
must ssh-config "$LAB"
cp "$T/out" "$T/ssh_config"
answers
# A process of the student's, and where the guest's clock of its own boot stands.
PID=$(on_vm 'sleep 100000 </dev/null >/dev/null 2>&1 & echo $!') || fail "cannot start a process"
START=$(on_vm "cut -d' ' -f22 /proc/$PID/stat") || fail "cannot read the process's start"
UP1=$(on_vm "cut -d. -f1 /proc/uptime")
BOOT1=$(on_vm "cat /proc/sys/kernel/random/boot_id")
[ -n "$BOOT1" ] || fail "no boot_id"
must vm stop "$LAB" alice
grep -q "saved $LAB-alice" "$T/err" || fail "vm stop did not save: $(cat "$T/err")"
[ "$(state_of)" = saved ] || fail "state after stop: $(state_of)"
[ -z "$(pgrep -f -- "guest=$LAB-alice,.*$H/")" ] || fail "qemu still runs after the save"
pass "vm stop saved the VM (no qemu, state saved)"

must vm start "$LAB" alice
answers
on_vm "kill -0 $PID" || fail "the process $PID is gone after the resume"
[ "$(on_vm "cut -d' ' -f22 /proc/$PID/stat")" = "$START" ] || fail "pid $PID is another process"
UP2=$(on_vm "cut -d. -f1 /proc/uptime")
[ "$(on_vm "cat /proc/sys/kernel/random/boot_id")" = "$BOOT1" ] && [ "$UP2" -ge "$UP1" ] ||
	fail "the guest booted again (uptime $UP1 -> $UP2)"
pass "vm start resumed: process $PID runs on, uptime $UP1 -> $UP2 s"

# A new template version: publishing it recreates alice's disk, so her session goes.
must vm stop "$LAB" alice
[ "$(state_of)" = saved ] || fail "not saved before the republish"
must -q template build "$LAB"
must template publish "$LAB" --yes
grep -q "warning: $LAB-alice: its saved session .* is discarded" "$T/err" ||
	fail "the republish did not name the VM losing its session: $(cat "$T/err")"
answers
BOOT3=$(on_vm "cat /proc/sys/kernel/random/boot_id")
[ -n "$BOOT3" ] && [ "$BOOT3" != "$BOOT1" ] || fail "the old session survived the new template"
pass "a republish discarded the saved session, naming $LAB-alice"
