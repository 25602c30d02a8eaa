#!/usr/bin/env bash
# image list / image build: the built-in images with their recipe hash and cache state
# (the recipes' --recipe-hash only: nothing is built here), an unknown name refused with
# the names, and lab files / lab create accepting "debian-ds".
. "$(dirname "$0")/lib.sh"

cl_nodb image list
[ "$RC" = 0 ] || fail "image list exited $RC"
for n in tiny debian-ds; do
	h=$("$CL_SOURCE_DIR/templates/images/$n/build.sh" --recipe-hash 2>/dev/null)
	if [ -n "$h" ]; then
		grep -Eq "^$n +not built +0 +$h +-\$" "$OUT" || fail "image list: no row for $n with hash $h"
	fi
done
pass
cl_nodb -o json image list
python3 - "$OUT" <<'PY' || fail "image list -o json"
import json, sys
rows = json.load(open(sys.argv[1]))
assert [r["name"] for r in rows] == ["tiny", "debian-ds"], rows
for r in rows:
    assert r["state"] == "not built" and r["built_hash"] is None and r["disk"] is None, r
    assert len(r["recipe_hash"]) == 64, r
PY
pass
cl_nodb image build ubuntu
[ "$RC" = 2 ] || fail "image build ubuntu exited $RC, want 2"
[[ $ERRTEXT == "classlab: image build: no built-in image 'ubuntu'"*'"debian-ds"'* ]] || fail "image build ubuntu: $ERRTEXT"
cl_nodb image build
[ "$RC" = 2 ] || fail "image build without a name exited $RC, want 2"
pass

expect_exit 0 lab create dsl --size small --image debian-ds
expect_refused 2 "built-in image" lab create xx --size small --image debian
finish
