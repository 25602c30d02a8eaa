#!/bin/bash
# shellcheck disable=SC2010 # ls | grep: pool volume names are classlab's own ([a-z0-9.-])
# End-to-end: the GPU gate (issue 6) on the tiny guest, which has no GPU.
#   GPU lab (small-gpu-compute): `up FILE` fails (exit 1) at verification with a clear
#   reason and no student VM exists; `template publish` refuses (exit 1) pointing at
#   `template verify`; `template publish --force` works and records an event.
#   CPU lab (small): `template verify` passes (exit 0) with the GPU checks SKIPPED.
# Two guest boots (one template per lab). Exit: 0 pass, 1 fail, 77 skipped.
set -u
set -o pipefail

. "$(dirname "${BASH_SOURCE[0]}")/e2e-lib.sh"
: "${CL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${CL_TEST_DATA:=$CL_SOURCE_DIR/tests/data}"
need_guest qemu-system-x86_64 qemu-img sqlite3 ssh ssh-keygen

unset CLASSLAB_DB CLASSLAB_URI LIBVIRT_DEFAULT_URI
H=$(mktemp -d /tmp/cle.XXXX) || exit 1
export CLASSLAB_HOME=$H
GLAB=e2e-gpu
CLAB=e2e-cpu
DB=$H/classlab.db
POOL=$H/pool
T=$H/t
mkdir -p "$T"
sed 's/"public_host": "127.0.0.1",/&\n  "port_range": [52000, 52499],/' "$CL_TEST_DATA/labs/gpu.json" >"$H/gpu.json"
sed 's/"public_host": "127.0.0.1",/&\n  "port_range": [52500, 52999],/' "$CL_TEST_DATA/labs/cpu.json" >"$H/cpu.json"

# shellcheck disable=SC2317 # called through trap
cleanup() { finish_labs $? "$H" "$GLAB" "$CLAB"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

START=$(date +%s)
show() { sed 's/^/    /' "$T/out" "$T/err"; }
student_vms() { # student_vms LAB: student VM records, domains and disks of the lab
	sqlite3 "$DB" "select v.name from vms v join labs l on l.id = v.lab_id where l.name = '$1' and v.kind = 'student'"
	(cd "$POOL" && ls | grep "^$1-" | grep -v "^$1-template")
	pgrep -af -- "qemu-system.*guest=$1-" | grep -v "guest=$1-template," | cut -c1-80
}

# --- GPU lab: up fails at verification -------------------------------------------------------
t0=$(date +%s)
cl up "$H/gpu.json"
GUP_S=$(($(date +%s) - t0))
[ "$RC" = 1 ] || { show >&2; fail "up of a GPU lab on a guest without a GPU exited $RC, want 1"; }
grep -Eqi 'nvidia-smi|no (nvidia )?gpu|gpu' "$T/err" || { show >&2; fail "up's failure does not say why (no nvidia-smi / no GPU)"; }
grep -qi 'verif' "$T/err" || { show >&2; fail "up's failure does not say verification failed"; }
grep -q '^classlab: ' "$T/err" || { show >&2; fail "no 'classlab: <what>: <why>' error line"; }
grep -Eq 'FAIL' "$T/out" "$T/err" || { show >&2; fail "no FAIL check line in the verification report"; }
left=$(student_vms "$GLAB")
[ -z "$left" ] || fail "a student VM exists after the failed up: $left"
pass "up of the GPU lab fails (exit 1) in $GUP_S s: $(grep '^classlab: ' "$T/err" | head -n1)"
echo "  report:"
show | grep -Ei 'gpu|nvidia|driver|cuda|compute|FAIL|SKIP' | head -n 12

cl template verify "$GLAB"
[ "$RC" = 1 ] || { show >&2; fail "template verify of the GPU lab exited $RC, want 1"; }
pass "template verify of the GPU lab fails (exit 1)"

# --- publish is gated -------------------------------------------------------------------------
cl template publish "$GLAB" --no-start
[ "$RC" = 1 ] || { show >&2; fail "template publish of an unverified GPU lab exited $RC, want 1"; }
grep -q 'template verify' "$T/err" || { show >&2; fail "the refusal does not mention 'template verify'"; }
left=$(student_vms "$GLAB")
[ -z "$left" ] || fail "a refused publish left student VMs: $left"
[ "$(sqlite3 "$DB" "select count(*) from events where lab='$GLAB'")" = 0 ] || fail "a refused publish recorded an event"
pass "template publish refuses (exit 1): $(grep '^classlab: ' "$T/err" | head -n1)"

cl up "$H/gpu.json"
[ "$RC" = 1 ] || { show >&2; fail "a second up of the GPU lab exited $RC, want 1"; }
[ -z "$(student_vms "$GLAB")" ] || fail "a second up published the unverified GPU lab"
pass "a second up still stops at verification"

must template publish "$GLAB" --force --no-start
grep -qi 'warn' "$T/err" || { show >&2; fail "publish --force printed no warning"; }
sqlite3 "$DB" "select kind || ' ' || coalesce(detail, '') from events where lab='$GLAB'" >"$T/events"
[ -s "$T/events" ] || fail "publish --force recorded no event"
grep -q '^forced-publish ' "$T/events" || { cat "$T/events" >&2; fail "no forced-publish event"; }
# No GPU on this host: the forced publish also goes on without passthrough, on the record.
if ! "$CLASSLAB" -o json host gpus 2>/dev/null | grep -q '"passthrough_ready": *true'; then
	grep -q '^forced-no-gpu ' "$T/events" || { cat "$T/events" >&2; fail "no forced-no-gpu event (host has no free GPU)"; }
fi
[ "$(sqlite3 "$DB" "select count(*) from vms v join labs l on l.id = v.lab_id where l.name='$GLAB' and v.name='$GLAB-alice' and v.kind='student'")" = 1 ] ||
	fail "publish --force made no VM record for alice"
[ -f "$POOL/$GLAB-alice.qcow2" ] || fail "publish --force made no disk for alice"
pass "template publish --force works, warns and records: $(tr '\n' ';' <"$T/events")"

must down "$GLAB" --yes
[ -z "$(cd "$POOL" && ls | grep "^$GLAB-")" ] || fail "down left volumes of $GLAB"

# --- CPU lab: verification passes ---------------------------------------------------------------
t0=$(date +%s)
must up "$H/cpu.json" --no-publish
CUP_S=$(($(date +%s) - t0))
[ -z "$(student_vms "$CLAB")" ] || fail "up --no-publish published"
must template verify "$CLAB"
grep -Eq 'SKIP' "$T/out" "$T/err" || { show >&2; fail "CPU lab's verify reports no SKIPPED GPU check"; }
grep -E 'FAIL' "$T/out" "$T/err" | grep -v 'FAILED 0' && { show >&2; fail "CPU lab's verify reports a failed check"; }
grep -Ei 'gpu' "$T/out" "$T/err" | grep -Eq 'SKIP' || { show >&2; fail "the GPU checks are not reported as skipped"; }
pass "template verify of the CPU lab passes (exit 0), GPU checks skipped (up --no-publish in $CUP_S s)"
show | head -n 8

echo "PASS: GPU gate in $(($(date +%s) - START)) s"
