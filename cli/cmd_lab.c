/* classlab sizes list | size set | lab create/list/show/delete */
#include "cli.h"
#include "classlab/cl_cost.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_meter.h"
#include "classlab/cl_students.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *size_json(const cl_size *s)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(s->name));
	json_object_set_new(o, "lab_units", json_integer(s->lab_units));
	json_object_set_new(o, "vcpus", json_integer(s->vcpus));
	json_object_set_new(o, "memory_mib", json_integer(s->memory_mib));
	json_object_set_new(o, "gpus", json_integer(s->gpus));
	json_object_set_new(o, "builtin", json_boolean(s->builtin));
	return o;
}

int cmd_sizes_list(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	static const cli_col cols[] = {
		{"name", "NAME"}, {"lab_units", "LAB-UNITS/H"}, {"vcpus", "VCPUS"},
		{"memory_mib", "MEMORY-MIB"}, {"gpus", "GPUS"}, {"builtin", "BUILT-IN"},
	};
	cl_size *sizes = NULL;
	size_t n = 0;
	int rc;

	(void)argc, (void)argv;
	if ((rc = cl_sizes_list(ctx->cl, &sizes, &n)))
		return rc;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, size_json(&sizes[i]));
	cl_size_list_free(sizes, n);
	CLI_ROWS(res, arr, cols);
	return 0;
}

int cmd_size_set(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	cl_size_change c = {.name = argv[0], .lab_units = -1, .vcpus = -1, .memory_mib = -1, .gpus = -1};
	cl_size s = {0};
	const char *units = cli_opt_get(ctx, "lab-units"), *vcpus = cli_opt_get(ctx, "vcpus"),
		   *mem = cli_opt_get(ctx, "memory-mib"), *gpus = cli_opt_get(ctx, "gpus");
	uint64_t v;
	int rc;

	(void)argc;
	rc = cl_sizes_get(ctx->cl, c.name, &s);
	cl_size_clear(&s);
	if (rc && rc != CL_ENOTFOUND)
		return rc;
	if (rc == CL_ENOTFOUND && !units)
		return cli_usage_error(ctx, "a new size needs --lab-units");
	rc = 0;
	if (units && (rc = cl_parse_u64("--lab-units", units, CL_LAB_UNITS_MAX, &v)) == 0)
		c.lab_units = (int64_t)v;
	if (rc == 0 && vcpus && (rc = cl_parse_u64("--vcpus", vcpus, 1024, &v)) == 0)
		c.vcpus = (int64_t)v;
	if (rc == 0 && mem && (rc = cl_parse_u64("--memory-mib", mem, 16u << 20, &v)) == 0)
		c.memory_mib = (int64_t)v;
	if (rc == 0 && gpus && (rc = cl_parse_u64("--gpus", gpus, 16, &v)) == 0)
		c.gpus = (int64_t)v;
	if (rc || (rc = cl_sizes_set(ctx->cl, &c, &s)))
		return rc;
	res->data = size_json(&s);
	res->view = VIEW_OBJECT;
	cl_size_clear(&s);
	return 0;
}

int cmd_lab_create(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	cl_lab lab = {0};
	const char *sched = cli_opt_get(ctx, "scheduled-hours"), *quota = cli_opt_get(ctx, "quota-hours"),
		   *price = cli_opt_get(ctx, "price-per-unit-hour");
	int rc;

	(void)argc, (void)res;
	lab.size = cli_opt_get(ctx, "size");
	lab.image = cli_opt_get(ctx, "image");
	lab.username = cli_opt_get(ctx, "username");
	if (!lab.size)
		return cli_usage_error(ctx, "--size is required (see classlab sizes list)");
	lab.name = argv[0];
	if ((rc = cl_parse_hours("--scheduled-hours", sched ? sched : "0", &lab.scheduled_seconds)) ||
	    (rc = cl_parse_hours("--quota-hours", quota ? quota : "0", &lab.quota_seconds)) ||
	    (rc = cl_parse_price("--price-per-unit-hour", price ? price : "0.01", &lab.price_micro)))
		return rc;
	if (lab.image && (rc = cl_text_check("--image", lab.image, 4096)))
		return rc;
	if ((rc = cl_labs_create(ctx->cl, &lab)))
		return rc;
	cli_note(ctx, "created lab '%s'\n", lab.name);
	return 0;
}

static json_t *lab_json(const cl_lab *l)
{
	char *price = cl_format_decimal((uint64_t)l->price_micro, 6, 2);
	char *created = cl_format_time(l->created_at);
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(l->name));
	json_object_set_new(o, "size", json_string(l->size));
	json_object_set_new(o, "image", json_string(l->image));
	json_object_set_new(o, "username", json_string(l->username));
	json_object_set_new(o, "scheduled_hours", cli_hours_json(l->scheduled_seconds));
	json_object_set_new(o, "quota_hours", cli_hours_json(l->quota_seconds));
	json_object_set_new(o, "price_per_unit_hour", json_string(price));
	json_object_set_new(o, "listen", json_string(l->listen));
	json_object_set_new(o, "public_host", json_string(l->public_host));
	json_object_set_new(o, "port_range", json_pack("[I,I]", (json_int_t)l->port_min,
							(json_int_t)l->port_max));
	json_object_set_new(o, "template_state",
			    json_string(cl_template_state_name(l->template_state)));
	json_object_set_new(o, "template_version", json_integer(l->template_version));
	json_object_set_new(o, "created", json_string(created));
	free(price);
	free(created);
	return o;
}

