/*
 * Labs and their students as records: validated creation, roster import (CSV, all or
 * nothing), quotas, schedules, sizes, and the strict lab file. Everything is checked
 * before anything is written; a rejected call leaves the store as it was.
 */
#ifndef CL_LABS_H
#define CL_LABS_H

#include "classlab/cl_ctx.h"
#include "classlab/cl_store.h"
#include "classlab/cl_util.h"

#include <stdbool.h>

#define CL_ROSTER_MAX_BYTES (16u << 20)
#define CL_ROSTER_MAX_ROWS CL_STORE_LAB_STUDENTS_MAX
#define CL_EMAIL_MAX 254

/* An email address for display and notices: one '@', no spaces/controls, no formula lead. */
int cl_email_check(const char *email);
/* An SSH public key line a student supplied (delegates to the SSH module's strict parser). */
int cl_student_key_check(const char *key);

/* Creates a lab after validating every field (name, size, username, hours, price, ports). */
int cl_labs_create(cl_ctx *ctx, cl_lab *lab);
/*
 * A lab's image: the built-in "tiny", or an absolute path to a raw or qcow2 file
 * whose header names no other file (cl_image_check). lab create and up both ask.
 */
int cl_lab_image_check(const char *image);
/* Updates a lab's settings after the same validation. */
int cl_labs_update(cl_ctx *ctx, const cl_lab *lab);
/* Deletes the lab's records (VMs must already be gone: see cl_down). */
int cl_labs_delete(cl_ctx *ctx, const char *name);

typedef struct cl_roster_row {
	int line; /* 1-based line where the record starts */
	char *name;
	char *email;
	int64_t quota_seconds; /* CL_QUOTA_DEFAULT when the cell was empty */
	char *ssh_public_key;
} cl_roster_row;
void cl_roster_free(cl_roster_row *rows, size_t n);

/*
 * Parses a roster: header `name,email[,quota_hours[,ssh_public_key]]` (any
 * order, name required), RFC 4180 quoting, UTF-8 with optional BOM, CRLF or
 * LF. Every bad row is appended to errors as "line N: why\n"; returns
 * CL_EINVAL if there was any.
 */
int cl_roster_parse(const char *data, size_t len, cl_roster_row **rows, size_t *n,
		    cl_buf *errors);

/*
 * Adds every row to the lab in one transaction, or none: a name already in
 * the lab or twice in the file is reported with its line (CL_EEXIST if
 * that is the only problem).
 */
int cl_students_import(cl_ctx *ctx, const char *lab, const cl_roster_row *rows, size_t n,
		       cl_buf *errors);
int cl_students_add(cl_ctx *ctx, const char *lab, cl_student *s);
/* Removing a student revokes their VM and keys: cl_student_revoke (cl_templates.h). */
/* student NULL: the lab's default quota. seconds CL_QUOTA_DEFAULT resets a student's. */
int cl_quota_set(cl_ctx *ctx, const char *lab, const char *student, int64_t seconds);
int cl_schedule_add(cl_ctx *ctx, const char *lab, cl_schedule *s);

/* Rewrites <lab dir>/known_hosts from the lab's VM records ([public_host]:port key). */
int cl_known_hosts_write(cl_ctx *ctx, const cl_lab *lab);

/* ---- reads and whole-lab changes: what a front end calls instead of the store ---- */

/* The lab by name (checked as a name first): CL_ENOTFOUND when there is none. */
int cl_labs_get(cl_ctx *ctx, const char *name, cl_lab *out);
/* Every lab, by name (cl_lab_list_free). */
int cl_labs_list(cl_ctx *ctx, cl_lab **out, size_t *n);
/* The lab's students by name (cl_student_list_free); *lab_out (may be NULL) gets the lab. */
int cl_students_list(cl_ctx *ctx, const char *lab, cl_lab *lab_out, cl_student **out, size_t *n);
/* The lab's schedule events by start (one free()). */
int cl_schedule_list(cl_ctx *ctx, const char *lab, cl_schedule **out, size_t *n);
/*
 * lab delete: refused (CL_EEXIST) while the lab has VMs classlab made (down deletes
 * them; attached machines are only forgotten); then its directory of keys under
 * data_dir, then its records.
 */
int cl_labs_remove(cl_ctx *ctx, const char *name);
/* lab unlock: clears a lock whose holder is gone (cl_store_lab_unlock_stale's contract). */
int cl_labs_unlock(cl_ctx *ctx, const char *name, bool *held, char **holder);

int cl_sizes_list(cl_ctx *ctx, cl_size **out, size_t *n);
/* The size by name (checked as a name first): CL_ENOTFOUND when there is none. */
int cl_sizes_get(cl_ctx *ctx, const char *name, cl_size *out);
/* A change to a size: a field < 0 keeps the size's value (a new size: 2 vCPUs, 2048 MiB). */
typedef struct cl_size_change {
	const char *name;
	int64_t lab_units; /* required (>= 0) for a new size */
	int64_t vcpus, memory_mib, gpus;
} cl_size_change;
/*
 * Creates or changes a size in one transaction that also checks that every lab of
 * the size keeps an exact estimate. *out (may be NULL) gets the size as written.
 */
int cl_sizes_set(cl_ctx *ctx, const cl_size_change *c, cl_size *out);


/* The lab file (`classlab up FILE`), parsed strictly: unknown keys, wrong types -> CL_EINVAL. */
typedef struct cl_labfile_student {
	char *name, *email, *ssh_public_key;
	int64_t quota_seconds; /* CL_QUOTA_DEFAULT when absent */
} cl_labfile_student;

typedef struct cl_labfile {
	cl_lab lab; /* name, size, image, username, hours, price, listen, ports, ... */
	cl_labfile_student *students;
	size_t n_students;
	char *roster_path; /* "roster": a CSV, resolved against the file's directory, read into
			      students by the parser (its errors are the lab file's) */
	/* "idle_minutes", "stop", "lead_minutes", "stop_grace_seconds"; defaults where absent */
	cl_lab_service service;
} cl_labfile;
void cl_labfile_clear(cl_labfile *lf);
/*
 * 127.0.0.0/8. A lab file's "listen" elsewhere (0.0.0.0, a LAN address) needs
 * "listen_public": true, and the front end warns whenever it binds there.
 */
bool cl_listen_is_loopback(const char *addr);
int cl_labfile_parse(const char *path, cl_labfile *out);
int cl_labfile_parse_buf(const char *json, size_t len, const char *base_dir, cl_labfile *out);

/* The customisation a lab file carries (stored as spec_json on the lab). */
typedef struct cl_lab_spec {
	char **packages;
	size_t n_packages;
	char **pip;
	size_t n_pip;
	char **run;
	size_t n_run;
	bool gpu_install_drivers;
	char *gpu_driver, *gpu_cuda;
	char **frameworks;
	size_t n_frameworks;
	char *flavor; /* a cloud's machine type for every VM ("flavor"); NULL: by size */
} cl_lab_spec;
void cl_lab_spec_clear(cl_lab_spec *s);
int cl_lab_spec_parse(const char *spec_json, cl_lab_spec *out);

#endif
