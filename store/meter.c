/* Metering's rows: run intervals, the service's lab settings, quota exemption and warnings. */
#include "store_impl.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

/* ---- run intervals ---- */

void cl_run_interval_clear(cl_run_interval *r)
{
	if (!r)
		return;
	free(r->vm_name);
	free(r->student);
	memset(r, 0, sizeof(*r));
}

void cl_run_interval_list_free(cl_run_interval *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		cl_run_interval_clear(&r[i]);
	free(r);
}

#define RUN_COLS "id, lab_id, vm_name, student, start_ts, end_ts, last_seen, closed_by, uncertain_s"

static void run_row(sqlite3_stmt *stmt, void *p)
{
	cl_run_interval *r = p;
	r->id = sqlite3_column_int64(stmt, 0);
	r->lab_id = sqlite3_column_int64(stmt, 1);
	r->vm_name = st_col_text(stmt, 2);
	r->student = st_col_text(stmt, 3);
	r->start = sqlite3_column_int64(stmt, 4);
	r->end = sqlite3_column_type(stmt, 5) == SQLITE_NULL ? -1 : sqlite3_column_int64(stmt, 5);
	r->last_seen = sqlite3_column_int64(stmt, 6);
	r->closed_by = st_col_run_closed(stmt, 7);
	r->uncertain_seconds = sqlite3_column_int64(stmt, 8);
}

int cl_store_run_open(cl_store *st, const char *vm, int64_t start, int64_t *id)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "INSERT INTO run_intervals (lab_id, vm_name, student, start_ts, last_seen) "
			    "SELECT v.lab_id, v.name, s.name, ?2, ?2 FROM vms v "
			    "JOIN students s ON s.id = v.student_id "
			    "WHERE v.name = ?1 AND v.kind = 'student'");
	if (rc)
		return rc;
	st_bind_text(stmt, 1, vm);
	sqlite3_bind_int64(stmt, 2, start);
	rc = st_exec_stmt(st, stmt, "cannot record a VM's start");
	if (rc == CL_EEXIST)
		rc = cl_error_set(CL_EEXIST, "VM '%s' is already metered as running", vm);
	else if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = cl_error_set(CL_ENOTFOUND, "no student VM named '%s'", vm);
	else if (rc == 0 && id)
		*id = sqlite3_last_insert_rowid(st->db);
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_run_open_get(cl_store *st, const char *vm, cl_run_interval *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "SELECT " RUN_COLS " FROM run_intervals WHERE vm_name = ? AND end_ts IS NULL");
	if (rc)
		return rc;
	st_bind_text(stmt, 1, vm);
	return st_one(st, stmt, run_row, out, sizeof(*out), "cannot read run intervals");
}

int cl_store_run_open_list(cl_store *st, cl_run_interval **out, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "SELECT " RUN_COLS " FROM run_intervals WHERE end_ts IS NULL ORDER BY vm_name");
	if (rc == 0)
		rc = st_list(st, stmt, sizeof(cl_run_interval), run_row,
			     (void (*)(void *))cl_run_interval_clear, (void **)out, n,
			     "cannot list run intervals");
	sqlite3_finalize(stmt);
	return rc;
}

static void int_row(sqlite3_stmt *stmt, void *p)
{
	*(int64_t *)p = sqlite3_column_int64(stmt, 0);
}

int cl_store_run_last_end(cl_store *st, const char *vm, int64_t *end)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "SELECT coalesce(max(end_ts), 0) FROM run_intervals WHERE vm_name = ?");
	if (rc)
		return rc;
	st_bind_text(stmt, 1, vm);
	return st_one(st, stmt, int_row, end, sizeof(*end), "cannot read run intervals");
}

