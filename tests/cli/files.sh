#!/usr/bin/env bash
# Paths users give classlab: --db, the data directory, lab files and rosters, and
# `students export DIR`. Empty or unsuitable paths exit 2 and write nothing; a symlink is
# followed only above the last component; nothing another user owns is adopted or
# chmodded; an export never overwrites or writes through what it did not write itself.
. "$(dirname "$0")/lib.sh"

# refused_nodb CODE TEXT ARGS...: classlab ARGS (no --db added) exits CODE, prints nothing
# on stdout and names TEXT on stderr.
refused_nodb() {
	local want=$1 text=$2
	shift 2
	cl_nodb "$@"
	local where="classlab $*"
	[ "$RC" = "$want" ] || { fail "$where exited $RC, want $want"; return 1; }
	[ ! -s "$OUT" ] || { fail "$where printed on stdout"; return 1; }
	[[ $ERRTEXT == "classlab: "*"$text"* ]] || { fail "$where: stderr lacks '$text'"; return 1; }
	pass
}
mode() { stat -c %a "$1"; }
sum_dir() { (cd "$1" && find . -printf '%p %y %m %s %l\n' | sort && cat ./* 2>/dev/null | md5sum); }

# --- --db: empty, a directory, not a file, a symlink ------------------------------------
mkdir -p "$T/dbdir" "$T/real"
refused_nodb 2 "empty" --db '' lab list
refused_nodb 2 "names a directory" --db / lab list
refused_nodb 2 "is a directory" --db "$T/dbdir" lab list
refused_nodb 2 "names a directory" --db "$T/dbdir/" lab list
refused_nodb 2 "names a directory" --db "$T/dbdir/.." lab list
mkfifo "$T/fifo.db"
refused_nodb 2 "not a regular file" --db "$T/fifo.db" lab list
refused_nodb 2 "Not a directory" --db /dev/null/x lab list
[ -z "$(ls -A "$T/dbdir")" ] || fail "a refused --db wrote into the directory"
# A symlink as the last component is refused and says why; above it, it is followed.
ln -s real "$T/reallink"
cl_nodb --db "$T/reallink/c.db" lab create viaparent --size small
expect_eq "$RC" 0 "--db under a symlinked directory"
[ -s "$T/real/c.db" ] || fail "the database is not in the symlink's target"
cl_nodb --db "$T/reallink/c.db" lab list
expect_stdout_contains viaparent
ln -s real/c.db "$T/c-link.db"
refused_nodb 2 "symbolic link" --db "$T/c-link.db" lab list
# A failed first open leaves no empty database behind (here SQLite cannot make its -wal).
mkdir -p "$T/nowal/x.db-wal"
cl_nodb --db "$T/nowal/x.db" lab list
[ "$RC" != 0 ] || fail "open with a directory as the -wal file succeeded"
[ ! -e "$T/nowal/x.db" ] || fail "a failed open left $(stat -c %s "$T/nowal/x.db") bytes of database behind"
pass

# --- files that must be regular: lab files, rosters, keys ------------------------------
expect_exit 0 lab create ml --size small
expect_refused 2 "is a directory" up "$T/dbdir"
expect_refused 2 "empty" up ''
expect_refused 2 "not a regular file" up /dev/null
expect_refused 2 "is a directory" students import ml "$T/dbdir"
expect_refused 2 "is a directory" students add ml bob --ssh-public-key "$T/dbdir"
expect_refused 2 "empty" students import ml ''
# A lab's image: "tiny" or an absolute path to a regular qcow2/raw file, checked at create.
mkfifo "$T/image.fifo"
: >"$T/empty.raw"
expect_refused 2 "absolute path" lab create im --size small --image ''
expect_refused 2 "absolute path" lab create im --size small --image empty.raw
expect_refused 2 "not a regular file" lab create im --size small --image /
expect_refused 2 "not a regular file" lab create im --size small --image "$T/dbdir"
expect_refused 2 "not a regular file" lab create im --size small --image /dev/null
expect_refused 2 "not a regular file" lab create im --size small --image "$T/image.fifo"
expect_refused 3 "cannot use image" lab create im --size small --image "$T/no-such.qcow2"
expect_exit 0 lab create im --size small --image "$T/empty.raw"

# --- the data directory: a symlink as its last component, another user's, open to others --
mkdir -p "$T/dd-real" "$T/dd-open"
ln -s dd-real "$T/dd-link"
CLASSLAB_HOME=$T/dd-link refused_nodb 2 "symbolic link" lab list
[ -z "$(ls -A "$T/dd-real")" ] || fail "a refused data directory was written to"
CLASSLAB_HOME=$T/dd-link/ refused_nodb 2 "symbolic link" lab list
CLASSLAB_HOME=$T/dd-link/. refused_nodb 2 "symbolic link" lab list
CLASSLAB_HOME=$T/dd-link/./ refused_nodb 2 "symbolic link" lab list
CLASSLAB_HOME=$T/dd-real/.. refused_nodb 2 "ends in '..'" lab list
CLASSLAB_HOME=$T/dd-link refused_nodb 2 "symbolic link" --db "$T/other.db" lab list
chmod 0777 "$T/dd-open"
CLASSLAB_HOME=$T/dd-open refused_nodb 2 "writable by others" lab list
expect_eq "$(mode "$T/dd-open")" 777 "a refused data directory's mode"
[ -z "$(ls -A "$T/dd-open")" ] || fail "a data directory open to others was written to"
if [ "$(id -u)" = 0 ]; then
	mkdir -m 0755 "$T/dd-theirs"
	chown 65534:65534 "$T/dd-theirs"
	CLASSLAB_HOME=$T/dd-theirs refused_nodb 2 "belongs to uid 65534" lab list
	expect_eq "$(mode "$T/dd-theirs")" 755 "another user's data directory's mode"
	[ -z "$(ls -A "$T/dd-theirs")" ] || fail "another user's data directory was written to"
	# ... nor one inside a directory another user owns (they could swap the path), at any
	# depth, whether the data directory exists yet or not (HOME=/tmp-like parents).
	mkdir -m 0755 "$T/up-theirs"
	chown 65534:65534 "$T/up-theirs"
	mkdir -p -m 0700 "$T/up-theirs/a/data"
	CLASSLAB_HOME=$T/up-theirs/a/data refused_nodb 2 "belongs to uid 65534" lab list
	CLASSLAB_HOME=$T/up-theirs/new/data refused_nodb 2 "belongs to uid 65534" lab list
	[ ! -e "$T/up-theirs/new" ] || fail "a data directory was made inside another user's"
	[ -z "$(ls -A "$T/up-theirs/a/data")" ] || fail "a data directory under another user's was written to"
else
	echo "# skip: not root, cannot make another user's directory"
fi
# A parent others may write (not sticky): refused; a sticky one (/tmp) is fine.
mkdir -m 0777 "$T/up-open" && chmod 0777 "$T/up-open"
CLASSLAB_HOME=$T/up-open/data refused_nodb 2 "which others can write" lab list
[ ! -e "$T/up-open/data" ] || fail "a data directory was made inside an open directory"
mkdir -m 1777 "$T/up-sticky" && chmod 1777 "$T/up-sticky"
CLASSLAB_HOME=$T/up-sticky/data cl_nodb lab list
expect_eq "$RC" 0 "a data directory under a sticky directory"
# The root directory is nobody's data directory; no HOME is no guess at /tmp.
had_root_db=$([ -e /classlab.db ] && echo yes)
CLASSLAB_HOME=/ refused_nodb 2 "root directory" lab list
[ -n "$had_root_db" ] || [ ! -e /classlab.db ] || fail "a database was made in /"
# (As nobody, whose passwd home is /nonexistent: the message names that, not /tmp.)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	(unset HOME XDG_DATA_HOME && cd / && setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$CLASSLAB" lab list >"$OUT" 2>"$ERR")
	RC=$?
	ERRTEXT=$(cat "$ERR")
	expect_eq "$RC" 1 "no HOME, a home directory that does not exist"
	[[ $ERRTEXT == *"/nonexistent"* ]] || fail "no HOME: not the account's home: $ERRTEXT"
fi
# A data directory of one's own keeps its mode; a new one is made 0700.
mkdir -m 0750 "$T/dd-mine"
CLASSLAB_HOME=$T/dd-mine cl_nodb lab list
expect_eq "$RC" 0 "own data directory"
expect_eq "$(mode "$T/dd-mine")" 750 "own data directory's mode"
CLASSLAB_HOME=$T/dd-new/sub cl_nodb lab list
expect_eq "$RC" 0 "new data directory"
expect_eq "$(mode "$T/dd-new/sub")" 700 "new data directory's mode"
# A symlinked $HOME (/home -> /var/home): the default data directory works.
mkdir -p "$T/var-home/u"
ln -s var-home "$T/home-link"
HOME=$T/home-link/u XDG_DATA_HOME='' cl_nodb lab create homelink --size small
expect_eq "$RC" 0 "a data directory under a symlinked HOME"
[ -s "$T/var-home/u/.local/share/classlab/classlab.db" ] || fail "no database under the real HOME"

# --- students export: only into a new or empty directory, never through a symlink ------
# A published VM's record (what template publish would leave), without booting a guest.
expect_exit 0 students add ml bob
hostkey=$(cut -d' ' -f1,2 "$CL_TEST_DATA/ssh/key_ed25519_256.pub")
sql "INSERT INTO vms(lab_id, student_id, name, kind, ssh_port, host_key_pub, state, created_at)
     SELECT l.id, s.id, 'ml-bob', 'student', 61001, '$hostkey', 'running', 0
     FROM labs l JOIN students s ON s.lab_id = l.id WHERE l.name = 'ml' AND s.name = 'bob'"

expect_refused 2 "DIR is empty" students export ml bob ''
expect_exit 0 students export ml bob "$T/exp/a/b"
expect_eq "$(mode "$T/exp/a/b")" 700 "a new export directory's mode"
expect_eq "$(mode "$T/exp/a/b/id_ed25519")" 600 "the exported key's mode"
for f in .classlab-export id_ed25519 known_hosts ssh_config x2go-session README.txt; do
	[ -f "$T/exp/a/b/$f" ] || fail "export did not write $f"
done
grep -qx known_hosts "$T/exp/a/b/.classlab-export" || fail "the manifest does not list known_hosts"
before=$(sum_dir "$T/exp/a/b")
expect_refused 4 "not empty" students export ml bob "$T/exp/a/b"
expect_eq "$(sum_dir "$T/exp/a/b")" "$before" "a refused re-export changed the directory"
expect_exit 0 students export ml bob "$T/exp/a/b" --force
expect_eq "$(mode "$T/exp/a/b/id_ed25519")" 600 "the re-exported key's mode"
[ -z "$(find "$T/exp" -name '*.tmp.*')" ] || fail "export left temporary files"

# ~/.ssh: someone's own key and known_hosts are never replaced, with or without --force.
mkdir -m 0700 "$T/ssh"
echo "MY OWN KEY" >"$T/ssh/id_ed25519"
echo "my hosts" >"$T/ssh/known_hosts"
chmod 600 "$T/ssh/id_ed25519"
before=$(sum_dir "$T/ssh")
expect_refused 4 "not empty" students export ml bob "$T/ssh"
expect_refused 4 "no earlier export" students export ml bob "$T/ssh" --force
expect_eq "$(sum_dir "$T/ssh")" "$before" "export changed ~/.ssh"
# A symlinked DIR is refused (with a trailing slash too); its target is untouched.
ln -s ssh "$T/ssh-link"
ln -s exp/a/b "$T/exp-link"
expect_refused 4 "symbolic link" students export ml bob "$T/ssh-link"
expect_refused 4 "symbolic link" students export ml bob "$T/ssh-link/"
for d in "$T/ssh-link/." "$T/ssh-link/./" "$T/ssh-link//.//." "$T/ssh-link/./."; do
	expect_refused 4 "symbolic link" students export ml bob "$d" || echo "  (DIR '$d')" >&2
done
expect_refused 2 "ends in '..'" students export ml bob "$T/ssh-link/.."
expect_refused 4 "symbolic link" students export ml bob "$T/exp-link" --force
expect_eq "$(sum_dir "$T/ssh")" "$before" "export through a symlink changed its target"
# An existing empty directory is used as it is: its mode is not changed (/tmp, ., /).
mkdir -m 0755 "$T/empty"
expect_exit 0 students export ml bob "$T/empty"
expect_eq "$(mode "$T/empty")" 755 "an existing export directory's mode"
root_mode=$(mode /)
t_mode=$(mode "$T")
expect_refused 4 "not empty" students export ml bob /
expect_refused 4 "not empty" students export ml bob .
expect_eq "$(mode /)" "$root_mode" "the mode of /"
expect_eq "$(mode "$T")" "$t_mode" "the mode of ."
# A file as DIR, or under a file: refused, nothing made.
expect_refused 4 "not a directory" students export ml bob "$T/exp/a/b/README.txt"
expect_refused 4 "is a file" students export ml bob "$T/exp/a/b/README.txt/sub"
# --force replaces only regular files of its own manifest.
D=$T/exp/a/b
rm "$D/known_hosts"
echo "victim" >"$T/victim"
chmod 0640 "$T/victim"
ln -s "$T/victim" "$D/known_hosts"
expect_refused 4 "symbolic link" students export ml bob "$D" --force
expect_eq "$(cat "$T/victim")" victim "--force wrote through a symlink"
expect_eq "$(mode "$T/victim")" 640 "--force chmodded a symlink's target"
rm "$D/known_hosts"
grep -v README "$D/.classlab-export" >"$T/manifest" && cat "$T/manifest" >"$D/.classlab-export"
expect_refused 4 "not in .classlab-export" students export ml bob "$D" --force
rm "$D/.classlab-export"
ln -s "$T/manifest" "$D/.classlab-export"
expect_refused 4 "no earlier export" students export ml bob "$D" --force
rm "$D/.classlab-export" "$D/README.txt"
echo x >"$D/unrelated"
expect_refused 4 "no earlier export" students export ml bob "$D" --force
expect_eq "$(cat "$D/unrelated")" x "an unrelated file"

# --- tunnel --bind: beyond loopback only with --public (refused before connecting) ------
for addr in 0.0.0.0 :: 192.0.2.1 ::ffff:192.0.2.1; do
	expect_refused 2 "--public" tunnel ml bob --bind "$addr"
done
expect_refused 2 "numeric" tunnel ml bob --bind localhost
expect_refused 2 "numeric" tunnel ml bob --bind ''

finish
