/* classlab jupyter: find or start the notebook server on the VM, then tunnel to it. */
#include "cli.h"
#include "classlab/cl_ssh.h"
#include "classlab/cl_tunnel.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_students.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>

/* "starting Jupyter on VM ...": a notice, quiet with -q. */
static void jupyter_progress(void *p, const char *msg)
{
	cli_note(p, "%s\n", msg);
}

int cmd_jupyter(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	const char *local_s = cli_opt_get(ctx, "local-port");
	uint64_t local = 8888;
	cl_access a = {0};
	cl_jupyter j = {0};
	cl_ssh *ssh = NULL;
	int rc;

	(void)argc, (void)res;
	if (local_s && (rc = cl_parse_u64("--local-port", local_s, 65535, &local)))
		return rc;
	if ((rc = cl_access_get(ctx->cl, argv[0], argv[1], &a)) ||
	    (rc = cli_access_connect(ctx, &a, &ssh)) ||
	    (rc = cl_jupyter_find_or_start(ssh, a.vm, jupyter_progress, ctx, &j)))
		goto out;
	rc = cli_tunnel_serve(ctx, &a, ssh, "127.0.0.1", (int)local, j.port, j.token);
out:
	cl_jupyter_clear(&j);
	cl_ssh_free(ssh);
	cl_access_clear(&a);
	return rc;
}
