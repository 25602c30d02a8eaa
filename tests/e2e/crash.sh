#!/usr/bin/env bash
# Crash safety (SIGKILL at every named step of publish, rebuild and down, and at random
# times during up): running the same command again converges to exactly one domain, disk,
# seed, port, MAC and instance-id per student, no orphans, and an intact database.
# Needs a build with -DCLASSLAB_TEST_HOOKS=ON (scripts/test makes one).
set -u
. "$(dirname "$0")/../cli/lib.sh" 2>/dev/null || true
CLASSLAB=${CLASSLAB:?path to the classlab binary}
command -v qemu-system-x86_64 >/dev/null || { echo "skip: qemu-system-x86_64 missing" >&2; exit 77; }
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 missing" >&2; exit 77; }

export CLASSLAB_HOME=$(mktemp -d /tmp/clk.XXXX)
LAB=crash
cleanup() {
  "$CLASSLAB" -q down "$LAB" --yes >/dev/null 2>&1
  pkill -9 -f "$CLASSLAB_HOME" 2>/dev/null
  rm -rf "$CLASSLAB_HOME"
  # This trap replaces cli/lib.sh's, which removed its scratch directory.
  [ -n "${T:-}" ] && rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
DB=$CLASSLAB_HOME/classlab.db
POOL=$CLASSLAB_HOME/pool
VIRSH=(virsh -q -c "qemu:///embed?root=$CLASSLAB_HOME/hv")

cat > "$CLASSLAB_HOME/lab.json" <<JSON
{ "name": "$LAB", "size": "small", "image": "tiny", "memory_mib": 160, "vcpus": 1,
  "students": [ {"name": "s1"}, {"name": "s2"}, {"name": "s3"} ] }
JSON

# Does this build have kill points? A kill at the first step of up must end it with 137.
CLASSLAB_KILL_AT=build:lab "$CLASSLAB" -q up "$CLASSLAB_HOME/lab.json" --no-publish >/dev/null 2>&1
if [ $? -ne 137 ]; then
  echo "skip: this classlab has no kill points (configure with -DCLASSLAB_TEST_HOOKS=ON)" >&2
  exit 77
fi
"$CLASSLAB" -q up "$CLASSLAB_HOME/lab.json" --no-publish >/dev/null || fail "up --no-publish after a kill"

# The lab is consistent: each student exactly one record/domain/disk/seed, unique
# ports/MACs/instance-ids, no volume or domain without a record, DB intact.
check_converged() {
  local what=$1 want_students=$2
  [ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ] || fail "$what: integrity_check"
  local n
  n=$(sqlite3 "$DB" "select count(*) from vms where kind='student'")
  [ "$n" -eq "$want_students" ] || fail "$what: $n student VM records, want $want_students"
  for col in ssh_port mac instance_id uuid; do
    [ "$(sqlite3 "$DB" "select count(*) - count(distinct $col) from vms")" -eq 0 ] ||
      fail "$what: duplicate $col"
  done
  # Volumes: base images, template disks, and exactly <vm>.qcow2 + <vm>-seed.iso per record.
  local expected actual
  expected=$(sqlite3 "$DB" "select name||'.qcow2' from vms where kind='student' union all
                            select name||'-seed.iso' from vms order by 1")
  actual=$(ls "$POOL" | grep -v '^base_' | grep -v -- '-template-v[0-9]*\.qcow2$' | sort)
  [ "$actual" = "$(echo "$expected" | sort)" ] || fail "$what: volumes differ: got [$actual] want [$expected]"
  local doms recs
  doms=$("${VIRSH[@]}" list --all --name | sort | sed '/^$/d')
  recs=$(sqlite3 "$DB" "select name from vms order by name")
  [ "$doms" = "$recs" ] || fail "$what: domains [$doms] but records [$recs]"
}

# publish:seed and publish:define are reached only for a VM not defined yet: each such
# round first replaces student s3 (its old VM goes, a new one is made). remove:* steps
# run in `students remove` (which revokes at once): it is killed there and rerun.
for round in publish:record:1 publish:record:2 publish:overlay:2 publish:student:2 \
             publish:seed:1 publish:define:1 remove:disk:1 remove:undefine:1; do
  step=${round%:*} nth=${round##*:}
  {
    case $step in
    publish:seed|publish:define)
      "$CLASSLAB" -q students remove "$LAB" s3 && "$CLASSLAB" -q students add "$LAB" s3 ;;
    remove:*)
      CLASSLAB_KILL_AT=$step:$nth "$CLASSLAB" -q students remove "$LAB" s3 >/dev/null 2>&1
      rc=$?
      [ $rc -eq 137 ] || fail "students remove with kill at $step:$nth exited $rc, want 137"
      "$CLASSLAB" -q students remove "$LAB" s3 >/dev/null 2>&1
      case $? in 0 | 3) ;; *) fail "students remove after kill at $step:$nth" ;; esac
      "$CLASSLAB" -q template publish "$LAB" --no-start >/dev/null || fail "publish after remove killed at $step:$nth"
      check_converged "students remove killed at $step:$nth" 2
      "$CLASSLAB" -q students add "$LAB" s3 >/dev/null || fail "students add s3 after $step:$nth"
      "$CLASSLAB" -q template publish "$LAB" --no-start >/dev/null || fail "publish of s3 after $step:$nth"
      check_converged "s3 back after $step:$nth" 3
      echo "ok: students remove killed at $step:$nth converged"
      continue ;;
    esac
    CLASSLAB_KILL_AT=$step:$nth "$CLASSLAB" -q template publish "$LAB" --no-start >/dev/null 2>&1
    rc=$?
    [ $rc -eq 137 ] || fail "publish with kill at $step:$nth exited $rc, want 137 (SIGKILL)"
    # The lock of the killed process is stale: the rerun takes it over.
    "$CLASSLAB" -q template publish "$LAB" --no-start >/dev/null || fail "publish after kill at $step:$nth"
    check_converged "publish killed at $step:$nth" 3
    echo "ok: publish killed at $step:$nth converged"
  }
