/* Implementation of the tiny test harness in tap.h. */
#include "tap.h"

#include <stdio.h>

int tap_failed, tap_passed;

void tap_check(int ok, const char *file, int line, const char *expr, const char *detail)
{
	if (ok) {
		tap_passed++;
		return;
	}
	tap_failed++;
	fprintf(stderr, "FAIL %s:%d: %s%s%s\n", file, line, expr, detail ? ": " : "",
		detail ? detail : "");
}

void tap_check_str(const char *got, const char *want, const char *file, int line, const char *expr)
{
	char detail[4096];
	int ok = got && want && strcmp(got, want) == 0;
	snprintf(detail, sizeof(detail), "got \"%s\", want \"%s\"", got ? got : "(null)",
		 want ? want : "(null)");
	tap_check(ok, file, line, expr, ok ? NULL : detail);
}

void tap_check_int(long long got, long long want, const char *file, int line, const char *expr)
{
	char detail[128];
	snprintf(detail, sizeof(detail), "got %lld, want %lld", got, want);
	tap_check(got == want, file, line, expr, got == want ? NULL : detail);
}

int tap_done(void)
{
	printf("%d passed, %d failed\n", tap_passed, tap_failed);
	return tap_failed ? 1 : 0;
}
