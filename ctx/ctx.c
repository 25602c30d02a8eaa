/* The library handle: what it owns and how it is opened and closed (cl_ctx.h). */
#include "ctx_impl.h"
#include "classlab/cl_util.h"
#include "classlab/banned.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *dup_or_null(const char *s)
{
	return s ? cl_strdup(s) : NULL;
}

int cl_ctx_new(cl_ctx **out, const cl_ctx_opts *opts)
{
	cl_ctx *ctx = cl_calloc(1, sizeof(*ctx));
	int rc = 0;

	*out = NULL;
	/* As cl_host_set_accel reads a setting, without linking the hypervisor code. */
	if (opts->accel && *opts->accel && strcmp(opts->accel, "auto") != 0 &&
	    strcmp(opts->accel, "kvm") != 0 && strcmp(opts->accel, "tcg") != 0) {
		free(ctx);
		return cl_error_set(CL_EINVAL, "accelerator: '%s' is not kvm, tcg or auto",
				    opts->accel);
	}
	ctx->uri = dup_or_null(opts->uri);
	ctx->data_dir = dup_or_null(opts->data_dir);
	ctx->cache_dir = dup_or_null(opts->cache_dir);
	ctx->images_dir = dup_or_null(opts->images_dir);
	ctx->accel = opts->accel && strcmp(opts->accel, "kvm") == 0   ? "kvm"
		     : opts->accel && strcmp(opts->accel, "tcg") == 0 ? "tcg"
								      : NULL;
	ctx->boot_timeout_s = opts->boot_timeout_s;
	ctx->backend = opts->backend;
	ctx->env = opts->env;
	ctx->now = opts->now;
	ctx->progress = opts->progress;
	ctx->verify = opts->verify;
	ctx->cb_arg = opts->cb_arg;
	if (opts->db_path && (rc = cl_store_open(&ctx->st, opts->db_path))) {
		cl_ctx_free(ctx);
		return rc;
	}
	*out = ctx;
	return 0;
}

static void disconnect(cl_ctx *ctx)
{
	if (ctx->hv && ctx->backend)
		ctx->backend->close(ctx->hv);
	ctx->hv = NULL;
}

void cl_ctx_free(cl_ctx *ctx)
{
	if (!ctx)
		return;
	disconnect(ctx);
	cl_store_close(ctx->st);
	free(ctx->images_dir);
	free(ctx->cache_dir);
	free(ctx->data_dir);
	free(ctx->uri);
	free(ctx);
}

int cl_ctx_connect(cl_ctx *ctx)
{
	if (ctx->hv)
		return 0;
	if (!ctx->backend)
		return cl_error_set(CL_EUNAVAIL, "no hypervisor backend in this program");
	return ctx->backend->open(ctx, &ctx->hv);
}

void cl_ctx_disconnect(cl_ctx *ctx)
{
	if (!ctx->keep_connection)
		disconnect(ctx);
}

void cl_ctx_keep_connection(cl_ctx *ctx)
{
	ctx->keep_connection = true;
}

cl_store *cl_ctx_store(const cl_ctx *ctx)
{
	return ctx->st;
}

const char *cl_ctx_uri(const cl_ctx *ctx)
{
	return ctx->uri;
}

const char *cl_ctx_data_dir(const cl_ctx *ctx)
{
	return ctx->data_dir;
}

const char *cl_ctx_cache_dir(const cl_ctx *ctx)
{
	return ctx->cache_dir;
}

const char *cl_ctx_images_dir(const cl_ctx *ctx)
{
	return ctx->images_dir;
}

int64_t cl_ctx_now(const cl_ctx *ctx)
{
	return ctx->now ? ctx->now(ctx->cb_arg) : (int64_t)time(NULL);
}

void cl_ctx_set_boot_timeout(cl_ctx *ctx, int seconds)
{
	ctx->boot_timeout_s = seconds;
}

void cl_ctx_set_progress(cl_ctx *ctx,
			 void (*progress)(void *cb_arg, cl_notice severity, const char *msg,
					  size_t done, size_t total),
			 void *cb_arg)
{
	ctx->progress = progress;
	ctx->cb_arg = cb_arg;
}

static void progress(cl_ctx *ctx, cl_notice severity, size_t done, size_t total, const char *fmt,
		     va_list ap)
{
	cl_buf b = CL_BUF_INIT;

	if (!ctx->progress)
		return;
	cl_buf_vprintf(&b, fmt, ap);
	ctx->progress(ctx->cb_arg, severity, cl_buf_str(&b), done, total);
	cl_buf_free(&b);
}

void cl_ctx_progress(cl_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	progress(ctx, CL_NOTICE_INFO, 0, 0, fmt, ap);
	va_end(ap);
}

void cl_ctx_progress_step(cl_ctx *ctx, size_t done, size_t total, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	progress(ctx, CL_NOTICE_INFO, done, total, fmt, ap);
	va_end(ap);
}

void cl_ctx_warn(cl_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	progress(ctx, CL_NOTICE_WARNING, 0, 0, fmt, ap);
	va_end(ap);
}

int cl_ctx_lab_lock(cl_ctx *ctx, const char *lab, const char *kind)
{
	if (ctx->lock_depth++ > 0)
		return 0;
	int rc = cl_store_lab_lock(ctx->st, lab, kind, (long)getpid());
	if (rc)
		ctx->lock_depth--;
	return rc;
}

void cl_ctx_lab_unlock(cl_ctx *ctx, const char *lab)
{
	if (ctx->lock_depth > 0 && --ctx->lock_depth == 0)
		cl_store_lab_unlock(ctx->st, lab, (long)getpid());
}
