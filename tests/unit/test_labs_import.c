/* cl_students_import: duplicates in the file and in the lab, reported by line; all or nothing. */
#include "classlab/cl_labs.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int count(cl_store *st, int64_t lab_id)
{
	cl_student *s = NULL;
	size_t n = 0;
	cl_store_student_list(st, lab_id, &s, &n);
	cl_student_list_free(s, n);
	return (int)n;
}

static int import(cl_ctx *ctx, const char *csv, cl_buf *errors)
{
	cl_roster_row *rows = NULL;
	size_t n = 0;
	int rc = cl_roster_parse(csv, strlen(csv), &rows, &n, errors);
	if (rc == 0)
		rc = cl_students_import(ctx, "ml", rows, n, errors);
	cl_roster_free(rows, n);
	return rc;
}

int main(void)
{
	char dir[] = "/tmp/cl-test-import.XXXXXX";
	cl_ctx *ctx = NULL;
	cl_store *st = NULL;
	cl_buf errors = CL_BUF_INIT;
	cl_lab lab = {.name = "ml", .size = "small", .price_micro = 10000};

	if (!mkdtemp(dir))
		return 1;
	char *path = cl_aprintf("%s/db", dir);
	cl_ctx_opts opts = {.db_path = path};
	CHECK_INT(cl_ctx_new(&ctx, &opts), 0);
	if (!ctx)
		return 1;
	st = cl_ctx_store(ctx);
	CHECK_INT(cl_labs_create(ctx, &lab), 0);

	/* Three copies of one name and two of another: each later copy names the first. */
	CHECK_INT(import(ctx, "name\nbob\nalice\nbob\ncarl\nalice\nbob\n", &errors), CL_EEXIST);
	CHECK_STR(cl_buf_str(&errors), "line 4: student 'bob' is also on line 2\n"
				       "line 6: student 'alice' is also on line 3\n"
				       "line 7: student 'bob' is also on line 2\n");
	CHECK_INT(count(st, lab.id), 0);

	cl_buf_reset(&errors);
	CHECK_INT(import(ctx, "name,quota_hours\nalice,1\nbob,\n", &errors), 0);
	CHECK_INT(count(st, lab.id), 2);
	/* Against the lab: refused whole, carol not added. */
	CHECK_INT(import(ctx, "name\ncarol\nalice\n", &errors), CL_EEXIST);
	CHECK_STR(cl_buf_str(&errors), "line 3: student 'alice' is already in lab 'ml'\n");
	CHECK_INT(count(st, lab.id), 2);
	/* An unknown lab. */
	cl_roster_row row = {.line = 2, .name = "dave", .quota_seconds = CL_QUOTA_DEFAULT};
	CHECK_INT(cl_students_import(ctx, "nope", &row, 1, &errors), CL_ENOTFOUND);
	/* Zero rows is a successful no-op. */
	CHECK_INT(cl_students_import(ctx, "ml", NULL, 0, &errors), 0);

	cl_buf_free(&errors);
	cl_ctx_free(ctx);
	char *cmd = cl_aprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	free(path);
	return tap_done();
}
