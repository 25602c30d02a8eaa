/*
 * The web page's routes and rules: sessions from one-time links, who may see what,
 * CSRF on every POST, the guess limit. The pages themselves are web/pages.c.
 */
#include "web_impl.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

#define COOKIE_NAME "classlab_session"
#define MAX_SEGMENTS 6

const cl_web_header cl_web_headers[] = {
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
     "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-store"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
};
const size_t cl_web_header_count = sizeof(cl_web_headers) / sizeof(cl_web_headers[0]);

int cl_web_new(cl_web **out, cl_ctx *ctx)
{
	cl_web *w = cl_calloc(1, sizeof(*w));
	w->ctx = ctx;
	pthread_mutex_init(&w->ws_lock, NULL);
	pthread_cond_init(&w->ws_cond, NULL);
	w->ws_idle_ms = CL_WEB_WS_IDLE_MS;
	*out = w;
	return 0;
}

void cl_web_free(cl_web *w)
{
	if (!w)
		return;
	cl_web_ws_stop(w, -1); /* no relay may outlive the handle */
	web_jupyter_forget(w, NULL);
	pthread_cond_destroy(&w->ws_cond);
	pthread_mutex_destroy(&w->ws_lock);
	free(w);
}

void cl_web_response_clear(cl_web_response *r)
{
	if (!r)
		return;
	cl_buf_free(&r->body);
	free(r->set_cookie);
	free(r->location);
	free(r->disposition);
	free(r->raw_headers);
	memset(r, 0, sizeof(*r));
}

/* ---- the guess limit ---- */

static guess_slot *guess_find(cl_web *w, const char *client, int64_t now, bool make)
{
	guess_slot *oldest = &w->guesses[0];
	for (size_t i = 0; i < GUESS_SLOTS; i++) {
		guess_slot *g = &w->guesses[i];
		if (g->client[0] && strcmp(g->client, client) == 0) {
			if (now - g->start >= CL_WEB_GUESS_WINDOW_S || now < g->start) {
				g->start = now;
				g->fails = 0;
			}
			return g;
		}
		/* a free slot first, else the one whose window began first */
		if (!g->client[0] ? oldest->client[0] != '\0'
				  : oldest->client[0] && g->start < oldest->start)
			oldest = g;
	}
	if (!make)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->client, sizeof(oldest->client), "%s", client);
	oldest->start = now;
	return oldest;
}

static bool guess_blocked(cl_web *w, const char *client, int64_t now)
{
	guess_slot *g = guess_find(w, client, now, false);
	if (now - w->global_start >= CL_WEB_GUESS_WINDOW_S || now < w->global_start) {
		w->global_start = now;
		w->global_fails = 0;
	}
	return (g && g->fails >= CL_WEB_GUESS_MAX) || w->global_fails >= CL_WEB_GUESS_GLOBAL_MAX;
}

static void guess_failed(cl_web *w, const char *client, int64_t now)
{
	guess_slot *g = guess_find(w, client, now, true);
	g->fails++;
	w->global_fails++;
}

/* ---- requests ---- */

