/* classlab host gpus | template verify | vm verify */
#include "cli.h"
#include "classlab/cl_gpu.h"
#include "classlab/cl_templates.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * The table form of a report's data ({pass, checks: [{id, status, reason, advice}]}):
 * "PASS    driver-vs-cuda      driver ... (needs >= ...)" a check, advice after a
 * failure, then the verdict.
 */
static char *report_text(const json_t *report)
{
	const json_t *checks = json_object_get(report, "checks"), *c;
	cl_buf b = CL_BUF_INIT;
	size_t i, width = 0;

	json_array_foreach(checks, i, c)
	{
		size_t w = strlen(json_string_value(json_object_get(c, "id")));
		width = w > width ? w : width;
	}
	json_array_foreach(checks, i, c)
	{
		const char *status = json_string_value(json_object_get(c, "status")),
			   *advice = json_string_value(json_object_get(c, "advice"));
		cl_buf_printf(&b, "%-7s %-*s  %s", status, (int)width,
			      json_string_value(json_object_get(c, "id")),
			      json_string_value(json_object_get(c, "reason")));
		if (advice && strcmp(status, "FAIL") == 0)
			cl_buf_printf(&b, " \u2014 do: %s", advice);
		cl_buf_putc(&b, '\n');
	}
	cl_buf_printf(&b, "%s\n", json_is_true(json_object_get(report, "pass")) ? "GPU check passed"
									: "GPU check FAILED");
	return cl_buf_detach(&b);
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
	res->text = report_text;
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
	json_t *data = cl_gpu_report_json(report);
	char *text = report_text(data);
	cli_note(ctx, "%s", text);
	free(text);
	json_decref(data);
	if (!report->pass)
		rc = cl_error_set(CL_EFAIL,
				  "template of lab '%s' failed verification: fix it and run 'classlab "
				  "up' again (or 'template publish --force')",
				  lab);
	cl_gpu_report_free(report);
	return rc;
}
