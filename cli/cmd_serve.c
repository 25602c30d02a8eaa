/*
 * classlab serve: the class run through the term, in the foreground. One per data
 * directory (a lock on <data>/serve.pid); it owns the hypervisor connection (the
 * embedded driver has one owner), passes over every lab each interval (cl_serve.h),
 * and runs other classlab commands sent to its socket (<data>/serve.sock, 0600,
 * HTTP + JSON through libmicrohttpd) so that they need no hypervisor of their own.
 */
#include "cli.h"
#include "classlab/cl_serve.h"
#include "classlab/cl_web.h"
#include "classlab/banned.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_MAX (1u << 20)
#define INTERVAL_MAX 30 /* issue 10: at most one heartbeat of 30 s is ever uncertain */

/*
 * The web page's bounds (issue 11): request line and headers within the connection's
 * memory, a form body of at most WEB_BODY_MAX, at most WEB_HEADERS_MAX headers, slow
 * clients dropped after WEB_TIMEOUT_S idle, and few connections per address.
 */
#define WEB_BODY_MAX (16u << 10)
#define WEB_HEADERS_MAX 64
#define WEB_MEMORY (32u << 10)
#define WEB_TIMEOUT_S 15u
#define WEB_CONNECTIONS 128u
#define WEB_PER_IP 16u

typedef struct service {
	cli_ctx *cli; /* the service's own front-end state and handle */
	cl_serve *policy; /* its lock: one thing at a time on the handle */
	char *db_real;
	cl_web *web;	   /* the web page, when --http */
	bool web_tls;	   /* our own HTTPS */
	bool behind_proxy; /* trust X-Forwarded-For/-Proto from the proxy */
} service;

typedef struct request {
	cl_buf body;
	bool too_large;
} request;

char *cli_serve_socket(const char *data_dir)
{
	return cl_path_join(data_dir, "serve.sock");
}

