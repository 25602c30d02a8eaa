#!/bin/bash
# shellcheck disable=SC2010 # ls | grep: pool volume names are classlab's own ([a-z0-9.-])
# End-to-end: the lab lifecycle of issue 4 on real tiny guests under qemu:///embed.
#   up FILE (2 students)  -> every printed `ssh -p PORT student@127.0.0.1` answers, stock
#                            OpenSSH with the generated ssh-config logs in, hostname is
#                            <lab>-<student>; disks are overlays (student -> template vN ->
#                            base); ports and MACs unique; every domain XML validates
#   up FILE again         -> nothing changes (DB rows, volumes, domain XML, qemu processes)
#   students add + publish -> the new student gets a VM (small overlay at creation), the
#                            others keep theirs untouched
#   students remove + publish -> the removed student's VM and volumes go away
#   down --yes            -> no domain, no volume except base_*; lab delete works
# Exit: 0 pass, 1 fail, 77 skipped (reason on stderr).
set -u
set -o pipefail

. "$(dirname "${BASH_SOURCE[0]}")/e2e-lib.sh"
: "${CL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${CL_TEST_DATA:=$CL_SOURCE_DIR/tests/data}"
need_guest qemu-system-x86_64 qemu-img virsh virt-xml-validate sqlite3 ssh ssh-keygen

unset CLASSLAB_DB CLASSLAB_URI LIBVIRT_DEFAULT_URI
H=$(mktemp -d /tmp/cle.XXXX) || exit 1
export CLASSLAB_HOME=$H
URI="qemu:///embed?root=$H/hv"
LAB=e2e-two
LABFILE=$H/two.json
DB=$H/classlab.db
POOL=$H/pool
T=$H/t
mkdir -p "$T"
# Own port range, so that the e2e scripts can run side by side (ctest -j).
sed 's/"public_host": "127.0.0.1",/&\n  "port_range": [50000, 50999],/' "$CL_TEST_DATA/labs/two.json" >"$LABFILE"

