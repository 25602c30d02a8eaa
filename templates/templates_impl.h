/* Internals shared by templates/: locks, VM records, progress and domain definition. */
#ifndef CL_TEMPLATES_IMPL_H
#define CL_TEMPLATES_IMPL_H

#include "classlab/cl_templates.h"
#include "classlab/cl_backend.h"
/*
 * For its pure helpers (cl_uuid_new, cl_mac_from_seed, cl_hv_accel_parse) and the
 * backend the connector opens (cl_vm_libvirt): the hypervisor itself is reached
 * only through TP_VM (tests/cli/vmbackend.sh checks).
 */
#include "classlab/cl_openstack.h"
#include "classlab/cl_provision.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_ssh.h"
#include "../ctx/ctx_impl.h"

/* The operations of the handle's open connection (cl_backend.h). */
#define TP_VM(ctx) cl_vm_ops((ctx)->hv)
/* The VM backend cl_templates_backend opens (libvirt). */
/* The VM backend a URI names: OpenStack for "openstack://...", else libvirt. */
const cl_vm_backend *tp_vm_backend(const char *uri);
/*
 * A backend whose forwards live elsewhere (a cloud's floating IP) gives the lab's
 * address: it becomes the lab's listen address (and its public host unless the lab
 * file named a reachable one), and known_hosts follows. Under the lab's lock.
 */
int tp_lab_address(cl_ctx *ctx, cl_lab *lab);

/* The template's disk of one version: "<lab>-template-v<version>.qcow2". */
char *tp_template_vol(const char *lab, int64_t version);
/*
 * Gets or creates the VM's record with everything that must stay stable for
 * its life: UUID, MAC, SSH port, instance-id, host key. Saved before any
 * domain exists, so a crash leaves nothing the record does not name.
 */
int tp_vm_ensure(cl_ctx *ctx, const cl_lab *lab, const cl_student *student, int64_t version,
		 cl_vm *vm);
int tp_vm_set_state(cl_ctx *ctx, cl_vm *vm, cl_vm_state state, int64_t version);
/* Reads the VM's record again (by its name). */
int tp_vm_reload(cl_ctx *ctx, cl_vm *vm);
/* A new disk for the VM: a new cloud-init instance-id, state back to planned. */
int tp_vm_new_instance(cl_ctx *ctx, cl_vm *vm, int64_t version);
char *tp_console_log(cl_ctx *ctx, const char *vm);
int tp_lab_and_size(cl_ctx *ctx, const char *name, cl_lab *lab, cl_size *size);
int tp_lab_save(cl_ctx *ctx, const cl_lab *lab);
/* Every VM boots the kernel the lab's template was built with (lab->boot_*). */
int tp_define(cl_ctx *ctx, const cl_lab *lab, const cl_size *size, const cl_vm *vm,
	      const char *disk_path, const char *seed_path);

/*
 * Gives every VM of a GPU size its GPUs from the host's free, passthrough-ready
 * ones. Not enough: CL_EFAIL saying how many are free and needed when required
 * (publish) and not forced; otherwise a recorded warning and no passthrough.
 */
int tp_gpus_assign(cl_ctx *ctx, const cl_lab *lab, const cl_size *size, const cl_vm *vms,
		   size_t nvms, bool required, bool force);
/*
 * Starts the named domains, several at a time, and records them running. A VM
 * whose SSH port another program on the host holds (a VM of another data
 * directory, a user's server) gets a free port and is defined again with it
 * first, or after its start failed on that port; the move is reported.
 */
int tp_start_all(cl_ctx *ctx, const cl_lab *lab, char *const *names, size_t n);
/* Removes one VM completely: domain, disk, seed, console log and record. */
int tp_vm_remove(cl_ctx *ctx, const char *name);
/* Runs a command in a lab VM as classlab (admin key, pinned host key). */
/* cloud-init status --long's output (or stderr) as one line for a message; new string. */
char *tp_cloud_init_why(const cl_buf *out, const cl_buf *err);
int tp_admin_exec(cl_ctx *ctx, const cl_lab *lab, const cl_vm *vm, const char *cmd,
		  int timeout_ms, cl_buf *out, cl_buf *err, int *status);
/*
 * A student's VM outside class (the lead time counts as class) whose own time has
 * reached the quota (not exempt): CL_EEXIST naming the way out. Others: 0.
 */
int tp_quota_allows_start(cl_ctx *ctx, const cl_lab *lab, const cl_vm *vm);

#endif
