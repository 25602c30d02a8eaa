/* The usage chart: cumulative actual vs estimated cost over the term, and quota use (cairo). */
#include "classlab/cl_meter.h"
#include "classlab/banned.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <stdlib.h>
#include <string.h>

#define W 900
#define H 640
#define SAMPLES 300
/* Plot areas: cost over time on top, quota bars below. */
#define LX 80
#define RX (W - 30)
#define TOP_Y0 50
#define TOP_Y1 330
#define BOT_Y0 400
#define BOT_Y1 580

int cl_chart_format_of(const char *path, cl_chart_format *out)
{
	size_t len = path ? strlen(path) : 0;

	if (len > 4 && strcmp(path + len - 4, ".svg") == 0)
		*out = CL_CHART_SVG;
	else if (len > 4 && strcmp(path + len - 4, ".png") == 0)
		*out = CL_CHART_PNG;
	else
		return cl_error_set(CL_EINVAL, "chart '%s': the name must end in .svg or .png",
				    path ? path : "");
	return 0;
}

static cairo_status_t to_buf(void *closure, const unsigned char *data, unsigned int len)
{
	cl_buf_add((cl_buf *)closure, data, len);
	return CAIRO_STATUS_SUCCESS;
}

/* Seconds of the spans (sorted or not) before x, from t0. */
static double seconds_before(int64_t (*s)[2], size_t n, int64_t t0, int64_t x)
{
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t a = s[i][0] > t0 ? s[i][0] : t0, b = s[i][1] < x ? s[i][1] : x;
		if (b > a)
			sum += (double)(b - a);
	}
	return sum;
}

/* Dollars per lab-second of a lab: lab units x price (micro-dollars) per hour. */
static double dollars_per_second(const cl_usage_lab *l)
{
	return (double)l->lab_units * (double)l->price_micro / 1e6 / 3600.0;
}

static void term(const cl_usage *r, int64_t *t0, int64_t *t1)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	for (size_t i = 0; i < r->nlabs; i++) {
		const cl_usage_lab *l = &r->labs[i];
		for (size_t k = 0; k < l->nwindows; k++) {
			lo = l->windows[k][0] < lo ? l->windows[k][0] : lo;
			hi = l->windows[k][1] > hi ? l->windows[k][1] : hi;
		}
		for (size_t k = 0; k < l->nruns; k++) {
			lo = l->runs[k][0] < lo ? l->runs[k][0] : lo;
			hi = l->runs[k][1] > hi ? l->runs[k][1] : hi;
		}
	}
	if (r->from > 0 && (lo == INT64_MAX || r->from > lo))
		lo = r->from;
	if (lo == INT64_MAX)
		lo = r->to - 7 * 24 * 3600;
	if (hi <= lo)
		hi = lo + 3600;
	*t0 = lo;
	*t1 = hi;
}

/* Cumulative estimate at x: class part through the windows, quota part evenly. */
static double estimate_at(const cl_usage *r, int64_t t0, int64_t t1, int64_t x)
{
	double sum = 0;
	for (size_t i = 0; i < r->nlabs; i++) {
		const cl_usage_lab *l = &r->labs[i];
		const cl_estimate *e = &l->estimate.est;
		if (l->estimate.unavailable)
			continue;
		double per_s = (double)e->in.lab_units * (double)e->in.price_micro / 1e6 / 3600.0;
		double sched = (double)e->in.students * (double)e->in.scheduled_seconds * per_s;
		double quota = (double)e->in.quota_seconds_sum * per_s;
		double span = (double)(t1 - t0), done = (double)(x - t0) / span;
		double wall = seconds_before(l->windows, l->nwindows, INT64_MIN, INT64_MAX);
		double wdone = wall > 0 ? seconds_before(l->windows, l->nwindows, t0, x) / wall : done;
		sum += sched * wdone + quota * done;
	}
	return sum;
}

static double actual_at(const cl_usage *r, int64_t t0, int64_t x)
{
	double sum = 0;
	for (size_t i = 0; i < r->nlabs; i++)
		sum += seconds_before(r->labs[i].runs, r->labs[i].nruns, t0, x) *
		       dollars_per_second(&r->labs[i]);
	return sum;
}

static void text_at(cairo_t *cr, double x, double y, const char *s)
{
	cairo_move_to(cr, x, y);
	cairo_show_text(cr, s);
}

static void day_label(cairo_t *cr, double x, double y, int64_t t)
{
	char *s = cl_format_time(t);
	if (s && strlen(s) > 10)
		s[10] = '\0';
	text_at(cr, x, y, s ? s : "");
	free(s);
}

