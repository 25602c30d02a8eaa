#!/usr/bin/env bash
# Faults: an unreachable hypervisor (exit 5, store untouched), a full pool (a clear error,
# no half-made volume), and a guest that never boots (a time-out naming the console log,
# exit 5, the VM kept for debugging).
set -u
CLASSLAB=${CLASSLAB:?path to the classlab binary}
command -v qemu-system-x86_64 >/dev/null || { echo "skip: qemu-system-x86_64 missing" >&2; exit 77; }
export CLASSLAB_HOME=$(mktemp -d /tmp/clf.XXXX)
cleanup() {
  "$CLASSLAB" -q down nb --yes >/dev/null 2>&1
  "$CLASSLAB" -q down full --yes >/dev/null 2>&1
  pkill -9 -f "$CLASSLAB_HOME" 2>/dev/null
  umount "$CLASSLAB_HOME/pool" 2>/dev/null
  rm -rf "$CLASSLAB_HOME"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
DB=$CLASSLAB_HOME/classlab.db

# 1. Unreachable hypervisor: exit 5 before anything is written.
head -c 1048576 /dev/urandom >"$CLASSLAB_HOME/junk.raw" # lab create checks the image exists
"$CLASSLAB" -q lab create nb --size small --image "$CLASSLAB_HOME/junk.raw" >/dev/null || fail "lab create"
before=$(sqlite3 "$DB" .dump | md5sum)
for verb in "template build nb" "template publish nb" "down nb --yes" "vm start nb --all"; do
  # shellcheck disable=SC2086
  "$CLASSLAB" --connect 'qemu:///system?socket=/nonexistent/libvirt-sock' $verb 2>"$CLASSLAB_HOME/err"
  rc=$?
  [ $rc -eq 5 ] || fail "'$verb' with an unreachable hypervisor exited $rc, want 5"
  grep -q "cannot connect to hypervisor" "$CLASSLAB_HOME/err" || fail "message: $(cat "$CLASSLAB_HOME/err")"
done
[ "$(sqlite3 "$DB" .dump | md5sum)" = "$before" ] || fail "the store changed after hypervisor failures"
echo "ok: unreachable hypervisor -> exit 5, store untouched"

# 2. A guest that never boots (a blank disk: no bootloader, no SSH): a time-out that names
#    the console log, exit 5, and the template VM kept for debugging.
truncate -s 16M "$CLASSLAB_HOME/junk.raw"
start=$(date +%s)
CLASSLAB_BOOT_TIMEOUT=6 "$CLASSLAB" -q template build nb 2>"$CLASSLAB_HOME/err"
rc=$?
[ $rc -eq 5 ] || fail "a guest that never boots: exit $rc, want 5 ($(cat "$CLASSLAB_HOME/err"))"
grep -q "did not answer SSH within 6 s" "$CLASSLAB_HOME/err" || fail "no time-out message: $(cat "$CLASSLAB_HOME/err")"
grep -q "console log: $CLASSLAB_HOME/console/nb-template.log" "$CLASSLAB_HOME/err" || fail "console log not named"
[ $(( $(date +%s) - start )) -lt 60 ] || fail "the time-out took too long"
state=$(virsh -q -c "qemu:///embed?root=$CLASSLAB_HOME/hv" domstate nb-template 2>/dev/null)
[ "$state" = running ] || fail "the template VM was not kept for debugging (state '$state')"
"$CLASSLAB" -q down nb --yes || fail "down after a failed build"
echo "ok: a guest that never boots -> exit 5 naming the console log, VM kept"

# 3. A full pool: importing the base image fails cleanly and leaves no partial volume.
mkdir -p "$CLASSLAB_HOME/pool"
if mount -t tmpfs -o size=3m tmpfs "$CLASSLAB_HOME/pool" 2>/dev/null; then
  cat > "$CLASSLAB_HOME/full.json" <<JSON
{ "name": "full", "size": "small", "image": "tiny", "memory_mib": 160, "students": [{"name": "s1"}] }
JSON
  "$CLASSLAB" -q up "$CLASSLAB_HOME/full.json" 2>"$CLASSLAB_HOME/err"
  rc=$?
  [ $rc -eq 1 ] || fail "full pool: exit $rc, want 1 ($(cat "$CLASSLAB_HOME/err"))"
  grep -qi "no space left" "$CLASSLAB_HOME/err" || fail "full pool message: $(cat "$CLASSLAB_HOME/err")"
  left=$(find "$CLASSLAB_HOME/pool" -type f | wc -l)
  [ "$left" -eq 0 ] || fail "half-made volumes left in the full pool: $(ls -la "$CLASSLAB_HOME/pool")"
  umount "$CLASSLAB_HOME/pool"
  echo "ok: a full pool -> a clear error, nothing half-made ($(head -c 300 "$CLASSLAB_HOME/err"))"
else
  echo "note: cannot mount a small tmpfs here; full-pool case not run" >&2
fi
echo "faults: all passed"
