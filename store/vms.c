/* Typed queries for VMs, port and GPU allocation, lab locks and events. */
#include "store_impl.h"
#include "classlab/banned.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void cl_vm_clear(cl_vm *vm)
{
	if (!vm)
		return;
	free(vm->name);
	free(vm->uuid);
	free(vm->mac);
	free(vm->instance_id);
	free(vm->host_key_pub);
	free(vm->address);
	free(vm->username);
	free(vm->auth_secret);
	memset(vm, 0, sizeof(*vm));
}

void cl_vm_list_free(cl_vm *vms, size_t n)
{
	for (size_t i = 0; vms && i < n; i++)
		cl_vm_clear(&vms[i]);
	free(vms);
}

#define VM_COLS                                                                                    \
	"id, lab_id, student_id, name, kind, uuid, mac, ssh_port, instance_id, host_key_pub, "     \
	"address, username, auth_secret, template_version, state, created_at"

static void vm_row(sqlite3_stmt *stmt, void *p)
{
	cl_vm *v = p;
	v->id = sqlite3_column_int64(stmt, 0);
	v->lab_id = sqlite3_column_int64(stmt, 1);
	v->student_id = sqlite3_column_int64(stmt, 2);
	v->name = st_col_text(stmt, 3);
	v->kind = st_col_vm_kind(stmt, 4);
	v->uuid = st_col_text(stmt, 5);
	v->mac = st_col_text(stmt, 6);
	v->ssh_port = sqlite3_column_int64(stmt, 7);
	v->instance_id = st_col_text(stmt, 8);
	v->host_key_pub = st_col_text(stmt, 9);
	v->address = st_col_text(stmt, 10);
	v->username = st_col_text(stmt, 11);
	v->auth_secret = st_col_text(stmt, 12);
	v->template_version = sqlite3_column_int64(stmt, 13);
	v->state = st_col_vm_state(stmt, 14);
	v->created_at = sqlite3_column_int64(stmt, 15);
}

char *cl_vm_name(const char *lab, const char *student)
{
	return cl_aprintf("%s-%s", lab, student ? student : "template");
}

/*
 * Which UNIQUE value of vm another VM holds, asked of the rows rather than of
 * SQLite's message text. Leaves the error (the refused write's) as it is.
 */
static cl_vm_unique vm_conflict(cl_store *st, const cl_vm *vm)
{
	sqlite3_stmt *stmt = NULL;
	cl_vm_unique which = CL_VM_UNIQUE_NONE;

	if (sqlite3_prepare_v2(
		st->db,
		"SELECT uuid = ?2, mac = ?3, instance_id = ?5 FROM vms WHERE name != ?1 AND "
		"(uuid = ?2 OR mac = ?3 OR instance_id = ?5 OR "
		"(?6 != 'attached' AND kind != 'attached' AND ssh_port = ?4)) LIMIT 1",
		-1, &stmt, NULL) != SQLITE_OK) {
		sqlite3_finalize(stmt);
		return which;
	}
	st_bind_text(stmt, 1, vm->name);
	st_bind_text(stmt, 2, vm->uuid);
	st_bind_text(stmt, 3, vm->mac);
	st_bind_int_or_null(stmt, 4, vm->ssh_port, 0);
	st_bind_text(stmt, 5, vm->instance_id);
	st_bind_text(stmt, 6, cl_vm_kind_name(vm->kind));
	if (sqlite3_step(stmt) == SQLITE_ROW)
		which = sqlite3_column_int(stmt, 0)   ? CL_VM_UNIQUE_UUID
			: sqlite3_column_int(stmt, 1) ? CL_VM_UNIQUE_MAC
			: sqlite3_column_int(stmt, 2) ? CL_VM_UNIQUE_INSTANCE_ID
						      : CL_VM_UNIQUE_PORT;
	sqlite3_finalize(stmt);
	return which;
}

