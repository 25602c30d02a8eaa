/*
 * The VM backend: one table of functions per kind of hypervisor (libvirt today;
 * OpenStack next), chosen when a connection opens, and the plain data types its
 * operations take (domain spec, image, cloud-init config, states, events). Like
 * libvirt's own drivers, every backend's connection begins with a cl_vm_conn
 * naming its table, so whoever holds the connection (the cl_ctx handle) reaches
 * the operations through it. This header names no hypervisor library.
 */
#ifndef CL_BACKEND_H
#define CL_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cl_hv cl_hv; /* a backend's connection; each backend defines its own */
struct cl_host_gpu;	    /* cl_gpu.h */

/* ------------------------------------------------------------------ base images */

typedef struct cl_image {
	char *disk_vol;	   /* volume name in the pool */
	char *disk_path;   /* its path */
	char *disk_format; /* "qcow2" or "raw" */
	char *kernel_path; /* direct kernel boot; NULL for images with their own bootloader */
	char *initrd_path;
	char *cmdline;
	bool nocloud; /* the guest reads a NoCloud (cidata) seed: always true */
} cl_image;
void cl_image_free(cl_image *img);

/* ------------------------------------------------------------------ cloud-init seed */

typedef struct cl_cloudconfig {
	const char *hostname;
	const char *instance_id;
	const char *username;
	const char *gecos; /* may be NULL */
	const char *const *authorized_keys;
	size_t n_authorized_keys;
	const char *host_key_private; /* OpenSSH PEM text; with host_key_public, or both NULL */
	const char *host_key_public;  /* "ssh-ed25519 AAAA... comment" */
	const char *const *packages;
	size_t n_packages;
	const char *const *pip; /* one runcmd ["python3","-m","pip","install",...] */
	size_t n_pip;
	const char *const *runcmd; /* shell strings */
	size_t n_runcmd;
	const char *const *const *runcmd_argv; /* NULL-terminated argv lists */
	size_t n_runcmd_argv;
	/*
	 * The NIC's MAC: network-config then names it eth0 by MAC, which every cloud-init
	 * renderer (ifupdown, networkd, netplan) applies. NULL: DHCP on any "e*" interface,
	 * a glob only netplan understands (cloud-init's ifupdown renderer writes an
	 * interface named after the config's key instead).
	 */
	const char *mac;
} cl_cloudconfig;

/* ------------------------------------------------------------------ domain spec */

typedef struct cl_port_forward {
	const char *listen; /* IPv4 address; NULL = the spec's listen */
	int host_port;
	int guest_port;
} cl_port_forward;

typedef struct cl_domain_spec {
	const char *name;
	const char *uuid; /* NULL or "" = a new random one */
	const char *type; /* "qemu", "kvm" or "test"; NULL in create: the connection's */
	unsigned memory_mib;
	unsigned vcpus;
	const char *disk_path;
	const char *disk_format; /* "qcow2" (default) or "raw" */
	const char *seed_path;	 /* read-only raw virtio disk vdb; NULL = none */
	const char *kernel;	 /* direct kernel boot; NULL = the disk's bootloader */
	const char *initrd;
	const char *cmdline;
	const char *console_log; /* serial console to this file; NULL = a pty */
	const char *mac;	 /* "02:xx:xx:xx:xx:xx"; see cl_mac_from_seed */
	const char *listen;	 /* host address of the forwards; NULL = 127.0.0.1 */
	int ssh_port;		 /* host port forwarded to guest 22; 0 = no network */
	const cl_port_forward *forwards;
	size_t n_forwards;
	bool allow_outbound; /* false: -netdev user,restrict=on (only the forwards work) */
	const char *const *hostdevs; /* PCI addresses "0000:65:00.0" */
	size_t n_hostdevs;
	/* Who the VM is, for backends that tag or group what they make (a cloud). */
	const char *lab;
	const char *student; /* NULL: the lab's template VM */
	int64_t version;     /* the template version its disk stands on */
	const char *flavor;  /* the lab file's "flavor": a cloud's machine type; NULL: by size */
	unsigned gpus;	     /* GPUs a backend without host devices finds in its flavor */
} cl_domain_spec;

