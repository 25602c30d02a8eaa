/* Typed queries for sizes, labs, students, schedules and the cost aggregates. */
#include "store_impl.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Runs a list query: calls row() for each row into a growing array of elem_size. */
int st_list(cl_store *st, sqlite3_stmt *stmt, size_t elem_size, void (*row)(sqlite3_stmt *, void *),
	    void (*clear)(void *), void **out, size_t *n, const char *what)
{
	char *arr = NULL;
	size_t len = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			arr = cl_realloc(arr, cap * elem_size);
		}
		memset(arr + len * elem_size, 0, elem_size);
		row(stmt, arr + len * elem_size);
		len++;
	}
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; clear && i < len; i++)
			clear(arr + i * elem_size);
		free(arr);
		return st_fail(st, what);
	}
	*out = arr;
	*n = len;
	return 0;
}

/* ---- sizes ---- */

void cl_size_clear(cl_size *s)
{
	if (!s)
		return;
	free(s->name);
	memset(s, 0, sizeof(*s));
}

void cl_size_list_free(cl_size *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		cl_size_clear(&s[i]);
	free(s);
}

#define SIZE_COLS "name, lab_units, vcpus, memory_mib, gpus, builtin"

static void size_row(sqlite3_stmt *stmt, void *p)
{
	cl_size *s = p;
	s->name = st_col_text(stmt, 0);
	s->lab_units = sqlite3_column_int64(stmt, 1);
	s->vcpus = sqlite3_column_int64(stmt, 2);
	s->memory_mib = sqlite3_column_int64(stmt, 3);
	s->gpus = sqlite3_column_int64(stmt, 4);
	s->builtin = sqlite3_column_int(stmt, 5) != 0;
}

int cl_store_size_get(cl_store *st, const char *name, cl_size *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "SELECT " SIZE_COLS " FROM sizes WHERE name = ?");
	if (rc)
		return rc;
	st_bind_text(stmt, 1, name);
	rc = st_one(st, stmt, size_row, out, sizeof(*out), "cannot read sizes");
	if (rc == CL_ENOTFOUND)
		rc = cl_error_set(CL_ENOTFOUND, "size '%s' not found (see 'classlab sizes list')",
				  name);
	return rc;
}

int cl_store_size_list(cl_store *st, cl_size **out, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "SELECT " SIZE_COLS " FROM sizes ORDER BY lab_units, name");
	if (rc == 0)
		rc = st_list(st, stmt, sizeof(cl_size), size_row, (void (*)(void *))cl_size_clear, (void **)out, n,
			     "cannot list sizes");
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_size_put(cl_store *st, const cl_size *s)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "INSERT INTO sizes (name, lab_units, vcpus, memory_mib, gpus, builtin) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, 0) ON CONFLICT (name) DO UPDATE SET "
			    "lab_units = ?2, vcpus = ?3, memory_mib = ?4, gpus = ?5, builtin = 0");
	if (rc)
		return rc;
	st_bind_text(stmt, 1, s->name);
	sqlite3_bind_int64(stmt, 2, s->lab_units);
	sqlite3_bind_int64(stmt, 3, s->vcpus);
	sqlite3_bind_int64(stmt, 4, s->memory_mib);
	sqlite3_bind_int64(stmt, 5, s->gpus);
	rc = st_exec_stmt(st, stmt, "cannot save size");
	sqlite3_finalize(stmt);
	return rc;
}

/* ---- labs ---- */

void cl_lab_clear(cl_lab *lab)
{
	if (!lab)
		return;
	free(lab->name);
	free(lab->size);
	free(lab->image);
	free(lab->username);
	free(lab->listen);
	free(lab->public_host);
	free(lab->spec_json);
	free(lab->boot_kernel);
	free(lab->boot_initrd);
	free(lab->hv_uri);
	free(lab->boot_cmdline);
	memset(lab, 0, sizeof(*lab));
}

