/*
 * Storage pool and volumes, as two backends chosen when the connection opens
 * (hv->storage, as libvirt's virStorageBackend): libvirt's storage driver
 * where the connection has one; qemu:///embed has none, so there a pool is a
 * directory classlab manages itself (files, in-process qcow2 overlays),
 * remembered as a symlink <root>/pools/<name>. The cl_hv_* entry points check
 * their arguments and call through the table.
 */
#include "provision_internal.h"
#include "classlab/banned.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/virterror.h>


static int check_vol_name(const char *name)
{
	if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strlen(name) > 200)
		return cl_error_set(CL_EINVAL, "invalid volume name '%s'", name ? name : "");
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ------------------------------------------------------------ local qcow2 header */

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Reads a file's qcow2 header: *is_qcow2, virtual size, backing file name
 * (caller frees, NULL if none). Non-qcow2 files report their byte size.
 */
static int probe_file(const char *path, bool *is_qcow2, uint64_t *capacity, char **backing)
{
	unsigned char hdr[104];
	struct stat st;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*is_qcow2 = false;
	if (backing)
		*backing = NULL;
	if (fd < 0)
		return cl_error_set(errno == ENOENT ? CL_ENOTFOUND : CL_EFAIL, "cannot open '%s': %s",
				    path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		close(fd);
		return cl_error_set(CL_EFAIL, "cannot stat '%s': %s", path, strerror(errno));
	}
	*capacity = (uint64_t)st.st_size;
	got = pread(fd, hdr, sizeof(hdr), 0);
	if (got >= 72 && memcmp(hdr, "QFI\xfb", 4) == 0) {
		uint64_t boff = be64(hdr + 8);
		uint32_t blen = be32(hdr + 16);
		*is_qcow2 = true;
		*capacity = be64(hdr + 24);
		if (backing && boff && blen && blen < 4096) {
			char *b = cl_calloc(1, blen + 1);
			if (pread(fd, b, blen, (off_t)boff) == (ssize_t)blen)
				*backing = b;
			else
				free(b);
		}
	}
	close(fd);
	return 0;
}

/* ------------------------------------------------------------ local pools */

static char *local_link(cl_hv *hv, const char *pool)
{
	char *dir = cl_path_join(hv->root, "pools");
	char *link = cl_path_join(dir, pool);
	free(dir);
	return link;
}

int cl_local_pool_dir(cl_hv *hv, const char *pool, char **dir)
{
	char *link = local_link(hv, pool);
	char target[PATH_MAX];
	ssize_t n = readlink(link, target, sizeof(target) - 1);

	free(link);
	if (n < 0)
		return cl_error_set(CL_ENOTFOUND, "storage pool '%s' not found", pool);
	target[n] = '\0';
	*dir = cl_strdup(target);
	return 0;
}

static int local_pool_ensure(cl_hv *hv, const char *pool, const char *dir)
{
	char *pools = cl_path_join(hv->root, "pools");
	char *link = cl_path_join(pools, pool);
	char *old = NULL;
	int rc = 0;

	if (cl_mkdir_p(dir, 0700) < 0 || cl_mkdir_p(pools, 0700) < 0) {
		rc = cl_error_wrap("cannot create storage pool '%s'", pool);
		goto out;
	}
	if (cl_local_pool_dir(hv, pool, &old) == 0) {
		if (strcmp(old, dir) == 0)
			goto out;
		unlink(link);
	}
	cl_error_clear();
	if (symlink(dir, link) < 0)
		rc = cl_error_set(CL_EFAIL, "cannot create storage pool '%s': symlink '%s': %s", pool,
				  link, strerror(errno));
out:
	free(old);
	free(link);
	free(pools);
	return rc;
}

static int local_vol_file(cl_hv *hv, const char *pool, const char *name, char **path)
{
	char *dir = NULL;
	int rc;

	*path = NULL;
	if ((rc = check_vol_name(name)) < 0 || (rc = cl_local_pool_dir(hv, pool, &dir)) < 0)
		return rc;
	*path = cl_path_join(dir, name);
	free(dir);
	return 0;
}

