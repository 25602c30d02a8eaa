/* The web module's internals: the handle, page helpers shared by web.c and pages.c. */
#ifndef CL_WEB_IMPL_H
#define CL_WEB_IMPL_H

#include "classlab/cl_web.h"
#include "classlab/cl_students.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#define GUESS_SLOTS 256

typedef struct guess_slot {
	char client[64];
	int64_t start;
	int fails;
} guess_slot;

struct cl_web {
	cl_ctx *ctx;
	guess_slot guesses[GUESS_SLOTS];
	int64_t global_start;
	int global_fails;
};

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
