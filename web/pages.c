/*
 * The pages: a student's (VM state, start/stop, hours, SSH, tunnel, X2Go, bundle) and
 * the instructors' (the class table, start/stop, actual cost vs estimate, chart,
 * schedule). Server-rendered; every value goes through web_html.
 */
#include "web_impl.h"
#include "classlab/cl_cost.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_meter.h"
#include "classlab/cl_templates.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

void web_html(cl_buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			cl_buf_puts(b, "&amp;");
			break;
		case '<':
			cl_buf_puts(b, "&lt;");
			break;
		case '>':
			cl_buf_puts(b, "&gt;");
			break;
		case '"':
			cl_buf_puts(b, "&quot;");
			break;
		case '\'':
			cl_buf_puts(b, "&#39;");
			break;
		default:
			cl_buf_putc(b, *s);
		}
	}
}

void web_page_begin(cl_buf *b, const char *title, const cl_web_grant *g)
{
	cl_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
		       "<title>");
	web_html(b, title);
	cl_buf_puts(b, " - classlab</title><link rel=\"stylesheet\" href=\"/static/style.css\">"
		       "<script src=\"/static/app.js\" defer></script></head>\n<body><header>"
		       "<span class=\"brand\">classlab</span>");
	if (g) {
		cl_buf_puts(b, "<span class=\"who\">");
		if (g->admin) {
			cl_buf_puts(b, "instructor");
		} else {
			web_html(b, g->student);
			cl_buf_puts(b, " in ");
			web_html(b, g->lab);
		}
		cl_buf_puts(b, "</span><form method=\"post\" action=\"/logout\" class=\"inline\">"
			       "<input type=\"hidden\" name=\"csrf\" value=\"");
		web_html(b, g->csrf);
		cl_buf_puts(b, "\"><button type=\"submit\">Sign out</button></form>");
	}
	cl_buf_puts(b, "</header>\n<main><h1>");
	web_html(b, title);
	cl_buf_puts(b, "</h1>\n");
}

void web_page_end(cl_buf *b)
{
	cl_buf_puts(b, "</main></body></html>\n");
}

static void html_page(cl_web_response *r)
{
	r->status = r->status ? r->status : 200;
	r->content_type = "text/html; charset=utf-8";
}

static void hours(cl_buf *b, int64_t seconds)
{
	char *h = cl_format_hours(seconds);
	web_html(b, h);
	free(h);
}

static void notice_p(cl_buf *b, const char *notice, bool error)
{
	if (!notice)
		return;
	cl_buf_printf(b, "<p class=\"%s\" id=\"notice\">", error ? "error" : "notice");
	web_html(b, notice);
	cl_buf_puts(b, "</p>\n");
}

static void csrf_field(cl_buf *b, const cl_web_grant *g)
{
	cl_buf_puts(b, "<input type=\"hidden\" name=\"csrf\" value=\"");
	web_html(b, g->csrf);
	cl_buf_puts(b, "\">");
}

void web_page_welcome(cl_web_response *r)
{
	web_page_begin(&r->body, "Welcome", NULL);
	cl_buf_puts(&r->body, "<p>Open the one-time link your instructor gave you in this browser; "
			      "it signs this browser in and then stops working.</p>\n");
	web_page_end(&r->body);
	html_page(r);
}

/* Is t inside a class window of the lab (the lead time counts)? */
static bool in_class(cl_ctx *ctx, const char *lab, int64_t t)
{
	cl_schedule *ev = NULL;
	cl_lab_service svc = {0};
	size_t n = 0;
	int64_t s, e;
	bool in = false;

	if (cl_schedule_list(ctx, lab, &ev, &n) == 0 && cl_meter_lab_settings(ctx, lab, &svc) == 0)
		in = cl_schedule_window_at(ev, n, t, svc.lead_minutes * 60, &s, &e);
	cl_error_clear();
	free(ev);
	return in;
}

