/* The GPU verdict end to end: recorded tool outputs under tests/data/gpu/<case>/
 * are replayed through cl_gpu_collect's exec callback, judged, and the report
 * (a line a check, then the verdict) compared with <case>/expected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classlab/cl_gpu.h"
#include "tap.h"
#include "classlab/banned.h"

typedef struct replay {
	char *dir;
	cl_buf log; /* the commands run, one a line */
} replay;

/* The report as the fixtures hold it: status, id, reason and, after a failure, the advice. */
static char *report_lines(const cl_gpu_report *r)
{
	cl_buf b = CL_BUF_INIT;
	int w = 0;

	for (size_t i = 0; i < r->nchecks; i++)
		if ((int)strlen(r->checks[i].id) > w)
			w = (int)strlen(r->checks[i].id);
	for (const cl_gpu_check *c = r->checks; c < r->checks + r->nchecks; c++) {
		bool advise = c->status == CL_GPU_FAIL && c->advice;
		cl_buf_printf(&b, "%-7s %-*s  %s%s%s\n", cl_gpu_check_status_name(c->status), w, c->id,
			      c->reason, advise ? " \u2014 do: " : "", advise ? c->advice : "");
	}
	cl_buf_printf(&b, "GPU check %s\n", r->pass ? "passed" : "FAILED");
	return cl_buf_detach(&b);
}

static bool read_opt(const char *dir, const char *key, const char *ext, cl_buf *out)
{
	char *path = cl_aprintf("%s/%s.%s", dir, key, ext);
	cl_buf b = CL_BUF_INIT;
	bool ok = cl_read_file(path, 1 << 20, &b) == 0;

	if (!ok)
		cl_error_clear();
	else
		cl_buf_add(out, b.data ? b.data : "", b.len);
	cl_buf_free(&b);
	free(path);
	return ok;
}

static int fake_exec(void *ctx, const char *command, int timeout_ms, cl_buf *out, cl_buf *err,
		     int *exit_status)
{
	replay *r = ctx;
	const char *key = NULL;
	cl_buf st = CL_BUF_INIT;

	(void)timeout_ms;
	if (strcmp(command, CL_GPU_SMI_QUERY) == 0)
		key = "smi-query";
	else if (strcmp(command, CL_GPU_SMI_QUERY_NO_CC) == 0)
		key = "smi-query-nocc";
	else if (strcmp(command, "nvidia-smi") == 0)
		key = "smi";
	else if (strstr(command, "nvcc --version"))
		key = "nvcc";
	else if (strcmp(command, CL_GPU_TORCH_PROBE) == 0)
		key = "torch";
	else if (strcmp(command, CL_GPU_TF_PROBE) == 0)
		key = "tf";
	else
		return cl_error_set(CL_EFAIL, "unexpected command '%s'", command);
	cl_buf_printf(&r->log, "%s\n", key);
	bool any = read_opt(r->dir, key, "out", out);
	any = read_opt(r->dir, key, "err", err) || any;
	*exit_status = 0;
	if (read_opt(r->dir, key, "exit", &st))
		*exit_status = atoi(cl_buf_str(&st));
	else if (!any) {
		/* nothing recorded: the tool is not installed */
		const char *tool = strncmp(key, "smi", 3) == 0 ? "nvidia-smi"
				   : strcmp(key, "nvcc") == 0   ? "nvcc"
								: "python3";
		cl_buf_printf(err, "bash: line 1: %s: command not found\n", tool);
		*exit_status = 127;
	}
	cl_buf_free(&st);
	return 0;
}

static void split_list(char *v, const char **items, size_t *n)
{
	*n = 0;
	for (char *p = v; p && *p && *n < 4;) {
		char *c = strchr(p, ',');
		if (c)
			*c = '\0';
		items[(*n)++] = p;
		p = c ? c + 1 : NULL;
	}
}

