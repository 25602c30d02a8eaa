/* Jupyter on a VM: find the notebook server a student runs, or start one, over SSH. */
#include "classlab/cl_tunnel.h"
#include "classlab/banned.h"

#include <jansson.h>
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

void cl_jupyter_clear(cl_jupyter *j)
{
	if (!j)
		return;
	free(j->token);
	memset(j, 0, sizeof(*j));
}

/* The first server with a port: its port and token. */
static bool parse_list(const char *out, cl_jupyter *j)
{
	for (const char *line = out; *line;) {
		size_t n = strcspn(line, "\n");
		json_error_t err;
		json_t *o = json_loadb(line, n, 0, &err);
		json_t *p = o ? json_object_get(o, "port") : NULL, *t = o ? json_object_get(o, "token") : NULL;
		if (json_is_integer(p) && json_integer_value(p) > 0 && json_integer_value(p) < 65536) {
			free(j->token);
			j->port = (int)json_integer_value(p);
			j->token = cl_strdup(json_is_string(t) ? json_string_value(t) : "");
			json_decref(o);
			return true;
		}
		json_decref(o);
		line += n + (line[n] == '\n');
	}
	return false;
}

static int find_server(cl_ssh *ssh, cl_jupyter *j, bool *found)
{
	cl_buf out = CL_BUF_INIT;
	/* Two Python starts on the VM: seconds each under emulation. */
	int status = 0, rc = cl_ssh_exec(ssh, JUPYTER_LIST, NULL, 0, 120000, &out, NULL, &status);

	*found = false;
	if (rc == 0 && status == 127)
		rc = cl_error_set(CL_EFAIL, "there is no Jupyter on this VM: install it in the "
					    "template (lab file: \"customize\": {\"pip\": [\"notebook\"]})");
	if (rc == 0)
		*found = parse_list(cl_buf_str(&out), j);
	cl_buf_free(&out);
	return rc;
}

/* Starts a server and polls for it (up to a minute) while its process lives. */
static int start_server(cl_ssh *ssh, const char *vm, cl_jupyter *j)
{
	cl_buf pid = CL_BUF_INIT;
	char *alive = NULL;
	bool found = false;
	int status = 0, rc;

	if ((rc = cl_ssh_exec(ssh, JUPYTER_START, NULL, 0, 30000, &pid, NULL, &status)))
		goto out;
	pid.len = strspn(cl_buf_str(&pid), "0123456789");
	alive = cl_aprintf("kill -0 %.*s 2>/dev/null || { tail -n 5 "
			   "\"$HOME/.classlab-jupyter.log\"; exit 1; }",
			   (int)pid.len, cl_buf_str(&pid));
	for (int i = 0; i < 120 && !found && rc == 0; i++) {
		struct timespec ts = {0, 500 * 1000 * 1000};
		cl_buf log = CL_BUF_INIT;
		nanosleep(&ts, NULL);
		rc = find_server(ssh, j, &found);
		if (rc == 0 && !found &&
		    (rc = cl_ssh_exec(ssh, alive, NULL, 0, 10000, &log, NULL, &status)) == 0 &&
		    status != 0)
			rc = cl_error_set(CL_EFAIL, "Jupyter exited on %s: %s", vm, cl_buf_str(&log));
		cl_buf_free(&log);
	}
	if (rc == 0 && !found)
		rc = cl_error_set(CL_EFAIL, "Jupyter did not start on %s within 60 s: see "
					    "~/.classlab-jupyter.log there",
				  vm);
out:
	free(alive);
	cl_buf_free(&pid);
	return rc;
}

int cl_jupyter_find(cl_ssh *ssh, cl_jupyter *out, bool *found)
{
	int rc;

	memset(out, 0, sizeof(*out));
	*found = false;
	rc = find_server(ssh, out, found);
	if (rc == CL_EFAIL && !*found) { /* no jupyter on the VM: nothing runs */
		cl_error_clear();
		rc = 0;
	}
	if (rc || !*found)
		cl_jupyter_clear(out);
	return rc;
}

int cl_jupyter_find_or_start(cl_ssh *ssh, const char *vm, void (*progress)(void *ctx, const char *msg),
			     void *progress_ctx, cl_jupyter *out)
{
	bool found = false;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = find_server(ssh, out, &found)) || found)
		goto out;
	if (progress) {
		char *msg = cl_aprintf("starting Jupyter on %s (log: ~/.classlab-jupyter.log there)", vm);
		progress(progress_ctx, msg);
		free(msg);
	}
	out->started = true;
	rc = start_server(ssh, vm, out);
out:
	if (rc)
		cl_jupyter_clear(out);
	return rc;
}
