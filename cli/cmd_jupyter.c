/* classlab jupyter: find or start the notebook server on the VM, then tunnel to it. */
#include "cli.h"
#include "classlab/cl_ssh.h"
#include "classlab/cl_students.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Lists running servers as JSON lines (newer `jupyter server`, then classic `notebook`). */
#define JUPYTER_LIST                                                                               \
	"command -v jupyter >/dev/null 2>&1 || exit 127; "                                        \
	"{ jupyter server list --json 2>/dev/null; jupyter notebook list --json 2>/dev/null; }"
/* Detached, logging to a file; root (an attached machine's admin login) needs --allow-root. */
#define JUPYTER_START                                                                              \
	"nohup jupyter notebook --no-browser --ip 127.0.0.1 --port 8888 "                         \
	"$([ \"$(id -u)\" = 0 ] && echo --allow-root) "                                           \
	">\"$HOME/.classlab-jupyter.log\" 2>&1 </dev/null & echo $!"

/* The first server on 127.0.0.1/localhost: its port and token. */
static bool parse_list(const char *out, int *port, char **token)
{
	for (const char *line = out; *line;) {
		size_t n = strcspn(line, "\n");
		json_error_t err;
		json_t *o = json_loadb(line, n, 0, &err);
		json_t *p = o ? json_object_get(o, "port") : NULL, *t = o ? json_object_get(o, "token") : NULL;
		if (json_is_integer(p) && json_integer_value(p) > 0 && json_integer_value(p) < 65536) {
			*port = (int)json_integer_value(p);
			*token = cl_strdup(json_is_string(t) ? json_string_value(t) : "");
			json_decref(o);
			return true;
		}
		json_decref(o);
		line += n + (line[n] == '\n');
	}
	return false;
}

static int find_server(cl_ssh *ssh, int *port, char **token, bool *found)
{
	cl_buf out = CL_BUF_INIT;
	int status = 0, rc = cl_ssh_exec(ssh, JUPYTER_LIST, NULL, 0, 30000, &out, NULL, &status);

	*found = false;
	if (rc == 0 && status == 127)
		rc = cl_error_set(CL_EFAIL, "there is no Jupyter on this VM: install it in the "
					    "template (lab file: \"customize\": {\"pip\": [\"notebook\"]})");
	if (rc == 0)
		*found = parse_list(cl_buf_str(&out), port, token);
	cl_buf_free(&out);
	return rc;
}

int cmd_jupyter(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	const char *local_s = cli_opt_get(ctx, "local-port");
	uint64_t local = 8888;
	cl_access a = {0};
	cl_ssh *ssh = NULL;
	char *token = NULL;
	int port = 0, rc;
	bool found = false;

	(void)argc, (void)res;
	if (local_s && (rc = cl_parse_u64("--local-port", local_s, 65535, &local)))
		return rc;
	if ((rc = cl_access_get(ctx->st, ctx->data_dir, argv[0], argv[1], &a)) ||
	    (rc = cli_access_connect(ctx, &a, &ssh)) ||
	    (rc = find_server(ssh, &port, &token, &found)))
		goto out;
	if (!found) {
		cli_note(ctx, "starting Jupyter on %s (log: ~/.classlab-jupyter.log there)\n", a.vm);
		int status = 0;
		cl_buf pid = CL_BUF_INIT;
		if ((rc = cl_ssh_exec(ssh, JUPYTER_START, NULL, 0, 30000, &pid, NULL, &status)))
			goto out;
		pid.len = strspn(cl_buf_str(&pid), "0123456789");
		char *alive = cl_aprintf("kill -0 %.*s 2>/dev/null || { tail -n 5 "
					 "\"$HOME/.classlab-jupyter.log\"; exit 1; }",
					 (int)pid.len, cl_buf_str(&pid));
		cl_buf_free(&pid);
		for (int i = 0; i < 120 && !found && rc == 0; i++) { /* up to a minute */
			struct timespec ts = {0, 500 * 1000 * 1000};
			cl_buf log = CL_BUF_INIT;
			nanosleep(&ts, NULL);
			rc = find_server(ssh, &port, &token, &found);
			if (rc == 0 && !found &&
			    (rc = cl_ssh_exec(ssh, alive, NULL, 0, 10000, &log, NULL, &status)) == 0 &&
			    status != 0)
				rc = cl_error_set(CL_EFAIL, "Jupyter exited on %s: %s", a.vm,
						  cl_buf_str(&log));
			cl_buf_free(&log);
		}
		free(alive);
		if (rc)
			goto out;
		if (!found) {
			rc = cl_error_set(CL_EFAIL, "Jupyter did not start on %s within 60 s: see "
						    "~/.classlab-jupyter.log there",
					  a.vm);
			goto out;
		}
	}
	rc = cli_tunnel_serve(ctx, &a, ssh, "127.0.0.1", (int)local, port, token);
out:
	free(token);
	cl_ssh_free(ssh);
	cl_access_clear(&a);
	return rc;
}