int cmd_lab_list(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	static const cli_col cols[] = {
		{"name", "NAME"},	{"size", "SIZE"},	   {"image", "IMAGE"},
		{"students", "STUDENTS"}, {"template_state", "TEMPLATE"}, {"estimate", "ESTIMATE"},
		{"where", "WHERE", cli_cell_where},
	};
	cl_lab_estimate *est = NULL;
	cl_lab *labs = NULL;
	size_t n = 0, ne = 0;
	int64_t total;
	int rc;

	(void)argc, (void)argv;
	if ((rc = cl_labs_list(ctx->cl, &labs, &n)) ||
	    (rc = cl_cost_report(ctx->cl, &est, &ne, &total)))
		goto out;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = lab_json(&labs[i]);
		/* The hypervisor the lab's VMs live on; null until the first is made. */
		json_object_set_new(o, "where",
				    labs[i].hv_uri ? json_string(labs[i].hv_uri) : json_null());
		for (size_t j = 0; j < ne; j++)
			if (strcmp(est[j].lab, labs[i].name) == 0) {
				/* One lab's uncomputable estimate shows as such; the rest still list. */
				bool ok = !est[j].unavailable;
				char *t = ok ? cl_format_cents(est[j].est.total_cents)
					     : cl_strdup("unavailable");
				json_object_set_new(o, "students", json_integer(est[j].est.in.students));
				json_object_set_new(o, "estimate", json_string(t));
				json_object_set_new(o, "estimate_cents",
						    ok ? json_integer(est[j].est.total_cents) : json_null());
				free(t);
			}
		json_array_append_new(arr, o);
	}
	CLI_ROWS(res, arr, cols);
out:
	for (size_t j = 0; j < ne; j++)
		cl_lab_estimate_clear(&est[j]);
	free(est);
	cl_lab_list_free(labs, n);
	return rc;
}

/* What the service does with the lab's VMs, and the idle rule in words. */
static void service_json(json_t *o, const cl_lab_service *svc)
{
	char *rule = cl_meter_idle_rule(svc);
	json_object_set_new(o, "idle_minutes", json_integer(svc->idle_minutes));
	json_object_set_new(o, "idle_rule", json_string(rule));
	json_object_set_new(o, "stop", json_string(cl_stop_mode_name(svc->stop_mode)));
	json_object_set_new(o, "lead_minutes", json_integer(svc->lead_minutes));
	json_object_set_new(o, "stop_grace_seconds", json_integer(svc->stop_grace_seconds));
	free(rule);
}

int cmd_lab_show(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	cl_lab lab = {0};
	cl_lab_estimate est = {0};
	cl_lab_service svc = {0};
	int rc;

	(void)argc;
	if ((rc = cl_labs_get(ctx->cl, argv[0], &lab)) ||
	    (rc = cl_cost_lab_estimate(ctx->cl, argv[0], &est)) ||
	    (rc = cl_meter_lab_settings(ctx->cl, argv[0], &svc)))
		goto out;
	json_t *o = lab_json(&lab);
	service_json(o, &svc);
	char *t = est.unavailable ? cl_strdup("unavailable") : cl_format_cents(est.est.total_cents);
	json_object_set_new(o, "students", json_integer(est.est.in.students));
	json_object_set_new(o, "estimate", json_string(t));
	json_object_set_new(o, "estimate_cents",
			    est.unavailable ? json_null() : json_integer(est.est.total_cents));
	free(t);
	res->data = o;
	res->view = VIEW_OBJECT;
out:
	cl_lab_estimate_clear(&est);
	cl_lab_clear(&lab);
	return rc;
}

/* One minutes-or-seconds option into *v when given. */
static int bounded(const char *opt, const char *s, uint64_t max, int64_t *v)
{
	uint64_t u;
	int rc = s ? cl_parse_u64(opt, s, max, &u) : 0;
	if (s && rc == 0)
		*v = (int64_t)u;
	return rc;
}

int cmd_lab_set(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	const char *idle = cli_opt_get(ctx, "idle-minutes"), *stop = cli_opt_get(ctx, "stop"),
		   *lead = cli_opt_get(ctx, "lead-minutes"),
		   *grace = cli_opt_get(ctx, "stop-grace-seconds");
	cl_lab_service svc = {0};
	int rc;

	(void)argc;
	if (!idle && !stop && !lead && !grace)
		return cli_usage_error(ctx, "give at least one setting to change");
	if ((rc = bounded("--idle-minutes", idle, CL_IDLE_MINUTES_MAX, &svc.idle_minutes)) ||
	    (rc = bounded("--lead-minutes", lead, CL_LEAD_MINUTES_MAX, &svc.lead_minutes)) ||
	    (rc = bounded("--stop-grace-seconds", grace, CL_STOP_GRACE_MAX,
			  &svc.stop_grace_seconds)) ||
	    (stop && (rc = cl_stop_mode_parse(stop, &svc.stop_mode))))
		return rc;
	cl_lab_service cur = {0};
	if ((rc = cl_meter_lab_settings(ctx->cl, argv[0], &cur)))
		return rc;
	if (!idle)
		svc.idle_minutes = cur.idle_minutes;
	if (!lead)
		svc.lead_minutes = cur.lead_minutes;
	if (!grace)
		svc.stop_grace_seconds = cur.stop_grace_seconds;
	if (!stop)
		svc.stop_mode = cur.stop_mode;
	if ((rc = cl_meter_lab_settings_set(ctx->cl, argv[0], &svc)))
		return rc;
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(argv[0]));
	service_json(o, &svc);
	res->data = o;
	res->view = VIEW_OBJECT;
	return 0;
}

int cmd_lab_delete(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	int rc;

	(void)argc, (void)res;
	if (!cli_flag(ctx, "yes"))
		return cli_usage_error(ctx, "deleting lab '%s' needs --yes", argv[0]);
	if ((rc = cl_labs_remove(ctx->cl, argv[0])) == 0)
		cli_note(ctx, "deleted lab '%s' and its keys\n", argv[0]);
	return rc;
}
