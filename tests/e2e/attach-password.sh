#!/usr/bin/env bash
# `classlab vm attach --password-stdin` against a real OpenSSH server that takes passwords.
# The login user exists only for this server: sshd runs in a private mount namespace in
# which copies of /etc/passwd and /etc/shadow carrying the extra user are bind-mounted over
# the host's, so nothing on the machine changes. Checks: the right password attaches and
# only a crypt hash of it is stored; a wrong one is refused and nothing is recorded; an
# empty stdin is a usage error; connect and ssh-config work for the attached machine, and
# tunnel/jupyter, which would need the password again, say so instead of trying.
set -u
CLASSLAB=${CLASSLAB:?path to the classlab binary}
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "skip: needs root (a private mount namespace)" >&2; exit 77; }
[ -x /usr/sbin/sshd ] || { echo "skip: /usr/sbin/sshd is missing" >&2; exit 77; }
unshare -m --propagation private sh -c 'mount --bind /etc/passwd /etc/passwd' 2>/dev/null ||
	{ echo "skip: cannot bind-mount in a private mount namespace here" >&2; exit 77; }

W=$(mktemp -d /tmp/clpw.XXXX)
SSHD_PID=
cleanup() {
	[ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
export CLASSLAB_HOME=$W/home
C=("$CLASSLAB" --db "$W/c.db")

# A password with characters a shell or a hash format would trip on.
PW='c0rrect horse:$battery"st\aple'
USER_NAME=clpw-e2e
mkdir -p "$W/etc" "$W/user" && chmod 755 "$W" "$W/user"
hash=$(PW=$PW perl -e 'print crypt($ENV{PW}, q($6$) . join("", map { (q(a)..q(z))[rand 26] } 1..16) . q($))')
[[ $hash == '$6$'* ]] || fail "cannot make a SHA-512 crypt hash with perl"
cp /etc/passwd "$W/etc/passwd" && cp /etc/shadow "$W/etc/shadow" || fail "cannot copy passwd/shadow"
echo "$USER_NAME:x:64999:64999:classlab e2e:$W/user:/bin/sh" >>"$W/etc/passwd"
echo "$USER_NAME:$hash:20000:0:99999:7:::" >>"$W/etc/shadow"
chown 64999:64999 "$W/user"

ssh-keygen -q -t ed25519 -N '' -f "$W/host_ed25519" || fail "ssh-keygen"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$W/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $W/host_ed25519
PidFile none
UsePAM no
PasswordAuthentication yes
PubkeyAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $USER_NAME
AllowTcpForwarding yes
LogLevel ERROR
EOF
mkdir -p /run/sshd
unshare -m --propagation private sh -c '
	mount --bind "$1/etc/passwd" /etc/passwd && mount --bind "$1/etc/shadow" /etc/shadow &&
	exec /usr/sbin/sshd -D -e -f "$1/sshd_config" -p "$2"' sh "$W" "$PORT" \
	</dev/null >"$W/sshd.log" 2>&1 &
SSHD_PID=$!
for _ in $(seq 100); do
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null && { exec {fd}>&-; break; }
	kill -0 "$SSHD_PID" 2>/dev/null || fail "sshd did not start: $(cat "$W/sshd.log")"
	sleep 0.05
done
FP=$(ssh-keygen -lf "$W/host_ed25519.pub" | awk '{print $2}')
grep -q "^$USER_NAME:" /etc/passwd && fail "the test user leaked into the host's /etc/passwd"

"${C[@]}" lab create pw --size small >/dev/null || fail "lab create"
"${C[@]}" students add pw pc1 >/dev/null || fail "students add"
attach() { # PASSWORD-ON-STDIN: runs vm attach, sets RC
	printf '%s\n' "$1" | "${C[@]}" vm attach pw pc1 --address 127.0.0.1 --ssh-port "$PORT" \
		--username "$USER_NAME" --password-stdin --host-key-fingerprint "$FP" \
		>"$W/out" 2>"$W/err"
	RC=$?
}

# A wrong password: refused by the server, nothing recorded.
attach 'not the password'
[ "$RC" = 1 ] || fail "wrong password: exit $RC, want 1: $(cat "$W/err")"
grep -q "password login as '$USER_NAME' to .* was denied" "$W/err" || fail "wrong password message: $(cat "$W/err")"
[ "$(sqlite3 "$W/c.db" 'SELECT count(*) FROM vms')" = 0 ] || fail "recorded after a denied login"
# Nothing on stdin: a usage error.
"${C[@]}" vm attach pw pc1 --address 127.0.0.1 --ssh-port "$PORT" --username "$USER_NAME" \
	--password-stdin --host-key-fingerprint "$FP" </dev/null >/dev/null 2>"$W/err"
[ $? = 2 ] || fail "empty stdin: want exit 2"
grep -q "password-stdin: nothing on standard input" "$W/err" || fail "empty stdin message: $(cat "$W/err")"

# The right one: attached; only a hash is stored, and it verifies against the password.
attach "$PW"
[ "$RC" = 0 ] || fail "attach with the right password: exit $RC: $(cat "$W/err")"
secret=$(sqlite3 "$W/c.db" "SELECT auth_secret FROM vms WHERE name = 'pw-pc1'")
[[ $secret == '$'* ]] || fail "stored secret is not a crypt hash: $secret"
[ "$(PW=$PW S=$secret perl -e 'print crypt($ENV{PW}, $ENV{S}) eq $ENV{S} ? "match" : "differ"')" = match ] ||
	fail "stored hash does not verify the password"
if grep -a -q -F -e "$PW" -e 'c0rrect horse' "$W/c.db" "$W/c.db-wal" 2>/dev/null ||
	grep -r -a -q -F 'c0rrect horse' "$CLASSLAB_HOME" 2>/dev/null; then
	fail "the password is stored in plain text"
fi

line=$("${C[@]}" connect pw pc1) || fail "connect"
[ "$line" = "ssh -p $PORT $USER_NAME@127.0.0.1" ] || fail "connect printed '$line'"
"${C[@]}" ssh-config pw >"$W/cfg" || fail "ssh-config"
grep -q "StrictHostKeyChecking yes" "$W/cfg" || fail "ssh-config is not strict"
grep -q "IdentityFile" "$W/cfg" && fail "ssh-config names a key for a password login"
# OpenSSH with the generated file trusts the pinned key and gets as far as the password prompt.
out=$(ssh -F "$W/cfg" -o BatchMode=yes -o PreferredAuthentications=password pw-pc1 true 2>&1)
case $out in
*"Permission denied"*) ;;
*) fail "OpenSSH with ssh-config: want a password refusal in batch mode, got: $out" ;;
esac
for cmd in tunnel jupyter; do
	"${C[@]}" $cmd pw pc1 --local-port 0 >/dev/null 2>"$W/err"
	[ $? = 2 ] || fail "$cmd on a password machine: want exit 2"
	grep -q "logs in to this machine with a password" "$W/err" || fail "$cmd message: $(cat "$W/err")"
done
echo "ok: password attach (hash only), denial, connect/ssh-config, tunnel and jupyter refuse"
