#!/bin/bash
# Build the classlab "tiny" guest from the host's Debian packages:
#   OUTDIR/vmlinuz        the cloud kernel (copy)
#   OUTDIR/initrd.img     gzip'd newc cpio: busybox-static + the modules needed
#                         to reach virtio disks/net, the seed and the power button
#   OUTDIR/root.qcow2     ext4 root: busybox, dropbear, the NoCloud-reading init
#   OUTDIR/recipe.sha256  hash of everything that went into the three files
#   OUTDIR/build-info     key=value facts about the build (kernel, sizes)
# Boot: kernel + initrd, cmdline "console=ttyS0 root=/dev/vda rw", root.qcow2
# (or an overlay of it) as the first virtio disk, the cidata seed as the second.
#
# Usage: build.sh [--force] OUTDIR     build (no-op when OUTDIR is up to date)
#        build.sh --recipe-hash        print the recipe hash, build nothing
# Environment: CLASSLAB_TINY_KERNEL=/path/to/vmlinuz (default: the newest
# /boot/vmlinuz-*-cloud-amd64), CLASSLAB_TINY_MODULES=/lib/modules/VERSION
# (default: from the kernel's version), CLASSLAB_TINY_BUSYBOX (/bin/busybox).
#
# Needs only: bash, coreutils, busybox-static, dropbear-bin, the kernel and its
# modules, e2fsprogs (mkfs.ext4 -d, debugfs), qemu-img, gzip, find, awk, sed
# and ldd. No root, no loop mounts, no cpio/kmod (busybox writes the cpio,
# modules.dep is read directly). Exit: 0 ok, 1 failed, 2 usage.
set -eu
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_SIZE=64M

# Modules, in the order they must be loaded (dependencies are added before
# each from modules.dep; built-in ones are skipped). isofs reads the seed;
# crc32c_generic is ext4's soft dependency when ext4 is a module; button +
# evdev give acpid the ACPI power button.
CORE_MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
virtio_blk failover net_failover virtio_net isofs crc32c_generic ext4 button evdev"
# Only loaded when no cidata filesystem is found on a virtio disk (IDE cdrom).
CDROM_MODULES="ata_piix sr_mod"
# A missing one of these is an error; any other missing module is a warning.
REQUIRED_MODULES="virtio_pci virtio_blk virtio_net isofs ext4"

die() { echo "build.sh: $*" >&2; exit 1; }
note() { echo "build.sh: $*" >&2; }

usage() {
	sed -n '/^# Usage:/,/^# Environment/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

FORCE=0 HASH_ONLY=0 OUTDIR=
while [ $# -gt 0 ]; do
	case $1 in
	--recipe-hash) HASH_ONLY=1 ;;
	--force) FORCE=1 ;;
	-h | --help) usage ;;
	-*) echo "build.sh: unknown option $1" >&2; usage ;;
	*) [ -z "$OUTDIR" ] || usage; OUTDIR=$1 ;;
	esac
	shift
done
[ $HASH_ONLY = 1 ] || [ -n "$OUTDIR" ] || usage

# --- inputs ----------------------------------------------------------------------
if [ -n "${CLASSLAB_TINY_KERNEL:-}" ]; then
	KERNEL=$CLASSLAB_TINY_KERNEL
else
	KERNEL=$(find /boot -maxdepth 1 -name 'vmlinuz-*-cloud-amd64' 2>/dev/null | sort -V | tail -n 1)
	[ -n "$KERNEL" ] || die "no /boot/vmlinuz-*-cloud-amd64 (install linux-image-cloud-amd64 or set CLASSLAB_TINY_KERNEL)"
fi
[ -f "$KERNEL" ] || die "kernel $KERNEL not found"
[ -r "$KERNEL" ] || die "kernel $KERNEL is not readable"

