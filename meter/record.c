/* Recording run intervals from what the service sees, under the clock rules of cl_meter.h. */
#include "classlab/cl_meter.h"
#include "../ctx/ctx_impl.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

#define GAP (2 * CL_METER_HEARTBEAT_S)

/* Opens an interval for vm at t, never before its last one ended; skips non-student VMs. */
static int open_at(cl_store *st, const char *vm, int64_t t)
{
	int64_t last_end = 0;
	int rc = cl_store_run_last_end(st, vm, &last_end);

	if (rc)
		return rc;
	rc = cl_store_run_open(st, vm, t > last_end ? t : last_end, NULL);
	if (rc == CL_ENOTFOUND) { /* not a student VM: nothing to meter */
		cl_error_clear();
		rc = 0;
	}
	return rc;
}

/* The VM's open interval in *r (*open false when none). */
static int open_of(cl_store *st, const char *vm, cl_run_interval *r, bool *open)
{
	int rc = cl_store_run_open_get(st, vm, r);

	*open = rc == 0;
	return rc == CL_ENOTFOUND ? 0 : rc;
}

/*
 * A heartbeat of one VM at t: last_seen moves to t, unless the gap since last_seen is
 * longer than two heartbeats (closed at last_seen + 1 heartbeat, reopened at t).
 */
static int beat(cl_store *st, const char *vm, int64_t t)
{
	cl_run_interval r = {0};
	bool open;
	int rc = open_of(st, vm, &r, &open);

	if (rc == 0 && !open)
		rc = open_at(st, vm, t);
	else if (rc == 0 && t - r.last_seen > GAP) {
		rc = cl_store_run_close(st, r.id, r.last_seen + CL_METER_HEARTBEAT_S,
					CL_RUN_CLOSED_CLOCK, CL_METER_HEARTBEAT_S);
		if (rc == 0)
			rc = open_at(st, vm, t);
	} else if (rc == 0)
		rc = cl_store_run_seen(st, r.id, t); /* keeps the maximum: a step back is a no-op */
	cl_run_interval_clear(&r);
	return rc;
}

/*
 * Closes an open interval because its VM stopped (or the service did) at t: at t, never
 * before last_seen; after a gap of more than two heartbeats, at last_seen + 1 heartbeat.
 */
static int close_at(cl_store *st, const cl_run_interval *r, int64_t t, cl_run_closed how)
{
	if (t - r->last_seen > GAP)
		return cl_store_run_close(st, r->id, r->last_seen + CL_METER_HEARTBEAT_S,
					  CL_RUN_CLOSED_CLOCK, CL_METER_HEARTBEAT_S);
	return cl_store_run_close(st, r->id, t > r->last_seen ? t : r->last_seen, how, 0);
}

int cl_meter_started(cl_ctx *ctx, const char *vm)
{
	return cl_meter_started_at(ctx, vm, cl_ctx_now(ctx));
}

int cl_meter_started_at(cl_ctx *ctx, const char *vm, int64_t t)
{
	int rc = cl_store_begin(ctx->st);

	if (rc == 0)
		rc = cl_store_end(ctx->st, beat(ctx->st, vm, t));
	return rc;
}

int cl_meter_seen(cl_ctx *ctx, const char *const *vms, size_t n)
{
	int64_t t = cl_ctx_now(ctx);
	int rc = cl_store_begin(ctx->st);

	if (rc)
		return rc;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = beat(ctx->st, vms[i], t);
	return cl_store_end(ctx->st, rc);
}

int cl_meter_stopped(cl_ctx *ctx, const char *vm)
{
	return cl_meter_stopped_at(ctx, vm, cl_ctx_now(ctx));
}

int cl_meter_stopped_at(cl_ctx *ctx, const char *vm, int64_t t)
{
	cl_run_interval r = {0};
	bool open = false;
	int rc = cl_store_begin(ctx->st);

	if (rc)
		return rc;
	if ((rc = open_of(ctx->st, vm, &r, &open)) == 0 && open)
		rc = close_at(ctx->st, &r, t, CL_RUN_CLOSED_EVENT);
	cl_run_interval_clear(&r);
	return cl_store_end(ctx->st, rc);
}

static bool in_set(const char *const *set, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(set[i], name) == 0)
			return true;
	return false;
}

