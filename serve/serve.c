/* The service's policy: schedules, metering, quotas and idle VMs, one pass at a time (cl_serve.h). */
#include "classlab/cl_serve.h"
#include "classlab/cl_cost.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_meter.h"
#include "classlab/cl_templates.h"
#include "../ctx/ctx_impl.h"
#include "classlab/cl_openstack.h"
#include "classlab/banned.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct seen {
	char *vm;
	int64_t last_active; /* when someone was last seen using it (or when first seen) */
} seen;

struct cl_serve {
	cl_ctx *ctx;
	pthread_mutex_t lock;
	cl_vm_watch *watch;
	seen *seen;
	size_t nseen;
	char **running; /* the student VMs running after the last pass */
	size_t nrunning;
	bool reconciled;
};

/* One lab during a pass: its settings, schedule window and VMs. */
typedef struct lab_pass {
	const cl_lab *lab;
	cl_lab_service svc;
	bool in_class;
	int64_t win_start, win_end;
	cl_vm_status *vms;
	size_t n;
} lab_pass;

static seen *seen_get(cl_serve *s, const char *vm, int64_t now);

int cl_serve_new(cl_serve **out, cl_ctx *ctx)
{
	cl_serve *s = cl_calloc(1, sizeof(*s));
	s->ctx = ctx;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void cl_serve_lock(cl_serve *s)
{
	pthread_mutex_lock(&s->lock);
}

void cl_serve_unlock(cl_serve *s)
{
	pthread_mutex_unlock(&s->lock);
}

/*
 * A VM's lifecycle event, on the watcher's thread: metered when it happened, so an
 * interval starts and ends when the hypervisor says, not at the next pass. A paused
 * VM keeps its memory and its interval.
 */
static void on_event(void *arg, const char *vm, cl_vm_event ev, int64_t when)
{
	cl_serve *s = arg;
	int rc = 0;

	if (ev != CL_VM_EVENT_STARTED && ev != CL_VM_EVENT_STOPPED && ev != CL_VM_EVENT_SAVED &&
	    ev != CL_VM_EVENT_CRASHED)
		return;
	cl_serve_lock(s);
	/*
	 * when is the wall clock's; the meter keeps the handle's (a test's may be moved).
	 * The time the event waited (for a client's long command to free the lock) is
	 * taken off the handle's clock, so the interval's edge is when it happened.
	 */
	int64_t waited = (int64_t)time(NULL) - when, t = cl_ctx_now(s->ctx);
	if (waited > 0)
		t -= waited;
	rc = ev == CL_VM_EVENT_STARTED ? cl_meter_started_at(s->ctx, vm, t)
				       : cl_meter_stopped_at(s->ctx, vm, t);
	if (ev == CL_VM_EVENT_STARTED) /* a fresh start is not idle from before */
		seen_get(s, vm, cl_ctx_now(s->ctx))->last_active = cl_ctx_now(s->ctx);
	if (rc)
		cl_ctx_warn(s->ctx, "metering %s (%s): %s", vm, cl_vm_event_name(ev), cl_error_msg());
	else
		cl_ctx_progress(s->ctx, "%s %s", vm, cl_vm_event_name(ev));
	cl_serve_unlock(s);
}

int cl_serve_watch(cl_serve *s)
{
	cl_ctx *ctx = s->ctx;
	int rc = cl_ctx_connect(ctx);

	if (rc == 0 && !s->watch)
		rc = cl_vm_ops(ctx->hv)->watch(ctx->hv, on_event, s, &s->watch);
	return rc;
}

void cl_serve_free(cl_serve *s)
{
	if (!s)
		return;
	if (s->watch)
		cl_vm_ops(s->ctx->hv)->unwatch(s->watch);
	pthread_mutex_destroy(&s->lock);
	for (size_t i = 0; i < s->nseen; i++)
		free(s->seen[i].vm);
	free(s->seen);
	cl_strv_free(s->running, s->nrunning);
	free(s);
}

static seen *seen_get(cl_serve *s, const char *vm, int64_t now)
{
	for (size_t i = 0; i < s->nseen; i++)
		if (strcmp(s->seen[i].vm, vm) == 0)
			return &s->seen[i];
	s->seen = cl_realloc(s->seen, (s->nseen + 1) * sizeof(*s->seen));
	s->seen[s->nseen] = (seen){cl_strdup(vm), now};
	return &s->seen[s->nseen++];
}

/* Running, or paused (it still holds its memory): metered, and stopped by the rules. */
static bool is_running(const cl_vm_status *v)
{
	return v->dom == CL_DOM_RUNNING || v->dom == CL_DOM_PAUSED;
}

/*
 * The forward's connections can be counted only on this host: a lab whose hypervisor
 * is remote (qemu+ssh://host/...) has its forwards there, a cloud's on its floating IP.
 */
static bool hv_is_local(const char *uri)
{
	const char *p = uri ? strstr(uri, "://") : NULL;
	return !cl_openstack_uri(uri) && (!p || p[3] == '/' || p[3] == '\0');
}

static bool is_student(const cl_vm_status *v)
{
	return v->vm_kind == CL_VM_KIND_STUDENT && v->student;
}

static bool in_list(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Starts or stops one student's VM, metered at once, said in the log; false on failure. */
static bool act(cl_serve *s, lab_pass *lp, cl_vm_status *v, bool start, const char *why,
		cl_serve_tick_result *r)
{
	cl_ctx *ctx = s->ctx;
	const char *lab = lp->lab->name;
	int rc;

	cl_ctx_progress(ctx, "lab '%s': %s %s: %s", lab, start ? "starting" : "stopping", v->name, why);
	rc = start ? cl_vm_start(ctx, lab, v->student) : cl_vm_stop(ctx, lab, v->student);
	if (rc) {
		cl_ctx_warn(ctx, "lab '%s': cannot %s %s: %s", lab, start ? "start" : "stop", v->name,
			    cl_error_msg());
		r->errors++;
		return false;
	}
	if ((start ? cl_meter_started(ctx, v->name) : cl_meter_stopped(ctx, v->name)))
		cl_ctx_warn(ctx, "lab '%s': cannot meter %s: %s", lab, v->name, cl_error_msg());
	v->dom = start ? CL_DOM_RUNNING : CL_DOM_SHUTOFF;
	if (start)
		seen_get(s, v->name, cl_ctx_now(ctx))->last_active = cl_ctx_now(ctx);
	return true;
}

/*
 * Class windows: a window's start is acted on once (event class-start, detail
 * "START..END"); its end once (class-stop with the same detail), also when the
 * service was down at the end and comes back later.
 */
static int schedules(cl_serve *s, lab_pass *lp, cl_serve_tick_result *r)
{
	cl_ctx *ctx = s->ctx;
	const char *lab = lp->lab->name;
	int64_t now = cl_ctx_now(ctx), ws, we;
	char *detail = NULL, *last = NULL;
	bool found = false;
	int rc;

	if (lp->in_class) {
		detail = cl_aprintf("%" PRId64 "..%" PRId64, lp->win_start, lp->win_end);
		if ((rc = cl_store_event_find(ctx->st, lab, "class-start", detail, &found)) || found ||
		    (rc = cl_store_event_add_at(ctx->st, now, lab, "class-start", detail)))
			goto out;
		char *from = cl_format_time(lp->win_start), *to = cl_format_time(lp->win_end);
		char *why = cl_aprintf("class %s to %s", from, to);
		for (size_t i = 0; i < lp->n; i++)
			if (is_student(&lp->vms[i]) && !is_running(&lp->vms[i]))
				r->started += act(s, lp, &lp->vms[i], true, why, r);
		free(why);
		free(from);
		free(to);
		goto out;
	}
	/* Outside every window: the last window started, if it has not been stopped. */
	if ((rc = cl_store_event_last(ctx->st, lab, "class-start", &last)) || !last)
		goto out;
	if (sscanf(last, "%" SCNd64 "..%" SCNd64, &ws, &we) != 2 || now < we)
		goto out;
	if ((rc = cl_store_event_find(ctx->st, lab, "class-stop", last, &found)) || found ||
	    (rc = cl_store_event_add_at(ctx->st, now, lab, "class-stop", last)))
		goto out;
	for (size_t i = 0; i < lp->n; i++)
		if (is_student(&lp->vms[i]) && is_running(&lp->vms[i]))
			r->stopped_class += act(s, lp, &lp->vms[i], false, "class over", r);
out:
	free(detail);
	free(last);
	return rc;
}

/*
 * Outside class a student's own time counts against the quota: at 90 % a message on
 * the VM's terminals (once per quota value), at 100 % the VM stops (and cl_vm_start
 * refuses it outside class until the quota is raised or the student exempted).
 */
static int quotas(cl_serve *s, lab_pass *lp, cl_serve_tick_result *r)
{
	cl_ctx *ctx = s->ctx;
	cl_quota_alert *a = NULL;
	size_t na = 0;
	int rc;

	if (lp->in_class || (rc = cl_meter_quota_check(ctx, lp->lab->name, cl_ctx_now(ctx), &a, &na)))
		return lp->in_class ? 0 : rc;
	for (size_t i = 0; i < na; i++) {
		cl_vm_status *v = NULL;
		for (size_t j = 0; j < lp->n; j++)
			if (is_student(&lp->vms[j]) && strcmp(lp->vms[j].student, a[i].student) == 0)
				v = &lp->vms[j];
		if (!v || !is_running(v))
			continue;
		char *used = cl_format_hours(a[i].used_seconds), *quota = cl_format_hours(a[i].quota_seconds);
		if (a[i].level == CL_QUOTA_STOP) {
			char *why = cl_aprintf("quota used up (%s of %s hours outside class)", used, quota);
			if (act(s, lp, v, false, why, r)) {
				r->stopped_quota++;
				cl_store_event_add_at(ctx->st, cl_ctx_now(ctx), lp->lab->name, "quota-stop",
						      v->name);
			}
			free(why);
		} else if (!a[i].warned) {
			char *msg = cl_aprintf("classlab: %s has used %s of %s quota hours outside class; "
					       "at %s this VM stops until class or until the quota "
					       "is raised.",
					       a[i].student, used, quota, quota);
			cl_ctx_progress(ctx, "lab '%s': warning %s: %s of %s quota hours used",
					lp->lab->name, v->name, used, quota);
			if (cl_vm_message(ctx, lp->lab->name, a[i].student, msg) == 0 &&
			    cl_meter_quota_warned(ctx, lp->lab->name, a[i].student, a[i].quota_seconds) == 0)
				r->warned++;
			else
				cl_ctx_warn(ctx, "lab '%s': cannot warn %s: %s", lp->lab->name, v->name,
					    cl_error_msg());
			free(msg);
		}
		free(used);
		free(quota);
	}
	cl_quota_alert_list_free(a, na);
	return 0;
}

/*
 * A running student VM with no established TCP connection to its forward and no
 * Jupyter activity for the lab's idle minutes stops, in class or not. Jupyter is
 * asked over SSH only once the connections say idle for long enough.
 */
static int idle(cl_serve *s, lab_pass *lp, cl_serve_tick_result *r)
{
	cl_ctx *ctx = s->ctx;
	int64_t now = cl_ctx_now(ctx), limit = lp->svc.idle_minutes * 60;

	if (!hv_is_local(lp->lab->hv_uri))
		return 0;
	for (size_t i = 0; i < lp->n && limit > 0; i++) {
		cl_vm_status *v = &lp->vms[i];
		int conns = 0;
		int64_t jupyter = 0;
		if (!is_student(v) || !is_running(v) || v->ssh_port <= 0)
			continue;
		seen *sv = seen_get(s, v->name, now);
		if (cl_tcp_established(v->ssh_port, &conns) == 0 && conns > 0)
			sv->last_active = now;
		if (now - sv->last_active < limit)
			continue;
		if (cl_vm_jupyter_activity(ctx, lp->lab->name, v->student, &jupyter) == 0 &&
		    jupyter > sv->last_active) {
			sv->last_active = jupyter < now ? jupyter : now;
			if (now - sv->last_active < limit)
				continue;
		}
		char *rule = cl_meter_idle_rule(&lp->svc);
		char *why = cl_aprintf("idle for %" PRId64 " min (%s)", (now - sv->last_active) / 60, rule);
		if (act(s, lp, v, false, why, r)) {
			r->stopped_idle++;
			cl_store_event_add_at(ctx->st, now, lp->lab->name, "idle-stop", v->name);
		}
		sv->last_active = now;
		free(why);
		free(rule);
	}
	return 0;
}

static int lab_pass_open(cl_serve *s, const cl_lab *lab, lab_pass *lp)
{
	cl_ctx *ctx = s->ctx;
	cl_schedule *ev = NULL;
	size_t nev = 0;
	int rc;

	memset(lp, 0, sizeof(*lp));
	lp->lab = lab;
	if ((rc = cl_meter_lab_settings(ctx, lab->name, &lp->svc)) ||
	    (rc = cl_schedule_list(ctx, lab->name, &ev, &nev)) ||
	    (rc = cl_vm_status_list(ctx, lab->name, &lp->vms, &lp->n)))
		goto out;
	lp->in_class = cl_schedule_window_at(ev, nev, cl_ctx_now(ctx), lp->svc.lead_minutes * 60,
					     &lp->win_start, &lp->win_end);
out:
	free(ev);
	return rc;
}

/*
 * Metering from what runs now: the first pass reconciles with what the store says
 * (a killed service's intervals close at their last heartbeat); later passes close
 * the intervals of VMs that stopped since and beat for the others.
 */
static int meter(cl_serve *s, char **now_running, size_t n)
{
	cl_ctx *ctx = s->ctx;
	int rc = 0;

	if (!s->reconciled) {
		rc = cl_meter_reconcile(ctx, (const char *const *)now_running, n);
		s->reconciled = rc == 0;
		return rc;
	}
	for (size_t i = 0; i < s->nrunning && rc == 0; i++)
		if (!in_list(now_running, n, s->running[i]))
			rc = cl_meter_stopped(ctx, s->running[i]);
	return rc ? rc : cl_meter_seen(ctx, (const char *const *)now_running, n);
}

int cl_serve_tick(cl_serve *s, cl_serve_tick_result *out)
{
	cl_ctx *ctx = s->ctx;
	cl_lab *labs = NULL;
	size_t nlabs = 0, nrun = 0;
	lab_pass *lps = NULL;
	char **run = NULL;
	cl_serve_tick_result r = {0};
	int rc = cl_labs_list(ctx, &labs, &nlabs);

	if (rc)
		goto out;
	lps = cl_calloc(nlabs + 1, sizeof(*lps));
	for (size_t i = 0; i < nlabs; i++) {
		lps[i].lab = NULL;
		if (!labs[i].hv_uri) /* nothing built or published here yet */
			continue;
		if (lab_pass_open(s, &labs[i], &lps[i])) {
			cl_ctx_warn(ctx, "lab '%s': %s", labs[i].name, cl_error_msg());
			r.errors++;
			lps[i].lab = NULL;
			/* Not seen this pass is not stopped: its VMs keep their intervals. */
			size_t len = strlen(labs[i].name);
			for (size_t j = 0; j < s->nrunning; j++)
				if (strncmp(s->running[j], labs[i].name, len) == 0 &&
				    s->running[j][len] == '-') {
					run = cl_realloc(run, (nrun + 1) * sizeof(*run));
					run[nrun++] = cl_strdup(s->running[j]);
				}
			continue;
		}
		for (size_t j = 0; j < lps[i].n; j++)
			if (is_student(&lps[i].vms[j]) && is_running(&lps[i].vms[j])) {
				run = cl_realloc(run, (nrun + 1) * sizeof(*run));
				run[nrun++] = cl_strdup(lps[i].vms[j].name);
			}
	}
	/* Running now and not at the last pass (started by hand, by up): not idle from before. */
	for (size_t i = 0; s->reconciled && i < nrun; i++)
		if (!in_list(s->running, s->nrunning, run[i]))
			seen_get(s, run[i], cl_ctx_now(ctx))->last_active = cl_ctx_now(ctx);
	/* The heartbeat comes before any quota is judged, so own time is up to now. */
	if (meter(s, run, nrun)) {
		cl_ctx_warn(ctx, "metering: %s (retried at the next pass)", cl_error_msg());
		r.errors++;
	}
	for (size_t i = 0; i < nlabs; i++) {
		if (!lps[i].lab)
			continue;
		if (schedules(s, &lps[i], &r) || quotas(s, &lps[i], &r) || idle(s, &lps[i], &r)) {
			cl_ctx_warn(ctx, "lab '%s': %s", labs[i].name, cl_error_msg());
			r.errors++;
		}
	}
	/* What runs after this pass's own starts and stops: the next pass compares with it. */
	cl_strv_free(s->running, s->nrunning);
	s->running = NULL;
	s->nrunning = 0;
	for (size_t i = 0; i < nlabs; i++)
		for (size_t j = 0; lps[i].lab && j < lps[i].n; j++)
			if (is_student(&lps[i].vms[j]) && is_running(&lps[i].vms[j])) {
				s->running = cl_realloc(s->running, (s->nrunning + 1) * sizeof(char *));
				s->running[s->nrunning++] = cl_strdup(lps[i].vms[j].name);
			}
out:
	for (size_t i = 0; lps && i < nlabs; i++)
		cl_vm_status_free(lps[i].vms, lps[i].n);
	free(lps);
	cl_strv_free(run, nrun);
	cl_lab_list_free(labs, nlabs);
	if (out)
		*out = r;
	return rc;
}

int cl_serve_stop(cl_serve *s)
{
	int rc;

	if (s->watch) { /* no event may open an interval after the intervals close */
		cl_vm_ops(s->ctx->hv)->unwatch(s->watch);
		s->watch = NULL;
	}
	cl_serve_lock(s);
	rc = cl_meter_service_stop(s->ctx);
	cl_serve_unlock(s);
	return rc;
}