void cl_lab_list_free(cl_lab *labs, size_t n)
{
	for (size_t i = 0; labs && i < n; i++)
		cl_lab_clear(&labs[i]);
	free(labs);
}

#define LAB_COLS                                                                                   \
	"id, name, size, image, username, scheduled_seconds, quota_seconds, price_micro, listen, " \
	"public_host, port_min, port_max, memory_mib, vcpus, spec_json, template_version, "        \
	"template_state, verified_version, created_at, boot_kernel, boot_initrd, boot_cmdline, "   \
	"hv_uri"

static void lab_row(sqlite3_stmt *stmt, void *p)
{
	cl_lab *l = p;
	l->id = sqlite3_column_int64(stmt, 0);
	l->name = st_col_text(stmt, 1);
	l->size = st_col_text(stmt, 2);
	l->image = st_col_text(stmt, 3);
	l->username = st_col_text(stmt, 4);
	l->scheduled_seconds = sqlite3_column_int64(stmt, 5);
	l->quota_seconds = sqlite3_column_int64(stmt, 6);
	l->price_micro = sqlite3_column_int64(stmt, 7);
	l->listen = st_col_text(stmt, 8);
	l->public_host = st_col_text(stmt, 9);
	l->port_min = sqlite3_column_int64(stmt, 10);
	l->port_max = sqlite3_column_int64(stmt, 11);
	l->memory_mib = sqlite3_column_int64(stmt, 12);
	l->vcpus = sqlite3_column_int64(stmt, 13);
	l->spec_json = st_col_text(stmt, 14);
	l->template_version = sqlite3_column_int64(stmt, 15);
	l->template_state = st_col_template_state(stmt, 16);
	l->verified_version = sqlite3_column_int64(stmt, 17);
	l->created_at = sqlite3_column_int64(stmt, 18);
	l->boot_kernel = st_col_text(stmt, 19);
	l->boot_initrd = st_col_text(stmt, 20);
	l->boot_cmdline = st_col_text(stmt, 21);
	l->hv_uri = st_col_text(stmt, 22);
}

/* A state word no table has (a newer classlab's, or an edit by hand) is refused, not guessed. */
static int labs_check(cl_lab *labs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (labs[i].template_state >= CL_TEMPLATE_STATE_COUNT)
			return cl_error_set(
			    CL_EFAIL, "lab '%s' has a template state this classlab does not know",
			    labs[i].name);
	return 0;
}

/* Binds every column after id (?2..?23) in LAB_COLS order. */
static void lab_bind(sqlite3_stmt *stmt, const cl_lab *l)
{
	st_bind_text(stmt, 2, l->name);
	st_bind_text(stmt, 3, l->size);
	st_bind_text(stmt, 4, l->image ? l->image : "tiny");
	st_bind_text(stmt, 5, l->username ? l->username : "student");
	sqlite3_bind_int64(stmt, 6, l->scheduled_seconds);
	sqlite3_bind_int64(stmt, 7, l->quota_seconds);
	sqlite3_bind_int64(stmt, 8, l->price_micro);
	st_bind_text(stmt, 9, l->listen ? l->listen : "127.0.0.1");
	st_bind_text(stmt, 10, l->public_host ? l->public_host : "127.0.0.1");
	sqlite3_bind_int64(stmt, 11, l->port_min ? l->port_min : CL_PORT_MIN_DEFAULT);
	sqlite3_bind_int64(stmt, 12, l->port_max ? l->port_max : CL_PORT_MAX_DEFAULT);
	sqlite3_bind_int64(stmt, 13, l->memory_mib);
	sqlite3_bind_int64(stmt, 14, l->vcpus);
	st_bind_text(stmt, 15, l->spec_json);
	sqlite3_bind_int64(stmt, 16, l->template_version);
	st_bind_text(stmt, 17, cl_template_state_name(l->template_state));
	sqlite3_bind_int64(stmt, 18, l->verified_version);
	sqlite3_bind_int64(stmt, 19, l->created_at);
	st_bind_text(stmt, 20, l->boot_kernel);
	st_bind_text(stmt, 21, l->boot_initrd);
	st_bind_text(stmt, 22, l->boot_cmdline);
	st_bind_text(stmt, 23, l->hv_uri);
}

