/*
 * How students get in: their access (SSH command, ssh-config block, X2Go settings) and
 * machines classlab did not create, attached as a student's VM. Lab and student records
 * are cl_labs.h.
 */
#ifndef CL_STUDENTS_H
#define CL_STUDENTS_H

#include "classlab/cl_ctx.h"
#include "classlab/cl_store.h"
#include "classlab/cl_util.h"

#include <stdbool.h>

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

/* ---- files written where a user points (students/export.c) ---- */
/*
 * students export: what a student needs to connect, written into dir: their key
 * (only when classlab holds it), known_hosts, ssh_config, x2go-session and
 * README.txt (with the web page's link when link is not NULL), pointing at each other by relative names, and a manifest
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
		       bool force, const char *link, char ***written, size_t *nwritten);
/*
 * The same files as a zip (libarchive) in out, under "<lab>-<student>/", for the web
 * page's download (the private key 0600 inside). Nothing is written to disk.
 */
int cl_students_bundle_zip(cl_ctx *ctx, const char *lab, const char *student, cl_buf *out);
/*
 * connect --x2go --write: appends a's X2Go session to home/.x2goclient/sessions
 * (the directory made 0700 when missing, the file written 0600 through a temporary
 * name). CL_EEXIST when the file already has a session of that name; CL_EINVAL
 * when home is NULL or empty. *written (new) gets the file's path; NULL on failure.
 */
int cl_access_x2go_write(cl_ctx *ctx, const cl_access *a, const char *home, char **written);

/* ---- web access: one-time invitation links and sessions (students/invite.c) ---- */
/* Tokens: 256 random bits (getrandom) as 64 lowercase hex digits; the store keeps SHA-256. */
#define CL_WEB_TOKEN_HEX 64
/* How long a session opened by a link lasts (a term's worth of weeks). */
#define CL_WEB_SESSION_S (120 * 86400)
/*
 * A new one-time link, "<base_url>/join/<token>", for a student (lab, student) or an
 * admin (both NULL); the student's earlier unused link stops working. New string.
 */
int cl_invite_issue(cl_ctx *ctx, const char *lab, const char *student, const char *base_url,
		    char **link);
/* Ends a student's (or every admin's) unused links and sessions; *n: how many. */
int cl_invite_revoke(cl_ctx *ctx, const char *lab, const char *student, int64_t *n);
/*
 * Takes a link's token once: a new session (*session_token, new string, for the cookie)
 * with its grant (*grant, with a new CSRF token). CL_ENOTFOUND for a token that is
 * malformed, unknown, used or revoked (one message for all: a guesser learns nothing).
 */
int cl_invite_redeem(cl_ctx *ctx, const char *token, char **session_token, cl_web_grant *grant);
/* The grant of a live session; CL_ENOTFOUND for a malformed, unknown or expired one. */
int cl_session_find(cl_ctx *ctx, const char *session_token, cl_web_grant *grant);
int cl_session_end(cl_ctx *ctx, const char *session_token);
/* Constant-time comparison of two NUL-terminated tokens (CSRF). */
bool cl_token_equal(const char *a, const char *b);

#endif