# Kernel version: from the file name, else from the bzImage header (the
# version string's offset is at 0x20e, relative to 0x200).
KVER=
case ${KERNEL##*/} in vmlinuz-?*) KVER=${KERNEL##*/vmlinuz-} ;; esac
if [ -z "$KVER" ] || [ ! -d "/lib/modules/$KVER" ]; then
	off=$(od -An -tu2 -j 526 -N 2 "$KERNEL" | tr -d ' ')
	[ -n "$off" ] && KVER=$(dd if="$KERNEL" bs=1 skip=$((off + 512)) count=200 2>/dev/null | tr '\0' '\n' | head -n 1 | cut -d' ' -f1)
fi
MODDIR=${CLASSLAB_TINY_MODULES:-/lib/modules/$KVER}
if [ -z "$KVER" ] || [ ! -f "$MODDIR/modules.dep" ]; then
	die "no modules for kernel '$KVER' ($MODDIR/modules.dep missing; set CLASSLAB_TINY_MODULES)"
fi

BUSYBOX=${CLASSLAB_TINY_BUSYBOX:-}
if [ -z "$BUSYBOX" ]; then
	for b in /bin/busybox /usr/bin/busybox; do [ -x "$b" ] && { BUSYBOX=$b; break; }; done
fi
if [ -z "$BUSYBOX" ] || [ ! -x "$BUSYBOX" ]; then
	die "busybox not found (install busybox-static)"
fi
if ldd "$BUSYBOX" 2>/dev/null | grep -q '=>'; then
	die "$BUSYBOX is dynamically linked; the initramfs needs busybox-static"
fi

DROPBEAR=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH command -v dropbear) || die "dropbear not found (install dropbear-bin)"
DBCONVERT=$(PATH=/usr/bin:/bin:$PATH command -v dropbearconvert) || die "dropbearconvert not found (install dropbear-bin)"
DBKEY=$(PATH=/usr/bin:/bin:$PATH command -v dropbearkey) || die "dropbearkey not found (install dropbear-bin)"

# Shared libraries of the dropbear tools: "SONAME PATH" lines (the dynamic
# loader as "INTERP PATH").
shared_libs() {
	local f
	for f in "$DROPBEAR" "$DBCONVERT" "$DBKEY"; do
		ldd "$f" || die "ldd $f failed"
	done | awk '
		$2 == "=>" && $3 ~ /^\// { print $1, $3; next }
		$1 ~ /^\// && $1 ~ /ld-linux/ { print "INTERP", $1 }
		$2 == "=>" && $3 == "not" { print "MISSING", $1 }' | sort -u
}
LIBS=$(shared_libs)
if grep -q '^MISSING' <<<"$LIBS"; then
	die "dropbear needs libraries that are not installed: $(awk '$1 == "MISSING" { printf " %s", $2 }' <<<"$LIBS")"
fi
grep -q '^INTERP' <<<"$LIBS" || die "cannot find dropbear's dynamic loader with ldd"

