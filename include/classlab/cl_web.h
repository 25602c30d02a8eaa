/*
 * The web page for students and instructors (issue 11): routes, sessions, CSRF, the
 * rate limit on guessed links, and server-rendered HTML with its CSS and JavaScript
 * compiled in. No sockets here: a front end (cli/cmd_serve.c, libmicrohttpd) turns
 * HTTP into a cl_web_request, holds the service's lock around cl_web_handle and sends
 * the cl_web_response with the security headers cl_web_headers lists.
 *
 * Routes are a fixed table (no file is ever served):
 *   GET  /                          who you are: redirects to your page, or says how to get in
 *   GET  /join/<token>              takes a one-time link: session cookie, then 303 to /
 *   GET  /s/<lab>/<student>         a student's page (that student or an admin only)
 *   POST /s/<lab>/<student>/start   | /stop   (form: csrf)
 *   GET  /s/<lab>/<student>/bundle.zip
 *   GET  /admin                     the instructors' page (admin sessions only)
 *   POST /admin/vm                  (form: csrf, lab, student or all=1, action=start|stop)
 *   GET  /admin/chart/<lab>.svg     the usage chart
 *   POST /logout                    (form: csrf)
 *   GET  /static/style.css, /static/app.js
 * A request without a live session gets 403 on every page but / and /join; a student's
 * session gets 403 on any URL of another student's and on /admin; a POST whose csrf
 * field is not the session's gets 403 and changes nothing.
 */
#ifndef CL_WEB_H
#define CL_WEB_H

#include "classlab/cl_ctx.h"
#include "classlab/cl_util.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct cl_web cl_web;

typedef struct cl_web_header {
	const char *name, *value;
} cl_web_header;

/* Failed link guesses: this many per client address per window get 429 after. */
#define CL_WEB_GUESS_MAX 10
#define CL_WEB_GUESS_WINDOW_S 600
/* and this many from every address together (a guesser with many addresses). */
#define CL_WEB_GUESS_GLOBAL_MAX 100

typedef struct cl_web_request {
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* without the query */
	const char *cookie; /* the Cookie header, or NULL */
	const char *client; /* the peer's address (or the proxy's forwarded one), for the limit */
	const char *body;   /* application/x-www-form-urlencoded, or NULL */
	size_t body_len;
	bool tls; /* the browser reached us over HTTPS: the cookie gets Secure */
	/* For the Jupyter origin only: the query ("a=b", without "?") and every header. */
	const char *query;
	const struct cl_web_header *headers;
	size_t nheaders;
} cl_web_request;

typedef struct cl_web_response {
	unsigned status;
	const char *content_type; /* static */
	cl_buf body;
	char *set_cookie;  /* Set-Cookie value, or NULL */
	char *location;	   /* for 303, or NULL */
	char *disposition; /* Content-Disposition, or NULL */
	/* Jupyter's own answer: its headers ("Name: value\r\n" lines) instead of ours. */
	bool proxied;
	char *raw_headers;
} cl_web_response;
void cl_web_response_clear(cl_web_response *r);

/* Headers every page carries: a strict CSP, no sniffing, no framing, no caching. */
extern const cl_web_header cl_web_headers[];
extern const size_t cl_web_header_count;

int cl_web_new(cl_web **out, cl_ctx *ctx);
void cl_web_free(cl_web *w);
/*
 * Answers one request (the caller holds whatever lock guards ctx). Always fills out;
 * errors become pages (4xx/5xx), never secrets: a token is never echoed.
 */
void cl_web_handle(cl_web *w, const cl_web_request *rq, cl_web_response *out);

/*
 * Open Jupyter, on its own origin (another port: a notebook's pages run scripts the
 * student wrote, so they must not share an origin with the pages that hold CSRF
 * tokens). Every request there is the session's own student's: it goes, path and
 * query as they are, to 127.0.0.1:8888 on their VM over their pinned SSH connection
 * (HTTP here; WebSocket below), with Jupyter's token added; the answer comes back
 * with Jupyter's headers. No session, or an instructor's session (a student's page
 * would run with it), gets 403; a VM that does not answer gets 502.
 */
#define CL_WEB_JUPYTER_PORT 8888
/* The Jupyter origin's port on the page's host, for the student page's link (0: none). */
void cl_web_set_jupyter_port(cl_web *w, int port);
void cl_web_handle_jupyter(cl_web *w, const cl_web_request *rq, cl_web_response *out);

/*
 * WebSocket on the Jupyter origin (a kernel's channels, a terminal). A GET with
 * "Upgrade: websocket" goes to cl_web_jupyter_upgrade (under the caller's lock): the
 * same checks as the HTTP proxy (a student's session only; else 403), its Origin, if
 * any, must be this origin (403), at most CL_WEB_WS_PER_STUDENT live at once per
 * student (429). It opens a new SSH session to the VM (a relay's thread is that
 * session's only user; the kept one stays the HTTP proxy's), sends the handshake to
 * 127.0.0.1:8888 there with Jupyter's token, and fills out with Jupyter's answer:
 * on 101 (its Sec-WebSocket-* headers; the caller adds Upgrade/Connection) *ws is set
 * and the caller answers with an upgrade, then runs cl_web_ws_relay on a thread of its
 * own, without the lock, then cl_web_ws_free. Any other status: *ws stays NULL.
 */
#define CL_WEB_WS_PER_STUDENT 8
#define CL_WEB_WS_IDLE_MS (10 * 60 * 1000) /* no byte either way: closed */
typedef struct cl_web_ws cl_web_ws;
void cl_web_jupyter_upgrade(cl_web *w, const cl_web_request *rq, cl_web_response *out,
			    cl_web_ws **ws);
/* Copies bytes both ways between the client's socket fd (first from_client, read
 * before the upgrade) and Jupyter until either side closes, the idle limit, or
 * cl_web_ws_stop. The socket is the caller's to close. */
int cl_web_ws_relay(cl_web_ws *ws, int fd, const void *from_client, size_t len);
void cl_web_ws_free(cl_web_ws *ws); /* any thread; accepts NULL */
/* Ends every relay (within 100 ms) and refuses new ones; waits up to wait_ms (< 0:
 * for ever) for their cl_web_ws_free. cl_web_free waits for ever. */
void cl_web_ws_stop(cl_web *w, int wait_ms);
/* The idle limit of relays started later (tests; default CL_WEB_WS_IDLE_MS). */
void cl_web_set_ws_idle_ms(cl_web *w, int ms);

#endif
