/* SSH for classlab (libssh): keys and key files, pinned-host-key sessions, exec, waiting for
 * a VM. The forward and Jupyter, built on it, are cl_tunnel.h. */
#ifndef CL_SSH_H
#define CL_SSH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "classlab/cl_util.h"

/* --- keys --- */

/*
 * Generates an ed25519 key pair. *private_openssh_pem gets the private key in OpenSSH format
 * ("-----BEGIN OPENSSH PRIVATE KEY-----", unencrypted); *public_line gets
 * "ssh-ed25519 AAAA... comment" (no newline; comment may be NULL or ""). Both are new
 * strings the caller frees (wipe the private one with cl_ssh_free_secret).
 */
int cl_ssh_keygen_ed25519(char **private_openssh_pem, char **public_line, const char *comment);

/* Overwrites a secret string with zeros and frees it. Accepts NULL. */
void cl_ssh_free_secret(char *secret);

/*
 * Strictly validates one authorized_keys-style public key line: "TYPE BASE64 [COMMENT]",
 * where TYPE is ssh-ed25519, ssh-rsa (>= 2048 bits), ecdsa-sha2-nistp256/384/521,
 * sk-ssh-ed25519@openssh.com or sk-ecdsa-sha2-nistp256@openssh.com. No options prefix,
 * no control bytes (one trailing "\n" or "\r\n" is tolerated), at most 16 KiB; the key blob
 * is decoded, checked against TYPE and imported with libssh. On failure CL_EINVAL
 * "invalid SSH public key: <why>". Each out pointer may be NULL; what is returned is new
 * (*comment is "" when there is none).
 */
int cl_ssh_pubkey_parse(const char *line, char **type, char **b64, char **comment);

/* "SHA256:<base64, no padding>" of a public key line, as `ssh-keygen -lf` prints it. New string. */
int cl_ssh_fingerprint(const char *public_line, char **out);

/*
 * A known_hosts line for host:port: "[host]:port TYPE BASE64" (plain "host TYPE BASE64" when
 * port is 22). The key's comment is dropped. New string.
 */
int cl_ssh_known_hosts_line(const char *host, int port, const char *public_line, char **out);

/*
 * Writes a private key file with mode 0600, atomically (temp file + rename). The directory
 * must exist, must not be a symlink and must not be accessible by group or others (0700);
 * an existing path that is a symlink or not a regular file is refused.
 */
int cl_ssh_write_private_key(const char *path, const char *pem);

/*
 * Connects to host:port only far enough to read the server's host key (no
 * login) and returns it as "TYPE BASE64". For attaching a machine whose key
 * the admin confirms by fingerprint. New string. Unreachable: CL_EUNAVAIL.
 */
int cl_ssh_host_key_scan(const char *host, int port, int timeout_ms, char **public_line);

/* --- sessions --- */

typedef struct cl_ssh cl_ssh;

typedef struct cl_ssh_opts {
	const char *host; /* required: address or name */
	int port;         /* 0 = 22 */
	const char *user; /* required */
	/* Required: the public key line the server must present ("ssh-ed25519 AAAA..."). It is
	 * compared exactly with the server's key before any authentication. */
	const char *host_key;
	/* One authentication method, tried in this order: */
	const char *identity_file; /* private key file */
	const char *identity_pem;  /* private key in memory (OpenSSH or PEM format) */
	const char *password;      /* for attached machines */
	int connect_timeout_ms;    /* TCP connect + key exchange + auth; 0 = 10000 */
} cl_ssh_opts;

/*
 * Connects, checks the pinned host key, authenticates. *out is new; free with cl_ssh_free.
 * Refused, unreachable, timed out or a wrong host key: CL_EUNAVAIL (a wrong key names both
 * fingerprints: "host key for [127.0.0.1]:2222 does not match: expected SHA256:..., offered
 * SHA256:..."); authentication denied: CL_EFAIL; bad options: CL_EINVAL. The session reads
 * no ssh config file, no known_hosts and no agent.
 */
int cl_ssh_connect(cl_ssh **out, const cl_ssh_opts *opts);
/* Disconnects and frees. Accepts NULL. */
void cl_ssh_free(cl_ssh *ssh);
/* "[host]:port" or "host" (port 22), for messages. Borrowed. */
const char *cl_ssh_target(const cl_ssh *ssh);

#define CL_SSH_EXEC_OUTPUT_MAX (16u * 1024 * 1024)

/*
 * Runs command on the remote side, feeds it stdin_data (may be NULL), then EOF; collects
 * stdout into out and stderr into err (each may be NULL to discard) and the exit status
 * (-1 when the remote sent none, e.g. killed by a signal). timeout_ms 0 = none. Errors:
 * CL_EFAIL "'cmd' timed out after N s", output above CL_SSH_EXEC_OUTPUT_MAX per stream,
 * CL_EUNAVAIL when the session breaks. A non-zero exit status is not an error.
 */
int cl_ssh_exec(cl_ssh *ssh, const char *command, const void *stdin_data, size_t stdin_len,
		int timeout_ms, cl_buf *out, cl_buf *err, int *exit_status);

/*
 * Waits for a booting VM: retries (every 100-250 ms) a TCP connect that must answer with an
 * SSH banner, then the pinned-key login, until one succeeds or timeout_ms passes. The session
 * is closed again. *elapsed_ms (may be NULL) gets the time spent. A wrong host key fails at
 * once. On time-out: CL_EUNAVAIL "VM did not answer SSH within N s: <last error>".
 */
int cl_ssh_wait(const cl_ssh_opts *opts, int timeout_ms, int *elapsed_ms);

/* --- key files: under <data>/labs/<lab>/, generated once and kept across republish (ssh/keyfiles.c) --- */

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

#endif