done

# A rebuild of the published lab that is killed at each of its steps, or fails (boot
# timeout), leaves an unfinished version: the next build or up reuses or replaces it
# and the students' disks stay until a publish (issue 13, item 9).
disks_before=$(ls "$POOL" | grep -E "^$LAB-s[0-9]\.qcow2$" | sort)
for how in kill:build:disk kill:build:lab kill:build:start fail:timeout kill:build:lab:up; do
  ver=$(sqlite3 "$DB" "select template_version from labs where name='$LAB'")
  case $how in
  kill:*)
    step=${how#kill:}; step=${step%:up}
    CLASSLAB_KILL_AT=$step "$CLASSLAB" -q template build "$LAB" >/dev/null 2>&1
    rc=$?
    [ $rc -eq 137 ] || fail "template build with kill at $step exited $rc, want 137" ;;
  fail:timeout)
    CLASSLAB_BOOT_TIMEOUT=1 "$CLASSLAB" -q template build "$LAB" >/dev/null 2>&1
    rc=$?
    # A boot timeout is 5 (the guest did not answer); anything but success or a kill.
    case $rc in 0 | 137) fail "template build with a 1 s boot timeout exited $rc" ;; esac ;;
  esac
  [ "$(ls "$POOL" | grep -E "^$LAB-s[0-9]\.qcow2$" | sort)" = "$disks_before" ] ||
    fail "$how: a failed rebuild touched the students' disks"
  if [ "${how%:up}" != "$how" ]; then
    "$CLASSLAB" -q up "$CLASSLAB_HOME/lab.json" --no-publish >/dev/null 2>"$CLASSLAB_HOME/err" ||
      fail "up after rebuild $how: $(cat "$CLASSLAB_HOME/err")"
  else
    "$CLASSLAB" -q template build "$LAB" >/dev/null 2>"$CLASSLAB_HOME/err" ||
      fail "template build after rebuild $how: $(cat "$CLASSLAB_HOME/err")"
  fi
  got=$(sqlite3 "$DB" "select template_state||' '||template_version from labs where name='$LAB'")
  # up also verifies the template it built.
  case $got in "built $((ver + 1))" | "verified $((ver + 1))") ;;
  *) fail "$how: lab is '$got' after the rerun, want 'built $((ver + 1))'" ;; esac
  [ -e "$POOL/$LAB-template-v$((ver + 2)).qcow2" ] && fail "$how: a second new version was made"
  "$CLASSLAB" -q template publish "$LAB" --no-start --yes >/dev/null 2>"$CLASSLAB_HOME/err" ||
    fail "publish after rebuild $how: $(cat "$CLASSLAB_HOME/err")"
  check_converged "rebuild $how" 3
  echo "ok: rebuild of a published lab ($how) converged on rerun"
