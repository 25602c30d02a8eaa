/* Helpers shared by the libFuzzer harnesses: input splitting into exactly-sized,
 * NUL-terminated heap strings, so ASan sees any read past the end of a value. */
#ifndef CL_FUZZ_COMMON_H
#define CL_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A heap copy of len bytes plus a NUL, sized exactly. */
static inline char *fz_strndup(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);
	if (!s)
		abort();
	if (len)
		memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/*
 * Splits data on NUL bytes into at most max parts (the last part keeps any
 * further NULs, so it is cut at the first one when used as a C string).
 * Missing parts are empty strings. Returns the number of parts present.
 */
static inline size_t fz_split(const uint8_t *data, size_t size, char **parts, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i < size && n + 1 < max; i++) {
		if (data[i] == '\0') {
			parts[n++] = fz_strndup(data + start, i - start);
			start = i + 1;
		}
	}
	size_t present = n + (start < size || n > 0 ? 1 : 0);
	parts[n++] = fz_strndup(data + start, size > start ? size - start : 0);
	while (n < max)
		parts[n++] = fz_strndup(NULL, 0);
	return present;
}

static inline void fz_free_parts(char **parts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(parts[i]);
}

/* A property every parser must keep: abort (a libFuzzer crash) when it does not. */
#define FZ_CHECK(cond)                                                                     \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                                 \
			abort();                                                           \
		}                                                                          \
	} while (0)

#endif
