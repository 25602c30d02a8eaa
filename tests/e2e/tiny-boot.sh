#!/bin/bash
# End-to-end test of the classlab "tiny" guest (templates/images/tiny):
# build the image, write a NoCloud seed the way classlab does (meta-data,
# #cloud-config user-data, network-config on an ISO labelled cidata), boot it
# with QEMU under TCG and check, with stock OpenSSH and a pinned host key:
#   - hostname, the user and its gecos (YAML escapes), runcmd (once per
#     instance-id), the :8888 page from inside and through `ssh -L`;
#   - the seed's private host key is not readable by the user;
#   - an ACPI power-button press (QEMU system_powerdown) powers the guest off
#     within 30 s, leaving a clean ext4 filesystem;
#   - a second boot of the same disk: runcmd does not run again, and
#     `poweroff` over ssh (as the seeded user) powers the guest off.
# Prints the boot-to-SSH time. Exit: 0 pass, 1 fail, 77 skipped (with reason).
# Env: KEEP=1 keeps the temporary directory; TINY_BOOT_TIMEOUT (s, default 180).
set -eu
set -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$REPO/templates/images/tiny/build.sh
BOOT_TIMEOUT=${TINY_BOOT_TIMEOUT:-180}
HOSTNAME_WANT=ml-lab-alice

# shellcheck source=tests/e2e/tiny-lib.sh
. "$REPO/tests/e2e/tiny-lib.sh"
tiny_need genisoimage