/* ------------------------------------------------------------------ states and events */

typedef enum cl_dom_state {
	CL_DOM_ABSENT,
	CL_DOM_SHUTOFF,
	CL_DOM_RUNNING,
	CL_DOM_PAUSED,
	CL_DOM_OTHER,
} cl_dom_state;
const char *cl_dom_state_name(cl_dom_state s); /* "absent", "shut off", ... */

/* What happened to a VM, as a watcher hears it. */
typedef enum cl_vm_event {
	CL_VM_EVENT_STARTED,   /* booted, or resumed from a managed save */
	CL_VM_EVENT_STOPPED,   /* shut down or powered off */
	CL_VM_EVENT_SAVED,     /* stopped into a managed save */
	CL_VM_EVENT_CRASHED,   /* the guest or its emulator failed */
	CL_VM_EVENT_PAUSED,    /* suspended, still holding its memory */
	CL_VM_EVENT_RESUMED,   /* running again after a pause */
	CL_VM_EVENT_DEFINED,   /* defined or updated */
	CL_VM_EVENT_UNDEFINED, /* its definition removed */
} cl_vm_event;
const char *cl_vm_event_name(cl_vm_event e); /* "started", "stopped", ... */

/*
 * A watcher's callback. It runs on the watcher's own thread, never on the
 * backend's event loop, so it may call the backend (one call at a time per
 * connection, as everywhere) and take its time; events reach it in the order the
 * backend reported them. when: seconds since the epoch when the backend's loop
 * received the event. vm is borrowed for the call.
 */
typedef void (*cl_vm_event_cb)(void *arg, const char *vm, cl_vm_event event, int64_t when);
typedef struct cl_vm_watch cl_vm_watch;

/* ------------------------------------------------------------------ the table */