# resolve_modules LIST: module files (relative to $MODDIR) in load order,
# dependencies first. Missing modules are reported on stderr as "missing NAME".
resolve_modules() {
	awk -v want="$1" '
		function norm(s) { sub(/.*\//, "", s); sub(/\.ko(\.[a-z0-9]+)?:?$/, "", s); gsub(/-/, "_", s); return s }
		FILENAME ~ /modules\.builtin$/ { builtin[norm($1)] = 1; next }
		{ k = $1; sub(/:$/, "", k); n = norm(k); path[n] = k; deps[n] = ""
		  for (i = 2; i <= NF; i++) deps[n] = deps[n] " " $i }
		function load(n,    d, c, i) {
			if (n in done) return
			done[n] = 1
			if (n in builtin) return
			if (!(n in path)) { print "missing " n > "/dev/stderr"; return }
			c = split(deps[n], d, " ")
			for (i = c; i >= 1; i--) load(norm(d[i]))
			print path[n]
		}
		END { c = split(want, w, /[ \n]+/); for (i = 1; i <= c; i++) if (w[i] != "") load(w[i]) }
	' "$MODDIR/modules.builtin" "$MODDIR/modules.dep"
}

# --- recipe hash -------------------------------------------------------------------
recipe_hash() {
	{
		echo "classlab-tiny recipe 1"
		echo "kernel-version $KVER"
		echo "root-size $ROOT_SIZE"
		echo "modules $CORE_MODULES | $CDROM_MODULES"
		if command -v dpkg-query >/dev/null 2>&1; then
			dpkg-query -W -f '${Package} ${Version}\n' busybox-static dropbear-bin \
				"linux-image-$KVER" 2>/dev/null || true
		fi
		# Inputs by content; names without their directories, so that the same
		# files found elsewhere give the same hash.
		echo "kernel $(sha256sum <"$KERNEL" | cut -d' ' -f1)"
		{
			printf '%s\n' "$BUSYBOX" "$DROPBEAR" "$DBCONVERT" "$DBKEY"
			awk '{ print $2 }' <<<"$LIBS"
			resolve_modules "$CORE_MODULES $CDROM_MODULES" 2>/dev/null | sed "s|^|$MODDIR/|"
		} | tr '\n' '\0' | xargs -0 sha256sum | awk '{ n = $2; sub(/.*\//, "", n); print "input", n, $1 }'
		(cd "$HERE" && find . -type f ! -name README.md ! -name '*~' -print0 | LC_ALL=C sort -z |
			xargs -0 sha256sum | awk '{ print "recipe", $2, $1 }')
	} | sha256sum | cut -d' ' -f1
}

HASH=$(recipe_hash)
if [ $HASH_ONLY = 1 ]; then
	echo "$HASH"
	exit 0
fi

# --- build ---------------------------------------------------------------------------
for t in mkfs.ext4 debugfs qemu-img gzip; do
	PATH=$PATH:/usr/sbin:/sbin command -v "$t" >/dev/null 2>&1 ||
		die "$t not found (needs e2fsprogs, qemu-utils, gzip)"
done
export PATH=$PATH:/usr/sbin:/sbin

OUTDIR=${OUTDIR%/}
[ -n "$OUTDIR" ] || die "OUTDIR must not be /"
mkdir -p "$(dirname "$OUTDIR")"

up_to_date() {
	[ -f "$OUTDIR/vmlinuz" ] && [ -f "$OUTDIR/initrd.img" ] && [ -f "$OUTDIR/root.qcow2" ] &&
		[ "$(cat "$OUTDIR/recipe.sha256" 2>/dev/null)" = "$HASH" ]
}

# Serialise concurrent builds of the same OUTDIR (flock is in util-linux);
# holding the lock, remove what a killed build left behind.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$OUTDIR.lock"
	flock 9
	rm -rf "$OUTDIR".tmp.* "$OUTDIR".old.*
fi
if [ $FORCE = 0 ] && up_to_date; then
	note "$OUTDIR is up to date (recipe $HASH)"
	exit 0
fi

START=$(date +%s.%N)
TMP=$OUTDIR.tmp.$$
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
rm -rf "$TMP"
mkdir -p "$TMP/initramfs" "$TMP/root"
umask 022

modules_core=$(resolve_modules "$CORE_MODULES" 2>"$TMP/missing")
modules_cdrom=$(resolve_modules "$CORE_MODULES $CDROM_MODULES" 2>/dev/null | grep -vxF -f <(printf '%s\n' "$modules_core") || true)
while read -r _ m; do
	[ -n "$m" ] || continue
	case " $REQUIRED_MODULES " in
	*" $m "*) die "kernel $KVER has no module or built-in driver '$m'" ;;
	esac
	case $m in
	crc16 | mbcache | jbd2 | crc32c_generic | libcrc32c) ;; # only needed when ext4 is a module
	*) note "warning: kernel $KVER has no '$m' module" ;;
	esac
done <"$TMP/missing"

