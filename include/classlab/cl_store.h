/*
 * The store: one SQLite file holding sizes, labs, students, schedules, VMs,
 * usage and operations. The only module with SQL in it; every statement is
 * prepared with bound parameters. Strings in returned structs are owned by
 * the struct and released by its *_clear function.
 */
#ifndef CL_STORE_H
#define CL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cl_store cl_store;

/* The newest schema version; older files are migrated on open. */
#define CL_STORE_SCHEMA_VERSION 7

/*
 * Opens (creating if needed) the database at path: parent directory 0700,
 * file 0600, WAL, foreign keys, busy timeout, migrations. Built-in sizes
 * are inserted on creation.
 */
int cl_store_open(cl_store **out, const char *path);
void cl_store_close(cl_store *st);
int cl_store_schema_version(cl_store *st, int *version);

/* Write transactions: BEGIN IMMEDIATE, so two writers queue instead of failing late. */
int cl_store_begin(cl_store *st);
/* A read snapshot: several queries see one state of the database. End it with commit. */
int cl_store_begin_read(cl_store *st);
int cl_store_commit(cl_store *st);
void cl_store_rollback(cl_store *st);
/* Ends the transaction: commits when rc is 0, else rolls back. Returns rc, or the commit's error. */
int cl_store_end(cl_store *st, int rc);
/* PRAGMA integrity_check == "ok". */
int cl_store_check(cl_store *st);

typedef struct cl_size {
	char *name;
	int64_t lab_units; /* per hour */
	int64_t vcpus;
	int64_t memory_mib;
	int64_t gpus;
	bool builtin;
} cl_size;
void cl_size_clear(cl_size *s);
void cl_size_list_free(cl_size *s, size_t n);
int cl_store_size_get(cl_store *st, const char *name, cl_size *out);
int cl_store_size_list(cl_store *st, cl_size **out, size_t *n);
/* Inserts or replaces a size (builtin flag is cleared: it is the admin's now). */
int cl_store_size_put(cl_store *st, const cl_size *s);

/*
 * Host ports for the VMs' SSH forwards unless a lab file says otherwise: above
 * Linux's ephemeral range (32768-60999), so that no outgoing connection of the
 * host takes a port a stopped VM needs.
 */
#define CL_PORT_MIN_DEFAULT 61000
#define CL_PORT_MAX_DEFAULT 65535

/*
 * Where a lab's template stands. Each state and kind below has one name table
 * (store/states.c): the words are what the database keeps and what people see.
 * *_name returns NULL for a value outside the enum; *_parse is CL_EINVAL for a
 * word that names nothing.
 */
typedef enum cl_template_state {
	CL_TEMPLATE_NONE = 0,  /* no template: never built, or the lab was taken down */
	CL_TEMPLATE_BUILDING,  /* a build began and has not finished */
	CL_TEMPLATE_BUILT,
	CL_TEMPLATE_VERIFIED,  /* built, and passed template verify */
	CL_TEMPLATE_PUBLISHED, /* students have clones of it */
	CL_TEMPLATE_OUTDATED,  /* published, then the lab file changed its image or customisation */
	CL_TEMPLATE_STATE_COUNT
} cl_template_state;
const char *cl_template_state_name(cl_template_state s);
int cl_template_state_parse(const char *s, cl_template_state *out);

typedef struct cl_lab {
	int64_t id;
	char *name;
	char *size;
	char *image;	/* "tiny" or a path to a cloud image */
	char *username; /* guest login, default "student" */
	int64_t scheduled_seconds;
	int64_t quota_seconds; /* default per-student quota */
	int64_t price_micro;   /* per lab-unit-hour, in 1e-6 dollars */
	char *listen;	       /* host address SSH forwards bind to */
	char *public_host;     /* host name students connect to */
	int64_t port_min, port_max; /* 0: CL_PORT_MIN/MAX_DEFAULT */
	int64_t memory_mib; /* 0: from the size */
	int64_t vcpus;	    /* 0: from the size */
	char *spec_json;    /* lab-file extras (customize, gpu) as JSON, or NULL */
	int64_t template_version;
	cl_template_state template_state;
	int64_t verified_version;
	int64_t created_at;
	char *boot_kernel; /* the built template's direct kernel boot, or NULL */
	char *boot_initrd;
	char *boot_cmdline;
	char *hv_uri; /* the hypervisor its VMs live on, or NULL before the first */
} cl_lab;
void cl_lab_clear(cl_lab *lab);
void cl_lab_list_free(cl_lab *labs, size_t n);
/*
 * Fills lab->id. CL_EEXIST if the name is taken, CL_ENOTFOUND for an unknown size,
 * CL_EINVAL if another lab has a VM or student named <name>-template[-*].
 */
