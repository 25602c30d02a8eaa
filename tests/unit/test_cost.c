/* Unit tests for cost/: exact estimates on a table of cases, overflow, schedules, breakdown. */
#include "classlab/cl_cost.h"
#include "classlab/cl_util.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H 3600LL
#define WEEK (7 * 24 * H)

static const struct {
	int64_t students, sched, quota_sum, units, price_micro;
	int rc;
	int64_t cents, unit_seconds;
} cases[] = {
	/* The seed: 25 × (20 + 10) × 139 × $0.01 = 104250 lab-unit-hours = $1042.50. */
	{25, 20 * H, 25 * 10 * H, 139, 10000, 0, 104250, 104250 * H},
	{0, 20 * H, 0, 139, 10000, 0, 0, 0},
	{25, 20 * H, 25 * 10 * H, 0, 10000, 0, 0, 0},
	{25, 20 * H, 25 * 10 * H, 408, 15000, 0, 459000, 306000 * H},
	/* Half a cent rounds up; just under half rounds down. */
	{1, H, 0, 1, 5000, 0, 1, H},
	{1, H, 0, 1, 4999, 0, 0, H},
	{3, H, 0, 1, 15000, 0, 5, 3 * H},  /* 4.5 cents */
	{1, 36, 0, 1, 500000, 0, 1, 36},   /* 0.01 h × $0.50 = 0.5 cent */
	{1, 36, 0, 1, 490000, 0, 0, 36},
	/* (4 × 10.5 + 38.5) × 139 = 11189.5 cents -> 11190 */
	{4, 37800, 138600, 139, 10000, 0, 11190, 11189 * H + H / 2},
	/* Beyond 32 bits, exact: 100000 × 175200 h × 100000 units × $1 = 1.752e17 cents. */
	{100000, 87600 * H, 100000LL * 87600 * H, 100000, 1000000, 0, 175200000000000000LL,
	 1752000000000000LL * H},
	/* The largest that fits: × $52.60 = 9215520000000000000 cents (INT64_MAX 9.22e18). */
	{100000, 87600 * H, 100000LL * 87600 * H, 100000, 52600000, 0, 9215520000000000000LL,
	 1752000000000000LL * H},
	/* Overflow in cents, then in the lab-unit-seconds product, then in students × hours. */
	{100000, 87600 * H, 100000LL * 87600 * H, 100000, 52700000, CL_EINVAL, 0, 0},
	{100000, 87600 * H, 0, INT64_MAX / 1000, 1, CL_EINVAL, 0, 0},
	{INT64_MAX / 2, 3, 0, 1, 1, CL_EINVAL, 0, 0},
	{1, INT64_MAX, 1, 1, 1, CL_EINVAL, 0, 0},
	/* Negative input is refused, never wrapped. */
	{-1, H, 0, 1, 1, CL_EINVAL, 0, 0},
	{1, H, 0, 1, -1, CL_EINVAL, 0, 0},
};

static void test_compute(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cl_cost_input in = {cases[i].students, cases[i].sched, cases[i].quota_sum,
				    cases[i].units, cases[i].price_micro, -1};
		cl_estimate e;
		int rc = cl_cost_compute(&in, &e);
		CHECK_INT(rc, cases[i].rc);
		if (rc == 0) {
			CHECK_INT(e.total_cents, cases[i].cents);
			CHECK_INT(e.lab_unit_seconds, cases[i].unit_seconds);
		} else {
			CHECK(cl_error_msg()[0] != '\0');
		}
	}
}

static void test_breakdown(void)
{
	cl_cost_input in = {25, 20 * H, 250 * H, 139, 10000, 10 * H};
	cl_estimate e;
	char *s;

	CHECK_INT(cl_cost_compute(&in, &e), 0);
	s = cl_cost_breakdown(&e);
	CHECK_STR(s, "25 × (20 + 10) × 139 × $0.01 = $1042.50");
	free(s);
	in = (cl_cost_input){4, 37800, 138600, 139, 10000, -1};
	CHECK_INT(cl_cost_compute(&in, &e), 0);
	s = cl_cost_breakdown(&e);
	CHECK_STR(s, "(4 × 10.5 + 38.5) × 139 × $0.01 = $111.90");
	free(s);
	in = (cl_cost_input){3, 5400, 3 * 900, 20, 15000, 900};
	CHECK_INT(cl_cost_compute(&in, &e), 0);
	s = cl_cost_breakdown(&e);
	CHECK_STR(s, "3 × (1.5 + 0.25) × 20 × $0.015 = $1.58"); /* 157.5 cents */
	free(s);
}