# --- initramfs -----------------------------------------------------------------------
# /init makes the applet links itself (busybox --install -s /bin): a few
# hundred ln processes would be most of the build time.
I=$TMP/initramfs
mkdir -p "$I/bin" "$I/dev" "$I/proc" "$I/sys" "$I/newroot" "$I/lib/modules"
install -m 0755 "$BUSYBOX" "$I/bin/busybox"
ln -s busybox "$I/bin/sh"
install -m 0755 "$HERE/initramfs/init" "$I/init"
# copy_modules LIST FILE: copy (decompressing .ko.xz/.ko.gz) into lib/modules,
# and write their file names, in load order, to FILE.
copy_modules() {
	local m base
	: >"$2"
	for m in $1; do
		base=${m##*/}
		case $base in
		*.ko) cp "$MODDIR/$m" "$I/lib/modules/$base" ;;
		*.ko.xz) base=${base%.xz}; "$BUSYBOX" xz -dc "$MODDIR/$m" >"$I/lib/modules/$base" ;;
		*.ko.gz) base=${base%.gz}; gzip -dc "$MODDIR/$m" >"$I/lib/modules/$base" ;;
		*) die "cannot unpack module $m (only .ko, .ko.xz, .ko.gz)" ;;
		esac
		echo "$base" >>"$2"
	done
}
copy_modules "$modules_core" "$I/lib/modules/core.list"
[ -n "$modules_cdrom" ] && copy_modules "$modules_cdrom" "$I/lib/modules/cdrom.list"
find "$I" -type f -exec chmod go-w {} +
(cd "$I" && find . | LC_ALL=C sort |
	"$BUSYBOX" cpio -o -H newc -R 0:0 --renumber-inodes --ignore-devno 2>/dev/null) |
	gzip -n >"$TMP/initrd.img"