/* "2026-11-29T23:59:00Z classlab serve: ..." on stderr, the service's log. */
static void say(service *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(service *s, const char *fmt, ...)
{
	char *t = cl_format_time(cl_ctx_now(s->cli->cl));
	va_list ap;

	fprintf(stderr, "%s classlab serve: ", t);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	free(t);
}

/* The library's progress and warnings during a pass, as log lines. */
static void serve_progress(void *arg, cl_notice severity, const char *msg, size_t done,
			   size_t total)
{
	service *s = arg;
	(void)done;
	(void)total;
	if (severity == CL_NOTICE_DETAIL)
		return;
	say(s, "%s%s", severity == CL_NOTICE_WARNING ? "warning: " : "", msg);
}

/* Everything fd (1 or 2) gets while a request runs goes into an unnamed temporary file. */
typedef struct capture {
	int fd, saved, mem;
	FILE *tmp;
} capture;

static int capture_begin(capture *c, int fd)
{
	c->fd = fd;
	c->tmp = tmpfile();
	c->mem = c->tmp ? fileno(c->tmp) : -1;
	c->saved = dup(fd);
	if (c->mem < 0 || c->saved < 0 || dup2(c->mem, fd) < 0)
		return cl_error_set(CL_EFAIL, "cannot capture output: %s", strerror(errno));
	return 0;
}

static void capture_end(capture *c, cl_buf *b)
{
	char chunk[8192];
	ssize_t n;

	if (c->saved >= 0) {
		dup2(c->saved, c->fd);
		close(c->saved);
	}
	if (c->mem >= 0) {
		lseek(c->mem, 0, SEEK_SET);
		while ((n = read(c->mem, chunk, sizeof(chunk))) > 0)
			cl_buf_add(b, chunk, (size_t)n);
	}
	if (c->tmp)
		fclose(c->tmp);
}

/*
 * The reply: the exit status and the bytes the command wrote, in base64 (libcrypto), so
 * whatever it printed (any bytes, not only UTF-8) reaches the client as it was.
 */
static json_t *result_json(int exit_code, const cl_buf *out, const cl_buf *err)
{
	const cl_buf *bufs[2] = {out, err};
	const char *keys[2] = {"stdout_b64", "stderr_b64"};
	json_t *r = json_pack("{s:i}", "exit", exit_code);

	for (int i = 0; i < 2; i++) {
		size_t len = bufs[i]->len;
		unsigned char *enc = cl_malloc(4 * ((len + 2) / 3) + 1);
		int n = EVP_EncodeBlock(enc, (const unsigned char *)(len ? bufs[i]->data : ""), (int)len);
		json_object_set_new(r, keys[i], json_stringn((const char *)enc, n > 0 ? (size_t)n : 0));
		free(enc);
	}
	return r;
}

static json_t *refuse(int exit_code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *refuse(int exit_code, const char *fmt, ...)
{
	cl_buf b = CL_BUF_INIT, none = CL_BUF_INIT;
	va_list ap;

	cl_buf_puts(&b, "classlab: ");
	va_start(ap, fmt);
	cl_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	cl_buf_putc(&b, '\n');
	json_t *r = result_json(exit_code, &none, &b);
	cl_buf_free(&b);
	return r;
}

static bool same_text(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/*
 * One command line from a client, run here as the client would have run it: the
 * same dispatch and renderer, with this process's stdout and stderr captured.
 */
static json_t *run_request(service *s, const char *body, size_t len)
{
	json_error_t jerr;
	json_t *req = json_loadb(body, len, 0, &jerr), *args, *res = NULL;
	const char *output = "table", *db = NULL, *uri = NULL, *cwd = NULL;
	int verbosity = 0, n;
	char **argv = NULL;

	/* "db" and "uri" may be null (no database given; the embedded hypervisor) */
	if (!req || json_unpack_ex(req, &jerr, 0, "{s:o,s?s,s?i}", "argv", &args, "output", &output,
				   "verbosity", &verbosity) ||
	    !json_is_array(args) || (n = (int)json_array_size(args)) < 1 || n > 256) {
		res = refuse(2, "serve: malformed request");
		goto out;
	}
	db = json_string_value(json_object_get(req, "db"));
	uri = json_string_value(json_object_get(req, "uri"));
	if (!same_text(db, s->db_real) || !same_text(uri, s->cli->uri)) {
		res = refuse(5, "classlab serve (pid %ld) serves %s on %s: run the command with those, "
				"or stop the service",
			     (long)getpid(), s->db_real, s->cli->uri ? s->cli->uri : "the embedded hypervisor");
		goto out;
	}
	/* Only what needs the hypervisor comes here (NEED_HV): never serve, tunnel, jupyter. */
	bool noun_known;
	const char *noun = json_string_value(json_array_get(args, 0));
	const char *verb = json_string_value(json_array_get(args, 1));
	const cli_cmd *cmd = noun ? cli_find_cmd(noun, verb, &noun_known) : NULL;
	if (!cmd || !(cmd->flags & NEED_HV)) {
		res = refuse(2, "serve: '%s%s%s' is not run by the service (only commands that need "
				"the hypervisor are)",
			     noun ? noun : "?", verb && cmd && cmd->verb ? " " : "",
			     verb && cmd && cmd->verb ? verb : "");
		goto out;
	}
	cwd = json_string_value(json_object_get(req, "cwd"));
	if (!cwd || cwd[0] != '/') {
		res = refuse(2, "serve: malformed request (no working directory)");
		goto out;
	}
	argv = cl_calloc((size_t)n + 2, sizeof(*argv));
	argv[0] = cl_strdup("classlab");
	for (int i = 0; i < n; i++) {
		const char *w = json_string_value(json_array_get(args, (size_t)i));
		if (!w) {
			res = refuse(2, "serve: malformed request");
			goto out;
		}
		argv[i + 1] = cl_strdup(w);
	}
	cli_ctx rc_ctx = *s->cli;
	rc_ctx.output = strcmp(output, "json") == 0 ? OUT_JSON : OUT_TABLE;
	rc_ctx.verbosity = verbosity < 0 ? -1 : verbosity > 0 ? 1 : 0;
	rc_ctx.optval = NULL;
	rc_ctx.cmd = NULL;
	capture out = {.saved = -1, .mem = -1}, err = {.saved = -1, .mem = -1};
	/* one request at a time: the handle, the hypervisor and fds 1 and 2 are shared */
	cl_serve_lock(s->policy);
	fflush(stdout);
	fflush(stderr);
	cl_ctx_set_progress(s->cli->cl, cli_progress, &rc_ctx);
	int code = 1;
	/* The client's directory for its relative paths; the service's own paths are absolute. */
	int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (capture_begin(&out, 1) == 0 && capture_begin(&err, 2) == 0) {
		if (chdir(cwd) == 0)
			code = cli_dispatch(&rc_ctx, n, argv + 1, argv);
		else
			fprintf(stderr, "classlab: cannot use the directory '%s': %s\n", cwd,
				strerror(errno));
	} else {
		fprintf(stderr, "classlab: serve: %s\n", cl_error_msg());
	}
	if (here >= 0) {
		if (fchdir(here) < 0)
			say(s, "warning: cannot return to the service's directory: %s", strerror(errno));
		close(here);
	}
	fflush(stdout);
	fflush(stderr);
	cl_buf o = CL_BUF_INIT, e = CL_BUF_INIT;
	capture_end(&out, &o);
	capture_end(&err, &e);
	cl_ctx_set_progress(s->cli->cl, serve_progress, s);
	say(s, "ran '%s%s%s' for a client: exit %d", argv[1], n > 1 ? " " : "", n > 1 ? argv[2] : "",
	    code); /* under the lock: the next request captures fd 2 */
	cl_serve_unlock(s->policy);
	res = result_json(code, &o, &e);
	cl_buf_free(&o);
	cl_buf_free(&e);
out:
	if (argv)
		cl_strv_free(argv, (size_t)n + 1);
	json_decref(req);
	return res;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, json_t *body)
{
	static const char failed[] = "{\"exit\":1}";
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct MHD_Response *r =
		text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
		     : MHD_create_response_from_buffer(strlen(failed), (void *)failed,
						       MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ok = MHD_queue_response(conn, text ? status : MHD_HTTP_INTERNAL_SERVER_ERROR, r);
	MHD_destroy_response(r);
	json_decref(body);
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	service *s = cls;
	request *rq = *con_cls;
	(void)version;

	if (!rq) {
		rq = cl_calloc(1, sizeof(*rq));
		*con_cls = rq;
		return MHD_YES;
	}
	if (*data_size) {
		if (rq->body.len + *data_size > REQUEST_MAX)
			rq->too_large = true;
		else
			cl_buf_add(&rq->body, data, *data_size);
		*data_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/v1/run") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, refuse(2, "serve: no such endpoint '%s'", url));
	if (strcmp(method, "POST") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, refuse(2, "serve: use POST"));
	if (rq->too_large)
		return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, refuse(2, "serve: request too large"));
	return reply(conn, MHD_HTTP_OK, run_request(s, rq->body.data ? rq->body.data : "", rq->body.len));
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
		    enum MHD_RequestTerminationCode why)
{
	request *rq = *con_cls;
	(void)cls;
	(void)conn;
	(void)why;
	if (rq) {
		cl_buf_free(&rq->body);
		free(rq);
	}
	*con_cls = NULL;
}

/* ---- the web page (--http) ---- */

typedef struct web_request {
	cl_buf body;
	bool too_large;
	cl_web_ws *ws; /* a WebSocket answered 101, until its relay's thread takes it */
} web_request;

/* Open Jupyter's origin: larger bodies (notebooks are saved with PUT). */
#define JUPYTER_BODY_MAX (16u << 20)

typedef struct header_list {
	cl_web_header h[WEB_HEADERS_MAX];
	size_t n;
} header_list;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	header_list *l = cls;
	(void)kind;
	if (l->n == WEB_HEADERS_MAX)
		return MHD_NO;
	l->h[l->n++] = (cl_web_header){key, value ? value : ""};
	return MHD_YES;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	(void)kind, (void)key, (void)value;
	return ++*(unsigned *)cls > WEB_HEADERS_MAX ? MHD_NO : MHD_YES;
}

/* The peer's address as text, for the guess limit. */
static void peer_address(struct MHD_Connection *conn, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, len, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
			  (socklen_t)len);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
			  (socklen_t)len);
}

/* Jupyter's own headers (its CSP, cookies, types); never our session's. */
static void add_raw_headers(struct MHD_Response *resp, const char *raw)
{
	for (const char *line = raw; line && *line;) {
		size_t n = strcspn(line, "\r\n");
		const char *colon = memchr(line, ':', n);
		if (colon) {
			char *name = cl_strndup(line, (size_t)(colon - line));
			const char *v = colon + 1;
			while (*v == ' ')
				v++;
			char *value = cl_strndup(v, n - (size_t)(v - line));
			MHD_add_response_header(resp, name, value);
			free(name);
			free(value);
		}
		line += n;
		line += strspn(line, "\r\n");
	}
}

static enum MHD_Result web_send(service *s, struct MHD_Connection *conn, const char *method,
				const char *url, cl_web_response *r)
{
	size_t len = r->body.len;
	char *body = len ? cl_buf_detach(&r->body) : NULL;
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		len, body ? body : (void *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);

	if (r->proxied) {
		add_raw_headers(resp, r->raw_headers);
		MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	} else {
		for (size_t i = 0; i < cl_web_header_count; i++)
			MHD_add_response_header(resp, cl_web_headers[i].name, cl_web_headers[i].value);
		MHD_add_response_header(resp, "Content-Type",
					r->content_type ? r->content_type : "text/plain");
	}
	if (s->web_tls)
		MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
	if (r->set_cookie)
		MHD_add_response_header(resp, "Set-Cookie", r->set_cookie);
	if (r->location)
		MHD_add_response_header(resp, "Location", r->location);
	if (r->disposition)
		MHD_add_response_header(resp, "Content-Disposition", r->disposition);
	/* The log never holds a link's token. */
	say(s, "web: %s %s %u", method, strncmp(url, "/join/", 6) == 0 ? "/join/(token)" : url,
	    r->status);
	enum MHD_Result ok = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	cl_web_response_clear(r);
	return ok;
}

static enum MHD_Result web_plain(service *s, struct MHD_Connection *conn, const char *method,
				 const char *url, unsigned status, const char *msg)
{
	cl_web_response r = {.status = status, .content_type = "text/plain; charset=utf-8"};
	cl_buf_puts(&r.body, msg);
	return web_send(s, conn, method, url, &r);
}

/*
 * The Jupyter origin keeps the URL as the browser sent it (no unescaping: "%2F" in a
 * file's name must reach Jupyter as it was), so the query is joined back from its raw
 * arguments ("a=b&c").
 */
static size_t raw_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls, (void)conn;
	return strlen(s);
}