/* Copies src (a file or a buffer) to path atomically. */
static int local_write(const char *path, const char *src_file, const void *data, size_t len)
{
	cl_buf tmp = CL_BUF_INIT;
	char buf[1 << 16];
	int in = -1, outfd = -1, rc = 0;
	ssize_t n;

	if (!src_file)
		return cl_write_file(path, data, len, 0600);
	in = open(src_file, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		rc = cl_error_set(errno == ENOENT ? CL_ENOTFOUND : CL_EFAIL, "cannot open '%s': %s",
				  src_file, strerror(errno));
		goto out;
	}
	char *tmpname = NULL;
	outfd = cl_tmpfile_open(path, 0600, &tmpname); /* O_EXCL|O_NOFOLLOW, unpredictable name */
	if (outfd < 0) {
		rc = outfd;
		goto out;
	}
	cl_buf_puts(&tmp, tmpname);
	free(tmpname);
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(outfd, buf, (size_t)n) != n) {
			rc = cl_error_set(CL_EFAIL, "cannot write '%s': %s", tmp.data, strerror(errno));
			goto out;
		}
	}
	if (n < 0) {
		rc = cl_error_set(CL_EFAIL, "cannot read '%s': %s", src_file, strerror(errno));
		goto out;
	}
	if (fsync(outfd) < 0 || close(outfd) < 0) {
		outfd = -1;
		rc = cl_error_set(CL_EFAIL, "cannot write '%s': %s", tmp.data, strerror(errno));
		goto out;
	}
	outfd = -1;
	if (rename(tmp.data, path) < 0)
		rc = cl_error_set(CL_EFAIL, "cannot rename '%s': %s", tmp.data, strerror(errno));
out:
	if (outfd >= 0)
		close(outfd);
	if (in >= 0)
		close(in);
	if (rc < 0 && tmp.data)
		unlink(tmp.data);
	cl_buf_free(&tmp);
	return rc;
}

/* ------------------------------------------------------------ libvirt pools */

static int pool_lookup(cl_hv *hv, const char *pool, virStoragePoolPtr *out)
{
	*out = virStoragePoolLookupByName(hv->conn, pool);
	if (*out)
		return 0;
	if (cl_virt_last_code() == VIR_ERR_NO_STORAGE_POOL)
		return cl_error_set(CL_ENOTFOUND, "storage pool '%s' not found", pool);
	return cl_virt_error(CL_EFAIL, "cannot look up storage pool '%s'", pool);
}

/* *vol NULL and 0 when absent and absent_ok; else CL_ENOTFOUND. */
static int vol_lookup(cl_hv *hv, const char *pool, const char *name, bool absent_ok,
		      virStorageVolPtr *vol)
{
	virStoragePoolPtr p = NULL;
	int rc;

	*vol = NULL;
	if ((rc = check_vol_name(name)) < 0 || (rc = pool_lookup(hv, pool, &p)) < 0)
		return rc;
	*vol = virStorageVolLookupByName(p, name);
	if (!*vol) {
		if (cl_virt_last_code() == VIR_ERR_NO_STORAGE_VOL)
			rc = absent_ok ? 0 : cl_error_set(CL_ENOTFOUND, "volume '%s' not found in pool '%s'",
							  name, pool);
		else
			rc = cl_virt_error(CL_EFAIL, "cannot look up volume '%s'", name);
	}
	virStoragePoolFree(p);
	return rc;
}

