/*
 * The template lifecycle and the lab as a whole: build a template VM from a
 * base image, verify it, publish one linked clone per student, converge a lab
 * from one file (up) and take it down. Every step checks real state (store,
 * libvirt, pool) and does only what is missing, so a rerun after a crash
 * converges.
 */
#ifndef CL_TEMPLATES_H
#define CL_TEMPLATES_H

#include "classlab/cl_ctx.h"
#include "classlab/cl_backend.h"
#include "classlab/cl_store.h"

#include <stdbool.h>

/*
 * The connector for cl_ctx_opts.backend: opens the VM backend (libvirt,
 * cl_vm_libvirt) at opts.uri with the accelerator and makes sure of its disk
 * pool (<data>/pool); the connection carries the backend's table.
 */
extern const cl_ctx_backend cl_templates_backend;

/* template build: define, boot and wait for the template VM; runs the customisation. */
int cl_template_build(cl_ctx *ctx, const char *lab);

typedef struct cl_publish_opts {
	bool start;	   /* start the student VMs (default in the CLI) */
	bool recreate_ok;  /* --yes: students' disks may be recreated for a new template */
	bool force;	   /* --force: skip the GPU verification gate (recorded) */
} cl_publish_opts;
/* template publish: template shut down, then one overlay + seed + domain per student. */
int cl_template_publish(cl_ctx *ctx, const char *lab, const cl_publish_opts *opts);

/* down: destroys and undefines the lab's domains, deletes volumes, seeds and VM records. */
/* keep_images: a cloud keeps the lab's template images (the libvirt pool's disks go). */
/*
 * The lab's listen address is its backend's (a cloud's floating IP, set when the lab
 * connects), not the lab file's.
 */
bool cl_lab_address_from_backend(const cl_lab *lab);
int cl_lab_down(cl_ctx *ctx, const char *lab, bool keep_images);

/*
 * students remove: stops and deletes the student's VM (domain, disk, seed,
 * record), deletes their keys and host keys, then their row. Reruns finish an
 * interrupted removal; the hypervisor is opened only when there is a VM.
 */
int cl_student_revoke(cl_ctx *ctx, const char *lab, const char *student);

/*
 * vm start/stop for one student ("template" for the template VM) or all (student NULL).
 * Outside class a student whose own time has used up the quota is refused (CL_EEXIST)
 * until the quota is raised or they are exempted (cl_meter.h).
 */
int cl_vm_start(cl_ctx *ctx, const char *lab, const char *student);
int cl_vm_stop(cl_ctx *ctx, const char *lab, const char *student);

/* Shows text on the student VM's terminals (wall, as classlab over SSH). */
int cl_vm_message(cl_ctx *ctx, const char *lab, const char *student, const char *text);
/*
 * When the student's Jupyter servers on the VM last saw activity (their /api/status,
 * read as the lab's user over SSH), in Unix seconds; 0 when the VM has no Jupyter
 * running. Errors: the VM cannot be reached.
 */
int cl_vm_jupyter_activity(cl_ctx *ctx, const char *lab, const char *student, int64_t *last);

typedef struct cl_vm_status {
	char *name, *student, *kind, *state, *host; /* as front ends show them */
	int ssh_port;
	cl_vm_kind vm_kind;
	cl_dom_state dom; /* the hypervisor's state; CL_DOM_OTHER when it was not asked */
} cl_vm_status;
void cl_vm_status_free(cl_vm_status *v, size_t n);
/* The lab's VMs with their live state (from libvirt when connected, else the record). */
int cl_vm_status_list(cl_ctx *ctx, const char *lab, cl_vm_status **out, size_t *n);

struct cl_gpu_report;
/*
 * template verify (student NULL) / vm verify: GPU, driver, CUDA and framework
 * checks over SSH. A passing template is marked verified for the publish gate.
 * *report is the caller's (cl_gpu_report_free); its pass says the verdict.
 */
int cl_verify(cl_ctx *ctx, const char *lab, const char *student, struct cl_gpu_report **report);

/*
 * Connects for work on the lab's VMs: refused (CL_EUNAVAIL) when the lab's VMs
 * live on another hypervisor, so that "no such domain here" is never taken for
 * "gone". claim: a command that makes VMs records this hypervisor as the lab's
 * when none is recorded yet.
 */
int cl_template_connect(cl_ctx *ctx, cl_lab *lab, bool claim);
/* The same check on an open connection. */
int cl_template_hv_check(cl_ctx *ctx, const cl_lab *lab);

/* ---- the host, for front ends (templates/host.c) ---- */

/*
 * Sets the handle's accelerator from a setting a front end read (CLASSLAB_ACCEL, a
 * flag): "kvm", "tcg", or auto for NULL, "" or "auto". Else CL_EINVAL naming what,
 * before any hypervisor is opened.
 */
int cl_host_set_accel(cl_ctx *ctx, const char *what, const char *value);

struct json_t;
/*
 * host gpus: the host's NVIDIA GPUs and whether each is ready for passthrough, as a
 * new JSON array of objects (address, product, driver, iommu_group,
 * passthrough_ready, reason). Opens the hypervisor for the call when ctx has none.
 */
int cl_host_gpus(cl_ctx *ctx, struct json_t **out);

/*
 * image list: every built-in base image (tiny, debian-ds) as a new JSON array of
 * objects: name, state ("built", "stale": built from an older recipe, "not built"),
 * recipe_hash (the recipe's now), built_hash, disk (path), disk_bytes, bytes, size_mib.
 */
int cl_images_list(cl_ctx *ctx, struct json_t **out);
/*
 * image build: builds the built-in image name into the cache (a no-op when it is up
 * to date, unless force) and describes it as image list does. Unknown name: CL_EINVAL.
 */
int cl_images_build(cl_ctx *ctx, const char *name, bool force, struct json_t **out);

#endif
