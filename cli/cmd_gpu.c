/* classlab host gpus | template verify | vm verify */
#include "cli.h"
#include "classlab/cl_gpu.h"
#include "classlab/cl_templates.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_host_gpus(cli_ctx *ctx, int argc, char **argv)
{
	static const cli_col cols[] = {
		{"address", "ADDRESS"}, {"product", "PRODUCT"}, {"driver", "DRIVER"},
		{"iommu_group", "IOMMU-GROUP"}, {"passthrough_ready", "READY"}, {"reason", "REASON"},
	};
	cl_host_gpu *gpus = NULL;
	size_t n = 0;
	cl_ops ops;
	int rc = cli_positionals(ctx, argc, argv, 0, 0);

	if (rc)
		return rc;
	cli_ops_init(ctx, &ops);
	if ((rc = cl_hv_open(&ops.hv, ops.uri, ops.data_dir)) == 0)
		rc = cl_gpu_host_list(cl_hv_conn(ops.hv), &gpus, &n);
	cl_ops_disconnect(&ops);
	if (rc)
		return rc;
	json_t *arr = cl_gpu_host_json(gpus, n);
	cl_gpu_host_free(gpus, n);
	if (n == 0 && ctx->output == OUT_TABLE) {
		json_decref(arr);
		cli_note(ctx, "no NVIDIA GPUs found on this host\n");
		return 0;
	}
	cli_out_rows(ctx, arr, cols, sizeof(cols) / sizeof(cols[0]));
	return 0;
}

static int verify(cli_ctx *ctx, const char *lab, const char *student)
{
	cl_gpu_report *report = NULL;
	cl_ops ops;
	int rc;

	cli_ops_init(ctx, &ops);
	rc = cl_verify(&ops, lab, student, &report);
	cl_ops_disconnect(&ops);
	if (rc)
		return rc;
	char *text = cl_gpu_report_text(report);
	cli_out_text(ctx, text, cl_gpu_report_json(report));
	free(text);
	bool pass = report->pass;
	cl_gpu_report_free(report);
	if (!pass)
		return cl_error_set(CL_EFAIL, "verification failed: see the checks above");
	return 0;
}

int cmd_template_verify(cli_ctx *ctx, int argc, char **argv)
{
	int rc = cli_positionals(ctx, argc, argv, 1, 1);
	return rc ? rc : verify(ctx, argv[optind], NULL);
}

int cmd_vm_verify(cli_ctx *ctx, int argc, char **argv)
{
	int rc = cli_positionals(ctx, argc, argv, 2, 2);
	return rc ? rc : verify(ctx, argv[optind], argv[optind + 1]);
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
