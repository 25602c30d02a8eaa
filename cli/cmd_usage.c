/* classlab usage report | lab set | quota exempt: metering's commands (cl_meter.h) */
#include "cli.h"
#include "classlab/cl_meter.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plain table of strings for the text form: widths from the cells. */
typedef struct text_table {
	char **cells;
	size_t ncols, nrows;
} text_table;

static void table_row(text_table *t, char **row)
{
	t->cells = cl_realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
	memcpy(t->cells + t->nrows * t->ncols, row, t->ncols * sizeof(char *));
	t->nrows++;
}

static void table_print(cl_buf *b, text_table *t)
{
	size_t *w = cl_calloc(t->ncols, sizeof(size_t));

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++)
			if (strlen(t->cells[r * t->ncols + c]) > w[c])
				w[c] = strlen(t->cells[r * t->ncols + c]);
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cellv = t->cells[r * t->ncols + c];
			if (c + 1 < t->ncols)
				cl_buf_printf(b, "%-*s  ", (int)w[c], cellv);
			else
				cl_buf_puts(b, cellv);
		}
		cl_buf_putc(b, '\n');
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(w);
}

static char *json_cell(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (json_is_string(v))
		return cl_strdup(json_string_value(v));
	if (json_is_integer(v))
		return cl_aprintf("%lld", (long long)json_integer_value(v));
	if (json_is_boolean(v))
		return cl_strdup(json_is_true(v) ? "yes" : "no");
	return cl_strdup("-");
}

/* The table form: one row per student, one per lab, the totals and the uncertainty. */
static char *report_text(const json_t *data)
{
	static const char *const scols[] = {"lab", "student", "class_hours", "own_hours",
					    "quota_left_hours", "quota_percent", "lab_unit_hours",
					    "money"};
	static const char *const shead[] = {"LAB",	  "STUDENT", "CLASS-H", "OWN-H",
					    "QUOTA-LEFT-H", "QUOTA-%", "UNIT-H",  "USED"};
	static const char *const lcols[] = {"lab", "class_hours", "own_hours", "actual", "estimate"};
	static const char *const lhead[] = {"LAB", "CLASS-H", "OWN-H", "ACTUAL", "ESTIMATE"};
	cl_buf b = CL_BUF_INIT;
	json_t *students = json_object_get(data, "students"), *labs = json_object_get(data, "labs");
	size_t i;
	json_t *o;

	if (json_array_size(labs) == 0)
		return cl_strdup("no labs\n");
	text_table st = {NULL, 8, 0}, lt = {NULL, 5, 0};
	char *row[8];
	for (size_t c = 0; c < 8; c++)
		row[c] = cl_strdup(shead[c]);
	table_row(&st, row);
	json_array_foreach(students, i, o)
	{
		for (size_t c = 0; c < 8; c++)
			row[c] = json_cell(o, scols[c]);
		if (json_is_true(json_object_get(o, "exempt"))) {
			free(row[5]);
			row[5] = cl_strdup("exempt");
		}
		table_row(&st, row);
	}
	table_print(&b, &st);
	cl_buf_putc(&b, '\n');
	for (size_t c = 0; c < 5; c++)
		row[c] = cl_strdup(lhead[c]);
	table_row(&lt, row);
	json_array_foreach(labs, i, o)
	{
		for (size_t c = 0; c < 5; c++)
			row[c] = json_cell(o, lcols[c]);
		table_row(&lt, row);
	}
	table_print(&b, &lt);
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