static void run_case(const char *name, bool write_expected)
{
	replay r = {cl_aprintf("%s/gpu/%s", CL_TEST_DATA, name), CL_BUF_INIT};
	char *path = cl_aprintf("%s/requirements", r.dir);
	cl_buf req_text = CL_BUF_INIT, expected = CL_BUF_INIT;
	cl_gpu_requirements req = {0};
	const char *fws[4];
	char *cuda = NULL, *fwlist = NULL;
	cl_gpu_facts facts;
	cl_gpu_report *report = NULL;

	CHECK_INT(cl_read_file(path, 4096, &req_text), 0);
	for (char *line = req_text.data; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(line, "gpu_required=", 13) == 0)
			req.gpu_required = strcmp(line + 13, "yes") == 0;
		else if (strncmp(line, "cuda=", 5) == 0)
			cuda = cl_strdup(line + 5);
		else if (strncmp(line, "frameworks=", 11) == 0)
			fwlist = cl_strdup(line + 11);
		line = nl ? nl + 1 : NULL;
	}
	req.cuda = cuda;
	split_list(fwlist, fws, &req.nframeworks);
	req.frameworks = fws;

	int rc = cl_gpu_collect(fake_exec, &r, &req, &facts);
	CHECK_INT(rc, 0);
	if (rc < 0)
		printf("# %s: %s\n", name, cl_error_msg());
	CHECK_INT(cl_gpu_judge(&facts, &req, &report), 0);
	char *text = report ? report_lines(report) : cl_strdup("");
	cl_buf_printf(&r.log, "---\n%s", text);

	free(path);
	path = cl_aprintf("%s/expected", r.dir);
	if (write_expected) {
		CHECK_INT(cl_write_file(path, r.log.data, r.log.len, 0644), 0);
	} else {
		CHECK_INT(cl_read_file(path, 1 << 16, &expected), 0);
		if (strcmp(cl_buf_str(&expected), cl_buf_str(&r.log)) != 0)
			printf("# case %s\n", name);
		CHECK_STR(cl_buf_str(&r.log), cl_buf_str(&expected));
	}
	if (report) {
		json_t *j = cl_gpu_report_json(report);
		CHECK(json_is_boolean(json_object_get(j, "pass")));
		CHECK_INT(json_array_size(json_object_get(j, "checks")), report->nchecks);
		json_decref(j);
	}
	free(text);
	cl_gpu_report_free(report);
	cl_gpu_facts_clear(&facts);
	free(path);
	free(cuda);
	free(fwlist);
	cl_buf_free(&expected);
	cl_buf_free(&req_text);
	cl_buf_free(&r.log);
	free(r.dir);
}

static void check_pass(const char *name, bool want)
{
	char *path = cl_aprintf("%s/gpu/%s/expected", CL_TEST_DATA, name);
	cl_buf b = CL_BUF_INIT;

	CHECK_INT(cl_read_file(path, 1 << 16, &b), 0);
	bool passed = strstr(cl_buf_str(&b), "GPU check passed") != NULL;
	if (passed != want)
		printf("# %s: expected overall %s\n", name, want ? "pass" : "fail");
	CHECK(passed == want);
	cl_buf_free(&b);
	free(path);
}

static int failing_exec(void *ctx, const char *command, int timeout_ms, cl_buf *out, cl_buf *err,
			int *exit_status)
{
	(void)ctx, (void)command, (void)timeout_ms, (void)out, (void)err, (void)exit_status;
	return cl_error_set(CL_EUNAVAIL, "ssh connection refused");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		bool pass;
	} cases[] = {
		{"k80-470-cuda12", false},	   {"seed-tf-configured", true},
		{"seed-tf-unconfigured", false}, {"a100-450-cuda12", false},
		{"a100-535-cuda12.2", true},	   {"h100-550-cuda12.4", true},
		{"t4-470-torch-old-driver", false}, {"t4-535-torch-cpu", false},
		{"cpu-lab", true},		   {"no-driver", false},
		{"version-mismatch", false},	   {"version-mismatch-old", false},
		{"no-devices", false},		   {"not-installed", false},
	};
	bool write = argc > 1 && strcmp(argv[1], "--write-expected") == 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_case(cases[i].name, write);
		if (!write)
			check_pass(cases[i].name, cases[i].pass);
	}

	/* a transport failure is an error, not a verdict */
	cl_gpu_requirements req = {.gpu_required = true};
	cl_gpu_facts f;
	CHECK_INT(cl_gpu_collect(failing_exec, NULL, &req, &f), CL_EUNAVAIL);
	CHECK(strstr(cl_error_msg(), "ssh connection refused") != NULL);
	/* unknown framework */
	const char *bad[] = {"jax"};
	req.frameworks = bad;
	req.nframeworks = 1;
	cl_gpu_report *rep = NULL;
	memset(&f, 0, sizeof(f));
	CHECK_INT(cl_gpu_judge(&f, &req, &rep), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "'jax'") != NULL);
	return tap_done();
}