static int virt_pool_ensure(cl_hv *hv, const char *pool_name, const char *dir)
{
	virStoragePoolPtr p = NULL;
	cl_buf xml = CL_BUF_INIT;
	char *desc = NULL, *have = NULL;
	cl_xw x;
	int rc = 0, active;

	p = virStoragePoolLookupByName(hv->conn, pool_name);
	if (!p && cl_virt_last_code() != VIR_ERR_NO_STORAGE_POOL) {
		rc = cl_virt_error(CL_EUNAVAIL, "cannot look up storage pool '%s'", pool_name);
		goto out;
	}
	if (!p) {
		if ((rc = cl_xw_begin(&x)) < 0)
			goto out;
		cl_xw_start(&x, "pool");
		cl_xw_attr(&x, "type", "dir");
		cl_xw_elem(&x, "name", pool_name);
		cl_xw_start(&x, "target");
		cl_xw_elem(&x, "path", dir);
		cl_xw_start(&x, "permissions");
		cl_xw_elem(&x, "mode", "0700");
		cl_xw_end(&x);
		cl_xw_end(&x);
		cl_xw_end(&x);
		if ((rc = cl_xw_finish(&x, &xml, "storage pool")) < 0)
			goto out;
		p = virStoragePoolDefineXML(hv->conn, xml.data, 0);
		if (!p) {
			rc = cl_virt_error(CL_EFAIL, "cannot define storage pool '%s'", pool_name);
			goto out;
		}
		if (virStoragePoolBuild(p, 0) < 0) {
			rc = cl_virt_error(CL_EFAIL, "cannot build storage pool '%s'", pool_name);
			virStoragePoolUndefine(p);
			goto out;
		}
	} else {
		desc = virStoragePoolGetXMLDesc(p, 0);
		have = desc ? cl_xml_xpath_str(desc, "/pool/target/path") : NULL;
		if (have && strcmp(have, dir) != 0) {
			rc = cl_error_set(CL_EEXIST, "storage pool '%s' already exists at '%s', not '%s'",
					  pool_name, have, dir);
			goto out;
		}
	}
	active = virStoragePoolIsActive(p);
	if (active == 0 && virStoragePoolCreate(p, 0) < 0) {
		rc = cl_virt_error(CL_EFAIL, "cannot start storage pool '%s'", pool_name);
		goto out;
	}
	if (virStoragePoolSetAutostart(p, 1) < 0) {
		rc = cl_virt_error(CL_EFAIL, "cannot autostart storage pool '%s'", pool_name);
		goto out;
	}
	if (active > 0 && virStoragePoolRefresh(p, 0) < 0)
		rc = cl_virt_error(CL_EFAIL, "cannot refresh storage pool '%s'", pool_name);
out:
	free(have);
	free(desc);
	cl_buf_free(&xml);
	if (p)
		virStoragePoolFree(p);
	return rc;
}

static int local_vol_path(cl_hv *hv, const char *pool, const char *name, char **path)
{
	struct stat st;
	char *p = NULL;
	int rc;

	if ((rc = local_vol_file(hv, pool, name, &p)) < 0)
		return rc;
	if (stat(p, &st) < 0) {
		free(p);
		return cl_error_set(CL_ENOTFOUND, "volume '%s' not found in pool '%s'", name, pool);
	}
	*path = p;
	return 0;
}

static int virt_vol_path(cl_hv *hv, const char *pool, const char *name, char **path)
{
	virStorageVolPtr vol = NULL;
	int rc;

	if ((rc = vol_lookup(hv, pool, name, false, &vol)) < 0)
		return rc;
	*path = virStorageVolGetPath(vol);
	if (!*path)
		rc = cl_virt_error(CL_EFAIL, "cannot get the path of volume '%s'", name);
	virStorageVolFree(vol);
	return rc;
}

/* Capacity, allocation and physical (file) size. */
static int local_vol_sizes(cl_hv *hv, const char *pool, const char *name, uint64_t *capacity,
			   uint64_t *allocation, uint64_t *physical)
{
	char *p = NULL;
	struct stat st;
	bool q;
	int rc;

	if ((rc = local_vol_file(hv, pool, name, &p)) < 0)
		return rc;
	if (stat(p, &st) < 0) {
		rc = cl_error_set(CL_ENOTFOUND, "volume '%s' not found in pool '%s'", name, pool);
	} else if ((rc = probe_file(p, &q, capacity, NULL)) == 0) {
		*allocation = (uint64_t)st.st_blocks * 512;
		*physical = (uint64_t)st.st_size;
	}
	free(p);
	return rc;
}

static int virt_vol_sizes(cl_hv *hv, const char *pool, const char *name, uint64_t *capacity,
			  uint64_t *allocation, uint64_t *physical)
{
	virStorageVolPtr vol = NULL;
	virStorageVolInfo info;
	int rc;

	if ((rc = vol_lookup(hv, pool, name, false, &vol)) < 0)
		return rc;
	if (virStorageVolGetInfo(vol, &info) < 0) {
		rc = cl_virt_error(CL_EFAIL, "cannot get information on volume '%s'", name);
		goto out;
	}
	*capacity = info.capacity;
	*allocation = info.allocation;
	*physical = info.allocation;
	if (virStorageVolGetInfoFlags(vol, &info, VIR_STORAGE_VOL_GET_PHYSICAL) == 0)
		*physical = info.allocation;
	virResetLastError();
out:
	virStorageVolFree(vol);
	return rc;
}

