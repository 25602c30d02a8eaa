/* Unit tests for meter/ recording: events, heartbeats, a killed service, reconcile, clock steps. */
#include "meter_fixture.h"

/* Start, heartbeats, stop: one exact interval closed by the event. */
static void test_event(cl_ctx *ctx)
{
	cl_run_interval r = {0};

	fx_clock = MONDAY + 20 * H;
	CHECK_INT(cl_meter_started(ctx, "ml-alice"), 0);
	CHECK_INT(cl_meter_started(ctx, "ml-alice"), 0); /* a repeated event opens nothing new */
	fx_beat_until(ctx, "ml-alice", MONDAY + 21 * H);
	CHECK_INT(cl_store_run_open_get(cl_ctx_store(ctx), "ml-alice", &r), 0);
	CHECK_INT(r.last_seen, MONDAY + 21 * H);
	cl_run_interval_clear(&r);
	CHECK_INT(cl_meter_stopped(ctx, "ml-alice"), 0);
	CHECK_INT(cl_meter_stopped(ctx, "ml-alice"), 0); /* a repeated stop changes nothing */
	size_t n;
	int64_t unc;
	CHECK_INT(fx_total(ctx, "ml-alice", &n, &unc), H);
	CHECK_INT(n, 1);
	CHECK_INT(unc, 0);
	CHECK_INT(cl_store_run_open_get(cl_ctx_store(ctx), "ml-alice", &r), CL_ENOTFOUND);
	/* VMs that are not students' are not metered, and that is no error. */
	const char *other[] = {"ml-template", "nobody"};
	CHECK_INT(cl_meter_seen(ctx, other, 2), 0);
	CHECK_INT(cl_meter_started(ctx, "nobody"), 0);
	CHECK_INT(fx_total(ctx, "nobody", &n, NULL), 0);
	CHECK_INT(n, 0);
}

/*
 * The service is killed 15 s after its last heartbeat while bob's VM runs; the VM is
 * stopped by hand at that moment; the service restarts an hour later. The hours counted
 * are within one heartbeat of what ran, and the interval says how uncertain it is.
 */
