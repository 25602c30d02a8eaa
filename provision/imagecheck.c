/* Checks a user's disk image before anything uses it: no header may name another host file. */
#include "provision_internal.h"
#include "classlab/banned.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Image formats QEMU probes that can name other files or need their own driver. */
static const struct other_format {
	size_t off;
	const char *magic;
	size_t len;
	const char *name;
} other_formats[] = {
	{0, "KDMV", 4, "VMDK"},
	{0, "COWD", 4, "VMDK"},
	{0, "# Disk DescriptorFile", 21, "VMDK descriptor"},
	{64, "\x7f\x10\xda\xbe", 4, "VDI"},
	{0, "QED\0", 4, "QED"},
	{0, "vhdxfile", 8, "VHDX"},
	{0, "conectix", 8, "VHD"},
	{0, "LUKS\xba\xbe", 6, "LUKS"},
	{0, "WithoutFreeSpace", 16, "Parallels"},
	{0, "WithouFreSpacExt", 16, "Parallels"},
	{0, "Bochs Virtual HD Image", 22, "Bochs"},
	{0, "#!/bin/sh\n#V2.0 Format", 22, "cloop"},
	{0, "OOOM", 4, "QCOW (version 1)"},
};

#define PROBE_MAX (2u << 20) /* qcow2's header and extensions fit in its first cluster */

int cl_image_check(const char *path, const char **format)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd = -1, rc = 0;

	*format = NULL;
	/* O_NONBLOCK: a FIFO with no writer must be refused, not waited on. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = cl_error_set(errno == ENOENT ? CL_ENOTFOUND : CL_EINVAL,
				  "cannot use image '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = cl_error_set(CL_EINVAL, "image '%s' is not a regular file", path);
		goto out;
	}
	buf = cl_calloc(1, PROBE_MAX);
	while (len < PROBE_MAX) {
		ssize_t n = pread(fd, buf + len, PROBE_MAX - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cl_error_set(CL_EINVAL, "cannot read image '%s': %s", path,
					  strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len >= 4 && memcmp(buf, "QFI\xfb", 4) == 0) {
		char *what = cl_aprintf("image '%s'", path);
		rc = cl_qcow2_check_header(buf, len, what);
		free(what);
		if (rc == 0)
			*format = "qcow2";
		goto out;
	}
	for (size_t i = 0; i < sizeof(other_formats) / sizeof(other_formats[0]); i++) {
		const struct other_format *f = &other_formats[i];
		if (len >= f->off + f->len && memcmp(buf + f->off, f->magic, f->len) == 0) {
			rc = cl_error_set(CL_EINVAL,
					  "image '%s' is a %s image; classlab takes qcow2 or raw "
					  "(convert it: qemu-img convert -O qcow2 IMAGE NEW)",
					  path, f->name);
			goto out;
		}
	}
	/* DMG keeps its "koly" trailer in the last 512 bytes. */
	if (st.st_size >= 512) {
		char tail[4];
		if (pread(fd, tail, 4, st.st_size - 512) == 4 && memcmp(tail, "koly", 4) == 0) {
			rc = cl_error_set(CL_EINVAL,
					  "image '%s' is a DMG image; classlab takes qcow2 or raw",
					  path);
			goto out;
		}
	}
	*format = "raw";
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* The built-in images (their recipes are image.c's table; the names must match). */
static const char *const builtin_names[] = {"tiny", "debian-ds"};

bool cl_image_is_builtin(const char *name)
{
	for (size_t i = 0; name && i < sizeof(builtin_names) / sizeof(builtin_names[0]); i++)
		if (strcmp(builtin_names[i], name) == 0)
			return true;
	return false;
}

const char *cl_image_builtin_names(void)
{
	return "\"tiny\", \"debian-ds\"";
}
