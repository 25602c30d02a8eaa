/*
 * Hypervisor backend (libvirt): connection, storage pool and volumes, base
 * images, cloud-init seeds and domains. The library never prints: libvirt's
 * own error printing is swallowed and its messages come back through
 * cl_error_msg() with context.
 */
#ifndef CL_PROVISION_H
#define CL_PROVISION_H

#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "classlab/cl_backend.h"
#include "classlab/cl_util.h"

/*
 * The libvirt VM backend (cl_backend.h) over the functions below: the table
 * every libvirt connection (cl_hv_open) carries, and what a front end passes.
 */
extern const cl_vm_backend cl_vm_libvirt;

/* ------------------------------------------------------------------ connection */

typedef struct cl_hv cl_hv;

/*
 * Opens a hypervisor connection. uri NULL means the embedded QEMU driver
 * qemu:///embed?root=<data_dir>/hv (the caller resolves --connect,
 * CLASSLAB_URI and LIBVIRT_DEFAULT_URI first). For qemu:///embed the root's
 * etc/qemu.conf is written (only when it changed) and directories are created
 * 0700. Running guests are reattached before this returns. A connection is
 * used by one thread at a time. Failure: CL_EUNAVAIL
 * "cannot connect to hypervisor 'URI': <why>"; a too-long embed root is CL_EINVAL,
 * and so is an accel other than "kvm", "tcg" or "auto" (NULL or "" is auto);
 * both before libvirt is touched.
 */
int cl_hv_open(cl_hv **out, const char *uri, const char *data_dir, const char *accel);
/*
 * Checks an accelerator choice for a front end that reads it (from CLASSLAB_ACCEL,
 * a flag): *accel = "kvm", "tcg" (static) or NULL for auto (NULL, "" or "auto").
 * Anything else: CL_EINVAL "<what>: '<value>' is not kvm, tcg or auto".
 */
int cl_hv_accel_parse(const char *what, const char *value, const char **accel);
void cl_hv_close(cl_hv *hv); /* accepts NULL */

const char *cl_hv_uri(const cl_hv *hv); /* borrowed */
bool cl_hv_is_embed(const cl_hv *hv);
/*
 * "kvm", "qemu" or "test": the <domain type> this connection's guests use. Borrowed.
 * The accel given to cl_hv_open (kvm or tcg) decides; otherwise (auto) a local URI uses KVM when
 * /dev/kvm opens and is not PVM's (which runs no stock guest kernel), a remote one
 * when the host's domain capabilities offer it.
 */
const char *cl_hv_domain_type(cl_hv *hv);
/* The libvirt connection, borrowed (for nodedev/GPU discovery). */
virConnectPtr cl_hv_conn(cl_hv *hv);

/* ------------------------------------------------------------------ storage */

/*
 * Makes sure a directory pool `pool_name` at `dir` exists, is active and
 * autostarted, and refreshes it. Call it once per connection before the
 * volume functions: the test driver keeps pools only per connection, and the
 * embedded driver has no storage driver at all, so for qemu:///embed
 * classlab manages the directory itself (volumes are files in dir, overlays
 * are made with qemu-img) behind the same functions.
 */
int cl_hv_pool_ensure(cl_hv *hv, const char *pool_name, const char *dir);

/* Path of volume `name`; CL_ENOTFOUND if it does not exist. *path is the caller's. */
int cl_hv_vol_path(cl_hv *hv, const char *pool, const char *name, char **path);
/* Capacity (virtual size) and allocation in bytes. CL_ENOTFOUND if absent. */
int cl_hv_vol_info(cl_hv *hv, const char *pool, const char *name, uint64_t *capacity,
		   uint64_t *allocation);

/*
 * Uploads local_file as volume `name` (format "raw" or "qcow2"; capacity =
 * file size) through a virStream, so it works against a remote libvirtd.
 * Idempotent: an existing volume of the same size is kept unless replace is
 * true. A failed upload deletes the half-made volume. Drivers without
 * upload support (the test driver) give CL_EUNAVAIL.
 */