int cl_store_vm_put(cl_store *st, cl_vm *vm, cl_vm_unique *conflict)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (conflict)
		*conflict = CL_VM_UNIQUE_NONE;
	if (!vm->created_at)
		vm->created_at = (int64_t)time(NULL);
	rc = st_prepare(
		st, &stmt,
		"INSERT INTO vms (lab_id, student_id, name, kind, uuid, mac, ssh_port, instance_id, "
		"host_key_pub, address, username, auth_secret, template_version, state, "
		"created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
		"?15) ON CONFLICT (name) DO UPDATE SET lab_id = ?1, student_id = ?2, kind = ?4, "
		"uuid = ?5, mac = ?6, ssh_port = ?7, instance_id = ?8, host_key_pub = ?9, "
		"address = ?10, username = ?11, auth_secret = ?12, "
		"template_version = ?13, state = ?14 RETURNING id");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, vm->lab_id);
	st_bind_int_or_null(stmt, 2, vm->student_id, 0);
	st_bind_text(stmt, 3, vm->name);
	st_bind_text(stmt, 4, cl_vm_kind_name(vm->kind));
	st_bind_text(stmt, 5, vm->uuid);
	st_bind_text(stmt, 6, vm->mac);
	st_bind_int_or_null(stmt, 7, vm->ssh_port, 0);
	st_bind_text(stmt, 8, vm->instance_id);
	st_bind_text(stmt, 9, vm->host_key_pub);
	st_bind_text(stmt, 10, vm->address);
	st_bind_text(stmt, 11, vm->username);
	st_bind_text(stmt, 12, vm->auth_secret);
	sqlite3_bind_int64(stmt, 13, vm->template_version);
	st_bind_text(stmt, 14, cl_vm_state_name(vm->state));
	sqlite3_bind_int64(stmt, 15, vm->created_at);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		vm->id = sqlite3_column_int64(stmt, 0);
		rc = 0;
	} else {
		rc = st_fail(st, "cannot save VM record");
	}
	sqlite3_finalize(stmt);
	if (rc == CL_EEXIST && conflict)
		*conflict = vm_conflict(st, vm);
	if (rc)
		cl_error_wrap("VM '%s'", vm->name);
	return rc;
}

/* A kind or state word no table has (a newer classlab's, or an edit by hand) is refused. */
static int vms_check(cl_vm *vms, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (vms[i].kind >= CL_VM_KIND_COUNT || vms[i].state >= CL_VM_STATE_COUNT)
			return cl_error_set(
			    CL_EFAIL, "VM '%s' has a %s this classlab does not know", vms[i].name,
			    vms[i].kind >= CL_VM_KIND_COUNT ? "kind" : "state");
	return 0;
}

int cl_store_vm_get(cl_store *st, const char *name, cl_vm *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "SELECT " VM_COLS " FROM vms WHERE name = ?");
	if (rc)
		return rc;
	st_bind_text(stmt, 1, name);
	rc = st_one(st, stmt, vm_row, out, sizeof(*out), "cannot read VMs");
	if (rc == CL_ENOTFOUND)
		rc = cl_error_set(CL_ENOTFOUND, "VM '%s' not found", name);
	else if (rc == 0 && (rc = vms_check(out, 1)))
		cl_vm_clear(out);
	return rc;
}

int cl_store_vm_list(cl_store *st, int64_t lab_id, cl_vm **out, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "SELECT " VM_COLS " FROM vms WHERE lab_id = ? "
				       "ORDER BY student_id IS NOT NULL, student_id, id");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, lab_id);
	rc = st_list(st, stmt, sizeof(cl_vm), vm_row, (void (*)(void *))cl_vm_clear, (void **)out,
		     n, "cannot list VMs");
	sqlite3_finalize(stmt);
	if (rc == 0 && (rc = vms_check(*out, *n))) {
		cl_vm_list_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int cl_store_vm_delete(cl_store *st, const char *name)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "DELETE FROM vms WHERE name = ?");
	if (rc)
		return rc;
	st_bind_text(stmt, 1, name);
	rc = st_exec_stmt(st, stmt, "cannot delete VM record");
	sqlite3_finalize(stmt);
	return rc;
}

static void int64_row(sqlite3_stmt *stmt, void *p)
{
	*(int64_t *)p = sqlite3_column_int64(stmt, 0);
}

int cl_store_ports_used(cl_store *st, int64_t **ports, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "SELECT ssh_port FROM vms WHERE ssh_port IS NOT NULL AND kind != "
			    "'attached' ORDER BY ssh_port");
	if (rc == 0)
		rc = st_list(st, stmt, sizeof(int64_t), int64_row, NULL, (void **)ports, n,
			     "cannot list ports");
	sqlite3_finalize(stmt);
	return rc;
}

static void text_row(sqlite3_stmt *stmt, void *p)
{
	*(char **)p = st_col_text(stmt, 0);
}

static void text_clear(void *p)
{
	free(*(char **)p);
}