/*
 * VM names are <lab>-<student>, and a lab's template owns <lab>-template and
 * <lab>-template-* (its VM, its disks <lab>-template-v<N>.qcow2): names from
 * different labs could meet ("a" + "b-c" and "a-b" + "c"). Each check runs in
 * the caller's write transaction, so two concurrent adds cannot both pass.
 */
static int lab_name_free(cl_store *st, const char *name)
{
	sqlite3_stmt *stmt = NULL;
	char *tmpl = cl_vm_name(name, NULL);
	int rc = st_prepare(
	    st, &stmt,
	    "SELECT l.name, s.name FROM labs l JOIN students s ON s.lab_id = l.id "
	    "WHERE l.name || '-' || s.name = ?1 "
	    "OR substr(l.name || '-' || s.name, 1, length(?1) + 1) = ?1 || '-' "
	    "UNION ALL SELECT l.name, m.name FROM vms m JOIN labs l ON l.id = m.lab_id "
	    "WHERE m.name = ?1 OR substr(m.name, 1, length(?1) + 1) = ?1 || '-' LIMIT 1");

	if (rc)
		goto out;
	st_bind_text(stmt, 1, tmpl);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = cl_error_set(CL_EINVAL,
				  "lab name '%s' is ambiguous: its template's VM and disks are "
				  "named '%s*', and lab '%s' has '%s' (VM '%s-%s')",
				  name, tmpl, sqlite3_column_text(stmt, 0),
				  sqlite3_column_text(stmt, 1), sqlite3_column_text(stmt, 0),
				  sqlite3_column_text(stmt, 1));
	else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = st_fail(st, "cannot check the lab name");
out:
	sqlite3_finalize(stmt);
	free(tmpl);
	return rc;
}

int cl_store_lab_create(cl_store *st, cl_lab *lab)
{
	sqlite3_stmt *stmt = NULL;
	cl_size size = {0};
	int rc;

	if ((rc = cl_store_size_get(st, lab->size, &size)))
		return rc;
	cl_size_clear(&size);
	if ((rc = lab_name_free(st, lab->name)))
		return rc;
	if (!lab->created_at)
		lab->created_at = (int64_t)time(NULL);
	rc = st_prepare(st, &stmt,
			"INSERT INTO labs (" LAB_COLS ") VALUES (NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
			"?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)");
	if (rc)
		return rc;
	lab_bind(stmt, lab);
	rc = st_exec_stmt(st, stmt, "cannot create lab");
	if (rc == CL_EEXIST)
		rc = cl_error_set(CL_EEXIST, "lab '%s' already exists", lab->name);
	else if (rc == 0)
		lab->id = sqlite3_last_insert_rowid(st->db);
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_lab_update(cl_store *st, const cl_lab *lab)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "UPDATE labs SET name = ?2, size = ?3, image = ?4, username = ?5, "
			    "scheduled_seconds = ?6, quota_seconds = ?7, price_micro = ?8, "
			    "listen = ?9, public_host = ?10, port_min = ?11, port_max = ?12, "
			    "memory_mib = ?13, vcpus = ?14, spec_json = ?15, template_version = ?16, "
			    "template_state = ?17, verified_version = ?18, created_at = ?19, "
			    "boot_kernel = ?20, boot_initrd = ?21, boot_cmdline = ?22, "
			    "hv_uri = coalesce(?23, hv_uri) " /* a claim is never undone by a stale copy */
			    "WHERE id = ?1");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, lab->id);
	lab_bind(stmt, lab);
	rc = st_exec_stmt(st, stmt, "cannot update lab");
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = cl_error_set(CL_ENOTFOUND, "lab '%s' not found", lab->name);
	sqlite3_finalize(stmt);
	return rc;
}

