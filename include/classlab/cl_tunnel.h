/* The student's local port forward (`ssh -L 8888:localhost:8888`) and Jupyter on a VM,
 * over an SSH session (cl_ssh.h). */
#ifndef CL_TUNNEL_H
#define CL_TUNNEL_H

#include "classlab/cl_ssh.h"

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
/*
 * Finds a running notebook server only (never starts one): *found and, when found,
 * *out. A VM without jupyter is not an error (*found false). Errors: the session's.
 */
int cl_jupyter_find(cl_ssh *ssh, cl_jupyter *out, bool *found);
int cl_jupyter_find_or_start(cl_ssh *ssh, const char *vm, void (*progress)(void *ctx, const char *msg),
			     void *progress_ctx, cl_jupyter *out);

/*
 * One HTTP/1.0 exchange with 127.0.0.1:port on the VM through the session (a
 * direct-tcpip channel): sends request (len bytes, the caller's; it should say
 * "Connection: close") and reads the whole answer, at most max bytes, into response,
 * within timeout_ms. CL_EUNAVAIL when nothing listens there.
 */
int cl_tunnel_http(cl_ssh *ssh, int port, const void *request, size_t len, size_t max,
		   int timeout_ms, cl_buf *response);

/*
 * A stream to 127.0.0.1:port on the VM (a direct-tcpip channel) for a protocol that
 * outlives one answer (the web page's WebSocket proxy). Opening sends request (an HTTP
 * Upgrade) and reads the answer's head, through its blank line (at most max_head
 * bytes, within timeout_ms), into head; *head_len is where the head ends (later bytes,
 * if any, are the stream's first). The stream and its session belong to one thread at
 * a time; free the stream before the session.
 */
typedef struct cl_tunnel_stream cl_tunnel_stream;
int cl_tunnel_stream_open(cl_ssh *ssh, int port, const void *request, size_t len, size_t max_head,
			  int timeout_ms, cl_buf *head, size_t *head_len, cl_tunnel_stream **out);
/*
 * Copies bytes both ways between the socket fd (the client's; never closed here) and
 * the stream, first to_vm and to_client (at most 64 KiB each, bytes read earlier), until
 * either side closes, idle_ms pass with no byte either way, or *stop becomes non-zero
 * (seen within 100 ms): 0. Errors of the SSH session: CL_EFAIL. Switches the session to
 * non-blocking.
 */
int cl_tunnel_relay(cl_tunnel_stream *st, int fd, const void *to_vm, size_t to_vm_len,
		    const void *to_client, size_t to_client_len, int idle_ms,
		    const volatile int *stop);
void cl_tunnel_stream_free(cl_tunnel_stream *st); /* accepts NULL */

#endif