static int local_vol_delete(cl_hv *hv, const char *pool, const char *name)
{
	char *p = NULL;
	int rc;

	if ((rc = local_vol_file(hv, pool, name, &p)) < 0)
		return rc;
	if (unlink(p) < 0 && errno != ENOENT)
		rc = cl_error_set(CL_EFAIL, "cannot delete volume '%s': %s", name, strerror(errno));
	free(p);
	return rc;
}

static int virt_vol_delete(cl_hv *hv, const char *pool, const char *name)
{
	virStorageVolPtr vol = NULL;
	int rc;

	if ((rc = vol_lookup(hv, pool, name, true, &vol)) < 0 || !vol)
		return rc;
	if (virStorageVolDelete(vol, 0) < 0)
		rc = cl_virt_error(CL_EFAIL, "cannot delete volume '%s'", name);
	virStorageVolFree(vol);
	return rc;
}

/* The pool's volume names starting with prefix (all when plen is 0), unsorted. */
static int local_vol_list(cl_hv *hv, const char *pool, const char *prefix, size_t plen,
			  char ***names, size_t *n)
{
	char *dir = NULL, **v = NULL;
	size_t cap = 0, cnt = 0;
	struct dirent *e;
	DIR *d;
	int rc;

	if ((rc = cl_local_pool_dir(hv, pool, &dir)) < 0)
		return rc;
	d = opendir(dir);
	if (!d) {
		rc = cl_error_set(CL_EFAIL, "cannot list pool '%s' ('%s'): %s", pool, dir,
				  strerror(errno));
		free(dir);
		return rc;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp.") ||
		    (plen && strncmp(e->d_name, prefix, plen) != 0))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			v = cl_realloc(v, cap * sizeof(*v));
		}
		v[cnt++] = cl_strdup(e->d_name);
	}
	closedir(d);
	free(dir);
	*names = v;
	*n = cnt;
	return 0;
}

static int virt_vol_list(cl_hv *hv, const char *pool, const char *prefix, size_t plen,
			 char ***names, size_t *n)
{
	virStoragePoolPtr p = NULL;
	virStorageVolPtr *vols = NULL;
	size_t cnt = 0;
	char **v;
	int nv, rc;

	if ((rc = pool_lookup(hv, pool, &p)) < 0)
		return rc;
	nv = virStoragePoolListAllVolumes(p, &vols, 0);
	if (nv < 0) {
		rc = cl_virt_error(CL_EFAIL, "cannot list volumes of pool '%s'", pool);
		virStoragePoolFree(p);
		return rc;
	}
	v = cl_calloc((size_t)nv + 1, sizeof(*v));
	for (int i = 0; i < nv; i++) {
		const char *nm = virStorageVolGetName(vols[i]);
		if (nm && (!plen || strncmp(nm, prefix, plen) == 0))
			v[cnt++] = cl_strdup(nm);
		virStorageVolFree(vols[i]);
	}
	free(vols);
	virStoragePoolFree(p);
	*names = v;
	*n = cnt;
	return 0;
}

/* ------------------------------------------------------------ upload */

typedef struct upload_src {
	int fd;
	const char *data;
	size_t len, off;
} upload_src;

static int upload_chunk(virStreamPtr st, char *buf, size_t nbytes, void *opaque)
{
	upload_src *s = opaque;
	(void)st;
	if (s->fd >= 0)
		return (int)read(s->fd, buf, nbytes);
	if (nbytes > s->len - s->off)
		nbytes = s->len - s->off;
	memcpy(buf, s->data + s->off, nbytes);
	s->off += nbytes;
	return (int)nbytes;
}

static int vol_create_xml(const char *name, uint64_t capacity, const char *format,
			  const char *backing, const char *backing_format, cl_buf *out)
{
	char num[32];
	cl_xw x;
	int rc;

	if ((rc = cl_xw_begin(&x)) < 0)
		return rc;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)capacity);
	cl_xw_start(&x, "volume");
	cl_xw_elem(&x, "name", name);
	cl_xw_start(&x, "capacity");
	cl_xw_attr(&x, "unit", "bytes");
	cl_xw_text(&x, num);
	cl_xw_end(&x);
	cl_xw_start(&x, "allocation");
	cl_xw_attr(&x, "unit", "bytes");
	cl_xw_text(&x, "0");
	cl_xw_end(&x);
	cl_xw_start(&x, "target");
	cl_xw_start(&x, "format");
	cl_xw_attr(&x, "type", format);
	cl_xw_end(&x);
	cl_xw_start(&x, "permissions");
	cl_xw_elem(&x, "mode", "0600");
	cl_xw_end(&x);
	if (strcmp(format, "qcow2") == 0)
		cl_xw_elem(&x, "compat", "1.1");
	cl_xw_end(&x);
	if (backing) {
		cl_xw_start(&x, "backingStore");
		cl_xw_elem(&x, "path", backing);
		cl_xw_start(&x, "format");
		cl_xw_attr(&x, "type", backing_format);
		cl_xw_end(&x);
		cl_xw_end(&x);
	}
	cl_xw_end(&x);
	return cl_xw_finish(&x, out, "volume");
}

