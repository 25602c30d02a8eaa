/* Estimates in exact integer arithmetic, from arguments or from a lab in the store. */
#include "classlab/cl_cost.h"
#include "classlab/cl_util.h"
#include "../ctx/ctx_impl.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

#define WEEK (7 * 24 * 3600)

static int too_large(void)
{
	return cl_error_set(CL_EINVAL, "estimate is too large to compute exactly");
}

int cl_cost_compute(const cl_cost_input *in, cl_estimate *out)
{
	int64_t sched_total, student_seconds, unit_seconds;
	unsigned __int128 micro_cents; /* lab-unit-seconds x micro-dollars */

	memset(out, 0, sizeof(*out));
	out->in = *in;
	if (in->students < 0 || in->scheduled_seconds < 0 || in->quota_seconds_sum < 0 ||
	    in->lab_units < 0 || in->price_micro < 0)
		return cl_error_set(CL_EINVAL, "negative input to an estimate");
	if (__builtin_mul_overflow(in->students, in->scheduled_seconds, &sched_total) ||
	    __builtin_add_overflow(sched_total, in->quota_seconds_sum, &student_seconds) ||
	    __builtin_mul_overflow(student_seconds, in->lab_units, &unit_seconds))
		return too_large();
	micro_cents = (unsigned __int128)unit_seconds * (unsigned __int128)in->price_micro;
	/* cents = unit_seconds / 3600 h x price_micro / 1e6 $ x 100 = micro_cents / 3.6e7 */
	const unsigned __int128 div = 36000000;
	unsigned __int128 cents = (micro_cents + div / 2) / div;
	if (cents > (unsigned __int128)INT64_MAX)
		return too_large();
	out->student_seconds = student_seconds;
	out->lab_unit_seconds = unit_seconds;
	out->total_cents = (int64_t)cents;
	return 0;
}

int cl_cost_schedule_seconds(const cl_schedule *events, size_t n, int64_t *seconds)
{
	int64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		int64_t len = events[i].end - events[i].start, count = 1, add;
		if (events[i].weekly_until > events[i].start)
			count = (events[i].weekly_until - events[i].start - 1) / WEEK + 1;
		if (__builtin_mul_overflow(len, count, &add) || __builtin_add_overflow(sum, add, &sum))
			return too_large();
	}
	*seconds = sum;
	return 0;
}

bool cl_schedule_window_at(const cl_schedule *events, size_t n, int64_t t, int64_t lead,
			   int64_t *start, int64_t *end)
{
	for (size_t i = 0; i < n; i++) {
		const cl_schedule *e = &events[i];
		int64_t k = 0, last = 0;
		if (e->weekly_until > e->start)
			last = (e->weekly_until - e->start - 1) / WEEK;
		/* the repeat whose window (start - lead .. end) could hold t */
		if (t + lead > e->start)
			k = (t + lead - e->start) / WEEK;
		if (k > last)
			k = last;
		for (int64_t j = k > 0 ? k - 1 : 0; j <= k; j++) {
			int64_t s = e->start + j * WEEK, en = e->end + j * WEEK;
			if (t >= s - lead && t < en) {
				*start = s;
				*end = en;
				return true;
			}
		}
	}
	return false;
}

void cl_lab_estimate_clear(cl_lab_estimate *e)
{
	if (!e)
		return;
	free(e->lab);
	free(e->size);
	free(e->unavailable);
	memset(e, 0, sizeof(*e));
}

/*
 * Fills an estimate from a lab, its summed quotas and size, and its schedule. Inputs
 * whose estimate does not fit (a database from before the write-time check) give an
 * estimate marked unavailable, not an error: one lab must not hide all the others.
 */
static void lab_estimate(const cl_lab *lab, const cl_lab_totals *t, const cl_schedule *events,
			 size_t nevents, cl_lab_estimate *out)
{
	cl_cost_input in = {0};
	int rc = 0;

	memset(out, 0, sizeof(*out));
	in.students = t->students;
	in.scheduled_seconds = lab->scheduled_seconds;
	if (nevents > 0)
		rc = cl_cost_schedule_seconds(events, nevents, &in.scheduled_seconds);
	in.quota_seconds_sum = t->quota_seconds_sum;
	in.quota_seconds_each = t->overrides == 0 ? lab->quota_seconds : -1;
	in.lab_units = t->lab_units;
	in.price_micro = lab->price_micro;
	if (rc == 0)
		rc = cl_cost_compute(&in, &out->est);
	out->est.in = in;
	if (rc) {
		out->unavailable = cl_strdup(cl_error_msg());
		cl_error_clear();
	}
	out->lab = cl_strdup(lab->name);
	out->size = cl_strdup(lab->size);
	out->overrides = t->overrides;
	out->from_schedule = nevents > 0;
}

int cl_cost_lab_estimate(cl_ctx *ctx, const char *name, cl_lab_estimate *out)
{
	cl_store *st = ctx->st;
	cl_lab lab = {0};
	cl_lab_totals t = {0};
	cl_schedule *events = NULL;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = cl_store_lab_get(st, name, &lab)))
		return rc;
	if ((rc = cl_store_lab_totals(st, lab.id, &t)) == 0 &&
	    (rc = cl_store_schedule_list(st, lab.id, &events, &n)) == 0)
		lab_estimate(&lab, &t, events, n, out);
	free(events);
	cl_lab_clear(&lab);
	return rc;
}