static void text_row(sqlite3_stmt *stmt, void *p)
{
	*(char **)p = st_col_text(stmt, 0);
}

int cl_store_lab_claim_hv(cl_store *st, int64_t lab_id, const char *uri, char **bound)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	*bound = NULL;
	if ((rc = st_prepare(st, &stmt, "UPDATE labs SET hv_uri = ?2 WHERE id = ?1 AND hv_uri IS NULL")))
		return rc;
	sqlite3_bind_int64(stmt, 1, lab_id);
	st_bind_text(stmt, 2, uri);
	rc = st_exec_stmt(st, stmt, "cannot record the lab's hypervisor");
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (rc || (rc = st_prepare(st, &stmt, "SELECT hv_uri FROM labs WHERE id = ?")))
		return rc;
	sqlite3_bind_int64(stmt, 1, lab_id);
	rc = st_one(st, stmt, text_row, bound, sizeof(*bound), "cannot read the lab's hypervisor");
	if (rc == CL_ENOTFOUND)
		rc = cl_error_set(CL_ENOTFOUND, "lab %lld not found", (long long)lab_id);
	return rc;
}

int cl_store_lab_get(cl_store *st, const char *name, cl_lab *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "SELECT " LAB_COLS " FROM labs WHERE name = ?");
	if (rc)
		return rc;
	st_bind_text(stmt, 1, name);
	rc = st_one(st, stmt, lab_row, out, sizeof(*out), "cannot read labs");
	if (rc == CL_ENOTFOUND)
		rc = cl_error_set(CL_ENOTFOUND, "lab '%s' not found", name);
	else if (rc == 0 && (rc = labs_check(out, 1)))
		cl_lab_clear(out);
	return rc;
}

int cl_store_lab_list(cl_store *st, cl_lab **out, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "SELECT " LAB_COLS " FROM labs ORDER BY name");
	if (rc == 0)
		rc = st_list(st, stmt, sizeof(cl_lab), lab_row, (void (*)(void *))cl_lab_clear, (void **)out, n, "cannot list labs");
	sqlite3_finalize(stmt);
	if (rc == 0 && (rc = labs_check(*out, *n))) {
		cl_lab_list_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int cl_store_lab_delete(cl_store *st, const char *name)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "DELETE FROM labs WHERE name = ?");
	if (rc)
		return rc;
	st_bind_text(stmt, 1, name);
	rc = st_exec_stmt(st, stmt, "cannot delete lab");
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = cl_error_set(CL_ENOTFOUND, "lab '%s' not found", name);
	sqlite3_finalize(stmt);
	return rc;
}

/* ---- students ---- */

void cl_student_clear(cl_student *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->email);
	free(s->ssh_public_key);
	memset(s, 0, sizeof(*s));
}

void cl_student_list_free(cl_student *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		cl_student_clear(&s[i]);
	free(s);
}

#define STUDENT_COLS "id, lab_id, name, email, quota_seconds, ssh_public_key"

static void student_row(sqlite3_stmt *stmt, void *p)
{
	cl_student *s = p;
	s->id = sqlite3_column_int64(stmt, 0);
	s->lab_id = sqlite3_column_int64(stmt, 1);
	s->name = st_col_text(stmt, 2);
	s->email = st_col_text(stmt, 3);
	s->quota_seconds = sqlite3_column_type(stmt, 4) == SQLITE_NULL
				   ? CL_QUOTA_DEFAULT
				   : sqlite3_column_int64(stmt, 4);
	s->ssh_public_key = st_col_text(stmt, 5);
}

/* The statements adding a student takes, prepared once for a whole roster. */
typedef struct add_stmts {
	sqlite3_stmt *room, *name, *insert;
} add_stmts;

static void add_stmts_free(add_stmts *q)
{
	sqlite3_finalize(q->room);
	sqlite3_finalize(q->name);
	sqlite3_finalize(q->insert);
}