/* The session token from the Cookie header ("a=b; classlab_session=...; c=d"). New string. */
char *web_cookie_session(const char *cookie)
{
	const char *p = cookie;
	size_t nl = strlen(COOKIE_NAME);

	while (p && *p) {
		while (*p == ' ' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > nl && strncmp(p, COOKIE_NAME, nl) == 0 && p[nl] == '=')
			return cl_strndup(p + nl + 1, len - nl - 1);
		p = end;
	}
	return NULL;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* A form field's value (x-www-form-urlencoded), decoded; NULL when absent or holding NUL. */
char *web_form_get(const char *body, size_t len, const char *key)
{
	size_t kl = strlen(key), i = 0;

	while (body && i < len) {
		size_t end = i;
		while (end < len && body[end] != '&')
			end++;
		if (end - i > kl && strncmp(body + i, key, kl) == 0 && body[i + kl] == '=') {
			cl_buf v = CL_BUF_INIT;
			for (size_t j = i + kl + 1; j < end; j++) {
				char c = body[j];
				if (c == '+') {
					c = ' ';
				} else if (c == '%' && j + 2 < end && hexval(body[j + 1]) >= 0 &&
					   hexval(body[j + 2]) >= 0) {
					c = (char)(hexval(body[j + 1]) * 16 + hexval(body[j + 2]));
					j += 2;
				}
				if (c == '\0') {
					cl_buf_free(&v);
					return NULL;
				}
				cl_buf_putc(&v, c);
			}
			return v.data ? cl_buf_detach(&v) : cl_strdup("");
		}
		i = end + 1;
	}
	return NULL;
}

void web_status(cl_web_response *r, unsigned status, const char *title, const char *fmt, ...)
{
	va_list ap;
	cl_buf msg = CL_BUF_INIT;

	va_start(ap, fmt);
	cl_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	cl_buf_reset(&r->body);
	r->status = status;
	r->content_type = "text/html; charset=utf-8";
	web_page_begin(&r->body, title, NULL);
	cl_buf_puts(&r->body, "<p class=\"error\">");
	web_html(&r->body, cl_buf_str(&msg));
	cl_buf_puts(&r->body, "</p>\n");
	web_page_end(&r->body);
	cl_buf_free(&msg);
}

static void redirect(cl_web_response *r, const char *to)
{
	r->status = 303;
	r->content_type = "text/plain; charset=utf-8";
	r->location = cl_strdup(to);
}

/* Splits the path into at most MAX_SEGMENTS segments; false for anything unusual. */
static bool split_path(const char *path, char *buf, size_t bufsz, char *seg[MAX_SEGMENTS],
		       size_t *n)
{
	size_t len = strlen(path);

	*n = 0;
	if (len == 0 || path[0] != '/' || len >= bufsz)
		return false;
	memcpy(buf, path + 1, len);
	if (!buf[0])
		return true;
	for (char *p = buf;;) {
		char *slash = strchr(p, '/');
		if (*n == MAX_SEGMENTS || (slash && slash == p) || !*p)
			return false;
		seg[(*n)++] = p;
		if (!slash)
			return true;
		*slash = '\0';
		p = slash + 1;
	}
}

static void join(cl_web *w, const cl_web_request *rq, const char *token, cl_web_response *r)
{
	int64_t now = cl_ctx_now(w->ctx);
	const char *client = rq->client ? rq->client : "?";
	cl_web_grant g = {0};
	char *sess = NULL;

	if (guess_blocked(w, client, now)) {
		web_status(r, 429, "Too many tries",
			   "Too many links that did not work came from here: wait ten minutes, "
			   "then open the link you were given.");
		return;
	}
	if (cl_invite_redeem(w->ctx, token, &sess, &g)) {
		guess_failed(w, client, now);
		web_status(r, 403, "This link does not work",
			   "This link was already used, revoked or never issued. Ask your "
			   "instructor for a new one (classlab students invite).");
		cl_error_clear();
		return;
	}
	r->set_cookie =
	    cl_aprintf(COOKIE_NAME "=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s", sess,
		       CL_WEB_SESSION_S, rq->tls ? "; Secure" : "");
	redirect(r, "/");
	free(sess);
	cl_web_grant_clear(&g);
}

static bool may_see(const cl_web_grant *g, const char *lab, const char *student)
{
	return g->admin || (g->lab && g->student && strcmp(g->lab, lab) == 0 &&
			    strcmp(g->student, student) == 0);
}

static bool csrf_ok(const cl_web_request *rq, const cl_web_grant *g)
{
	char *t = web_form_get(rq->body, rq->body_len, "csrf");
	bool ok = cl_token_equal(t, g->csrf);
	free(t);
	return ok;
}

void cl_web_handle(cl_web *w, const cl_web_request *rq, cl_web_response *r)
{
	char buf[512], *seg[MAX_SEGMENTS], *sess = NULL;
	size_t n;
	cl_web_grant g = {0};
	bool have = false, get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0,
	     post = strcmp(rq->method, "POST") == 0;

	memset(r, 0, sizeof(*r));
	if (!split_path(rq->path, buf, sizeof(buf), seg, &n)) {
		web_status(r, 404, "Not found", "There is no such page.");
		return;
	}
	if (!get && !post) {
		web_status(r, 405, "Not allowed", "Only GET and POST are used here.");
		return;
	}
	/* Static assets and the links need no session. */
	if (n == 2 && strcmp(seg[0], "static") == 0 && get) {
		if (web_asset(seg[1], r) == 0)
			return;
		web_status(r, 404, "Not found", "There is no such page.");
		return;
	}
	if (n == 2 && strcmp(seg[0], "join") == 0 && get) {
		join(w, rq, seg[1], r);
		return;
	}
	sess = web_cookie_session(rq->cookie);
	if (sess && cl_session_find(w->ctx, sess, &g) == 0)
		have = true;
	cl_error_clear();
	if (n == 0 && get) {
		if (!have)
			web_page_welcome(r);
		else if (g.admin)
			redirect(r, "/admin");
		else {
			char *to = cl_aprintf("/s/%s/%s", g.lab, g.student);
			redirect(r, to);
			free(to);
		}
		goto out;
	}
	if (!have) {
		web_status(
		    r, 403, "Not signed in",
		    "Open the one-time link your instructor gave you in this browser first.");
		goto out;
	}
	if (post && !csrf_ok(rq, &g)) {
		web_status(r, 403, "Refused",
			   "This form is out of date (no valid CSRF token): "
			   "reload the page and try again.");
		goto out;
	}
	if (n == 1 && strcmp(seg[0], "logout") == 0 && post) {
		cl_session_end(w->ctx, sess);
		r->set_cookie =
		    cl_strdup(COOKIE_NAME "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
		redirect(r, "/");
		goto out;
	}
	if (n >= 3 && strcmp(seg[0], "s") == 0) {
		if (!cl_name_valid(seg[1]) || !cl_name_valid(seg[2]) ||
		    !may_see(&g, seg[1], seg[2])) {
			web_status(r, 403, "Not yours", "This page belongs to someone else.");
			goto out;
		}
		if (n == 3 && get)
			web_page_student(w, &g, seg[1], seg[2], NULL, r);
		else if (n == 4 && post &&
			 (strcmp(seg[3], "start") == 0 || strcmp(seg[3], "stop") == 0))
			web_student_power(w, &g, seg[1], seg[2], seg[3][2] == 'a', r);
		else if (n == 4 && get && strcmp(seg[3], "bundle.zip") == 0)
			web_student_bundle(w, seg[1], seg[2], r);
		else
			web_status(r, 404, "Not found", "There is no such page.");
		goto out;
	}
	if (n >= 1 && strcmp(seg[0], "admin") == 0) {
		if (!g.admin) {
			web_status(r, 403, "Instructors only", "This page is for instructors.");
			goto out;
		}
		if (n == 1 && get)
			web_page_admin(w, &g, NULL, r);
		else if (n == 2 && post && strcmp(seg[1], "vm") == 0)
			web_admin_power(w, &g, rq, r);
		else if (n == 3 && get && strcmp(seg[1], "chart") == 0)
			web_admin_chart(w, seg[2], r);
		else
			web_status(r, 404, "Not found", "There is no such page.");
		goto out;
	}
	web_status(r, 404, "Not found", "There is no such page.");
out:
	cl_web_grant_clear(&g);
	free(sess);
}