int cl_hv_vol_upload(cl_hv *hv, const char *pool, const char *name, const char *local_file,
		     const char *format, bool replace);
/* The same from memory (a seed ISO), as a raw volume; always replaces the contents. */
int cl_hv_vol_upload_buf(cl_hv *hv, const char *pool, const char *name, const void *data,
			 size_t len);
/*
 * Creates a qcow2 (compat 1.1) overlay `name` on backing_path/backing_format,
 * capacity_bytes (0 = the backing volume's capacity). Idempotent: an existing
 * volume with the same backing is fine; one with another backing is CL_EEXIST.
 */
int cl_hv_vol_overlay(cl_hv *hv, const char *pool, const char *name, const char *backing_path,
		      const char *backing_format, uint64_t capacity_bytes);
/* Deletes volume `name`; an absent volume is fine. */
int cl_hv_vol_delete(cl_hv *hv, const char *pool, const char *name);
/* Names of volumes starting with prefix ("" or NULL: all), sorted; free with cl_strv_free. */
int cl_hv_vol_list(cl_hv *hv, const char *pool, const char *prefix, char ***names, size_t *n);

/* ------------------------------------------------------------------ base images */

/*
 * A built-in image's files, (re)built by its recipe into <cache_dir>/images/<name>
 * when the recipe changed, for backends that keep images elsewhere (a cloud's
 * Glance): dir (the caller's, free it) holds disk (qcow2); an image booted by its
 * kernel (cmdline not NULL) also vmlinuz and initrd.img. hash: the recipe's sha256.
 */
typedef struct cl_image_files {
	char *dir;
	const char *disk;    /* static */
	const char *cmdline; /* static; NULL: the disk's own bootloader */
	char hash[65];
} cl_image_files;
int cl_image_builtin_files(const char *name, const char *cache_dir, const char *images_dir,
			   cl_image_files *out);
/*
 * image is a built-in image ("tiny", "debian-ds") or a path to a qcow2/raw
 * cloud image. A built-in one is (re)built with <images_dir>/<name>/build.sh
 * into <cache_dir>/images/<name> when its recipe hash changed, then imported
 * once as volumes base_<name>-<hash12>.qcow2 (tiny also -vmlinuz and -initrd,
 * for direct kernel boot; debian-ds boots with its own GRUB). A path is
 * imported once as base_<name>-<hash12 of size, mtime, path>.<fmt>. The pool
 * must have been ensured. *out is the caller's (cl_image_free).
 */
int cl_image_resolve(cl_hv *hv, const char *pool, const char *image, const char *cache_dir,
		     const char *images_dir, cl_image **out);
/*
 * A user's image file, checked (a regular file whose header names no other host
 * file, cl_image_check) and known cheaply, never hashing gigabytes: hash is the
 * sha256 of its size, mtime and real path; name its base name made safe (at most 40
 * of a-z 0-9 - _, else "image"). Every backend names its copy from these.
 */
typedef struct cl_image_file_id_t {
	char real[PATH_MAX];
	const char *format; /* "qcow2" or "raw" (static) */
	char hash[65];
	char name[41];
} cl_image_file_id_t;
int cl_image_file_id(const char *path, cl_image_file_id_t *id);
/* Whether name is a built-in image; the names, for messages ("\"tiny\" or ..."). */
bool cl_image_is_builtin(const char *name);
const char *cl_image_builtin_names(void);

/* A built-in image's recipe and its build in the cache. */
typedef struct cl_image_info {
	char *name;
	char *recipe_hash; /* the recipe's hash now; NULL when the recipe cannot say (error) */
	char *built_hash;  /* the cached build's; NULL when nothing is built */
	char *dir;         /* <cache_dir>/images/<name> */
	char *disk;        /* the disk's file name in dir */
	char *error;       /* why recipe_hash is NULL */
	bool built;        /* dir holds a complete build */
	bool up_to_date;   /* ... of the recipe as it is now */
	uint64_t disk_bytes; /* the disk file's size */
	uint64_t bytes;      /* all the build's files */
} cl_image_info;
void cl_image_info_clear(cl_image_info *i);
void cl_image_info_list_free(cl_image_info *v, size_t n);
/*
 * Builds the built-in image name into the cache unless it is up to date (force:
 * rebuild anyway) and describes the result. Unknown name: CL_EINVAL; a failed
 * recipe: CL_EFAIL with the last line it wrote to stderr.
 */
