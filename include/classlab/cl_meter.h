/*
 * Metering for the service (issue 10): how long each student VM ran, split into class
 * time and the student's own time, quotas, and the usage report (actual cost next to
 * cost/'s estimate) with its chart. No hypervisor: the service tells it what runs.
 *
 * Recording. The service reports what it sees; every call reads the time from the
 * handle's clock (cl_ctx_now), writes in one transaction and is safe to repeat. Only
 * student VMs are metered: a name no student VM has is skipped, not an error.
 *
 *   started(vm)       a start event. Opens an interval unless one is open (then it is a
 *                     heartbeat). It never starts before the VM's last interval ended.
 *   seen(vms)         the heartbeat, every CL_METER_HEARTBEAT_S, with every running VM:
 *                     moves last_seen to now; a VM without an open interval (started by
 *                     hand, outside the service) is metered from now.
 *   stopped(vm)       a stop event: closes the open interval at now ("event").
 *   reconcile(vms)    at service start with the VMs the hypervisor runs now. An open
 *                     interval seen within one heartbeat whose VM still runs continues.
 *                     Any other open interval (a service killed) is closed at its
 *                     last_seen ("reconcile"), uncertain by min(now - last_seen,
 *                     heartbeat) seconds, and a new one opens at now if the VM runs.
 *                     A running VM without an interval is metered from now.
 *   service_stop()    the service stops cleanly: every open interval closes at now.
 *
 * Clock rules (the handle's clock may be stepped, e.g. by NTP):
 *   - Time never runs backwards for an interval: an event at now < last_seen acts at
 *     last_seen; an interval opens no earlier than the VM's last one ended. No negative
 *     and no overlapping time can be recorded.
 *   - A forward gap: when now - last_seen > 2 heartbeats at a heartbeat or a stop (a
 *     clock step, or a service that stalled), the time between is not known to be run
 *     time: the interval closes at last_seen + 1 heartbeat ("clock", uncertain by one
 *     heartbeat) and, at a heartbeat, a new one opens at now. No hours are invented.
 *
 * Accounting. An interval counts from start to end (an open one to its last_seen).
 * Class time is the part inside a class window of the lab's schedule (each weekly
 * repeat of each event, from lead_minutes before its start to its end; overlapping
 * windows count once); the rest is the student's own time, charged to their quota
 * (the student's own, else the lab's). Lab-unit-seconds = seconds x the size's lab
 * units; money is rounded half up to cents once per row, as cost/ does.
 */
#ifndef CL_METER_H
#define CL_METER_H

#include "classlab/cl_cost.h"
#include "classlab/cl_ctx.h"
#include "classlab/cl_store.h"
#include "classlab/cl_util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The service's heartbeat: the most a killed service's last interval can be off by. */
#define CL_METER_HEARTBEAT_S 30

/* --- recording (times from cl_ctx_now) --- */
int cl_meter_started(cl_ctx *ctx, const char *vm);
int cl_meter_seen(cl_ctx *ctx, const char *const *vms, size_t n);
int cl_meter_stopped(cl_ctx *ctx, const char *vm);
/*
 * The same for an event that happened at t (the handle's clock) and is recorded later,
 * e.g. one that waited for the service's lock; the clock rules apply to t.
 */
int cl_meter_started_at(cl_ctx *ctx, const char *vm, int64_t t);
int cl_meter_stopped_at(cl_ctx *ctx, const char *vm, int64_t t);
int cl_meter_reconcile(cl_ctx *ctx, const char *const *running, size_t n);
int cl_meter_service_stop(cl_ctx *ctx);

/* --- lab settings for the service and quota flags --- */
/* The lab's settings (defaults until set). CL_ENOTFOUND for an unknown lab. */
int cl_meter_lab_settings(cl_ctx *ctx, const char *lab, cl_lab_service *out);
/* Validates (CL_EINVAL naming the value) and saves them. */
int cl_meter_lab_settings_set(cl_ctx *ctx, const char *lab, const cl_lab_service *s);
/*
 * The idle rule in words, for lab show and the service's log line: "stopped after 20
 * minutes with no SSH connection to its forward and no Jupyter activity" (or "never
 * stopped for being idle"). New string.
 */
