/* Unit tests for util/: buffers, errors and the strict parsers. */
#include "classlab/cl_util.h"
#include "tap.h"

#include <stdlib.h>

static void test_buf(void)
{
	cl_buf b = CL_BUF_INIT;
	CHECK_STR(cl_buf_str(&b), "");
	for (int i = 0; i < 1000; i++)
		cl_buf_printf(&b, "%d,", i);
	CHECK(b.len > 3000);
	CHECK(strncmp(b.data, "0,1,2,", 6) == 0);
	char *s = cl_buf_detach(&b);
	CHECK(b.data == NULL && b.len == 0);
	free(s);
}

static void test_errors(void)
{
	CHECK_INT(cl_error_set(CL_ENOTFOUND, "lab '%s' not found", "x"), CL_ENOTFOUND);
	CHECK_STR(cl_error_msg(), "lab 'x' not found");
	CHECK_INT(cl_error_wrap("cannot show lab"), CL_ENOTFOUND);
	CHECK_STR(cl_error_msg(), "cannot show lab: lab 'x' not found");
}

static void test_names(void)
{
	CHECK(cl_name_valid("ml-lab"));
	CHECK(cl_name_valid("a1"));
	CHECK(cl_name_valid("0123456789abcdef0123456789abcdef"));
	CHECK(!cl_name_valid("0123456789abcdef0123456789abcdef0"));
	CHECK(!cl_name_valid("a"));
	CHECK(!cl_name_valid("-ab"));
	CHECK(!cl_name_valid("Alice"));
	CHECK(!cl_name_valid("a b"));
	CHECK(!cl_name_valid("a;rm"));
	CHECK(!cl_name_valid("../x"));
	CHECK(!cl_name_valid("al\xc3\xaf" "ce"));
	CHECK(!cl_name_valid(""));
	CHECK_INT(cl_name_check("lab name", "<x>"), CL_EINVAL);
}

static void test_numbers(void)
{
	uint64_t v;
	int64_t s;
	char *f;

	CHECK_INT(cl_parse_u64("students", "25", 100000, &v), 0);
	CHECK_INT(v, 25);
	CHECK_INT(cl_parse_u64("students", "-1", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_u64("students", "1e3", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_u64("students", "", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_u64("students", " 1", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_u64("students", "100001", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_u64("students", "99999999999999999999999", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_u64("students", "1.5", 100000, &v), CL_EINVAL);
	CHECK_INT(cl_parse_hours("hours", "1.5", &s), 0);
	CHECK_INT(s, 5400);
	CHECK_INT(cl_parse_hours("hours", "87600", &s), 0);
	CHECK_INT(cl_parse_hours("hours", "87600.01", &s), CL_EINVAL);
	CHECK_INT(cl_parse_hours("hours", "1.234", &s), CL_EINVAL);
	CHECK_INT(cl_parse_hours("hours", ".", &s), CL_EINVAL);
	CHECK_INT(cl_parse_hours("hours", "nan", &s), CL_EINVAL);
	f = cl_format_hours(5400);
	CHECK_STR(f, "1.5");
	free(f);
	CHECK_INT(cl_parse_price("price", "0.01", &s), 0);
	CHECK_INT(s, 10000);
	CHECK_INT(cl_parse_price("price", "$0.000001", &s), 0);
	CHECK_INT(s, 1);
	CHECK_INT(cl_parse_price("price", "0.0000001", &s), CL_EINVAL);
	CHECK_INT(cl_parse_price("price", "1000.01", &s), CL_EINVAL);
	f = cl_format_price(10000);
	CHECK_STR(f, "$0.01");
	free(f);
	f = cl_format_price(12345);
	CHECK_STR(f, "$0.012345");
	free(f);
	f = cl_format_cents(104250);
	CHECK_STR(f, "$1042.50");
	free(f);
	f = cl_format_cents(5);
	CHECK_STR(f, "$0.05");
	free(f);
}

static void test_times(void)
{
	int64_t t;
	char *f;

	CHECK_INT(cl_parse_time("start", "2026-01-31T09:00", &t), 0);
	f = cl_format_time(t);
	CHECK_STR(f, "2026-01-31T09:00:00Z");
	free(f);
	CHECK_INT(cl_parse_time("start", "2026-01-31T09:00:00+02:00", &t), 0);
	f = cl_format_time(t);
	CHECK_STR(f, "2026-01-31T07:00:00Z");
	free(f);
	CHECK_INT(cl_parse_time("start", "2026-02-31", &t), CL_EINVAL);
	CHECK_INT(cl_parse_time("start", "2026-01-31T25:00", &t), CL_EINVAL);
	CHECK_INT(cl_parse_time("start", "tomorrow", &t), CL_EINVAL);
	CHECK_INT(cl_parse_time("start", "2026-01-31T09:00Zjunk", &t), CL_EINVAL);
	/* An offset must not carry the time outside what the parser reads back. */
	CHECK_INT(cl_parse_time("start", "1970-01-01T00:00+01:00", &t), CL_EINVAL);
	CHECK_INT(cl_parse_time("start", "9999-12-31T23:30-01:00", &t), CL_EINVAL);
	CHECK_INT(cl_parse_time("start", "1970-01-01T01:00+01:00", &t), 0);
	CHECK_INT(t, 0);
}

static void test_text(void)
{
	CHECK_INT(cl_text_check("email", "alice@example.edu", 254), 0);
	CHECK_INT(cl_text_check("email", "J\xc3\xbcrgen", 254), 0);
	CHECK_INT(cl_text_check("email", "a\x01", 254), CL_EINVAL);
	CHECK_INT(cl_text_check("email", "\xff\xfe", 254), CL_EINVAL);
	CHECK_INT(cl_text_check("email", "abc\xe2\x80\xae" "cba", 254), CL_EINVAL);
	CHECK_INT(cl_text_check("email", "\xed\xa0\x80", 254), CL_EINVAL);
}

int main(void)
{
	test_buf();
	test_errors();
	test_names();
	test_numbers();
	test_times();
	test_text();
	return tap_done();
}
