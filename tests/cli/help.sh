#!/usr/bin/env bash
# --help at every level, --version, and the man page and completion against the
# command table: every NOUN VERB that --help lists is documented and completed.
. "$(dirname "$0")/lib.sh"

codes_listed() { # every exit code 0-5 on a line of its own in the help
	local c
	for c in 0 1 2 3 4 5; do
		grep -q -E "^ +$c +[a-z]" "$OUT" || { fail "$1: exit code $c not listed"; return 1; }
	done
	pass
}

cl_nodb --help
expect_eq "$RC" 0 "--help exit"
codes_listed "--help"
expect_stdout_contains "usage: classlab"
[ ! -e "$XDG_DATA_HOME/classlab" ] || fail "--help created the data directory"
cl_nodb --version
expect_eq "$RC" 0 "--version exit"
grep -q -E '^classlab [0-9]+\.[0-9]+\.[0-9]+' "$OUT" || fail "--version prints 'classlab X.Y.Z'"

# NOUN VERB pairs as --help lists them: a noun line, then indented verb lines.
cl_nodb --help
pairs=$(awk '/^Commands:/ {on = 1; next} on && /^$/ {exit} on && /^  [a-z]/ {noun = $1; next} on && /^      [a-z]/ {print noun " " $1}' "$OUT")
[ "$(echo "$pairs" | wc -l)" -ge 15 ] || fail "--help lists too few commands: $pairs"
nouns=$(echo "$pairs" | cut -d' ' -f1 | sort -u)
for noun in $nouns; do
	cl_nodb "$noun" --help
	expect_eq "$RC" 0 "$noun --help exit"
	codes_listed "$noun --help"
done
MAN="$CL_SOURCE_DIR/doc/classlab.1"
COMP="$CL_SOURCE_DIR/scripts/classlab.bash-completion"
# Completion reads the command table from the binary (classlab __complete).
cl_nodb __complete
expect_eq "$RC" 0 "__complete exit"
cp "$OUT" "$T/table"
while read -r noun verb; do
	cl_nodb "$noun" "$verb" --help
	expect_eq "$RC" 0 "$noun $verb --help exit"
	expect_stdout_contains "usage: classlab $noun $verb"
	codes_listed "$noun $verb --help"
	# The man page has a ".TP" / ".B" entry naming it (roff escapes "-" as "\-").
	grep -q -F "$noun $verb" <(sed 's/\\-/-/g; s/\\f[BIRP]//g' "$MAN") ||
		fail "doc/classlab.1 does not document '$noun $verb'"
	grep -q "^$noun $verb\( \|\$\)" "$T/table" || fail "completion lacks '$noun $verb'"
done <<<"$pairs"
# Commands without a verb (up, down, connect, ...) too.
cl_nodb --help
for noun in $(awk '/^Commands:/ {on = 1; next} on && /^$/ {exit} on && /^  [a-z]/ {print $1}' "$OUT"); do
	grep -q -F "classlab $noun" <(sed 's/\\-/-/g; s/\\f[BIRP]//g' "$MAN") || fail "man page lacks 'classlab $noun'"
	grep -q "^$noun " "$T/table" || fail "completion lacks noun '$noun'"
	pass
done
[ ! -e "$XDG_DATA_HOME/classlab" ] || fail "a --help created the data directory"

# The man page: exit codes, environment, files, the seed example; it formats cleanly.
for s in CLASSLAB_DB CLASSLAB_URI CLASSLAB_HOME XDG_DATA_HOME '$1042.50' 'EXIT STATUS' FILES \
	--db --connect --output --quiet --verbose --version; do
	grep -q -F -- "$s" <(sed 's/\\-/-/g; s/\\f[BIRP]//g; s/\\(mu/×/g' "$MAN") || fail "man page lacks '$s'"
done
if command -v groff >/dev/null; then
	warnings=$(groff -man -Tutf8 -ww -z "$MAN" 2>&1)
	[ -z "$warnings" ] || fail "groff warnings: $warnings"
fi
# The front end and classlab-vm: store-only commands run without libvirt or libssh
# loaded; a VM command runs classlab-vm, and without it says so and exits 1.
# (The build's own binaries: $CLASSLAB may be a wrapper, as under scripts/valgrind-cli.)
FRONT=${CL_BUILD_DIR:-$(dirname "$CLASSLAB")}/classlab
if command -v ldd >/dev/null; then
	ldd "$FRONT" | grep -q 'libvirt\.so' && fail "the classlab front end loads libvirt"
	ldd "$FRONT-vm" | grep -q 'libvirt\.so' || fail "classlab-vm does not link libvirt"
	pass
fi
cp "$FRONT" "$T/classlab-alone"
CLASSLAB_HOME=$T/alone "$T/classlab-alone" vm list somelab >"$T/alone.out" 2>"$T/alone.err"
expect_eq "$?" 1 "a VM command without classlab-vm: exit"
grep -q '^classlab: vm list: cannot run .*classlab-vm: No such file or directory$' "$T/alone.err" ||
	fail "a VM command without classlab-vm: $(cat "$T/alone.err")"
CLASSLAB_HOME=$T/alone "$T/classlab-alone" lab list >"$T/alone.out" 2>"$T/alone.err"
expect_eq "$?" 0 "a store command of the front end alone: exit"
bash -n "$COMP" || fail "completion file has a syntax error"
# Completion of the noun position and a verb position, by calling the function.
(
	. "$COMP"
	classlab() { "$CLASSLAB" "$@"; }
	COMP_WORDS=(classlab la); COMP_CWORD=1; _classlab
	[[ " ${COMPREPLY[*]} " == *" lab "* ]] || { echo "nouns: ${COMPREPLY[*]}"; exit 1; }
	COMP_WORDS=(classlab cost ""); COMP_CWORD=2; _classlab
	[[ " ${COMPREPLY[*]} " == *" estimate "* && " ${COMPREPLY[*]} " == *" report "* ]] || { echo "cost verbs: ${COMPREPLY[*]}"; exit 1; }
	COMP_WORDS=(classlab -o ""); COMP_CWORD=2; _classlab
	[[ " ${COMPREPLY[*]} " == *" json "* ]] || { echo "-o: ${COMPREPLY[*]}"; exit 1; }
	COMP_WORDS=(classlab lab create x --); COMP_CWORD=4; _classlab
	[[ " ${COMPREPLY[*]} " == *" --size "* && " ${COMPREPLY[*]} " == *" --username "* ]] || { echo "lab create options: ${COMPREPLY[*]}"; exit 1; }
	COMP_WORDS=(classlab connect ml st --t); COMP_CWORD=4; _classlab
	[[ " ${COMPREPLY[*]} " == " --tunnel " ]] || { echo "connect --t: ${COMPREPLY[*]}"; exit 1; }
) >"$T/comp.out" 2>&1 || fail "completion: $(cat "$T/comp.out")"
finish