int cl_store_lab_create(cl_store *st, cl_lab *lab);
int cl_store_lab_update(cl_store *st, const cl_lab *lab);
int cl_store_lab_get(cl_store *st, const char *name, cl_lab *out);
/*
 * Records uri as the hypervisor of the lab's VMs unless one is recorded, and
 * returns the one recorded now (new string): uri, or whichever came first.
 */
int cl_store_lab_claim_hv(cl_store *st, int64_t lab_id, const char *uri, char **bound);
int cl_store_lab_list(cl_store *st, cl_lab **out, size_t *n);
/* Removes the lab and (by cascade) its students, schedules and VM records. */
int cl_store_lab_delete(cl_store *st, const char *name);

#define CL_QUOTA_DEFAULT (-1)
/* The most students one lab may have (add, import and up alike: CL_EINVAL past it). */
#define CL_STORE_LAB_STUDENTS_MAX 100000
typedef struct cl_student {
	int64_t id;
	int64_t lab_id;
	char *name;
	char *email;	      /* may be NULL */
	int64_t quota_seconds; /* CL_QUOTA_DEFAULT: the lab's */
	char *ssh_public_key; /* supplied by the roster, or NULL */
} cl_student;
void cl_student_clear(cl_student *s);
void cl_student_list_free(cl_student *s, size_t n);
/*
 * CL_EEXIST if the lab has a student of that name. CL_EINVAL if the lab is full
 * (CL_STORE_LAB_STUDENTS_MAX) or the VM name <lab>-<student> would be ambiguous:
 * another lab's VM or student, or a template's (<lab>-template[-*]: "template" is
 * not a student name). Call inside a write transaction.
 */
int cl_store_student_add(cl_store *st, cl_student *s);
/*
 * The checks adding would make, without adding: the lab's name (when lab_id
 * is 0, a lab not created yet) and each student's VM name <lab>-<student> are
 * free and unambiguous. CL_EINVAL names the first clash.
 */
int cl_store_names_check(cl_store *st, const char *lab, int64_t lab_id, const char *const *students,
			 size_t n);
/* Adds n students as cl_store_student_add would, stopping at the first refused (*failed). */
int cl_store_students_add(cl_store *st, cl_student *s, size_t n, size_t *failed);
int cl_store_student_get(cl_store *st, int64_t lab_id, const char *name, cl_student *out);
/* In the roster's order (the order they were added). */
int cl_store_student_list(cl_store *st, int64_t lab_id, cl_student **out, size_t *n);
int cl_store_student_remove(cl_store *st, int64_t lab_id, const char *name);
int cl_store_student_set_quota(cl_store *st, int64_t lab_id, const char *name, int64_t seconds);

typedef struct cl_schedule {
	int64_t id;
	int64_t lab_id;
	int64_t start, end;   /* Unix seconds */
	int64_t weekly_until; /* 0: once; else repeat weekly while start < this */
} cl_schedule;
int cl_store_schedule_add(cl_store *st, cl_schedule *s);
int cl_store_schedule_list(cl_store *st, int64_t lab_id, cl_schedule **out, size_t *n);
/* Every lab's events, ordered by lab id then start. */
int cl_store_schedule_list_all(cl_store *st, cl_schedule **out, size_t *n);

/* Per-lab aggregates for estimates: students and the sum of their effective quotas. */
typedef struct cl_lab_totals {
	int64_t lab_id;
	int64_t students;
	int64_t quota_seconds_sum; /* sum over students of own-or-lab quota */
	int64_t overrides;	   /* students with their own quota */
	int64_t lab_units;	   /* of the lab's size, per hour */
} cl_lab_totals;
int cl_store_lab_totals(cl_store *st, int64_t lab_id, cl_lab_totals *out);
/* One row per lab in name order, from a single grouped query (the admin report). */
int cl_store_lab_totals_all(cl_store *st, cl_lab_totals **out, size_t *n);