static int check_format(const char *format)
{
	if (!format || (strcmp(format, "raw") != 0 && strcmp(format, "qcow2") != 0))
		return cl_error_set(CL_EINVAL, "unsupported disk format '%s' (raw or qcow2)",
				    format ? format : "");
	return 0;
}

static int local_vol_write(cl_hv *hv, const char *pool, const char *name, const char *src_file,
			   int src_fd, const void *data, size_t len, uint64_t size)
{
	char *path = NULL;
	int rc;

	(void)src_fd, (void)size;
	if ((rc = local_vol_file(hv, pool, name, &path)) == 0)
		rc = local_write(path, src_file, data, len);
	if (rc < 0)
		cl_error_wrap("cannot upload volume '%s'", name);
	free(path);
	return rc;
}

/* Replaces the volume with size bytes from src: a new volume, since one cannot shrink. */
static int virt_vol_write(cl_hv *hv, const char *pool, const char *name, const char *src_file,
			  int src_fd, const void *data, size_t len, uint64_t size)
{
	upload_src src = {src_fd, data, len, 0};
	virStoragePoolPtr p = NULL;
	virStorageVolPtr vol = NULL;
	virStreamPtr st = NULL;
	cl_buf xml = CL_BUF_INIT;
	bool created = false;
	int rc;

	(void)src_file;
	if ((rc = cl_hv_vol_delete(hv, pool, name)) < 0 || (rc = pool_lookup(hv, pool, &p)) < 0)
		goto out;
	/* Created raw: the upload replaces every byte, and the refresh probes the real format. */
	if ((rc = vol_create_xml(name, size, "raw", NULL, NULL, &xml)) < 0)
		goto out;
	vol = virStorageVolCreateXML(p, xml.data, 0);
	if (!vol) {
		rc = cl_virt_error(CL_EFAIL, "cannot create volume '%s'", name);
		goto out;
	}
	created = true;
	st = virStreamNew(hv->conn, 0);
	if (!st) {
		rc = cl_virt_error(CL_EFAIL, "cannot upload volume '%s'", name);
		goto out;
	}
	if (virStorageVolUpload(vol, st, 0, size, 0) < 0) {
		rc = cl_virt_error(cl_virt_last_code() == VIR_ERR_NO_SUPPORT ? CL_EUNAVAIL : CL_EFAIL,
				   "cannot upload volume '%s'", name);
		goto out;
	}
	if (virStreamSendAll(st, upload_chunk, &src) < 0) {
		rc = cl_virt_error(CL_EFAIL, "cannot upload volume '%s'", name);
		virStreamAbort(st);
		goto out;
	}
	if (virStreamFinish(st) < 0) {
		rc = cl_virt_error(CL_EFAIL, "cannot upload volume '%s'", name);
		goto out;
	}
	/* The stored format (and a qcow2's virtual size) are probed again after the upload. */
	virStoragePoolRefresh(p, 0);
	virResetLastError();
out:
	if (rc < 0 && created && vol)
		virStorageVolDelete(vol, 0);
	if (st)
		virStreamFree(st);
	if (vol)
		virStorageVolFree(vol);
	if (p)
		virStoragePoolFree(p);
	cl_buf_free(&xml);
	return rc;
}

