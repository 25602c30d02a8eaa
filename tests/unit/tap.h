/* A tiny test harness: checks count and report, main returns the failure count. */
#ifndef CL_TAP_H
#define CL_TAP_H

#include <stdint.h>
#include <string.h>

extern int tap_failed, tap_passed;
void tap_check(int ok, const char *file, int line, const char *expr, const char *detail);
void tap_check_str(const char *got, const char *want, const char *file, int line, const char *expr);
void tap_check_int(long long got, long long want, const char *file, int line, const char *expr);
int tap_done(void);

#define CHECK(cond) tap_check(!!(cond), __FILE__, __LINE__, #cond, NULL)
#define CHECK_STR(got, want) tap_check_str((got), (want), __FILE__, __LINE__, #got)
#define CHECK_INT(got, want) tap_check_int((long long)(got), (long long)(want), __FILE__, __LINE__, #got)

#endif
