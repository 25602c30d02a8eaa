/*
 * The roster parser against fixtures: tests/data/roster/<case>/input.csv and
 * expected.txt, which holds either the parsed rows ("LINE|name|email|quota|key",
 * empty for none, quota in hours or "default") or the error lines followed by
 * "error: <message>". CL_BLESS=1 rewrites expected.txt from what the parser does.
 */
#include "classlab/cl_labs.h"
#include "tap.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dump(const char *data, size_t len)
{
	cl_buf errors = CL_BUF_INIT, out = CL_BUF_INIT;
	cl_roster_row *rows = NULL;
	size_t n = 0;
	int rc = cl_roster_parse(data, len, &rows, &n, &errors);

	if (rc) {
		cl_buf_puts(&out, cl_buf_str(&errors));
		cl_buf_printf(&out, "error: %s\n", cl_error_msg());
		CHECK(rows == NULL && n == 0);
	}
	for (size_t i = 0; i < n; i++) {
		char *q = rows[i].quota_seconds == CL_QUOTA_DEFAULT
				  ? cl_strdup("default")
				  : cl_format_hours(rows[i].quota_seconds);
		cl_buf_printf(&out, "%d|%s|%s|%s|%s\n", rows[i].line, rows[i].name,
			      rows[i].email ? rows[i].email : "", q,
			      rows[i].ssh_public_key ? rows[i].ssh_public_key : "");
		free(q);
	}
	cl_roster_free(rows, n);
	cl_buf_free(&errors);
	return cl_buf_detach(&out);
}

static void run_case(const char *dir, const char *name, int bless)
{
	char *in_path = cl_aprintf("%s/%s/input.csv", dir, name);
	char *exp_path = cl_aprintf("%s/%s/expected.txt", dir, name);
	cl_buf in = CL_BUF_INIT, exp = CL_BUF_INIT;
	char *copy, *got;

	if (cl_read_file(in_path, CL_ROSTER_MAX_BYTES, &in) != 0) {
		tap_check(0, __FILE__, __LINE__, in_path, cl_error_msg());
		goto out;
	}
	/* An exact-size copy: ASan catches any read past the end of the data. */
	copy = cl_malloc(in.len ? in.len : 1);
	memcpy(copy, cl_buf_str(&in), in.len);
	got = dump(copy, in.len);
	free(copy);
	if (bless) {
		cl_write_file(exp_path, got, strlen(got), 0644);
	} else if (cl_read_file(exp_path, 1 << 20, &exp) != 0) {
		tap_check(0, __FILE__, __LINE__, exp_path, cl_error_msg());
	} else if (strcmp(got, cl_buf_str(&exp)) != 0) {
		char *what = cl_aprintf("roster case '%s'", name);
		tap_check_str(got, cl_buf_str(&exp), __FILE__, __LINE__, what);
		free(what);
	} else {
		tap_check(1, __FILE__, __LINE__, name, NULL);
	}
	free(got);
out:
	cl_buf_free(&in);
	cl_buf_free(&exp);
	free(in_path);
	free(exp_path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_fixtures(void)
{
	const char *dir = CL_TEST_DATA "/roster";
	const char *bless = getenv("CL_BLESS");
	char **names = NULL;
	size_t n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;

	CHECK(d != NULL);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names = cl_realloc(names, (n + 1) * sizeof(*names));
		names[n++] = cl_strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	CHECK(n >= 20);
	for (size_t i = 0; i < n; i++) {
		run_case(dir, names[i], bless && *bless == '1');
		free(names[i]);
	}
	free(names);
}

/* Cases easier to build than to store: sizes and limits. */
static void test_limits(void)
{
	cl_buf csv = CL_BUF_INIT, errors = CL_BUF_INIT;
	cl_roster_row *rows = NULL;
	size_t n = 0;

	/* Exactly the row limit parses; one more is refused. */
	cl_buf_puts(&csv, "name\n");
	for (int i = 0; i < CL_ROSTER_MAX_ROWS; i++)
		cl_buf_printf(&csv, "s%d\n", i);
	CHECK_INT(cl_roster_parse(csv.data, csv.len, &rows, &n, &errors), 0);
	CHECK_INT(n, CL_ROSTER_MAX_ROWS);
	CHECK_INT(rows[n - 1].line, CL_ROSTER_MAX_ROWS + 1);
	cl_roster_free(rows, n);
	cl_buf_puts(&csv, "one-more\n");
	CHECK_INT(cl_roster_parse(csv.data, csv.len, &rows, &n, &errors), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "more than") != NULL);
	CHECK(rows == NULL && n == 0);

	/* Over the byte limit: refused before parsing. */
	CHECK_INT(cl_roster_parse(csv.data, (size_t)CL_ROSTER_MAX_BYTES + 1, &rows, &n, &errors),
		  CL_EINVAL);

	/* A lead byte of a multi-byte sequence as the very last byte. */
	const char tail[] = {'n', 'a', 'm', 'e', '\n', 'a', 'b', (char)0xf0};
	char *exact = cl_malloc(sizeof(tail));
	memcpy(exact, tail, sizeof(tail));
	cl_buf_reset(&errors);
	CHECK_INT(cl_roster_parse(exact, sizeof(tail), &rows, &n, &errors), CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "line 2: not valid UTF-8") != NULL);
	free(exact);

	/* A quote opened on the last byte. */
	const char q[] = {'n', 'a', 'm', 'e', '\n', '"'};
	exact = cl_malloc(sizeof(q));
	memcpy(exact, q, sizeof(q));
	cl_buf_reset(&errors);
	CHECK_INT(cl_roster_parse(exact, sizeof(q), &rows, &n, &errors), CL_EINVAL);
	CHECK_STR(cl_buf_str(&errors), "line 2: unterminated quoted field\n");
	free(exact);

	cl_buf_free(&csv);
	cl_buf_free(&errors);
}

static void test_email(void)
{
	CHECK_INT(cl_email_check("alice@example.org"), 0);
	CHECK_INT(cl_email_check("a.b+tag@sub.example.org"), 0);
	CHECK_INT(cl_email_check("=cmd|' /C calc'!A0"), CL_EINVAL);
	CHECK_INT(cl_email_check("=a@example.org"), CL_EINVAL);
	CHECK_INT(cl_email_check("+a@example.org"), CL_EINVAL);
	CHECK_INT(cl_email_check("-a@example.org"), CL_EINVAL);
	CHECK_INT(cl_email_check("@example.org"), CL_EINVAL);
	CHECK_INT(cl_email_check("a@"), CL_EINVAL);
	CHECK_INT(cl_email_check("a@b@c"), CL_EINVAL);
	CHECK_INT(cl_email_check("a b@example.org"), CL_EINVAL);
	CHECK_INT(cl_email_check("a@exa\nmple.org"), CL_EINVAL);
	CHECK_INT(cl_email_check("a@ex_ample.org"), CL_EINVAL);
	CHECK_INT(cl_email_check("\"a\"@example.org"), CL_EINVAL);
}

int main(void)
{
	test_fixtures();
	test_limits();
	test_email();
	return tap_done();
}
