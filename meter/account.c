/* Accounting: run intervals split into class and own time, quotas, and the usage report. */
#include "classlab/cl_meter.h"
#include "../ctx/ctx_impl.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

#define WEEK (7 * 24 * 3600)
/* Weekly repeats expanded per lab at most (a century of weekly classes is ~5200). */
#define WINDOWS_MAX 1000000

static int cmp_span(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] > y[1]) - (x[1] < y[1]);
}

/* The lab's class windows, every weekly repeat expanded, lead time added, merged and sorted. */
static int class_windows(const cl_schedule *ev, size_t n, int64_t lead, int64_t (**out)[2],
			 size_t *nout)
{
	int64_t(*w)[2] = NULL;
	size_t len = 0, cap = 0;

	for (size_t i = 0; i < n; i++) {
		int64_t count = 1;
		if (ev[i].weekly_until > ev[i].start) /* the repeat rule of cl_cost_schedule_seconds */
			count = (ev[i].weekly_until - ev[i].start - 1) / WEEK + 1;
		if (count > WINDOWS_MAX || len + (size_t)count > WINDOWS_MAX) {
			free(w);
			return cl_error_set(CL_EINVAL, "the schedule repeats more than %d times",
					    WINDOWS_MAX);
		}
		for (int64_t k = 0; k < count; k++) {
			if (len == cap) {
				cap = cap ? cap * 2 : 16;
				w = cl_realloc(w, cap * sizeof(*w));
			}
			w[len][0] = ev[i].start + k * WEEK - lead;
			w[len][1] = ev[i].end + k * WEEK;
			len++;
		}
	}
	if (len)
		qsort(w, len, sizeof(*w), cmp_span);
	size_t m = 0;
	for (size_t i = 0; i < len; i++) {
		if (m > 0 && w[i][0] <= w[m - 1][1]) {
			if (w[i][1] > w[m - 1][1])
				w[m - 1][1] = w[i][1];
		} else {
			w[m][0] = w[i][0];
			w[m][1] = w[i][1];
			m++;
		}
	}
	*out = w;
	*nout = m;
	return 0;
}

/* Seconds of [s, e) inside the merged windows. */
static int64_t class_part(int64_t (*w)[2], size_t n, int64_t s, int64_t e)
{
	size_t lo = 0, hi = n;
	int64_t sum = 0;

	while (lo < hi) { /* the first window ending after s */
		size_t mid = lo + (hi - lo) / 2;
		if (w[mid][1] <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < n && w[i][0] < e; i++) {
		int64_t a = w[i][0] > s ? w[i][0] : s, b = w[i][1] < e ? w[i][1] : e;
		if (b > a)
			sum += b - a;
	}
	return sum;
}

/* cents = lab-unit-seconds x micro-dollars / 3.6e7, half up, as cost/cost.c rounds. */
static int to_cents(int64_t unit_seconds, int64_t price_micro, int64_t *cents)
{
	const unsigned __int128 div = 36000000;
	unsigned __int128 c;

	if (unit_seconds < 0 || price_micro < 0)
		return cl_error_set(CL_EINVAL, "negative usage");
	c = ((unsigned __int128)unit_seconds * (unsigned __int128)price_micro + div / 2) / div;
	if (c > (unsigned __int128)INT64_MAX)
		return cl_error_set(CL_EINVAL, "usage is too large to price exactly");
	*cents = (int64_t)c;
	return 0;
}

static int too_large(void)
{
	return cl_error_set(CL_EINVAL, "usage is too large to count exactly");
}

static void student_clear(cl_usage_student *s)
{
	free(s->lab);
	free(s->student);
	memset(s, 0, sizeof(*s));
}

static void lab_clear(cl_usage_lab *l)
{
	free(l->lab);
	cl_lab_estimate_clear(&l->estimate);
	free(l->windows);
	free(l->runs);
	memset(l, 0, sizeof(*l));
}

void cl_usage_clear(cl_usage *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nlabs; i++)
		lab_clear(&r->labs[i]);
	free(r->labs);
	for (size_t i = 0; i < r->nstudents; i++)
		student_clear(&r->students[i]);
	free(r->students);
	memset(r, 0, sizeof(*r));
}

/* The row of a student in rows[0..n), or a new row (a student no longer on the roster). */
static cl_usage_student *row_of(cl_usage_student **rows, size_t *n, size_t first,
				const cl_lab *lab, const char *student)
{
	for (size_t i = first; i < *n; i++)
		if (strcmp((*rows)[i].student, student) == 0)
			return &(*rows)[i];
	*rows = cl_realloc(*rows, (*n + 1) * sizeof(**rows));
	cl_usage_student *s = &(*rows)[(*n)++];
	memset(s, 0, sizeof(*s));
	s->lab = cl_strdup(lab->name);
	s->student = cl_strdup(student);
	s->removed = true;
	return s;
}

