/* The handle's fields, for the library's modules only (front ends see cl_ctx.h). */
#ifndef CL_CTX_IMPL_H
#define CL_CTX_IMPL_H

#include "classlab/cl_ctx.h"

#include <stdbool.h>

struct cl_ctx {
	cl_store *st;
	struct cl_hv *hv; /* NULL until cl_ctx_connect */
	char *uri;
	char *data_dir;
	char *cache_dir;
	char *images_dir;
	const char *accel; /* "kvm", "tcg" (static strings) or NULL */
	int boot_timeout_s;
	const cl_ctx_backend *backend;
	char *const *env;
	int64_t (*now)(void *cb_arg);
	void (*progress)(void *cb_arg, cl_notice severity, const char *msg, size_t done,
			 size_t total);
	int (*verify)(void *cb_arg, cl_ctx *ctx, const char *lab);
	void *cb_arg;
	int lock_depth; /* nested operations (up -> build -> publish) share the lab lock */
	bool keep_connection; /* a service: cl_ctx_disconnect leaves the connection open */
};

/* Progress and warnings through the handle's callback (a warning shows even under --quiet). */
void cl_ctx_progress(cl_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cl_ctx_progress_step(cl_ctx *ctx, size_t done, size_t total, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void cl_ctx_warn(cl_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The lab's busy lock; nested calls in one operation (up -> build -> publish) share it. */
int cl_ctx_lab_lock(cl_ctx *ctx, const char *lab, const char *kind);
void cl_ctx_lab_unlock(cl_ctx *ctx, const char *lab);

#endif
