/* Shared between the provision .c files; not part of the public API. */
#ifndef CL_PROVISION_INTERNAL_H
#define CL_PROVISION_INTERNAL_H

#include "classlab/cl_provision.h"

#include <libxml/xmlwriter.h>

/*
 * Where volumes live: a table chosen when the connection opens (libvirt's
 * virStorageBackend). Arguments are checked by the cl_hv_* entry points in
 * storage.c before they call through; each returns 0 or a CL_E* with a message.
 */
typedef struct cl_storage_backend {
	const char *name;
	int (*pool_ensure)(cl_hv *hv, const char *pool, const char *dir);
	int (*vol_path)(cl_hv *hv, const char *pool, const char *name, char **path);
	/* Capacity, allocation and physical (file) size; CL_ENOTFOUND when absent. */
	int (*vol_sizes)(cl_hv *hv, const char *pool, const char *name, uint64_t *capacity,
			 uint64_t *allocation, uint64_t *physical);
	int (*vol_delete)(cl_hv *hv, const char *pool, const char *name); /* absent is fine */
	/* Names starting with prefix (its first plen bytes; all when 0), any order, new. */
	int (*vol_list)(cl_hv *hv, const char *pool, const char *prefix, size_t plen,
			char ***names, size_t *n);
	/* (Re)writes the volume with size bytes: src_file (open as src_fd) or data/len. */
	int (*vol_write)(cl_hv *hv, const char *pool, const char *name, const char *src_file,
			 int src_fd, const void *data, size_t len, uint64_t size);
	/* A qcow2 overlay; capacity 0: the backing image's. Kept if it exists with this backing. */
	int (*vol_overlay)(cl_hv *hv, const char *pool, const char *name, const char *backing,
			   const char *backing_format, uint64_t capacity);
} cl_storage_backend;

/* classlab's own directory pools (qemu:///embed has no storage driver). */
extern const cl_storage_backend cl_storage_local;
/* libvirt's storage pools (a daemon, the test driver). */
extern const cl_storage_backend cl_storage_libvirt;

struct cl_hv {
	cl_vm_conn base; /* first: the table this connection belongs to */
	virConnectPtr conn;
	const cl_storage_backend *storage;
	char *uri;
	bool embed;
	bool test;
	char *domtype;
	const char *accel; /* as given to cl_hv_open: "kvm", "tcg" or NULL (auto) */
	char *root; /* qemu:///embed root, else NULL */
};

/* Sets code with "<context>: <libvirt's last error message>". */
int cl_virt_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* libvirt's last error code (VIR_ERR_*) on this thread, 0 if none. */
int cl_virt_last_code(void);

/* SHA-256 of data (libcrypto). */
void cl_sha256(const void *data, size_t len, unsigned char out[32]);
/* Lowercase hex of the SHA-256 of data: 65 bytes with the NUL. */
void cl_sha256_hex(const void *data, size_t len, char out[65]);

/* libxml2 writer into memory; each returns 0 or CL_EFAIL with a message. */
typedef struct cl_xw {
	xmlBufferPtr buf;
	xmlTextWriterPtr w;
	int failed;
} cl_xw;
int cl_xw_begin(cl_xw *x);
void cl_xw_start(cl_xw *x, const char *name);
void cl_xw_attr(cl_xw *x, const char *name, const char *value);
void cl_xw_attrf(cl_xw *x, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cl_xw_text(cl_xw *x, const char *text);
void cl_xw_elem(cl_xw *x, const char *name, const char *text);
void cl_xw_end(cl_xw *x);
/* Ends the document and appends it to out; frees the writer either way. */
int cl_xw_finish(cl_xw *x, cl_buf *out, const char *what);
void cl_xw_abort(cl_xw *x);

/* The string value of an XPath expression over an XML document; NULL if empty or unparsable. */
char *cl_xml_xpath_str(const char *xml, const char *expr);

/* Local (embed) storage: a pool is a directory the hv remembers by name. */
int cl_local_pool_dir(cl_hv *hv, const char *pool, char **dir);

/* Writes an empty qcow2 v3 overlay of size bytes on backing (format backing_fmt) at path. */
int cl_qcow2_write_overlay(const char *path, uint64_t size, const char *backing,
			   const char *backing_fmt);

/*
 * Refuses a qcow2 header (the file's first len bytes) that names any other
 * file: a backing file or an external data file (flag or extension), or that
 * is malformed. CL_EINVAL "<what>: <why>".
 */
int cl_qcow2_check_header(const unsigned char *hdr, size_t len, const char *what);

#endif