/*
 * One lab's accounting within [from, to): appends its students to *rows (from index
 * *n) and fills *l. Quota use counts own time from the first interval up to `to`.
 */
static int account_lab(cl_ctx *ctx, const cl_lab *lab, int64_t from, int64_t to,
		       cl_usage_lab *l, cl_usage_student **rows, size_t *n)
{
	cl_store *st = ctx->st;
	cl_lab_service svc = {0};
	cl_size size = {0};
	cl_schedule *ev = NULL;
	cl_quota_status *q = NULL;
	cl_run_interval *runs = NULL;
	size_t nev = 0, nq = 0, nruns = 0, first = *n;
	int rc;

	memset(l, 0, sizeof(*l));
	l->lab = cl_strdup(lab->name);
	l->price_micro = lab->price_micro;
	if ((rc = cl_store_lab_service_get(st, lab->id, &svc)) ||
	    (rc = cl_store_size_get(st, lab->size, &size)) ||
	    (rc = cl_store_schedule_list(st, lab->id, &ev, &nev)) ||
	    (rc = cl_store_quota_status_list(st, lab->id, &q, &nq)) ||
	    (rc = cl_store_run_list(st, lab->id, INT64_MIN, to, &runs, &nruns)) ||
	    (rc = class_windows(ev, nev, svc.lead_minutes * 60, &l->windows, &l->nwindows)))
		goto out;
	l->lab_units = size.lab_units;
	*rows = cl_realloc(*rows, (*n + nq + 1) * sizeof(**rows));
	for (size_t i = 0; i < nq; i++) {
		cl_usage_student *s = &(*rows)[(*n)++];
		memset(s, 0, sizeof(*s));
		s->lab = cl_strdup(lab->name);
		s->student = cl_strdup(q[i].student);
		s->quota_seconds = q[i].quota_seconds;
		s->exempt = q[i].exempt;
	}
	l->runs = cl_calloc(nruns + 1, sizeof(*l->runs));
	for (size_t i = 0; i < nruns; i++) {
		cl_run_interval *r = &runs[i];
		cl_usage_student *s = row_of(rows, n, first, lab, r->student);
		int64_t end = r->end >= 0 ? r->end : r->last_seen;
		int64_t all_e = end < to ? end : to;
		int64_t a = r->start > from ? r->start : from;

		if (all_e > r->start &&
		    __builtin_add_overflow(s->quota_used_seconds,
					   (all_e - r->start) -
						   class_part(l->windows, l->nwindows, r->start, all_e),
					   &s->quota_used_seconds)) {
			rc = too_large();
			goto out;
		}
		if (r->end < 0)
			s->running = true;
		if (r->end >= from && r->end <= to && r->uncertain_seconds > 0) {
			s->uncertain_seconds += r->uncertain_seconds;
			l->uncertain_seconds += r->uncertain_seconds;
			l->uncertain_intervals++;
		}
		if (all_e <= a)
			continue;
		int64_t cls = class_part(l->windows, l->nwindows, a, all_e);
		s->class_seconds += cls;
		s->own_seconds += all_e - a - cls;
		l->runs[l->nruns][0] = a;
		l->runs[l->nruns][1] = all_e;
		l->nruns++;
	}
	for (size_t i = first; i < *n; i++) {
		cl_usage_student *s = &(*rows)[i];
		int64_t secs = s->class_seconds + s->own_seconds;
		if (__builtin_mul_overflow(secs, l->lab_units, &s->lab_unit_seconds) ||
		    __builtin_add_overflow(l->lab_unit_seconds, s->lab_unit_seconds,
					   &l->lab_unit_seconds)) {
			rc = too_large();
			goto out;
		}
		if ((rc = to_cents(s->lab_unit_seconds, lab->price_micro, &s->cents)))
			goto out;
		l->class_seconds += s->class_seconds;
		l->own_seconds += s->own_seconds;
		s->quota_left_seconds = s->quota_seconds > s->quota_used_seconds
						? s->quota_seconds - s->quota_used_seconds
						: 0;
		if (s->quota_seconds > 0)
			s->quota_percent = (int64_t)((unsigned __int128)s->quota_used_seconds * 100 /
						     (unsigned __int128)s->quota_seconds);
		else
			s->quota_percent = s->quota_used_seconds > 0 ? 100 : 0;
	}
	rc = to_cents(l->lab_unit_seconds, lab->price_micro, &l->actual_cents);
out:
	cl_run_interval_list_free(runs, nruns);
	cl_quota_status_list_free(q, nq);
	free(ev);
	cl_size_clear(&size);
	return rc;
}

