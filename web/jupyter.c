/*
 * Open Jupyter: the Jupyter origin's requests, each sent to the session's own
 * student's VM (127.0.0.1:8888 there) over their pinned SSH connection.
 */
#include "web_impl.h"
#include "classlab/cl_ssh.h"
#include "classlab/cl_tunnel.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ANSWER_MAX (64u << 20)
#define ANSWER_TIMEOUT_MS 30000

void cl_web_set_jupyter_port(cl_web *w, int port)
{
	w->jupyter_port = port;
}

void web_jupyter_forget(cl_web *w, const char *vm)
{
	for (size_t i = 0; i < JUPYTER_SLOTS; i++) {
		jupyter_slot *j = &w->jupyter[i];
		if (!j->vm || (vm && strcmp(j->vm, vm) != 0))
			continue;
		cl_ssh_free(j->ssh);
		free(j->vm);
		free(j->token);
		memset(j, 0, sizeof(*j));
	}
}

/* A new SSH connection to the student's VM, its host key pinned. */
static int connect_vm(cl_web *w, const char *lab, const char *student, struct cl_ssh **out)
{
	cl_access a = {0};
	int rc;

	if ((rc = cl_access_get(w->ctx, lab, student, &a)))
		goto out;
	if (!a.identity_file) {
		rc = cl_error_set(CL_EINVAL, "classlab does not hold a key for this VM");
		goto out;
	}
	cl_ssh_opts o = {.host = a.host,
			 .port = a.port,
			 .user = a.user,
			 .host_key = a.host_key,
			 .identity_file = a.identity_file,
			 .connect_timeout_ms = 10000};
	rc = cl_ssh_connect(out, &o);
out:
	cl_access_clear(&a);
	return rc;
}

/* The student's kept connection, or a new one (with Jupyter found or started). */
static int slot_get(cl_web *w, const char *lab, const char *student, jupyter_slot **out)
{
	cl_jupyter jup = {0};
	jupyter_slot *j = NULL;
	char *vm = cl_vm_name(lab, student);
	int rc = 0;

	for (size_t i = 0; i < JUPYTER_SLOTS && !j; i++)
		if (w->jupyter[i].vm && strcmp(w->jupyter[i].vm, vm) == 0)
			j = &w->jupyter[i];
	if (j)
		goto out;
	for (size_t i = 0; i < JUPYTER_SLOTS && !j; i++)
		if (!w->jupyter[i].vm)
			j = &w->jupyter[i];
	if (!j) { /* full: the first goes */
		web_jupyter_forget(w, w->jupyter[0].vm);
		j = &w->jupyter[0];
	}
	struct cl_ssh *ssh = NULL;
	if ((rc = connect_vm(w, lab, student, &ssh)))
		goto out;
	/* Jupyter's token; a VM without jupyter gets whatever listens on the port, as is. */
	if (cl_jupyter_find_or_start(ssh, vm, NULL, NULL, &jup) == 0 &&
	    jup.port != CL_WEB_JUPYTER_PORT) {
		cl_ssh_free(ssh);
		rc = cl_error_set(CL_EFAIL, "Jupyter runs on port %d of the VM, not %d", jup.port,
				  CL_WEB_JUPYTER_PORT);
		goto out;
	}
	cl_error_clear();
	j->vm = vm;
	vm = NULL;
	j->ssh = ssh;
	j->token = cl_strdup(jup.token ? jup.token : "");
out:
	if (rc == 0)
		*out = j;
	cl_jupyter_clear(&jup);
	free(vm);
	return rc;
}

/* Hop-by-hop and ours: never forwarded either way. */
static bool hop_header(const char *name)
{
	static const char *const hop[] = {"Connection",
					  "Keep-Alive",
					  "Proxy-Authorization",
					  "Proxy-Connection",
					  "TE",
					  "Trailer",
					  "Transfer-Encoding",
					  "Upgrade",
					  "Host",
					  "Content-Length",
					  "X-Forwarded-For",
					  "X-Forwarded-Proto",
					  "X-Forwarded-Host",
					  "Cookie"};
	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (strcasecmp(name, hop[i]) == 0)
			return true;
	return false;
}

/* The Cookie header without our session cookie (Jupyter's own cookies pass). */
static void cookies_but_ours(const char *cookie, cl_buf *out)
{
	const char *p = cookie;
	bool first = true;
	while (p && *p) {
		while (*p == ' ' || *p == ';')
			p++;
		size_t len = strcspn(p, ";");
		if (len && strncmp(p, "classlab_session=", 17) != 0) {
			cl_buf_printf(out, "%s%.*s", first ? "" : "; ", (int)len, p);
			first = false;
		}
		p += len;
	}
}

