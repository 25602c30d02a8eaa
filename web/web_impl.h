/* The web module's internals: the handle, page helpers shared by web.c and pages.c. */
#ifndef CL_WEB_IMPL_H
#define CL_WEB_IMPL_H

#include "classlab/cl_web.h"
#include "classlab/cl_students.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#define GUESS_SLOTS 256

typedef struct guess_slot {
	char client[64];
	int64_t start;
	int fails;
} guess_slot;

/* A student's SSH connection and Jupyter token, kept between proxied requests. */
#define JUPYTER_SLOTS 32
typedef struct jupyter_slot {
	char *vm;
	struct cl_ssh *ssh;
	char *token; /* "" when the server has none or is not Jupyter */
} jupyter_slot;

struct cl_web {
	cl_ctx *ctx;
	jupyter_slot jupyter[JUPYTER_SLOTS];
	int jupyter_port; /* the Jupyter origin's port; 0: none */
	/* Live WebSocket relays (each on its own thread, with its own SSH session). */
	pthread_mutex_t ws_lock;
	pthread_cond_t ws_cond; /* a relay ended */
	struct cl_web_ws *ws_list;
	volatile int ws_stop; /* set once: relays end, no new ones */
	int ws_idle_ms;
	guess_slot guesses[GUESS_SLOTS];
	int64_t global_start;
	int global_fails;
};

/* The session token in a Cookie header (new string), or NULL. */
char *web_cookie_session(const char *cookie);
/* Drops the kept connection of vm (NULL: all). */
void web_jupyter_forget(cl_web *w, const char *vm);
/* A form field, decoded (new string); NULL when absent. */
char *web_form_get(const char *body, size_t len, const char *key);
/* Text into HTML (element content and quoted attributes). */
void web_html(cl_buf *b, const char *s);
void web_page_begin(cl_buf *b, const char *title, const cl_web_grant *g);
void web_page_end(cl_buf *b);
/* An HTML page with one message. */
void web_status(cl_web_response *r, unsigned status, const char *title, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int web_asset(const char *name, cl_web_response *r);

void web_page_welcome(cl_web_response *r);
void web_page_student(cl_web *w, const cl_web_grant *g, const char *lab, const char *student,
		      const char *notice, cl_web_response *r);
void web_student_power(cl_web *w, const cl_web_grant *g, const char *lab, const char *student,
		       bool start, cl_web_response *r);
void web_student_bundle(cl_web *w, const char *lab, const char *student, cl_web_response *r);
void web_page_admin(cl_web *w, const cl_web_grant *g, const char *notice, cl_web_response *r);
void web_admin_power(cl_web *w, const cl_web_grant *g, const cl_web_request *rq,
		     cl_web_response *r);
void web_admin_chart(cl_web *w, const char *file, cl_web_response *r);

#endif
