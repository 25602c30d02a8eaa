/* Unit tests for meter/ accounting: weekly schedules, lead time, quotas, exact money, the chart. */
#include "meter_fixture.h"

/* One run of a VM from a to b, recorded through start, heartbeats and the stop event. */
static void run(cl_ctx *ctx, const char *vm, int64_t a, int64_t b)
{
	fx_clock = a;
	CHECK_INT(cl_meter_started(ctx, vm), 0);
	fx_beat_until(ctx, vm, b);
	CHECK_INT(cl_meter_stopped(ctx, vm), 0);
}

static const cl_usage_student *row(const cl_usage *r, const char *student)
{
	for (size_t i = 0; i < r->nstudents; i++)
		if (strcmp(r->students[i].student, student) == 0)
			return &r->students[i];
	return NULL;
}

static void test_split(cl_ctx *ctx, cl_lab *lab)
{
	cl_store *st = cl_ctx_store(ctx);
	/* Mondays 09:00-11:00, weekly for three weeks (the 5th, 12th and 19th). */
	cl_schedule ev = {.lab_id = lab->id, .start = MONDAY + 9 * H, .end = MONDAY + 11 * H,
			  .weekly_until = MONDAY + 2 * WEEK + 24 * H};
	cl_usage r = {0};

	CHECK_INT(cl_store_schedule_add(st, &ev), 0);
	/* Week 2, 08:00-12:00: class 08:50-11:00 (10 minutes' lead counts as class). */
	run(ctx, "ml-alice", MONDAY + WEEK + 8 * H, MONDAY + WEEK + 12 * H);
	/* Week 4 is past the repeats: all own time. */
	run(ctx, "ml-alice", MONDAY + 3 * WEEK + 9 * H, MONDAY + 3 * WEEK + 10 * H);
	/* bob: Tuesday of week 1, own time only. */
	run(ctx, "ml-bob", MONDAY + 33 * H, MONDAY + 33 * H + 1800);

	CHECK_INT(cl_usage_report(ctx, "ml", 0, MONDAY + 5 * WEEK, &r), 0);
	const cl_usage_student *a = row(&r, "alice"), *b = row(&r, "bob"), *c = row(&r, "carol");
	CHECK(a && b && c);
	if (!a || !b || !c)
		return;
	CHECK_INT(a->class_seconds, 2 * H + 600);
	CHECK_INT(a->own_seconds, 4 * H - (2 * H + 600) + H);
	CHECK_INT(b->class_seconds, 0);
	CHECK_INT(b->own_seconds, 1800);
	CHECK_INT(c->class_seconds + c->own_seconds, 0);
	CHECK_INT(a->quota_used_seconds, a->own_seconds);
	CHECK_INT(a->quota_left_seconds, 10 * H - a->own_seconds);
	CHECK_INT(r.nlabs, 1);
	CHECK_INT(r.labs[0].class_seconds, 2 * H + 600);
	/* 20 units × (5 h + 0.5 h) × $0.01 = $1.10 */
	CHECK_INT(r.labs[0].lab_unit_seconds, 20 * (5 * H + 1800));
	CHECK_INT(r.actual_cents, 110);
	CHECK_INT(a->cents, 100);
	CHECK_INT(b->cents, 10);
	/* The estimate is cost/'s: 3 students × (6 h + 10 h) × 20 × $0.01 = $9.60 */
	CHECK_INT(r.labs[0].estimate.est.total_cents, 960);
	CHECK_INT(r.estimate_cents, 960);
	CHECK_INT(r.uncertain_intervals, 0);
	cl_usage_clear(&r);

	/* A window of the report: week 2 only, and without lead time. */
	cl_lab_service svc;
	CHECK_INT(cl_meter_lab_settings(ctx, "ml", &svc), 0);
	CHECK_INT(svc.lead_minutes, CL_LEAD_MINUTES_DEFAULT);
	CHECK_INT(svc.idle_minutes, CL_IDLE_MINUTES_DEFAULT);
	svc.lead_minutes = 0;
	CHECK_INT(cl_meter_lab_settings_set(ctx, "ml", &svc), 0);
	CHECK_INT(cl_usage_report(ctx, NULL, MONDAY + WEEK, MONDAY + WEEK + 10 * H, &r), 0);
	a = row(&r, "alice");
	CHECK(a != NULL);
	if (a) {
		CHECK_INT(a->class_seconds, H);	     /* 09:00-10:00: 10:00 is the report's end */
		CHECK_INT(a->own_seconds, H);	     /* 08:00-09:00 */
		CHECK_INT(a->quota_used_seconds, H); /* own time of the term up to `to` */
	}
	cl_usage_clear(&r);
	svc.lead_minutes = CL_LEAD_MINUTES_MAX + 1;
	CHECK_INT(cl_meter_lab_settings_set(ctx, "ml", &svc), CL_EINVAL);
	svc.lead_minutes = 10;
	CHECK_INT(cl_meter_lab_settings_set(ctx, "ml", &svc), 0);
	CHECK_INT(cl_usage_report(ctx, NULL, 5, 5, &r), CL_EINVAL);
	CHECK_INT(cl_usage_report(ctx, "nope", 0, 5, &r), CL_ENOTFOUND);
}