typedef struct cl_vm_open_opts {
	const char *uri;      /* NULL: the backend's default for data_dir */
	const char *data_dir; /* where a local backend keeps its state and disks */
	const char *accel;    /* "kvm", "tcg" or NULL (auto) */
	bool disks;	      /* make sure of the disk store (pool) too; false: discovery only */
	/* The front end's environment ("NAME=value", NULL-terminated): a cloud's OS_* settings. */
	char *const *env;
	/* Detail for -v (a cloud's API calls: method, path, status, time); NULL: none. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
} cl_vm_open_opts;

/*
 * Every operation returns 0 or a negative CL_E* with its message set, and takes
 * the connection open returned. Disks are named by the caller (the backend keeps
 * them in its one store); VMs by their deterministic names. Absent things are
 * fine where converging needs it, as each line says.
 */
typedef struct cl_vm_backend {
	const char *name; /* "libvirt", "openstack" */
	/*
	 * true: a VM's forwards are ports of this host (a port another program holds
	 * is moved). false: they live elsewhere (a cloud's floating IP).
	 */
	bool host_forwards;
	/* true: GPUs are this host's PCI devices, assigned by address (hostdevs). */
	bool host_devices;

	/* ---- connection */
	int (*open)(cl_hv **out, const cl_vm_open_opts *opts);
	void (*close)(cl_hv *c); /* NULL is fine */
	/* Where the VMs live, as a lab records it (its claim): the URI. Borrowed. */
	const char *(*uri)(cl_hv *c);

	/* ---- images and disks */
	/* The base image ("tiny" or a path) as disks of this backend; *out: cl_image_free. */
	int (*image)(cl_hv *c, const char *image, const char *cache_dir, const char *images_dir,
		     cl_image **out);
	/* Path of a disk; CL_ENOTFOUND when absent. *path is the caller's. */
	int (*disk_path)(cl_hv *c, const char *disk, char **path);
	/* A copy-on-write overlay on backing; an existing one on the same backing is kept. */
	int (*disk_overlay)(cl_hv *c, const char *disk, const char *backing_path,
			    const char *backing_format);
	int (*disk_delete)(cl_hv *c, const char *disk); /* absent is fine */
	/* Disks whose names start with prefix, sorted; cl_strv_free. */
	int (*disk_list)(cl_hv *c, const char *prefix, char ***names, size_t *n);
	/* Writes the NoCloud seed for cc as disk `disk` (replacing it); *path its path. */
	int (*seed_upload)(cl_hv *c, const char *disk, const cl_cloudconfig *cc, char **path);

	/* ---- VMs */
	/* Defines (or updates) the VM from spec; the same name with another UUID is CL_EEXIST. */
	int (*create)(cl_hv *c, const cl_domain_spec *spec);
	/* Starts it, resuming a managed save or a pause; running is fine; CL_ENOTFOUND if absent. */
	int (*start)(cl_hv *c, const char *name);
	/* ACPI shutdown, waiting up to timeout_s, then power off. Not running or absent is fine. */
	int (*stop)(cl_hv *c, const char *name, int timeout_s);
	/* Power off now; not running or absent is fine. */
	int (*destroy)(cl_hv *c, const char *name);
	/* Powers off and undefines it (with any saved state), then deletes the n disks. */
	int (*remove)(cl_hv *c, const char *name, const char *const *disks, size_t n);
	int (*state)(cl_hv *c, const char *name, cl_dom_state *state); /* absent: CL_DOM_ABSENT */
	/* Names of the running (or paused) VMs, sorted; cl_strv_free. For reconciliation. */
	int (*running)(cl_hv *c, char ***names, size_t *n);

	/* ---- managed save: stop keeping memory, so the next start resumes */
	/* Saves a running VM and stops it (state "shut off", has_saved true). Not running: CL_EFAIL. */
	int (*save)(cl_hv *c, const char *name);
	int (*has_saved)(cl_hv *c, const char *name, bool *saved); /* absent: false */
	int (*discard_saved)(cl_hv *c, const char *name); /* none saved or absent is fine */

	/* ---- lifecycle events */
	/* Calls cb for every VM's lifecycle events until unwatch; *out is the caller's. */
	int (*watch)(cl_hv *c, cl_vm_event_cb cb, void *arg, cl_vm_watch **out);
	/* Stops hearing events and joins the watcher's thread; no cb runs after it returns. */
	void (*unwatch)(cl_vm_watch *w); /* NULL is fine */

	/* ---- access and capacity */
	/*
	 * Where SSH to the VM lands from this host: the VM's forward (listen address and
	 * host port as recorded) mapped to what to dial. *host is borrowed from listen or
	 * the connection.
	 */
	int (*ssh_endpoint)(cl_hv *c, const char *name, const char *listen, int forwarded_port,
			    const char **host, int *port);
	/* The host's GPUs (cl_gpu.h; cl_gpu_host_free). A host without a device API: none. */
	int (*gpus)(cl_hv *c, struct cl_host_gpu **out, size_t *n);

	/* ---- a lab's shared resources (NULL for a backend without any) */
	/*
	 * The address the lab's forwards listen on, made if needed (a cloud: the lab's
	 * floating IP); *addr is the caller's. NULL op: the lab's own listen address.
	 */
	int (*lab_address)(cl_hv *c, const char *lab, char **addr);
	/*
	 * Removes what the lab's VMs shared (address, firewall, group) once they are
	 * gone, and its template images unless keep_images. Absent is fine.
	 */
	int (*lab_remove)(cl_hv *c, const char *lab, bool keep_images);
} cl_vm_backend;

/* The head of every backend's connection: which table it belongs to. */
typedef struct cl_vm_conn {
	const cl_vm_backend *ops;
} cl_vm_conn;

/* The table of an open connection (the first field of every backend's cl_hv). */
static inline const cl_vm_backend *cl_vm_ops(cl_hv *c)
{
	return ((const cl_vm_conn *)(const void *)c)->ops;
}

#endif