# shellcheck disable=SC2317 # called through trap
cleanup() { finish_labs $? "$H" "$LAB"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

START=$(date +%s)
# virsh on the embedded root (never while classlab runs). `domstats` first waits for the
# reattachment of running guests (see DESIGN.md pitfalls); a crash of virsh is retried.
vsh() {
	local out
	for _ in 1 2 3 4 5; do
		# virsh 9.0 on the embedded driver can crash on exit (after its output): trust
		# the output when the end mark came through, whatever the exit status.
		out=$(virsh -q -c "$URI" "domstats --state; echo @@cut@@; $*; echo @@end@@" 2>"$T/virsh.err")
		if [[ $out == *@@end@@ ]]; then
			# (virsh's echo ends no line: keep what follows the marks on their lines)
			printf '%s\n' "${out%@@end@@}" |
				awk 'f { print; next } (i = index($0, "@@cut@@")) { f = 1; r = substr($0, i + 7); if (r != "") print r }' |
				sed '${/^$/d}'
			return 0
		fi
		sleep 0.5
	done
	cat "$T/virsh.err" >&2
	echo "virsh $* failed 5 times" >&2
	return 1
}
ssh_cfg() { # ssh_cfg HOST CMD: stock OpenSSH with the generated config
	ssh -F "$T/ssh_config" -o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR "$@"
}
answers_within_60s() { # answers_within_60s VM WHEN: the VM gives its hostname over SSH
	local got='' _
	for _ in $(seq 60); do
		got=$(ssh_cfg "$1" hostname 2>/dev/null) && break
		sleep 1
	done
	[ "$got" = "$1" ] || fail "$1 does not answer $2 (hostname '$got')"
}
qemu_pid() { pgrep -f -- "guest=$1,.*$H/" | head -n1; }
snapshot() { # snapshot FILE: everything a no-op must leave as it was
	{
		echo "== vms"
		sqlite3 "$DB" 'select name,uuid,mac,ssh_port,instance_id,host_key_pub from vms order by name'
		echo "== volumes"
		# (base_* images follow the tiny recipe in the source tree: an edit of it between
		# the two runs imports a new base, which the lab does not use until a rebuild)
		(cd "$POOL" && ls | grep -v '^base_')
		echo "== domains"
		vsh 'list --all --name'
		echo "== xml"
		local d
		local doms
		doms=$(vsh 'list --all --name') || fail "virsh list failed"
		for d in $doms; do
			echo "-- $d"
			vsh "dumpxml --inactive $d" || fail "virsh dumpxml $d failed"
		done
		echo "== qemu processes"
		for d in $LAB-alice $LAB-bob; do echo "$d $(qemu_pid "$d")"; done
	} >"$1"
}

# --- up ------------------------------------------------------------------------------
t0=$(date +%s)
must up "$LABFILE"
cp "$T/out" "$T/up1.out"
UP_S=$(($(date +%s) - t0))
cat "$T/up1.out"
for s in alice bob; do
	grep -Eq "^$s +ssh -p [0-9]+ student@127\.0\.0\.1\$" "$T/up1.out" || fail "up printed no ssh line for $s"
done
grep -q '^estimate ' "$T/up1.out" || fail "up printed no estimate"
pass "up in $UP_S s"

must ssh-config "$LAB"
cp "$T/out" "$T/ssh_config"
grep -qi 'StrictHostKeyChecking yes' "$T/ssh_config" || fail "ssh-config has no StrictHostKeyChecking yes"
grep -Eqi 'StrictHostKeyChecking +(no|accept-new)' "$T/ssh_config" && fail "ssh-config weakens host key checking"
KH=$H/labs/$LAB/known_hosts
[ -f "$KH" ] || fail "no $KH"
for s in alice bob; do
	line=$(grep -E "^$s +ssh " "$T/up1.out" | sed -E 's/^[a-z0-9-]+ +//')
	read -r -a cmd <<<"$line"
	# The printed line as is, plus the identity and the lab's known_hosts (strict).
	got=$("${cmd[@]}" -F /dev/null -i "$H/labs/$LAB/students/$s/id_ed25519" -o IdentitiesOnly=yes \
		-o UserKnownHostsFile="$KH" -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes \
		-o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR hostname) ||
		fail "'$line' did not log in"
	[ "$got" = "$LAB-$s" ] || fail "'$line': hostname is '$got', want $LAB-$s"
	got=$(ssh_cfg "$LAB-$s" hostname) || fail "ssh -F ssh-config $LAB-$s failed"
	[ "$got" = "$LAB-$s" ] || fail "ssh -F ssh-config $LAB-$s: hostname '$got'"
done
pass "printed ssh lines and 'ssh -F <ssh-config>' log in with strict host keys; hostnames $LAB-{alice,bob}"

# --- overlays ----------------------------------------------------------------------------
TV=$(sqlite3 "$DB" "select template_version from labs where name='$LAB'")
[ "$TV" -ge 1 ] 2>/dev/null || fail "template_version is '$TV'"
for s in alice bob; do
	qemu-img info -U --backing-chain "$POOL/$LAB-$s.qcow2" >"$T/chain" || fail "qemu-img info $LAB-$s.qcow2"
	grep -q "^image: $POOL/$LAB-template-v$TV.qcow2\$" "$T/chain" || { cat "$T/chain" >&2; fail "$LAB-$s.qcow2 is not on $LAB-template-v$TV.qcow2"; }
	grep -Eq "^image: $POOL/base_tiny-[0-9a-f]+\.qcow2\$" "$T/chain" || { cat "$T/chain" >&2; fail "$LAB-$s.qcow2's chain has no base_tiny-*.qcow2"; }
	[ "$(grep -c '^image:' "$T/chain")" = 3 ] || { cat "$T/chain" >&2; fail "$LAB-$s.qcow2: chain is not student -> template -> base"; }
	kib=$(du -k "$POOL/$LAB-$s.qcow2" | cut -f1)
	[ "$kib" -le 8192 ] || fail "$LAB-$s.qcow2 takes $kib KiB after boot (a copy?)"
done
pass "student disks are overlays: student -> $LAB-template-v$TV.qcow2 -> base_tiny-*.qcow2"

# --- ports, MACs, XML ----------------------------------------------------------------------
must -o json vm list "$LAB"
python3 - "$T/out" >"$T/ports" <<'PY' || fail "vm list -o json: bad output"
import json, sys
vms = json.load(open(sys.argv[1]))
for v in vms:
    print(v["name"], v["ssh_port"], v["state"], v["host"])
PY
[ "$(wc -l <"$T/ports")" = 3 ] || { cat "$T/ports" >&2; fail "vm list: want 3 VMs (template + 2)"; }
[ "$(cut -d' ' -f2 "$T/ports" | sort -u | wc -l)" = 3 ] || { cat "$T/ports" >&2; fail "ssh ports not unique"; }
for s in alice bob; do
	grep -q "^$LAB-$s [0-9]* running 127.0.0.1\$" "$T/ports" || { cat "$T/ports" >&2; fail "$LAB-$s not running in vm list"; }
	p=$(awk -v n="$LAB-$s" '$1 == n { print $2 }' "$T/ports")
	grep -Eq "^$s +ssh -p $p " "$T/up1.out" || fail "vm list port $p of $s differs from up's line"
done
: >"$T/macs"
: >"$T/fwd"
for d in $(vsh 'list --all --name'); do
	vsh "dumpxml $d" >"$T/$d.xml" || fail "virsh dumpxml $d"
	virt-xml-validate "$T/$d.xml" domain >"$T/validate" 2>&1 || { cat "$T/validate" >&2; fail "dumpxml $d does not validate"; }
	virt-xml-validate "$H/hv/etc/qemu/$d.xml" domain >"$T/validate" 2>&1 || { cat "$T/validate" >&2; fail "$d's defined XML does not validate"; }
	grep -o 'mac=[0-9a-f:]*' "$T/$d.xml" | sed "s/^mac=/$d /" >>"$T/macs"
	grep -o 'hostfwd=tcp:[0-9.]*:[0-9]*-:22' "$T/$d.xml" | sed "s/^/$d /" >>"$T/fwd"
	dbmac=$(sqlite3 "$DB" "select mac from vms where name='$d'")
	grep -q "mac=$dbmac," "$T/$d.xml" || fail "$d: the stored MAC $dbmac is not in its XML"
	dbport=$(sqlite3 "$DB" "select ssh_port from vms where name='$d'")
	grep -q "hostfwd=tcp:127.0.0.1:$dbport-:22" "$T/$d.xml" || fail "$d: no hostfwd on 127.0.0.1:$dbport"
	grep -q "type='qemu'" "$T/$d.xml" || [ -e /dev/kvm ] || fail "$d is not a TCG domain"
done
[ "$(wc -l <"$T/macs")" = 3 ] || { cat "$T/macs" >&2; fail "want one MAC per domain (3)"; }
[ "$(cut -d' ' -f2 "$T/macs" | sort -u | wc -l)" = 3 ] || { cat "$T/macs" >&2; fail "MACs not unique"; }
while read -r d mac; do
	# locally administered (bit 1 of the first octet), unicast (bit 0 clear)
	o=$((16#${mac%%:*}))
	[ $((o & 2)) = 2 ] && [ $((o & 1)) = 0 ] || fail "$d: MAC $mac is not locally administered unicast"
done <"$T/macs"
[ "$(cut -d' ' -f2 "$T/fwd" | sort -u | wc -l)" = 3 ] || { cat "$T/fwd" >&2; fail "host forwards not unique"; }
pass "ports and MACs unique (vm list, DB, dumpxml); every domain XML passes virt-xml-validate"

# --- up again: a no-op -----------------------------------------------------------------------
snapshot "$T/before"
t0=$(date +%s)
must up "$LABFILE"
UP2_S=$(($(date +%s) - t0))
cmp -s "$T/up1.out" "$T/out" || { diff "$T/up1.out" "$T/out" >&2; fail "the second up printed other lines"; }
snapshot "$T/after"
diff "$T/before" "$T/after" >&2 || fail "the second up changed something (diff above)"
for s in alice bob; do
	[ "$(ssh_cfg "$LAB-$s" hostname)" = "$LAB-$s" ] || fail "$LAB-$s does not answer after the second up"
done
pass "second up in $UP2_S s changed nothing (ids, ports, MACs, instance-ids, volumes, XML, qemu pids)"

# --- a student added later ---------------------------------------------------------------------
sqlite3 "$DB" 'select name,uuid,mac,ssh_port,instance_id from vms order by name' >"$T/rows0"
A_PID=$(qemu_pid "$LAB-alice")
B_PID=$(qemu_pid "$LAB-bob")
must students add "$LAB" carol --email carol@example.edu
must template publish "$LAB" --no-start
[ -f "$POOL/$LAB-carol.qcow2" ] || fail "publish made no $LAB-carol.qcow2"
kib=$(du -k "$POOL/$LAB-carol.qcow2" | cut -f1)
[ "$kib" -le 1024 ] || fail "$LAB-carol.qcow2 takes $kib KiB at creation (want <= 1 MiB)"
qemu-img info -U --backing-chain "$POOL/$LAB-carol.qcow2" | grep -q "^image: $POOL/$LAB-template-v$TV.qcow2\$" ||
	fail "$LAB-carol.qcow2 is not an overlay on the template"
CAROL_KIB=$kib
[ "$(qemu_pid "$LAB-alice")" = "$A_PID" ] && [ "$(qemu_pid "$LAB-bob")" = "$B_PID" ] ||
	fail "publish restarted alice's or bob's VM"
sqlite3 "$DB" 'select name,uuid,mac,ssh_port,instance_id from vms order by name' | grep -v "^$LAB-carol|" >"$T/rows1"
diff "$T/rows0" "$T/rows1" >&2 || fail "publish changed the others' records"
# Another program took carol's port before her VM first started: start moves it to a free one.
CAROL_PORT=$(sqlite3 "$DB" "select ssh_port from vms where name='$LAB-carol'")
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
open(sys.argv[2], "w").close(); time.sleep(300)' "$CAROL_PORT" "$T/held" &
HOLDER=$!
for _ in $(seq 300); do [ -e "$T/held" ] || ! kill -0 "$HOLDER" 2>/dev/null && break; sleep 0.1; done # a loaded machine starts python slowly
[ -e "$T/held" ] || fail "could not hold port $CAROL_PORT"
must -q vm start "$LAB" carol
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
NEW_PORT=$(sqlite3 "$DB" "select ssh_port from vms where name='$LAB-carol'")
[ "$NEW_PORT" != "$CAROL_PORT" ] || fail "carol kept port $CAROL_PORT that another program holds"
[ "$NEW_PORT" -ge 50000 ] && [ "$NEW_PORT" -le 50999 ] || fail "carol's new port $NEW_PORT is outside the lab's range"
grep -q "warning: port $CAROL_PORT of $LAB-carol is in use by another program; $LAB-carol now uses port $NEW_PORT" "$T/err" ||
	{ cat "$T/err" >&2; fail "vm start -q did not warn about carol's new port"; }
grep -q "hostfwd=tcp:127.0.0.1:$NEW_PORT-:22" "$H/hv/etc/qemu/$LAB-carol.xml" || fail "carol's domain does not forward port $NEW_PORT"
grep -q "^\[127.0.0.1\]:$NEW_PORT " "$H/labs/$LAB/known_hosts" || fail "known_hosts has no entry for port $NEW_PORT"
must ssh-config "$LAB"
grep -q "Port $NEW_PORT" "$T/out" || fail "ssh-config does not give carol's new port"
cp "$T/out" "$T/ssh_config"
answers_within_60s "$LAB-carol" "after its first start"
for s in alice bob; do
	[ "$(ssh_cfg "$LAB-$s" hostname)" = "$LAB-$s" ] || fail "$LAB-$s lost after adding carol"
done
must -o json vm list "$LAB"
[ "$(python3 -c 'import json,sys; print(len({v["ssh_port"] for v in json.load(open(sys.argv[1]))}))' "$T/out")" = 4 ] ||
	fail "ports not unique after adding carol"
# Stopped with a student's SSH session open, then started again at once: the host side of
# that session is left in TIME_WAIT on her port; carol keeps the port and answers.
ssh_cfg "$LAB-carol" 'sleep 300' >/dev/null 2>&1 &
SESSION=$!
sleep 2
must vm stop "$LAB" carol
kill "$SESSION" 2>/dev/null
wait "$SESSION" 2>/dev/null
must vm start "$LAB" carol
[ "$(sqlite3 "$DB" "select ssh_port from vms where name='$LAB-carol'")" = "$NEW_PORT" ] ||
	fail "carol's port changed over a stop and start"
answers_within_60s "$LAB-carol" "after a stop and start"
pass "students add + publish: $LAB-carol answers (overlay $CAROL_KIB KiB at creation); alice and bob untouched"
pass "a stopped VM whose port another program held moved from $CAROL_PORT to $NEW_PORT (warned, XML, known_hosts, ssh-config); a stop and start keeps it"

# --- a student removed -------------------------------------------------------------------------
must students remove "$LAB" bob
must template publish "$LAB"
vsh 'list --all --name' >"$T/doms" || fail "virsh list"
grep -qx "$LAB-bob" "$T/doms" && fail "$LAB-bob is still defined after remove + publish"
ls "$POOL" | grep -q "^$LAB-bob" && fail "$LAB-bob's volumes are still in the pool: $(ls "$POOL")"
[ -z "$(qemu_pid "$LAB-bob")" ] || fail "$LAB-bob's qemu still runs"
[ "$(sqlite3 "$DB" "select count(*) from vms where name='$LAB-bob'")" = 0 ] || fail "$LAB-bob's VM record remains"
[ "$(qemu_pid "$LAB-alice")" = "$A_PID" ] || fail "publish restarted alice's VM"
for s in alice carol; do
	grep -qx "$LAB-$s" "$T/doms" || fail "$LAB-$s went away"
	[ "$(ssh_cfg "$LAB-$s" hostname)" = "$LAB-$s" ] || fail "$LAB-$s lost after removing bob"
done
pass "students remove + publish: $LAB-bob's domain, volumes and record are gone; alice and carol remain"

# --- down, lab delete ----------------------------------------------------------------------------
must down "$LAB" --yes
doms=$(vsh 'list --all --name') || fail "virsh list"
[ -z "$doms" ] || fail "domains left after down: $doms"
left=$(cd "$POOL" && ls | grep -v '^base_')
[ -z "$left" ] || fail "volumes left after down: $left"
[ -z "$(pgrep -f -- "qemu-system.*$H/pool/$LAB")" ] || fail "qemu processes left after down"
must down "$LAB" --yes
pass "down leaves no domain, no volume but base_*; a second down is fine"
must lab delete "$LAB" --yes
cl lab show "$LAB"
[ "$RC" = 3 ] || fail "lab show after lab delete: exit $RC, want 3"
[ "$(sqlite3 "$DB" 'select count(*) from vms')" = 0 ] || fail "VM records left after lab delete"
pass "lab delete removes the lab"

echo "PASS: lab lifecycle in $(($(date +%s) - START)) s (first up $UP_S s, second up $UP2_S s)"