/* The VM's state as the service sees it; "unknown" (new string) when it cannot be asked. */
static char *vm_state(cl_ctx *ctx, const char *lab, const char *student)
{
	cl_vm_status *v = NULL;
	size_t n = 0;
	char *state = NULL;

	if (cl_vm_status_list(ctx, lab, &v, &n) == 0)
		for (size_t i = 0; i < n && !state; i++)
			if (v[i].student && strcmp(v[i].student, student) == 0)
				state = cl_strdup(v[i].state);
	cl_error_clear();
	cl_vm_status_free(v, n);
	return state ? state : cl_strdup("not published yet");
}

void web_page_student(cl_web *w, const cl_web_grant *g, const char *lab, const char *student,
		      const char *notice, cl_web_response *r)
{
	cl_ctx *ctx = w->ctx;
	int64_t now = cl_ctx_now(ctx);
	cl_usage u = {0};
	cl_access a = {0};
	cl_buf *b = &r->body;
	const cl_usage_student *me = NULL;
	char *state = vm_state(ctx, lab, student), *title = cl_aprintf("%s-%s", lab, student);
	bool running = strcmp(state, "running") == 0, klass = in_class(ctx, lab, now);

	if (cl_usage_report(ctx, lab, 0, now + 1, &u) == 0)
		for (size_t i = 0; i < u.nstudents && !me; i++)
			if (strcmp(u.students[i].student, student) == 0)
				me = &u.students[i];
	cl_error_clear();
	web_page_begin(b, title, g);
	notice_p(b, notice, r->status >= 400);
	cl_buf_puts(b, "<section><h2>Your VM</h2><p>State: <strong id=\"vm-state\">");
	web_html(b, state);
	cl_buf_puts(b, "</strong></p>\n");
	if (me) {
		cl_buf_puts(
		    b, "<table class=\"kv\"><tr><th>Hours in class</th><td id=\"class-hours\">");
		hours(b, me->class_seconds);
		cl_buf_puts(b, "</td></tr><tr><th>Own hours used</th><td id=\"own-hours\">");
		hours(b, me->quota_used_seconds);
		cl_buf_puts(b, "</td></tr><tr><th>Quota hours left</th><td id=\"quota-left\">");
		if (me->exempt)
			cl_buf_puts(b, "no limit (exempt)");
		else
			hours(b, me->quota_left_seconds);
		cl_buf_puts(b, "</td></tr></table>\n");
	}
	cl_buf_printf(b, "<form method=\"post\" action=\"/s/%s/%s/%s\" class=\"power\">", lab,
		      student, running ? "stop" : "start");
	csrf_field(b, g);
	if (running) {
		cl_buf_puts(b, "<button type=\"submit\" id=\"stop\">Stop my VM</button>");
	} else {
		if (klass) {
			cl_buf_puts(
			    b, "<p class=\"hint\">Class is on: starting counts as class time.</p>");
		} else if (me && !me->exempt) {
			cl_buf_puts(
			    b, "<p class=\"hint\" id=\"quota-hint\">Outside class, running your VM "
			       "uses your quota: ");
			hours(b, me->quota_left_seconds);
			cl_buf_puts(b, " hours left.</p>");
		}
		cl_buf_puts(b, "<button type=\"submit\" id=\"start\">Start my VM</button>");
	}
	cl_buf_puts(b, "</form></section>\n");
	if (cl_access_get(ctx, lab, student, &a) == 0) {
		char *ssh = cl_access_ssh_command(&a, 0, 0),
		     *tun = cl_access_ssh_command(&a, 8888, 8888);
		cl_buf x2go = CL_BUF_INIT;
		cl_access_x2go_session(&a, &x2go);
		cl_buf_puts(
		    b, "<section><h2>Connect</h2>"
		       "<p>Download your files, unzip them, and run these from that folder.</p>"
		       "<p><a id=\"bundle\" href=\"");
		cl_buf_printf(b, "/s/%s/%s/bundle.zip", lab, student);
		cl_buf_puts(b, "\" download>Download my connection files (zip)</a></p>");
		/* Jupyter's own origin: this host, another port (app.js makes the address). */
		if (w->jupyter_port && running)
			cl_buf_printf(
			    b,
			    "<p><a id=\"jupyter\" class=\"jupyter\" data-port=\"%d\" "
			    "href=\"/\" target=\"_blank\" rel=\"noopener\">Open Jupyter</a> "
			    "(in the browser, through this service)</p>",
			    w->jupyter_port);
		cl_buf_puts(b, "<h3>SSH</h3><pre id=\"ssh\" class=\"copy\">");
		web_html(b, ssh);
		cl_buf_puts(b,
			    " -i id_ed25519 -o UserKnownHostsFile=known_hosts</pre>"
			    "<h3>Jupyter through a tunnel</h3><pre id=\"tunnel\" class=\"copy\">");
		web_html(b, tun);
		cl_buf_puts(b, " -i id_ed25519 -o UserKnownHostsFile=known_hosts</pre>"
			       "<p>then open http://localhost:8888 in this browser.</p>"
			       "<h3>X2Go</h3><pre id=\"x2go\">");
		web_html(b, cl_buf_str(&x2go));
		cl_buf_puts(b, "</pre><p>Host key fingerprint: <code>");
		web_html(b, a.fingerprint);
		cl_buf_puts(b, "</code></p></section>\n");
		cl_buf_free(&x2go);
		free(ssh);
		free(tun);
	} else {
		cl_buf_puts(b, "<section><h2>Connect</h2><p>Your VM is not published yet: ask your "
			       "instructor.</p></section>\n");
	}
	cl_error_clear();
	web_page_end(b);
	html_page(r);
	cl_access_clear(&a);
	cl_usage_clear(&u);
	free(state);
	free(title);
}