static int add_stmts_prepare(cl_store *st, add_stmts *q)
{
	int rc;

	memset(q, 0, sizeof(*q));
	/* The cap holds per lab, however the students came (add, import, up). */
	if ((rc = st_prepare(st, &q->room,
			     "SELECT t.students, l.name FROM lab_totals t JOIN labs l ON l.id = "
			     "t.lab_id WHERE t.lab_id = ?")))
		return rc;
	/* The VM name <lab>-<student> is nobody else's, and not in a template's namespace. */
	if ((rc = st_prepare(
		 st, &q->name,
		 "WITH v(n) AS (SELECT coalesce((SELECT name FROM labs WHERE id = ?1), ?3) || '-' || ?2) "
		 "SELECT 't', l.id, l.name, v.n FROM v, labs l WHERE v.n = l.name || '-template' "
		 "OR substr(v.n, 1, length(l.name) + 10) = l.name || '-template-' "
		 "UNION ALL SELECT 's', l.id, l.name, v.n FROM v, labs l "
		 "JOIN students s ON s.lab_id = l.id WHERE l.id != ?1 "
		 "AND substr(v.n, 1, length(l.name) + 1) = l.name || '-' "
		 "AND s.name = substr(v.n, length(l.name) + 2) "
		 "UNION ALL SELECT 'v', l.id, l.name, v.n FROM v, vms m "
		 "JOIN labs l ON l.id = m.lab_id WHERE m.name = v.n AND m.lab_id != ?1 LIMIT 1")))
		return rc;
	return st_prepare(
	    st, &q->insert,
	    "INSERT INTO students (lab_id, name, email, quota_seconds, ssh_public_key) "
	    "VALUES (?, ?, ?, ?, ?)");
}

static int lab_has_room(cl_store *st, sqlite3_stmt *stmt, int64_t lab_id)
{
	int rc;

	sqlite3_reset(stmt);
	sqlite3_bind_int64(stmt, 1, lab_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && sqlite3_column_int64(stmt, 0) >= CL_STORE_LAB_STUDENTS_MAX)
		return cl_error_set(CL_EINVAL, "lab '%s' has %d students, the most a lab may have",
				    sqlite3_column_text(stmt, 1), CL_STORE_LAB_STUDENTS_MAX);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return 0;
	return st_fail(st, "cannot count the lab's students");
}

/* lab: the lab's name when it has no row yet (lab_id 0), else NULL. */
static int student_name_free(cl_store *st, sqlite3_stmt *stmt, int64_t lab_id, const char *lab_name,
			     const char *name)
{
	int rc;

	if (strcmp(name, "template") == 0 || strncmp(name, "template-", 9) == 0)
		return cl_error_set(CL_EINVAL,
				    "student name '%s' is reserved: 'template' and 'template-*' "
				    "name the lab's template VM and disks",
				    name);
	sqlite3_reset(stmt);
	sqlite3_bind_int64(stmt, 1, lab_id);
	st_bind_text(stmt, 2, name);
	st_bind_text(stmt, 3, lab_name);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return st_fail(st, "cannot check the student name");
	char what = (char)sqlite3_column_text(stmt, 0)[0];
	const char *lab = (const char *)sqlite3_column_text(stmt, 2);
	const char *vm = (const char *)sqlite3_column_text(stmt, 3);
	if (what == 't' && sqlite3_column_int64(stmt, 1) == lab_id)
		return cl_error_set(CL_EINVAL,
				    "student name '%s' is reserved: 'template' and 'template-*' "
				    "name the lab's template VM and disks",
				    name);
	return cl_error_set(CL_EINVAL,
			    "student '%s' would get the VM name '%s', which lab '%s' already uses "
			    "for %s; choose another name",
			    name, vm, lab,
			    what == 't'	  ? "its template"
			    : what == 's' ? "one of its students"
					  : "a VM");
}

