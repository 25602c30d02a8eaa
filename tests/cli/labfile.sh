#!/usr/bin/env bash
# Hostile lab files (tests/data/hostile/labfiles/*.json): `classlab up` refuses each with
# exit 2 and a message naming the problem, before touching the database or a hypervisor.
. "$(dirname "$0")/lib.sh"

expect_exit 0 lab create keep --size small
for f in "$CL_TEST_DATA"/hostile/labfiles/*.json; do
	want=$(cat "${f%.json}.expect")
	expect_refused 2 "$want" up "$f" || echo "  (case $(basename "$f"))" >&2
done
# A missing file is "not found"; a directory or an unreadable path fails cleanly too.
expect_refused 3 "cannot open" up "$T/nope.json"
expect_refused 2 "is a directory" up "$T"
finish
