/* classlab students add/import/list/remove | quota set | schedule add/list */
#include "cli.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_students.h"
#include "classlab/cl_templates.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a public key file: one line, trailing newline dropped. */
static int read_key_file(const char *path, char **key)
{
	cl_buf b = CL_BUF_INIT;
	int rc = cl_read_file(path, 16384, &b);

	if (rc) {
		cl_buf_free(&b);
		return rc;
	}
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.data[--b.len] = '\0';
	*key = cl_buf_detach(&b);
	return 0;
}

int cmd_students_add(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	cl_student s = {.quota_seconds = CL_QUOTA_DEFAULT};
	const char *quota = cli_opt_get(ctx, "quota-hours"),
		   *keyfile = cli_opt_get(ctx, "ssh-public-key");
	char *key = NULL;
	int rc;

	(void)argc, (void)res;
	s.email = cli_opt_get(ctx, "email");
	s.name = argv[1];
	if (quota && (rc = cl_parse_hours("--quota-hours", quota, &s.quota_seconds)))
		return rc;
	if (keyfile && (rc = read_key_file(keyfile, &key)))
		return rc;
	s.ssh_public_key = key;
	rc = cl_students_add(ctx->cl, argv[0], &s);
	if (rc == 0)
		cli_note(ctx, "added student '%s' to lab '%s'\n", s.name, argv[0]);
	free(key);
	return rc;
}

static char *import_text(const json_t *o)
{
	json_int_t n = json_integer_value(json_object_get(o, "imported"));
	return cl_aprintf("imported %lld student%s into lab '%s'\n", (long long)n, n == 1 ? "" : "s",
			  json_string_value(json_object_get(o, "lab")));
}

int cmd_students_import(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	cl_buf data = CL_BUF_INIT, errors = CL_BUF_INIT;
	cl_roster_row *rows = NULL;
	size_t n = 0;
	int rc;

	(void)argc;
	if ((rc = cl_name_check("lab name", argv[0])))
		return rc;
	if ((rc = cl_read_file(argv[1], CL_ROSTER_MAX_BYTES, &data)))
		goto out;
	rc = cl_roster_parse(data.data, data.len, &rows, &n, &errors);
	if (rc == 0)
		rc = cl_students_import(ctx->cl, argv[0], rows, n, &errors);
	/* Every bad row in the contract's form, then the summary that main prints. */
	for (const char *p = cl_buf_str(&errors); *p;) {
		size_t len = strcspn(p, "\n");
		cli_warn(ctx, "classlab: students import: %s: %.*s\n", argv[1], (int)len, p);
		p += len + (p[len] == '\n');
	}
	if (rc == 0) {
		res->data = json_pack("{s:s, s:I}", "lab", argv[0], "imported", (json_int_t)n);
		res->view = VIEW_TEXT;
		res->text = import_text;
	}
out:
	cl_roster_free(rows, n);
	cl_buf_free(&data);
	cl_buf_free(&errors);
	return rc;
}

int cmd_students_list(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	static const cli_col cols[] = {
		{"name", "NAME"}, {"email", "EMAIL"}, {"quota_hours", "QUOTA-HOURS"}, {"key", "KEY"},
	};
	cl_lab lab = {0};
	cl_student *s = NULL;
	size_t n = 0;
	int rc;

	(void)argc;
	if ((rc = cl_students_list(ctx->cl, argv[0], &lab, &s, &n)))
		goto out;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		bool own = s[i].quota_seconds != CL_QUOTA_DEFAULT;
		json_object_set_new(o, "name", json_string(s[i].name));
		json_object_set_new(o, "email", s[i].email ? json_string(s[i].email) : json_null());
		json_object_set_new(o, "quota_hours",
				    cli_hours_json(own ? s[i].quota_seconds : lab.quota_seconds));
		json_object_set_new(o, "quota_override", json_boolean(own));
		json_object_set_new(o, "key", json_string(s[i].ssh_public_key ? "supplied"
									       : "generated"));
		json_array_append_new(arr, o);
	}
	CLI_ROWS(res, arr, cols);
out:
	cl_student_list_free(s, n);
	cl_lab_clear(&lab);
	return rc;
}

#ifndef CL_CLI_FRONT
/* Runs in classlab-vm: the student's VM is stopped and deleted where the hypervisor is. */
int cmd_students_remove(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	int rc;

	(void)argc, (void)res;
	if (cli_flag(ctx, "keep-vm"))
		return cli_usage_error(ctx,
				       "--keep-vm is not supported: removing a student deletes "
				       "their VM and disk so that their key no longer works; "
				       "copy what you need off the VM first");
	if ((rc = cli_vm_init(ctx)))
		return rc;
	rc = cl_student_revoke(ctx->cl, argv[0], argv[1]);
	cl_ctx_disconnect(ctx->cl);
	if (rc == 0)
		cli_note(ctx, "removed student '%s' from lab '%s' (VM, disk and keys deleted)\n",
			 argv[1], argv[0]);
	return rc;
}
#endif

int cmd_quota_set(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	const char *student = NULL, *hours;
	int64_t seconds = CL_QUOTA_DEFAULT;
	int rc;

	(void)ctx, (void)res;
	if (argc == 3)
		student = argv[1];
	hours = argv[argc - 1];
	if (!(student && strcmp(hours, "default") == 0) &&
	    (rc = cl_parse_hours("quota hours", hours, &seconds)))
		return rc;
	return cl_quota_set(ctx->cl, argv[0], student, seconds);
}

int cmd_schedule_add(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	const char *start = cli_opt_get(ctx, "start"), *end = cli_opt_get(ctx, "end"),
		   *until = cli_opt_get(ctx, "weekly-until");
	cl_schedule s = {0};
	int rc;

	(void)argc, (void)res;
	if (!start || !end)
		return cli_usage_error(ctx, "--start and --end are required");
	if ((rc = cl_parse_time("--start", start, &s.start)) ||
	    (rc = cl_parse_time("--end", end, &s.end)))
		return rc;
	if (until) {
		if ((rc = cl_parse_time("--weekly-until", until, &s.weekly_until)))
			return rc;
		if (strlen(until) == 10) /* a date: the whole day counts */
			s.weekly_until += 24 * 3600;
	}
	return cl_schedule_add(ctx->cl, argv[0], &s);
}

int cmd_schedule_list(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	static const cli_col cols[] = {
		{"start", "START"}, {"end", "END"}, {"hours", "HOURS"}, {"weekly_until", "WEEKLY-UNTIL"},
	};
	cl_schedule *ev = NULL;
	size_t n = 0;
	int rc;

	(void)argc;
	if ((rc = cl_schedule_list(ctx->cl, argv[0], &ev, &n)))
		goto out;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char *a = cl_format_time(ev[i].start), *b = cl_format_time(ev[i].end);
		json_t *o = json_object();
		json_object_set_new(o, "start", json_string(a));
		json_object_set_new(o, "end", json_string(b));
		json_object_set_new(o, "hours", cli_hours_json(ev[i].end - ev[i].start));
		free(a);
		free(b);
		if (ev[i].weekly_until) {
			char *w = cl_format_time(ev[i].weekly_until);
			json_object_set_new(o, "weekly_until", json_string(w));
			free(w);
		} else {
			json_object_set_new(o, "weekly_until", json_null());
		}
		json_array_append_new(arr, o);
	}
	CLI_ROWS(res, arr, cols);
out:
	free(ev);
	return rc;
}