static size_t std_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls, (void)conn;
	return MHD_http_unescape(s);
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	cl_buf *b = cls;
	(void)kind;
	cl_buf_printf(b, "%s%s%s%s", b->len ? "&" : "", key, value ? "=" : "", value ? value : "");
	return MHD_YES;
}

static char *web_query_of(struct MHD_Connection *conn)
{
	cl_buf b = CL_BUF_INIT;
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, &b);
	return b.len ? cl_buf_detach(&b) : (cl_buf_free(&b), NULL);
}

/*
 * A WebSocket on the Jupyter origin: after the 101, libmicrohttpd hands over the
 * socket; a thread of its own relays it (its own SSH session, see cl_web.h), then
 * closes it through libmicrohttpd and frees the relay (which wakes a stopping service).
 */
typedef struct relay_job {
	service *s;
	cl_web_ws *ws;
	MHD_socket sock;
	struct MHD_UpgradeResponseHandle *urh;
	char *early; /* what the client sent after its handshake, read by libmicrohttpd */
	size_t early_len;
} relay_job;

static void *relay_main(void *arg)
{
	relay_job *job = arg;
	if (cl_web_ws_relay(job->ws, job->sock, job->early, job->early_len)) {
		cl_serve_lock(job->s->policy);
		say(job->s, "web: a notebook's WebSocket ended: %s", cl_error_msg());
		cl_serve_unlock(job->s->policy);
		cl_error_clear();
	}
	MHD_upgrade_action(job->urh, MHD_UPGRADE_ACTION_CLOSE);
	cl_web_ws_free(job->ws);
	free(job->early);
	free(job);
	return NULL;
}

