/* GPU passthrough: which host GPUs are free, and giving each GPU VM its own. */
#include "templates_impl.h"
#include "classlab/cl_gpu.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

/* Passthrough-ready host GPUs no VM holds yet. A host that cannot list devices has none. */
static int free_gpus(cl_ctx *ctx, char ***out, size_t *n, char **why)
{
	cl_host_gpu *gpus = NULL;
	char **used = NULL;
	size_t ngpus = 0, nused = 0;
	int rc;

	*out = NULL;
	*n = 0;
	*why = NULL;
	if (TP_VM(ctx)->gpus(ctx->hv, &gpus, &ngpus) != 0) {
		*why = cl_strdup(cl_error_msg());
		cl_error_clear();
		return 0;
	}
	if ((rc = cl_store_gpus_used(ctx->st, &used, &nused)))
		goto out;
	*out = cl_calloc(ngpus + 1, sizeof(char *));
	for (size_t i = 0; i < ngpus; i++) {
		bool taken = !gpus[i].passthrough_ready;
		for (size_t j = 0; !taken && j < nused; j++)
			taken = strcmp(used[j], gpus[i].address) == 0;
		if (!taken)
			(*out)[(*n)++] = cl_strdup(gpus[i].address);
	}
out:
	for (size_t j = 0; j < nused; j++)
		free(used[j]);
	free(used);
	cl_gpu_host_free(gpus, ngpus);
	return rc;
}

int tp_gpus_assign(cl_ctx *ctx, const cl_lab *lab, const cl_size *size, const cl_vm *vms,
		   size_t nvms, bool required, bool force)
{
	char **avail = NULL, *why = NULL;
	size_t navail = 0, needed = 0, next = 0;
	size_t *missing = cl_calloc(nvms + 1, sizeof(size_t));
	int rc;

	/* A cloud finds GPUs in its flavor (cl_domain_spec.gpus), not by host address. */
	if (size->gpus <= 0 || nvms == 0 || !TP_VM(ctx)->host_devices) {
		free(missing);
		return 0;
	}
	for (size_t i = 0; i < nvms; i++) {
		char **have = NULL;
		size_t nhave = 0;
		if ((rc = cl_store_vm_gpus(ctx->st, vms[i].id, &have, &nhave)))
			goto out;
		for (size_t j = 0; j < nhave; j++)
			free(have[j]);
		free(have);
		missing[i] = nhave < (size_t)size->gpus ? (size_t)size->gpus - nhave : 0;
		needed += missing[i];
	}
	if (needed == 0) {
		rc = 0;
		goto out;
	}
	if ((rc = free_gpus(ctx, &avail, &navail, &why)))
		goto out;
	if (navail < needed) {
		char *msg = cl_aprintf("lab '%s' needs %zu more GPU%s for passthrough but %zu %s free "
				       "on this host%s%s",
				       lab->name, needed, needed == 1 ? "" : "s", navail,
				       navail == 1 ? "is" : "are", why ? ": " : "", why ? why : "");
		if (required && !force) {
			rc = cl_error_set(CL_EFAIL, "%s (--force publishes without passthrough, "
						    "recorded)", msg);
		} else {
			/* The template boots without a GPU (its verification says so); forced
			 * publishes go on without passthrough, on the record. */
			if (required)
				cl_store_event_add(ctx->st, lab->name, "forced-no-gpu", msg);
			cl_ctx_warn(ctx, "%s; VMs get no GPU", msg);
			rc = 0;
		}
		free(msg);
		goto out;
	}
	if ((rc = cl_store_begin(ctx->st)))
		goto out;
	for (size_t i = 0; i < nvms && rc == 0; i++)
		for (size_t k = 0; k < missing[i] && rc == 0; k++)
			rc = cl_store_gpu_assign(ctx->st, vms[i].id, avail[next++]);
	if ((rc = cl_store_end(ctx->st, rc)) == 0)
		cl_ctx_progress(ctx, "assigned %zu GPU%s for passthrough", needed, needed == 1 ? "" : "s");
out:
	for (size_t i = 0; i < navail; i++)
		free(avail[i]);
	free(avail);
	free(why);
	free(missing);
	return rc;
}