/* The run of events (sorted by lab id) that belongs to lab_id. */
static const cl_schedule *events_of(const cl_schedule *ev, size_t n, int64_t lab_id, size_t *count)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ev[mid].lab_id < lab_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < n && ev[end].lab_id == lab_id)
		end++;
	*count = end - lo;
	return ev + lo;
}

/* Every lab's estimate, in the caller's transaction (if any). */
static int estimate_all(cl_ctx *ctx, cl_lab_estimate **out, size_t *n)
{
	cl_store *st = ctx->st;
	cl_lab *labs = NULL;
	cl_lab_totals *totals = NULL;
	cl_schedule *events = NULL;
	size_t nlabs = 0, ntotals = 0, nevents = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = cl_store_lab_list(st, &labs, &nlabs)) ||
	    (rc = cl_store_lab_totals_all(st, &totals, &ntotals)) ||
	    (rc = cl_store_schedule_list_all(st, &events, &nevents)))
		goto out;
	if (ntotals != nlabs) { /* a lab whose size or totals row is gone: the store is damaged */
		rc = cl_error_set(CL_EFAIL,
				  "the database is damaged: of %zu labs, %zu have a known size and "
				  "student totals",
				  nlabs, ntotals);
		goto out;
	}
	*out = cl_calloc(nlabs + 1, sizeof(**out));
	for (size_t i = 0; i < nlabs; i++) {
		size_t nev;
		const cl_schedule *ev = events_of(events, nevents, labs[i].id, &nev);
		lab_estimate(&labs[i], &totals[i], ev, nev, &(*out)[i]);
	}
	*n = nlabs;
out:
	free(events);
	free(totals);
	cl_lab_list_free(labs, nlabs);
	return rc;
}

int cl_cost_report(cl_ctx *ctx, cl_lab_estimate **out, size_t *n, int64_t *total_cents)
{
	cl_store *st = ctx->st;
	cl_lab_estimate *rows = NULL;
	size_t nrows = 0;
	int64_t total = 0;
	int rc;

	*out = NULL;
	*n = 0;
	*total_cents = 0;
	/* Three queries, one snapshot: no lab can come or go between them. */
	if ((rc = cl_store_begin_read(st)))
		return rc;
	rc = estimate_all(ctx, &rows, &nrows);
	cl_store_rollback(st);
	if (rc)
		return rc;
	for (size_t i = 0; i < nrows && total >= 0; i++)
		if (rows[i].unavailable ||
		    __builtin_add_overflow(total, rows[i].est.total_cents, &total))
			total = -1;
	*out = rows;
	*n = nrows;
	*total_cents = total;
	return 0;
}

static int refuse(const cl_lab_estimate *e)
{
	char *sched = cl_format_hours(e->est.in.scheduled_seconds);
	char *quota = cl_format_hours(e->est.in.quota_seconds_sum);
	char *price = cl_format_price(e->est.in.price_micro);
	int rc = cl_error_set(CL_EINVAL,
			      "lab '%s' would have no exact cost estimate (%lld students, %s "
			      "scheduled hours each, %s quota hours in all, %lld lab units, %s "
			      "per unit-hour: the total does not fit): lower one of them",
			      e->lab, (long long)e->est.in.students, sched, quota,
			      (long long)e->est.in.lab_units, price);
	free(sched);
	free(quota);
	free(price);
	return rc;
}

int cl_cost_check_lab(cl_ctx *ctx, const char *lab)
{
	cl_lab_estimate e = {0};
	int rc = cl_cost_lab_estimate(ctx, lab, &e);

	if (rc == 0 && e.unavailable)
		rc = refuse(&e);
	cl_lab_estimate_clear(&e);
	return rc;
}

int cl_cost_check_labs(cl_ctx *ctx, const char *size)
{
	cl_lab_estimate *rows = NULL;
	size_t n = 0;
	int rc = estimate_all(ctx, &rows, &n);

	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && rows[i].unavailable && (!size || strcmp(rows[i].size, size) == 0))
			rc = refuse(&rows[i]);
		cl_lab_estimate_clear(&rows[i]);
	}
	free(rows);
	return rc;
}

char *cl_cost_breakdown(const cl_estimate *e)
{
	char *sched = cl_format_hours(e->in.scheduled_seconds);
	char *price = cl_format_price(e->in.price_micro);
	char *total = cl_format_cents(e->total_cents);
	char *r;

	if (e->in.quota_seconds_each >= 0) {
		char *quota = cl_format_hours(e->in.quota_seconds_each);
		r = cl_aprintf("%lld × (%s + %s) × %lld × %s = %s", (long long)e->in.students, sched,
			       quota, (long long)e->in.lab_units, price, total);
		free(quota);
	} else {
		char *quota = cl_format_hours(e->in.quota_seconds_sum);
		r = cl_aprintf("(%lld × %s + %s) × %lld × %s = %s", (long long)e->in.students, sched,
			       quota, (long long)e->in.lab_units, price, total);
		free(quota);
	}
	free(sched);
	free(price);
	free(total);
	return r;
}