int cl_meter_reconcile(cl_ctx *ctx, const char *const *running, size_t n)
{
	cl_run_interval *open = NULL;
	size_t nopen = 0;
	int64_t t = cl_ctx_now(ctx);
	int rc = cl_store_begin(ctx->st);

	if (rc)
		return rc;
	if ((rc = cl_store_run_open_list(ctx->st, &open, &nopen)))
		goto out;
	for (size_t i = 0; rc == 0 && i < nopen; i++) {
		cl_run_interval *r = &open[i];
		bool runs = in_set(running, n, r->vm_name);
		int64_t gap = t - r->last_seen;

		if (runs && gap <= CL_METER_HEARTBEAT_S) {
			rc = cl_store_run_seen(ctx->st, r->id, t);
			continue;
		}
		if (gap < 0)
			gap = 0;
		rc = cl_store_run_close(ctx->st, r->id, r->last_seen, CL_RUN_CLOSED_RECONCILE,
					gap < CL_METER_HEARTBEAT_S ? gap : CL_METER_HEARTBEAT_S);
	}
	/* Every running VM now has an open interval: kept above, or a new one from now. */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		cl_run_interval r = {0};
		bool is_open;
		if ((rc = open_of(ctx->st, running[i], &r, &is_open)) == 0 && !is_open)
			rc = open_at(ctx->st, running[i], t);
		cl_run_interval_clear(&r);
	}
out:
	cl_run_interval_list_free(open, nopen);
	return cl_store_end(ctx->st, rc);
}

int cl_meter_service_stop(cl_ctx *ctx)
{
	cl_run_interval *open = NULL;
	size_t nopen = 0;
	int64_t t = cl_ctx_now(ctx);
	int rc = cl_store_begin(ctx->st);

	if (rc)
		return rc;
	rc = cl_store_run_open_list(ctx->st, &open, &nopen);
	for (size_t i = 0; rc == 0 && i < nopen; i++)
		rc = close_at(ctx->st, &open[i], t, CL_RUN_CLOSED_SERVICE);
	cl_run_interval_list_free(open, nopen);
	return cl_store_end(ctx->st, rc);
}

/* ---- settings and quota flags ---- */

static int lab_id_of(cl_ctx *ctx, const char *lab, int64_t *id)
{
	cl_lab l = {0};
	int rc = cl_name_check("lab name", lab);

	if (rc == 0 && (rc = cl_store_lab_get(ctx->st, lab, &l)) == 0)
		*id = l.id;
	cl_lab_clear(&l);
	return rc;
}

int cl_meter_lab_settings(cl_ctx *ctx, const char *lab, cl_lab_service *out)
{
	int64_t id = 0;
	int rc = lab_id_of(ctx, lab, &id);

	return rc ? rc : cl_store_lab_service_get(ctx->st, id, out);
}

int cl_meter_lab_settings_set(cl_ctx *ctx, const char *lab, const cl_lab_service *s)
{
	int64_t id = 0;
	int rc;

	if (s->idle_minutes < 0 || s->idle_minutes > CL_IDLE_MINUTES_MAX)
		return cl_error_set(CL_EINVAL, "idle minutes must be 0 (never) to %d",
				    CL_IDLE_MINUTES_MAX);
	if (s->lead_minutes < 0 || s->lead_minutes > CL_LEAD_MINUTES_MAX)
		return cl_error_set(CL_EINVAL, "lead minutes must be 0 to %d", CL_LEAD_MINUTES_MAX);
	if (s->stop_grace_seconds < 0 || s->stop_grace_seconds > CL_STOP_GRACE_MAX)
		return cl_error_set(CL_EINVAL, "stop grace must be 0 to %d seconds",
				    CL_STOP_GRACE_MAX);
	if (!cl_stop_mode_name(s->stop_mode))
		return cl_error_set(CL_EINVAL, "stop mode must be 'shutdown' or 'save'");
	if ((rc = cl_store_begin(ctx->st)))
		return rc;
	if ((rc = lab_id_of(ctx, lab, &id)) == 0)
		rc = cl_store_lab_service_set(ctx->st, id, s);
	return cl_store_end(ctx->st, rc);
}

char *cl_meter_idle_rule(const cl_lab_service *s)
{
	if (s->idle_minutes == 0)
		return cl_strdup("never stopped for being idle");
	return cl_aprintf("stopped after %lld minute%s with no SSH connection to its forward and "
			  "no Jupyter activity",
			  (long long)s->idle_minutes, s->idle_minutes == 1 ? "" : "s");
}

int cl_meter_quota_exempt(cl_ctx *ctx, const char *lab, const char *student, bool exempt)
{
	int64_t id = 0;
	int rc = cl_name_check("student name", student);

	if (rc || (rc = cl_store_begin(ctx->st)))
		return rc;
	if ((rc = lab_id_of(ctx, lab, &id)) == 0)
		rc = cl_store_student_set_exempt(ctx->st, id, student, exempt);
	return cl_store_end(ctx->st, rc);
}

int cl_meter_quota_warned(cl_ctx *ctx, const char *lab, const char *student,
			  int64_t quota_seconds)
{
	int64_t id = 0;
	int rc = cl_store_begin(ctx->st);

	if (rc)
		return rc;
	if ((rc = lab_id_of(ctx, lab, &id)) == 0)
		rc = cl_store_student_set_warned(ctx->st, id, student, quota_seconds);
	return cl_store_end(ctx->st, rc);
}
