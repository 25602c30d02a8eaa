/* The web page's rows: one-time invitations and sessions, kept only as token hashes. */
#include "store_impl.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

#define STUDENT_ID                                                                                 \
	"(SELECT s.id FROM students s JOIN labs l ON l.id = s.lab_id "                             \
	"WHERE l.name = ?1 AND s.name = ?2)"

void cl_web_grant_clear(cl_web_grant *g)
{
	if (!g)
		return;
	free(g->lab);
	free(g->student);
	free(g->csrf);
	memset(g, 0, sizeof(*g));
}

/* CL_ENOTFOUND naming what is missing, for a student's rows; 0 for an admin's. */
static int student_exists(cl_store *st, const char *lab, const char *student, int64_t *id)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	*id = 0;
	if (!lab && !student)
		return 0;
	if (!lab || !student)
		return cl_error_set(CL_EINVAL, "a student's web access needs both lab and student");
	if ((rc = st_prepare(st, &stmt, "SELECT " STUDENT_ID)))
		return rc;
	st_bind_text(stmt, 1, lab);
	st_bind_text(stmt, 2, student);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
		*id = sqlite3_column_int64(stmt, 0);
		rc = 0;
	} else if (rc == SQLITE_ROW) {
		rc = cl_error_set(CL_ENOTFOUND, "lab '%s' has no student '%s'", lab, student);
	} else {
		rc = st_fail(st, "cannot read students");
	}
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_invite_put(cl_store *st, const char *lab, const char *student,
			const unsigned char hash[32], int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int64_t sid;
	int rc = student_exists(st, lab, student, &sid);

	if (rc)
		return rc;
	/* The last link issued is the one that works: a student's unused ones go. */
	if (sid) {
		if ((rc = st_prepare(st, &stmt,
				     "DELETE FROM web_invites WHERE student_id = ? AND "
				     "used_ts IS NULL")))
			return rc;
		sqlite3_bind_int64(stmt, 1, sid);
		rc = st_exec_stmt(st, stmt, "cannot replace an invitation");
		sqlite3_finalize(stmt);
		if (rc)
			return rc;
	}
	if ((rc = st_prepare(st, &stmt,
			     "INSERT INTO web_invites (token_hash, role, student_id, "
			     "created_ts) VALUES (?, ?, ?, ?)")))
		return rc;
	sqlite3_bind_blob(stmt, 1, hash, 32, SQLITE_TRANSIENT);
	st_bind_text(stmt, 2, sid ? "student" : "admin");
	st_bind_int_or_null(stmt, 3, sid, 0);
	sqlite3_bind_int64(stmt, 4, now);
	rc = st_exec_stmt(st, stmt, "cannot record an invitation");
	sqlite3_finalize(stmt);
	return rc;
}

static void grant_row(sqlite3_stmt *stmt, void *p)
{
	cl_web_grant *g = p;
	g->admin = strcmp((const char *)sqlite3_column_text(stmt, 0), "admin") == 0;
	g->lab = st_col_text(stmt, 1);
	g->student = st_col_text(stmt, 2);
	g->csrf = st_col_text(stmt, 3);
	g->expires = sqlite3_column_int64(stmt, 4);
}

/* One grant by a token's hash (?1) at now (?2): sql returns grant_row's columns. */
static int grant_by_hash(cl_store *st, const char *sql, const unsigned char hash[32], int64_t now,
			 cl_web_grant *out, const char *what)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, sql);
	if (rc)
		return rc;
	sqlite3_bind_blob(stmt, 1, hash, 32, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 2, now);
	return st_one(st, stmt, grant_row, out, sizeof(*out), what);
}

int cl_store_invite_take(cl_store *st, const unsigned char hash[32], int64_t now, cl_web_grant *out)
{
	return grant_by_hash(
	    st,
	    "UPDATE web_invites SET used_ts = ?2 WHERE token_hash = ?1 AND used_ts IS "
	    "NULL RETURNING role, (SELECT l.name FROM students s JOIN labs l ON l.id = "
	    "s.lab_id WHERE s.id = student_id), (SELECT name FROM students WHERE id = "
	    "student_id), NULL, 0",
	    hash, now, out, "cannot take an invitation");
}

int cl_store_web_revoke(cl_store *st, const char *lab, const char *student, int64_t *n)
{
	static const char *const sql[2][2] = {
	    {"DELETE FROM web_invites WHERE student_id = ?1 AND used_ts IS NULL",
	     "DELETE FROM web_sessions WHERE student_id = ?1"},
	    {"DELETE FROM web_invites WHERE role = 'admin' AND used_ts IS NULL",
	     "DELETE FROM web_sessions WHERE role = 'admin'"},
	};
	sqlite3_stmt *stmt = NULL;
	int64_t sid;
	int rc = student_exists(st, lab, student, &sid);

	*n = 0;
	for (int i = 0; rc == 0 && i < 2; i++) {
		if ((rc = st_prepare(st, &stmt, sql[sid ? 0 : 1][i])))
			break;
		if (sid)
			sqlite3_bind_int64(stmt, 1, sid);
		rc = st_exec_stmt(st, stmt, "cannot revoke web access");
		if (rc == 0)
			*n += sqlite3_changes(st->db);
		sqlite3_finalize(stmt);
	}
	return rc;
}

int cl_store_session_put(cl_store *st, const unsigned char hash[32], const cl_web_grant *g,
			 int64_t now)
{
	sqlite3_stmt *stmt = NULL;
	int64_t sid;
	int rc = student_exists(st, g->admin ? NULL : g->lab, g->admin ? NULL : g->student, &sid);

	if (rc)
		return rc;
	if ((rc = st_prepare(st, &stmt,
			     "INSERT INTO web_sessions (token_hash, role, student_id, "
			     "csrf, created_ts, expires_ts) VALUES (?, ?, ?, ?, ?, ?)")))
		return rc;
	sqlite3_bind_blob(stmt, 1, hash, 32, SQLITE_TRANSIENT);
	st_bind_text(stmt, 2, sid ? "student" : "admin");
	st_bind_int_or_null(stmt, 3, sid, 0);
	st_bind_text(stmt, 4, g->csrf);
	sqlite3_bind_int64(stmt, 5, now);
	sqlite3_bind_int64(stmt, 6, g->expires);
	rc = st_exec_stmt(st, stmt, "cannot record a session");
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_session_get(cl_store *st, const unsigned char hash[32], int64_t now, cl_web_grant *out)
{
	return grant_by_hash(
	    st,
	    "SELECT w.role, l.name, s.name, w.csrf, w.expires_ts FROM web_sessions w "
	    "LEFT JOIN students s ON s.id = w.student_id LEFT JOIN labs l ON l.id = "
	    "s.lab_id WHERE w.token_hash = ?1 AND w.expires_ts > ?2",
	    hash, now, out, "cannot read sessions");
}

int cl_store_session_delete(cl_store *st, const unsigned char hash[32])
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "DELETE FROM web_sessions WHERE token_hash = ?");
	if (rc)
		return rc;
	sqlite3_bind_blob(stmt, 1, hash, 32, SQLITE_TRANSIENT);
	rc = st_exec_stmt(st, stmt, "cannot end a session");
	sqlite3_finalize(stmt);
	return rc;
}
