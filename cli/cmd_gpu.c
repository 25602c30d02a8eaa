/* classlab host gpus | template verify | vm verify */
#include "cli.h"
#include "classlab/cl_gpu.h"
#include "classlab/cl_templates.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_host_gpus(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	static const cli_col cols[] = {
		{"address", "ADDRESS"}, {"product", "PRODUCT"}, {"driver", "DRIVER"},
		{"iommu_group", "IOMMU-GROUP"}, {"passthrough_ready", "READY"}, {"reason", "REASON"},
	};
	cl_host_gpu *gpus = NULL;
	size_t n = 0;
	cl_ops ops;
	int rc;

	(void)argc, (void)argv;
	if ((rc = cli_ops_init(ctx, &ops)))
		return rc;
	if ((rc = cl_hv_open(&ops.hv, ops.uri, ops.data_dir, ops.accel)) == 0)
		rc = cl_gpu_host_list(cl_hv_conn(ops.hv), &gpus, &n);
	cl_ops_disconnect(&ops);
	if (rc)
		return rc;
	CLI_ROWS(res, cl_gpu_host_json(gpus, n), cols);
	res->empty = "no NVIDIA GPUs found on this host";
	cl_gpu_host_free(gpus, n);
	return 0;
}

/* A failed check is the report and then exit 1: main renders a result even with an error. */
static int verify(cli_ctx *ctx, const char *lab, const char *student, cli_result *res)
{
	cl_gpu_report *report = NULL;
	cl_ops ops;
	int rc;

	if ((rc = cli_ops_init(ctx, &ops)))
		return rc;
	rc = cl_verify(&ops, lab, student, &report);
	cl_ops_disconnect(&ops);
	if (rc)
		return rc;
	res->data = cl_gpu_report_json(report);
	res->view = VIEW_TEXT;
	res->lib_text = cl_gpu_report_text(report);
	bool pass = report->pass;
	cl_gpu_report_free(report);
	if (!pass)
		return cl_error_set(CL_EFAIL, "verification failed: see the checks above");
	return 0;
}

int cmd_template_verify(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	(void)argc;
	return verify(ctx, argv[0], NULL, res);
}

int cmd_vm_verify(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	(void)argc;
	return verify(ctx, argv[0], argv[1], res);
}

/* up's step between build and publish: the report goes to stderr, the verdict decides. */
int cli_verify_hook(cl_ops *ops, const char *lab)
{
	cl_gpu_report *report = NULL;
	int rc = cl_verify(ops, lab, NULL, &report);
	if (rc)
		return rc;
	cli_ctx *ctx = ops->progress_ctx;
	char *text = cl_gpu_report_text(report);
	cli_note(ctx, "%s", text);
	free(text);
	if (!report->pass)
		rc = cl_error_set(CL_EFAIL,
				  "template of lab '%s' failed verification: fix it and run 'classlab "
				  "up' again (or 'template publish --force')",
				  lab);
	cl_gpu_report_free(report);
	return rc;
}