static void on_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
			size_t extra_in_size, MHD_socket sock,
			struct MHD_UpgradeResponseHandle *urh)
{
	web_request *rq = con_cls;
	relay_job *job = cl_calloc(1, sizeof(*job));
	pthread_t t;
	pthread_attr_t attr;
	(void)conn;

	*job = (relay_job){.s = cls, .ws = rq ? rq->ws : NULL, .sock = sock, .urh = urh};
	if (rq)
		rq->ws = NULL;
	if (extra_in_size) {
		job->early = cl_malloc(extra_in_size);
		memcpy(job->early, extra_in, extra_in_size);
		job->early_len = extra_in_size;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!job->ws || pthread_create(&t, &attr, relay_main, job) != 0) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		cl_web_ws_free(job->ws);
		free(job->early);
		free(job);
	}
	pthread_attr_destroy(&attr);
}

static enum MHD_Result web_upgrade(service *s, struct MHD_Connection *conn, const char *url,
				   web_request *rq, cl_web_ws *ws, cl_web_response *r)
{
	struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, s);
	enum MHD_Result ok = MHD_NO;

	if (resp) {
		add_raw_headers(resp, r->raw_headers);
		MHD_add_response_header(resp, "Upgrade", "websocket");
		rq->ws = ws;
		ok = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
		MHD_destroy_response(resp);
	}
	say(s, "web: GET %s %u (WebSocket)", url, ok == MHD_YES ? 101u : 500u);
	if (ok != MHD_YES) {
		rq->ws = NULL;
		cl_web_ws_free(ws);
	}
	cl_web_response_clear(r);
	return ok;
}

static bool wants_websocket(struct MHD_Connection *conn)
{
	const char *u = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upgrade");
	return u && strcasecmp(u, "websocket") == 0;
}

