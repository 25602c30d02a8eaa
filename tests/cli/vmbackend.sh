#!/bin/bash
# The middle floor reaches the hypervisor only through the VM backend's table
# (cl_backend.h): no object of templates/, labs/, students/ or up/ needs a libvirt
# function or a provision/ function that touches the hypervisor. Allowed: provision's
# pure helpers, and the one table the connector opens (cl_vm_libvirt, in templates/).
# Checked on the build tree's objects, so a call through a macro or an inline counts.

set -u
B=${CL_BUILD_DIR:-}
FAILS=0

allowed() {
	case $1 in
	cl_uuid_new | cl_mac_from_seed | cl_hv_accel_parse | cl_image_check | cl_vm_libvirt) return 0 ;;
	# built-in images: their names, and building them into the cache (a recipe script)
	cl_image_is_builtin | cl_image_builtin_names | cl_image_build | cl_image_list) return 0 ;;
	cl_image_info_clear | cl_image_info_list_free) return 0 ;;
	esac
	return 1
}

prov=$(find "$B/CMakeFiles/clo_provision.dir" -name '*.o' 2>/dev/null)
if [ -z "$B" ] || [ -z "$prov" ] || ! command -v nm >/dev/null; then
	echo "vmbackend.sh: no build tree objects or nm here (CL_BUILD_DIR)" >&2
	exit 77
fi
# What reaches the hypervisor: everything provision/ defines, libvirt, and host GPU discovery.
hyper=$( (nm -g --defined-only $prov | awk 'NF == 3 && $2 ~ /[TDRB]/ {print $3}'
	echo cl_gpu_host_list) | sort -u)
if ! printf '%s\n' "$hyper" | grep -qx cl_hv_domain_start; then
	echo "FAIL: vmbackend.sh could not list provision/'s functions (looked for cl_hv_domain_start)" >&2
	exit 1
fi
checked=0
for m in templates labs students up; do
	for o in $(find "$B/CMakeFiles/clo_$m.dir" -name '*.o' 2>/dev/null); do
		checked=$((checked + 1))
		for name in $(nm -u "$o" | awk '{print $NF}' | sort -u); do
			case $name in
			vir*) ;;
			cl_*) printf '%s\n' "$hyper" | grep -qx -- "$name" || continue ;;
			*) continue ;;
			esac
			allowed "$name" && continue
			echo "FAIL: $m/${o##*/} needs $name: call the VM backend's table instead" \
				"(TP_VM(ctx)->..., cl_backend.h)" >&2
			FAILS=$((FAILS + 1))
		done
	done
done
if [ "$checked" -lt 10 ]; then
	echo "FAIL: vmbackend.sh found only $checked middle-floor objects under $B" >&2
	exit 1
fi
[ "$FAILS" -eq 0 ] || exit 1
echo "vmbackend.sh: $checked middle-floor objects reach the hypervisor only through the backend table"
