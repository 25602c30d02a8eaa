# The front end (cli/) calls only the middle floor (templates/, students/, cost/, tunnel/):
# never the store's or provision's functions, so that a second front end (a service, an
# HTTP API) finds every rule in the library; the store is opened by cl_ctx_new. Allowed
# below: the store's data-type helpers (cl_lab_clear, cl_vm_list_free, cl_vm_state_name,
# ...), which belong to the types.
# Two checks: the source (every call written in cli/*.c) and, when the build tree is at
# hand, the objects (every symbol cli/*.o needs that store/ or provision/ defines).

set -u
: "${CL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$CL_SOURCE_DIR" || exit 1
FAILS=0

# A function of store/ or provision/ the front end may call anyway.
allowed() {
	case $1 in
	cl_store_* | cl_hv_* | cl_image_* | cl_pool* | cl_vol* | cl_gpu_host*) return 1 ;;
	*_clear | *_free | *_state_name | *_kind_name | *_state_parse | *_kind_parse) return 0 ;;
	*_mode_name | *_mode_parse) return 0 ;; # cl_stop_mode_*: the same kind of name table
	esac
	return 1
}

# Every function store/ and provision/ define (not static), from their sources.
lower=$(find store provision -name '*.c' -print0 |
	xargs -0 grep -hoE '^[a-z][a-zA-Z0-9_ *]*[ *]cl_[a-z0-9_]+\(' |
	grep -v '^static' | grep -oE 'cl_[a-z0-9_]+\($' | tr -d '(' | sort -u)
if [ "$(printf '%s\n' "$lower" | grep -c '^cl_store_lab_get$')" != 1 ] ||
	[ "$(printf '%s\n' "$lower" | grep -c '^cl_hv_open$')" != 1 ]; then
	echo "FAIL: layering.sh could not list store/ and provision/ functions (looked for" \
		"cl_store_lab_get and cl_hv_open)" >&2
	exit 1
fi

# 1. The source: a call is a name followed by "(" outside a comment.
for f in cli/*.c cli/*.h; do
	# Comments out (one-line /* */ and //, and the insides of block comments), then calls.
	calls=$(sed -e 's|/\*.*\*/||g' -e 's|//.*||' -e '/\/\*/,/\*\//s/.*//' "$f" |
		grep -noE '\bcl_[a-z0-9_]+[[:space:]]*\(' | tr -d ' (\t')
	for c in $calls; do
		name=${c#*:}
		case $name in cl_store_* | cl_hv_* | cl_image_* | cl_pool* | cl_vol* | cl_gpu_host*) ;;
		*) printf '%s\n' "$lower" | grep -qx -- "$name" || continue ;;
		esac
		allowed "$name" && continue
		echo "FAIL: $f:${c%%:*} calls $name (store/ or provision/)" >&2
		FAILS=$((FAILS + 1))
	done
done

# 2. The objects: what cli/*.o needs that the store or provision objects define (a call
# through a macro or a header's inline function shows up here, not in the source).
B=${CL_BUILD_DIR:-}
cliobj=$(ls "$B"/CMakeFiles/classlab_vm.dir/cli/*.o 2>/dev/null)
lowobj=$(find "$B/CMakeFiles/clo_store.dir" "$B/CMakeFiles/clo_provision.dir" \
	"$B/CMakeFiles/clo_gpu.dir/provision" -name '*.o' 2>/dev/null)
if [ -z "$B" ] || [ -z "$cliobj" ] || [ -z "$lowobj" ] || ! command -v nm >/dev/null; then
	echo "note: no build tree objects or nm: only the source was checked" >&2
else
	defined=$(nm -g --defined-only $lowobj | awk 'NF == 3 && $2 ~ /[TDRB]/ {print $3}' | sort -u)
	for o in $cliobj; do
		for name in $(nm -u "$o" | awk '{print $NF}' | grep '^cl_' | sort -u); do
			printf '%s\n' "$defined" | grep -qx -- "$name" || continue
			allowed "$name" && continue
			echo "FAIL: cli/${o##*/} needs $name (store/ or provision/)" >&2
			FAILS=$((FAILS + 1))
		done
	done
fi

if [ "$FAILS" -ne 0 ]; then
	echo "layering.sh: $FAILS call(s) from cli/ past the middle floor: the front end calls" \
		"only cl_students.h, cl_templates.h, cl_cost.h and cl_ssh.h (and cl_util.h);" \
		"add a function there that does the job (rules: tests/cli/layering.sh)" >&2
	exit 1
fi
echo "layering.sh: cli/ calls only the middle floor"
