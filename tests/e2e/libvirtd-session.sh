#!/bin/bash
# shellcheck disable=SC2010 # ls | grep: pool volume names are classlab's own ([a-z0-9.-])
# End-to-end against a real libvirt daemon (not the embedded driver): `--connect
# qemu:///session` makes libvirt start a private session libvirtd, and classlab goes
# through libvirt's storage API (pool, volume creation with a backing store, stream
# upload) instead of managing the pool directory itself.
#   up FILE (1 student) -> the student's VM answers SSH with its pinned host key; the
#                          pool holds libvirt volumes: student -> template v1 -> base
#   down --yes          -> no domain, and no volume but base_* in libvirt's pool
# A session daemon belongs to an unprivileged user: run as root, the test runs classlab
# as 'nobody' (setpriv) with a private HOME and XDG_RUNTIME_DIR, so the daemon, its
# sockets and its state are the test's own and go away with it.
# Exit: 0 pass, 1 fail, 77 skipped (reason on stderr).
set -u
set -o pipefail

. "$(dirname "${BASH_SOURCE[0]}")/e2e-lib.sh"
: "${CL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
need_guest qemu-system-x86_64 qemu-img virsh ssh libvirtd
[ -x /usr/sbin/libvirtd ] || command -v libvirtd >/dev/null || skip "libvirtd is not installed"

W=$(mktemp -d /tmp/cls.XXXX) || exit 1
chmod 755 "$W"
T=$W/t
mkdir -p "$T" "$W/home" "$W/run"
chmod 700 "$W/run"
LAB=sess
AS=()
if [ "$(id -u)" = 0 ]; then
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	chown -R 65534:65534 "$W/home" "$W/run"
	AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	# nobody must reach the binary and the tiny image's recipe in the source tree.
	"${AS[@]}" test -x "$CLASSLAB" -a -r "$CL_SOURCE_DIR/templates/images/tiny/build.sh" ||
		skip "user nobody cannot read $CLASSLAB or $CL_SOURCE_DIR (a private checkout)"
fi
# as_user CMD...: the command as the daemon's user, in its private environment.
# (Sanitizer settings of an ASan build pass through.)
as_user() {
	"${AS[@]}" env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$W/home" \
		XDG_RUNTIME_DIR="$W/run" CLASSLAB_HOME="$W/home/classlab" \
		${ASAN_OPTIONS+ASAN_OPTIONS="$ASAN_OPTIONS"} ${UBSAN_OPTIONS+UBSAN_OPTIONS="$UBSAN_OPTIONS"} \
		${LSAN_OPTIONS+LSAN_OPTIONS="$LSAN_OPTIONS"} "$@"
}
vsh() { as_user virsh -q -c qemu:///session "$@"; }
# cl ARGS: classlab as that user, on the session daemon (stdout $T/out, stderr $T/err).
clu() {
	as_user "$CLASSLAB" --connect qemu:///session "$@" >"$T/out" 2>"$T/err"
	RC=$?
}
mustu() {
	clu "$@"
	[ "$RC" = 0 ] || { cat "$T/out" "$T/err" >&2; fail "classlab $* exited $RC"; }
}

# shellcheck disable=SC2317 # called through trap
cleanup() {
	local rc=$? f
	trap - EXIT
	clu -q down "$LAB" --yes
	for f in "$W"/run/libvirt/libvirtd.pid "$W"/run/libvirt/virtlogd.pid; do
		[ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	sleep 0.5
	discard_dir "$W"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

cat >"$W/home/lab.json" <<'JSON'
{ "name": "sess", "size": "small", "image": "tiny", "memory_mib": 160, "vcpus": 1,
  "port_range": [62200, 62299], "students": [ { "name": "s1" } ] }
JSON
[ "$(id -u)" = 0 ] && chown 65534:65534 "$W/home/lab.json"

t0=$(date +%s)
mustu up "$W/home/lab.json"
grep -Eq '^s1 +ssh -p 622[0-9][0-9] student@127\.0\.0\.1$' "$T/out" ||
	{ cat "$T/out" >&2; fail "up printed no ssh line for s1"; }
pass "up through a session libvirtd in $(($(date +%s) - t0)) s"

mustu ssh-config "$LAB"
cp "$T/out" "$W/home/ssh_config"
[ "$(id -u)" = 0 ] && chown 65534:65534 "$W/home/ssh_config"
got=$(as_user ssh -F "$W/home/ssh_config" -o BatchMode=yes -o ConnectTimeout=20 \
	-o LogLevel=ERROR "$LAB-s1" hostname) || fail "ssh to $LAB-s1 with the generated ssh-config"
[ "$got" = "$LAB-s1" ] || fail "hostname of $LAB-s1 is '$got'"
pass "$LAB-s1 answers SSH with its pinned host key"

vsh pool-info classlab >"$T/pool" || fail "no 'classlab' pool in the session daemon"
grep -Eq '^State: +running' "$T/pool" || { cat "$T/pool" >&2; fail "the classlab pool is not running"; }
vsh vol-list classlab >"$T/vols" || fail "virsh vol-list"
for v in "$LAB-s1.qcow2" "$LAB-s1-seed.iso" "$LAB-template-v1.qcow2" "$LAB-template-seed.iso"; do
	grep -q "^ *$v " "$T/vols" || { cat "$T/vols" >&2; fail "libvirt's pool has no volume $v"; }
done
path=$(vsh vol-path --pool classlab "$LAB-s1.qcow2") || fail "vol-path $LAB-s1.qcow2"
as_user qemu-img info -U --backing-chain "$path" >"$T/chain" || fail "qemu-img info $path"
[ "$(grep -c '^image:' "$T/chain")" = 3 ] || { cat "$T/chain" >&2; fail "$LAB-s1.qcow2: not student -> template -> base"; }
grep -q "^image: .*/$LAB-template-v1.qcow2\$" "$T/chain" && grep -Eq '^image: .*/base_tiny-[0-9a-f]+\.qcow2$' "$T/chain" ||
	{ cat "$T/chain" >&2; fail "$LAB-s1.qcow2's chain does not go through the template to base_tiny"; }
[ "$(vsh domstate "$LAB-s1")" = running ] || fail "$LAB-s1 is not running in the session daemon"
pass "libvirt's pool holds the volumes; $LAB-s1.qcow2 -> $LAB-template-v1.qcow2 -> base_tiny"

mustu down "$LAB" --yes
[ -z "$(vsh list --all --name | sed '/^$/d')" ] || fail "domains left after down: $(vsh list --all --name)"
left=$(vsh vol-list classlab | awk '{print $1}' | grep -v '^base_')
[ -z "$left" ] || fail "volumes left in libvirt's pool after down: $left"
pass "down leaves no domain and only base_* volumes in libvirt's pool"
