/* The one output formatter: aligned tables for people, JSON for programs. */
#include "cli.h"
#include "classlab/banned.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void print_json(json_t *v, FILE *out)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
					JSON_REAL_PRECISION(15));
	if (s) {
		fputs(s, out);
		fputc('\n', out);
		free(s);
	}
}

char *cli_cell(const json_t *v)
{
	if (!v || json_is_null(v))
		return cl_strdup("-");
	if (json_is_string(v))
		return cl_strdup(json_string_value(v));
	if (json_is_integer(v))
		return cl_aprintf("%lld", (long long)json_integer_value(v));
	if (json_is_true(v))
		return cl_strdup("yes");
	if (json_is_false(v))
		return cl_strdup("no");
	if (json_is_array(v)) {
		cl_buf b = CL_BUF_INIT;
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			char *c = cli_cell(e);
			cl_buf_printf(&b, "%s%s", i ? "," : "", c);
			free(c);
		}
		return cl_buf_detach(&b);
	}
	return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
}

static int hexdigit(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

char *cli_cell_where(const cli_ctx *ctx, const json_t *v)
{
	static const char embed[] = "qemu:///embed?root=";
	const char *uri = json_string_value(v);
	if (!uri)
		return cl_strdup("-");
	if (ctx->data_dir && strncmp(uri, embed, sizeof(embed) - 1) == 0) {
		/* The root as cl_hv_open wrote it: <data>/hv, %-escaped, up to the next parameter. */
		cl_buf root = CL_BUF_INIT;
		for (const char *p = uri + sizeof(embed) - 1; *p && *p != '&'; p++) {
			int hi, lo;
			if (*p == '%' && (hi = hexdigit(p[1])) >= 0 && (lo = hexdigit(p[2])) >= 0) {
				char c = (char)(hi << 4 | lo);
				cl_buf_add(&root, &c, 1);
				p += 2;
			} else {
				cl_buf_add(&root, p, 1);
			}
		}
		char *mine = cl_path_join(ctx->data_dir, "hv");
		bool here = strcmp(cl_buf_str(&root), mine) == 0;
		free(mine);
		cl_buf_free(&root);
		if (here)
			return cl_strdup("this host");
	}
	return cl_strdup(uri);
}

/* Display width of UTF-8 text: code points, which is right for the scripts we print. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void print_rows(const cli_ctx *ctx, json_t *rows, const cli_col *cols, size_t ncols,
		       FILE *out)
{
	size_t nrows = json_array_size(rows);
	size_t *w = cl_calloc(ncols, sizeof(size_t));
	char **cells = cl_calloc(nrows * ncols + 1, sizeof(char *));

	for (size_t c = 0; c < ncols; c++)
		w[c] = width(cols[c].header);
	for (size_t r = 0; r < nrows; r++)
		for (size_t c = 0; c < ncols; c++) {
			json_t *v = json_object_get(json_array_get(rows, r), cols[c].key);
			char *s = cols[c].cell ? cols[c].cell(ctx, v) : cli_cell(v);
			cells[r * ncols + c] = s;
			if (width(s) > w[c])
				w[c] = width(s);
		}
	for (size_t c = 0; c < ncols; c++)
		fprintf(out, "%s%-*s", c ? "  " : "", c + 1 < ncols ? (int)w[c] : 0, cols[c].header);
	fputc('\n', out);
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			const char *s = cells[r * ncols + c];
			int pad = c + 1 < ncols ? (int)(w[c] - width(s)) : 0;
			fprintf(out, "%s%s%*s", c ? "  " : "", s, pad, "");
		}
		fputc('\n', out);
	}
	for (size_t i = 0; i < nrows * ncols; i++)
		free(cells[i]);
	free(cells);
	free(w);
}

static void print_object(json_t *obj, FILE *out)
{
	const char *key;
	json_t *v;
	size_t kw = 0;

	json_object_foreach(obj, key, v) if (width(key) > kw) kw = width(key);
	json_object_foreach(obj, key, v)
	{
		char *s = cli_cell(v);
		fprintf(out, "%-*s  %s\n", (int)kw, key, s);
		free(s);
	}
}

/* The table form: rows (with a TOTAL row when asked), an object, or text. */
static void print_table(cli_ctx *ctx, const cli_result *res, FILE *out, FILE *err)
{
	switch (res->view) {
	case VIEW_NONE:
		break;
	case VIEW_ROWS: {
		json_t *rows = res->rows_key ? json_object_get(res->data, res->rows_key) : res->data;
		if (json_array_size(rows) == 0 && res->empty) {
			cli_note_to(ctx, err, "%s\n", res->empty);
			break;
		}
		rows = json_copy(rows);
		if (res->total_key)
			json_array_append_new(rows, json_pack("{s:s, s:O}", res->cols[0].key, "TOTAL",
							      res->total_key,
							      json_object_get(res->data, res->total_key)));
		print_rows(ctx, rows, res->cols, res->ncols, out);
		json_decref(rows);
		break;
	}
	case VIEW_OBJECT:
		print_object(res->data, out);
		break;
	case VIEW_TEXT: {
		char *t = res->text ? res->text(res->data) : NULL;
		fputs(t ? t : "", out);
		free(t);
		break;
	}
	}
}

void cli_render_to(cli_ctx *ctx, cli_result *res, FILE *out, FILE *err)
{
	if (res->view == VIEW_NONE)
		;
	else if (ctx->output == OUT_JSON)
		print_json(res->data, out);
	else
		print_table(ctx, res, out, err);
	cli_result_clear(res);
}

void cli_render(cli_ctx *ctx, cli_result *res)
{
	cli_render_to(ctx, res, stdout, stderr);
}

void cli_render_event_to(cli_ctx *ctx, cli_result *ev, FILE *out, FILE *err)
{
	if (ctx->output == OUT_JSON) {
		char *s = json_dumps(ev->data, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
		if (s)
			fprintf(out, "%s\n", s);
		free(s);
	} else {
		print_table(ctx, ev, out, err);
	}
	fflush(out);
	cli_result_clear(ev);
}

void cli_render_event(cli_ctx *ctx, cli_result *ev)
{
	cli_render_event_to(ctx, ev, stdout, stderr);
}

void cli_result_clear(cli_result *res)
{
	json_decref(res->data);
	memset(res, 0, sizeof(*res));
}

static void vnote(cli_ctx *ctx, FILE *err, bool always, const char *fmt, va_list ap)
{
	if (always || ctx->verbosity >= 0)
		vfprintf(err, fmt, ap);
}

void cli_note_to(cli_ctx *ctx, FILE *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnote(ctx, err, false, fmt, ap);
	va_end(ap);
}

void cli_note(cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnote(ctx, stderr, false, fmt, ap);
	va_end(ap);
}

void cli_warn(cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnote(ctx, stderr, true, fmt, ap);
	va_end(ap);
}

json_t *cli_hours_json(int64_t seconds)
{
	if (seconds % 3600 == 0)
		return json_integer(seconds / 3600);
	char *h = cl_format_hours(seconds);
	json_t *v = json_string(h);
	free(h);
	return v;
}

/*
 * Steps of a long job become one redrawn bar on a terminal, lines elsewhere.
 * Warnings (something the user must know, such as a VM's new port) show even
 * with --quiet.
 */
void cli_progress(void *p, cl_notice severity, const char *msg, size_t done, size_t total)
{
	cli_ctx *ctx = p;
	enum { WIDTH = 30 };

	if (severity == CL_NOTICE_WARNING) {
		cli_warn(ctx, "classlab: warning: %s\n", msg);
		return;
	}
	if (severity == CL_NOTICE_DETAIL) {
		if (ctx->verbosity > 0)
			cli_note(ctx, "%s\n", msg);
		return;
	}
	if (total == 0 || !isatty(STDERR_FILENO)) {
		if (total)
			cli_note(ctx, "%s (%zu/%zu)\n", msg, done, total);
		else
			cli_note(ctx, "%s\n", msg);
		return;
	}
	size_t fill = done * WIDTH / total;
	char bar[WIDTH + 1];
	memset(bar, '#', fill);
	memset(bar + fill, '.', WIDTH - fill);
	bar[WIDTH] = '\0';
	cli_note(ctx, "\r\033[K[%s] %zu/%zu %s%s", bar, done, total, msg, done == total ? "\n" : "");
}
