/* Opening the database, migrations, transactions and the statement helpers. */
#include "store_impl.h"
#include "classlab/banned.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * A full disk (or quota) shows up as SQLITE_FULL, or as an I/O error whose
 * system errno is ENOSPC/EDQUOT (creating the -shm file of a WAL database):
 * say so, rather than anything that suggests the file is damaged.
 */
static bool disk_full(cl_store *st)
{
	int code = sqlite3_extended_errcode(st->db), sys = sqlite3_system_errno(st->db);
	return (code & 0xff) == SQLITE_FULL ||
	       ((code & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT));
}

static int full_error(cl_store *st, const char *what)
{
	return cl_error_set(CL_EFAIL,
			    "%s: the disk holding '%s' is full (%s): free some space and retry; "
			    "nothing was written and the database is not damaged",
			    what, st->path, sqlite3_errmsg(st->db));
}

int st_fail(cl_store *st, const char *what)
{
	int code = sqlite3_extended_errcode(st->db);
	int rc = CL_EFAIL;

	if (disk_full(st))
		return full_error(st, what);

	if ((code & 0xff) == SQLITE_CONSTRAINT)
		rc = CL_EEXIST;
	else if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
		rc = CL_EEXIST;
	return cl_error_set(rc, "%s: %s", what, sqlite3_errmsg(st->db));
}

int st_prepare(cl_store *st, sqlite3_stmt **stmt, const char *sql)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK)
		return st_fail(st, "cannot prepare a database query");
	return 0;
}

int st_exec_stmt(cl_store *st, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return st_fail(st, what);
}

int st_one(cl_store *st, sqlite3_stmt *stmt, void (*row)(sqlite3_stmt *, void *), void *out,
	   size_t size, const char *what)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW) {
		memset(out, 0, size);
		row(stmt, out);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = CL_ENOTFOUND;
	} else {
		rc = st_fail(st, what);
	}
	sqlite3_finalize(stmt);
	return rc;
}

char *st_col_text(sqlite3_stmt *stmt, int col)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);
	return t ? cl_strdup((const char *)t) : NULL;
}

void st_bind_text(sqlite3_stmt *stmt, int idx, const char *s)
{
	if (s)
		sqlite3_bind_text(stmt, idx, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(stmt, idx);
}

void st_bind_int_or_null(sqlite3_stmt *stmt, int idx, int64_t v, int64_t none)
{
	if (v == none)
		sqlite3_bind_null(stmt, idx);
	else
		sqlite3_bind_int64(stmt, idx, v);
}

static int exec_sql(cl_store *st, const char *sql, const char *what)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = disk_full(st) ? full_error(st, what)
				       : cl_error_set(CL_EFAIL, "%s: %s", what, msg ? msg : "unknown");
		sqlite3_free(msg);
		return rc;
	}
	return 0;
}

int cl_store_begin(cl_store *st)
{
	return exec_sql(st, "BEGIN IMMEDIATE", "cannot start a database transaction");
}

int cl_store_begin_read(cl_store *st)
{
	return exec_sql(st, "BEGIN DEFERRED", "cannot start a database transaction");
}

int cl_store_commit(cl_store *st)
{
	return exec_sql(st, "COMMIT", "cannot commit to the database");
}

void cl_store_rollback(cl_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

int cl_store_end(cl_store *st, int rc)
{
	if (rc == 0)
		rc = cl_store_commit(st);
	if (rc)
		cl_store_rollback(st);
	return rc;
}

int cl_store_schema_version(cl_store *st, int *version)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "PRAGMA user_version");
	if (rc)
		return rc;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*version = sqlite3_column_int(stmt, 0);
	else
		rc = st_fail(st, "cannot read the schema version");
	sqlite3_finalize(stmt);
	return rc;
}

