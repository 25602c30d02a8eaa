/* What the host offers a lab: its accelerator choice and its GPUs, for front ends. */
#include "templates_impl.h"
#include "classlab/cl_gpu.h"
#include "classlab/banned.h"

int cl_host_set_accel(cl_ctx *ctx, const char *what, const char *value)
{
	return cl_hv_accel_parse(what, value, &ctx->accel);
}

int cl_host_gpus(cl_ctx *ctx, json_t **out)
{
	cl_host_gpu *gpus = NULL;
	cl_hv *own = NULL, *hv = ctx->hv;
	size_t n = 0;
	int rc = 0;

	*out = NULL;
	/* Discovery needs the connection only, not the pool cl_ctx_connect makes sure of. */
	if (!hv) {
		cl_vm_open_opts o = {.uri = ctx->uri, .data_dir = ctx->data_dir, .accel = ctx->accel,
				     .env = ctx->env};
		if ((rc = tp_vm_backend(ctx->uri)->open(&own, &o)) == 0)
			hv = own;
	}
	if (rc == 0 && (rc = cl_vm_ops(hv)->gpus(hv, &gpus, &n)) == 0)
		*out = cl_gpu_host_json(gpus, n);
	cl_gpu_host_free(gpus, n);
	if (own)
		cl_vm_ops(own)->close(own);
	return rc;
}
