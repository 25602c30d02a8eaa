/* classlab cost estimate | report */
#include "cli.h"
#include "classlab/cl_cost.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_students.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *cli_estimate_json(const cl_estimate *e)
{
	char *price = cl_format_decimal((uint64_t)e->in.price_micro, 6, 2);
	char *total = cl_format_cents(e->total_cents);
	json_t *o = json_object();

	json_object_set_new(o, "students", json_integer(e->in.students));
	json_object_set_new(o, "scheduled_hours", cli_hours_json(e->in.scheduled_seconds));
	if (e->in.quota_seconds_each >= 0)
		json_object_set_new(o, "quota_hours", cli_hours_json(e->in.quota_seconds_each));
	else
		json_object_set_new(o, "quota_hours", json_null());
	json_object_set_new(o, "quota_hours_total", cli_hours_json(e->in.quota_seconds_sum));
	json_object_set_new(o, "student_hours", cli_hours_json(e->student_seconds));
	json_object_set_new(o, "lab_units", json_integer(e->in.lab_units));
	json_object_set_new(o, "lab_unit_hours", cli_hours_json(e->lab_unit_seconds));
	json_object_set_new(o, "price_per_unit_hour", json_string(price));
	json_object_set_new(o, "total_cents", json_integer(e->total_cents));
	json_object_set_new(o, "total", json_string(total));
	free(price);
	free(total);
	return o;
}

/*
 * A lab's estimate as JSON: cli_estimate_json's fields, or for an estimate that
 * cannot be computed exactly its inputs with null results and "unavailable": why.
 */
json_t *cli_lab_estimate_json(const cl_lab_estimate *le)
{
	json_t *o = cli_estimate_json(&le->est);
	if (le->unavailable) {
		json_object_set_new(o, "student_hours", json_null());
		json_object_set_new(o, "lab_unit_hours", json_null());
		json_object_set_new(o, "total_cents", json_null());
		json_object_set_new(o, "total", json_string("unavailable"));
		json_object_set_new(o, "unavailable", json_string(le->unavailable));
	}
	return o;
}

/* A field of an estimate's data as the table shows it (new). */
static char *field(const json_t *o, const char *key)
{
	return cli_cell(json_object_get(o, key));
}

char *cli_estimate_breakdown(const json_t *o)
{
	bool each = !json_is_null(json_object_get(o, "quota_hours"));
	char *students = field(o, "students"), *sched = field(o, "scheduled_hours"),
	     *quota = field(o, each ? "quota_hours" : "quota_hours_total"),
	     *units = field(o, "lab_units"), *price = field(o, "price_per_unit_hour"),
	     *total = field(o, "total");
	char *r = cl_aprintf(each ? "%s × (%s + %s) × %s × $%s = %s" : "(%s × %s + %s) × %s × $%s = %s",
			     students, sched, quota, units, price, total);

	free(students), free(sched), free(quota), free(units), free(price), free(total);
	return r;
}

/* The table form of an estimate's data: the inputs, then the seed's breakdown line. */
static char *estimate_text(const json_t *o)
{
	cl_buf b = CL_BUF_INIT;
	bool each = !json_is_null(json_object_get(o, "quota_hours"));
	char *v;

	if (json_object_get(o, "lab"))
		cl_buf_printf(&b, "lab             %s\n", json_string_value(json_object_get(o, "lab")));
	if (json_object_get(o, "size"))
		cl_buf_printf(&b, "size            %s\n", json_string_value(json_object_get(o, "size")));
	v = field(o, "students");
	cl_buf_printf(&b, "students        %s\n", v);
	free(v);
	v = field(o, "scheduled_hours");
	cl_buf_printf(&b, "scheduled hours %s%s\n", v,
		      json_is_true(json_object_get(o, "from_schedule")) ? " (from the schedule)" : "");
	free(v);
	v = field(o, each ? "quota_hours" : "quota_hours_total");
	cl_buf_printf(&b, each ? "quota hours     %s per student\n"
			       : "quota hours     %s in all (students' own quotas differ)\n",
		      v);
	free(v);
	v = field(o, "lab_units");
	cl_buf_printf(&b, "lab units       %s per hour\n", v);
	free(v);
	v = field(o, "lab_unit_hours");
	cl_buf_printf(&b, "lab-unit-hours  %s\n", v);
	free(v);
	v = field(o, "price_per_unit_hour");
	cl_buf_printf(&b, "price           $%s per lab-unit-hour\n", v);
	free(v);
	v = cli_estimate_breakdown(o);
	cl_buf_printf(&b, "estimate        %s\n", v);
	free(v);
	return cl_buf_detach(&b);
}