/* Uploads from src_file, or from data/len when src_file is NULL. */
static int vol_upload(cl_hv *hv, const char *pool, const char *name, const char *src_file,
		      const void *data, size_t len, const char *format, bool replace)
{
	upload_src src = {-1, data, len, 0};
	uint64_t size = len, cap = 0, alloc = 0, phys = 0;
	struct stat sb;
	int rc;

	if ((rc = check_vol_name(name)) < 0 || (rc = check_format(format)) < 0)
		return rc;
	if (src_file) {
		src.fd = open(src_file, O_RDONLY | O_CLOEXEC);
		if (src.fd < 0 || fstat(src.fd, &sb) < 0) {
			rc = cl_error_set(errno == ENOENT ? CL_ENOTFOUND : CL_EFAIL,
					  "cannot upload '%s' to volume '%s': %s", src_file, name,
					  strerror(errno));
			goto out;
		}
		size = (uint64_t)sb.st_size;
	}
	rc = hv->storage->vol_sizes(hv, pool, name, &cap, &alloc, &phys);
	if (rc == 0 && !replace && phys == size)
		goto out;
	if (rc < 0 && rc != CL_ENOTFOUND)
		goto out;
	cl_error_clear();
	rc = hv->storage->vol_write(hv, pool, name, src_file, src.fd, data, len, size);
out:
	if (src.fd >= 0)
		close(src.fd);
	return rc;
}

/* ------------------------------------------------------------ overlays */

/* The capacity of a backing image from its file. */
static int file_capacity(const char *path, uint64_t *cap)
{
	bool q;

	virResetLastError();
	if (probe_file(path, &q, cap, NULL) < 0)
		return cl_error_wrap("cannot read backing image '%s'", path);
	return 0;
}

/* The capacity of a backing image, through libvirt if it is a volume, else from the file. */
static int virt_backing_capacity(cl_hv *hv, const char *path, uint64_t *cap)
{
	virStorageVolPtr vol = virStorageVolLookupByPath(hv->conn, path);
	virStorageVolInfo info;

	if (vol) {
		int ok = virStorageVolGetInfo(vol, &info) == 0;
		virStorageVolFree(vol);
		if (ok) {
			*cap = info.capacity;
			return 0;
		}
	}
	return file_capacity(path, cap);
}

static int local_overlay(cl_hv *hv, const char *pool, const char *name, const char *backing,
			 const char *bfmt, uint64_t capacity)
{
	char *path = NULL, *have = NULL;
	cl_buf tmp = CL_BUF_INIT;
	uint64_t cap;
	bool q;
	int rc;

	if (!capacity && (rc = file_capacity(backing, &capacity)) < 0)
		return rc;
	if ((rc = local_vol_file(hv, pool, name, &path)) < 0)
		return rc;
	rc = probe_file(path, &q, &cap, &have);
	if (rc == 0) {
		if (!q || !have || strcmp(have, backing) != 0)
			rc = cl_error_set(CL_EEXIST,
					  "volume '%s' already exists with another backing image ('%s')",
					  name, have ? have : "none");
		goto out;
	}
	if (rc != CL_ENOTFOUND)
		goto out;
	cl_error_clear();
	/* Written beside and renamed, so a killed run leaves no half-made volume behind. */
	cl_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	unlink(tmp.data); /* left by a killed run of the same pid number */
	rc = cl_qcow2_write_overlay(tmp.data, capacity, backing, bfmt);
	if (rc == 0 && rename(tmp.data, path) < 0)
		rc = cl_error_set(CL_EFAIL, "rename: %s", strerror(errno));
	if (rc < 0) {
		unlink(tmp.data);
		cl_error_wrap("cannot create volume '%s'", name);
	}
out:
	cl_buf_free(&tmp);
	free(have);
	free(path);
	return rc;
}