/* Runs an UPDATE of one interval; CL_ENOTFOUND when it is not there (or not open). */
static int run_change(cl_store *st, sqlite3_stmt *stmt, int64_t id, const char *what)
{
	int rc = st_exec_stmt(st, stmt, what);
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = cl_error_set(CL_ENOTFOUND, "%s: no open interval %lld", what, (long long)id);
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_run_seen(cl_store *st, int64_t id, int64_t t)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "UPDATE run_intervals SET last_seen = max(last_seen, ?2) "
			    "WHERE id = ?1 AND end_ts IS NULL");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, t);
	return run_change(st, stmt, id, "cannot record a heartbeat");
}

int cl_store_run_close(cl_store *st, int64_t id, int64_t end, cl_run_closed how,
		       int64_t uncertain_seconds)
{
	sqlite3_stmt *stmt = NULL;
	const char *word = cl_run_closed_name(how);
	int rc;

	if (how == CL_RUN_OPEN || !word || uncertain_seconds < 0)
		return cl_error_set(CL_EINVAL, "cannot close interval %lld as '%s'", (long long)id,
				    word ? word : "?");
	if ((rc = st_prepare(st, &stmt,
			     "UPDATE run_intervals SET end_ts = ?2, closed_by = ?3, uncertain_s = ?4, "
			     "last_seen = max(last_seen, ?2) WHERE id = ?1 AND end_ts IS NULL")))
		return rc;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, end);
	st_bind_text(stmt, 3, word);
	sqlite3_bind_int64(stmt, 4, uncertain_seconds);
	rc = run_change(st, stmt, id, "cannot close a run interval");
	/* The schema's CHECK (end before start) is the caller's mistake, not a clash. */
	if (rc == CL_EEXIST)
		rc = cl_error_set(CL_EINVAL, "%s", cl_error_msg());
	return rc;
}

int cl_store_run_list(cl_store *st, int64_t lab_id, int64_t from, int64_t to,
		      cl_run_interval **out, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "SELECT " RUN_COLS " FROM run_intervals "
			    "WHERE (?1 = 0 OR lab_id = ?1) AND start_ts < ?3 "
			    "AND coalesce(end_ts, last_seen) >= ?2 "
			    "ORDER BY lab_id, student, start_ts, id");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, lab_id);
	sqlite3_bind_int64(stmt, 2, from);
	sqlite3_bind_int64(stmt, 3, to);
	rc = st_list(st, stmt, sizeof(cl_run_interval), run_row,
		     (void (*)(void *))cl_run_interval_clear, (void **)out, n,
		     "cannot list run intervals");
	sqlite3_finalize(stmt);
	return rc;
}

/* ---- the service's lab settings ---- */

static void service_row(sqlite3_stmt *stmt, void *p)
{
	cl_lab_service *s = p;
	s->idle_minutes = sqlite3_column_int64(stmt, 0);
	s->stop_mode = st_col_stop_mode(stmt, 1);
	s->lead_minutes = sqlite3_column_int64(stmt, 2);
	s->stop_grace_seconds = sqlite3_column_int64(stmt, 3);
}

int cl_store_lab_service_get(cl_store *st, int64_t lab_id, cl_lab_service *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "SELECT idle_minutes, stop_mode, lead_minutes, stop_grace_seconds "
			    "FROM labs WHERE id = ?");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, lab_id);
	rc = st_one(st, stmt, service_row, out, sizeof(*out), "cannot read lab settings");
	if (rc == CL_ENOTFOUND)
		rc = cl_error_set(CL_ENOTFOUND, "lab %lld not found", (long long)lab_id);
	else if (rc == 0 && out->stop_mode == CL_STOP_MODE_COUNT)
		rc = cl_error_set(CL_EFAIL, "lab %lld has an unknown stop mode", (long long)lab_id);
	return rc;
}