static enum MHD_Result web_any(service *s, bool jupyter, struct MHD_Connection *conn,
			       const char *url, const char *method, const char *data,
			       size_t *data_size, void **con_cls)
{
	web_request *rq = *con_cls;
	header_list hl = {.n = 0};
	char client[INET6_ADDRSTRLEN + 1];
	unsigned nheaders = 0;
	size_t body_max = jupyter ? JUPYTER_BODY_MAX : WEB_BODY_MAX;

	if (!rq) {
		rq = cl_calloc(1, sizeof(*rq));
		*con_cls = rq;
		return MHD_YES;
	}
	if (*data_size) {
		if (rq->body.len + *data_size > body_max)
			rq->too_large = true;
		else
			cl_buf_add(&rq->body, data, *data_size);
		*data_size = 0;
		return MHD_YES;
	}
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &nheaders);
	if (nheaders > WEB_HEADERS_MAX)
		return web_plain(s, conn, method, url, 431, "too many header fields\n");
	if (rq->too_large)
		return web_plain(s, conn, method, url, 413, "request too large\n");
	cl_web_request wr = {
		.method = method,
		.path = url,
		.cookie = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Cookie"),
		.body = rq->body.data,
		.body_len = rq->body.len,
		.tls = s->web_tls,
	};
	peer_address(conn, client, sizeof(client));
	wr.client = client;
	if (s->behind_proxy) {
		/* The proxy's own headers: the last address it appended, and its scheme. */
		const char *xff = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For");
		const char *xfp = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-Proto");
		if (xff) {
			const char *last = strrchr(xff, ',');
			last = last ? last + 1 : xff;
			while (*last == ' ')
				last++;
			snprintf(client, sizeof(client), "%s", last);
		}
		wr.tls = xfp && strcmp(xfp, "https") == 0;
	}
	cl_web_response r = {0};
	if (jupyter) {
		MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &hl);
		wr.headers = hl.h;
		wr.nheaders = hl.n;
		wr.query = web_query_of(conn);
	}
	cl_web_ws *ws = NULL;
	bool upgrade = jupyter && wants_websocket(conn);
	cl_serve_lock(s->policy);
	if (upgrade)
		cl_web_jupyter_upgrade(s->web, &wr, &r, &ws);
	else if (jupyter)
		cl_web_handle_jupyter(s->web, &wr, &r);
	else
		cl_web_handle(s->web, &wr, &r);
	cl_serve_unlock(s->policy);
	enum MHD_Result ok =
	    ws ? web_upgrade(s, conn, url, rq, ws, &r) : web_send(s, conn, method, url, &r);
	free((char *)wr.query);
	return ok;
}

static enum MHD_Result on_web(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *data_size, void **con_cls)
{
	(void)version;
	return web_any(cls, false, conn, url, method, data, data_size, con_cls);
}

static enum MHD_Result on_jupyter(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	(void)version;
	return web_any(cls, true, conn, url, method, data, data_size, con_cls);
}

static void on_web_done(void *cls, struct MHD_Connection *conn, void **con_cls,
			enum MHD_RequestTerminationCode why)
{
	web_request *rq = *con_cls;
	(void)cls, (void)conn, (void)why;
	if (rq) {
		cl_web_ws_free(rq->ws); /* answered 101, but the socket never came */
		cl_buf_free(&rq->body);
		free(rq);
	}
	*con_cls = NULL;
}

