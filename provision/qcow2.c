/*
 * An empty qcow2 (version 3, "compat 1.1") overlay on a backing image, written
 * in-process: what `qemu-img create -f qcow2 -b B -F FMT` makes, without
 * spawning a process per student. Layout, 64 KiB clusters: 0 header, backing
 * format extension and backing name; 1 refcount table; 2 refcount block;
 * 3.. L1 table (all zero: every read falls through to the backing image).
 * Format: docs/interop/qcow2.txt in QEMU's source.
 */
#include "provision_internal.h"
#include "classlab/banned.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLUSTER_BITS 16
#define CLUSTER ((uint64_t)1 << CLUSTER_BITS)
#define HEADER_LEN 104
#define EXT_BACKING_FORMAT 0xE2792ACAu

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

#define EXT_DATA_FILE 0x44415441u	  /* "DATA": external data file name */
#define INCOMPAT_DATA_FILE (1ull << 2)	  /* incompatible feature: external data file */
#define INCOMPAT_KNOWN 0x1full		  /* dirty, corrupt, data file, compression, extended L2 */

/*
 * A user's qcow2 must stand alone: QEMU (root) opens any file its header
 * names, as a backing file or an external data file, so either is refused.
 * hdr holds the file's first len bytes (at least the first cluster's header
 * and extensions, or the whole file when shorter).
 */
