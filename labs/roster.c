/* The roster CSV reader (RFC 4180) and its row validation. */
#include "classlab/cl_labs.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

enum col { COL_NAME, COL_EMAIL, COL_QUOTA, COL_KEY, COL_COUNT };
static const char *const col_names[COL_COUNT] = {"name", "email", "quota_hours", "ssh_public_key"};

/* Far more than the 4 columns a roster has; a row past it stops the parse. */
#define CSV_MAX_FIELDS 64

typedef struct csv_record {
	int line;
	char **fields;
	size_t n;
} csv_record;

static void record_clear(csv_record *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->fields[i]);
	free(r->fields);
	memset(r, 0, sizeof(*r));
}

/*
 * Reads one record starting at *pos. Returns 1 with a record, 0 at the end,
 * CL_EINVAL with a message for malformed quoting.
 */
static int csv_next(const char *d, size_t len, size_t *pos, int *line, csv_record *r)
{
	cl_buf field = CL_BUF_INIT;
	size_t i = *pos;
	bool quoted = false, was_quoted = false;

	memset(r, 0, sizeof(*r));
	if (i >= len)
		return 0;
	r->line = *line;
	for (;;) {
		char c = i < len ? d[i] : '\n';
		bool at_end = i >= len;
		if (quoted) {
			if (at_end) {
				int start = r->line; /* record_clear zeroes it */
				cl_buf_free(&field);
				record_clear(r);
				return cl_error_set(CL_EINVAL, "line %d: unterminated quoted field",
						    start);
			}
			if (c == '"' && i + 1 < len && d[i + 1] == '"') {
				cl_buf_putc(&field, '"');
				i += 2;
				continue;
			}
			if (c == '"') {
				quoted = false;
				i++;
				continue;
			}
			if (c == '\n')
				(*line)++;
			cl_buf_putc(&field, c);
			i++;
			continue;
		}
		if (c == '"' && field.len == 0 && !was_quoted) {
			quoted = was_quoted = true;
			i++;
			continue;
		}
		if (c == '"' || (was_quoted && c != ',' && c != '\r' && c != '\n')) {
			cl_buf_free(&field);
			record_clear(r);
			return cl_error_set(CL_EINVAL, "line %d: stray quote in a field (quote the "
					    "whole field and double inner quotes)", *line);
		}
		if (c == ',' || c == '\n' || (c == '\r' && (i + 1 >= len || d[i + 1] == '\n'))) {
			if (r->n == CSV_MAX_FIELDS) { /* a line of commas must not eat memory */
				int start = r->line;
				cl_buf_free(&field);
				record_clear(r);
				return cl_error_set(CL_EINVAL, "line %d: more than %d fields", start,
						    CSV_MAX_FIELDS);
			}
			r->fields = cl_realloc(r->fields, (r->n + 1) * sizeof(char *));
			r->fields[r->n++] = cl_buf_detach(&field);
			was_quoted = false;
			if (c == ',') {
				i++;
				continue;
			}
			i += c == '\r' ? 2 : 1;
			if (!at_end)
				(*line)++;
			break;
		}
		cl_buf_putc(&field, c);
		i++;
	}
	*pos = i > len ? len : i;
	return 1;
}

static bool blank_record(const csv_record *r)
{
	return r->n == 1 && r->fields[0][0] == '\0';
}

void cl_roster_free(cl_roster_row *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++) {
		free(rows[i].name);
		free(rows[i].email);
		free(rows[i].ssh_public_key);
	}
	free(rows);
}

