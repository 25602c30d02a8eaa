/* Strict parsers for names, numbers, hours, money and times: exact, integer-only. */
#define _GNU_SOURCE /* timegm */
#include "classlab/cl_util.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Shown instead of the raw value when it would garble a terminal. */
static const char *shown(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "(value with control characters)";
	return strlen(s) > 80 ? "(overlong value)" : s;
}

bool cl_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 2 || n > CL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
		if (!ok)
			return false;
	}
	return true;
}

int cl_name_check(const char *what, const char *s)
{
	if (cl_name_valid(s))
		return 0;
	return cl_error_set(CL_EINVAL,
			    "invalid %s '%s': use 2-32 characters a-z, 0-9 and '-', starting with a "
			    "letter or digit",
			    what, s ? shown(s) : "");
}

int cl_parse_decimal(const char *what, const char *s, unsigned decimals, uint64_t max_scaled,
		     uint64_t *out)
{
	uint64_t v = 0;
	unsigned frac = 0;
	bool dot = false, digits = false;

	if (!s || !*s)
		return cl_error_set(CL_EINVAL, "invalid %s '': expected a number", what);
	for (const char *p = s; *p; p++) {
		if (*p == '.' && !dot && decimals > 0) {
			dot = true;
			continue;
		}
		if (*p < '0' || *p > '9')
			return cl_error_set(CL_EINVAL, "invalid %s '%s': expected a non-negative %s",
					    what, shown(s),
					    decimals ? "decimal number" : "whole number");
		if (dot && ++frac > decimals)
			return cl_error_set(CL_EINVAL, "invalid %s '%s': at most %u decimal places",
					    what, shown(s), decimals);
		digits = true;
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
			goto too_big;
	}
	if (!digits)
		return cl_error_set(CL_EINVAL, "invalid %s '%s': expected a number", what, shown(s));
	for (; frac < decimals; frac++)
		if (__builtin_mul_overflow(v, 10, &v))
			goto too_big;
	if (v > max_scaled)
		goto too_big;
	*out = v;
	return 0;
too_big : {
	char *max = cl_format_decimal(max_scaled, decimals, 0);
	cl_error_set(CL_EINVAL, "invalid %s '%s': must be at most %s", what, shown(s), max);
	free(max);
	return CL_EINVAL;
}
}

int cl_parse_u64(const char *what, const char *s, uint64_t max, uint64_t *out)
{
	return cl_parse_decimal(what, s, 0, max, out);
}

char *cl_format_decimal(uint64_t value, unsigned decimals, unsigned min_decimals)
{
	uint64_t scale = 1;
	char frac[32];

	for (unsigned i = 0; i < decimals; i++)
		scale *= 10;
	snprintf(frac, sizeof(frac), "%0*llu", (int)decimals, (unsigned long long)(value % scale));
	size_t n = decimals;
	while (n > min_decimals && frac[n - 1] == '0')
		n--;
	frac[n] = '\0';
	if (n == 0)
		return cl_aprintf("%llu", (unsigned long long)(value / scale));
	return cl_aprintf("%llu.%s", (unsigned long long)(value / scale), frac);
}

int cl_parse_hours(const char *what, const char *s, int64_t *seconds)
{
	uint64_t centi;
	int rc = cl_parse_decimal(what, s, 2, (uint64_t)CL_HOURS_MAX * 100, &centi);
	if (rc)
		return rc;
	*seconds = (int64_t)(centi * 36); /* 0.01 h = 36 s */
	return 0;
}

char *cl_format_hours(int64_t seconds)
{
	/* Hours with up to 2 decimals; schedule sums not on a 36 s grid show 4. */
	if (seconds % 36 == 0)
		return cl_format_decimal((uint64_t)(seconds / 36), 2, 0);
	return cl_format_decimal((uint64_t)seconds * 10000 / 3600, 4, 0);
}

int cl_parse_price(const char *what, const char *s, int64_t *micro)
{
	uint64_t v;
	int rc = cl_parse_decimal(what, s && s[0] == '$' ? s + 1 : s, 6, CL_PRICE_MAX_MICRO, &v);
	if (rc && s && s[0] == '$') /* name the value as given, '$' included */
		return cl_error_set(CL_EINVAL,
				    "invalid %s '%s': expected a price like 0.01 or $0.01 (at most "
				    "6 decimal places, at most $1000)",
				    what, shown(s));
	if (rc)
		return rc;
	*micro = (int64_t)v;
	return 0;
}

char *cl_format_price(int64_t micro)
{
	char *d = cl_format_decimal((uint64_t)micro, 6, 2);
	char *r = cl_aprintf("$%s", d);
	free(d);
	return r;
}

char *cl_format_cents(int64_t cents)
{
	char *d = cl_format_decimal((uint64_t)cents, 2, 2);
	char *r = cl_aprintf("$%s", d);
	free(d);
	return r;
}

