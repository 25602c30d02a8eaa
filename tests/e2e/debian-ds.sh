#!/bin/bash
# shellcheck disable=SC2010 # ls | grep: pool volume names are classlab's own ([a-z0-9._-])
# End-to-end on the debian-ds image (issue 12), one template and one student under TCG:
#   image build debian-ds  -> built from Debian packages (cached by recipe hash in
#                             $CL_E2E_IMAGE_HOME, default /var/tmp/classlab-e2e-images:
#                             a fresh machine builds it, later runs reuse it); image list
#                             shows it with its size and recipe hash
#   up --no-publish        -> the template boots from its own disk (GRUB), cloud-init
#                             applies classlab's user-data with the customisation
#   template verify        -> passes on a CPU size
#   template publish       -> the student's VM; boot-to-SSH time and QEMU's memory recorded
#   the student's VM       -> stock OpenSSH logs in with the pinned host key (strict), which
#                             is the key classlab generated; cloud-init status done, no
#                             errors, no deprecation in its log or its schema check
#   jupyter / tunnel       -> print a token URL; through `classlab tunnel` Jupyter's REST API
#                             creates a kernel and a WebSocket execute_request returns 45
#                             for `import numpy, pandas; numpy.arange(10).sum()`
#   down --yes             -> no domain, no volume but base_*, no qemu process
# Figures go to stdout as "metric NAME VALUE" lines. Exit: 0 pass, 1 fail, 77 skipped.
set -u
set -o pipefail

. "$(dirname "${BASH_SOURCE[0]}")/e2e-lib.sh"
: "${CL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${CL_TEST_DATA:=$CL_SOURCE_DIR/tests/data}"
[ -n "${CLASSLAB:-}" ] && [ -x "$CLASSLAB" ] || skip "CLASSLAB is not set to the classlab binary"
for c in qemu-system-x86_64 qemu-img virsh sqlite3 ssh ssh-keygen python3 mmdebstrap grub-mkimage sfdisk mkfs.ext4; do
	command -v "$c" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$c" >/dev/null 2>&1 ||
		skip "$c is not installed (scripts/install-deps --tests)"
done
[ -f /usr/lib/grub/i386-pc/boot.img ] || skip "grub-pc-bin is not installed"
[ "$(id -u)" = 0 ] || skip "building the debian-ds image needs root (mmdebstrap's root mode)"

unset CLASSLAB_DB CLASSLAB_URI LIBVIRT_DEFAULT_URI
IMG_HOME=${CL_E2E_IMAGE_HOME:-/var/tmp/classlab-e2e-images}
H=$(mktemp -d /tmp/cle.XXXX) || exit 1
export CLASSLAB_HOME=$H
# TCG boots of a full Debian: generous, the real figures are recorded below.
export CLASSLAB_BOOT_TIMEOUT=${CLASSLAB_BOOT_TIMEOUT:-900}
URI="qemu:///embed?root=$H/hv"
LAB=e2e-ds
S=alice
VM=$LAB-$S
LABFILE=$H/ds.json
DB=$H/classlab.db
POOL=$H/pool
T=$H/t
mkdir -p "$T"
sed 's/"public_host": "127.0.0.1",/&\n  "port_range": [52000, 52999],/' "$CL_TEST_DATA/labs/debian-ds.json" >"$LABFILE"
TUN_PID=''

