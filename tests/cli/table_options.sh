#!/usr/bin/env bash
# The command table against what is generated from it and what is written by hand:
# every option of every command (classlab __complete) appears in that command's --help,
# is offered by the bash completion, and is in its synopsis in doc/classlab.1.
. "$(dirname "$0")/lib.sh"

MAN="$CL_SOURCE_DIR/doc/classlab.1"
COMP="$CL_SOURCE_DIR/scripts/classlab.bash-completion"
cl_nodb __complete
expect_eq "$RC" 0 "__complete exit"
cp "$OUT" "$T/table"
[ "$(wc -l <"$T/table")" -ge 20 ] || fail "__complete lists too few commands"
sed 's/\\-/-/g; s/\\f[BIRP]//g' "$MAN" >"$T/man"

while read -r noun verb rest; do
	name=$noun
	[ "$verb" = - ] || name="$noun $verb"
	opts=$(tr ' ' '\n' <<<"$rest" | sed -n 's/^--\([a-z0-9-]*\).*/\1/p')
	cl_nodb $name --help
	expect_eq "$RC" 0 "$name --help exit"
	cp "$OUT" "$T/help"
	# The synopsis: the line after '.B "classlab NAME"' (or '.B classlab NAME ...' alone).
	synopsis=$(awk -v n="classlab $name" '
		found { print; exit }
		$0 == ".B \"" n "\"" { found = 1 }
		index($0, ".B " n) == 1 && length($0) == length(".B " n) { print ""; exit }' "$T/man")
	offered=$(
		. "$COMP"
		classlab() { "$CLASSLAB" "$@"; }
		if [ "$verb" = - ]; then COMP_WORDS=(classlab "$noun" --); else COMP_WORDS=(classlab "$noun" "$verb" --); fi
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_classlab
		echo " ${COMPREPLY[*]} "
	)
	for o in $opts; do
		grep -q -e "--$o\b" "$T/help" || fail "'$name --help' lacks --$o"
		[[ $offered == *" --$o "* ]] || fail "completion of '$name' lacks --$o (offers:$offered)"
		[[ " $synopsis " =~ --$o[^a-z0-9-] ]] || fail "doc/classlab.1 synopsis of '$name' lacks --$o: '$synopsis'"
		pass
	done
	# And nothing the other way round: options in the synopsis that the table does not have.
	for o in $(grep -o -e '--[a-z][a-z0-9-]*' <<<"$synopsis" | sed 's/^--//' | sort -u); do
		grep -q -x -F -- "$o" <<<"$opts" || fail "doc/classlab.1 synopsis of '$name' has --$o, the table does not"
		pass
	done
done <"$T/table"
finish