char *cl_meter_idle_rule(const cl_lab_service *s);
/* Exempts a student from quota stops (or ends it). CL_ENOTFOUND for an unknown one. */
int cl_meter_quota_exempt(cl_ctx *ctx, const char *lab, const char *student, bool exempt);
/* Records that the 90 % warning went at this quota (sent once per quota value). */
int cl_meter_quota_warned(cl_ctx *ctx, const char *lab, const char *student,
			  int64_t quota_seconds);

/* --- quotas for the service --- */
typedef enum cl_quota_level { CL_QUOTA_WARN = 1, CL_QUOTA_STOP = 2 } cl_quota_level;
typedef struct cl_quota_alert {
	char *student;
	cl_quota_level level; /* WARN at >= 90 % of the quota, STOP at >= 100 % */
	int64_t used_seconds;  /* own time up to t */
	int64_t quota_seconds;
	bool warned; /* the 90 % warning already went at this quota */
} cl_quota_alert;
void cl_quota_alert_list_free(cl_quota_alert *a, size_t n);
/*
 * The lab's students at or past 90 % of their quota at t, exempt students left out.
 * A quota of 0 stops a student as soon as they have any own time.
 */
int cl_meter_quota_check(cl_ctx *ctx, const char *lab, int64_t t, cl_quota_alert **out,
			 size_t *n);

/* --- the usage report --- */
typedef struct cl_usage_student {
	char *lab;
	char *student;
	bool removed; /* metered, but no longer on the roster */
	int64_t class_seconds, own_seconds; /* within [from, to) */
	int64_t quota_seconds;		    /* own or the lab's */
	int64_t quota_used_seconds;	    /* own time of the whole term up to `to` */
	int64_t quota_left_seconds;	    /* never negative */
	int64_t quota_percent;		    /* used x 100 / quota, rounded down; 0 quota: 0 or 100 */
	bool exempt;
	int64_t lab_unit_seconds;
	int64_t cents;
	int64_t uncertain_seconds;
	bool running; /* an interval is open (counted to its last_seen) */
} cl_usage_student;

typedef struct cl_usage_lab {
	char *lab;
	int64_t lab_units, price_micro;
	int64_t class_seconds, own_seconds;
	int64_t lab_unit_seconds;
	int64_t actual_cents;
	cl_lab_estimate estimate; /* the whole term's, as `cost report` gives it */
	int64_t uncertain_seconds;
	size_t uncertain_intervals;
	/* For the chart: merged class windows and the lab's intervals (clipped to the report). */
	int64_t (*windows)[2];
	size_t nwindows;
	int64_t (*runs)[2];
	size_t nruns;
} cl_usage_lab;

typedef struct cl_usage {
	int64_t from, to;
	cl_usage_lab *labs; /* in name order */
	size_t nlabs;
	cl_usage_student *students; /* by lab, then roster order, removed students last */
	size_t nstudents;
	int64_t actual_cents;
	int64_t estimate_cents; /* -1 when a lab's estimate is unavailable */
	int64_t uncertain_seconds;
	size_t uncertain_intervals;
} cl_usage;
void cl_usage_clear(cl_usage *r);
/*
 * Usage of one lab (NULL: every lab) within [from, to). CL_EINVAL when to <= from,
 * CL_ENOTFOUND for an unknown lab.
 */
int cl_usage_report(cl_ctx *ctx, const char *lab, int64_t from, int64_t to, cl_usage *out);

/* --- the chart (cairo) --- */
typedef enum cl_chart_format { CL_CHART_SVG, CL_CHART_PNG } cl_chart_format;
/* The format a file name asks for by its extension (.svg, .png); CL_EINVAL otherwise. */
int cl_chart_format_of(const char *path, cl_chart_format *out);
/*
 * Draws cumulative actual vs estimated cost over the term and each student's quota use
 * into out (the file's bytes). The estimate accrues its class part through the class
 * windows and its quota part evenly over the term.
 */
int cl_usage_chart(cl_ctx *ctx, const cl_usage *r, cl_chart_format fmt, cl_buf *out);

#endif
