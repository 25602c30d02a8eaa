#!/usr/bin/env bash
# Names that would make a VM ambiguous or a guest unusable are refused (exit 2, nothing
# written); the per-lab student cap holds for add as for import; lists follow the
# roster's order (issue 13, items 10, 14, 17 and 22).
. "$(dirname "$0")/lib.sh"

expect_exit 0 lab create keep --size small

# --- usernames (item 14): a login name every guest accepts, not a system account ---------
for u in root 9lives Bob daemon bin sys nobody sudo www-data -x a.b "a b" _ta _ssh _apt \
	systemd-journal systemd-anything dip tape voice lpadmin sambashare dhcpcd ssl-cert \
	abcdefghijklmnopqrstuvwxyz0123456; do
	expect_refused 2 "invalid username" lab create u1 --size small --username "$u" ||
		echo "  (username '$u')" >&2
done
expect_refused 2 "a login name is 1-32 characters" lab create u1 --size small --username 9lives
expect_refused 2 "system account" lab create u1 --size small --username root
n=0
for u in student ta lab-user x a9_b-c systemd abcdefghijklmnopqrstuvwxyz012345; do
	n=$((n + 1))
	expect_exit 0 lab create "u$n" --size small --username "$u" || echo "  (username '$u')" >&2
done
# The lab file's "username" goes through the same rule, before anything is written.
for u in root 9lives nobody; do
	printf '{"name": "uf", "size": "small", "username": "%s"}\n' "$u" >"$T/u.json"
	expect_refused 2 "invalid username" --connect test:///default up "$T/u.json" ||
		echo "  (lab file username '$u')" >&2
done

# --- VM names (item 10): <lab>-<student> is one VM, whichever was added first -------------
expect_exit 0 lab create a1 --size small
expect_exit 0 lab create a1-b2 --size small
for s in template template-v1 template-v2 template-anything; do
	expect_refused 2 "is reserved" students add a1 "$s" || echo "  (student '$s')" >&2
done
expect_exit 0 students add a1 templates
expect_exit 0 students add a1 b2-c3
expect_refused 2 "'a1-b2-c3'" students add a1-b2 c3
expect_exit 0 students add a1-b2 d4
expect_refused 2 "one of its students" students add a1 b2-d4
expect_refused 2 "its template" students add a1 b2-template
expect_refused 2 "its template" students add a1 b2-template-v7
# Import and a roster in a lab file are checked the same way, and import is all or none.
printf 'name,email\nok1,a@example.org\nb2-d4,b@example.org\n' >"$T/r.csv"
expect_refused 2 "line 3" students import a1 "$T/r.csv"
printf 'name,email\nok1,a@example.org\ntemplate,b@example.org\n' >"$T/r.csv"
expect_refused 2 "is reserved" students import a1 "$T/r.csv"
# A lab whose template would take names another lab's students have.
expect_exit 0 lab create xx --size small
expect_exit 0 students add xx yy-template
expect_exit 0 students add xx zz-template-v1
expect_refused 2 "ambiguous" lab create xx-yy --size small
expect_refused 2 "ambiguous" lab create xx-zz --size small
expect_exit 0 lab create xx-ww --size small

