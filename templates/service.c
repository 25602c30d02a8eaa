/* What the service asks of a VM: quota at its door, a message on its terminals, Jupyter activity. */
#include "templates_impl.h"
#include "classlab/cl_cost.h"
#include "classlab/cl_meter.h"
#include "classlab/banned.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The student of a student VM "<lab>-<student>" (borrowed), or NULL. */
static const char *vm_student(const cl_lab *lab, const cl_vm *vm)
{
	size_t n = strlen(lab->name);
	if (vm->kind != CL_VM_KIND_STUDENT || strncmp(vm->name, lab->name, n) != 0 || vm->name[n] != '-')
		return NULL;
	return vm->name + n + 1;
}

int tp_quota_allows_start(cl_ctx *ctx, const cl_lab *lab, const cl_vm *vm)
{
	const char *student = vm_student(lab, vm);
	cl_lab_service svc = {0};
	cl_schedule *ev = NULL;
	cl_quota_alert *alerts = NULL;
	size_t nev = 0, n = 0;
	int64_t now = cl_ctx_now(ctx), ws, we;
	int rc;

	if (!student)
		return 0;
	if ((rc = cl_meter_lab_settings(ctx, lab->name, &svc)) ||
	    (rc = cl_store_schedule_list(ctx->st, lab->id, &ev, &nev)))
		goto out;
	/* In class (the lead time counts) the quota does not apply. */
	if (cl_schedule_window_at(ev, nev, now, svc.lead_minutes * 60, &ws, &we))
		goto out;
	if ((rc = cl_meter_quota_check(ctx, lab->name, now, &alerts, &n)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(alerts[i].student, student) != 0 || alerts[i].level != CL_QUOTA_STOP)
			continue;
		char *used = cl_format_hours(alerts[i].used_seconds);
		char *quota = cl_format_hours(alerts[i].quota_seconds);
		rc = cl_error_set(CL_EEXIST,
				  "'%s' has used their quota outside class (%s of %s hours): the VM "
				  "starts in class, or after the instructor raises the quota "
				  "(quota set) or exempts them (quota exempt)",
				  student, used, quota);
		free(used);
		free(quota);
		break;
	}
out:
	cl_quota_alert_list_free(alerts, n);
	free(ev);
	return rc;
}

/* Runs cmd on the student's VM as classlab (the lab's user); *out gets its stdout. */
static int student_exec(cl_ctx *ctx, const char *labname, const char *student, const char *cmd,
			int timeout_ms, cl_buf *out)
{
	cl_lab lab = {0};
	cl_vm vm = {0};
	cl_buf err = CL_BUF_INIT;
	char *name = NULL;
	int status = 0, rc;

	if ((rc = cl_name_check("lab name", labname)) || (rc = cl_name_check("student name", student)))
		return rc;
	name = cl_vm_name(labname, student);
	if ((rc = cl_store_lab_get(ctx->st, labname, &lab)) ||
	    (rc = cl_store_vm_get(ctx->st, name, &vm)) || (rc = cl_template_connect(ctx, &lab, false)))
		goto out;
	rc = tp_admin_exec(ctx, &lab, &vm, cmd, timeout_ms, out, &err, &status);
	if (rc == 0 && status != 0)
		rc = cl_error_set(CL_EFAIL, "a command on %s exited %d: %s", name, status, cl_buf_str(&err));
out:
	cl_buf_free(&err);
	cl_vm_clear(&vm);
	cl_lab_clear(&lab);
	free(name);
	return rc;
}

int cl_vm_message(cl_ctx *ctx, const char *labname, const char *student, const char *text)
{
	cl_buf cmd = CL_BUF_INIT, out = CL_BUF_INIT;
	int rc = cl_text_check("message", text, 1024);

	if (rc)
		return rc;
	/*
	 * The text in single quotes, each ' closed, escaped and reopened: no shell reads it.
	 * Where the image has no wall (busybox), the same text goes to each terminal of the
	 * user classlab logs in as, which is the student's.
	 */
	cl_buf_puts(&cmd, "m='");
	for (const char *p = text; *p; p++) {
		if (*p == '\'')
			cl_buf_puts(&cmd, "'\\''");
		else
			cl_buf_putc(&cmd, *p);
	}
	cl_buf_puts(&cmd, "'; if command -v wall >/dev/null 2>&1; then printf '%s\\n' \"$m\" | wall; "
			  "else for t in /dev/pts/[0-9]*; do [ -w \"$t\" ] && "
			  "printf '\\r\\n%s\\r\\n' \"$m\" >\"$t\"; done; true; fi");
	rc = student_exec(ctx, labname, student, cl_buf_str(&cmd), 20000, &out);
	cl_buf_free(&cmd);
	cl_buf_free(&out);
	return rc;
}

/*
 * The newest last_activity of the student's Jupyter servers (Jupyter Server, or the
 * classic Notebook 6 that Debian 12 ships: `jupyter notebook list`), as the servers' own
 * /api/status says (kernels running count as activity), read on the VM as its user.
 * No python3, no jupyter or no server: 0, not an error.
 */
static const char jupyter_activity_py[] =
	"import json,subprocess,urllib.request,datetime\n"
	"best=0\n"
	"out=\"\"\n"
	"for app in (\"server\",\"notebook\"):\n"
	"    try:\n"
	"        out+=subprocess.run([\"jupyter\",app,\"list\",\"--json\"],capture_output=True,"
	"text=True,timeout=20).stdout\n"
	"    except Exception:\n"
	"        pass\n"
	"for line in out.splitlines():\n"
	"    try:\n"
	"        s=json.loads(line)\n"
	"        url=s[\"url\"].rstrip(\"/\")+\"/api/status?token=\"+s.get(\"token\",\"\")\n"
	"        t=json.load(urllib.request.urlopen(url,timeout=5))[\"last_activity\"]\n"
	"        t=datetime.datetime.fromisoformat(t.replace(\"Z\",\"+00:00\")).timestamp()\n"
	"        best=max(best,int(t))\n"
	"    except Exception:\n"
	"        pass\n"
	"print(best)\n";

int cl_vm_jupyter_activity(cl_ctx *ctx, const char *labname, const char *student, int64_t *last)
{
	cl_buf cmd = CL_BUF_INIT, out = CL_BUF_INIT;
	long long t = 0;
	int rc;

	*last = 0;
	/* classlab logs in as the lab's user, whose Jupyter it asks; the script has no '. */
	cl_buf_printf(&cmd, "command -v python3 >/dev/null 2>&1 || { echo 0; exit 0; }; "
			    "python3 -c '%s' 2>/dev/null || echo 0",
		      jupyter_activity_py);
	rc = student_exec(ctx, labname, student, cl_buf_str(&cmd), 60000, &out);
	if (rc == 0 && sscanf(cl_buf_str(&out), "%lld", &t) == 1 && t > 0)
		*last = (int64_t)t;
	cl_buf_free(&cmd);
	cl_buf_free(&out);
	return rc;
}