static int estimate_lab(cli_ctx *ctx, const char *lab, cli_result *res)
{
	cl_lab_estimate le = {0};
	int rc = cl_name_check("lab name", lab);

	if (rc == 0)
		rc = cl_cost_lab_estimate(ctx->cl, lab, &le);
	if (rc == 0 && le.unavailable)
		rc = cl_error_set(CL_EINVAL, "lab '%s' has no exact estimate: %s", lab,
				  le.unavailable);
	if (rc) {
		cl_lab_estimate_clear(&le);
		return rc;
	}
	json_t *o = json_object();
	json_object_set_new(o, "lab", json_string(le.lab));
	json_object_set_new(o, "size", json_string(le.size));
	json_object_update_new(o, cli_estimate_json(&le.est));
	json_object_set_new(o, "from_schedule", json_boolean(le.from_schedule));
	res->data = o;
	res->view = VIEW_TEXT;
	res->text = estimate_text;
	cl_lab_estimate_clear(&le);
	return 0;
}

int cmd_cost_estimate(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	const char *students = cli_opt_get(ctx, "students"),
		   *sched = cli_opt_get(ctx, "scheduled-hours"),
		   *quota = cli_opt_get(ctx, "quota-hours"), *size = cli_opt_get(ctx, "size"),
		   *units = cli_opt_get(ctx, "lab-units"),
		   *price = cli_opt_get(ctx, "price-per-unit-hour");
	cl_cost_input in = {0};
	cl_estimate e;
	uint64_t v;
	int rc;

	if (argc == 1) {
		if (students || sched || quota || size || units || price)
			return cli_usage_error(ctx, "give a LAB or the numbers, not both");
		return estimate_lab(ctx, argv[0], res);
	}
	if (!students || !sched || !quota)
		return cli_usage_error(ctx, "--students, --scheduled-hours and --quota-hours are "
					    "required without a LAB");
	if (!size == !units)
		return cli_usage_error(ctx, "give exactly one of --size and --lab-units");
	if ((rc = cl_parse_u64("--students", students, CL_STUDENTS_MAX, &v)))
		return rc;
	in.students = (int64_t)v;
	if ((rc = cl_parse_hours("--scheduled-hours", sched, &in.scheduled_seconds)) ||
	    (rc = cl_parse_hours("--quota-hours", quota, &in.quota_seconds_each)) ||
	    (rc = cl_parse_price("--price-per-unit-hour", price ? price : "0.01",
				 &in.price_micro)))
		return rc;
	in.quota_seconds_sum = in.students * in.quota_seconds_each;
	if (units) {
		if ((rc = cl_parse_u64("--lab-units", units, CL_LAB_UNITS_MAX, &v)))
			return rc;
		in.lab_units = (int64_t)v;
	} else {
		cl_size sz = {0};
		if ((rc = cl_sizes_get(ctx->cl, size, &sz)))
			return rc;
		in.lab_units = sz.lab_units;
		cl_size_clear(&sz);
	}
	if ((rc = cl_cost_compute(&in, &e)))
		return rc;
	json_t *o = cli_estimate_json(&e);
	if (size)
		json_object_set_new(o, "size", json_string(size));
	res->data = o;
	res->view = VIEW_TEXT;
	res->text = estimate_text;
	return 0;
}

int cmd_cost_report(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	static const cli_col cols[] = {
		{"lab", "LAB"},
		{"size", "SIZE"},
		{"students", "STUDENTS"},
		{"student_hours", "STUDENT-HOURS"},
		{"lab_units", "UNITS"},
		{"price_per_unit_hour", "PRICE"},
		{"total", "ESTIMATE"},
		{"where", "WHERE", cli_cell_where},
	};
	cl_lab_estimate *rows = NULL;
	cl_lab *labs = NULL;
	size_t n = 0, nl = 0;
	int64_t total = 0;
	int rc;

	(void)argc, (void)argv;
	if ((rc = cl_cost_report(ctx->cl, &rows, &n, &total)))
		return rc;
	if ((rc = cl_labs_list(ctx->cl, &labs, &nl))) {
		for (size_t i = 0; i < n; i++)
			cl_lab_estimate_clear(&rows[i]);
		free(rows);
		return rc;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		const char *where = NULL;
		for (size_t j = 0; j < nl; j++)
			if (strcmp(labs[j].name, rows[i].lab) == 0)
				where = labs[j].hv_uri;
		json_object_set_new(o, "lab", json_string(rows[i].lab));
		json_object_set_new(o, "size", json_string(rows[i].size));
		json_object_update_new(o, cli_lab_estimate_json(&rows[i]));
		/* The hypervisor the lab's VMs live on; null until the first is made. */
		json_object_set_new(o, "where", where ? json_string(where) : json_null());
		json_array_append_new(arr, o);
		cl_lab_estimate_clear(&rows[i]);
	}
	free(rows);
	cl_lab_list_free(labs, nl);
	/* -1: some lab's estimate (or the sum) is unavailable; the rows say which. */
	char *t = total >= 0 ? cl_format_cents(total) : cl_strdup("unavailable");
	json_t *o = json_object();
	json_object_set_new(o, "labs", arr);
	json_object_set_new(o, "total_cents", total >= 0 ? json_integer(total) : json_null());
	json_object_set_new(o, "total", json_string(t));
	free(t);
	CLI_ROWS(res, o, cols);
	res->rows_key = "labs";
	res->total_key = "total";
	return 0;
}
