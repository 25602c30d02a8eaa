#!/bin/bash
# Build the classlab "debian-ds" guest: Debian 12 with cloud-init, OpenSSH,
# qemu-guest-agent, Jupyter Notebook and the Python data stack, all from Debian
# packages, booting from its own disk (GRUB in the MBR, like a cloud image).
#   OUTDIR/disk.qcow2      compressed qcow2 (compat 1.1): MBR, one ext4 partition
#   OUTDIR/packages.txt    "package version" of every installed package, sorted
#   OUTDIR/recipe.sha256   hash of the recipe (what --recipe-hash prints)
#   OUTDIR/build-info      key=value facts about the build (kernel, sizes, time)
#
# Usage: build.sh [--force] OUTDIR     build (no-op when OUTDIR is up to date)
#        build.sh --recipe-hash        print the recipe hash, build nothing
# Environment: CLASSLAB_DEBIAN_MIRROR: a mirror URL or a sources file (default:
# the host's /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list);
# CLASSLAB_DEBIAN_DISK_SIZE (default 6G), the disk's virtual size.
#
# Needs: root (mmdebstrap's root mode), mmdebstrap, e2fsprogs (mkfs.ext4 -d), fdisk
# (sfdisk), grub-pc-bin + grub-common (grub-mkimage, boot.img), qemu-utils.
# No loop devices and no mounts of the image: see README.md.
# Exit: 0 ok, 1 failed, 2 usage.
set -eu
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SUITE=bookworm
DISK_SIZE=${CLASSLAB_DEBIAN_DISK_SIZE:-6G}
# Fixed, so that two builds write the same fstab and grub.cfg.
ROOT_UUID=6c1a55ed-d5d5-4c1a-b0a7-c1a55e1ab001
GRUB_DIR=/usr/lib/grub/i386-pc
GRUB_MODULES="biosdisk part_msdos ext2 normal linux configfile echo test search search_fs_uuid serial terminal"

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

# The packages, one per line in packages.list (comments with #).
PACKAGES=$(sed 's/#.*//' "$HERE/packages.list" | tr -s ' \t\n' '\n' | sed '/^$/d' | LC_ALL=C sort -u | paste -sd, -)
[ -n "$PACKAGES" ] || die "$HERE/packages.list names no packages"