static const cl_quota_alert *alert(const cl_quota_alert *a, size_t n, const char *student)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i].student, student) == 0)
			return &a[i];
	return NULL;
}

static void test_quota(cl_ctx *ctx, cl_lab *lab)
{
	cl_store *st = cl_ctx_store(ctx);
	cl_quota_alert *al = NULL;
	size_t n = 0;
	int64_t t = MONDAY + 6 * WEEK;

	/* carol's own quota: 2 h. 1 h 48 min = 90 %: warned, not stopped. */
	CHECK_INT(cl_store_student_set_quota(st, lab->id, "carol", 2 * H), 0);
	run(ctx, "ml-carol", MONDAY + 4 * WEEK, MONDAY + 4 * WEEK + 6480 - 1);
	CHECK_INT(cl_meter_quota_check(ctx, "ml", t, &al, &n), 0);
	CHECK(alert(al, n, "carol") == NULL); /* 89.99 % */
	cl_quota_alert_list_free(al, n);
	run(ctx, "ml-carol", MONDAY + 4 * WEEK + 7000, MONDAY + 4 * WEEK + 7001);
	CHECK_INT(cl_meter_quota_check(ctx, "ml", t, &al, &n), 0);
	const cl_quota_alert *c = alert(al, n, "carol");
	CHECK(c && c->level == CL_QUOTA_WARN && !c->warned && c->used_seconds == 6480);
	CHECK(alert(al, n, "bob") == NULL);
	cl_quota_alert_list_free(al, n);
	/* The warning goes once per quota: marked, it shows as sent. */
	CHECK_INT(cl_meter_quota_warned(ctx, "ml", "carol", 2 * H), 0);
	CHECK_INT(cl_meter_quota_check(ctx, "ml", t, &al, &n), 0);
	c = alert(al, n, "carol");
	CHECK(c && c->warned);
	cl_quota_alert_list_free(al, n);
	/* 100 %: stop. */
	run(ctx, "ml-carol", MONDAY + 4 * WEEK + 8000, MONDAY + 4 * WEEK + 8000 + 720);
	CHECK_INT(cl_meter_quota_check(ctx, "ml", t, &al, &n), 0);
	c = alert(al, n, "carol");
	CHECK(c && c->level == CL_QUOTA_STOP && c->used_seconds == 2 * H);
	cl_quota_alert_list_free(al, n);
	/* Checked at a time before the last run: that run does not count yet. */
	CHECK_INT(cl_meter_quota_check(ctx, "ml", MONDAY + 4 * WEEK + 7500, &al, &n), 0);
	c = alert(al, n, "carol");
	CHECK(c && c->level == CL_QUOTA_WARN);
	cl_quota_alert_list_free(al, n);
	/* The instructor raises the quota: the warning is due again at the new level. */
	CHECK_INT(cl_store_student_set_quota(st, lab->id, "carol", 2 * H + 600), 0);
	CHECK_INT(cl_meter_quota_check(ctx, "ml", t, &al, &n), 0);
	c = alert(al, n, "carol");
	CHECK(c && c->level == CL_QUOTA_WARN && !c->warned);
	cl_quota_alert_list_free(al, n);
	/* Exempt: never listed. */
	CHECK_INT(cl_meter_quota_exempt(ctx, "ml", "carol", true), 0);
	CHECK_INT(cl_meter_quota_check(ctx, "ml", t, &al, &n), 0);
	CHECK(alert(al, n, "carol") == NULL);
	cl_quota_alert_list_free(al, n);
	CHECK_INT(cl_meter_quota_exempt(ctx, "ml", "nobody", true), CL_ENOTFOUND);
	CHECK_INT(cl_meter_quota_exempt(ctx, "ml", "carol", false), 0);
	/* A quota of 0: any own time stops. */
	CHECK_INT(cl_store_student_set_quota(st, lab->id, "carol", 0), 0);
	CHECK_INT(cl_meter_quota_check(ctx, "ml", t, &al, &n), 0);
	c = alert(al, n, "carol");
	CHECK(c && c->level == CL_QUOTA_STOP);
	cl_quota_alert_list_free(al, n);
}