/* --- VMs: one row per domain classlab made (template, students) or attached --- */

typedef enum cl_vm_kind {
	CL_VM_KIND_TEMPLATE = 0,
	CL_VM_KIND_STUDENT,
	CL_VM_KIND_ATTACHED, /* a machine classlab did not create */
	CL_VM_KIND_COUNT
} cl_vm_kind;
const char *cl_vm_kind_name(cl_vm_kind k);
int cl_vm_kind_parse(const char *s, cl_vm_kind *out);

/* What classlab last did to the VM (libvirt has the live state). */
typedef enum cl_vm_state {
	CL_VM_STATE_PLANNED = 0, /* record saved, no domain yet (or a new disk is due) */
	CL_VM_STATE_DEFINED,
	CL_VM_STATE_RUNNING,
	CL_VM_STATE_STOPPED,
	CL_VM_STATE_ATTACHED, /* an attached machine: classlab does not run it */
	CL_VM_STATE_COUNT
} cl_vm_state;
const char *cl_vm_state_name(cl_vm_state s);
int cl_vm_state_parse(const char *s, cl_vm_state *out);

/*
 * The naming rule: a student's VM is "<lab>-<student>", the lab's template VM
 * (student NULL) "<lab>-template". New string. The store's SQL checks that keep
 * names unambiguous across labs spell the same rule (l.name || '-' || s.name).
 */
char *cl_vm_name(const char *lab, const char *student);

typedef struct cl_vm {
	int64_t id;
	int64_t lab_id;
	int64_t student_id; /* 0 for the template */
	char *name;	    /* <lab>-template or <lab>-<student> */
	cl_vm_kind kind;
	char *uuid;
	char *mac;
	int64_t ssh_port;
	char *instance_id;
	char *host_key_pub; /* pinned host key (public line) */
	char *address;	    /* host students use, or the attached machine */
	char *username;
	char *auth_secret; /* attached: private key path or password crypt hash, or NULL */
	int64_t template_version;
	cl_vm_state state;
	int64_t created_at;
} cl_vm;
void cl_vm_clear(cl_vm *vm);
void cl_vm_list_free(cl_vm *vms, size_t n);
/* The UNIQUE column another VM already holds when cl_store_vm_put is refused. */
typedef enum cl_vm_unique {
	CL_VM_UNIQUE_NONE = 0, /* no conflict with another VM (or the failure was not one) */
	CL_VM_UNIQUE_UUID,
	CL_VM_UNIQUE_MAC,
	CL_VM_UNIQUE_PORT, /* ssh_port, among VMs that are not attached */
	CL_VM_UNIQUE_INSTANCE_ID,
} cl_vm_unique;
/*
 * Inserts or updates by name (UNIQUE name, uuid, mac, ssh_port, instance_id).
 * CL_EEXIST when another VM holds one of those values; then *conflict (may be
 * NULL) names it, so a caller can draw that value again (exact inside a write
 * transaction; else another writer may have changed things since).
 */
int cl_store_vm_put(cl_store *st, cl_vm *vm, cl_vm_unique *conflict);
int cl_store_vm_get(cl_store *st, const char *name, cl_vm *out);
/* The template first, then students' VMs in the roster's order. */
int cl_store_vm_list(cl_store *st, int64_t lab_id, cl_vm **out, size_t *n);
int cl_store_vm_delete(cl_store *st, const char *name);
/* Every SSH port any VM holds, sorted, for allocation. */
int cl_store_ports_used(cl_store *st, int64_t **ports, size_t *n);
/* GPU PCI addresses already assigned to some VM (free each, then the array). */
int cl_store_gpus_used(cl_store *st, char ***addrs, size_t *n);
/* The GPUs assigned to one VM. */
int cl_store_vm_gpus(cl_store *st, int64_t vm_id, char ***addrs, size_t *n);
/* Gives a GPU to a VM; CL_EEXIST when another VM has it. Inside a transaction. */
int cl_store_gpu_assign(cl_store *st, int64_t vm_id, const char *address);