/* An existing volume with this backing is kept; one with another is CL_EEXIST. */
static int virt_overlay(cl_hv *hv, const char *pool, const char *name, const char *backing_path,
			const char *backing_format, uint64_t capacity_bytes)
{
	virStoragePoolPtr p = NULL;
	virStorageVolPtr vol = NULL;
	cl_buf xml = CL_BUF_INIT;
	char *desc = NULL, *have = NULL, *have_fmt = NULL;
	int rc;

	if ((rc = vol_lookup(hv, pool, name, true, &vol)) < 0)
		goto out;
	if (vol) {
		desc = virStorageVolGetXMLDesc(vol, 0);
		have = desc ? cl_xml_xpath_str(desc, "/volume/backingStore/path") : NULL;
		have_fmt = desc ? cl_xml_xpath_str(desc, "/volume/backingStore/format/@type") : NULL;
		if (!have || strcmp(have, backing_path) != 0 ||
		    (have_fmt && strcmp(have_fmt, backing_format) != 0))
			rc = cl_error_set(CL_EEXIST,
					  "volume '%s' already exists with another backing image ('%s')",
					  name, have ? have : "none");
		goto out;
	}
	if (!capacity_bytes && (rc = virt_backing_capacity(hv, backing_path, &capacity_bytes)) < 0)
		goto out;
	if ((rc = pool_lookup(hv, pool, &p)) < 0 ||
	    (rc = vol_create_xml(name, capacity_bytes, "qcow2", backing_path, backing_format, &xml)) < 0)
		goto out;
	vol = virStorageVolCreateXML(p, xml.data, 0);
	if (!vol)
		rc = cl_virt_error(CL_EFAIL, "cannot create volume '%s'", name);
out:
	free(have_fmt);
	free(have);
	free(desc);
	cl_buf_free(&xml);
	if (vol)
		virStorageVolFree(vol);
	if (p)
		virStoragePoolFree(p);
	return rc;
}

/* ------------------------------------------------------------ the tables */

const cl_storage_backend cl_storage_local = {
	.name = "dir",
	.pool_ensure = local_pool_ensure,
	.vol_path = local_vol_path,
	.vol_sizes = local_vol_sizes,
	.vol_delete = local_vol_delete,
	.vol_list = local_vol_list,
	.vol_write = local_vol_write,
	.vol_overlay = local_overlay,
};

const cl_storage_backend cl_storage_libvirt = {
	.name = "libvirt",
	.pool_ensure = virt_pool_ensure,
	.vol_path = virt_vol_path,
	.vol_sizes = virt_vol_sizes,
	.vol_delete = virt_vol_delete,
	.vol_list = virt_vol_list,
	.vol_write = virt_vol_write,
	.vol_overlay = virt_overlay,
};

/* ------------------------------------------------------------ entry points */

int cl_hv_pool_ensure(cl_hv *hv, const char *pool_name, const char *dir)
{
	if (!cl_name_valid(pool_name) || !dir || dir[0] != '/')
		return cl_error_set(CL_EINVAL, "invalid storage pool '%s' at '%s'", pool_name,
				    dir ? dir : "");
	return hv->storage->pool_ensure(hv, pool_name, dir);
}

int cl_hv_vol_path(cl_hv *hv, const char *pool, const char *name, char **path)
{
	*path = NULL;
	return hv->storage->vol_path(hv, pool, name, path);
}

int cl_hv_vol_info(cl_hv *hv, const char *pool, const char *name, uint64_t *capacity,
		   uint64_t *allocation)
{
	uint64_t phys;
	return hv->storage->vol_sizes(hv, pool, name, capacity, allocation, &phys);
}

int cl_hv_vol_delete(cl_hv *hv, const char *pool, const char *name)
{
	return hv->storage->vol_delete(hv, pool, name);
}

int cl_hv_vol_list(cl_hv *hv, const char *pool, const char *prefix, char ***names, size_t *n)
{
	size_t plen = prefix ? strlen(prefix) : 0;
	int rc;

	*names = NULL;
	*n = 0;
	if ((rc = hv->storage->vol_list(hv, pool, prefix, plen, names, n)) < 0)
		return rc;
	if (*n)
		qsort(*names, *n, sizeof(**names), cmp_str);
	return 0;
}

int cl_hv_vol_upload(cl_hv *hv, const char *pool, const char *name, const char *local_file,
		     const char *format, bool replace)
{
	return vol_upload(hv, pool, name, local_file, NULL, 0, format, replace);
}

int cl_hv_vol_upload_buf(cl_hv *hv, const char *pool, const char *name, const void *data,
			 size_t len)
{
	return vol_upload(hv, pool, name, NULL, data, len, "raw", true);
}

int cl_hv_vol_overlay(cl_hv *hv, const char *pool, const char *name, const char *backing_path,
		      const char *backing_format, uint64_t capacity_bytes)
{
	int rc;

	if ((rc = check_vol_name(name)) < 0 || (rc = check_format(backing_format)) < 0)
		return rc;
	if (!backing_path || backing_path[0] != '/')
		return cl_error_set(CL_EINVAL, "backing image of '%s' must be an absolute path", name);
	return hv->storage->vol_overlay(hv, pool, name, backing_path, backing_format,
					capacity_bytes);
}