# shellcheck disable=SC2317 # called through trap
cleanup() {
	local rc=$?
	[ -n "$TUN_PID" ] && kill "$TUN_PID" 2>/dev/null
	finish_labs "$rc" "$H" "$LAB"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
metric() { echo "metric $1 $2"; }
START=$(date +%s)

# --- the image ------------------------------------------------------------------------------
mkdir -p -m 0700 "$IMG_HOME"
t0=$(date +%s)
CLASSLAB_HOME=$IMG_HOME "$CLASSLAB" image build debian-ds >"$T/build.out" 2>"$T/build.err" ||
	{ cat "$T/build.out" "$T/build.err" >&2; fail "image build debian-ds"; }
BUILD_S=$(($(date +%s) - t0))
IMG_DIR=$IMG_HOME/cache/images/debian-ds
grep -q '^debian-ds  *built ' "$T/build.out" || fail "image build printed: $(cat "$T/build.out")"
metric image_build_or_cache_s "$BUILD_S"
metric image_build_recorded_s "$(sed -n 's/^build_seconds=//p' "$IMG_DIR/build-info")"
metric image_qcow2_bytes "$(stat -c %s "$IMG_DIR/disk.qcow2")"
metric image_packages "$(wc -l <"$IMG_DIR/packages.txt")"
[ "$(qemu-img info --output=json "$IMG_DIR/disk.qcow2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["format"])')" = qcow2 ] ||
	fail "disk.qcow2 is not a qcow2"
for p in cloud-init openssh-server qemu-guest-agent python3 jupyter-notebook python3-numpy \
	python3-pandas python3-sklearn python3-matplotlib python3-scipy linux-image-cloud-amd64; do
	grep -q "^$p " "$IMG_DIR/packages.txt" || fail "the image has no $p"
done
CLASSLAB_HOME=$IMG_HOME "$CLASSLAB" image list >"$T/list.out" 2>&1 || fail "image list: $(cat "$T/list.out")"
HASH=$(cat "$IMG_DIR/recipe.sha256")
grep -Eq "^debian-ds +built +[0-9]+ +$HASH " "$T/list.out" || fail "image list: $(cat "$T/list.out")"
pass "image debian-ds ($(du -m "$IMG_DIR/disk.qcow2" | cut -f1) MiB, recipe ${HASH:0:12}) in $BUILD_S s"
# This lab's cache points at the shared build (no rebuild, same recipe hash).
mkdir -p "$H/cache/images"
ln -s "$IMG_DIR" "$H/cache/images/debian-ds"

# --- the template -----------------------------------------------------------------------------
t0=$(date +%s)
must up "$LABFILE" --no-publish
TPL_UP_S=$(($(date +%s) - t0))
TPL_SSH_S=$(sed -n "s/.*$LAB-template answers SSH on .* after \([0-9.]*\) s.*/\1/p" "$T/err" | head -n 1)
[ -n "$TPL_SSH_S" ] || { cat "$T/err" >&2; fail "up printed no boot-to-SSH time for the template"; }
metric template_up_s "$TPL_UP_S"
metric template_boot_to_ssh_s "$TPL_SSH_S"
vol=$(ls "$POOL" | grep '^base_debian-ds-') || fail "no base_debian-ds-* volume in the pool"
[ "$vol" = "base_debian-ds-${HASH:0:12}.qcow2" ] || fail "base volume '$vol' is not named by the recipe hash"
ls "$POOL" | grep -q '^base_debian-ds-.*vmlinuz' && fail "debian-ds must boot from its disk, not a kernel"
must template verify "$LAB"
grep -qi "pass" "$T/out" "$T/err" || { cat "$T/out" "$T/err" >&2; fail "template verify did not pass"; }
pass "template: up --no-publish in $TPL_UP_S s (SSH after $TPL_SSH_S s), template verify passes"

t0=$(date +%s)
must template publish "$LAB"
PUB_S=$(($(date +%s) - t0))
STU_SSH_S=$(sed -n "s/.*$VM answers SSH on .* after \([0-9.]*\) s.*/\1/p" "$T/err" | head -n 1)
[ -n "$STU_SSH_S" ] || { cat "$T/err" >&2; fail "publish printed no boot-to-SSH time for $VM"; }
metric publish_s "$PUB_S"
metric student_boot_to_ssh_s "$STU_SSH_S"

# --- the student's VM: strict OpenSSH, classlab's host key, cloud-init -------------------------
must ssh-config "$LAB"
cp "$T/out" "$T/ssh_config"
grep -qi 'StrictHostKeyChecking yes' "$T/ssh_config" || fail "ssh-config is not strict"
ssh_vm() { ssh -F "$T/ssh_config" -o BatchMode=yes -o ConnectTimeout=30 -o LogLevel=ERROR "$VM" "$@"; }
[ "$(ssh_vm hostname)" = "$VM" ] || fail "strict OpenSSH login to $VM"
want=$(sqlite3 "$DB" "select host_key_pub from vms where name='$VM'" | awk '{print $2}')
got=$(ssh_vm 'sudo cat /etc/ssh/ssh_host_*_key.pub' | awk '{print $2}')
[ -n "$want" ] && [ "$got" = "$want" ] || fail "the VM's host key is not the one classlab generated"
pass "strict OpenSSH login; the VM's only host key is classlab's"

ssh_vm 'cloud-init status --wait >/dev/null; cloud-init status --long' >"$T/ci.status" 2>&1
grep -q '^status: done' "$T/ci.status" || fail "cloud-init: $(cat "$T/ci.status")"
grep -qi 'error' "$T/ci.status" && fail "cloud-init reports errors: $(cat "$T/ci.status")"
ssh_vm 'sudo cat /var/log/cloud-init.log' >"$T/ci.log" || fail "cannot read cloud-init.log"
if grep -i 'deprecat' "$T/ci.log" >"$T/ci.dep"; then fail "cloud-init deprecations: $(head -n 5 "$T/ci.dep")"; fi
if grep -E ' (ERROR|CRITICAL)|Traceback' "$T/ci.log" >"$T/ci.err"; then fail "cloud-init errors: $(head -n 5 "$T/ci.err")"; fi
ssh_vm 'sudo cloud-init schema --system' >"$T/ci.schema" 2>&1 || fail "cloud-init schema --system: $(cat "$T/ci.schema")"
grep -qi 'deprecat' "$T/ci.schema" && fail "schema deprecations: $(cat "$T/ci.schema")"
[ "$(ssh_vm cat /var/lib/classlab-customized)" = customized ] || fail "the customisation did not run"
[ -z "$(ssh_vm cat /etc/machine-id)" ] && fail "the VM has no machine-id"
pass "cloud-init: $(head -n 1 "$T/ci.status"), no errors, no deprecations; customisation ran"

QPID=$(pgrep -f -- "guest=$VM,.*$H/" | head -n 1)
[ -n "$QPID" ] || fail "no qemu process for $VM"
metric student_qemu_rss_mib $(($(ps -o rss= -p "$QPID") / 1024))
metric student_guest_used_mib "$(ssh_vm free -m | awk '$1 == "Mem:" { print $3 }')"

# --- Jupyter --------------------------------------------------------------------------------------
for _ in $(seq 180); do
	ssh_vm 'systemctl is-active --quiet classlab-jupyter@student && jupyter notebook list --json' \
		2>/dev/null | grep -q '"port": 8888' && break
	sleep 1
done
ssh_vm 'jupyter notebook list --json' >"$T/jlist" 2>&1
grep -q '"port": 8888' "$T/jlist" || fail "no Jupyter of the student on 8888: $(cat "$T/jlist"; ssh_vm 'systemctl status classlab-jupyter@student' 2>&1 | tail -n 5)"
TOKEN=$(python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["token"])' <"$T/jlist")
[ -n "$TOKEN" ] || fail "the student's Jupyter has no token"
ssh_vm 'ss -ltn' | grep -q '127.0.0.1:8888 ' || fail "Jupyter does not listen on 127.0.0.1:8888 only"
must connect "$LAB" "$S" --tunnel
grep -q "^ssh -L 8888:localhost:8888 " "$T/out" || fail "connect --tunnel printed '$(cat "$T/out")'"
grep -qx "http://localhost:8888/?token=$TOKEN" "$T/out" || fail "connect --tunnel printed no token URL: '$(cat "$T/out")'"

"$CLASSLAB" jupyter "$LAB" "$S" --local-port 0 >"$T/jup.out" 2>"$T/jup.err" &
TUN_PID=$!
url=
for _ in $(seq 300); do
	url=$(grep -m1 -o 'http://localhost:[0-9]*/?token=[0-9a-f]*' "$T/jup.out") && break
	sleep 0.1
done
kill "$TUN_PID" 2>/dev/null; wait "$TUN_PID" 2>/dev/null; TUN_PID=
[ "${url##*token=}" = "$TOKEN" ] || fail "classlab jupyter printed '$url' (want the token $TOKEN): $(cat "$T/jup.err")"
grep -q 'starting Jupyter' "$T/jup.err" && fail "classlab jupyter started a second server"

"$CLASSLAB" tunnel "$LAB" "$S" --local-port 0 >"$T/tun.out" 2>"$T/tun.err" &
TUN_PID=$!
P=
for _ in $(seq 300); do
	P=$(sed -n "s|^Forwarding http://localhost:\([0-9]*\)/?token=$TOKEN -> $VM:8888\$|\1|p" "$T/tun.out")
	[ -n "$P" ] && break
	kill -0 "$TUN_PID" 2>/dev/null || break
	sleep 0.1
done
[ -n "$P" ] || fail "classlab tunnel printed no token URL: $(cat "$T/tun.out" "$T/tun.err")"
t0=$(date +%s)
res=$(python3 "$CL_SOURCE_DIR/tests/e2e/jupyter_ws.py" "http://127.0.0.1:$P" "$TOKEN" \
	'import numpy, pandas; numpy.arange(10).sum()' 2>"$T/ws.err") || fail "Jupyter kernel: $(cat "$T/ws.err")"
[ "$res" = 45 ] || fail "the kernel returned '$res', want 45"
metric kernel_execute_s $(($(date +%s) - t0))
kill -INT "$TUN_PID"; wait "$TUN_PID"; rc=$?; TUN_PID=
[ "$rc" = 0 ] || fail "classlab tunnel exited $rc on SIGINT"
pass "tunnel/jupyter print the token URL; REST kernel + WebSocket execute -> $res"

# --- down ------------------------------------------------------------------------------------------
must down "$LAB" --yes
doms=$(virsh -q -c "$URI" list --all --name 2>/dev/null | sed '/^$/d')
[ -z "$doms" ] || fail "domains left after down: $doms"
left=$(cd "$POOL" && ls | grep -v '^base_')
[ -z "$left" ] || fail "volumes left after down: $left"
[ -z "$(pgrep -f -- "qemu-system.*$H/")" ] || fail "qemu processes left after down"
pass "down leaves no domain, no volume but base_*, no qemu"
echo "PASS: debian-ds e2e in $(($(date +%s) - START)) s (image $BUILD_S s, template up $TPL_UP_S s, publish $PUB_S s)"