/* Money rounds half up to cents once, exactly: 1 unit × 1 h × $0.005 = 0.5 cent -> 1. */
static void test_money(cl_ctx *ctx)
{
	cl_store *st = cl_ctx_store(ctx);
	cl_size one = {.name = "one", .lab_units = 1, .vcpus = 1, .memory_mib = 64};
	cl_lab half = {.name = "half", .size = "one", .price_micro = 5000};
	cl_usage r = {0};

	CHECK_INT(cl_store_size_put(st, &one), 0);
	CHECK_INT(cl_store_begin(st), 0);
	CHECK_INT(cl_store_lab_create(st, &half), 0);
	fx_student(st, &half, "dan", CL_QUOTA_DEFAULT);
	fx_student(st, &half, "eve", CL_QUOTA_DEFAULT);
	CHECK_INT(cl_store_commit(st), 0);
	run(ctx, "half-dan", MONDAY + 100 * H, MONDAY + 101 * H);
	run(ctx, "half-eve", MONDAY + 100 * H, MONDAY + 101 * H - 1);
	CHECK_INT(cl_usage_report(ctx, "half", 0, MONDAY + 200 * H, &r), 0);
	CHECK_INT(row(&r, "dan")->cents, 1);
	CHECK_INT(row(&r, "eve")->cents, 0); /* 0.4999 cent */
	CHECK_INT(r.labs[0].actual_cents, 1); /* 0.9999 cent, rounded once */
	CHECK_INT(r.labs[0].lab_unit_seconds, 2 * H - 1);
	cl_usage_clear(&r);
	/* Every lab: both labs, and the kill's uncertainty shows in the totals. */
	fx_clock = MONDAY + 110 * H;
	CHECK_INT(cl_meter_started(ctx, "half-dan"), 0);
	fx_beat_until(ctx, "half-dan", MONDAY + 110 * H + 300);
	fx_clock += 15 * 60; /* killed; restarted 15 minutes later, the VM gone */
	CHECK_INT(cl_meter_reconcile(ctx, NULL, 0), 0);
	CHECK_INT(cl_usage_report(ctx, NULL, 0, MONDAY + 200 * H, &r), 0);
	CHECK_INT(r.nlabs, 2);
	CHECK_INT(r.uncertain_intervals, 1);
	CHECK_INT(r.uncertain_seconds, CL_METER_HEARTBEAT_S);
	CHECK_INT(row(&r, "dan")->uncertain_seconds, CL_METER_HEARTBEAT_S);
	CHECK_INT(r.actual_cents, r.labs[0].actual_cents + r.labs[1].actual_cents);

	/* The chart: both formats, with their magic; other names are refused. */
	cl_chart_format f;
	cl_buf svg = CL_BUF_INIT, png = CL_BUF_INIT;
	CHECK_INT(cl_chart_format_of("x.svg", &f), 0);
	CHECK_INT(f, CL_CHART_SVG);
	CHECK_INT(cl_chart_format_of("a/b.png", &f), 0);
	CHECK_INT(f, CL_CHART_PNG);
	CHECK_INT(cl_chart_format_of("x.jpg", &f), CL_EINVAL);
	CHECK_INT(cl_chart_format_of(".svg", &f), CL_EINVAL);
	CHECK_INT(cl_usage_chart(ctx, &r, CL_CHART_SVG, &svg), 0);
	CHECK(svg.len > 100 && strstr(cl_buf_str(&svg), "<svg") != NULL);
	CHECK_INT(cl_usage_chart(ctx, &r, CL_CHART_PNG, &png), 0);
	CHECK(png.len > 8 && memcmp(png.data, "\x89PNG\r\n\x1a\n", 8) == 0);
	cl_buf_free(&svg);
	cl_buf_free(&png);
	cl_usage_clear(&r);
}

int main(void)
{
	cl_lab lab = {0};
	cl_ctx *ctx = fx_open(&lab);

	test_split(ctx, &lab);
	test_quota(ctx, &lab);
	test_money(ctx);
	fx_close(ctx);
	return tap_done();
}