done

# down killed again and again at different steps; each rerun picks up where it stopped.
for round in remove:undefine:2 remove:disk:1 remove:seed:2 down:vm:1; do
  CLASSLAB_KILL_AT=$round "$CLASSLAB" -q down "$LAB" --yes >/dev/null 2>&1
  rc=$?
  [ $rc -eq 137 ] || fail "down with kill at $round exited $rc"
  echo "ok: down killed at $round"
done
"$CLASSLAB" -q down "$LAB" --yes >/dev/null || fail "down after kills"
[ -z "$("${VIRSH[@]}" list --all --name | sed '/^$/d')" ] || fail "domains left after down"
[ -z "$(ls "$POOL" | grep -v '^base_')" ] || fail "volumes left after down: $(ls "$POOL")"
[ "$(sqlite3 "$DB" 'select count(*) from vms')" -eq 0 ] || fail "records left after down"
echo "ok: down converged after four kills"

# Two publishes of one lab at once: one works, the other waits or says the lab is busy (4).
# Either may win the race (the first has the head start, but not a guaranteed one).
"$CLASSLAB" -q up "$CLASSLAB_HOME/lab.json" --no-publish >/dev/null || fail "rebuild for concurrency"
"$CLASSLAB" -q template publish "$LAB" --no-start >"$CLASSLAB_HOME/p1.out" 2>"$CLASSLAB_HOME/p1.err" &
p1=$!
sleep 0.05
"$CLASSLAB" -q template publish "$LAB" --no-start >"$CLASSLAB_HOME/p2.out" 2>"$CLASSLAB_HOME/p2.err"
rc2=$?
wait $p1
rc1=$?
case "$rc1 $rc2" in
"0 0") echo "ok: publishes did not overlap (both succeeded)" ;;
"0 4" | "4 0")
	[ "$rc1" = 4 ] && busy=p1 || busy=p2
	# The lab lock, or (embedded driver: one process per data directory) the hypervisor.
	grep -Eq "is busy \(pid|in use by another classlab \(pid" "$CLASSLAB_HOME/$busy.err" ||
		fail "busy message: $(cat "$CLASSLAB_HOME/$busy.err")"
	echo "ok: of two publishes of one lab at once, one worked and the other exited 4" ;;
*) fail "concurrent publishes: rc $rc1 and $rc2: $(cat "$CLASSLAB_HOME/p1.err" "$CLASSLAB_HOME/p2.err")" ;;
esac
check_converged "after concurrent publishes" 3

# A real up (template already built, VMs booting) killed at a random moment, then rerun:
# every student VM answers SSH with the pinned host key.
"$CLASSLAB" -q template publish "$LAB" >/dev/null 2>&1 &
pid=$!
sleep $((2 + RANDOM % 8))
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
"$CLASSLAB" -q up "$CLASSLAB_HOME/lab.json" >/dev/null || fail "up after a random kill"
check_converged "up after a random kill" 3
"$CLASSLAB" ssh-config "$LAB" >"$CLASSLAB_HOME/ssh_config" || fail "ssh-config"
for s in s1 s2 s3; do
  got=$(ssh -F "$CLASSLAB_HOME/ssh_config" -o BatchMode=yes -o ConnectTimeout=20 "$LAB-$s" hostname) ||
    fail "ssh to $LAB-$s after the random kill"
  [ "$got" = "$LAB-$s" ] || fail "hostname of $LAB-$s is '$got'"
done
echo "ok: up killed at a random moment converged and every VM answers SSH"
echo "crash: all passed"
