/* What the host offers a lab: its accelerator choice and its GPUs, for front ends. */
#include "templates_impl.h"
#include "classlab/cl_gpu.h"
#include "classlab/banned.h"

int cl_ops_set_accel(cl_ops *ops, const char *what, const char *value)
{
	return cl_hv_accel_parse(what, value, &ops->accel);
}

int cl_host_gpus(cl_ops *ops, json_t **out)
{
	cl_host_gpu *gpus = NULL;
	size_t n = 0;
	int rc = 0;

	*out = NULL;
	/* Discovery needs the connection only, not the pool cl_ops_connect makes sure of. */
	if (!ops->hv)
		rc = cl_hv_open(&ops->hv, ops->uri, ops->data_dir, ops->accel);
	if (rc == 0 && (rc = cl_gpu_host_list(cl_hv_conn(ops->hv), &gpus, &n)) == 0)
		*out = cl_gpu_host_json(gpus, n);
	cl_gpu_host_free(gpus, n);
	return rc;
}