static void test_kill(cl_ctx *ctx)
{
	cl_run_interval *r = NULL;
	size_t n = 0, count;
	int64_t unc, ran;

	fx_clock = MONDAY + 30 * H;
	CHECK_INT(cl_meter_started(ctx, "ml-bob"), 0);
	fx_beat_until(ctx, "ml-bob", MONDAY + 30 * H + 1800);
	ran = 1800 + 15; /* the VM really ran until the kill */
	fx_clock = MONDAY + 31 * H + 1815;
	CHECK_INT(cl_meter_reconcile(ctx, NULL, 0), 0);
	int64_t counted = fx_total(ctx, "ml-bob", &count, &unc);
	CHECK(counted <= ran && ran - counted <= CL_METER_HEARTBEAT_S);
	CHECK_INT(counted, 1800);
	CHECK_INT(unc, CL_METER_HEARTBEAT_S);
	CHECK_INT(cl_store_run_list(cl_ctx_store(ctx), 0, INT64_MIN, INT64_MAX, &r, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(r[i].vm_name, "ml-bob") == 0)
			CHECK_STR(cl_run_closed_name(r[i].closed_by), "reconcile");
	cl_run_interval_list_free(r, n);

	/* Killed again while the VM keeps running: closed at last_seen, reopened at restart. */
	fx_clock = MONDAY + 40 * H;
	CHECK_INT(cl_meter_started(ctx, "ml-bob"), 0);
	fx_beat_until(ctx, "ml-bob", MONDAY + 40 * H + 600);
	fx_clock += 10; /* restarted within a heartbeat: the interval simply continues */
	const char *running[] = {"ml-bob"};
	CHECK_INT(cl_meter_reconcile(ctx, running, 1), 0);
	CHECK_INT(fx_total(ctx, "ml-bob", &count, &unc), 1800 + 610);
	CHECK_INT(count, 2);
	/* Now a restart after a long outage with the VM still running. */
	fx_clock += 3 * H;
	CHECK_INT(cl_meter_reconcile(ctx, running, 1), 0);
	CHECK_INT(fx_total(ctx, "ml-bob", &count, &unc), 1800 + 610);
	CHECK_INT(count, 3); /* closed at last_seen, a new one open from now */
	CHECK_INT(unc, 2 * CL_METER_HEARTBEAT_S);

	/* Double reconcile: nothing counted twice, no new rows. */
	CHECK_INT(cl_meter_reconcile(ctx, running, 1), 0);
	CHECK_INT(cl_meter_reconcile(ctx, running, 1), 0);
	CHECK_INT(fx_total(ctx, "ml-bob", &count, NULL), 1800 + 610);
	CHECK_INT(count, 3);
	fx_clock += 20;
	CHECK_INT(cl_meter_reconcile(ctx, running, 1), 0);
	CHECK_INT(fx_total(ctx, "ml-bob", &count, NULL), 1800 + 630);
	CHECK_INT(count, 3);
	fx_clock += 30;
	CHECK_INT(cl_meter_stopped(ctx, "ml-bob"), 0);
	CHECK_INT(fx_total(ctx, "ml-bob", &count, NULL), 1800 + 660);
}

/* A VM started outside the service is metered from the heartbeat that first sees it. */
static void test_unknown_start(cl_ctx *ctx)
{
	const char *set[] = {"ml-carol"};
	size_t count;

	fx_clock = MONDAY + 50 * H;
	CHECK_INT(cl_meter_seen(ctx, set, 1), 0);
	fx_beat_until(ctx, "ml-carol", MONDAY + 50 * H + 300);
	CHECK_INT(cl_meter_service_stop(ctx), 0);
	CHECK_INT(fx_total(ctx, "ml-carol", &count, NULL), 300);
	CHECK_INT(count, 1);
	/* reconcile at start: a running VM the service never saw is metered from now */
	fx_clock = MONDAY + 51 * H;
	CHECK_INT(cl_meter_reconcile(ctx, set, 1), 0);
	fx_beat_until(ctx, "ml-carol", MONDAY + 51 * H + 60);
	CHECK_INT(cl_meter_stopped(ctx, "ml-carol"), 0);
	CHECK_INT(fx_total(ctx, "ml-carol", &count, NULL), 360);
	CHECK_INT(count, 2);
}

/* Clock steps: back never gives negative or overlapping time; forward invents no hours. */
static void test_clock(cl_ctx *ctx)
{
	const char *set[] = {"ml-alice"};
	size_t count;
	int64_t unc, before = fx_total(ctx, "ml-alice", NULL, NULL);

	fx_clock = MONDAY + 60 * H;
	CHECK_INT(cl_meter_started(ctx, "ml-alice"), 0);
	fx_beat_until(ctx, "ml-alice", MONDAY + 60 * H + 120);
	fx_clock -= 1000; /* NTP steps the clock back */
	CHECK_INT(cl_meter_seen(ctx, set, 1), 0);
	CHECK_INT(cl_meter_stopped(ctx, "ml-alice"), 0); /* closes at last_seen, not before */
	CHECK_INT(fx_total(ctx, "ml-alice", &count, NULL), before + 120);
	fx_clock += 100; /* still behind the last end: the next interval starts there */
	CHECK_INT(cl_meter_started(ctx, "ml-alice"), 0);
	fx_clock = MONDAY + 60 * H + 180;
	CHECK_INT(cl_meter_stopped(ctx, "ml-alice"), 0);
	CHECK_INT(fx_total(ctx, "ml-alice", &count, NULL), before + 180); /* checks no overlap */

	/* A forward step of 10 h between heartbeats: closed at last_seen + 1 heartbeat. */
	fx_clock = MONDAY + 70 * H;
	CHECK_INT(cl_meter_started(ctx, "ml-alice"), 0);
	fx_beat_until(ctx, "ml-alice", MONDAY + 70 * H + 60);
	fx_clock += 10 * H;
	CHECK_INT(cl_meter_seen(ctx, set, 1), 0);
	fx_beat_until(ctx, "ml-alice", fx_clock + 60);
	CHECK_INT(cl_meter_stopped(ctx, "ml-alice"), 0);
	CHECK_INT(fx_total(ctx, "ml-alice", &count, &unc), before + 180 + 60 + 30 + 60);
	CHECK_INT(unc, CL_METER_HEARTBEAT_S);
	/* and a stop event after a forward step: the same rule */
	fx_clock = MONDAY + 90 * H;
	CHECK_INT(cl_meter_started(ctx, "ml-alice"), 0);
	fx_clock += 5 * H;
	CHECK_INT(cl_meter_stopped(ctx, "ml-alice"), 0);
	CHECK_INT(fx_total(ctx, "ml-alice", &count, &unc), before + 180 + 150 + 30);
	CHECK_INT(unc, 2 * CL_METER_HEARTBEAT_S);
}

/*
 * Events metered late (they waited for the service's lock, less than two heartbeats)
 * count from when they happened.
 */
static void test_late_event(cl_ctx *ctx)
{
	size_t n0, n;

	int64_t before = fx_total(ctx, "ml-carol", &n0, NULL);
	fx_clock = MONDAY + 60 * H;
	CHECK_INT(cl_meter_started_at(ctx, "ml-carol", MONDAY + 60 * H - 20), 0);
	fx_beat_until(ctx, "ml-carol", MONDAY + 60 * H + 200);
	fx_clock = MONDAY + 60 * H + 300;
	CHECK_INT(cl_meter_stopped_at(ctx, "ml-carol", MONDAY + 60 * H + 230), 0);
	CHECK_INT(fx_total(ctx, "ml-carol", &n, NULL) - before, 250);
	CHECK_INT(n, n0 + 1);
}

int main(void)
{
	cl_lab lab = {0};
	cl_ctx *ctx = fx_open(&lab);

	test_event(ctx);
	test_kill(ctx);
	test_unknown_start(ctx);
	test_clock(ctx);
	test_late_event(ctx);
	fx_close(ctx);
	return tap_done();
}
