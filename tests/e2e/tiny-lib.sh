#!/bin/bash
# Helpers for the e2e scripts that boot the tiny guest with plain QEMU (sourced; not a
# test): tiny-boot.sh, config-drive.sh. They expect a scratch directory $T holding the
# built image in $T/img, the root overlay $T/disk.qcow2, the pinned host key
# $T/host_key.pub; the guest's console goes to $T/console.log.

skip() { echo "SKIP: $*"; exit 77; }
# tiny_need TOOL...: skip unless the tools and the tiny guest's Debian packages are here.
tiny_need() {
	local c
	for c in qemu-system-x86_64 qemu-img ssh ssh-keygen busybox "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"
	done
	if [ -z "${CLASSLAB_TINY_KERNEL:-}" ] && ! ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1; then
		skip "no /boot/vmlinuz-*-cloud-amd64 (install linux-image-cloud-amd64)"
	fi
	command -v dropbear >/dev/null 2>&1 || [ -x /usr/sbin/dropbear ] || skip "dropbear-bin is not installed"
}

fail() {
	echo "FAIL: $*"
	if [ -f "$T/console.log" ]; then
		echo "---- last lines of the guest console ($T/console.log) ----"
		tail -n 40 "$T/console.log" | tr -d '\r'
		echo "----"
	fi
	[ -s "$T/qemu.out" ] && { echo "---- qemu ----"; cat "$T/qemu.out"; }
	exit 1
}
pass() { echo "ok: $*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# kill_qemu: for a cleanup trap.
kill_qemu() {
	if [ -n "${QEMU_PID:-}" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill "$QEMU_PID" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$QEMU_PID" 2>/dev/null
	fi
}

# A TCP port nobody listens on (127.0.0.1 only). QEMU's bind can still race;
# tiny_boot retries with another port when the forward cannot be set up.
port_in_use() {
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v p="$hex" 'FNR > 1 && substr($2, length($2) - 4) == p && $4 == "0A" { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}
pick_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		port_in_use "$p" || { echo "$p"; return 0; }
	done
	return 1
}

# tiny_boot QEMU-ARGS...: start QEMU under TCG on the tiny image, root $T/disk.qcow2 as the
# first virtio disk, then QEMU-ARGS (the seed), a user-mode NIC forwarding 127.0.0.1:PORT
# to the guest's 22, the monitor reading MONITOR_IN (a FIFO the caller holds open for
# writing; default /dev/null). Sets QEMU_PID, PORT, BOOT_START.
tiny_boot() {
	rm -f "$T/console.log" "$T/qemu.out"
	for _ in 1 2 3; do
		PORT=$(pick_port) || fail "no free TCP port"
		# shellcheck disable=SC2034 # for the caller
		BOOT_START=$(now)
		qemu-system-x86_64 -accel tcg -m 256 -nographic \
			-kernel "$T/img/vmlinuz" -initrd "$T/img/initrd.img" \
			-append 'console=ttyS0 root=/dev/vda rw' \
			-drive "file=$T/disk.qcow2,if=virtio" "$@" \
			-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:22" \
			-device virtio-net-pci,netdev=n0 \
			-serial "file:$T/console.log" -display none -monitor stdio \
			<"${MONITOR_IN:-/dev/null}" >"$T/qemu.out" 2>&1 &
		QEMU_PID=$!
		sleep 0.5
		if kill -0 "$QEMU_PID" 2>/dev/null; then
			return 0
		fi
		wait "$QEMU_PID" || true
		QEMU_PID=
		grep -qi 'host forwarding\|address already in use' "$T/qemu.out" || fail "QEMU did not start"
	done
	fail "QEMU could not bind a host port in 3 tries"
}

# ssh_opts [KEY]: SSH_OPTS for the guest on $PORT: KEY (default $T/user_key) only, the
# host key pinned from $T/host_key.pub (StrictHostKeyChecking=yes).
SSH_OPTS=()
ssh_opts() {
	echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$T/host_key.pub")" >"$T/known_hosts"
	SSH_OPTS=(-F /dev/null -p "$PORT" -i "${1:-$T/user_key}" -o IdentitiesOnly=yes
		-o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$T/known_hosts"
		-o GlobalKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=10
		-o LogLevel=ERROR)
}
# Commands are given in single quotes on purpose: they run in the guest.
# shellcheck disable=SC2029
gssh() { ssh "${SSH_OPTS[@]}" student@127.0.0.1 "$@"; }

# wait_ssh SECONDS: until a login works; fails on a wrong host key or when time is up.
wait_ssh() {
	local deadline
	deadline=$(($(date +%s) + $1))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited during boot"
		if gssh true 2>"$T/ssh.err"; then
			return 0
		fi
		grep -q 'Host key verification failed\|REMOTE HOST IDENTIFICATION' "$T/ssh.err" &&
			{ cat "$T/ssh.err"; fail "the guest's host key is not the one from the seed"; }
		sleep 0.2
	done
	cat "$T/ssh.err"
	fail "no SSH login within $1 s"
}

wait_exit() { # wait_exit SECONDS: true when QEMU exits in time
	local deadline
	deadline=$(($(date +%s) + $1))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		if ! kill -0 "$QEMU_PID" 2>/dev/null; then
			wait "$QEMU_PID" 2>/dev/null || true
			QEMU_PID=
			return 0
		fi
		sleep 0.2
	done
	return 1
}
