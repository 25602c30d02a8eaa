/* classlab usage report | lab set | quota exempt: metering's commands (cl_meter.h) */
#include "cli.h"
#include "classlab/cl_meter.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *json_cell(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (json_is_string(v))
		return cl_strdup(json_string_value(v));
	if (json_is_integer(v))
		return cl_aprintf("%lld", (long long)json_integer_value(v));
	return cl_strdup("-");
}

/* rows (an array of objects) as an aligned table of cols, header first. */
static void table_print(cl_buf *b, const json_t *rows, const cli_col *cols, size_t ncols)
{
	size_t nrows = json_array_size(rows) + 1, *w = cl_calloc(ncols, sizeof(size_t));
	char **cells = cl_calloc(nrows * ncols, sizeof(char *));

	for (size_t r = 0; r < nrows; r++)
		for (size_t c = 0; c < ncols; c++) {
			char *v = r == 0 ? cl_strdup(cols[c].header)
					 : json_cell(json_array_get(rows, r - 1), cols[c].key);
			cells[r * ncols + c] = v;
			w[c] = strlen(v) > w[c] ? strlen(v) : w[c];
		}
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c + 1 < ncols; c++)
			cl_buf_printf(b, "%-*s  ", (int)w[c], cells[r * ncols + c]);
		cl_buf_printf(b, "%s\n", cells[r * ncols + ncols - 1]);
	}
	for (size_t i = 0; i < nrows * ncols; i++)
		free(cells[i]);
	free(cells);
	free(w);
}

/* The table form: one row per student, one per lab, the totals and the uncertainty. */
static char *report_text(const json_t *data)
{
	static const cli_col scols[] = {
		{"lab", "LAB"},		     {"student", "STUDENT"},  {"class_hours", "CLASS-H"},
		{"own_hours", "OWN-H"},	     {"quota_left_hours", "QUOTA-LEFT-H"},
		{"quota_use", "QUOTA-USE"}, {"lab_unit_hours", "UNIT-H"}, {"money", "USED"},
	};
	static const cli_col lcols[] = {
		{"lab", "LAB"},	      {"class_hours", "CLASS-H"}, {"own_hours", "OWN-H"},
		{"actual", "ACTUAL"}, {"estimate", "ESTIMATE"},
	};
	cl_buf b = CL_BUF_INIT;
	json_t *labs = json_object_get(data, "labs");

	if (json_array_size(labs) == 0)
		return cl_strdup("no labs\n");
	table_print(&b, json_object_get(data, "students"), scols, sizeof(scols) / sizeof(scols[0]));
	cl_buf_putc(&b, '\n');
	table_print(&b, labs, lcols, sizeof(lcols) / sizeof(lcols[0]));
	char *actual = json_cell(data, "actual"), *est = json_cell(data, "estimate");
	cl_buf_printf(&b, "\nactual %s of an estimated %s for the whole term\n", actual, est);
	free(actual);
	free(est);
	cl_buf_printf(&b, "%s\n", json_string_value(json_object_get(data, "uncertainty")));
	return cl_buf_detach(&b);
}

static json_t *money_json(int64_t cents)
{
	char *s = cl_format_cents(cents);
	json_t *v = json_string(s);
	free(s);
	return v;
}

static json_t *time_json(int64_t t)
{
	char *s = cl_format_time(t);
	json_t *v = json_string(s);
	free(s);
	return v;
}

