/* SSH for classlab (libssh): keys, pinned-host-key sessions, exec, waiting for a VM, and the
 * student's local port forward (`ssh -L 8888:localhost:8888`). */
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

/* --- local port forward --- */

typedef struct cl_tunnel_opts {
	const char *bind_address; /* numeric address to listen on; NULL = "127.0.0.1" */
	int local_port;           /* 0 = any free port */
	/* When local_port is busy, try the next ones up to local_port + 100 (as Jupyter does),
	 * unless exact_port is set. */
	bool exact_port;
	const char *remote_host; /* as seen from the server; NULL = "localhost" */
	int remote_port;         /* 0 = 8888 */
	/* Called once, when listening, with the port actually bound. */
	void (*on_listen)(void *ctx, int port);
	/* Called for things a front end may want to show, e.g. "open failed: ..." per connection
	 * the server could not forward. May be NULL. The message is borrowed. */
	void (*on_notice)(void *ctx, const char *msg);
	void *ctx;
	/* The loop ends cleanly when *stop becomes non-zero (set from a signal handler), or when
	 * stop_fd (a self-pipe's read end; used only when > 0) becomes readable. The loop wakes at
	 * least every 200 ms to look at *stop. */
	volatile sig_atomic_t *stop;
	int stop_fd;
	int keepalive_ms;    /* keepalive@openssh.com interval; 0 = 30000, < 0 = never */
	int max_connections; /* 0 = 1024; beyond it new clients wait in the listen queue */
} cl_tunnel_opts;

/*
 * Listens on bind_address:local_port and forwards every connection through ssh to
 * remote_host:remote_port, until stopped (returns 0) or the SSH session is lost
 * (CL_EUNAVAIL). Binding failures: CL_EUNAVAIL (port busy) or CL_EINVAL (bad address).
 * Runs in the calling thread; nothing else may use the session meanwhile.
 */
int cl_tunnel_run(cl_ssh *ssh, const cl_tunnel_opts *opts);

/* --- Jupyter on a VM (tunnel/jupyter.c) --- */

typedef struct cl_jupyter {
	int port;     /* the server's port on the VM */
	char *token;  /* its token; "" when it has none */
	bool started; /* none was running: this call started it */
} cl_jupyter;
void cl_jupyter_clear(cl_jupyter *j); /* accepts NULL */
/*
 * Finds a running notebook server on the VM (`jupyter server list`, then `notebook
 * list`), or starts one detached on 127.0.0.1:8888 there (log: ~/.classlab-jupyter.log)
 * and waits up to 60 s for it to list itself. Prints nothing: progress (may be NULL)
 * hears one message before a start. vm names the machine in messages. Errors:
 * CL_EFAIL when the VM has no jupyter, when the server exits (with its log's tail) or
 * does not come up in time; the session's own errors from cl_ssh_exec.
 */
int cl_jupyter_find_or_start(cl_ssh *ssh, const char *vm, void (*progress)(void *ctx, const char *msg),
			     void *progress_ctx, cl_jupyter *out);

#endif
