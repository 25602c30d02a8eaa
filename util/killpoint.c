/* Named kill points for the crash-safety tests (compiled in only with CLASSLAB_TEST_HOOKS). */
#include "classlab/cl_util.h"
#include "classlab/banned.h"

#ifdef CLASSLAB_TEST_HOOKS
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *want;

void cl_killpoint_arm(const char *spec)
{
	want = spec;
}

void cl_killpoint(const char *step)
{
	static int hits;
	size_t n = strlen(step);

	if (!want || strncmp(want, step, n) != 0 || (want[n] != '\0' && want[n] != ':'))
		return;
	if (want[n] == ':' && ++hits != atoi(want + n + 1))
		return;
	raise(SIGKILL);
}
#else
void cl_killpoint_arm(const char *spec)
{
	(void)spec;
}

void cl_killpoint(const char *step)
{
	(void)step;
}
#endif
