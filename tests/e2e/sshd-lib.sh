#!/bin/bash
# A private OpenSSH server on 127.0.0.1 for tests and benchmarks: its own host key, one
# authorized user key, a temp dir, stopped on exit. Source it and call sshd_start:
#
#   . "$CL_SOURCE_DIR/tests/e2e/sshd-lib.sh"
#   sshd_start || exit $?      # 77 when /usr/sbin/sshd is missing
#   ssh -F /dev/null -o UserKnownHostsFile="$SSHD_KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
#       -i "$SSHD_USER_KEY" -p "$SSHD_PORT" "$SSHD_USER@127.0.0.1" true
#
# Exports: SSHD_DIR SSHD_PORT SSHD_PID SSHD_USER SSHD_USER_KEY (private key file)
# SSHD_USER_PUB (its public key line) SSHD_HOST_PUB (host public key line)
# SSHD_KNOWN_HOSTS (a known_hosts file with "[127.0.0.1]:PORT key") SSHD_LOG.
# Set SSHD_PORT before sshd_start to choose the port (default: a free one);
# SSHD_AUTHORIZED_KEYS (a file) to authorize more keys; SSHD_EXTRA_CONFIG (lines) for
# more sshd_config, e.g. "SetEnv NAME=value". Run directly, it tests itself.

SSHD_BIN=${SSHD_BIN:-/usr/sbin/sshd}

_sshd_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 20000))
}

_sshd_banner() { # port: succeeds once an SSH banner comes back
	local line
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	IFS= read -r -t 1 -u "$fd" line
	exec {fd}>&-
	[[ $line == SSH-* ]]
}

sshd_stop() {
	if [[ -n ${SSHD_PID:-} ]]; then
		kill "$SSHD_PID" 2>/dev/null
		wait "$SSHD_PID" 2>/dev/null
		SSHD_PID=
	fi
	if [[ -n ${SSHD_DIR:-} && -d $SSHD_DIR ]]; then
		rm -rf "$SSHD_DIR"
	fi
	SSHD_DIR=
}

sshd_start() {
	if [[ ! -x $SSHD_BIN ]]; then
		echo "skipped: $SSHD_BIN is missing (apt-get install openssh-server)" >&2
		return 77
	fi
	local want_port=${SSHD_PORT:-}
	SSHD_DIR=$(mktemp -d /tmp/cl-sshd.XXXXXX) || return 1
	chmod 700 "$SSHD_DIR"
	SSHD_USER=$(id -un)
	SSHD_USER_KEY=$SSHD_DIR/id_ed25519
	SSHD_LOG=$SSHD_DIR/sshd.log
	[[ $(id -u) == 0 ]] && mkdir -p /run/sshd
	ssh-keygen -q -t ed25519 -N '' -C sshd-lib-host -f "$SSHD_DIR/host_ed25519" || return 1
	ssh-keygen -q -t ed25519 -N '' -C sshd-lib-user -f "$SSHD_USER_KEY" || return 1
	SSHD_HOST_PUB=$(cat "$SSHD_DIR/host_ed25519.pub")
	SSHD_USER_PUB=$(cat "$SSHD_USER_KEY.pub")
	cat "$SSHD_USER_KEY.pub" >"$SSHD_DIR/authorized_keys"
	if [[ -n ${SSHD_AUTHORIZED_KEYS:-} ]]; then
		cat "$SSHD_AUTHORIZED_KEYS" >>"$SSHD_DIR/authorized_keys"
	fi
	chmod 600 "$SSHD_DIR/authorized_keys"
	cat >"$SSHD_DIR/sshd_config" <<-EOF
		ListenAddress 127.0.0.1
		HostKey $SSHD_DIR/host_ed25519
		PidFile none
		AuthorizedKeysFile $SSHD_DIR/authorized_keys
		StrictModes no
		UsePAM no
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		AllowTcpForwarding yes
		MaxStartups 100:30:200
		MaxSessions 100
		LogLevel ERROR
	EOF
	if [[ -n ${SSHD_EXTRA_CONFIG:-} ]]; then
		echo "$SSHD_EXTRA_CONFIG" >>"$SSHD_DIR/sshd_config"
	fi
	local try
	for try in 1 2 3 4 5; do
		SSHD_PORT=${want_port:-$(_sshd_free_port)}
		"$SSHD_BIN" -D -e -f "$SSHD_DIR/sshd_config" -p "$SSHD_PORT" </dev/null >>"$SSHD_LOG" 2>&1 &
		SSHD_PID=$!
		local i
		for i in $(seq 100); do
			if _sshd_banner "$SSHD_PORT"; then
				echo "[127.0.0.1]:$SSHD_PORT $SSHD_HOST_PUB" >"$SSHD_DIR/known_hosts"
				SSHD_KNOWN_HOSTS=$SSHD_DIR/known_hosts
				export SSHD_DIR SSHD_PORT SSHD_PID SSHD_USER SSHD_USER_KEY SSHD_USER_PUB \
					SSHD_HOST_PUB SSHD_KNOWN_HOSTS SSHD_LOG
				_sshd_trap
				return 0
			fi
			kill -0 "$SSHD_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill "$SSHD_PID" 2>/dev/null
		wait "$SSHD_PID" 2>/dev/null
		SSHD_PID=
		[[ -n $want_port ]] && break
	done
	echo "sshd did not start; its log:" >&2
	cat "$SSHD_LOG" >&2
	sshd_stop
	return 1
}

# Stop on exit, keeping whatever EXIT trap the caller already had.
_sshd_trap() {
	local prev
	prev=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
	[[ $prev == *sshd_stop* ]] && return
	# shellcheck disable=SC2064
	trap "sshd_stop${prev:+; $prev}" EXIT
}

# ssh options for OpenSSH against this server, strict host key checking included.
sshd_ssh_opts() {
	echo -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$SSHD_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -i "$SSHD_USER_KEY" -p "$SSHD_PORT"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	# Run directly (ctest e2e/sshd-lib): start, log in with strict host key checking, stop.
	set -u
	sshd_start || exit $?
	out=$(ssh $(sshd_ssh_opts) "$SSHD_USER@127.0.0.1" 'echo hello from sshd-lib') || {
		echo "FAIL: ssh login failed" >&2
		cat "$SSHD_LOG" >&2
		exit 1
	}
	[[ $out == "hello from sshd-lib" ]] || { echo "FAIL: got '$out'" >&2; exit 1; }
	echo "ok: sshd on 127.0.0.1:$SSHD_PORT"
	exit 0
fi