int cl_store_gpus_used(cl_store *st, char ***addrs, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "SELECT address FROM gpus ORDER BY 1");
	if (rc == 0)
		rc = st_list(st, stmt, sizeof(char *), text_row, text_clear, (void **)addrs, n,
			     "cannot list GPU assignments");
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_vm_gpus(cl_store *st, int64_t vm_id, char ***addrs, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "SELECT address FROM gpus WHERE vm_id = ? ORDER BY 1");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, vm_id);
	rc = st_list(st, stmt, sizeof(char *), text_row, text_clear, (void **)addrs, n,
		     "cannot list the VM's GPUs");
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_gpu_assign(cl_store *st, int64_t vm_id, const char *address)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "INSERT INTO gpus (address, vm_id) VALUES (?, ?)");
	if (rc)
		return rc;
	st_bind_text(stmt, 1, address);
	sqlite3_bind_int64(stmt, 2, vm_id);
	rc = st_exec_stmt(st, stmt, "cannot assign GPU");
	if (rc == CL_EEXIST)
		rc = cl_error_set(CL_EEXIST, "GPU %s is already assigned to another VM", address);
	sqlite3_finalize(stmt);
	return rc;
}

static bool pid_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* A small file under /proc, NUL-terminated; false when unreadable. */
static bool read_proc(long pid, const char *what, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/%s", pid, what);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); 0 if unknown. */
static int64_t pid_start_time(long pid)
{
	char buf[1024], *p;
	long long start = 0;

	if (pid <= 0 || !read_proc(pid, "stat", buf, sizeof(buf)))
		return 0;
	/* comm (field 2) may hold spaces and ')': fields 3.. follow its last ')'. */
	if (!(p = strrchr(buf, ')')))
		return 0;
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %lld", &start) != 1 || start < 0)
		return 0;
	return (int64_t)start;
}

/*
 * Does the lock's holder still run? The pid alone does not say: the kernel reuses
 * pids. With a start time, the process at pid must have started then; without one
 * (a lock from before schema 4), it must at least be a classlab.
 */
static bool holder_alive(long pid, int64_t start)
{
	char comm[64];
	int64_t now;

	if (!pid_alive(pid))
		return false;
	if (start > 0 && (now = pid_start_time(pid)) > 0)
		return now == start;
	if (start == 0 && read_proc(pid, "comm", comm, sizeof(comm)))
		return strncmp(comm, "classlab", 8) == 0;
	return true; /* nothing to tell: assume it runs */
}

/* The lab's lock row: 0, CL_ENOTFOUND when there is none, or the error. */
static int lock_get(cl_store *st, const char *lab, char **kind, long *pid, int64_t *start,
		    int64_t *since)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	*kind = NULL;
	if ((rc = st_prepare(st, &stmt, "SELECT kind, pid, pid_start, since FROM locks WHERE lab = ?")))
		return rc;
	st_bind_text(stmt, 1, lab);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*kind = st_col_text(stmt, 0);
		*pid = (long)sqlite3_column_int64(stmt, 1);
		*start = sqlite3_column_int64(stmt, 2);
		*since = sqlite3_column_int64(stmt, 3);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = CL_ENOTFOUND;
	} else {
		rc = st_fail(st, "cannot read locks");
	}
	sqlite3_finalize(stmt);
	return rc;
}

static char *describe(long pid, const char *kind, int64_t since)
{
	char *t = cl_format_time(since);
	char *d = cl_aprintf("pid %ld, since %s, %s", pid, t, kind ? kind : "?");
	free(t);
	return d;
}

int cl_store_lab_lock(cl_store *st, const char *lab, const char *kind, long pid)
{
	sqlite3_stmt *stmt = NULL;
	char *hkind = NULL;
	long holder = 0;
	int64_t hstart = 0, since = 0;
	int rc;

	if ((rc = cl_store_begin(st)))
		return rc;
	rc = lock_get(st, lab, &hkind, &holder, &hstart, &since);
	if (rc == 0 && holder != pid && holder_alive(holder, hstart)) {
		char *d = describe(holder, hkind, since);
		rc = cl_error_set(CL_EEXIST, "lab '%s' is busy (%s)", lab, d);
		free(d);
		goto out;
	}
	if (rc && rc != CL_ENOTFOUND)
		goto out;
	/* Free, ours already, or left by a process that is gone: take it. */
	if ((rc = st_prepare(st, &stmt,
			     "INSERT OR REPLACE INTO locks (lab, kind, pid, pid_start, since) "
			     "VALUES (?, ?, ?, ?, ?)")))
		goto out;
	st_bind_text(stmt, 1, lab);
	st_bind_text(stmt, 2, kind);
	sqlite3_bind_int64(stmt, 3, pid);
	sqlite3_bind_int64(stmt, 4, pid_start_time(pid));
	sqlite3_bind_int64(stmt, 5, (int64_t)time(NULL));
	if ((rc = st_exec_stmt(st, stmt, "cannot take the lab lock")))
		goto out;
	rc = cl_store_commit(st);
out:
	sqlite3_finalize(stmt);
	free(hkind);
	if (rc)
		cl_store_rollback(st);
	return rc;
}

