#!/bin/sh
# mmdebstrap customize hook: first-boot state of the debian-ds image.
# $1: the root tree (run as root, or as root of mmdebstrap's user namespace).
set -eu
R=$1
# Services: Jupyter for the image's users (classlab-jupyter-users.service
# starts classlab-jupyter@USER for each), the guest agent, sshd.
chroot "$R" systemctl enable classlab-jupyter-users.service >/dev/null
chroot "$R" systemctl enable ssh.service qemu-guest-agent.service >/dev/null 2>&1 || true
# No identity baked in: machine-id empty (systemd makes one at first boot),
# no SSH host keys (cloud-init installs classlab's), no random seed.
: >"$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id" "$R"/etc/ssh/ssh_host_* "$R/var/lib/systemd/random-seed"
echo localhost >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
# fstab and the ifupdown base file.
printf 'UUID=%s\t/\text4\terrors=remount-ro\t0\t1\n' "${ROOT_UUID:-6c1a55ed-d5d5-4c1a-b0a7-c1a55e1ab001}" >"$R/etc/fstab"
mkdir -p "$R/etc/network/interfaces.d"
printf 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n' >"$R/etc/network/interfaces"
# The locale cloud-init sets (en_US.UTF-8, its Debian default), generated now: at
# first boot it then finds it in place instead of generating it under emulation.
echo 'en_US.UTF-8 UTF-8' >"$R/etc/locale.gen"
chroot "$R" locale-gen >/dev/null
echo 'LANG=en_US.UTF-8' >"$R/etc/default/locale"
# The initramfs again, now that fstab names the root filesystem (its fsck goes in).
chroot "$R" update-initramfs -u -k all >/dev/null 2>&1
# Caches and logs of the build.
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb \
	"$R"/var/log/*.log "$R"/var/log/apt/* "$R"/var/cache/debconf/*-old "$R"/root/.bash_history
# (Python's byte code stays: under emulation, compiling numpy/pandas at each import
# would cost the student seconds, and they cannot write it to /usr.)
