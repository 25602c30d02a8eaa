#!/bin/bash
# End-to-end test: the tiny guest configured by an OpenStack config drive, no
# NoCloud seed. The drive is made as Nova makes it (genisoimage, volume label
# config-2, openstack/latest/{meta_data.json,user_data}) and attached as Nova's
# libvirt driver does with force_config_drive: an IDE cdrom. user_data is the
# #cloud-config classlab renders (tests/tools/render_user_data.c); meta_data.json
# carries a different hostname and a key pair that must not be applied.
# Checks, with stock OpenSSH and the host key pinned (StrictHostKeyChecking=yes):
#   - login as the configured user with the configured key; the meta_data key
#     pair is refused;
#   - the hostname is user_data's (cloud-init's precedence), the instance id
#     meta_data's uuid, and the console says the config-2 source was used;
#   - runcmd ran once; a second boot of the same instance does not rerun it.
# Exit: 0 pass, 1 fail, 77 skipped. Env: KEEP=1 keeps the temporary directory,
# CONFIG_DRIVE_BOOT_TIMEOUT (s, default 120).
set -eu
set -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$REPO/templates/images/tiny/build.sh
RENDER=${CL_BUILD_DIR:-$REPO/build}/tests/cl-render-user-data
BOOT_TIMEOUT=${CONFIG_DRIVE_BOOT_TIMEOUT:-120}
HOST_UD=ml-lab-alice     # user_data's hostname: wins
HOST_MD=vm-7.novalocal   # meta_data.json's: not used
UUID=$(cat /proc/sys/kernel/random/uuid)

# shellcheck source=tests/e2e/tiny-lib.sh
. "$REPO/tests/e2e/tiny-lib.sh"
tiny_need genisoimage
[ -x "$RENDER" ] || skip "$RENDER not built (set CL_BUILD_DIR)"

T=$(mktemp -d "${TMPDIR:-/tmp}/config-drive.XXXXXX")
QEMU_PID=
# shellcheck disable=SC2317 # called through trap
cleanup() {
	local rc=$?
	kill_qemu
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
START=$(now)

# --- image, keys, config drive ---------------------------------------------------
"$BUILD" "$T/img" >"$T/build.log" 2>&1 || { cat "$T/build.log"; fail "build.sh failed"; }
pass "tiny image built in $(elapsed "$START") s"
ssh-keygen -q -t ed25519 -N '' -C "student@config-drive" -f "$T/user_key"
ssh-keygen -q -t ed25519 -N '' -C "nova-keypair" -f "$T/nova_key"
ssh-keygen -q -t ed25519 -N '' -C "root@$HOST_UD" -f "$T/host_key"
D=$T/drive/openstack/latest
mkdir -p "$D" "$T/drive/openstack/2012-08-10"
# shellcheck disable=SC2016 # runs in the guest
"$RENDER" "$HOST_UD" "iid-classlab-$$" student "$T/user_key.pub" "$T/host_key" \
	'echo "ran for $(hostname)" >> /var/log/runcmd-count' >"$D/user_data" ||
	fail "cl-render-user-data failed"
cp "$D/user_data" "$T/drive/openstack/2012-08-10/user_data"
nova_pub=$(cat "$T/nova_key.pub")
# As Nova writes it (one line; "keys" and "public_keys" both name the key pair).
cat >"$D/meta_data.json" <<EOF
{"uuid": "$UUID", "meta": {}, "public_keys": {"nova-keypair": "$nova_pub\n"}, "keys": [{"name": "nova-keypair", "type": "ssh", "data": "$nova_pub\n"}], "hostname": "$HOST_MD", "name": "ml-lab-alice", "launch_index": 0, "availability_zone": "nova", "random_seed": "cGxhY2Vob2xkZXI=", "project_id": "f7ac3d", "devices": [], "dedicated_cpus": []}
EOF
cp "$D/meta_data.json" "$T/drive/openstack/2012-08-10/meta_data.json"
echo '{"links": [], "networks": [], "services": []}' >"$D/network_data.json"
# Nova's own genisoimage options (nova/virt/configdrive.py).
genisoimage -o "$T/config.iso" -ldots -allow-lowercase -allow-multidot -l -publisher classlab-test \
	-quiet -J -r -V config-2 "$T/drive" 2>"$T/genisoimage.log" ||
	{ cat "$T/genisoimage.log"; fail "genisoimage failed"; }
qemu-img create -q -f qcow2 -F qcow2 -b "$T/img/root.qcow2" "$T/disk.qcow2"

# --- boot: root on virtio, the config drive on IDE, no cidata anywhere --------------
boot() {
	tiny_boot -drive "file=$T/config.iso,if=ide,media=cdrom,format=raw,readonly=on"
	ssh_opts
}
poweroff_guest() {
	gssh poweroff >/dev/null 2>&1 || true
	wait_exit 30 || fail "QEMU still running 30 s after 'poweroff' over ssh"
}

boot
wait_ssh "$BOOT_TIMEOUT"
BOOT_S=$(elapsed "$BOOT_START")
pass "SSH login as student with the user_data key, host key pinned, in $BOOT_S s"

grep -q 'classlab-tiny: seed: OpenStack config drive (config-2) on /dev/sr0' "$T/console.log" ||
	fail "the console does not say the config-2 drive on /dev/sr0 was used"
if grep -q 'seed: NoCloud' "$T/console.log"; then fail "a NoCloud seed was used"; fi
grep -q "classlab-tiny: hostname: $HOST_UD (instance-id $UUID)" "$T/console.log" ||
	fail "no 'hostname: $HOST_UD (instance-id $UUID)' on the console"
grep -q 'meta_data.json: 1 public_keys not applied' "$T/console.log" ||
	fail "the console does not report the unapplied public_keys"
pass "console: config-2 on /dev/sr0 used, instance-id = meta_data uuid"

got=$(gssh 'hostname; id -un; cat /var/log/runcmd-count')
[ "$got" = "$HOST_UD
student
ran for $HOST_UD" ] || fail "hostname/user/runcmd: got '$got'"
pass "hostname $HOST_UD (user_data over meta_data's $HOST_MD), runcmd ran once"

ssh_opts "$T/nova_key"
if gssh true 2>/dev/null; then
	fail "the meta_data public_keys key logged in as student"
fi
ssh_opts
pass "meta_data's public_keys key is refused (no default user on the tiny image)"

poweroff_guest
boot
wait_ssh "$BOOT_TIMEOUT"
BOOT2_S=$(elapsed "$BOOT_START")
grep -q "runcmd: already ran for instance $UUID" "$T/console.log" ||
	fail "runcmd was not skipped on the second boot of instance $UUID"
got=$(gssh 'cat /var/log/runcmd-count')
[ "$got" = "ran for $HOST_UD" ] || fail "runcmd ran again on the second boot: '$got'"
pass "second boot in $BOOT2_S s: runcmd not repeated for the same uuid"
poweroff_guest

echo "PASS: config drive: boot-to-SSH $BOOT_S s (second boot $BOOT2_S s), whole test $(elapsed "$START") s," \
	"host load average $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