/* Validates one record into a row; on failure appends "line N: why" to errors. */
static bool row_from_record(const csv_record *r, const int map[COL_COUNT], size_t ncols,
			    cl_roster_row *row, cl_buf *errors)
{
	const char *v[COL_COUNT] = {NULL, NULL, NULL, NULL};
	int rc = 0;

	memset(row, 0, sizeof(*row));
	row->line = r->line;
	row->quota_seconds = CL_QUOTA_DEFAULT;
	if (r->n != ncols) {
		cl_buf_printf(errors, "line %d: expected %zu fields, found %zu\n", r->line, ncols,
			      r->n);
		return false;
	}
	for (int c = 0; c < COL_COUNT; c++)
		if (map[c] >= 0)
			v[c] = r->fields[map[c]];
	rc = cl_name_check("student name", v[COL_NAME]);
	if (rc == 0 && v[COL_EMAIL] && *v[COL_EMAIL])
		rc = cl_email_check(v[COL_EMAIL]);
	if (rc == 0 && v[COL_QUOTA] && *v[COL_QUOTA])
		rc = cl_parse_hours("quota_hours", v[COL_QUOTA], &row->quota_seconds);
	if (rc == 0 && v[COL_KEY] && *v[COL_KEY])
		rc = cl_student_key_check(v[COL_KEY]);
	if (rc) {
		cl_buf_printf(errors, "line %d: %s\n", r->line, cl_error_msg());
		return false;
	}
	row->name = cl_strdup(v[COL_NAME]);
	row->email = v[COL_EMAIL] && *v[COL_EMAIL] ? cl_strdup(v[COL_EMAIL]) : NULL;
	row->ssh_public_key = v[COL_KEY] && *v[COL_KEY] ? cl_strdup(v[COL_KEY]) : NULL;
	return true;
}

static int parse_header(const csv_record *r, int map[COL_COUNT], cl_buf *errors)
{
	for (int c = 0; c < COL_COUNT; c++)
		map[c] = -1;
	for (size_t i = 0; i < r->n; i++) {
		int found = -1;
		for (int c = 0; c < COL_COUNT; c++)
			if (strcmp(r->fields[i], col_names[c]) == 0)
				found = c;
		if (found < 0 || map[found] >= 0) {
			cl_buf_printf(errors,
				      "line %d: header must be name,email[,quota_hours[,ssh_public_"
				      "key]]: column %zu is %s\n",
				      r->line, i + 1,
				      found < 0 ? "not one of those" : "a repeated name");
			return CL_EINVAL;
		}
		map[found] = (int)i;
	}
	if (map[COL_NAME] < 0) {
		cl_buf_printf(errors, "line %d: header has no 'name' column\n", r->line);
		return CL_EINVAL;
	}
	return 0;
}

int cl_roster_parse(const char *data, size_t len, cl_roster_row **rows, size_t *n,
		    cl_buf *errors)
{
	cl_roster_row *out = NULL;
	size_t nout = 0, cap = 0, pos = 0, ncols = 0;
	int line = 1, map[COL_COUNT], rc = 0, bad = 0;
	csv_record r;

	*rows = NULL;
	*n = 0;
	if (len > CL_ROSTER_MAX_BYTES)
		return cl_error_set(CL_EINVAL, "roster is larger than %u bytes", CL_ROSTER_MAX_BYTES);
	if (memchr(data, '\0', len))
		return cl_error_set(CL_EINVAL, "roster contains NUL bytes: not a text CSV file");
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	if (cl_text_check_multiline(data + pos, len - pos) != 0)
		return cl_error_wrap("roster");
	rc = csv_next(data, len, &pos, &line, &r);
	if (rc <= 0) {
		if (rc == 0)
			rc = cl_error_set(CL_EINVAL, "roster is empty: expected a header line");
		return rc;
	}
	rc = parse_header(&r, map, errors);
	ncols = r.n;
	record_clear(&r);
	if (rc)
		return cl_error_set(CL_EINVAL, "roster has errors");
	while ((rc = csv_next(data, len, &pos, &line, &r)) == 1) {
		if (blank_record(&r)) {
			record_clear(&r);
			continue;
		}
		if (nout >= CL_ROSTER_MAX_ROWS) {
			record_clear(&r);
			cl_roster_free(out, nout);
			return cl_error_set(CL_EINVAL, "roster has more than %d students",
					    CL_ROSTER_MAX_ROWS);
		}
		if (nout == cap) { /* doubling: one realloc per row is quadratic on big rosters */
			cap = cap ? cap * 2 : 64;
			out = cl_realloc(out, cap * sizeof(*out));
		}
		if (row_from_record(&r, map, ncols, &out[nout], errors))
			nout++;
		else
			bad++;
		record_clear(&r);
	}
	if (rc < 0) {
		cl_buf_printf(errors, "%s\n", cl_error_msg());
		bad++;
	}
	if (bad) {
		cl_roster_free(out, nout);
		return cl_error_set(CL_EINVAL, "roster has %d bad row%s; nothing was imported", bad,
				    bad == 1 ? "" : "s");
	}
	*rows = out;
	*n = nout;
	return 0;
}