int cl_store_lab_service_set(cl_store *st, int64_t lab_id, const cl_lab_service *s)
{
	sqlite3_stmt *stmt = NULL;
	const char *mode = cl_stop_mode_name(s->stop_mode);
	int rc;

	if (!mode || s->idle_minutes < 0 || s->idle_minutes > CL_IDLE_MINUTES_MAX ||
	    s->lead_minutes < 0 || s->lead_minutes > CL_LEAD_MINUTES_MAX ||
	    s->stop_grace_seconds < 0 || s->stop_grace_seconds > CL_STOP_GRACE_MAX)
		return cl_error_set(CL_EINVAL, "lab settings out of range");
	if ((rc = st_prepare(st, &stmt,
			     "UPDATE labs SET idle_minutes = ?2, stop_mode = ?3, lead_minutes = ?4, "
			     "stop_grace_seconds = ?5 WHERE id = ?1")))
		return rc;
	sqlite3_bind_int64(stmt, 1, lab_id);
	sqlite3_bind_int64(stmt, 2, s->idle_minutes);
	st_bind_text(stmt, 3, mode);
	sqlite3_bind_int64(stmt, 4, s->lead_minutes);
	sqlite3_bind_int64(stmt, 5, s->stop_grace_seconds);
	rc = st_exec_stmt(st, stmt, "cannot save lab settings");
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = cl_error_set(CL_ENOTFOUND, "lab %lld not found", (long long)lab_id);
	sqlite3_finalize(stmt);
	return rc;
}

/* ---- quotas as metering sees them ---- */

void cl_quota_status_list_free(cl_quota_status *q, size_t n)
{
	for (size_t i = 0; q && i < n; i++)
		free(q[i].student);
	free(q);
}

static void quota_row(sqlite3_stmt *stmt, void *p)
{
	cl_quota_status *q = p;
	q->student = st_col_text(stmt, 0);
	q->quota_seconds = sqlite3_column_int64(stmt, 1);
	q->own_quota = sqlite3_column_int(stmt, 2) != 0;
	q->exempt = sqlite3_column_int(stmt, 3) != 0;
	q->warned_seconds =
		sqlite3_column_type(stmt, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(stmt, 4);
}

static void quota_clear(void *p)
{
	free(((cl_quota_status *)p)->student);
}

int cl_store_quota_status_list(cl_store *st, int64_t lab_id, cl_quota_status **out, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "SELECT s.name, coalesce(s.quota_seconds, l.quota_seconds), "
			    "s.quota_seconds IS NOT NULL, s.quota_exempt, s.quota_warned_seconds "
			    "FROM students s JOIN labs l ON l.id = s.lab_id WHERE s.lab_id = ? "
			    "ORDER BY s.id");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, lab_id);
	rc = st_list(st, stmt, sizeof(cl_quota_status), quota_row, quota_clear, (void **)out, n,
		     "cannot list quotas");
	sqlite3_finalize(stmt);
	return rc;
}

static int student_update(cl_store *st, sqlite3_stmt *stmt, const char *name, const char *what)
{
	int rc = st_exec_stmt(st, stmt, what);
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = cl_error_set(CL_ENOTFOUND, "student '%s' not found", name);
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_student_set_exempt(cl_store *st, int64_t lab_id, const char *name, bool exempt)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "UPDATE students SET quota_exempt = ? WHERE lab_id = ? AND name = ?");
	if (rc)
		return rc;
	sqlite3_bind_int(stmt, 1, exempt ? 1 : 0);
	sqlite3_bind_int64(stmt, 2, lab_id);
	st_bind_text(stmt, 3, name);
	return student_update(st, stmt, name, "cannot set quota exemption");
}

int cl_store_student_set_warned(cl_store *st, int64_t lab_id, const char *name,
				int64_t quota_seconds)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "UPDATE students SET quota_warned_seconds = ? WHERE lab_id = ? AND name = ?");
	if (rc)
		return rc;
	st_bind_int_or_null(stmt, 1, quota_seconds, -1);
	sqlite3_bind_int64(stmt, 2, lab_id);
	st_bind_text(stmt, 3, name);
	return student_update(st, stmt, name, "cannot record a quota warning");
}
