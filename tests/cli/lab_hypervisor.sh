#!/usr/bin/env bash
# A lab's VMs live on one hypervisor (schema 5: labs.hv_uri, recorded by the first
# command that makes them). A command connected to another one is refused (exit 5,
# nothing changed), so that "no such domain here" is never taken for "removed":
# students remove, down, vm start/stop/list, template build/publish, up (issue 13,
# item 5, second hostile pass). The real embedded case is in e2e/student-remove.sh.
. "$(dirname "$0")/lib.sh"

OTHER=test:///default
expect_exit 0 lab create ml --size small
expect_exit 0 students add ml bob
expect_exit 0 students add ml carol
# The lab's VMs as a first build and publish on qemu:///embed left them.
HV="qemu:///embed?root=$T/hv"
sql "UPDATE labs SET hv_uri = '$HV', template_state = 'published', template_version = 1
     WHERE name = 'ml';
     INSERT INTO vms (lab_id, student_id, name, kind, ssh_port, state, template_version,
                      created_at)
     SELECT l.id, s.id, 'ml-' || s.name, 'student', 61010 + s.id, 'running', 1, 0
     FROM labs l JOIN students s ON s.lab_id = l.id WHERE l.name = 'ml';"
mkdir -p "$XDG_DATA_HOME/classlab/labs/ml/students/bob"
echo "PRIVATE bob" >"$XDG_DATA_HOME/classlab/labs/ml/students/bob/id_ed25519"

for cmd in "students remove ml bob" "down ml --yes" "vm stop ml bob" "vm start ml --all" \
	"vm list ml" "template build ml" "template publish ml --yes"; do
	# shellcheck disable=SC2086
	expect_refused 5 "has its VMs on '$HV', not on '$OTHER'" --connect "$OTHER" $cmd ||
		echo "  ($cmd)" >&2
done
[ -s "$XDG_DATA_HOME/classlab/labs/ml/students/bob/id_ed25519" ] ||
	fail "a refused remove deleted bob's key"
# up with the lab's file: refused before the lab is touched.
printf '{"name": "ml", "size": "small", "students": [{"name": "bob"}, {"name": "carol"}]}\n' \
	>"$T/ml.json"
expect_refused 5 "has its VMs on" --connect "$OTHER" up "$T/ml.json"

# A lab with no VMs yet takes the hypervisor of the command that makes them.
expect_exit 0 lab create fresh --size small
expect_eq "$(sql "SELECT coalesce(hv_uri, 'NULL') FROM labs WHERE name = 'fresh'")" NULL \
	"a new lab's hypervisor"
finish