static int insert_builtin_sizes(cl_store *st)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "INSERT OR IGNORE INTO sizes (name, lab_units, vcpus, memory_mib, gpus, "
			    "builtin) VALUES (?, ?, ?, ?, ?, 1)");
	for (size_t i = 0; rc == 0 && i < cl_store_builtin_size_count; i++) {
		const cl_size *s = &cl_store_builtin_sizes[i];
		sqlite3_reset(stmt);
		st_bind_text(stmt, 1, s->name);
		sqlite3_bind_int64(stmt, 2, s->lab_units);
		sqlite3_bind_int64(stmt, 3, s->vcpus);
		sqlite3_bind_int64(stmt, 4, s->memory_mib);
		sqlite3_bind_int64(stmt, 5, s->gpus);
		rc = st_exec_stmt(st, stmt, "cannot insert the built-in sizes");
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* The message for a file written by a newer classlab. */
static int too_new(cl_store *st, int version)
{
	return cl_error_set(CL_EFAIL,
			    "database '%s' has schema version %d, newer than this classlab (%d): "
			    "upgrade classlab",
			    st->path, version, cl_store_migration_count);
}

static int check_not_newer(cl_store *st)
{
	int version = 0, rc = cl_store_schema_version(st, &version);
	if (rc == 0 && version > cl_store_migration_count)
		rc = too_new(st, version);
	return rc;
}

/*
 * Applies every migration past user_version, each in its own transaction.
 * The version is read again inside BEGIN IMMEDIATE: two processes opening a
 * new file at once both see version 0 outside it, and only the first may migrate.
 */
static int migrate(cl_store *st)
{
	int version = 0, rc;

	if ((rc = cl_store_schema_version(st, &version)))
		return rc;
	if (version > cl_store_migration_count)
		return too_new(st, version);
	while (version < cl_store_migration_count) {
		char pragma[64];
		if ((rc = cl_store_begin(st)))
			return rc;
		if ((rc = cl_store_schema_version(st, &version)) == 0 &&
		    version > cl_store_migration_count)
			rc = too_new(st, version);
		if (rc || version == cl_store_migration_count) {
			cl_store_rollback(st);
			return rc;
		}
		rc = exec_sql(st, cl_store_migrations[version], "cannot migrate the database");
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
		if (rc == 0)
			rc = exec_sql(st, pragma, "cannot record the schema version");
		if (rc == 0 && version == 0)
			rc = insert_builtin_sizes(st);
		if (rc == 0)
			rc = cl_store_commit(st);
		if (rc) {
			cl_store_rollback(st);
			return cl_error_wrap("cannot migrate '%s' to schema version %d", st->path,
					     version + 1);
		}
		version++;
	}
	return 0;
}

/*
 * Checks the database path and creates the file 0600 (SQLite would use the
 * umask). Only its last component must not be a symlink: SQLITE_OPEN_NOFOLLOW
 * refuses a symlink anywhere in the path (a symlinked $HOME, /home ->
 * /var/home), so *real is the path with its directory resolved, for SQLite.
 * *created: this call made the file, which a failed open then removes.
 */
static int prepare_file(const char *path, char **real, bool *created)
{
	const char *base = strrchr(path, '/');
	char *dir = NULL, *rdir = NULL;
	struct stat sb;
	int rc = 0, fd = -1;

	*real = NULL;
	*created = false;
	base = base ? base + 1 : path;
	if (!*path)
		return cl_error_set(CL_EINVAL, "the database path is empty: give a file name");
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return cl_error_set(CL_EINVAL, "database path '%s' names a directory: give a file name",
				    path);
	dir = base == path ? cl_strdup(".") : cl_strndup(path, (size_t)(base - path));
	if (stat(dir, &sb) != 0) {
		if (errno == ENOENT)
			rc = cl_mkdir_p(dir, 0700); /* sets the mode of the directories it makes only */
		else
			rc = cl_error_set(errno == ENOTDIR ? CL_EINVAL : CL_EFAIL,
					  "cannot open database '%s': %s", path, strerror(errno));
	} else if (!S_ISDIR(sb.st_mode))
		rc = cl_error_set(CL_EINVAL, "cannot open database '%s': '%s' is not a directory",
				  path, dir);
	if (rc)
		goto out;
	if (!(rdir = realpath(dir, NULL))) {
		rc = cl_error_set(CL_EFAIL, "cannot open database '%s': %s", path, strerror(errno));
		goto out;
	}
	if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
		rc = cl_error_set(CL_EINVAL,
				  "database '%s' is a symbolic link: classlab does not follow it (its "
				  "target could change); give the real file's path",
				  path);
		goto out;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		*created = true;
	else if (errno == EEXIST || errno == EISDIR)
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		rc = cl_error_set(errno == ELOOP ? CL_EINVAL : CL_EFAIL, "cannot open database '%s': %s",
				  path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) != 0) {
		rc = cl_error_set(CL_EFAIL, "cannot open database '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = cl_error_set(CL_EINVAL, "database path '%s' is %s: give a file name", path,
				  S_ISDIR(sb.st_mode) ? "a directory" : "not a regular file");
		goto out;
	}
	*real = cl_path_join(rdir, base);
out:
	if (fd >= 0)
		close(fd);
	free(rdir);
	free(dir);
	return rc;
}

