/*
 * Lab units, schedules, quotas and cost: estimate = sum over students of
 * (scheduled hours + that student's quota hours) x lab units x price per
 * lab-unit-hour. Integer arithmetic only; rounded half up to cents once.
 */
#ifndef CL_COST_H
#define CL_COST_H

#include "classlab/cl_ctx.h"
#include "classlab/cl_store.h"

#include <stdint.h>

/* Bounds for input (documented in classlab(1)). */
#define CL_STUDENTS_MAX 100000
#define CL_LAB_UNITS_MAX 100000

typedef struct cl_cost_input {
	int64_t students;
	int64_t scheduled_seconds;  /* per student */
	int64_t quota_seconds_sum;  /* sum of every student's quota */
	int64_t lab_units;	    /* per hour */
	int64_t price_micro;	    /* per lab-unit-hour, 1e-6 dollars */
	int64_t quota_seconds_each; /* -1 when students' quotas differ */
} cl_cost_input;

typedef struct cl_estimate {
	cl_cost_input in;
	int64_t student_seconds;   /* students x scheduled + quota sum */
	int64_t lab_unit_seconds;  /* student_seconds x lab_units */
	int64_t total_cents;
} cl_estimate;

/* CL_EINVAL when the total does not fit (every multiplication is checked). */
int cl_cost_compute(const cl_cost_input *in, cl_estimate *out);

/* Hours the lab's schedule covers (weekly events expanded); 0 when none. */
int cl_cost_schedule_seconds(const cl_schedule *events, size_t n, int64_t *seconds);
/*
 * The class window (an event or one of its weekly repeats) that t falls in, counting
 * lead seconds before each start as class: true with *start and *end (the event's own
 * times, without the lead) set; false when t is outside every window.
 */
bool cl_schedule_window_at(const cl_schedule *events, size_t n, int64_t t, int64_t lead,
			   int64_t *start, int64_t *end);

/* The lab's estimate from the store: its size, schedule or scheduled hours, and quotas. */
typedef struct cl_lab_estimate {
	char *lab;
	char *size;
	int64_t overrides; /* students with their own quota */
	bool from_schedule;
	cl_estimate est;   /* est.in always; the results only when available */
	char *unavailable; /* why the total cannot be computed exactly, or NULL */
} cl_lab_estimate;
void cl_lab_estimate_clear(cl_lab_estimate *e);
/*
 * 0 with out->unavailable set when the lab's inputs do not give an exact total
 * (an older database: writes now refuse such inputs); errors are the store's.
 */
int cl_cost_lab_estimate(cl_ctx *ctx, const char *lab, cl_lab_estimate *out);
/*
 * Every lab, in name order, and the grand total in cents: -1 when a lab's
 * estimate is unavailable or the sum does not fit. One lab never fails the report.
 */
int cl_cost_report(cl_ctx *ctx, cl_lab_estimate **out, size_t *n, int64_t *total_cents);

/*
 * The write-time guard: call inside the write transaction that changes an
 * estimate's inputs (students, quotas, hours, schedule, price, a size's lab
 * units), after the change and before the commit. CL_EINVAL, naming the inputs,
 * when the lab's (or, for cl_cost_check_labs, any lab of that size's; size NULL:
 * any lab's) estimate would not be computable, so the caller rolls back.
 */
int cl_cost_check_lab(cl_ctx *ctx, const char *lab);
int cl_cost_check_labs(cl_ctx *ctx, const char *size);

/* "25 × (20 + 10) × 139 × $0.01 = $1042.50" (or the summed form when quotas differ). */
char *cl_cost_breakdown(const cl_estimate *e);

#endif