void web_student_power(cl_web *w, const cl_web_grant *g, const char *lab, const char *student,
		       bool start, cl_web_response *r)
{
	int rc = start ? cl_vm_start(w->ctx, lab, student) : cl_vm_stop(w->ctx, lab, student);

	if (rc) {
		char *msg =
		    cl_aprintf("cannot %s your VM: %s", start ? "start" : "stop", cl_error_msg());
		cl_error_clear();
		r->status = rc == CL_EEXIST ? 409 : rc == CL_ENOTFOUND ? 404 : 500;
		web_page_student(w, g, lab, student, msg, r);
		free(msg);
		return;
	}
	r->status = 303;
	r->content_type = "text/plain; charset=utf-8";
	r->location = cl_aprintf("/s/%s/%s", lab, student);
}

void web_student_bundle(cl_web *w, const char *lab, const char *student, cl_web_response *r)
{
	if (cl_students_bundle_zip(w->ctx, lab, student, &r->body)) {
		web_status(r, cl_error_code() == CL_ENOTFOUND ? 404 : 500, "No files yet", "%s",
			   cl_error_msg());
		cl_error_clear();
		return;
	}
	r->status = 200;
	r->content_type = "application/zip";
	r->disposition = cl_aprintf("attachment; filename=\"%s-%s.zip\"", lab, student);
}

/* When the student's VM last ran: now while it runs, else its last interval's end; 0: never. */
static int64_t last_seen(cl_ctx *ctx, const char *lab, const char *student)
{
	cl_run_interval open = {0};
	char *vm = cl_vm_name(lab, student);
	int64_t t = 0;

	if (cl_store_run_open_get(cl_ctx_store(ctx), vm, &open) == 0)
		t = open.last_seen;
	else
		cl_store_run_last_end(cl_ctx_store(ctx), vm, &t);
	cl_error_clear();
	cl_run_interval_clear(&open);
	free(vm);
	return t;
}