/* --- operations: progress and the per-lab busy lock --- */
/*
 * Takes the lab's lock for `kind` (publish, up, down, ...) for this pid, noting
 * the pid's start time. CL_EEXIST "lab 'X' is busy (pid N, since T)" while its
 * holder runs; a lock whose holder is gone is taken over, even when the kernel
 * has given its pid to another process since (the start time differs; for a lock
 * from before schema 4, the process is not a classlab).
 */
int cl_store_lab_lock(cl_store *st, const char *lab, const char *kind, long pid);
int cl_store_lab_unlock(cl_store *st, const char *lab, long pid);
/*
 * `classlab lab unlock`: removes the lab's lock when its holder is gone.
 * CL_EEXIST while the holder runs (nothing changes); 0 with *held false when
 * there was no lock. *holder (may be NULL) describes the lock: new string.
 */
int cl_store_lab_unlock_stale(cl_store *st, const char *lab, bool *held, char **holder);

/* The audit log: forced actions and warnings worth keeping. */
int cl_store_event_add(cl_store *st, const char *lab, const char *kind, const char *detail);
/* The same at a given time (the handle's clock). */
int cl_store_event_add_at(cl_store *st, int64_t at, const char *lab, const char *kind,
			  const char *detail);
/* The detail of the lab's newest event of kind (new string), or NULL when there is none. */
int cl_store_event_last(cl_store *st, const char *lab, const char *kind, char **detail);
/* Whether the lab has an event of kind with exactly this detail. */
int cl_store_event_find(cl_store *st, const char *lab, const char *kind, const char *detail,
			bool *found);

/* --- metering (store/meter.c): run intervals, the service's lab settings, quota flags --- */

/* How a run interval was closed (one name table: store/states.c). */
typedef enum cl_run_closed {
	CL_RUN_OPEN = 0,	/* still open: the VM runs, or ran when last seen */
	CL_RUN_CLOSED_EVENT,	/* a stop event from the hypervisor */
	CL_RUN_CLOSED_RECONCILE, /* found open at start-up: closed at its last_seen */
	CL_RUN_CLOSED_SERVICE,	/* the service stopped cleanly while the VM ran */
	CL_RUN_CLOSED_CLOCK,	/* a gap or clock step: closed at last_seen + one heartbeat */
	CL_RUN_CLOSED_COUNT
} cl_run_closed;
const char *cl_run_closed_name(cl_run_closed c);
int cl_run_closed_parse(const char *s, cl_run_closed *out);

typedef struct cl_run_interval {
	int64_t id;
	int64_t lab_id;
	char *vm_name;
	char *student;
	int64_t start;
	int64_t end; /* -1 while open */
	int64_t last_seen;
	cl_run_closed closed_by;
	int64_t uncertain_seconds;
} cl_run_interval;
void cl_run_interval_clear(cl_run_interval *r);
void cl_run_interval_list_free(cl_run_interval *r, size_t n);

/*
 * Opens an interval for the student VM named vm at start (last_seen = start).
 * CL_ENOTFOUND when no student VM has that name (nothing is metered for it);
 * CL_EEXIST when the VM already has an open interval. Fills *id (may be NULL).
 */
int cl_store_run_open(cl_store *st, const char *vm, int64_t start, int64_t *id);
/* The VM's open interval; CL_ENOTFOUND (no message) when it has none. */
int cl_store_run_open_get(cl_store *st, const char *vm, cl_run_interval *out);
/* Every open interval, by VM name. */
int cl_store_run_open_list(cl_store *st, cl_run_interval **out, size_t *n);
/* The latest end of the VM's closed intervals, or 0 when it has none. */
int cl_store_run_last_end(cl_store *st, const char *vm, int64_t *end);
/* Moves an open interval's last_seen forward (never back: the store keeps the maximum). */
int cl_store_run_seen(cl_store *st, int64_t id, int64_t t);
/* Closes an open interval; CL_EINVAL (from the schema) for end < start. */
int cl_store_run_close(cl_store *st, int64_t id, int64_t end, cl_run_closed how,
		       int64_t uncertain_seconds);