MIRROR=${CLASSLAB_DEBIAN_MIRROR:-}
if [ -z "$MIRROR" ]; then
	for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
		if [ -s "$f" ] && grep -q '^[^#]*deb' "$f"; then MIRROR=$f; break; fi
	done
	[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
fi
# What the mirror is, for the hash: a sources file by its active lines.
mirror_id() {
	if [ -f "$MIRROR" ]; then grep -v '^[[:space:]]*#' "$MIRROR" | sed '/^[[:space:]]*$/d'; else echo "$MIRROR"; fi
}

# --- recipe hash -------------------------------------------------------------------
recipe_hash() {
	{
		echo "classlab-debian-ds recipe 1"
		echo "suite $SUITE"
		echo "disk-size $DISK_SIZE"
		echo "grub-modules $GRUB_MODULES"
		mirror_id | sed 's/^/mirror /'
		(cd "$HERE" && find . -type f ! -name README.md ! -name '*~' -print0 | LC_ALL=C sort -z |
			xargs -0 sha256sum | awk '{ print "recipe", $2, $1 }')
		if command -v dpkg-query >/dev/null 2>&1; then
			dpkg-query -W -f '${Package} ${Version}\n' grub-pc-bin 2>/dev/null || true
		fi
	} | sha256sum | cut -d' ' -f1
}

HASH=$(recipe_hash)
if [ $HASH_ONLY = 1 ]; then
	echo "$HASH"
	exit 0
fi

export PATH=$PATH:/usr/sbin:/sbin
if [ "$(id -u)" != 0 ]; then
	die "the debian-ds image is built as root (mmdebstrap's root mode; the tree's files must be root's)"
fi
for t in mmdebstrap mkfs.ext4 sfdisk grub-mkimage qemu-img; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found (needs mmdebstrap, e2fsprogs, fdisk, grub-pc-bin, qemu-utils)"
done
[ -f "$GRUB_DIR/boot.img" ] || die "$GRUB_DIR/boot.img not found (install grub-pc-bin)"

# The host's apt may point at a snapshot mirror whose Release files are past their
# Valid-Until.
MMDEB_OPTS=(--variant=apt --include="$PACKAGES"
	--aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Check-Date "false"'
	--aptopt='APT::Install-Recommends "false"'
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias')

OUTDIR=${OUTDIR%/}
[ -n "$OUTDIR" ] || die "OUTDIR must not be /"
mkdir -p "$(dirname "$OUTDIR")"

up_to_date() {
	[ -f "$OUTDIR/disk.qcow2" ] && [ -f "$OUTDIR/packages.txt" ] &&
		[ "$(cat "$OUTDIR/recipe.sha256" 2>/dev/null)" = "$HASH" ]
}

# Serialise concurrent builds of the same OUTDIR; holding the lock, remove
# what a killed build left behind.
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
mkdir -p "$TMP"
umask 022

# --- the root tree and the disk -------------------------------------------------------
# mmdebstrap installs into $TMP/root (root mode: chroot, /proc etc. mounted only
# while it runs); mkdisk.sh then turns the finished tree into the raw disk image.
# Downloaded .debs are kept in $OUTDIR.debs (mmdebstrap's documented package
# cache: sync-in before, sync-out after), so a rebuild downloads only what changed.
DEBS=$OUTDIR.debs
mkdir -p "$DEBS"
mmdebstrap "${MMDEB_OPTS[@]}" --skip=download/empty --skip=essential/unlink \
	--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
	--setup-hook="sync-in '$DEBS' /var/cache/apt/archives/" \
	--customize-hook="sync-out /var/cache/apt/archives '$DEBS'" \
	--customize-hook="cp -R '$HERE/rootfs/.' \"\$1/\"" \
	--customize-hook="ROOT_UUID=$ROOT_UUID '$HERE/customize.sh' \"\$1\"" \
	"$SUITE" "$TMP/root" "$MIRROR" >"$TMP/mmdebstrap.log" 2>&1 ||
	{ tail -n 30 "$TMP/mmdebstrap.log" >&2; die "mmdebstrap failed (log above)"; }
find "$DEBS" -name '*.deb' -mtime +30 -delete 2>/dev/null || true
dpkg-query --admindir="$TMP/root/var/lib/dpkg" -W -f '${Package} ${Version}\n' | LC_ALL=C sort >"$TMP/packages.txt"
[ -s "$TMP/packages.txt" ] || die "the build wrote no package list"
truncate -s "$DISK_SIZE" "$TMP/disk.img"
ROOT_UUID=$ROOT_UUID GRUB_DIR=$GRUB_DIR GRUB_MODULES=$GRUB_MODULES \
	"$HERE/mkdisk.sh" "$TMP/root" "$TMP/disk.img" "$TMP/kernel-version" >>"$TMP/mmdebstrap.log" 2>&1 ||
	{ tail -n 30 "$TMP/mmdebstrap.log" >&2; die "making the disk failed (log above)"; }
rm -rf "$TMP/root"

qemu-img convert -q -c -f raw -O qcow2 -o compat=1.1 "$TMP/disk.img" "$TMP/disk.qcow2"
rm -f "$TMP/disk.img"
chmod 0644 "$TMP/disk.qcow2" "$TMP/packages.txt"
END=$(date +%s.%N)
echo "$HASH" >"$TMP/recipe.sha256"
{
	echo "suite=$SUITE"
	echo "kernel_version=$(cat "$TMP/kernel-version")"
	echo "boot=bios-grub"
	echo "disk_virtual_size=$DISK_SIZE"
	echo "disk_qcow2_bytes=$(stat -c %s "$TMP/disk.qcow2")"
	echo "packages=$(wc -l <"$TMP/packages.txt")"
	echo "build_seconds=$(awk -v a="$START" -v b="$END" 'BEGIN { printf "%.0f", b - a }')"
	echo "recipe=$HASH"
} >"$TMP/build-info"
rm -f "$TMP/kernel-version" "$TMP/mmdebstrap.log"

# --- publish: rename the finished directory into place --------------------------------
if [ -e "$OUTDIR" ]; then
	mv "$OUTDIR" "$OUTDIR.old.$$"
	mv "$TMP" "$OUTDIR"
	rm -rf "$OUTDIR.old.$$"
else
	mv "$TMP" "$OUTDIR"
fi
trap - EXIT
note "built $OUTDIR in $(awk -v a="$START" -v b="$END" 'BEGIN { printf "%.0f", b - a }') s: disk.qcow2 $(du -m "$OUTDIR/disk.qcow2" | cut -f1) MiB, $(wc -l <"$OUTDIR/packages.txt") packages"