static void admin_lab(cl_web *w, const cl_web_grant *g, const cl_lab *lab, cl_buf *b)
{
	cl_ctx *ctx = w->ctx;
	int64_t now = cl_ctx_now(ctx);
	cl_vm_status *v = NULL;
	cl_schedule *ev = NULL;
	cl_usage u = {0};
	size_t nv = 0, nev = 0;
	bool have_usage = cl_usage_report(ctx, lab->name, 0, now + 1, &u) == 0;

	cl_error_clear();
	if (cl_vm_status_list(ctx, lab->name, &v, &nv))
		cl_error_clear();
	cl_buf_puts(b, "<section class=\"lab\"><h2>Lab ");
	web_html(b, lab->name);
	cl_buf_puts(b, "</h2>\n<p>Template: ");
	web_html(b, cl_template_state_name(lab->template_state));
	cl_buf_puts(b, "</p>\n");
	if (have_usage && u.nlabs == 1) {
		char *act = cl_format_cents(u.labs[0].actual_cents);
		cl_buf_puts(b, "<p>Cost so far: <strong class=\"actual\">");
		web_html(b, act);
		cl_buf_puts(b, "</strong> of the estimate <strong class=\"estimate\">");
		if (u.labs[0].estimate.unavailable) {
			cl_buf_puts(b, "unavailable");
		} else {
			char *est = cl_format_cents(u.labs[0].estimate.est.total_cents);
			web_html(b, est);
			free(est);
		}
		cl_buf_puts(b, "</strong></p>\n");
		free(act);
	}
	cl_buf_printf(b,
		      "<table class=\"class\" data-lab=\"%s\"><thead><tr><th>Student</th>"
		      "<th>VM</th><th>Class hours</th><th>Own hours</th><th>Quota left</th>"
		      "<th>Last seen</th><th></th></tr></thead><tbody>\n",
		      lab->name);
	for (size_t i = 0; have_usage && i < u.nstudents; i++) {
		const cl_usage_student *s = &u.students[i];
		const char *state = "not published";
		if (s->removed)
			continue;
		for (size_t j = 0; j < nv; j++)
			if (v[j].student && strcmp(v[j].student, s->student) == 0)
				state = v[j].state;
		int64_t seen = last_seen(ctx, lab->name, s->student);
		cl_buf_puts(b, "<tr class=\"student\"><td>");
		web_html(b, s->student);
		cl_buf_puts(b, "</td><td class=\"state\">");
		web_html(b, state);
		cl_buf_puts(b, "</td><td>");
		hours(b, s->class_seconds);
		cl_buf_puts(b, "</td><td>");
		hours(b, s->own_seconds);
		cl_buf_puts(b, "</td><td>");
		if (s->exempt)
			cl_buf_puts(b, "exempt");
		else
			hours(b, s->quota_left_seconds);
		cl_buf_puts(b, "</td><td>");
		if (seen) {
			char *t = cl_format_time(seen);
			web_html(b, t);
			free(t);
		} else {
			cl_buf_puts(b, "never");
		}
		cl_buf_printf(
		    b,
		    "</td><td><form method=\"post\" action=\"/admin/vm\" class=\"inline\">"
		    "<input type=\"hidden\" name=\"lab\" value=\"%s\">"
		    "<input type=\"hidden\" name=\"student\" value=\"%s\">",
		    lab->name, s->student);
		csrf_field(b, g);
		cl_buf_puts(
		    b, "<button name=\"action\" value=\"start\">Start</button>"
		       "<button name=\"action\" value=\"stop\">Stop</button></form></td></tr>\n");
	}
	cl_buf_printf(b,
		      "</tbody></table>\n<form method=\"post\" action=\"/admin/vm\" "
		      "class=\"inline\"><input type=\"hidden\" name=\"lab\" value=\"%s\">"
		      "<input type=\"hidden\" name=\"all\" value=\"1\">",
		      lab->name);
	csrf_field(b, g);
	cl_buf_printf(b,
		      "<button name=\"action\" value=\"start\">Start all</button>"
		      "<button name=\"action\" value=\"stop\">Stop all</button></form>\n"
		      "<h3>Usage</h3><img class=\"chart\" alt=\"cost and quota use of %s\" "
		      "src=\"/admin/chart/%s.svg\">\n<h3>Schedule</h3>",
		      lab->name, lab->name);
	if (cl_schedule_list(ctx, lab->name, &ev, &nev) == 0 && nev) {
		cl_buf_puts(b, "<table class=\"schedule\"><tr><th>Start</th><th>End</th>"
			       "<th>Weekly until</th></tr>");
		for (size_t i = 0; i < nev; i++) {
			char *s = cl_format_time(ev[i].start), *e = cl_format_time(ev[i].end),
			     *wu = ev[i].weekly_until ? cl_format_time(ev[i].weekly_until) : NULL;
			cl_buf_printf(b, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>", s, e,
				      wu ? wu : "-");
			free(s);
			free(e);
			free(wu);
		}
		cl_buf_puts(b, "</table>\n");
	} else {
		cl_buf_puts(b, "<p>No scheduled classes.</p>\n");
	}
	cl_error_clear();
	cl_buf_puts(b, "</section>\n");
	free(ev);
	cl_vm_status_free(v, nv);
	cl_usage_clear(&u);
}

