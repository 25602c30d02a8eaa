/* libFuzzer harness: the strict number, money, time, name and text parsers of
 * util/validate.c. Input: SELECTOR NUL STRING. SELECTOR's first byte picks the
 * function (byte % 6: '0' decimal, '1' hours, '2' price, '3' time, '4' name,
 * '5' text); its second byte, when present, the decimals (% 10) for '0' and the
 * byte limit for '5'. Accepted values must survive format -> parse unchanged. */
#include <stdio.h>

#include "classlab/cl_util.h"
#include "fuzz_common.h"

static void decimal(const char *s, unsigned decimals)
{
	/* The limits callers use (u64, hours, price) and a tight one to hit the message path. */
	static const uint64_t maxes[] = {UINT64_MAX, (uint64_t)CL_HOURS_MAX * 100,
					 CL_PRICE_MAX_MICRO, 1000};
	for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		uint64_t v = 0, back = 0;
		if (cl_parse_decimal("value", s, decimals, maxes[i], &v) != 0)
			continue;
		FZ_CHECK(v <= maxes[i]);
		char *f = cl_format_decimal(v, decimals, 0);
		FZ_CHECK(cl_parse_decimal("value", f, decimals, maxes[i], &back) == 0);
		FZ_CHECK(back == v);
		free(f);
	}
}

static void hours(const char *s)
{
	int64_t sec = 0, back = 0;
	if (cl_parse_hours("hours", s, &sec) != 0)
		return;
	FZ_CHECK(sec >= 0 && sec <= (int64_t)CL_HOURS_MAX * 3600);
	char *f = cl_format_hours(sec);
	FZ_CHECK(cl_parse_hours("hours", f, &back) == 0 && back == sec);
	free(f);
}

static void price(const char *s)
{
	int64_t micro = 0, back = 0;
	if (cl_parse_price("price", s, &micro) != 0)
		return;
	FZ_CHECK(micro >= 0 && (uint64_t)micro <= CL_PRICE_MAX_MICRO);
	char *f = cl_format_price(micro); /* "$0.01": the parser takes the '$' too */
	FZ_CHECK(cl_parse_price("price", f, &back) == 0 && back == micro);
	free(f);
	char *c = cl_format_cents(micro / 10000);
	free(c);
}

static void time_(const char *s)
{
	int64_t t = 0, back = 0;
	if (cl_parse_time("time", s, &t) != 0)
		return;
	char *f = cl_format_time(t);
	/* What classlab prints for a time it accepted must be accepted again. */
	if (cl_parse_time("time", f, &back) != 0 || back != t) {
		fprintf(stderr, "time '%s' -> %lld -> '%s' does not read back\n", s, (long long)t, f);
		abort();
	}
	free(f);
}

static void name(const char *s)
{
	bool ok = cl_name_valid(s);
	FZ_CHECK(ok == (cl_name_check("name", s) == 0));
	if (ok)
		FZ_CHECK(cl_text_check("name", s, CL_NAME_MAX) == 0);
}

static void text(const char *s, size_t max)
{
	int single = cl_text_check("text", s, max);
	/* Text valid on one line is valid as a multi-line document too. */
	if (single == 0)
		FZ_CHECK(cl_text_check_multiline(s, strlen(s)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *parts[2];

	fz_split(data, size, parts, 2);
	unsigned char sel = (unsigned char)parts[0][0];
	unsigned char arg = sel ? (unsigned char)parts[0][1] : 0;
	const char *s = parts[1];

	switch (sel % 6) {
	case 0: decimal(s, arg % 10); break;
	case 1: hours(s); break;
	case 2: price(s); break;
	case 3: time_(s); break;
	case 4: name(s); break;
	case 5: text(s, arg ? arg : 4096); break;
	}
	/* Every parser also sees the raw bytes (cut at the first NUL) as one string. */
	char *whole = fz_strndup(data, size);
	text(whole, 4096);
	fz_free_parts(parts, 2);
	free(whole);
	cl_error_clear();
	return 0;
}