static json_t *report_json(const cl_usage *r, bool from_given)
{
	json_t *o = json_object(), *students = json_array(), *labs = json_array();

	json_object_set_new(o, "from", from_given ? time_json(r->from) : json_null());
	json_object_set_new(o, "to", time_json(r->to));
	for (size_t i = 0; i < r->nstudents; i++) {
		const cl_usage_student *s = &r->students[i];
		json_t *j = json_object();
		json_object_set_new(j, "lab", json_string(s->lab));
		json_object_set_new(j, "student", json_string(s->student));
		json_object_set_new(j, "class_hours", cli_hours_json(s->class_seconds));
		json_object_set_new(j, "own_hours", cli_hours_json(s->own_seconds));
		json_object_set_new(j, "quota_hours", cli_hours_json(s->quota_seconds));
		json_object_set_new(j, "quota_used_hours", cli_hours_json(s->quota_used_seconds));
		json_object_set_new(j, "quota_left_hours", cli_hours_json(s->quota_left_seconds));
		json_object_set_new(j, "quota_percent", json_integer(s->quota_percent));
		json_object_set_new(j, "exempt", json_boolean(s->exempt));
		char *use = s->exempt ? cl_strdup("exempt")
				      : cl_aprintf("%lld%%", (long long)s->quota_percent);
		json_object_set_new(j, "quota_use", json_string(use));
		free(use);
		json_object_set_new(j, "removed", json_boolean(s->removed));
		json_object_set_new(j, "running", json_boolean(s->running));
		json_object_set_new(j, "lab_unit_hours", cli_hours_json(s->lab_unit_seconds));
		json_object_set_new(j, "cents", json_integer(s->cents));
		json_object_set_new(j, "money", money_json(s->cents));
		json_object_set_new(j, "uncertain_seconds", json_integer(s->uncertain_seconds));
		json_array_append_new(students, j);
	}
	for (size_t i = 0; i < r->nlabs; i++) {
		const cl_usage_lab *l = &r->labs[i];
		json_t *j = json_object();
		char *price = cl_format_decimal((uint64_t)l->price_micro, 6, 2);
		json_object_set_new(j, "lab", json_string(l->lab));
		json_object_set_new(j, "class_hours", cli_hours_json(l->class_seconds));
		json_object_set_new(j, "own_hours", cli_hours_json(l->own_seconds));
		json_object_set_new(j, "lab_units", json_integer(l->lab_units));
		json_object_set_new(j, "price_per_unit_hour", json_string(price));
		json_object_set_new(j, "lab_unit_hours", cli_hours_json(l->lab_unit_seconds));
		json_object_set_new(j, "actual_cents", json_integer(l->actual_cents));
		json_object_set_new(j, "actual", money_json(l->actual_cents));
		json_object_set_new(j, "estimate_cents", l->estimate.unavailable
								 ? json_null()
								 : json_integer(l->estimate.est.total_cents));
		json_object_set_new(j, "estimate", l->estimate.unavailable
							   ? json_string("unavailable")
							   : money_json(l->estimate.est.total_cents));
		json_object_set_new(j, "uncertain_seconds", json_integer(l->uncertain_seconds));
		json_object_set_new(j, "uncertain_intervals", json_integer((json_int_t)l->uncertain_intervals));
		json_array_append_new(labs, j);
		free(price);
	}
	json_object_set_new(o, "students", students);
	json_object_set_new(o, "labs", labs);
	json_object_set_new(o, "actual_cents", json_integer(r->actual_cents));
	json_object_set_new(o, "actual", money_json(r->actual_cents));
	json_object_set_new(o, "estimate_cents",
			    r->estimate_cents >= 0 ? json_integer(r->estimate_cents) : json_null());
	json_object_set_new(o, "estimate", r->estimate_cents >= 0 ? money_json(r->estimate_cents)
								   : json_string("unavailable"));
	json_object_set_new(o, "uncertain_seconds", json_integer(r->uncertain_seconds));
	json_object_set_new(o, "uncertain_intervals", json_integer((json_int_t)r->uncertain_intervals));
	char *u = r->uncertain_intervals == 0
			  ? cl_strdup("every interval is exact")
			  : cl_aprintf("uncertain: %zu interval%s closed after the service stopped "
				       "unexpectedly or the clock jumped; their ends are known to "
				       "within %lld seconds in all",
				       r->uncertain_intervals, r->uncertain_intervals == 1 ? "" : "s",
				       (long long)r->uncertain_seconds);
	json_object_set_new(o, "uncertainty", json_string(u));
	free(u);
	return o;
}

int cmd_usage_report(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	const char *from_s = cli_opt_get(ctx, "from"), *to_s = cli_opt_get(ctx, "to"),
		   *chart = cli_opt_get(ctx, "chart");
	cl_usage r = {0};
	cl_buf img = CL_BUF_INIT;
	int64_t from = 0, to = cl_ctx_now(ctx->cl);
	int rc;

#ifdef CL_CLI_FRONT
	/* main runs classlab-vm for --chart (vm_opt): cairo is linked only there. */
	if (chart)
		return cl_error_set(CL_EFAIL, "--chart is drawn by classlab-vm");
#endif
	if ((argc == 1 && (rc = cl_name_check("lab name", argv[0]))) ||
	    (from_s && (rc = cl_parse_time("--from", from_s, &from))) ||
	    (to_s && (rc = cl_parse_time("--to", to_s, &to))))
		return rc;
#ifndef CL_CLI_FRONT
	cl_chart_format fmt = CL_CHART_SVG;
	if (chart && (rc = cl_chart_format_of(chart, &fmt)))
		return rc;
#endif
	if (to_s && strlen(to_s) == 10) /* a date: the whole day counts */
		to += 24 * 3600;
	if (to <= from)
		return cli_usage_error(ctx, "--to must come after --from");
	if ((rc = cl_usage_report(ctx->cl, argc == 1 ? argv[0] : NULL, from, to, &r)))
		return rc;
#ifndef CL_CLI_FRONT
	if (chart && (rc = cl_usage_chart(ctx->cl, &r, fmt, &img)) == 0 &&
	    (rc = cl_write_file(chart, img.data, img.len, 0644)) == 0)
		cli_note(ctx, "wrote chart '%s'\n", chart);
#endif
	if (rc == 0) {
		res->data = report_json(&r, from_s != NULL);
		res->view = VIEW_TEXT;
		res->text = report_text;
	}
	cl_buf_free(&img);
	cl_usage_clear(&r);
	return rc;
}

int cmd_quota_exempt(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	bool off = cli_flag(ctx, "remove");
	int rc;

	(void)argc, (void)res;
	if ((rc = cl_meter_quota_exempt(ctx->cl, argv[0], argv[1], !off)) == 0)
		cli_note(ctx, off ? "'%s' is charged for own time again\n"
				  : "'%s' is exempt from quota stops\n",
			 argv[1]);
	return rc;
}
