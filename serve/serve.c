/* The service's policy: schedules start and stop a lab's VMs, idle VMs stop (cl_serve.h). */
#include "classlab/cl_serve.h"
#include "classlab/cl_cost.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_templates.h"
#include "../ctx/ctx_impl.h"
#include "classlab/banned.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Until labs carry their own (issue 10's lab settings): the defaults. */
#define LEAD_SECONDS (10 * 60)
#define IDLE_MINUTES 20

typedef struct seen {
	char *vm;
	int64_t last_active; /* when a connection to its forward was last seen (or first seen) */
} seen;

struct cl_serve {
	cl_ctx *ctx;
	seen *seen;
	size_t nseen;
};

int cl_serve_new(cl_serve **out, cl_ctx *ctx)
{
	cl_serve *s = cl_calloc(1, sizeof(*s));
	s->ctx = ctx;
	*out = s;
	return 0;
}

void cl_serve_free(cl_serve *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nseen; i++)
		free(s->seen[i].vm);
	free(s->seen);
	free(s);
}

char *cl_serve_idle_rule(int64_t idle_minutes)
{
	if (idle_minutes <= 0)
		return cl_strdup("never stopped for being idle");
	return cl_aprintf("stopped after %" PRId64 " minute%s with no SSH connection to its "
			  "forward port (the tunnel counts) and no Jupyter activity",
			  idle_minutes, idle_minutes == 1 ? "" : "s");
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

static bool is_running(const cl_vm_status *v)
{
	return v->state && strcmp(v->state, "running") == 0;
}

static bool is_student(const cl_vm_status *v)
{
	return v->kind && strcmp(v->kind, "student") == 0 && v->student;
}

/* Starts (or stops) every student VM of the lab that is not (or is) running; counts. */
static int each_student(cl_serve *s, const char *lab, cl_vm_status *vms, size_t n, bool start,
			int *done, cl_serve_tick_result *r)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_student(&vms[i]) || is_running(&vms[i]) == start)
			continue;
		int rc = start ? cl_vm_start(s->ctx, lab, vms[i].student)
			       : cl_vm_stop(s->ctx, lab, vms[i].student);
		if (rc) {
			cl_ctx_warn(s->ctx, "lab '%s': cannot %s %s: %s", lab, start ? "start" : "stop",
				    vms[i].name, cl_error_msg());
			r->errors++;
			continue;
		}
		if (start)
			seen_get(s, vms[i].name, cl_ctx_now(s->ctx))->last_active = cl_ctx_now(s->ctx);
		(*done)++;
	}
	return 0;
}

/*
 * Class windows: a window's start is acted on once (event class-start, detail
 * "START..END"); its end once (class-stop with the same detail), also when the
 * service was down at the end and comes back later.
 */
static int schedules(cl_serve *s, const cl_lab *lab, cl_vm_status *vms, size_t n,
		     cl_serve_tick_result *r)
{
	cl_ctx *ctx = s->ctx;
	int64_t now = cl_ctx_now(ctx), ws, we;
	cl_schedule *ev = NULL;
	size_t nev = 0;
	char *detail = NULL, *last = NULL;
	bool found = false;
	int rc;

	if ((rc = cl_schedule_list(ctx, lab->name, &ev, &nev)))
		goto out;
	if (cl_schedule_window_at(ev, nev, now, LEAD_SECONDS, &ws, &we)) {
		detail = cl_aprintf("%" PRId64 "..%" PRId64, ws, we);
		if ((rc = cl_store_event_find(ctx->st, lab->name, "class-start", detail, &found)) || found)
			goto out;
		char *from = cl_format_time(ws), *to = cl_format_time(we);
		cl_ctx_progress(ctx, "lab '%s': class %s to %s: starting its student VMs", lab->name,
				from, to);
		free(from);
		free(to);
		if ((rc = cl_store_event_add_at(ctx->st, now, lab->name, "class-start", detail)))
			goto out;
		rc = each_student(s, lab->name, vms, n, true, &r->started, r);
		goto out;
	}
	/* Outside every window: the last window started, if it has not been stopped. */
	if ((rc = cl_store_event_last(ctx->st, lab->name, "class-start", &last)) || !last)
		goto out;
	if (sscanf(last, "%" SCNd64 "..%" SCNd64, &ws, &we) != 2 || now < we)
		goto out;
	if ((rc = cl_store_event_find(ctx->st, lab->name, "class-stop", last, &found)) || found)
		goto out;
	cl_ctx_progress(ctx, "lab '%s': class over: stopping its student VMs", lab->name);
	if ((rc = cl_store_event_add_at(ctx->st, now, lab->name, "class-stop", last)))
		goto out;
	rc = each_student(s, lab->name, vms, n, false, &r->stopped_class, r);
out:
	free(ev);
	free(detail);
	free(last);
	return rc;
}

