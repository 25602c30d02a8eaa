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

/* The student's kept connection, or a new one (with Jupyter found or started). */
static int slot_get(cl_web *w, const char *lab, const char *student, jupyter_slot **out)
{
	cl_access a = {0};
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
	struct cl_ssh *ssh = NULL;
	if ((rc = cl_ssh_connect(&ssh, &o)))
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
	cl_access_clear(&a);
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

static int build_request(const cl_web_request *rq, const jupyter_slot *j, cl_buf *b)
{
	bool auth = false;
	cl_buf cookies = CL_BUF_INIT;

	for (const char *c = rq->path; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return cl_error_set(CL_EINVAL, "a path with spaces or control characters");
	cl_buf_printf(b, "%s %s%s%s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n",
		      rq->method, rq->path, rq->query ? "?" : "", rq->query ? rq->query : "",
		      CL_WEB_JUPYTER_PORT);
	for (size_t i = 0; i < rq->nheaders; i++) {
		const cl_web_header *h = &rq->headers[i];
		if (hop_header(h->name) || strpbrk(h->value, "\r\n"))
			continue;
		auth = auth || strcasecmp(h->name, "Authorization") == 0;
		cl_buf_printf(b, "%s: %s\r\n", h->name, h->value);
	}
	cookies_but_ours(rq->cookie, &cookies);
	if (cookies.len)
		cl_buf_printf(b, "Cookie: %s\r\n", cl_buf_str(&cookies));
	if (!auth && j->token[0])
		cl_buf_printf(b, "Authorization: token %s\r\n", j->token);
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

void cl_web_handle_jupyter(cl_web *w, const cl_web_request *rq, cl_web_response *r)
{
	char *sess = web_cookie_session(rq->cookie);
	cl_web_grant g = {0};
	cl_buf req = CL_BUF_INIT, ans = CL_BUF_INIT;
	jupyter_slot *j = NULL;

	memset(r, 0, sizeof(*r));
	if (!sess || cl_session_find(w->ctx, sess, &g)) {
		cl_error_clear();
		web_status(
		    r, 403, "Not signed in",
		    "Open the one-time link your instructor gave you in this browser first.");
		goto out;
	}
	if (g.admin) {
		web_status(r, 403, "Students only",
			   "A notebook opens here only for its own student: its pages run scripts, "
			   "which must not run with an instructor's session.");
		goto out;
	}
	if (build_request(rq, &(jupyter_slot){.token = ""}, &req)) {
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
		build_request(rq, j, &req);
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
