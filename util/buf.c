/* Allocation helpers and cl_buf, the growable string every piecewise string is built in. */
#include "classlab/cl_util.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(void)
{
	fputs("classlab: out of memory\n", stderr);
	abort();
}

void *cl_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *cl_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *cl_realloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *cl_strdup(const char *s)
{
	return cl_strndup(s, strlen(s));
}

char *cl_strndup(const char *s, size_t n)
{
	char *p = cl_malloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *cl_aprintf(const char *fmt, ...)
{
	cl_buf b = CL_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	cl_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return cl_buf_detach(&b);
}

void cl_buf_grow(cl_buf *b, size_t extra)
{
	size_t need;

	if (__builtin_add_overflow(b->len, extra, &need) || __builtin_add_overflow(need, 1, &need))
		oom();
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			oom();
		cap *= 2;
	}
	b->data = cl_realloc(b->data, cap);
	b->cap = cap;
}

void cl_buf_add(cl_buf *b, const void *data, size_t len)
{
	cl_buf_grow(b, len);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void cl_buf_puts(cl_buf *b, const char *s)
{
	cl_buf_add(b, s, strlen(s));
}

void cl_buf_putc(cl_buf *b, char c)
{
	cl_buf_add(b, &c, 1);
}

void cl_buf_vprintf(cl_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	cl_buf_grow(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void cl_buf_printf(cl_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cl_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void cl_buf_reset(cl_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *cl_buf_detach(cl_buf *b)
{
	char *s = b->data ? b->data : cl_strdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

const char *cl_buf_str(const cl_buf *b)
{
	return b->data ? b->data : "";
}

void cl_buf_free(cl_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void cl_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