/* "127.0.0.1:8080" or "[::1]:8080" into a socket address; loopback or not. */
static int web_address(const char *spec, struct sockaddr_storage *ss, bool *loopback)
{
	const char *colon = strrchr(spec, ':');
	char host[64];
	uint64_t port = 0;
	size_t hl;
	int rc;

	memset(ss, 0, sizeof(*ss));
	if (!colon || (hl = (size_t)(colon - spec)) == 0 || hl >= sizeof(host))
		return cl_error_set(CL_EINVAL, "--http '%s': give ADDRESS:PORT, e.g. 127.0.0.1:8080",
				    spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if ((rc = cl_parse_u64("--http port", colon + 1, 65535, &port)))
		return rc;
	if (port == 0)
		return cl_error_set(CL_EINVAL, "--http '%s': the port must be 1-65535", spec);
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
			return cl_error_set(CL_EINVAL, "--http '%s': not a numeric address", spec);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
		return 0;
	}
	if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		return cl_error_set(CL_EINVAL, "--http '%s': not a numeric address", spec);
	in4->sin_family = AF_INET;
	in4->sin_port = htons((uint16_t)port);
	*loopback = (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	return 0;
}

/* The web page's options: the address, and the rule for one beyond loopback. */
static int web_check(cli_ctx *ctx, struct sockaddr_storage *ss)
{
	const char *spec = cli_opt_get(ctx, "http"), *cert = cli_opt_get(ctx, "tls-cert"),
		   *key = cli_opt_get(ctx, "tls-key");
	bool proxy = cli_flag(ctx, "behind-proxy"), loopback = false;
	int rc;

	const char *jp = cli_opt_get(ctx, "jupyter-port");
	uint64_t jport = 0;

	if (!spec) {
		if (cert || key || proxy || jp)
			return cl_error_set(CL_EINVAL, "--tls-cert, --tls-key, --behind-proxy and "
						       "--jupyter-port go with --http");
		return 0;
	}
	if ((rc = web_address(spec, ss, &loopback)))
		return rc;
	if (jp && (rc = cl_parse_u64("--jupyter-port", jp, 65535, &jport)))
		return rc;
	in_port_t hport = ss->ss_family == AF_INET6 ? ((struct sockaddr_in6 *)ss)->sin6_port
						    : ((struct sockaddr_in *)ss)->sin_port;
	if (jp && (jport == 0 || htons((uint16_t)jport) == hport))
		return cl_error_set(CL_EINVAL, "--jupyter-port must be 1-65535 and not the page's "
					       "own port (Jupyter needs an origin of its own)");
	if (!cert != !key)
		return cl_error_set(CL_EINVAL, "--tls-cert and --tls-key go together");
	if (cert && proxy)
		return cl_error_set(CL_EINVAL, "--behind-proxy is for a proxy that terminates TLS: "
					       "not with --tls-cert");
	if (!loopback && !cert && !proxy)
		return cl_error_set(CL_EINVAL,
				    "--http %s is beyond loopback: serve it over HTTPS (--tls-cert "
				    "FILE --tls-key FILE) or behind a reverse proxy (--behind-proxy)",
				    spec);
	return 0;
}

/*
 * The web page's daemon: loopback by default; any other address needs our own TLS
 * (--tls-cert/--tls-key) or --behind-proxy (a proxy that terminates TLS for us).
 */
static struct MHD_Daemon *web_daemon(service *s, unsigned flags, struct sockaddr_storage *ss,
				      bool jupyter, const cl_buf *cert, const cl_buf *key)
{
	MHD_AccessHandlerCallback fn = jupyter ? on_jupyter : on_web;
	size_t (*unescape)(void *, struct MHD_Connection *, char *) =
		jupyter ? raw_unescape : std_unescape;
	if (cert->data)
		return MHD_start_daemon(
			flags, 0, NULL, NULL, fn, s, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
			MHD_OPTION_SOCK_ADDR, ss,
			MHD_OPTION_NOTIFY_COMPLETED, on_web_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
			WEB_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WEB_MEMORY,
			MHD_OPTION_CONNECTION_LIMIT, WEB_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
			WEB_PER_IP, MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_HTTPS_MEM_CERT,
			cl_buf_str(cert), MHD_OPTION_HTTPS_MEM_KEY, cl_buf_str(key), MHD_OPTION_END);
	return MHD_start_daemon(flags, 0, NULL, NULL, fn, s, MHD_OPTION_UNESCAPE_CALLBACK, unescape,
				NULL, MHD_OPTION_SOCK_ADDR, ss,
				MHD_OPTION_NOTIFY_COMPLETED, on_web_done, NULL,
				MHD_OPTION_CONNECTION_TIMEOUT, WEB_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WEB_MEMORY,
				MHD_OPTION_CONNECTION_LIMIT, WEB_CONNECTIONS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, WEB_PER_IP,
				MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
}

static int web_start(service *s, cli_ctx *ctx, struct MHD_Daemon **out, struct MHD_Daemon **jout)
{
	const char *spec = cli_opt_get(ctx, "http"), *cert = cli_opt_get(ctx, "tls-cert"),
		   *key = cli_opt_get(ctx, "tls-key");
	struct sockaddr_storage ss;
	cl_buf certb = CL_BUF_INIT, keyb = CL_BUF_INIT;
	int rc = 0;

	*out = NULL;
	*jout = NULL;
	s->behind_proxy = cli_flag(ctx, "behind-proxy");
	if (!spec)
		return 0;
	if ((rc = web_check(ctx, &ss)))
		return rc;
	uint64_t jport = 0;
	if (cli_opt_get(ctx, "jupyter-port") &&
	    (rc = cl_parse_u64("--jupyter-port", cli_opt_get(ctx, "jupyter-port"), 65535, &jport)))
		return rc;
	if (cert && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return cl_error_set(CL_EUNAVAIL, "this libmicrohttpd has no TLS: use --behind-proxy");
	if (cert && ((rc = cl_read_file(cert, 1 << 20, &certb)) ||
		     (rc = cl_read_file(key, 1 << 20, &keyb))))
		goto out;
	if ((rc = cl_web_new(&s->web, ctx->cl)))
		goto out;
	s->web_tls = cert != NULL;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
			 (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) | (cert ? MHD_USE_TLS : 0);
	*out = web_daemon(s, flags, &ss, false, &certb, &keyb);
	if (!*out) {
		rc = cl_error_set(CL_EFAIL, "cannot serve the web page on %s: %s", spec,
				  errno ? strerror(errno) : "libmicrohttpd refused");
		goto out;
	}
	/* Open Jupyter on its own origin: the same address, another port. */
	if (jport) {
		if (ss.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)jport);
		else
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)jport);
		cl_web_set_jupyter_port(s->web, (int)jport);
#ifdef CLASSLAB_TEST_HOOKS
		/* Tests see a relay's idle limit in seconds, not minutes. */
		if (getenv("CLASSLAB_TEST_WS_IDLE_MS"))
			cl_web_set_ws_idle_ms(s->web, atoi(getenv("CLASSLAB_TEST_WS_IDLE_MS")));
#endif
		/* WebSocket: the kernels' channels (the internal polling thread supports it). */
		if (MHD_is_feature_supported(MHD_FEATURE_UPGRADE) == MHD_YES)
			flags |= MHD_ALLOW_UPGRADE;
		else
			say(s, "warning: this libmicrohttpd cannot upgrade: notebooks open, their "
			       "kernels do not connect");
		if (!(*jout = web_daemon(s, flags, &ss, true, &certb, &keyb)))
			rc = cl_error_set(CL_EFAIL, "cannot serve Jupyter on port %llu: %s",
					  (unsigned long long)jport,
					  errno ? strerror(errno) : "libmicrohttpd refused");
	}
out:
	if (keyb.data)
		memset(keyb.data, 0, keyb.len);
	cl_buf_free(&certb);
	cl_buf_free(&keyb);
	return rc;
}

