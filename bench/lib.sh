# Shared helpers for the bench/ scripts (sourced, not run).
# shellcheck shell=bash

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The classlab binary under test: $CLASSLAB, else build-bench/, else build/.
if [[ -z ${CLASSLAB:-} ]]; then
	for c in "$BENCH_SRC/build-bench/classlab" "$BENCH_SRC/build/classlab"; do
		[[ -x $c ]] && { CLASSLAB=$c; break; }
	done
fi
[[ -x ${CLASSLAB:-} ]] || {
	echo "bench: no classlab binary (set CLASSLAB, or: cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench)" >&2
	exit 77
}

need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || { echo "bench: needs $t" >&2; exit 77; }
	done
}

# Milliseconds since the epoch (no fork: bash 5's EPOCHREALTIME).
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# median of the arguments (numbers; the lower middle for an even count)
median() {
	printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# ratio A B -> A/B with 2 decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "inf"; else printf "%.2f\n", a / b }'; }

# per A N -> A/N with 1 decimal
per() { awk -v a="$1" -v n="$2" 'BEGIN { printf "%.1f\n", a / n }'; }

# A lab file for the tiny image: NAME and N students s001..sNNN.
lab_json() {
	local name=$1 n=$2 i sep=
	printf '{\n "name": "%s", "size": "small", "image": "tiny", "username": "student",\n' "$name"
	printf ' "scheduled_hours": 20, "quota_hours": 10, "price_per_unit_hour": "0.01",\n'
	printf ' "memory_mib": 192, "vcpus": 1, "listen": "127.0.0.1", "public_host": "127.0.0.1",\n'
	printf ' "port_range": [61000, 65535],\n "students": ['
	for ((i = 1; i <= n; i++)); do
		printf '%s\n  {"name": "s%03d", "email": "s%03d@example.edu"}' "$sep" "$i" "$i"
		sep=,
	done
	printf '\n ]\n}\n'
}

# A roster CSV with N students s001..sNNN.
roster_csv() {
	local n=$1 i
	echo "name,email"
	for ((i = 1; i <= n; i++)); do printf 's%03d,s%03d@example.edu\n' "$i" "$i"; done
}

machine_line() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	local kvm="no KVM, TCG"
	[[ -e /dev/kvm ]] && kvm="/dev/kvm present (guests still use TCG: domain type qemu)"
	echo "$(date -u +%Y-%m-%dT%H:%MZ); $(nproc) CPUs ($cpu); $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $kvm"
}

# The tiny image is built once per recipe and kept in $BENCH_IMAGE_CACHE between bench runs
# (classlab checks its recipe hash and rebuilds it when the recipe changed).
BENCH_IMAGE_CACHE=${BENCH_IMAGE_CACHE:-/tmp/classlab-bench-tiny}
cache_tiny_in() {
	local home=$1
	if [[ -f $BENCH_IMAGE_CACHE/recipe.sha256 ]]; then
		mkdir -p "$home/cache/images"
		cp -a "$BENCH_IMAGE_CACHE" "$home/cache/images/tiny"
	fi
}
cache_tiny_out() {
	local home=$1
	[[ -f $home/cache/images/tiny/recipe.sha256 ]] || return 0
	rm -rf "$BENCH_IMAGE_CACHE.new"
	cp -a "$home/cache/images/tiny" "$BENCH_IMAGE_CACHE.new"
	rm -rf "$BENCH_IMAGE_CACHE"
	mv "$BENCH_IMAGE_CACHE.new" "$BENCH_IMAGE_CACHE"
}
