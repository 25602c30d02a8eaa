/* classlab up | down | template build/publish | vm list/start/stop */
#include "cli.h"
#include "classlab/cl_cost.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_students.h"
#include "classlab/cl_templates.h"
#include "classlab/cl_up.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_vm_init(cli_ctx *ctx)
{
	const char *t = getenv("CLASSLAB_BOOT_TIMEOUT");
	uint64_t v = 0;
	int rc;

	/* Empty is unset, as for the other variables; junk is a usage error, never 0. */
	if (t && *t && (rc = cl_parse_u64("CLASSLAB_BOOT_TIMEOUT", t, 86400, &v)))
		return rc;
	cl_ctx_set_boot_timeout(ctx->cl, (int)v);
#ifdef CLASSLAB_TEST_HOOKS
	/* Crash-safety tests only; tests/cli/students_remove.sh looks for the name. */
	cl_killpoint_arm(getenv("CLASSLAB_KILL_AT"));
#endif
	/* Checked here, so a bad one is refused before any hypervisor is opened. */
	if ((rc = cl_host_set_accel(ctx->cl, "CLASSLAB_ACCEL", getenv("CLASSLAB_ACCEL"))))
		return rc;
	/* libvirt logs warnings (e.g. "tainted: custom-argv") itself: keep them in a file. */
	if (!getenv("LIBVIRT_LOG_OUTPUTS") && cl_mkdir_p(ctx->data_dir, 0700) == 0) {
		char *outputs = cl_aprintf("3:file:%s/libvirt.log", ctx->data_dir);
		setenv("LIBVIRT_LOG_OUTPUTS", outputs, 0);
		free(outputs);
	}
	return 0;
}

/*
 * Forwards bound beyond loopback are said out loud, each time classlab binds them
 * (up, template build and publish, vm start), even with -q: the lab file opted in,
 * but the next reader of the terminal may not know.
 */
static void warn_listen(cli_ctx *ctx, const char *lab, const char *listen)
{
	if (!listen || cl_listen_is_loopback(listen))
		return;
	cli_warn(ctx,
		 "classlab: warning: lab '%s' binds its VMs' SSH and Jupyter forwards to %s%s, "
		 "reachable from other machines (\"listen_public\" in its lab file)\n",
		 lab, listen, strcmp(listen, "0.0.0.0") == 0 ? " (every interface)" : "");
}

static void warn_lab_listen(cli_ctx *ctx, const char *labname)
{
	cl_lab lab = {0};
	if (cl_labs_get(ctx->cl, labname, &lab) == 0)
		warn_listen(ctx, lab.name, lab.listen);
	cl_error_clear();
	cl_lab_clear(&lab);
}

/*
 * The table form of lab_access's data: where the forwards listen when that is
 * beyond loopback, each student's ssh command, then the estimate's breakdown.
 */
static char *lab_access_text(const json_t *o)
{
	const char *listen = json_string_value(json_object_get(o, "listen"));
	const json_t *est = json_object_get(o, "estimate"), *st;
	const char *unavailable = json_string_value(json_object_get(est, "unavailable"));
	cl_buf text = CL_BUF_INIT;
	size_t i;

	if (!cl_listen_is_loopback(listen))
		cl_buf_printf(&text, "listening    %s%s\n", listen,
			      strcmp(listen, "0.0.0.0") == 0 ? " (every interface)" : "");
	json_array_foreach(json_object_get(o, "students"), i, st)
		cl_buf_printf(&text, "%-12s %s\n", json_string_value(json_object_get(st, "student")),
			      json_string_value(json_object_get(st, "ssh")));
	if (unavailable) {
		cl_buf_printf(&text, "estimate     unavailable (%s)\n", unavailable);
	} else {
		char *line = cli_estimate_breakdown(est);
		cl_buf_printf(&text, "estimate     %s\n", line);
		free(line);
	}
	return cl_buf_detach(&text);
}

/* Every student's connection line, then the estimate: what `up` and publish print. */
static int lab_access(cli_ctx *ctx, const char *lab, cli_result *res)
{
	cl_lab l = {0};
	cl_student *s = NULL;
	cl_lab_estimate est = {0};
	size_t n = 0;
	json_t *arr = json_array(), *o;
	int rc;

	if ((rc = cl_students_list(ctx->cl, lab, &l, &s, &n)) ||
	    (rc = cl_cost_lab_estimate(ctx->cl, lab, &est)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		cl_access a = {0};
		if (cl_access_get(ctx->cl, lab, s[i].name, &a) != 0)
			continue;
		char *cmd = cl_access_ssh_command(&a, 0, 0);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "student",
						     s[i].name, "vm", a.vm, "host", a.host, "port",
						     a.port, "user", a.user, "ssh", cmd));
		free(cmd);
		cl_access_clear(&a);
	}
	o = json_object();
	json_object_set_new(o, "lab", json_string(lab));
	json_object_set_new(o, "listen", json_string(l.listen));
	json_object_set_new(o, "students", arr);
	arr = NULL;
	json_object_set_new(o, "estimate", cli_lab_estimate_json(&est));
	res->data = o;
	res->view = VIEW_TEXT;
	res->text = lab_access_text;