static int lab_report(cl_ctx *ctx, const cl_lab *lab, int64_t from, int64_t to,
		      cl_usage *r)
{
	cl_usage_lab l = {0};
	int rc = account_lab(ctx, lab, from, to, &l, &r->students, &r->nstudents);

	if (rc == 0)
		rc = cl_cost_lab_estimate(ctx, lab->name, &l.estimate);
	if (rc) {
		lab_clear(&l);
		return rc;
	}
	r->labs = cl_realloc(r->labs, (r->nlabs + 1) * sizeof(*r->labs));
	r->labs[r->nlabs++] = l;
	if (__builtin_add_overflow(r->actual_cents, l.actual_cents, &r->actual_cents))
		return too_large();
	if (r->estimate_cents >= 0 &&
	    (l.estimate.unavailable ||
	     __builtin_add_overflow(r->estimate_cents, l.estimate.est.total_cents,
				    &r->estimate_cents)))
		r->estimate_cents = -1;
	r->uncertain_seconds += l.uncertain_seconds;
	r->uncertain_intervals += l.uncertain_intervals;
	return 0;
}

int cl_usage_report(cl_ctx *ctx, const char *lab, int64_t from, int64_t to, cl_usage *out)
{
	cl_lab *labs = NULL;
	size_t nlabs = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (to <= from)
		return cl_error_set(CL_EINVAL, "the report's end must come after its start");
	if (lab && (rc = cl_name_check("lab name", lab)))
		return rc;
	out->from = from;
	out->to = to;
	/* One snapshot: no interval closes between two labs' queries. */
	if ((rc = cl_store_begin_read(ctx->st)))
		return rc;
	if (lab) {
		labs = cl_calloc(1, sizeof(*labs));
		if ((rc = cl_store_lab_get(ctx->st, lab, labs)) == 0)
			nlabs = 1;
	} else {
		rc = cl_store_lab_list(ctx->st, &labs, &nlabs);
	}
	for (size_t i = 0; rc == 0 && i < nlabs; i++)
		rc = lab_report(ctx, &labs[i], from, to, out);
	cl_store_rollback(ctx->st);
	cl_lab_list_free(labs, nlabs);
	if (rc)
		cl_usage_clear(out);
	return rc;
}

void cl_quota_alert_list_free(cl_quota_alert *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++)
		free(a[i].student);
	free(a);
}

int cl_meter_quota_check(cl_ctx *ctx, const char *lab, int64_t t, cl_quota_alert **out,
			 size_t *n)
{
	cl_lab l = {0};
	cl_usage_lab ul = {0};
	cl_usage_student *rows = NULL;
	cl_quota_status *q = NULL;
	size_t nrows = 0, nq = 0, len = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = cl_name_check("lab name", lab)) || (rc = cl_store_begin_read(ctx->st)))
		return rc;
	if ((rc = cl_store_lab_get(ctx->st, lab, &l)) == 0 &&
	    (rc = cl_store_quota_status_list(ctx->st, l.id, &q, &nq)) == 0)
		rc = account_lab(ctx, &l, t, t, &ul, &rows, &nrows);
	cl_store_rollback(ctx->st);
	if (rc)
		goto out;
	*out = cl_calloc(nrows + 1, sizeof(**out));
	for (size_t i = 0; i < nrows; i++) {
		cl_usage_student *s = &rows[i];
		int64_t used = s->quota_used_seconds, quota = s->quota_seconds;
		cl_quota_alert *a = &(*out)[len];
		/* 90 %: used x 10 >= quota x 9, exact; a quota of 0 stops at the first own second. */
		bool stop = quota > 0 ? used >= quota : used > 0;
		bool warn = stop || (quota > 0 && (unsigned __int128)used * 10 >=
							  (unsigned __int128)quota * 9);
		if (s->exempt || s->removed || !warn)
			continue;
		a->student = cl_strdup(s->student);
		a->level = stop ? CL_QUOTA_STOP : CL_QUOTA_WARN;
		a->used_seconds = used;
		a->quota_seconds = quota;
		for (size_t j = 0; j < nq; j++)
			if (strcmp(q[j].student, s->student) == 0)
				a->warned = q[j].warned_seconds == quota;
		len++;
	}
	*n = len;
out:
	for (size_t i = 0; i < nrows; i++)
		student_clear(&rows[i]);
	free(rows);
	lab_clear(&ul);
	cl_quota_status_list_free(q, nq);
	cl_lab_clear(&l);
	return rc;
}