void web_page_admin(cl_web *w, const cl_web_grant *g, const char *notice, cl_web_response *r)
{
	cl_lab *labs = NULL;
	size_t n = 0;

	web_page_begin(&r->body, "Your classes", g);
	notice_p(&r->body, notice, r->status >= 400);
	if (cl_labs_list(w->ctx, &labs, &n) == 0)
		for (size_t i = 0; i < n; i++)
			admin_lab(w, g, &labs[i], &r->body);
	if (!n)
		cl_buf_puts(&r->body, "<p>No labs yet.</p>\n");
	cl_error_clear();
	web_page_end(&r->body);
	html_page(r);
	cl_lab_list_free(labs, n);
}

void web_admin_power(cl_web *w, const cl_web_grant *g, const cl_web_request *rq, cl_web_response *r)
{
	char *lab = web_form_get(rq->body, rq->body_len, "lab"),
	     *student = web_form_get(rq->body, rq->body_len, "student"),
	     *all = web_form_get(rq->body, rq->body_len, "all"),
	     *action = web_form_get(rq->body, rq->body_len, "action");
	bool start = action && strcmp(action, "start") == 0;
	int rc;

	if (!lab || !cl_name_valid(lab) || !action || (!start && strcmp(action, "stop") != 0) ||
	    (!student && !all) || (student && !cl_name_valid(student))) {
		r->status = 400;
		web_page_admin(w, g,
			       "That form was not complete: choose a lab, a student or all, "
			       "and start or stop.",
			       r);
		goto out;
	}
	rc = start ? cl_vm_start(w->ctx, lab, all ? NULL : student)
		   : cl_vm_stop(w->ctx, lab, all ? NULL : student);
	if (rc) {
		char *msg = cl_aprintf("cannot %s: %s", action, cl_error_msg());
		cl_error_clear();
		r->status = rc == CL_EEXIST ? 409 : rc == CL_ENOTFOUND ? 404 : 500;
		web_page_admin(w, g, msg, r);
		free(msg);
		goto out;
	}
	r->status = 303;
	r->content_type = "text/plain; charset=utf-8";
	r->location = cl_strdup("/admin");
out:
	free(lab);
	free(student);
	free(all);
	free(action);
}

void web_admin_chart(cl_web *w, const char *file, cl_web_response *r)
{
	size_t len = strlen(file);
	char *lab = len > 4 ? cl_strndup(file, len - 4) : NULL;
	cl_usage u = {0};

	if (!lab || strcmp(file + len - 4, ".svg") != 0 || !cl_name_valid(lab)) {
		web_status(r, 404, "Not found", "There is no such chart.");
		goto out;
	}
	if (cl_usage_report(w->ctx, lab, 0, cl_ctx_now(w->ctx) + 1, &u) ||
	    cl_usage_chart(w->ctx, &u, CL_CHART_SVG, &r->body)) {
		unsigned st = cl_error_code() == CL_ENOTFOUND ? 404 : 500;
		cl_buf_reset(&r->body);
		web_status(r, st, "No chart", "%s", cl_error_msg());
		cl_error_clear();
		goto out;
	}
	r->status = 200;
	r->content_type = "image/svg+xml";
out:
	cl_usage_clear(&u);
	free(lab);
}