out:
	json_decref(arr);
	cl_lab_estimate_clear(&est);
	cl_student_list_free(s, n);
	cl_lab_clear(&l);
	return rc;
}

int cmd_up(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	cl_publish_opts po = {.start = !cli_flag(ctx, "no-start"),
			      .recreate_ok = cli_flag(ctx, "yes"),
			      .force = cli_flag(ctx, "force")};
	bool publish = !cli_flag(ctx, "no-publish");
	cl_labfile lf = {0};
	int rc;

	(void)argc;
	if ((rc = cl_labfile_parse(argv[0], &lf)))
		return rc;
	warn_listen(ctx, lf.lab.name, lf.lab.listen);
	if ((rc = cli_vm_init(ctx)) == 0)
		rc = cl_up(ctx->cl, &lf, publish, &po);
	cl_ctx_disconnect(ctx->cl);
	if (rc == 0)
		rc = lab_access(ctx, lf.lab.name, res);
	cl_labfile_clear(&lf);
	return rc;
}

int cmd_down(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	int rc;

	(void)argc, (void)res;
	if (!cli_flag(ctx, "yes"))
		return cli_usage_error(ctx, "taking lab '%s' down deletes its VMs and disks: add --yes",
				       argv[0]);
	if ((rc = cli_vm_init(ctx)) == 0)
		rc = cl_lab_down(ctx->cl, argv[0], cli_flag(ctx, "keep-images"));
	cl_ctx_disconnect(ctx->cl);
	return rc;
}

/*
 * lab unlock: the way out of a lock whose holder is gone (a lock is otherwise taken
 * over by the next command; this names it and clears it by hand). Refused, exit 4,
 * while the holder runs.
 */
int cmd_lab_unlock(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	char *holder = NULL;
	bool held = false;
	int rc;

	(void)argc, (void)res;
	if ((rc = cl_labs_unlock(ctx->cl, argv[0], &held, &holder)))
		goto out;
	if (held)
		cli_note(ctx, "released lab '%s': its lock was left by a process that is gone (%s)\n",
			 argv[0], holder);
	else
		cli_note(ctx, "lab '%s' was not locked\n", argv[0]);
out:
	free(holder);
	return rc;
}

int cmd_template_build(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	int rc;

	(void)argc, (void)res;
	warn_lab_listen(ctx, argv[0]);
	if ((rc = cli_vm_init(ctx)) == 0)
		rc = cl_template_build(ctx->cl, argv[0]);
	cl_ctx_disconnect(ctx->cl);
	return rc;
}

int cmd_template_publish(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	cl_publish_opts po = {.start = !cli_flag(ctx, "no-start"),
			      .recreate_ok = cli_flag(ctx, "yes"),
			      .force = cli_flag(ctx, "force")};
	int rc;

	(void)argc;
	warn_lab_listen(ctx, argv[0]);
	if ((rc = cli_vm_init(ctx)) == 0)
		rc = cl_template_publish(ctx->cl, argv[0], &po);
	cl_ctx_disconnect(ctx->cl);
	if (rc == 0)
		rc = lab_access(ctx, argv[0], res);
	return rc;
}

int cmd_vm_list(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	static const cli_col cols[] = {
		{"name", "NAME"}, {"student", "STUDENT"}, {"state", "STATE"},
		{"ssh_port", "SSH-PORT"}, {"host", "HOST"},
	};
	cl_vm_status *v = NULL;
	size_t n = 0;
	int rc;

	(void)argc;
	if ((rc = cli_vm_init(ctx)) == 0)
		rc = cl_vm_status_list(ctx->cl, argv[0], &v, &n);
	cl_ctx_disconnect(ctx->cl);
	if (rc)
		return rc;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			arr, json_pack("{s:s, s:o, s:s, s:s, s:i, s:s}", "name", v[i].name, "student",
				       v[i].student ? json_string(v[i].student) : json_null(), "kind",
				       v[i].kind, "state", v[i].state, "ssh_port", v[i].ssh_port,
				       "host", v[i].host));
	cl_vm_status_free(v, n);
	CLI_ROWS(res, arr, cols);
	return 0;
}

static int vm_power(cli_ctx *ctx, int argc, char **argv, bool start)
{
	bool all = cli_flag(ctx, "all");
	int rc;

	if (all == (argc == 2))
		return cli_usage_error(ctx, "give a STUDENT or --all");
	if (start)
		warn_lab_listen(ctx, argv[0]);
	if ((rc = cli_vm_init(ctx)))
		return rc;
	const char *student = all ? NULL : argv[1];
	rc = start ? cl_vm_start(ctx->cl, argv[0], student) : cl_vm_stop(ctx->cl, argv[0], student);
	cl_ctx_disconnect(ctx->cl);
	return rc;
}

int cmd_vm_start(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	(void)res;
	return vm_power(ctx, argc, argv, true);
}

int cmd_vm_stop(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	(void)res;
	return vm_power(ctx, argc, argv, false);
}