# Concurrent adds that would meet: exactly one wins (both run in BEGIN IMMEDIATE).
expect_exit 0 lab create p1 --size small
expect_exit 0 lab create p1-q2 --size small
for i in 1 2 3 4 5 6; do
	"$CLASSLAB" --db "$DB" -q students add p1 "q2-r$i" 2>/dev/null &
	"$CLASSLAB" --db "$DB" -q students add p1-q2 "r$i" 2>/dev/null &
	wait
	got=$(sql "SELECT count(*) FROM students s JOIN labs l ON l.id = s.lab_id
	           WHERE (l.name = 'p1' AND s.name = 'q2-r$i') OR (l.name = 'p1-q2' AND s.name = 'r$i')")
	expect_eq "$got" 1 "concurrent adds of p1/q2-r$i and p1-q2/r$i"
done

# --- access checks by ids (item 10): a database from before these checks -----------------
if command -v ssh-keygen >/dev/null; then
	ssh-keygen -q -t ed25519 -N '' -f "$T/hk" >/dev/null
	HK=$(cat "$T/hk.pub")
	# Legacy rows: lab a1 has student b2-x9 and lab a1-b2 has x9 with VM a1-b2-x9;
	# lab a1 has a student "template" whose name is the template VM's.
	sql "INSERT INTO students (lab_id, name) SELECT id, 'b2-x9' FROM labs WHERE name = 'a1';
	     INSERT INTO students (lab_id, name) SELECT id, 'x9' FROM labs WHERE name = 'a1-b2';
	     INSERT INTO students (lab_id, name) SELECT id, 'template' FROM labs WHERE name = 'a1';
	     INSERT INTO vms (lab_id, student_id, name, kind, ssh_port, host_key_pub, state, created_at)
	       SELECT l.id, s.id, 'a1-b2-x9', 'student', 61001, '$HK', 'running', 0
	       FROM labs l JOIN students s ON s.lab_id = l.id WHERE l.name = 'a1-b2' AND s.name = 'x9';
	     INSERT INTO vms (lab_id, name, kind, ssh_port, host_key_pub, state, created_at)
	       SELECT id, 'a1-template', 'template', 61002, '$HK', 'running', 0 FROM labs WHERE name = 'a1';"
	expect_exit 0 connect a1-b2 x9
	expect_stdout_contains "ssh -p 61001 student@127.0.0.1"
	expect_refused 4 "is not student 'b2-x9' of lab 'a1'" connect a1 b2-x9
	expect_refused 4 "is not student 'template' of lab 'a1'" connect a1 template
	expect_refused 4 "is not student" ssh-config a1
	expect_refused 4 "is not student" ssh-config a1 template
	mkdir -p "$T/out"
	expect_refused 4 "is not student" students export a1 b2-x9 "$T/out/x"
	[ ! -e "$T/out/x" ] && pass || fail "export of another lab's VM wrote $T/out/x"
	sql "DELETE FROM vms; DELETE FROM students WHERE name IN ('b2-x9', 'x9', 'template');"
else
	echo "note: ssh-keygen missing; access checks skipped" >&2
fi

# --- roster order (item 22): students list, ssh-config and vm list -------------------------
expect_exit 0 lab create ord --size small
for s in st1 st10 st11 st2 st3 st20; do
	expect_exit 0 students add ord "$s"
done
expect_exit 0 -o json students list ord
expect_eq "$(json_get '[.[].name]')" '["st1","st10","st11","st2","st3","st20"]' "students list order"
# Remove one and add it back: it goes to the end, as on a roster.
expect_exit 0 students remove ord st10
expect_exit 0 students add ord st10
expect_exit 0 students list ord
expect_eq "$(awk 'NR > 1 { printf "%s ", $1 }' "$OUT")" "st1 st11 st2 st3 st20 st10 " "table order"
if command -v ssh-keygen >/dev/null; then
	port=61100
	sql "INSERT INTO vms (lab_id, name, kind, ssh_port, host_key_pub, state, created_at)
	     SELECT id, 'ord-template', 'template', 61099, '$HK', 'stopped', 0 FROM labs WHERE name = 'ord'"
	# VM records made in another order than the roster's (as a publish by name would).
	for s in st20 st3 st2 st11 st10 st1; do
		port=$((port + 1))
		sql "INSERT INTO vms (lab_id, student_id, name, kind, ssh_port, host_key_pub, state, created_at)
		     SELECT l.id, s.id, 'ord-$s', 'student', $port, '$HK', 'stopped', 0
		     FROM labs l JOIN students s ON s.lab_id = l.id WHERE l.name = 'ord' AND s.name = '$s'"
	done
	expect_exit 0 ssh-config ord
	expect_eq "$(awk '/^Host / { printf "%s ", $2 }' "$OUT")" \
		"ord-st1 ord-st11 ord-st2 ord-st3 ord-st20 ord-st10 " "ssh-config order"
	expect_exit 0 --connect test:///default -o json vm list ord
	expect_eq "$(json_get '[.[].name]')" \
		'["ord-template","ord-st1","ord-st11","ord-st2","ord-st3","ord-st20","ord-st10"]' \
		"vm list order"
	sql "DELETE FROM vms"
fi

# --- the per-lab cap (item 17): add cannot go past what import may not ---------------------
{
	echo name,email
	for i in $(seq 1 99999); do echo "c$i,"; done
} >"$T/big.csv"
expect_exit 0 lab create cap --size small
expect_exit 0 students import cap "$T/big.csv"
expect_exit 0 students add cap c100000
expect_refused 2 "the most a lab may have" students add cap one-more
printf 'name,email\nmore1,\n' >"$T/more.csv"
expect_refused 2 "the most a lab may have" students import cap "$T/more.csv"
expect_exit 0 students add ord one-more # another lab is not full
finish
