#!/bin/bash
# mmdebstrap customize hook: turn the root tree $1 into the raw disk image $2
# (already created at its full size) and write the kernel version to $3.
# Layout: MBR with one bootable Linux partition from 1 MiB to the end, ext4
# written by mkfs.ext4 -d at that offset; GRUB's boot.img in the MBR and its
# core.img in the gap before the partition (the layout grub-install makes on a
# BIOS disk), its config in /boot/grub/grub.cfg. No loop device, no mount.
# Environment: ROOT_UUID, GRUB_DIR, GRUB_MODULES (from build.sh).
set -eu
set -o pipefail
R=$1 DISK=$2 KVER_OUT=$3
: "${ROOT_UUID:?}" "${GRUB_DIR:?}" "${GRUB_MODULES:?}"
die() { echo "mkdisk.sh: $*" >&2; exit 1; }
export PATH=$PATH:/usr/sbin:/sbin

KERNEL=$(cd "$R/boot" && ls vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
[ -n "$KERNEL" ] || die "no kernel in $R/boot"
KVER=${KERNEL#vmlinuz-}
[ -f "$R/boot/initrd.img-$KVER" ] || die "no initrd for $KVER in $R/boot"
echo "$KVER" >"$KVER_OUT"

mkdir -p "$R/boot/grub/i386-pc"
cp "$GRUB_DIR"/*.mod "$GRUB_DIR"/*.lst "$R/boot/grub/i386-pc/"
cat >"$R/boot/grub/grub.cfg" <<CFG
# Written by classlab's debian-ds recipe (templates/images/debian-ds/mkdisk.sh).
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
set default=0
menuentry "Debian GNU/Linux 12 (classlab debian-ds)" {
	search --no-floppy --fs-uuid --set=root $ROOT_UUID
	linux /boot/vmlinuz-$KVER root=UUID=$ROOT_UUID ro console=tty0 console=ttyS0,115200n8
	initrd /boot/initrd.img-$KVER
}
CFG

SECTORS=$(($(stat -c %s "$DISK") / 512))
START=2048
echo "label: dos
label-id: 0xc1a55ed5
start=$START, type=83, bootable" | sfdisk -q "$DISK" >/dev/null
# ext4 for GRUB 2.06: no orphan_file / metadata_csum_seed (newer features it
# cannot read). Inode tables and journal zeroed now, so the guest never writes
# them later and a student's overlay stays small.
mkfs.ext4 -q -F -L classlab-root -U "$ROOT_UUID" -m 1 -O ^metadata_csum_seed,^orphan_file \
	-E offset=$((START * 512)),lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0 \
	-d "$R" "$DISK" "$(((SECTORS - START) / 2))k" || die "mkfs.ext4 failed"

# GRUB: core.img with the modules to read the partition and boot Linux; it
# finds grub.cfg on the first BIOS disk's first partition.
CORE=$(mktemp)
trap 'rm -f "$CORE"' EXIT
grub-mkimage -O i386-pc -d "$GRUB_DIR" -o "$CORE" -p '(hd0,msdos1)/boot/grub' $GRUB_MODULES ||
	die "grub-mkimage failed"
[ "$(stat -c %s "$CORE")" -lt $(((START - 1) * 512)) ] || die "core.img does not fit before the partition"
# boot.img's code (first 440 bytes; the partition table stays), which loads
# sector 1 (its default); core.img from sector 1, whose first sector lists the
# rest from sector 2 (grub-mkimage wrote its length).
dd if="$GRUB_DIR/boot.img" of="$DISK" bs=440 count=1 conv=notrunc status=none
dd if="$CORE" of="$DISK" bs=512 seek=1 conv=notrunc status=none