/* A failed first open leaves nothing: a 0-byte file this call made is removed. */
static void remove_new_file(const char *path)
{
	struct stat sb;
	char *wal = cl_aprintf("%s-wal", path);

	bool wal_empty = lstat(wal, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0;
	bool wal_data = lstat(wal, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0;

	if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0 && !wal_data) {
		unlink(path);
		if (wal_empty)
			unlink(wal);
	}
	free(wal);
}

/*
 * Switching a new file to WAL needs its exclusive lock. When two processes
 * both hold the shared lock and both want it, SQLite answers SQLITE_BUSY at
 * once instead of calling the busy handler (waiting would deadlock), so the
 * loser retries here, for as long as the busy timeout would have waited.
 */
static int configure(cl_store *st)
{
	const struct timespec pause = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
	int tries = 0;

	while (sqlite3_exec(st->db,
			    "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; "
			    "PRAGMA synchronous = NORMAL",
			    NULL, NULL, NULL) != SQLITE_OK) {
		if ((sqlite3_errcode(st->db) & 0xff) != SQLITE_BUSY ||
		    ++tries * 10 >= CL_STORE_BUSY_MS)
			return st_fail(st, "cannot configure the database");
		nanosleep(&pause, NULL);
	}
	return 0;
}

int cl_store_open(cl_store **out, const char *path)
{
	cl_store *st = NULL;
	char *real = NULL;
	bool created = false;
	int rc;

	*out = NULL;
	if ((rc = prepare_file(path, &real, &created)))
		return rc;
	st = cl_calloc(1, sizeof(*st));
	st->path = cl_strdup(path);
	if (sqlite3_open_v2(real, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) !=
	    SQLITE_OK) {
		rc = cl_error_set(CL_EFAIL, "cannot open database '%s': %s", path,
				  st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, CL_STORE_BUSY_MS);
	/* Before the pragmas, which would fail on a text file with a vaguer message. */
	rc = cl_store_check_quick(st);
	if (rc == 0) /* refuse a newer file before WAL mode rewrites its header */
		rc = check_not_newer(st);
	if (rc == 0)
		rc = configure(st);
	if (rc == 0)
		rc = migrate(st);
	if (rc)
		goto fail;
	*out = st;
	free(real);
	return 0;
fail:
	cl_store_close(st);
	if (created)
		remove_new_file(real);
	free(real);
	return rc;
}

/* A file that is not a database gets a clear message before any migration runs. */
int cl_store_check_quick(cl_store *st)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db, "SELECT count(*) FROM sqlite_master", -1, &stmt, NULL) !=
		    SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		int code = sqlite3_extended_errcode(st->db) & 0xff;
		/* Only a file SQLite cannot read as a database is "not a database". */
		if (disk_full(st))
			rc = full_error(st, "cannot open the database");
		else if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT || code == SQLITE_FORMAT)
			rc = cl_error_set(CL_EFAIL, "'%s' is not a classlab database: %s", st->path,
					  sqlite3_errmsg(st->db));
		else
			rc = cl_error_set(CL_EFAIL, "cannot read database '%s': %s", st->path,
					  sqlite3_errmsg(st->db));
	} else {
		rc = 0;
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* The first lab whose kept totals differ from a count of its students. */
#define TOTALS_CHECK_SQL                                                                           \
	"SELECT l.name FROM labs l LEFT JOIN lab_totals t ON t.lab_id = l.id LEFT JOIN "           \
	"(SELECT lab_id, count(*) AS n, count(quota_seconds) AS o, "                               \
	"coalesce(sum(quota_seconds), 0) AS q FROM students GROUP BY lab_id) s "                   \
	"ON s.lab_id = l.id WHERE t.lab_id IS NULL OR t.students != coalesce(s.n, 0) "             \
	"OR t.overrides != coalesce(s.o, 0) OR t.override_seconds != coalesce(s.q, 0) LIMIT 1"

int cl_store_check(cl_store *st)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "PRAGMA integrity_check");
	if (rc)
		return rc;
	if (sqlite3_step(stmt) != SQLITE_ROW)
		rc = st_fail(st, "cannot check the database");
	else if (strcmp((const char *)sqlite3_column_text(stmt, 0), "ok") != 0)
		rc = cl_error_set(CL_EFAIL, "database '%s' is damaged: %s", st->path,
				  sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	if (rc || (rc = st_prepare(st, &stmt, TOTALS_CHECK_SQL)))
		return rc;
	switch (sqlite3_step(stmt)) {
	case SQLITE_DONE:
		break;
	case SQLITE_ROW:
		rc = cl_error_set(CL_EFAIL, "database '%s' is damaged: lab '%s' has wrong totals",
				  st->path, sqlite3_column_text(stmt, 0));
		break;
	default:
		rc = st_fail(st, "cannot check the database");
	}
	sqlite3_finalize(stmt);
	return rc;
}

void cl_store_close(cl_store *st)
{
	if (!st)
		return;
	sqlite3_close_v2(st->db);
	free(st->path);
	free(st);
}