int cl_image_build(const char *name, const char *cache_dir, const char *images_dir, bool force,
		   cl_image_info *out);
/* Every built-in image, built or not, in a fixed order (*out: cl_image_info_list_free). */
int cl_image_list(const char *cache_dir, const char *images_dir, cl_image_info **out, size_t *n);

/*
 * Checks a user's image file before anything uses it: *format (static) is
 * "qcow2" for a self-contained qcow2 v2/v3, "raw" for anything no known
 * format claims. A qcow2 naming a backing or external data file, a
 * malformed qcow2, and other formats (VMDK, VDI, QED, VHD(X), LUKS, ...,
 * which can name files or need their own driver) are CL_EINVAL; a missing
 * file CL_ENOTFOUND. cl_image_resolve calls it on the file and on the copy.
 */
int cl_image_check(const char *path, const char **format);

/* ------------------------------------------------------------------ cloud-init seed */

/*
 * #cloud-config user-data: every string double-quoted, the private host key
 * a literal block. runcmd order: runcmd strings, the pip install, runcmd_argv.
 */
int cl_cloudconfig_user_data(const cl_cloudconfig *cc, cl_buf *out);
int cl_cloudconfig_meta_data(const cl_cloudconfig *cc, cl_buf *out);
/* network-config v2: DHCPv4 on any NIC named e*. */
int cl_cloudconfig_network_config(const cl_cloudconfig *cc, cl_buf *out);
/* A NoCloud ISO (volume id cidata, Rock Ridge + Joliet) with the three files, in memory. */
int cl_seed_iso(const cl_cloudconfig *cc, cl_buf *iso);

/* ------------------------------------------------------------------ domain XML */

/* The PCI slot the user-mode NIC takes on bus pci.0 (libvirt fills slots from 1 up). */
#define CL_NIC_PCI_ADDR "0x1f"

int cl_domain_xml(const cl_domain_spec *spec, cl_buf *out);
/* A random UUID, lowercase "8-4-4-4-12". */
void cl_uuid_new(char out[37]);
/* A locally administered unicast MAC 02:xx:xx:xx:xx:xx derived from seed (SHA-256). */
void cl_mac_from_seed(const char *seed, char out[18]);

/* ------------------------------------------------------------------ domains */

/* Defines or updates a domain; the same name with another UUID is CL_EEXIST. */
int cl_hv_domain_define(cl_hv *hv, const char *xml);
/* Starts it; already running is fine. CL_ENOTFOUND if not defined. */
int cl_hv_domain_start(cl_hv *hv, const char *name);
/* ACPI shutdown, waiting up to timeout_s, then destroy. Not running or absent is fine. */
int cl_hv_domain_shutdown(cl_hv *hv, const char *name, int timeout_s);
/* Hard power-off; not running or absent is fine. */
int cl_hv_domain_destroy(cl_hv *hv, const char *name);
/* Destroys if running, then undefines with its metadata; absent is fine. */
int cl_hv_domain_undefine(cl_hv *hv, const char *name);
int cl_hv_domain_state(cl_hv *hv, const char *name, cl_dom_state *state);
/* Domains whose name starts with prefix, sorted; names with cl_strv_free, states with free. */
int cl_hv_domain_list(cl_hv *hv, const char *prefix, char ***names, cl_dom_state **states,
		      size_t *n);
/* CL_ENOTFOUND if absent. */
int cl_hv_domain_uuid(cl_hv *hv, const char *name, char out[37]);

#endif
