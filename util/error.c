/* The per-thread error object: a code and one message, set where a failure happens. */
#include "classlab/cl_util.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <string.h>

/* Messages are bounded on purpose: a cut-off message beats an allocation on the error path. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static _Thread_local int err_code;
static _Thread_local char err_msg[2048];

int cl_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	va_end(ap);
	err_code = code;
	return code;
}

int cl_error_wrap(const char *fmt, ...)
{
	char prefix[1024];
	char old[sizeof(err_msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(old, sizeof(old), "%s", err_msg);
	snprintf(err_msg, sizeof(err_msg), "%s: %s", prefix, old[0] ? old : "unknown error");
	if (err_code == 0)
		err_code = CL_EFAIL;
	return err_code;
}

const char *cl_error_msg(void)
{
	return err_msg[0] ? err_msg : "unknown error";
}

int cl_error_code(void)
{
	return err_code ? err_code : CL_EFAIL;
}

void cl_error_clear(void)
{
	err_code = 0;
	err_msg[0] = '\0';
}