static int add_one(cl_store *st, add_stmts *q, cl_student *s)
{
	sqlite3_stmt *stmt = q->insert;
	int rc;

	if ((rc = lab_has_room(st, q->room, s->lab_id)) ||
	    (rc = student_name_free(st, q->name, s->lab_id, NULL, s->name)))
		return rc;
	sqlite3_reset(stmt);
	sqlite3_bind_int64(stmt, 1, s->lab_id);
	st_bind_text(stmt, 2, s->name);
	st_bind_text(stmt, 3, s->email);
	st_bind_int_or_null(stmt, 4, s->quota_seconds, CL_QUOTA_DEFAULT);
	st_bind_text(stmt, 5, s->ssh_public_key);
	rc = st_exec_stmt(st, stmt, "cannot add student");
	if (rc == CL_EEXIST)
		rc = cl_error_set(CL_EEXIST, "student '%s' already exists in this lab", s->name);
	else if (rc == 0)
		s->id = sqlite3_last_insert_rowid(st->db);
	return rc;
}

int cl_store_students_add(cl_store *st, cl_student *s, size_t n, size_t *failed)
{
	add_stmts q;
	int rc = add_stmts_prepare(st, &q);
	size_t i = 0;

	for (; rc == 0 && i < n; i++)
		if ((rc = add_one(st, &q, &s[i])))
			break;
	if (failed)
		*failed = i;
	add_stmts_free(&q);
	return rc;
}

int cl_store_student_add(cl_store *st, cl_student *s)
{
	return cl_store_students_add(st, s, 1, NULL);
}

int cl_store_names_check(cl_store *st, const char *lab, int64_t lab_id, const char *const *students,
			 size_t n)
{
	add_stmts q;
	int rc;

	if (lab_id == 0 && (rc = lab_name_free(st, lab)))
		return rc;
	if ((rc = add_stmts_prepare(st, &q)))
		return rc;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = student_name_free(st, q.name, lab_id, lab, students[i]);
	add_stmts_free(&q);
	return rc;
}

int cl_store_student_get(cl_store *st, int64_t lab_id, const char *name, cl_student *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "SELECT " STUDENT_COLS " FROM students WHERE lab_id = ? AND name = ?");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, lab_id);
	st_bind_text(stmt, 2, name);
	rc = st_one(st, stmt, student_row, out, sizeof(*out), "cannot read students");
	if (rc == CL_ENOTFOUND)
		rc = cl_error_set(CL_ENOTFOUND, "student '%s' not found", name);
	return rc;
}

int cl_store_student_list(cl_store *st, int64_t lab_id, cl_student **out, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "SELECT " STUDENT_COLS " FROM students WHERE lab_id = ? ORDER BY id");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, lab_id);
	rc = st_list(st, stmt, sizeof(cl_student), student_row, (void (*)(void *))cl_student_clear, (void **)out, n,
		     "cannot list students");
	sqlite3_finalize(stmt);
	return rc;
}

/* Runs an UPDATE/DELETE on one student; CL_ENOTFOUND when no row matched. */
static int student_change(cl_store *st, sqlite3_stmt *stmt, const char *name, const char *what)
{
	int rc = st_exec_stmt(st, stmt, what);
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = cl_error_set(CL_ENOTFOUND, "student '%s' not found", name);
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_student_remove(cl_store *st, int64_t lab_id, const char *name)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "DELETE FROM students WHERE lab_id = ? AND name = ?");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, lab_id);
	st_bind_text(stmt, 2, name);
	return student_change(st, stmt, name, "cannot remove student");
}

int cl_store_student_set_quota(cl_store *st, int64_t lab_id, const char *name, int64_t seconds)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "UPDATE students SET quota_seconds = ? WHERE lab_id = ? AND name = ?");
	if (rc)
		return rc;
	st_bind_int_or_null(stmt, 1, seconds, CL_QUOTA_DEFAULT);
	sqlite3_bind_int64(stmt, 2, lab_id);
	st_bind_text(stmt, 3, name);
	return student_change(st, stmt, name, "cannot set quota");
}

/* ---- schedules ---- */

