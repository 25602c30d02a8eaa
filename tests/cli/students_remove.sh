#!/usr/bin/env bash
# students remove revokes: the student's VM record (and, with a hypervisor, its domain,
# disk and seed), their key pair and host keys go before their row, never following a
# symlink; a rerun or a student removed by an older classlab is cleaned up the same way;
# a student added again later starts without the old keys (issue 13, item 5).
# The removal of a real VM is tested in tests/e2e/student-remove.sh.
. "$(dirname "$0")/lib.sh"

LABS="$XDG_DATA_HOME/classlab/labs"
# fake_keys LAB STUDENT: a key pair where classlab keeps a student's.
fake_keys() {
	mkdir -p "$LABS/$1/students/$2" "$LABS/$1/hostkeys/$1-$2"
	echo "PRIVATE $2" >"$LABS/$1/students/$2/id_ed25519"
	echo "ssh-ed25519 AAAA $2" >"$LABS/$1/students/$2/id_ed25519.pub"
	echo "HOST $2" >"$LABS/$1/hostkeys/$1-$2/ssh_host_ed25519_key"
}
gone() { [ ! -e "$1" ] && [ ! -L "$1" ] && pass || fail "$2: $1 is still there"; }
there() { [ -e "$1" ] && pass || fail "$2: $1 is gone"; }

expect_exit 0 lab create ml --size small
for s in alice bob carol dave eve; do expect_exit 0 students add ml "$s"; done

# Without a VM: the row and the keys go; nothing needs a hypervisor.
fake_keys ml alice
expect_exit 0 students remove ml alice
gone "$LABS/ml/students/alice" "remove without a VM"
gone "$LABS/ml/hostkeys/ml-alice" "remove without a VM"
expect_eq "$(sql "SELECT count(*) FROM students WHERE name = 'alice'")" 0 "alice's row"
expect_refused 3 "student 'alice' not found" students remove ml alice
# Added again: no old key is waiting for the new alice.
expect_exit 0 students add ml alice
gone "$LABS/ml/students/alice/id_ed25519" "a new alice"

# With a VM record: the VM goes first (here the test driver has no domain or volume
# by that name; e2e/student-remove.sh removes real ones), then keys, then the row.
sql "INSERT INTO vms (lab_id, student_id, name, kind, ssh_port, state, created_at)
     SELECT l.id, s.id, 'ml-bob', 'student', 61010, 'running', 0
     FROM labs l JOIN students s ON s.lab_id = l.id WHERE s.name = 'bob';
     INSERT INTO vms (lab_id, name, kind, ssh_port, state, created_at)
     SELECT id, 'ml-template', 'template', 61011, 'stopped', 0 FROM labs WHERE name = 'ml';"
fake_keys ml bob
mkdir -p "$LABS/ml/hostkeys/ml-template" && echo keep >"$LABS/ml/hostkeys/ml-template/k"
expect_exit 0 --connect test:///default students remove ml bob
expect_eq "$(sql "SELECT group_concat(name) FROM vms")" "ml-template" "VM records after removing bob"
gone "$LABS/ml/students/bob" "remove with a VM"
gone "$LABS/ml/hostkeys/ml-bob" "remove with a VM"
there "$LABS/ml/hostkeys/ml-template/k" "remove with a VM"
expect_eq "$(sql "SELECT count(*) FROM students WHERE name = 'bob'")" 0 "bob's row"

# A database from before: a student named "template" is removed without touching the
# template's VM or host keys.
sql "INSERT INTO students (lab_id, name) SELECT id, 'template' FROM labs WHERE name = 'ml'"
expect_exit 0 --connect test:///default students remove ml template
expect_eq "$(sql "SELECT group_concat(name) FROM vms")" "ml-template" "the template VM stays"
there "$LABS/ml/hostkeys/ml-template/k" "removing a student named template"

# Left by an older classlab: the row is gone, the VM record (student_id NULL) and the keys
# stay. remove finds and deletes them; a second time there is nothing: not found.
sql "INSERT INTO vms (lab_id, name, kind, ssh_port, state, created_at)
     SELECT id, 'ml-ghost', 'student', 61012, 'running', 0 FROM labs WHERE name = 'ml'"
fake_keys ml ghost
expect_exit 0 --connect test:///default students remove ml ghost
expect_eq "$(sql "SELECT count(*) FROM vms WHERE name = 'ml-ghost'")" 0 "the ghost's VM record"
gone "$LABS/ml/students/ghost" "a removed student's leftovers"
fake_keys ml ghost2
rm -r "$LABS/ml/hostkeys/ml-ghost2"
expect_exit 0 students remove ml ghost2
gone "$LABS/ml/students/ghost2" "leftover keys only"
expect_refused 3 "student 'ghost' not found" students remove ml ghost

# Interrupted after the VM or after the keys (a crash): the row is still there and a
# rerun finishes; the student is never gone while their VM or keys remain.
if "$CLASSLAB" --version >/dev/null && strings "$(dirname "$CLASSLAB")/classlab-vm" 2>/dev/null |
	grep -q CLASSLAB_KILL_AT; then
	for step in students-remove:vm students-remove:keys; do
		fake_keys ml carol
		rc=$( (CLASSLAB_KILL_AT=$step "$CLASSLAB" --db "$DB" students remove ml carol \
			>/dev/null 2>&1; echo $?) 2>/dev/null)
		expect_eq "$rc" 137 "students remove killed at $step"
		expect_eq "$(sql "SELECT count(*) FROM students WHERE name = 'carol'")" 1 \
			"carol's row after a kill at $step"
		[ "$step" = students-remove:keys ] && gone "$LABS/ml/students/carol" "kill at $step"
		expect_exit 0 students remove ml carol
		expect_eq "$(sql "SELECT count(*) FROM students WHERE name = 'carol'")" 0 \
			"carol's row after the rerun"
		gone "$LABS/ml/students/carol" "rerun after a kill at $step"
		expect_exit 0 students add ml carol
	done
else
	echo "note: not a CLASSLAB_TEST_HOOKS build; kill points skipped" >&2
fi

# Symlinks are removed, never followed: what they point at stays.
mkdir -p "$T/precious" && echo keep >"$T/precious/file"
mkdir -p "$LABS/ml/students"
ln -s "$T/precious" "$LABS/ml/students/dave"
expect_exit 0 students remove ml dave
gone "$LABS/ml/students/dave" "a symlinked key directory"
there "$T/precious/file" "a symlinked key directory"
mkdir -p "$LABS/ml/students/eve"
ln -s "$T/precious/file" "$LABS/ml/students/eve/id_ed25519"
ln -s "$T/precious" "$LABS/ml/students/eve/sub"
expect_exit 0 students remove ml eve
gone "$LABS/ml/students/eve" "symlinks inside the key directory"
there "$T/precious/file" "symlinks inside the key directory"

# --keep-vm is refused (exit 2): re-keying a kept VM is not supported.
expect_refused 2 "--keep-vm is not supported" students remove ml carol --keep-vm
expect_refused 2 "unexpected argument" students remove ml carol extra

# lab delete takes the lab's keys too: a lab made again under the name starts afresh.
fake_keys ml carol
sql "DELETE FROM vms"
expect_exit 0 lab delete ml --yes
gone "$LABS/ml" "lab delete"
expect_exit 0 lab create ml --size small
expect_exit 0 students add ml carol
gone "$LABS/ml/students/carol" "a lab made again"
finish
