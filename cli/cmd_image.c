/* classlab image list | image build NAME */
#include "cli.h"
#include "classlab/cl_templates.h"
#include "classlab/banned.h"

static const cli_col image_cols[] = {
	{"name", "NAME"}, {"state", "STATE"}, {"size_mib", "SIZE-MIB"}, {"recipe", "RECIPE-HASH"},
	{"disk", "DISK"},
};

int cmd_image_list(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	json_t *rows = NULL;
	int rc;

	(void)argc, (void)argv;
	if ((rc = cl_images_list(ctx->cl, &rows)))
		return rc;
	CLI_ROWS(res, rows, image_cols);
	return 0;
}

int cmd_image_build(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	json_t *row = NULL, *rows;
	int rc;

	(void)argc;
	if ((rc = cl_images_build(ctx->cl, argv[0], cli_flag(ctx, "force"), &row)))
		return rc;
	rows = json_array();
	json_array_append_new(rows, row);
	CLI_ROWS(res, rows, image_cols);
	return 0;
}