static bool take_num(const char **p, int digits, int *out)
{
	int v = 0;
	for (int i = 0; i < digits; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += digits;
	*out = v;
	return true;
}

int cl_parse_time(const char *what, const char *s, int64_t *out)
{
	struct tm tm = {0};
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;

	if (!s || !take_num(&p, 4, &y) || *p++ != '-' || !take_num(&p, 2, &mo) || *p++ != '-' ||
	    !take_num(&p, 2, &d))
		goto bad;
	if (*p == 'T' || *p == ' ') {
		p++;
		if (!take_num(&p, 2, &h) || *p++ != ':' || !take_num(&p, 2, &mi))
			goto bad;
		if (*p == ':') {
			p++;
			if (!take_num(&p, 2, &sec))
				goto bad;
		}
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om;
			if (!take_num(&p, 2, &oh) || *p++ != ':' || !take_num(&p, 2, &om) ||
			    oh > 23 || om > 59)
				goto bad;
			off = sign * (oh * 3600 + om * 60);
		}
	}
	if (*p || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 59)
		goto bad;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	if (tm.tm_mday != d) /* 31 February normalised into March */
		goto bad;
	/* An offset must not carry the time out of the range this parser reads back. */
	if ((int64_t)t - off < 0 || (int64_t)t - off > 253402300799) /* 9999-12-31T23:59:59Z */
		goto bad;
	*out = (int64_t)t - off;
	return 0;
bad:
	return cl_error_set(CL_EINVAL,
			    "invalid %s '%s': expected ISO 8601 like 2026-01-31T09:00 or "
			    "2026-01-31T09:00:00+02:00",
			    what, s ? shown(s) : "");
}

char *cl_format_time(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char out[32];

	gmtime_r(&tt, &tm);
	strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return cl_strdup(out);
}

/* Length of the UTF-8 sequence at p, or 0 if it is not well-formed. */
static size_t utf8_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	size_t n = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (n == 0 || (n == 2 && p[0] < 0xc2))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if (n == 3 && p[0] == 0xe0 && p[1] < 0xa0)
		return 0;
	if (n == 3 && p[0] == 0xed && p[1] >= 0xa0) /* surrogates */
		return 0;
	if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || p[0] > 0xf4 || (p[0] == 0xf4 && p[1] >= 0x90)))
		return 0;
	return n;
}

int cl_text_check(const char *what, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);

	if (len > max)
		return cl_error_set(CL_EINVAL, "invalid %s: longer than %zu bytes", what, max);
	while (*p) {
		size_t n = utf8_len(p);
		if (n == 0)
			return cl_error_set(CL_EINVAL, "invalid %s: not valid UTF-8", what);
		if (*p < 0x20 || *p == 0x7f)
			return cl_error_set(CL_EINVAL, "invalid %s: contains control characters",
					    what);
		/* U+202A..U+202E and U+2066..U+2069: bidi overrides that disguise text. */
		if (n == 3 && p[0] == 0xe2 &&
		    ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
		     (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)))
			return cl_error_set(CL_EINVAL,
					    "invalid %s: contains bidirectional override characters",
					    what);
		p += n;
	}
	return 0;
}

int cl_text_check_multiline(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	int line = 1;

	while (p < end) {
		/* utf8_len reads the whole sequence: check that it is inside the buffer first. */
		size_t need = p[0] < 0xc0 ? 1 : p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
		size_t n = need <= (size_t)(end - p) ? utf8_len(p) : 0;
		if (n == 0)
			return cl_error_set(CL_EINVAL, "line %d: not valid UTF-8", line);
		if (*p == '\n')
			line++;
		p += n;
	}
	return 0;
}

/*
 * Accounts a stock cloud image already has (Debian/Ubuntu base-passwd and common
 * packages), or whose name is a group it has: cloud-init cannot create such a user
 * (or would take over a system account), and the tiny guest refuses them. Names
 * starting with '_' or "systemd-" are the distributions' own system namespaces.
 */
/* clang-format off */
static const char *const reserved_users[] = {
	"root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
	"proxy", "www-data", "backup", "list", "irc", "gnats", "src", "nobody", "nogroup",
	"sshd", "syslog", "messagebus", "uuidd", "tcpdump", "tss", "adm", "sudo", "wheel",
	"admin", "users", "staff", "disk", "kmem", "tty", "shadow", "utmp", "operator",
	"dialout", "fax", "voice", "cdrom", "floppy", "tape", "audio", "dip", "video", "sasl",
	"plugdev", "netdev", "input", "kvm", "render", "sgx", "rdma", "crontab", "ssh",
	"ssl-cert", "lpadmin", "sambashare", "dhcpcd", "docker", "libvirt", "libvirt-qemu",
	"libvirt-dnsmasq", "lxd", "polkitd", "dnsmasq", "landscape", "pollinate", "usbmux",
	"rtkit", "avahi", "colord", "geoclue", "pulse", "saned", "lightdm", "gdm", "fwupd-refresh",
	"halt", "shutdown",
};
/* clang-format on */

int cl_username_check(const char *what, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	bool ok = n >= 1 && n <= CL_NAME_MAX && s[0] >= 'a' && s[0] <= 'z';

	for (size_t i = 1; ok && i < n; i++)
		ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		     s[i] == '-';
	if (!ok)
		return cl_error_set(
		    CL_EINVAL,
		    "invalid %s '%s': a login name is 1-32 characters a-z, 0-9, '_' "
		    "and '-', starting with a letter",
		    what, s ? shown(s) : "");
	bool reserved = strncmp(s, "systemd-", 8) == 0;
	for (size_t i = 0; !reserved && i < sizeof(reserved_users) / sizeof(reserved_users[0]); i++)
		reserved = strcmp(s, reserved_users[i]) == 0;
	if (reserved)
			return cl_error_set(
			    CL_EINVAL,
			    "invalid %s '%s': a system account or group of the guest "
			    "has that name; choose another (e.g. 'student')",
			    what, s);
	return 0;
}