/* Intervals of a lab (lab_id 0: every lab) that overlap [from, to), by lab, VM, start. */
int cl_store_run_list(cl_store *st, int64_t lab_id, int64_t from, int64_t to,
		      cl_run_interval **out, size_t *n);

/* What the service does with a lab's VMs; the schema's defaults are these macros. */
#define CL_IDLE_MINUTES_DEFAULT 20
#define CL_IDLE_MINUTES_MAX 10080
#define CL_LEAD_MINUTES_DEFAULT 10
#define CL_LEAD_MINUTES_MAX 1440
#define CL_STOP_GRACE_DEFAULT 60
#define CL_STOP_GRACE_MAX 3600
typedef enum cl_stop_mode { CL_STOP_SHUTDOWN = 0, CL_STOP_SAVE, CL_STOP_MODE_COUNT } cl_stop_mode;
const char *cl_stop_mode_name(cl_stop_mode m);
int cl_stop_mode_parse(const char *s, cl_stop_mode *out);
typedef struct cl_lab_service {
	int64_t idle_minutes; /* 0: never stop an idle VM */
	cl_stop_mode stop_mode;
	int64_t lead_minutes; /* VMs start this long before a class, and it counts as class */
	int64_t stop_grace_seconds; /* ACPI shutdown, then power off after this */
} cl_lab_service;
int cl_store_lab_service_get(cl_store *st, int64_t lab_id, cl_lab_service *out);
/* CL_EINVAL when a value is outside the schema's bounds. */
int cl_store_lab_service_set(cl_store *st, int64_t lab_id, const cl_lab_service *s);

/* A student's quota as metering sees it. */
typedef struct cl_quota_status {
	char *student;
	int64_t quota_seconds; /* the student's own, else the lab's */
	bool own_quota;
	bool exempt;
	int64_t warned_seconds; /* the quota in force when the 90 % warning went; -1: none */
} cl_quota_status;
void cl_quota_status_list_free(cl_quota_status *q, size_t n);
/* Every student of the lab, in the roster's order. */
int cl_store_quota_status_list(cl_store *st, int64_t lab_id, cl_quota_status **out, size_t *n);
/* CL_ENOTFOUND for an unknown student. */
int cl_store_student_set_exempt(cl_store *st, int64_t lab_id, const char *name, bool exempt);
/* Records the quota at which the 90 % warning was sent (-1 forgets it). */
int cl_store_student_set_warned(cl_store *st, int64_t lab_id, const char *name,
				int64_t quota_seconds);

/*
 * The web page's invitations and sessions (schema 7). Tokens never reach the store:
 * only their SHA-256 (32 bytes). A grant names who a token stands for: an admin
 * (lab and student NULL) or one student of one lab.
 */
typedef struct cl_web_grant {
	bool admin;
	char *lab, *student; /* NULL for an admin */
	char *csrf;	     /* sessions only */
	int64_t expires;     /* sessions only */
} cl_web_grant;
void cl_web_grant_clear(cl_web_grant *g);
/*
 * A new invitation for the student (lab and student) or an admin (both NULL). A
 * student's earlier unused invitations are dropped: the last link issued is the one
 * that works. CL_ENOTFOUND for an unknown lab or student.
 */
int cl_store_invite_put(cl_store *st, const char *lab, const char *student,
			const unsigned char hash[32], int64_t now);
/*
 * Takes an unused invitation once: marks it used and fills *out. CL_ENOTFOUND (no
 * message) when no unused invitation has that hash. The caller holds a transaction.
 */
int cl_store_invite_take(cl_store *st, const unsigned char hash[32], int64_t now,
			 cl_web_grant *out);
/*
 * Revokes a student's (or, with both NULL, every admin's) unused invitations and
 * sessions. *n gets how many rows went. CL_ENOTFOUND for an unknown lab or student.
 */
int cl_store_web_revoke(cl_store *st, const char *lab, const char *student, int64_t *n);
int cl_store_session_put(cl_store *st, const unsigned char hash[32], const cl_web_grant *g,
			 int64_t now);
/* A session that has not expired at now; CL_ENOTFOUND (no message) otherwise. */
int cl_store_session_get(cl_store *st, const unsigned char hash[32], int64_t now,
			 cl_web_grant *out);
int cl_store_session_delete(cl_store *st, const unsigned char hash[32]);

#endif