/*
 * <data>/serve.pid, locked for the service's life: a second service finds it locked
 * and names the first's pid (exit 4). The file stays; the lock is what counts.
 */
static int take_pidfile(const char *path, int *fd_out)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	char buf[32] = "";

	if (fd < 0)
		return cl_error_set(CL_EFAIL, "cannot open '%s': %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		close(fd);
		return cl_error_set(CL_EEXIST, "already running for this data directory (pid %s)",
				    *buf ? buf : "unknown");
	}
	char *pid = cl_aprintf("%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) != (ssize_t)strlen(pid)) {
		free(pid);
		close(fd);
		return cl_error_set(CL_EFAIL, "cannot write '%s': %s", path, strerror(errno));
	}
	free(pid);
	*fd_out = fd;
	return 0;
}

/* The socket, made by us under the lock (a stale one from a killed service is replaced). */
static int listen_socket(const char *path, int *fd_out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return cl_error_set(CL_EINVAL, "socket path '%s' is longer than %zu bytes: use a "
					       "shorter data directory (CLASSLAB_HOME)",
				    path, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (unlink(path) < 0 && errno != ENOENT)
		return cl_error_set(CL_EFAIL, "cannot remove stale '%s': %s", path, strerror(errno));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	mode_t old = umask(0177); /* 0600 from the start: no window where others may connect */
	int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	umask(old);
	if (!ok || listen(fd, 16) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return cl_error_set(CL_EFAIL, "cannot listen on '%s': %s", path, strerror(e));
	}
	*fd_out = fd;
	return 0;
}

static void pass(service *s)
{
	cl_serve_tick_result r = {0};

	cl_serve_lock(s->policy);
	if (cl_serve_tick(s->policy, &r))
		say(s, "warning: this pass failed: %s (the next one retries)", cl_error_msg());
	cl_serve_unlock(s->policy);
}

int cmd_serve(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	const char *pidfile = cli_opt_get(ctx, "pidfile"), *iv = cli_opt_get(ctx, "interval");
	service s = {.cli = ctx};
	struct MHD_Daemon *d = NULL, *web = NULL, *jweb = NULL;
	char *pid_path = NULL, *sock_path = NULL;
	int pid_fd = -1, sock_fd = -1, rc;
	bool stopping = false;
	uint64_t interval = INTERVAL_MAX;
	sigset_t sigs;
	(void)argc;
	(void)argv;
	(void)res;

	if (iv && (rc = cl_parse_u64("--interval", iv, INTERVAL_MAX, &interval)))
		return rc;
	if (interval < 1)
		return cl_error_set(CL_EINVAL, "--interval must be 1 to %d seconds", INTERVAL_MAX);
	/* The web page's options are checked before anything is taken. */
	struct sockaddr_storage web_ss;
	if ((rc = web_check(ctx, &web_ss)))
		return rc;
	/* Signals are taken by sigtimedwait below; every thread started later inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	/* Its pid file and socket live in the data directory (made, like every command's). */
	if ((rc = cl_private_dir("data directory", ctx->data_dir, true)))
		goto out;
	pid_path = cl_path_join(ctx->data_dir, "serve.pid");
	sock_path = cli_serve_socket(ctx->data_dir);
	s.db_real = realpath(ctx->db_path, NULL);
	if (!s.db_real) {
		rc = cl_error_set(CL_EFAIL, "cannot resolve '%s': %s", ctx->db_path, strerror(errno));
		goto out;
	}
	if ((rc = take_pidfile(pid_path, &pid_fd)))
		goto out;
	if (pidfile) {
		char *line = cl_aprintf("%ld\n", (long)getpid());
		rc = cl_write_file(pidfile, line, strlen(line), 0644);
		free(line);
		if (rc)
			goto out;
	}
	if ((rc = cli_vm_init(ctx)) || (rc = cl_ctx_connect(ctx->cl)))
		goto out;
	/* The commands it runs for clients close no connection: the watch hangs on it. */
	cl_ctx_keep_connection(ctx->cl);
	if ((rc = cl_serve_new(&s.policy, ctx->cl)) || (rc = cl_serve_watch(s.policy)) ||
	    (rc = listen_socket(sock_path, &sock_fd)))
		goto out;
	cl_ctx_set_progress(ctx->cl, serve_progress, &s);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
			     on_request, &s, MHD_OPTION_LISTEN_SOCKET, sock_fd,
			     MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
			     MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
	if (!d) {
		rc = cl_error_set(CL_EFAIL, "cannot serve on '%s'", sock_path);
		goto out;
	}
	if ((rc = web_start(&s, ctx, &web, &jweb)))
		goto out;
	say(&s, "serving %s (pid %ld, socket %s, a pass every %llu s)", s.db_real, (long)getpid(),
	    sock_path, (unsigned long long)interval);
	if (web)
		say(&s, "web page on %s://%s%s", s.web_tls ? "https" : "http", cli_opt_get(ctx, "http"),
		    s.behind_proxy ? " (behind a proxy)" : "");
	if (jweb)
		say(&s, "Open Jupyter on port %s of the same address", cli_opt_get(ctx, "jupyter-port"));
	for (;;) {
		siginfo_t si;
		struct timespec ts = {.tv_sec = (time_t)interval};
		pass(&s);
		int sig = sigtimedwait(&sigs, &si, &ts);
		/* Under the lock: a client's command may have fd 2 captured meanwhile. */
		cl_serve_lock(s.policy);
		if (sig == SIGHUP)
			say(&s, "SIGHUP: passing over every lab now (settings are read on every pass)");
		else if (sig == SIGTERM || sig == SIGINT)
			say(&s, "%s: stopping (VMs keep running; their metering resumes when a "
				"service starts again)",
			    sig == SIGTERM ? "SIGTERM" : "SIGINT");
		cl_serve_unlock(s.policy);
		if (sig == SIGTERM || sig == SIGINT) {
			stopping = true;
			break;
		}
	}
out:
	/* No more requests, then no more events, then the open intervals close. Notebooks'
	 * WebSockets first: their relays end and close their sockets while libmicrohttpd
	 * still runs (a relay still on after 5 s is waited for by cl_web_free). */
	if (s.web)
		cl_web_ws_stop(s.web, 5000);
	if (jweb)
		MHD_stop_daemon(jweb);
	if (web)
		MHD_stop_daemon(web);
	cl_web_free(s.web);
	if (d)
		MHD_stop_daemon(d); /* it closes the listening socket it was given */
	else if (sock_fd >= 0)
		close(sock_fd);
	if (sock_fd >= 0)
		unlink(sock_path);
	if (stopping && cl_serve_stop(s.policy))
		say(&s, "warning: %s", cl_error_msg());
	if (pid_fd >= 0) {
		if (pidfile)
			unlink(pidfile);
		close(pid_fd);
	}
	cl_serve_free(s.policy);
	free(s.db_real);
	free(pid_path);
	free(sock_path);
	return rc;
}