static void draw_cost(cairo_t *cr, const cl_usage *r)
{
	int64_t t0, t1;
	double ys[2][SAMPLES + 1], top = 0.01;

	term(r, &t0, &t1);
	for (int i = 0; i <= SAMPLES; i++) {
		int64_t x = t0 + (int64_t)((double)(t1 - t0) * i / SAMPLES);
		int64_t xa = x < r->to ? x : r->to;
		ys[0][i] = actual_at(r, t0, xa);
		ys[1][i] = estimate_at(r, t0, t1, x);
		top = ys[0][i] > top ? ys[0][i] : top;
		top = ys[1][i] > top ? ys[1][i] : top;
	}
	cairo_set_source_rgb(cr, 0, 0, 0);
	cairo_set_font_size(cr, 16);
	text_at(cr, LX, 30, "Cumulative cost over the term: actual vs estimate");
	cairo_set_font_size(cr, 11);
	cairo_set_line_width(cr, 1);
	cairo_rectangle(cr, LX, TOP_Y0, RX - LX, TOP_Y1 - TOP_Y0);
	cairo_stroke(cr);
	for (int k = 0; k <= 4; k++) {
		double y = TOP_Y1 - (TOP_Y1 - TOP_Y0) * k / 4.0;
		char *lbl = cl_aprintf("$%.2f", top * k / 4.0);
		text_at(cr, 8, y + 4, lbl);
		free(lbl);
	}
	day_label(cr, LX, TOP_Y1 + 16, t0);
	day_label(cr, RX - 70, TOP_Y1 + 16, t1);
	static const double colour[2][3] = {{0.80, 0.15, 0.10}, {0.15, 0.35, 0.80}};
	static const char *const name[2] = {"actual", "estimate"};
	for (int s = 0; s < 2; s++) {
		cairo_set_source_rgb(cr, colour[s][0], colour[s][1], colour[s][2]);
		cairo_set_line_width(cr, 2);
		for (int i = 0; i <= SAMPLES; i++) {
			double x = LX + (double)(RX - LX) * i / SAMPLES;
			double y = TOP_Y1 - (TOP_Y1 - TOP_Y0) * ys[s][i] / top;
			if (i == 0)
				cairo_move_to(cr, x, y);
			else
				cairo_line_to(cr, x, y);
		}
		cairo_stroke(cr);
		cairo_rectangle(cr, LX + 10 + s * 110, TOP_Y0 + 10, 14, 10);
		cairo_fill(cr);
		cairo_set_source_rgb(cr, 0, 0, 0);
		text_at(cr, LX + 30 + s * 110, TOP_Y0 + 20, name[s]);
	}
}

static void draw_quota(cairo_t *cr, const cl_usage *r)
{
	size_t n = r->nstudents;
	double slot = n ? (double)(RX - LX) / (double)n : 0, top = 100;

	for (size_t i = 0; i < n; i++)
		if ((double)r->students[i].quota_percent > top)
			top = (double)r->students[i].quota_percent;
	cairo_set_source_rgb(cr, 0, 0, 0);
	cairo_set_font_size(cr, 16);
	text_at(cr, LX, BOT_Y0 - 20, "Quota used per student (%)");
	cairo_set_font_size(cr, 11);
	cairo_set_line_width(cr, 1);
	cairo_rectangle(cr, LX, BOT_Y0, RX - LX, BOT_Y1 - BOT_Y0);
	cairo_stroke(cr);
	for (int pct = 90; pct <= 100; pct += 10) {
		double y = BOT_Y1 - (BOT_Y1 - BOT_Y0) * pct / top;
		char *lbl = cl_aprintf("%d%%", pct);
		cairo_set_source_rgb(cr, pct == 100 ? 0.8 : 0.9, pct == 100 ? 0.1 : 0.6, 0.1);
		cairo_move_to(cr, LX, y);
		cairo_line_to(cr, RX, y);
		cairo_stroke(cr);
		text_at(cr, 30, y + 4, lbl);
		free(lbl);
	}
	for (size_t i = 0; i < n; i++) {
		const cl_usage_student *s = &r->students[i];
		double h = (BOT_Y1 - BOT_Y0) * (double)s->quota_percent / top;
		if (s->exempt)
			cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
		else if (s->quota_percent >= 100)
			cairo_set_source_rgb(cr, 0.80, 0.15, 0.10);
		else
			cairo_set_source_rgb(cr, 0.20, 0.60, 0.30);
		cairo_rectangle(cr, LX + slot * (double)i + slot * 0.15, BOT_Y1 - h, slot * 0.7, h);
		cairo_fill(cr);
		if (n <= 40) {
			cairo_set_source_rgb(cr, 0, 0, 0);
			cairo_save(cr);
			cairo_move_to(cr, LX + slot * (double)i + slot * 0.5, BOT_Y1 + 8);
			cairo_rotate(cr, 0.6);
			cairo_show_text(cr, s->student);
			cairo_restore(cr);
		}
	}
	if (n == 0) {
		cairo_set_source_rgb(cr, 0, 0, 0);
		text_at(cr, LX + 10, BOT_Y0 + 20, "no students");
	}
}

int cl_usage_chart(cl_ctx *ctx, const cl_usage *r, cl_chart_format fmt, cl_buf *out)
{
	cairo_surface_t *surface = NULL;
	cairo_t *cr = NULL;
	cairo_status_t status;
	int rc = 0;

	(void)ctx;
	if (fmt == CL_CHART_SVG)
		surface = cairo_svg_surface_create_for_stream(to_buf, out, W, H);
	else
		surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, W, H);
	cr = cairo_create(surface);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
	draw_cost(cr, r);
	draw_quota(cr, r);
	status = cairo_status(cr);
	cairo_destroy(cr);
	cairo_surface_flush(surface);
	if (status == CAIRO_STATUS_SUCCESS && fmt == CL_CHART_PNG)
		status = cairo_surface_write_to_png_stream(surface, to_buf, out);
	cairo_surface_finish(surface); /* the SVG is written out here */
	if (status == CAIRO_STATUS_SUCCESS)
		status = cairo_surface_status(surface);
	cairo_surface_destroy(surface);
	if (status != CAIRO_STATUS_SUCCESS)
		rc = cl_error_set(CL_EFAIL, "cannot draw the chart: %s",
				  cairo_status_to_string(status));
	return rc;
}
