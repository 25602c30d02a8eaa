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
	json_t *gpus = NULL;
	int rc;

	(void)argc, (void)argv;
	if ((rc = cli_vm_init(ctx)))
		return rc;
	rc = cl_host_gpus(ctx->cl, &gpus);
	cl_ctx_disconnect(ctx->cl);
	if (rc)
		return rc;
	CLI_ROWS(res, gpus, cols);
	res->empty = "no NVIDIA GPUs found on this host";
	return 0;
}

/* A failed check is the report and then exit 1: main renders a result even with an error. */
static int verify(cli_ctx *ctx, const char *lab, const char *student, cli_result *res)
{
	cl_gpu_report *report = NULL;
	int rc;

	if ((rc = cli_vm_init(ctx)))
		return rc;
	rc = cl_verify(ctx->cl, lab, student, &report);
	cl_ctx_disconnect(ctx->cl);
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
int cli_verify_hook(void *arg, cl_ctx *cl, const char *lab)
{
	cl_gpu_report *report = NULL;
	int rc = cl_verify(cl, lab, NULL, &report);
	if (rc)
		return rc;
	cli_ctx *ctx = arg;
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
