#!/bin/bash
# Helpers the e2e scripts share (sourced; not a test). They expect $CLASSLAB and a
# scratch directory $T.

skip() { echo "SKIP: $*" >&2; exit 77; }
# need_guest TOOL...: skip unless the tools and the tiny guest's Debian packages are here.
need_guest() {
	[ -n "${CLASSLAB:-}" ] && [ -x "$CLASSLAB" ] || skip "CLASSLAB is not set to the classlab binary"
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"
	done
	ls /boot/vmlinuz-*-cloud-amd64 >/dev/null 2>&1 ||
		skip "no /boot/vmlinuz-*-cloud-amd64 (install linux-image-cloud-amd64)"
	command -v busybox >/dev/null 2>&1 || skip "busybox-static is not installed"
	command -v dropbear >/dev/null 2>&1 || [ -x /usr/sbin/dropbear ] || skip "dropbear-bin is not installed"
}
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
# cl ARGS: classlab with stdout in $T/out, stderr in $T/err, status in RC.
cl() {
	"$CLASSLAB" "$@" >"$T/out" 2>"$T/err"
	RC=$?
}
must() { # must ARGS: classlab must succeed
	cl "$@"
	[ "$RC" = 0 ] || { cat "$T/out" "$T/err" >&2; fail "classlab $* exited $RC"; }
}
# discard_dir DIR: for a cleanup trap - kills the qemu processes whose command line names
# DIR, then removes DIR (KEEP=1 keeps it and says where).
discard_dir() {
	local pid
	for pid in $(pgrep -f -- "qemu-system.*$1/" 2>/dev/null); do
		[ "$pid" = $$ ] || kill -9 "$pid" 2>/dev/null
	done
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $1" >&2; else rm -rf "$1"; fi
}
# finish_labs RC DIR LAB...: the end of an EXIT trap - after a failure the last console
# lines of every guest under DIR, then each LAB taken down and DIR discarded; exits RC.
finish_labs() {
	local rc=$1 dir=$2 f lab
	shift 2
	trap - EXIT
	[ "$rc" != 0 ] && [ -d "$dir/console" ] && for f in "$dir"/console/*.log; do
		[ -f "$f" ] || continue
		echo "---- last lines of $f ----" >&2
		tail -n 15 "$f" | tr -d '\r' >&2
	done
	for lab in "$@"; do "$CLASSLAB" -q down "$lab" --yes >/dev/null 2>&1; done
	discard_dir "$dir"
	exit "$rc"
}