T=$(mktemp -d "${TMPDIR:-/tmp}/tiny-boot.XXXXXX")
QEMU_PID='' TUNNEL_PID=''
# shellcheck disable=SC2317 # called through trap
cleanup() {
	local rc=$?
	[ -n "$TUNNEL_PID" ] && kill "$TUNNEL_PID" 2>/dev/null
	kill_qemu
	exec 7>&- 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then
		echo "kept $T"
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# --- build -------------------------------------------------------------------------
t=$(now)
"$BUILD" "$T/img" >"$T/build.log" 2>&1 || { cat "$T/build.log"; fail "build.sh failed"; }
pass "image built in $(elapsed "$t") s ($(du -k "$T/img/root.qcow2" | cut -f1) KiB root.qcow2, $(du -k "$T/img/initrd.img" | cut -f1) KiB initrd)"
hash=$("$BUILD" --recipe-hash)
[ "$hash" = "$(cat "$T/img/recipe.sha256")" ] || fail "--recipe-hash ($hash) differs from recipe.sha256"
"$BUILD" "$T/img" 2>&1 | grep -q 'up to date' || fail "a second build of an up-to-date OUTDIR did not no-op"
pass "recipe hash stable; rebuild is a no-op"

# --- the guest's YAML reader, run here with busybox awk -----------------------------
FLAT="busybox awk -f $REPO/templates/images/tiny/rootfs/usr/lib/classlab/yaml-flat.awk"
printf '%s\n' '#cloud-config' 'users:' '- name: "a\"b\\c"' '  ssh_authorized_keys:' '  - "k1"' '  - k2 # c' \
	'runcmd:' '- ["x"]' '- "y"' 'keys:' '  k: |' '    l1' '' '    l2' 'z: 1' >"$T/compact.yaml"
printf '%s\n' '#cloud-config' 'users:' '  - name: "a\"b\\c"' '    ssh_authorized_keys:' '      - "k1"' '      - k2 # c' \
	'runcmd:' '  - ["x"]' '  - "y"' 'keys:' '  k: |' '    l1' '' '    l2' 'z: 1' >"$T/indented.yaml"
want=$(printf '%s\n' 'users.0.name	d	a"b\\c' 'users.0.ssh_authorized_keys.0	d	k1' \
	'users.0.ssh_authorized_keys.1	p	k2' 'runcmd.0	f	["x"]' 'runcmd.1	d	y' 'keys.k	b	l1\n\nl2\n' 'z	p	1')
for f in compact indented; do
	got=$($FLAT "$T/$f.yaml" 2>&1) || fail "yaml-flat.awk failed on $f.yaml"
	[ "$got" = "$want" ] || fail "yaml-flat.awk, $f style: got
$got
want
$want"
done
pass "yaml-flat.awk: both sequence styles, escapes, comments, block scalar"

# --- keys and seed -------------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C "student@tiny-test" -f "$T/user_key"
ssh-keygen -q -t ed25519 -N '' -C "root@$HOSTNAME_WANT" -f "$T/host_key"
mkdir "$T/seed"
IID="iid-tiny-test-$$-$RANDOM"
cat >"$T/seed/meta-data" <<EOF
instance-id: "$IID"
local-hostname: "$HOSTNAME_WANT"
EOF
{
	cat <<EOF
#cloud-config
hostname: "$HOSTNAME_WANT"
fqdn: "$HOSTNAME_WANT"
manage_etc_hosts: true
ssh_pwauth: false
disable_root: true
users:
- name: "student"
  gecos: "Alice \"Al\" Example \\\\ Lab"
  shell: "/bin/bash"
  lock_passwd: true
  sudo: "ALL=(ALL) NOPASSWD:ALL"
  ssh_authorized_keys:
  - "$(cat "$T/user_key.pub")"
  - "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther classlab-admin@ml-lab"
ssh_deletekeys: true
ssh_genkeytypes: []
ssh_keys:
  ed25519_private: |
EOF
	sed 's/^/    /' "$T/host_key"
	cat <<EOF
  ed25519_public: "$(cat "$T/host_key.pub")"
runcmd:
- "echo hello > /tmp/x"
- ["sh", "-c", "echo list form"]
- "echo \"runcmd ok\" > /tmp/quoted; echo once >> /var/log/runcmd-count"
EOF
} >"$T/seed/user-data"
printf 'version: 2\nethernets:\n  eth0:\n    dhcp4: true\n' >"$T/seed/network-config"
genisoimage -quiet -V cidata -J -r -o "$T/seed.iso" "$T/seed" 2>"$T/genisoimage.log" ||
	{ cat "$T/genisoimage.log"; fail "genisoimage failed"; }
qemu-img create -q -f qcow2 -F qcow2 -b "$T/img/root.qcow2" "$T/disk.qcow2"

# --- boot ----------------------------------------------------------------------------
# boot: start QEMU with the seed on a second virtio disk, the monitor fed from a FIFO.
boot() {
	rm -f "$T/monitor.in"
	mkfifo "$T/monitor.in"
	exec 7<>"$T/monitor.in"
	MONITOR_IN=$T/monitor.in tiny_boot -drive "file=$T/seed.iso,if=virtio,format=raw,readonly=on"
}

fs_clean() {
	command -v e2fsck >/dev/null 2>&1 || PATH=$PATH:/sbin:/usr/sbin
	command -v e2fsck >/dev/null 2>&1 || { echo "(e2fsck missing: filesystem check skipped)"; return 0; }
	qemu-img convert -q -O raw "$T/disk.qcow2" "$T/check.img"
	e2fsck -fn "$T/check.img" >"$T/e2fsck.log" 2>&1 || { cat "$T/e2fsck.log"; rm -f "$T/check.img"; return 1; }
	rm -f "$T/check.img"
}

boot
ssh_opts "$T/user_key"
wait_ssh "$BOOT_TIMEOUT"
BOOT_S=$(elapsed "$BOOT_START")
grep -q '^classlab-tiny: ready' "$T/console.log" || fail "no 'classlab-tiny: ready' line on the console"
GUEST_S=$(sed -n 's/^classlab-tiny: sshd listening on port 22 at \([0-9.]*\)s.*/\1/p' "$T/console.log" | tail -n 1)
pass "boot to SSH login (strict host key) in $BOOT_S s (guest uptime when sshd listened: ${GUEST_S:-?} s)"

got=$(gssh hostname)
[ "$got" = "$HOSTNAME_WANT" ] || fail "hostname is '$got', want $HOSTNAME_WANT"
pass "hostname $got"

got=$(gssh 'cat /tmp/x; cat /tmp/quoted; cat /var/log/runcmd-count')
[ "$got" = "hello
runcmd ok
once" ] || fail "runcmd results: '$got'"
grep -q 'runcmd\[1\]: list form not supported' "$T/console.log" || fail "the list-form runcmd was not logged as skipped"
pass "runcmd ran (quoted string unescaped; list form skipped with a log line)"

# shellcheck disable=SC2016
got=$(gssh 'grep "^student:" /etc/passwd; id -un; echo "$HOME"; stat -c "%a %U" ~/.ssh ~/.ssh/authorized_keys; wc -l < ~/.ssh/authorized_keys')
want='student:x:1000:1000:Alice "Al" Example \ Lab:/home/student:/bin/sh
student
/home/student
700 student
600 student
2'
[ "$got" = "$want" ] || fail "user setup: got
$got
want
$want"
pass "user student (gecos escapes, /bin/sh for a missing /bin/bash, key files 0700/0600)"

got=$(gssh 'grep -c "^127.0.0.1 localhost" /etc/hosts; grep "^127.0.1.1" /etc/hosts')
[ "$got" = "1
127.0.1.1 $HOSTNAME_WANT" ] || fail "/etc/hosts: $got"
if gssh 'cat /run/classlab/seed/user-data' >/dev/null 2>&1; then
	fail "the seed's copy (with the private host key) is readable by the user"
fi
pass "/etc/hosts; seed copy not readable by the user"

got=$(gssh 'wget -qO- http://127.0.0.1:8888/')
[ "$got" = "classlab tiny $HOSTNAME_WANT" ] || fail "guest :8888 returned '$got'"
pass "guest http://127.0.0.1:8888/ -> '$got'"

# tunnel_get: start `ssh -L 127.0.0.1:LPORT:localhost:8888` and GET / through
# it into $body; returns 2 when the local port was taken (try another one).
tunnel_get() {
	local deadline
	ssh "${SSH_OPTS[@]}" -N -o ExitOnForwardFailure=yes -L "127.0.0.1:$LPORT:localhost:8888" \
		student@127.0.0.1 2>"$T/tunnel.err" &
	TUNNEL_PID=$!
	body=
	deadline=$(($(date +%s) + 60))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		if ! kill -0 "$TUNNEL_PID" 2>/dev/null; then
			wait "$TUNNEL_PID" 2>/dev/null || true
			TUNNEL_PID=''
			grep -qi 'address already in use\|cannot listen' "$T/tunnel.err" && return 2
			cat "$T/tunnel.err"
			fail "ssh -L exited"
		fi
		if { exec 8<>"/dev/tcp/127.0.0.1/$LPORT"; } 2>/dev/null; then
			printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' >&8
			body=$(timeout 10 cat <&8 | tr -d '\r' | sed '1,/^$/d') || true
			exec 8<&-
			[ -n "$body" ] && break
		fi
		sleep 0.2
	done
	kill "$TUNNEL_PID" 2>/dev/null
	wait "$TUNNEL_PID" 2>/dev/null || true
	TUNNEL_PID=''
	return 0
}
for _ in 1 2 3; do
	LPORT=$(pick_port) || fail "no free local port"
	rc=0
	tunnel_get || rc=$?
	[ $rc = 2 ] || break
done
[ "$body" = "classlab tiny $HOSTNAME_WANT" ] || fail "through ssh -L 8888 got '$body'"
pass "host 127.0.0.1:$LPORT -> ssh -L -> guest localhost:8888 -> '$body'"

# --- ACPI shutdown ----------------------------------------------------------------------
t=$(now)
echo system_powerdown >&7
wait_exit 30 || fail "QEMU still running 30 s after system_powerdown"
SHUT_S=$(elapsed "$t")
grep -q 'ACPI power button pressed' "$T/console.log" || fail "acpid did not log the power button"
grep -q 'root filesystem remounted read-only' "$T/console.log" || fail "root was not remounted read-only"
fs_clean || fail "e2fsck found the root filesystem unclean after the ACPI shutdown"
pass "system_powerdown -> guest off in $SHUT_S s, filesystem clean"
OVERLAY_KIB=$(du -k "$T/disk.qcow2" | cut -f1)

# --- second boot: same disk, same seed -----------------------------------------------
boot
ssh_opts "$T/user_key"
wait_ssh "$BOOT_TIMEOUT"
BOOT2_S=$(elapsed "$BOOT_START")
grep -q 'runcmd: already ran for instance' "$T/console.log" || fail "runcmd was not skipped on the second boot"
got=$(gssh 'cat /var/log/runcmd-count')
[ "$got" = once ] || fail "runcmd ran again on the second boot ($got)"
if grep -qi 'recovery complete\|recovering journal' "$T/console.log"; then
	fail "ext4 needed journal recovery on the second boot"
fi
pass "second boot in $BOOT2_S s: runcmd not repeated, no journal recovery"

t=$(now)
gssh poweroff >/dev/null 2>&1 || true
wait_exit 30 || fail "QEMU still running 30 s after 'poweroff' over ssh"
pass "poweroff over ssh (as student) -> guest off in $(elapsed "$t") s"
fs_clean || fail "e2fsck found the root filesystem unclean after poweroff"

# --- third boot: a fresh disk and a broken seed must still come up -----------------
cat >"$T/seed/user-data" <<'EOF'
#cloud-config
hostname: "bad host!"
users:
- name: "unterminated
	tab: indented
  - : :
ssh_keys:
  ed25519_private: |
    not a key
runcmd: [broken
EOF
rm -f "$T/seed/meta-data" "$T/seed/network-config"
genisoimage -quiet -V cidata -J -r -o "$T/seed.iso" "$T/seed" 2>"$T/genisoimage.log" ||
	{ cat "$T/genisoimage.log"; fail "genisoimage failed"; }
rm -f "$T/disk.qcow2"
qemu-img create -q -f qcow2 -F qcow2 -b "$T/img/root.qcow2" "$T/disk.qcow2"
boot
deadline=$(($(date +%s) + BOOT_TIMEOUT))
until grep -q '^classlab-tiny: ready' "$T/console.log" 2>/dev/null; do
	kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited during the broken-seed boot"
	[ "$(date +%s)" -lt "$deadline" ] || fail "broken seed: no 'classlab-tiny: ready' within $BOOT_TIMEOUT s"
	sleep 0.2
done
BOOT3_S=$(elapsed "$BOOT_START")
for w in 'WARNING: invalid hostname' 'could not be converted' 'generating an ed25519 key' 'yaml: line'; do
	grep -q "$w" "$T/console.log" || fail "broken seed: no '$w' on the console"
done
echo system_powerdown >&7
wait_exit 30 || fail "broken seed: QEMU still running 30 s after system_powerdown"
pass "broken seed: problems logged, sshd up (fallback host key) in $BOOT3_S s, ACPI shutdown works"

echo "PASS: tiny guest: boot-to-SSH ${BOOT_S} s (second boot ${BOOT2_S} s), ACPI shutdown ${SHUT_S} s," \
	"root.qcow2 $(du -k "$T/img/root.qcow2" | cut -f1) KiB, overlay after first boot ${OVERLAY_KIB} KiB," \
	"host load average $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