int cl_store_lab_unlock(cl_store *st, const char *lab, long pid)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "DELETE FROM locks WHERE lab = ? AND pid = ?");
	if (rc)
		return rc;
	st_bind_text(stmt, 1, lab);
	sqlite3_bind_int64(stmt, 2, pid);
	rc = st_exec_stmt(st, stmt, "cannot release the lab lock");
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_lab_unlock_stale(cl_store *st, const char *lab, bool *held, char **holder)
{
	sqlite3_stmt *stmt = NULL;
	char *kind = NULL, *d = NULL;
	long pid = 0;
	int64_t start = 0, since = 0;
	int rc;

	*held = false;
	if (holder)
		*holder = NULL;
	if ((rc = cl_store_begin(st)))
		return rc;
	rc = lock_get(st, lab, &kind, &pid, &start, &since);
	if (rc == CL_ENOTFOUND) {
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	*held = true;
	d = describe(pid, kind, since);
	if (holder_alive(pid, start)) {
		rc = cl_error_set(CL_EEXIST,
				  "lab '%s' is locked by a running classlab (%s): let it finish or "
				  "stop it first",
				  lab, d);
		goto out;
	}
	if ((rc = st_prepare(st, &stmt, "DELETE FROM locks WHERE lab = ? AND pid = ?")))
		goto out;
	st_bind_text(stmt, 1, lab);
	sqlite3_bind_int64(stmt, 2, pid);
	if ((rc = st_exec_stmt(st, stmt, "cannot release the lab lock")))
		goto out;
	if (holder) {
		*holder = d;
		d = NULL;
	}
out:
	sqlite3_finalize(stmt);
	free(kind);
	free(d);
	return cl_store_end(st, rc);
}

int cl_store_event_add(cl_store *st, const char *lab, const char *kind, const char *detail)
{
	return cl_store_event_add_at(st, (int64_t)time(NULL), lab, kind, detail);
}

int cl_store_event_add_at(cl_store *st, int64_t at, const char *lab, const char *kind,
			  const char *detail)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt, "INSERT INTO events (at, lab, kind, detail) VALUES (?, ?, ?, ?)");
	if (rc)
		return rc;
	sqlite3_bind_int64(stmt, 1, at);
	st_bind_text(stmt, 2, lab);
	st_bind_text(stmt, 3, kind);
	st_bind_text(stmt, 4, detail);
	rc = st_exec_stmt(st, stmt, "cannot record event");
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_event_last(cl_store *st, const char *lab, const char *kind, char **detail)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "SELECT detail FROM events WHERE lab = ? AND kind = ? ORDER BY id DESC LIMIT 1");

	*detail = NULL;
	if (rc)
		return rc;
	st_bind_text(stmt, 1, lab);
	st_bind_text(stmt, 2, kind);
	int step = sqlite3_step(stmt);
	if (step == SQLITE_ROW) {
		const unsigned char *d = sqlite3_column_text(stmt, 0);
		*detail = cl_strdup(d ? (const char *)d : "");
	} else if (step != SQLITE_DONE) {
		rc = st_fail(st, "cannot read events");
	}
	sqlite3_finalize(stmt);
	return rc;
}

int cl_store_event_find(cl_store *st, const char *lab, const char *kind, const char *detail,
			bool *found)
{
	sqlite3_stmt *stmt = NULL;
	int rc = st_prepare(st, &stmt,
			    "SELECT 1 FROM events WHERE lab = ? AND kind = ? AND detail = ? LIMIT 1");

	*found = false;
	if (rc)
		return rc;
	st_bind_text(stmt, 1, lab);
	st_bind_text(stmt, 2, kind);
	st_bind_text(stmt, 3, detail);
	int step = sqlite3_step(stmt);
	if (step == SQLITE_ROW)
		*found = true;
	else if (step != SQLITE_DONE)
		rc = st_fail(st, "cannot read events");
	sqlite3_finalize(stmt);
	return rc;
}
