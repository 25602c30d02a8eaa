/*
 * Labs and their students: validated creation, roster import (CSV, all or
 * nothing), quotas and schedules. Everything is checked before anything is
 * written; a rejected call leaves the store as it was.
 */
#ifndef CL_STUDENTS_H
#define CL_STUDENTS_H

#include "classlab/cl_ctx.h"
#include "classlab/cl_store.h"
#include "classlab/cl_util.h"

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

/* ---- keys: files under <data>/labs/<lab>/, generated once and kept across republish ---- */

typedef struct cl_keypair {
	char *private_path; /* NULL when the student supplied only a public key */
	char *public_line;  /* "ssh-ed25519 AAAA... comment" */
	char *private_pem;  /* host keys only: the PEM text the seed carries; else NULL */
} cl_keypair;
void cl_keypair_clear(cl_keypair *k);

/* <data>/labs/<lab>; created 0700 with its parents. New string. */
int cl_lab_dir(const char *data_dir, const char *lab, char **out);
/* The key classlab itself logs in to the lab's VMs with. */
int cl_keys_admin(const char *data_dir, const char *lab, cl_keypair *out);
/* A student's key: the supplied public key, else one generated under students/<name>/. */
int cl_keys_student(const char *data_dir, const char *lab, const char *student,
		    const char *supplied_public, cl_keypair *out);
/* A VM's SSH host key (with its PEM), so known_hosts is right before the first boot. */
int cl_keys_host(const char *data_dir, const char *lab, const char *vm, cl_keypair *out);
/*
 * Revokes a student's files: students/<student>/ (generated key pair, an attached
 * machine's key) and, when vm is given, hostkeys/<vm>/. Never follows a symlink.
 * *removed says whether anything was there. A student added later gets new keys.
 */
int cl_keys_forget(const char *data_dir, const char *lab, const char *student, const char *vm,
		   bool *removed);
/* Removes <data>/labs/<lab> and everything in it (keys, known_hosts); absent is fine. */
int cl_lab_dir_remove(const char *data_dir, const char *lab);
/* Rewrites <lab dir>/known_hosts from the lab's VM records ([public_host]:port key). */
int cl_known_hosts_write(cl_ctx *ctx, const cl_lab *lab);

/* ---- attached machines (seeds/004): a computer classlab did not create ---- */
typedef struct cl_attach_opts {
	const char *lab, *student;
	const char *address; /* host name or address students and classlab reach */
	int port;
	const char *username;
	const char *private_key_file; /* copied 0600 into the lab's directory */
	const char *password;	      /* kept only as a crypt hash */
	const char *fingerprint;      /* "SHA256:..." the host must present */
	bool trust_first;	      /* or: pin whatever it presents now */
} cl_attach_opts;
/*
 * Checks the host key against the fingerprint (or pins it), logs in once to
 * prove the credentials, and records the machine as the student's VM.
 * *pinned gets the fingerprint pinned (new string).
 */
int cl_attach(cl_ctx *ctx, const cl_attach_opts *o, char **pinned);

/* ---- how a student gets in ---- */
typedef struct cl_access {
	char *lab, *student, *vm;
	char *user;
	char *host; /* what students connect to */
	int port;
	char *identity_file;	/* private key, or NULL when the student holds it */
	char *known_hosts_file; /* the lab's file */
	char *known_hosts_line;
	char *host_key;	   /* public line */
	char *fingerprint; /* SHA256:... */
	char *kind;	   /* student | attached */
	char *auth_password_hash; /* attached machines with a password, else NULL */
} cl_access;
void cl_access_clear(cl_access *a);
/* CL_ENOTFOUND until the student's VM has been published or attached. */
int cl_access_get(cl_ctx *ctx, const char *lab, const char *student,
		  cl_access *out);
/* "ssh -p PORT USER@HOST", or with "-L L:localhost:R " when local_port > 0. New string. */
char *cl_access_ssh_command(const cl_access *a, int local_port, int remote_port);
/* An OpenSSH config block: Host <lab>-<student>, strict host key checking. */
void cl_access_ssh_config(const cl_access *a, cl_buf *out);
/* An X2Go client session entry (~/.x2goclient/sessions format), SSH not RDP, XFCE. */
void cl_access_x2go_session(const cl_access *a, cl_buf *out);

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

/* ---- files written where a user points (students/export.c) ---- */
/*
 * students export: what a student needs to connect, written into dir: their key
 * (only when classlab holds it), known_hosts, ssh_config, x2go-session and
 * README.txt, pointing at each other by relative names, and a manifest
 * (.classlab-export) listing them. dir is made (0700, with missing parents) or must
 * be empty (its mode left alone); with force, a non-empty dir may hold an earlier
 * export of the same user, whose listed regular files are replaced and nothing
 * else. A symlink at dir or among the names is never followed, nothing is
 * chmodded; each file is written under an O_EXCL|O_NOFOLLOW temporary name, then
 * renamed. Refusals are CL_EEXIST (CL_EINVAL for a dir ending in ".."); a failure
 * after dir was opened reads "cannot export to 'DIR': ...".
 * *written (new, cl_strv_free) gets the paths written, "DIR/NAME", in order, the
 * manifest first; *nwritten their count. On failure they are NULL and 0.
 */
int cl_students_export(cl_ctx *ctx, const char *lab, const char *student, const char *dir,
		       bool force, char ***written, size_t *nwritten);
/*
 * connect --x2go --write: appends a's X2Go session to home/.x2goclient/sessions
 * (the directory made 0700 when missing, the file written 0600 through a temporary
 * name). CL_EEXIST when the file already has a session of that name; CL_EINVAL
 * when home is NULL or empty. *written (new) gets the file's path; NULL on failure.
 */
int cl_access_x2go_write(cl_ctx *ctx, const cl_access *a, const char *home, char **written);

#endif