/* Running student VMs with nobody connected to their forward for the idle time stop. */
static int idle(cl_serve *s, const cl_lab *lab, cl_vm_status *vms, size_t n,
		cl_serve_tick_result *r)
{
	cl_ctx *ctx = s->ctx;
	int64_t now = cl_ctx_now(ctx), limit = (int64_t)IDLE_MINUTES * 60;

	for (size_t i = 0; i < n; i++) {
		int conns = 0;
		if (!is_student(&vms[i]) || !is_running(&vms[i]) || vms[i].ssh_port <= 0)
			continue;
		seen *v = seen_get(s, vms[i].name, now);
		if (cl_tcp_established(vms[i].ssh_port, &conns) == 0 && conns > 0) {
			v->last_active = now;
			continue;
		}
		if (limit <= 0 || now - v->last_active < limit)
			continue;
		char *rule = cl_serve_idle_rule(IDLE_MINUTES);
		cl_ctx_progress(ctx, "lab '%s': stopping %s: idle since %" PRId64 " s (%s)", lab->name,
				vms[i].name, now - v->last_active, rule);
		free(rule);
		if (cl_vm_stop(ctx, lab->name, vms[i].student)) {
			cl_ctx_warn(ctx, "lab '%s': cannot stop %s: %s", lab->name, vms[i].name,
				    cl_error_msg());
			r->errors++;
			continue;
		}
		cl_store_event_add_at(ctx->st, now, lab->name, "idle-stop", vms[i].name);
		v->last_active = now;
		r->stopped_idle++;
	}
	return 0;
}

int cl_serve_tick(cl_serve *s, cl_serve_tick_result *out)
{
	cl_ctx *ctx = s->ctx;
	cl_lab *labs = NULL;
	size_t nlabs = 0;
	cl_serve_tick_result r = {0};
	int rc = cl_labs_list(ctx, &labs, &nlabs);

	if (rc)
		goto out;
	for (size_t i = 0; i < nlabs; i++) {
		cl_vm_status *vms = NULL;
		size_t n = 0;
		if (!labs[i].hv_uri) /* nothing built or published here yet */
			continue;
		int lrc = cl_vm_status_list(ctx, labs[i].name, &vms, &n);
		if (lrc == 0)
			lrc = schedules(s, &labs[i], vms, n, &r);
		if (lrc == 0) {
			/* the states schedules() just changed are read again for the idle pass */
			cl_vm_status_free(vms, n);
			vms = NULL;
			n = 0;
			lrc = cl_vm_status_list(ctx, labs[i].name, &vms, &n);
		}
		if (lrc == 0)
			lrc = idle(s, &labs[i], vms, n, &r);
		if (lrc) {
			cl_ctx_warn(ctx, "lab '%s': %s", labs[i].name, cl_error_msg());
			r.errors++;
		}
		cl_vm_status_free(vms, n);
	}
out:
	cl_lab_list_free(labs, nlabs);
	if (out)
		*out = r;
	return rc;
}
