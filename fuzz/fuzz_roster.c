/* libFuzzer harness: the roster CSV parser (labs/roster.c), with the real row
 * validation (names, emails, hours, SSH keys through libssh). */
#include <stdio.h>

#include "classlab/cl_labs.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cl_roster_row *rows = NULL;
	cl_buf errors = CL_BUF_INIT;
	size_t n = 0;
	/* An exact-size copy: the parser takes (data, len) and must not read past len. */
	char *copy = malloc(size ? size : 1);

	if (!copy)
		abort();
	if (size)
		memcpy(copy, data, size);
	int rc = cl_roster_parse(copy, size, &rows, &n, &errors);
	if (rc == 0) {
		FZ_CHECK(n == 0 || rows != NULL);
		for (size_t i = 0; i < n; i++) {
			FZ_CHECK(cl_name_valid(rows[i].name));
			FZ_CHECK(rows[i].line >= 2);
			FZ_CHECK(rows[i].quota_seconds == CL_QUOTA_DEFAULT ||
				 rows[i].quota_seconds >= 0);
		}
	} else {
		FZ_CHECK(rows == NULL && n == 0);
		FZ_CHECK(rc < 0);
	}
	cl_roster_free(rows, n);
	cl_buf_free(&errors);
	cl_error_clear();
	free(copy);
	return 0;
}