static void test_schedule(void)
{
	int64_t mon = 1767603600; /* 2026-01-05T09:00:00Z, a Monday */
	int64_t secs = -1;
	cl_schedule ev[3] = {0};

	CHECK_INT(cl_cost_schedule_seconds(ev, 0, &secs), 0);
	CHECK_INT(secs, 0);
	/* Once, 2 h. */
	ev[0] = (cl_schedule){.start = mon, .end = mon + 2 * H};
	CHECK_INT(cl_cost_schedule_seconds(ev, 1, &secs), 0);
	CHECK_INT(secs, 2 * H);
	/* Weekly until the next day after the 5th Monday (Feb 2 + 1 day): 5 events. */
	ev[0].weekly_until = mon - 9 * H + 4 * WEEK + 24 * H;
	CHECK_INT(cl_cost_schedule_seconds(ev, 1, &secs), 0);
	CHECK_INT(secs, 10 * H);
	/* Until exactly the start of the 5th: that one is not before the limit, 4 events. */
	ev[0].weekly_until = mon + 4 * WEEK;
	CHECK_INT(cl_cost_schedule_seconds(ev, 1, &secs), 0);
	CHECK_INT(secs, 8 * H);
	/* One second later: 5. */
	ev[0].weekly_until = mon + 4 * WEEK + 1;
	CHECK_INT(cl_cost_schedule_seconds(ev, 1, &secs), 0);
	CHECK_INT(secs, 10 * H);
	/* weekly_until at or before the start: just once. */
	ev[0].weekly_until = mon;
	CHECK_INT(cl_cost_schedule_seconds(ev, 1, &secs), 0);
	CHECK_INT(secs, 2 * H);
	/* Several events add up: 2 h once + 1.5 h × 5 weeks + 3 h once = 12.5 h. */
	ev[1] = (cl_schedule){.start = mon + 29 * H, .end = mon + 30 * H + 1800,
			      .weekly_until = mon + 29 * H + 4 * WEEK + 1};
	ev[2] = (cl_schedule){.start = mon + 100 * H, .end = mon + 103 * H};
	CHECK_INT(cl_cost_schedule_seconds(ev, 3, &secs), 0);
	CHECK_INT(secs, 2 * H + 5 * 5400 + 3 * H);
	/* Overflow is an error, not a wrapped sum. */
	ev[0] = (cl_schedule){.start = 0, .end = INT64_MAX / 2, .weekly_until = INT64_MAX};
	CHECK_INT(cl_cost_schedule_seconds(ev, 1, &secs), CL_EINVAL);
}

/*
 * A lab whose stored inputs overflow (written by hand here, as an older classlab could):
 * its estimate is unavailable, the others are not, the report still answers, and the
 * write-time checks name it.
 */
static void test_unavailable(void)
{
	char path[] = "/tmp/cl-cost-XXXXXX";
	int fd = mkstemp(path);
	cl_store *st = NULL;
	cl_size huge = {.name = "huge", .lab_units = 100000, .vcpus = 1, .memory_mib = 64};
	cl_lab big = {.name = "big", .size = "huge", .price_micro = 1000000000,
		      .scheduled_seconds = 87600 * H, .quota_seconds = 87600 * H};
	cl_lab ok = {.name = "ok", .size = "small", .price_micro = 10000, .scheduled_seconds = 20 * H};
	cl_ctx *ctx = NULL;
	cl_lab_estimate *rows = NULL, one = {0};
	size_t n = 0;
	int64_t total = 0;
	char name[16];

	close(fd);
	unlink(path);
	cl_ctx_opts opts = {.db_path = path};
	CHECK_INT(cl_ctx_new(&ctx, &opts), 0);
	if (!ctx)
		return;
	st = cl_ctx_store(ctx);
	CHECK_INT(cl_store_size_put(st, &huge), 0);
	CHECK_INT(cl_store_begin(st), 0);
	CHECK_INT(cl_store_lab_create(st, &big), 0);
	CHECK_INT(cl_store_lab_create(st, &ok), 0);
	for (int i = 0; i < 5300; i++) { /* 5264 fit */
		snprintf(name, sizeof(name), "s%d", i);
		cl_student s = {.lab_id = big.id, .name = name, .quota_seconds = CL_QUOTA_DEFAULT};
		CHECK_INT(cl_store_student_add(st, &s), 0);
	}
	cl_student a = {.lab_id = ok.id, .name = "alice", .quota_seconds = CL_QUOTA_DEFAULT};
	CHECK_INT(cl_store_student_add(st, &a), 0);
	CHECK_INT(cl_store_commit(st), 0);

	CHECK_INT(cl_cost_report(ctx, &rows, &n, &total), 0);
	CHECK_INT(n, 2);
	CHECK_INT(total, -1);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(rows[i].lab, "big") == 0) {
			CHECK(rows[i].unavailable && strstr(rows[i].unavailable, "too large"));
			CHECK_INT(rows[i].est.in.students, 5300);
		} else {
			CHECK(rows[i].unavailable == NULL);
			CHECK_INT(rows[i].est.total_cents, 400); /* 1 × 20 h × 20 units × $0.01 */
		}
		cl_lab_estimate_clear(&rows[i]);
	}
	free(rows);
	CHECK_INT(cl_cost_lab_estimate(ctx, "big", &one), 0);
	CHECK(one.unavailable != NULL);
	cl_lab_estimate_clear(&one);
	CHECK_INT(cl_cost_check_lab(ctx, "big"), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "lab 'big' would have no exact cost estimate (5300 students") != NULL);
	CHECK_INT(cl_cost_check_lab(ctx, "ok"), 0);
	CHECK_INT(cl_cost_check_labs(ctx, "small"), 0);
	CHECK_INT(cl_cost_check_labs(ctx, "huge"), CL_EINVAL);
	CHECK_INT(cl_cost_check_labs(ctx, NULL), CL_EINVAL);
	cl_ctx_free(ctx);
	unlink(path);
	{
		char *wal = cl_aprintf("%s-wal", path), *shm = cl_aprintf("%s-shm", path);
		unlink(wal);
		unlink(shm);
		free(wal);
		free(shm);
	}
}

int main(void)
{
	test_compute();
	test_breakdown();
	test_schedule();
	test_unavailable();
	return tap_done();
}
