/*
 * The library handle: one cl_ctx is the first argument of every middle-floor call
 * (labs, students, cost, templates, VMs). It owns the store, the lazily opened
 * hypervisor connection, the directories, the settings a front end read from its
 * environment or flags, the clock and the progress callback, so that the CLI, a
 * service and tests drive the same code. The library itself never reads the
 * environment: whatever is configurable arrives through cl_ctx_opts.
 */
#ifndef CL_CTX_H
#define CL_CTX_H

#include "classlab/cl_store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cl_ctx cl_ctx;
struct cl_hv;

/* How much a progress message matters; the front end chooses how to show each. */
typedef enum cl_notice {
	CL_NOTICE_INFO = 0, /* progress: a front end may keep it quiet */
	CL_NOTICE_WARNING,  /* something the user must know (a VM moved port, a forced step) */
	CL_NOTICE_DETAIL,   /* detail for -v only (each call to a cloud's API) */
} cl_notice;

/*
 * How a handle reaches its hypervisor. The connector is a table chosen by the
 * front end so that a program that never touches VMs (the `classlab` front end,
 * which links without libvirt) does not link the hypervisor code at all:
 * cl_templates_backend (cl_templates.h) opens the libvirt VM backend and makes
 * sure of its pool. The connection it returns carries its VM backend's table
 * (cl_backend.h: cl_vm_ops), through which the library drives every VM.
 */
typedef struct cl_ctx_backend {
	/* Opens the connection; *hv is the backend's, closed by close. */
	int (*open)(cl_ctx *ctx, struct cl_hv **hv);
	void (*close)(struct cl_hv *hv);
} cl_ctx_backend;

/* What cl_ctx_new copies: strings are copied, callbacks and cb_arg are kept. */
typedef struct cl_ctx_opts {
	const char *db_path;	       /* the store cl_ctx_new opens; NULL: no store (host gpus) */
	const char *uri;	       /* hypervisor URI, or NULL (embedded under data_dir) */
	const char *data_dir;	       /* keys, disks, known_hosts */
	const char *cache_dir;	       /* downloaded base images */
	const char *images_dir;	       /* templates/images of the source tree or the install */
	const char *accel;	       /* "kvm", "tcg" or NULL (auto); see cl_host_set_accel */
	int boot_timeout_s;	       /* wait for SSH; 0 = 300 */
	const cl_ctx_backend *backend; /* NULL: cl_ctx_connect fails with CL_EUNAVAIL */
	/* The front end's environment, kept (a cloud backend's OS_* settings); NULL: none. */
	char *const *env;
	/* The clock, in seconds since the epoch; NULL is time(NULL). */
	int64_t (*now)(void *cb_arg);
	/*
	 * Progress and notices for people. total > 0 marks step done of total of a
	 * longer job (a front end may draw a bar); else a plain message of the given
	 * severity. msg carries no severity prefix. May be NULL.
	 */
	void (*progress)(void *cb_arg, cl_notice severity, const char *msg, size_t done,
			 size_t total);
	/* Run between build and publish by up (the GPU/health verification); may be NULL. */
	int (*verify)(void *cb_arg, cl_ctx *ctx, const char *lab);
	void *cb_arg; /* passed to now, progress and verify */
} cl_ctx_opts;

/*
 * A new handle in *out (cl_ctx_free): opens the store at opts->db_path when
 * given (its errors are the store's). The hypervisor is not opened here.
 * CL_EINVAL for an accelerator other than kvm, tcg, auto, "" or NULL.
 */
int cl_ctx_new(cl_ctx **out, const cl_ctx_opts *opts);
/* Closes the hypervisor connection and the store, then frees ctx; NULL is fine. */
void cl_ctx_free(cl_ctx *ctx);

/* Opens the hypervisor through the backend unless already open. */
int cl_ctx_connect(cl_ctx *ctx);
/* Closes the hypervisor connection (the store stays open), unless it is kept. */
void cl_ctx_disconnect(cl_ctx *ctx);
/*
 * A service keeps its connection (and what hangs on it: the event watch) for its life:
 * cl_ctx_disconnect does nothing from now on; cl_ctx_free closes it.
 */
void cl_ctx_keep_connection(cl_ctx *ctx);

/* Borrowed: valid until cl_ctx_free. The store is NULL when opts had no db_path. */
cl_store *cl_ctx_store(const cl_ctx *ctx);
const char *cl_ctx_uri(const cl_ctx *ctx);
const char *cl_ctx_data_dir(const cl_ctx *ctx);
const char *cl_ctx_cache_dir(const cl_ctx *ctx);
const char *cl_ctx_images_dir(const cl_ctx *ctx);
int64_t cl_ctx_now(const cl_ctx *ctx);

/* Settings a front end checks late (after a command's own usage checks). */
void cl_ctx_set_boot_timeout(cl_ctx *ctx, int seconds);
/*
 * Points progress (and cb_arg, which the verify hook also gets) elsewhere: a service
 * sends a request's progress to that request, its own passes to its log.
 */
void cl_ctx_set_progress(cl_ctx *ctx,
			 void (*progress)(void *cb_arg, cl_notice severity, const char *msg,
					  size_t done, size_t total),
			 void *cb_arg);

#endif