int cl_qcow2_check_header(const unsigned char *hdr, size_t len, const char *what)
{
	uint32_t version, cluster_bits, hlen;
	uint64_t incompat = 0, off;

	if (len < 72 || memcmp(hdr, "QFI\xfb", 4) != 0)
		return cl_error_set(CL_EINVAL, "%s: not a complete qcow2 header", what);
	version = get32(hdr + 4);
	if (version != 2 && version != 3)
		return cl_error_set(CL_EINVAL, "%s: qcow2 version %u is not supported (2 or 3)", what,
				    version);
	if (get64(hdr + 8) != 0 || get32(hdr + 16) != 0)
		return cl_error_set(CL_EINVAL,
				    "%s: the image names a backing file; classlab takes only "
				    "self-contained images (flatten it: qemu-img convert -O qcow2 "
				    "IMAGE NEW)",
				    what);
	cluster_bits = get32(hdr + 20);
	if (cluster_bits < 9 || cluster_bits > 21)
		return cl_error_set(CL_EINVAL, "%s: bad qcow2 cluster size", what);
	hlen = 72;
	if (version == 3) {
		if (len < 104)
			return cl_error_set(CL_EINVAL, "%s: not a complete qcow2 header", what);
		incompat = get64(hdr + 72);
		hlen = get32(hdr + 100);
		if (hlen < 104 || hlen % 8 != 0)
			return cl_error_set(CL_EINVAL, "%s: bad qcow2 header length %u", what, hlen);
	}
	if (incompat & INCOMPAT_DATA_FILE)
		return cl_error_set(CL_EINVAL,
				    "%s: the image keeps its data in an external data file; classlab "
				    "takes only self-contained images (qemu-img convert -O qcow2 "
				    "IMAGE NEW)",
				    what);
	if (incompat & ~INCOMPAT_KNOWN)
		return cl_error_set(CL_EINVAL, "%s: unknown qcow2 incompatible features 0x%llx",
				    what, (unsigned long long)(incompat & ~INCOMPAT_KNOWN));
	/* Header extensions, up to the end marker, all within the first cluster. */
	for (off = hlen;;) {
		uint32_t type, elen;
		if (off + 8 > len || off + 8 > ((uint64_t)1 << cluster_bits))
			return cl_error_set(CL_EINVAL, "%s: qcow2 header extensions run past the "
						       "header cluster",
					    what);
		type = get32(hdr + off);
		elen = get32(hdr + off + 4);
		if (type == 0)
			break;
		if (type == EXT_DATA_FILE)
			return cl_error_set(CL_EINVAL,
					    "%s: the image names an external data file; classlab "
					    "takes only self-contained images",
					    what);
		off += 8 + (((uint64_t)elen + 7) & ~(uint64_t)7);
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int cl_qcow2_write_overlay(const char *path, uint64_t size, const char *backing,
			   const char *backing_fmt)
{
	size_t blen = strlen(backing), flen = strlen(backing_fmt);
	size_t ext_len = 8 + ((flen + 7) & ~(size_t)7) + 8; /* format extension + end marker */
	uint64_t l2_covers = CLUSTER * (CLUSTER / 8);	     /* one L2 table maps 512 MiB */
	uint64_t l1_size = (size + l2_covers - 1) / l2_covers;
	uint64_t l1_clusters = (l1_size * 8 + CLUSTER - 1) / CLUSTER;
	uint64_t clusters = 3 + (l1_clusters ? l1_clusters : 1);
	unsigned char *c0 = NULL, *table = NULL, *block = NULL;
	int fd = -1, rc = 0;

	if (HEADER_LEN + ext_len + blen > CLUSTER || blen == 0 || flen == 0)
		return cl_error_set(CL_EINVAL, "backing name too long for a qcow2 header: '%s'",
				    backing);
	if (size == 0 || size % 512 != 0 || l1_size > 0x2000000)
		return cl_error_set(CL_EINVAL, "bad qcow2 size %llu", (unsigned long long)size);
	c0 = cl_calloc(1, CLUSTER);
	table = cl_calloc(1, CLUSTER);
	block = cl_calloc(1, CLUSTER);

	memcpy(c0, "QFI\xfb", 4);
	put32(c0 + 4, 3);				  /* version */
	put64(c0 + 8, HEADER_LEN + ext_len);		  /* backing_file_offset */
	put32(c0 + 16, (uint32_t)blen);			  /* backing_file_size */
	put32(c0 + 20, CLUSTER_BITS);			  /* cluster_bits */
	put64(c0 + 24, size);				  /* size */
	put32(c0 + 32, 0);				  /* crypt_method */
	put32(c0 + 36, (uint32_t)l1_size);		  /* l1_size */
	put64(c0 + 40, 3 * CLUSTER);			  /* l1_table_offset */
	put64(c0 + 48, 1 * CLUSTER);			  /* refcount_table_offset */
	put32(c0 + 56, 1);				  /* refcount_table_clusters */
	put32(c0 + 60, 0);				  /* nb_snapshots */
	put64(c0 + 64, 0);				  /* snapshots_offset */
	put64(c0 + 72, 0);				  /* incompatible_features */
	put64(c0 + 80, 0);				  /* compatible_features */
	put64(c0 + 88, 0);				  /* autoclear_features */
	put32(c0 + 96, 4);				  /* refcount_order: 16-bit */
	put32(c0 + 100, HEADER_LEN);			  /* header_length */
	put32(c0 + HEADER_LEN, EXT_BACKING_FORMAT);	  /* extension: backing format */
	put32(c0 + HEADER_LEN + 4, (uint32_t)flen);
	memcpy(c0 + HEADER_LEN + 8, backing_fmt, flen);	  /* end marker: 8 zero bytes */
	memcpy(c0 + HEADER_LEN + ext_len, backing, blen); /* not NUL-terminated */

	put64(table, 2 * CLUSTER); /* refcount table[0] -> the refcount block */
	for (uint64_t i = 0; i < clusters; i++) /* every metadata cluster is used once */
		block[2 * i + 1] = 1;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = cl_error_set(CL_EFAIL, "cannot create '%s': %s", path, strerror(errno));
		goto out;
	}
	if (write_all(fd, c0, HEADER_LEN + ext_len + blen, 0) ||
	    write_all(fd, table, 8, (off_t)CLUSTER) || write_all(fd, block, 2 * clusters, (off_t)(2 * CLUSTER)) ||
	    ftruncate(fd, (off_t)(clusters * CLUSTER)) != 0) {
		rc = cl_error_set(CL_EFAIL, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	/* Whole on disk before the caller renames it into place (a batch's syncfs comes later). */
	rc = cl_file_durable_fd(fd, path);
out:
	if (fd >= 0 && close(fd) != 0 && rc == 0)
		rc = cl_error_set(CL_EFAIL, "cannot write '%s': %s", path, strerror(errno));
	if (rc && fd >= 0)
		unlink(path);
	free(c0);
	free(table);
	free(block);
	return rc;
}