/*
 * The request for Jupyter: HTTP/1.0 with "Connection: close", or (upgrade) the
 * WebSocket handshake in HTTP/1.1, its Origin rewritten to Jupyter's own (ours was
 * checked by the caller).
 */
static int build_request(const cl_web_request *rq, const jupyter_slot *j, bool upgrade, cl_buf *b)
{
	bool auth = false;
	cl_buf cookies = CL_BUF_INIT;

	for (const char *c = rq->path; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return cl_error_set(CL_EINVAL, "a path with spaces or control characters");
	cl_buf_printf(
	    b, "%s %s%s%s HTTP/1.%d\r\nHost: 127.0.0.1:%d\r\n%s", rq->method, rq->path,
	    rq->query ? "?" : "", rq->query ? rq->query : "", upgrade ? 1 : 0, CL_WEB_JUPYTER_PORT,
	    upgrade ? "Connection: Upgrade\r\nUpgrade: websocket\r\n" : "Connection: close\r\n");
	for (size_t i = 0; i < rq->nheaders; i++) {
		const cl_web_header *h = &rq->headers[i];
		if (hop_header(h->name) || strpbrk(h->value, "\r\n"))
			continue;
		if (upgrade && strcasecmp(h->name, "Origin") == 0) {
			cl_buf_printf(b, "Origin: http://127.0.0.1:%d\r\n", CL_WEB_JUPYTER_PORT);
			continue;
		}
		auth = auth || strcasecmp(h->name, "Authorization") == 0;
		cl_buf_printf(b, "%s: %s\r\n", h->name, h->value);
	}
	cookies_but_ours(rq->cookie, &cookies);
	if (cookies.len)
		cl_buf_printf(b, "Cookie: %s\r\n", cl_buf_str(&cookies));
	if (!auth && j->token[0])
		cl_buf_printf(b, "Authorization: token %s\r\n", j->token);
	if (upgrade) {
		cl_buf_puts(b, "\r\n");
		cl_buf_free(&cookies);
		return 0;
	}
	cl_buf_printf(b, "Content-Length: %zu\r\n\r\n", rq->body_len);
	if (rq->body_len)
		cl_buf_add(b, rq->body, rq->body_len);
	cl_buf_free(&cookies);
	return 0;
}

/* Jupyter's answer: its status, its headers (less hop-by-hop ones), its body. */
static int parse_answer(const cl_buf *a, cl_web_response *r)
{
	const char *s = cl_buf_str(a);
	const char *end = strstr(s, "\r\n\r\n"); /* headers hold no NUL */
	unsigned status = 0;
	cl_buf hdrs = CL_BUF_INIT;

	if (!end || strncmp(s, "HTTP/1.", 7) != 0 || sscanf(s + 8, " %3u", &status) != 1 ||
	    status < 100 || status > 599)
		return cl_error_set(CL_EFAIL, "the VM's answer is not HTTP");
	const char *line = strstr(s, "\r\n") + 2;
	while (line < end) {
		const char *eol = strstr(line, "\r\n");
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		if (colon) {
			char *name = cl_strndup(line, (size_t)(colon - line));
			if (strcasecmp(name, "Transfer-Encoding") == 0) {
				free(name);
				cl_buf_free(&hdrs);
				return cl_error_set(CL_EFAIL,
						    "the VM's answer is chunked (not HTTP/1.0)");
			}
			if (!hop_header(name) && strcasecmp(name, "Date") != 0 &&
			    strcasecmp(name, "Server") != 0)
				cl_buf_printf(&hdrs, "%.*s\r\n", (int)(eol - line), line);
			free(name);
		}
		line = eol + 2;
	}
	r->status = status;
	r->proxied = true;
	r->raw_headers = cl_buf_detach(&hdrs);
	if (!r->raw_headers)
		r->raw_headers = cl_strdup("");
	r->content_type = NULL;
	cl_buf_add(&r->body, end + 4, a->len - (size_t)(end + 4 - s));
	return 0;
}

/* The session's grant, when it is a student's; else a 403 page in r. */
static bool student_session(cl_web *w, const char *sess, cl_web_response *r, cl_web_grant *g)
{
	if (!sess || cl_session_find(w->ctx, sess, g)) {
		cl_error_clear();
		web_status(
		    r, 403, "Not signed in",
		    "Open the one-time link your instructor gave you in this browser first.");
		return false;
	}
	if (g->admin) {
		web_status(r, 403, "Students only",
			   "A notebook opens here only for its own student: its pages run scripts, "
			   "which must not run with an instructor's session.");
		return false;
	}
	return true;
}

void cl_web_handle_jupyter(cl_web *w, const cl_web_request *rq, cl_web_response *r)
{
	char *sess = web_cookie_session(rq->cookie);
	cl_web_grant g = {0};
	cl_buf req = CL_BUF_INIT, ans = CL_BUF_INIT;
	jupyter_slot *j = NULL;

	memset(r, 0, sizeof(*r));
	if (!student_session(w, sess, r, &g))
		goto out;
	if (build_request(rq, &(jupyter_slot){.token = ""}, false, &req)) {
		web_status(r, 400, "Bad request", "%s", cl_error_msg());
		cl_error_clear();
		goto out;
	}
	/* A kept connection may have died with a VM's restart: one fresh try. */
	for (int attempt = 0; attempt < 2; attempt++) {
		cl_buf_reset(&req);
		cl_buf_reset(&ans);
		if (slot_get(w, g.lab, g.student, &j)) {
			web_status(r, 502, "Jupyter is not reachable",
				   "Cannot reach your VM: %s (is it running?)", cl_error_msg());
			cl_error_clear();
			goto out;
		}
		build_request(rq, j, false, &req);
		if (cl_tunnel_http(j->ssh, CL_WEB_JUPYTER_PORT, req.data, req.len, ANSWER_MAX,
				   ANSWER_TIMEOUT_MS, &ans) == 0)
			break;
		char *msg = cl_strdup(cl_error_msg());
		cl_error_clear();
		web_jupyter_forget(w, j->vm);
		j = NULL;
		if (attempt == 1) {
			web_status(r, 502, "Jupyter is not reachable", "%s", msg);
			free(msg);
			goto out;
		}
		free(msg);
	}
	if (parse_answer(&ans, r)) {
		web_status(r, 502, "Jupyter is not reachable", "%s", cl_error_msg());
		cl_error_clear();
	}
out:
	cl_buf_free(&req);
	cl_buf_free(&ans);
	cl_web_grant_clear(&g);
	free(sess);
}

/* ---- WebSocket: the kernels' channels, the terminals ---- */

struct cl_web_ws {
	cl_web *w;
	char *vm;
	struct cl_ssh *ssh; /* its own session: the relay's thread is its only user */
	cl_tunnel_stream *st;
	cl_buf early; /* Jupyter's bytes after its 101 head, for the client */
	int idle_ms;
	struct cl_web_ws *next;
};

#define WS_HEAD_MAX (16u << 10)

static const char *header_of(const cl_web_request *rq, const char *name)
{
	for (size_t i = 0; i < rq->nheaders; i++)
		if (strcasecmp(rq->headers[i].name, name) == 0)
			return rq->headers[i].value;
	return NULL;
}

/*
 * The handshake came from a page of this origin (Origin's host:port is the Host the
 * browser asked for): a page elsewhere cannot drive the student's kernels with their
 * cookie. No Origin (not a browser): the session alone decides.
 */
static bool same_origin(const cl_web_request *rq)
{
	const char *origin = header_of(rq, "Origin"), *host = header_of(rq, "Host");
	const char *p = origin ? strstr(origin, "://") : NULL;
	if (!origin)
		return true;
	return host && p && strcasecmp(p + 3, host) == 0;
}

/* Live relays of vm (the caller holds ws_lock). */
static int ws_count(cl_web *w, const char *vm)
{
	int n = 0;
	for (cl_web_ws *x = w->ws_list; x; x = x->next)
		n += strcmp(x->vm, vm) == 0;
	return n;
}

void cl_web_ws_free(cl_web_ws *ws)
{
	if (!ws)
		return;
	cl_web *w = ws->w;
	pthread_mutex_lock(&w->ws_lock);
	for (cl_web_ws **p = &w->ws_list; *p; p = &(*p)->next)
		if (*p == ws) {
			*p = ws->next;
			break;
		}
	pthread_cond_broadcast(&w->ws_cond);
	pthread_mutex_unlock(&w->ws_lock);
	cl_tunnel_stream_free(ws->st);
	cl_ssh_free(ws->ssh);
	cl_buf_free(&ws->early);
	free(ws->vm);
	free(ws);
}

void cl_web_jupyter_upgrade(cl_web *w, const cl_web_request *rq, cl_web_response *r,
			    cl_web_ws **out)
{
	char *sess = web_cookie_session(rq->cookie);
	cl_web_grant g = {0};
	cl_buf req = CL_BUF_INIT, head = CL_BUF_INIT, h = CL_BUF_INIT;
	jupyter_slot *j = NULL;
	cl_web_ws *ws = NULL;
	size_t head_len = 0;
	int n;

	*out = NULL;
	memset(r, 0, sizeof(*r));
	if (!student_session(w, sess, r, &g))
		goto out;
	if (strcmp(rq->method, "GET") != 0 || !same_origin(rq)) {
		web_status(r, 403, "Another origin",
			   "A WebSocket opens here only from this origin's own pages.");
		goto out;
	}
	ws = cl_calloc(1, sizeof(*ws));
	ws->w = w;
	ws->vm = cl_vm_name(g.lab, g.student);
	ws->idle_ms = w->ws_idle_ms;
	pthread_mutex_lock(&w->ws_lock);
	n = w->ws_stop ? -1 : ws_count(w, ws->vm);
	pthread_mutex_unlock(&w->ws_lock);
	if (n < 0 || n >= CL_WEB_WS_PER_STUDENT) {
		web_status(r, n < 0 ? 503 : 429, "Too many notebooks",
			   n < 0 ? "The service is stopping."
				 : "At most %d notebook connections at once: close a tab.",
			   CL_WEB_WS_PER_STUDENT);
		goto out;
	}
	if (build_request(rq, &(jupyter_slot){.token = ""}, true, &req)) {
		web_status(r, 400, "Bad request", "%s", cl_error_msg());
		cl_error_clear();
		goto out;
	}
	cl_buf_reset(&req);
	if (slot_get(w, g.lab, g.student, &j) || (build_request(rq, j, true, &req), 0) ||
	    connect_vm(w, g.lab, g.student, &ws->ssh) ||
	    cl_tunnel_stream_open(ws->ssh, CL_WEB_JUPYTER_PORT, req.data, req.len, WS_HEAD_MAX,
				  ANSWER_TIMEOUT_MS, &head, &head_len, &ws->st)) {
		web_status(r, 502, "Jupyter is not reachable",
			   "Cannot reach your VM: %s (is it running?)", cl_error_msg());
		cl_error_clear();
		goto out;
	}
	cl_buf_add(&h, head.data, head_len);
	if (parse_answer(&h, r)) {
		web_status(r, 502, "Jupyter is not reachable", "%s", cl_error_msg());
		cl_error_clear();
		goto out;
	}
	if (r->status != 101)
		goto out; /* Jupyter's refusal, as it is */
	cl_buf_add(&ws->early, head.data + head_len, head.len - head_len);
	pthread_mutex_lock(&w->ws_lock);
	ws->next = w->ws_list;
	w->ws_list = ws;
	pthread_mutex_unlock(&w->ws_lock);
	*out = ws;
	ws = NULL;
out:
	if (ws) {
		cl_tunnel_stream_free(ws->st);
		cl_ssh_free(ws->ssh);
		cl_buf_free(&ws->early);
		free(ws->vm);
		free(ws);
	}
	cl_buf_free(&req);
	cl_buf_free(&head);
	cl_buf_free(&h);
	cl_web_grant_clear(&g);
	free(sess);
}

int cl_web_ws_relay(cl_web_ws *ws, int fd, const void *from_client, size_t len)
{
	return cl_tunnel_relay(ws->st, fd, from_client, len, ws->early.data, ws->early.len,
			       ws->idle_ms, &ws->w->ws_stop);
}

void cl_web_set_ws_idle_ms(cl_web *w, int ms)
{
	w->ws_idle_ms = ms > 0 ? ms : CL_WEB_WS_IDLE_MS;
}

void cl_web_ws_stop(cl_web *w, int wait_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->ws_lock);
	w->ws_stop = 1;
	while (w->ws_list)
		if (wait_ms >= 0 && pthread_cond_timedwait(&w->ws_cond, &w->ws_lock, &until))
			break;
		else if (wait_ms < 0)
			pthread_cond_wait(&w->ws_cond, &w->ws_lock);
	pthread_mutex_unlock(&w->ws_lock);
}