# --- root filesystem -----------------------------------------------------------------
R=$TMP/root
mkdir -p "$R/usr/bin" "$R/usr/sbin"
install -m 0755 "$BUSYBOX" "$R/usr/bin/busybox"
ln -s usr/bin "$R/bin"
ln -s usr/sbin "$R/sbin"
ln -s usr/lib "$R/lib"
ln -s usr/lib64 "$R/lib64"
install -m 0755 "$DROPBEAR" "$R/usr/sbin/dropbear"
install -m 0755 "$DBCONVERT" "$R/usr/bin/dropbearconvert"
install -m 0755 "$DBKEY" "$R/usr/bin/dropbearkey"
while read -r soname path; do
	# /lib/x86_64-linux-gnu/libc.so.6 -> usr/lib/x86_64-linux-gnu/libc.so.6
	case $soname in INTERP) dest=$path ;; *) dest=$(dirname "$path")/$soname ;; esac
	dest=${dest#/}
	case $dest in usr/*) ;; *) dest=usr/$dest ;; esac
	mkdir -p "$R/$(dirname "$dest")"
	cp -L "$path" "$R/$dest"
	chmod 0755 "$R/$dest"
done <<<"$LIBS"
# The recipe's own files: scripts (#!) executable, everything else 0644.
cp -R "$HERE/rootfs/." "$R/"
(cd "$HERE/rootfs" && find . -type f) | sed "s|^\.|$R|" >"$TMP/recipe-files"
tr '\n' '\0' <"$TMP/recipe-files" | xargs -0 chmod 0644
tr '\n' '\0' <"$TMP/recipe-files" | xargs -0 awk 'FNR == 1 && /^#!/ { print FILENAME }' |
	tr '\n' '\0' | xargs -0 -r chmod 0755
for c in reboot halt shutdown; do ln -sf poweroff "$R/usr/local/bin/$c"; done
mkdir -p "$R/dev" "$R/proc" "$R/sys" "$R/run" "$R/tmp" "$R/root" "$R/home" \
	"$R/srv/www" "$R/var/lib/classlab" "$R/var/log" "$R/etc/dropbear" "$R/mnt"
ln -s /run "$R/var/run"
ln -s /run/resolv.conf "$R/etc/resolv.conf"
ln -s /proc/self/mounts "$R/etc/mtab"
echo "classlab tiny" >"$R/srv/www/index.html"
echo "$HASH" >"$R/etc/classlab-tiny-recipe"
find "$R" -type d -exec chmod 0755 {} +
chmod 0700 "$R/root"
chmod 1777 "$R/tmp"
chmod 0600 "$R/etc/shadow"

truncate -s "$ROOT_SIZE" "$TMP/root.img"
# Inode tables and journal are zeroed now (lazy_*_init=0) so that the guest's
# kernel never writes them later: a student's overlay stays small.
mkfs.ext4 -q -F -L classlab-root -m 1 -E lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0 \
	-d "$R" "$TMP/root.img" >"$TMP/mkfs.log" 2>&1 || { cat "$TMP/mkfs.log" >&2; die "mkfs.ext4 failed"; }
# debugfs then edits the image in place (one process, milliseconds):
# - mkfs -d copied owners from the staging tree, which are the builder's when
#   not building as root: make every file root's;
# - add the busybox applet links (relative; /usr/sbin ones point to ../bin),
#   skipping names the recipe already installed.
{
	(cd "$R" && find . -mindepth 1 \( ! -uid 0 -o ! -gid 0 \) -print) | sed 's|^\.||' |
		awk '{ printf "sif \"%s\" uid 0\nsif \"%s\" gid 0\n", $0, $0 }'
	"$BUSYBOX" --list-full | awk -v have="$(cd "$R" && find usr/bin usr/sbin -mindepth 1 -maxdepth 1)" '
		BEGIN { c = split(have, h, "\n"); for (i = 1; i <= c; i++) seen["/" h[i]] = 1 }
		{ n = $0; sub(/.*\//, "", n) }
		n == "busybox" || n !~ /^[][A-Za-z0-9_.-]+$/ { next }
		$0 ~ /^(usr\/)?bin\// { d = "/usr/bin"; t = "busybox" }
		$0 ~ /^(usr\/)?sbin\// { d = "/usr/sbin"; t = "../bin/busybox" }
		$0 !~ /^(usr\/)?s?bin\// || ((d "/" n) in seen) { next }
		{ seen[d "/" n] = 1; print "symlink " d "/" n " " t }'
} >"$TMP/fixup.debugfs"
debugfs -w -f "$TMP/fixup.debugfs" "$TMP/root.img" >"$TMP/debugfs.log" 2>&1 ||
	{ cat "$TMP/debugfs.log" >&2; die "debugfs failed"; }
if grep -vE '^debugfs( [0-9]|: )' "$TMP/debugfs.log" | grep -q .; then
	cat "$TMP/debugfs.log" >&2
	die "debugfs could not fix owners / add the busybox links"
fi
qemu-img convert -q -f raw -O qcow2 -o compat=1.1 "$TMP/root.img" "$TMP/root.qcow2"
rm -f "$TMP/root.img"

cp "$KERNEL" "$TMP/vmlinuz"
chmod 0644 "$TMP/vmlinuz" "$TMP/initrd.img" "$TMP/root.qcow2"
echo "$HASH" >"$TMP/recipe.sha256"
{
	echo "kernel_version=$KVER"
	echo "cmdline=console=ttyS0 root=/dev/vda rw"
	echo "root_virtual_size=$ROOT_SIZE"
	echo "initrd_bytes=$(stat -c %s "$TMP/initrd.img")"
	echo "root_qcow2_bytes=$(stat -c %s "$TMP/root.qcow2")"
	echo "modules=$(tr '\n' ' ' <"$I/lib/modules/core.list" | sed 's/\.ko//g; s/ $//')"
	echo "recipe=$HASH"
} >"$TMP/build-info"
rm -rf "$TMP/initramfs" "$TMP/root" "$TMP/mkfs.log" "$TMP/debugfs.log" "$TMP/fixup.debugfs" "$TMP/missing" "$TMP/recipe-files"

# --- publish: rename the finished directory into place --------------------------------
if [ -e "$OUTDIR" ]; then
	mv "$OUTDIR" "$OUTDIR.old.$$"
	mv "$TMP" "$OUTDIR"
	rm -rf "$OUTDIR.old.$$"
else
	mv "$TMP" "$OUTDIR"
fi
trap - EXIT
END=$(date +%s.%N)
note "built $OUTDIR in $(awk -v a="$START" -v b="$END" 'BEGIN { printf "%.1f", b - a }') s: kernel $KVER, initrd $(du -k "$OUTDIR/initrd.img" | cut -f1) KiB, root.qcow2 $(du -k "$OUTDIR/root.qcow2" | cut -f1) KiB"