int cl_store_schedule_add(cl_store *st, cl_schedule *s)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "INSERT INTO schedules (lab_id, start_ts, end_ts, weekly_until) VALUES "
			    "(?, ?, ?, ?)");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, s->lab_id);
	sqlite3_bind_int64(stmt, 2, s->start);
	sqlite3_bind_int64(stmt, 3, s->end);
	sqlite3_bind_int64(stmt, 4, s->weekly_until);
	rc = st_exec_stmt(st, stmt, "cannot add schedule");
	if (rc == 0)
		s->id = sqlite3_last_insert_rowid(st->db);
	sqlite3_finalize(stmt);
	return rc;
}

static void schedule_row(sqlite3_stmt *stmt, void *p)
{
	cl_schedule *s = p;
	s->id = sqlite3_column_int64(stmt, 0);
	s->lab_id = sqlite3_column_int64(stmt, 1);
	s->start = sqlite3_column_int64(stmt, 2);
	s->end = sqlite3_column_int64(stmt, 3);
	s->weekly_until = sqlite3_column_int64(stmt, 4);
}

int cl_store_schedule_list_all(cl_store *st, cl_schedule **out, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "SELECT id, lab_id, start_ts, end_ts, weekly_until FROM schedules "
			    "ORDER BY lab_id, start_ts, id");
	if (rc == 0)
		rc = st_list(st, stmt, sizeof(cl_schedule), schedule_row, NULL, (void **)out, n,
			     "cannot list schedules");
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_schedule_list(cl_store *st, int64_t lab_id, cl_schedule **out, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "SELECT id, lab_id, start_ts, end_ts, weekly_until FROM schedules "
			    "WHERE lab_id = ? ORDER BY start_ts, id");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, lab_id);
	rc = st_list(st, stmt, sizeof(cl_schedule), schedule_row, NULL, (void **)out, n,
		     "cannot list schedules");
	sqlite3_finalize(stmt);
	return rc;
}

/* ---- aggregates for cost ---- */

/*
 * Quota seconds of a lab: the lab's quota for each student without an override,
 * plus the overrides, from the totals the schema's triggers keep (schema v3).
 */
#define TOTALS_SQL                                                                                 \
	"SELECT l.id, t.students, "                                                                \
	"(t.students - t.overrides) * l.quota_seconds + t.override_seconds, "                      \
	"t.overrides, z.lab_units FROM labs l JOIN sizes z ON z.name = l.size "                    \
	"JOIN lab_totals t ON t.lab_id = l.id "

static void totals_row(sqlite3_stmt *stmt, void *p)
{
	cl_lab_totals *t = p;
	t->lab_id = sqlite3_column_int64(stmt, 0);
	t->students = sqlite3_column_int64(stmt, 1);
	/* Past int64 SQLite's product turns REAL: -1, which an estimate refuses. */
	t->quota_seconds_sum =
		sqlite3_column_type(stmt, 2) == SQLITE_INTEGER ? sqlite3_column_int64(stmt, 2) : -1;
	t->overrides = sqlite3_column_int64(stmt, 3);
	t->lab_units = sqlite3_column_int64(stmt, 4);
}

int cl_store_lab_totals(cl_store *st, int64_t lab_id, cl_lab_totals *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, TOTALS_SQL "WHERE l.id = ?");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, lab_id);
	rc = st_one(st, stmt, totals_row, out, sizeof(*out), "cannot sum quotas");
	if (rc == CL_ENOTFOUND)
		rc = cl_error_set(CL_ENOTFOUND, "lab %lld not found", (long long)lab_id);
	return rc;
}

int cl_store_lab_totals_all(cl_store *st, cl_lab_totals **out, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, TOTALS_SQL "ORDER BY l.name");
	if (rc == 0)
		rc = st_list(st, stmt, sizeof(cl_lab_totals), totals_row, NULL, (void **)out, n,
			     "cannot sum quotas");
	sqlite3_finalize(stmt);
	return rc;
}
