/*
 * A long-lived byte stream to a port on the VM's loopback over an SSH session
 * (direct-tcpip): the web page's WebSocket proxy. The request's answer head is read
 * first (an HTTP Upgrade), then cl_tunnel_relay copies bytes both ways with a client
 * socket. The session is switched to non-blocking for the relay, so the loop never
 * waits on a full window or a stalled VM longer than one poll: it sees *stop within
 * RELAY_TICK_MS.
 */
#include "classlab/cl_tunnel.h"
#include "../ssh/ssh_int.h"
#include "classlab/banned.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define RELAY_TICK_MS 100
#define RELAY_BUF (64u << 10)

struct cl_tunnel_stream {
	cl_ssh *ssh; /* borrowed */
	ssh_channel ch;
	int port;
};

void cl_tunnel_stream_free(cl_tunnel_stream *st)
{
	if (!st)
		return;
	if (ssh_channel_is_open(st->ch))
		ssh_channel_close(st->ch);
	ssh_channel_free(st->ch);
	free(st);
}

/* Where an HTTP head ends (after its blank line), or 0. */
static size_t head_end(const char *p, size_t len)
{
	for (size_t i = 0; i + 4 <= len; i++)
		if (memcmp(p + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	return 0;
}

int cl_tunnel_stream_open(cl_ssh *ssh, int port, const void *request, size_t len, size_t max_head,
			  int timeout_ms, cl_buf *head, size_t *head_len, cl_tunnel_stream **out)
{
	cl_tunnel_stream *st = cl_calloc(1, sizeof(*st));
	long long end = cl_ssh_now_ms() + timeout_ms;
	char chunk[4096];
	int rc = 0;

	*out = NULL;
	st->ssh = ssh;
	st->port = port;
	if (!(st->ch = ssh_channel_new(ssh->session))) {
		rc = cl_error_set(CL_EFAIL, "cannot open a channel on %s: %s", ssh->target,
				  ssh_get_error(ssh->session));
		goto out;
	}
	if (ssh_channel_open_forward(st->ch, "127.0.0.1", port, "127.0.0.1", 0) != SSH_OK) {
		rc = cl_error_set(CL_EUNAVAIL, "nothing answers on port %d of %s: %s", port,
				  ssh->target, ssh_get_error(ssh->session));
		goto out;
	}
	for (size_t off = 0; off < len;) {
		int n =
		    ssh_channel_write(st->ch, (const char *)request + off, (uint32_t)(len - off));
		if (n <= 0) {
			rc = cl_error_set(CL_EFAIL, "cannot send to port %d of %s: %s", port,
					  ssh->target, ssh_get_error(ssh->session));
			goto out;
		}
		off += (size_t)n;
	}
	/* The head, through its blank line; what follows it stays in head too. */
	for (;;) {
		size_t end_at = head_end(head->data, head->len);
		if (end_at) {
			*head_len = end_at;
			break;
		}
		if (head->len > max_head) {
			rc = cl_error_set(CL_EFAIL,
					  "the answer's head from port %d of %s is over %zu bytes",
					  port, ssh->target, max_head);
			goto out;
		}
		if (ssh_channel_is_eof(st->ch) || ssh_channel_is_closed(st->ch)) {
			rc = cl_error_set(CL_EFAIL, "port %d of %s closed before answering", port,
					  ssh->target);
			goto out;
		}
		long long left = end - cl_ssh_now_ms();
		if (left <= 0) {
			rc = cl_error_set(CL_EFAIL, "port %d of %s did not answer within %d ms",
					  port, ssh->target, timeout_ms);
			goto out;
		}
		int n = ssh_channel_read_timeout(st->ch, chunk, sizeof(chunk), 0,
						 (int)(left < 1000 ? left : 1000));
		if (n == SSH_ERROR) {
			rc = cl_error_set(CL_EFAIL, "cannot read from port %d of %s: %s", port,
					  ssh->target, ssh_get_error(ssh->session));
			goto out;
		}
		if (n > 0)
			cl_buf_add(head, chunk, (size_t)n);
	}
out:
	if (rc)
		cl_tunnel_stream_free(st);
	else
		*out = st;
	return rc;
}

/* Bytes waiting to go one way: [off, len) of data. */
typedef struct pending {
	char *data;
	size_t off, len;
} pending;

static void pending_take(pending *p, size_t n)
{
	p->off += n;
	if (p->off == p->len)
		p->off = p->len = 0;
}

int cl_tunnel_relay(cl_tunnel_stream *st, int fd, const void *to_vm, size_t to_vm_len,
		    const void *to_client, size_t to_client_len, int idle_ms,
		    const volatile int *stop)
{
	ssh_session session = st->ssh->session;
	pending up = {cl_malloc(RELAY_BUF), 0, 0};   /* client -> VM */
	pending down = {cl_malloc(RELAY_BUF), 0, 0}; /* VM -> client */
	long long last = cl_ssh_now_ms();
	bool client_eof = false;
	int rc = 0;

	if (to_vm_len > RELAY_BUF || to_client_len > RELAY_BUF) {
		rc = cl_error_set(CL_EINVAL, "more than %u bytes before the relay", RELAY_BUF);
		goto out;
	}
	if (to_vm_len)
		memcpy(up.data, to_vm, to_vm_len);
	up.len = to_vm_len;
	if (to_client_len)
		memcpy(down.data, to_client, to_client_len);
	down.len = to_client_len;
	ssh_set_blocking(session, 0);
	while (!*stop) {
		bool moved = false;
		if (up.len > up.off) {
			int n = ssh_channel_write(st->ch, up.data + up.off,
						  (uint32_t)(up.len - up.off));
			if (n == SSH_ERROR) {
				rc =
				    cl_error_set(CL_EFAIL, "cannot send to port %d of %s: %s",
						 st->port, st->ssh->target, ssh_get_error(session));
				goto out;
			}
			if (n > 0) {
				pending_take(&up, (size_t)n);
				moved = true;
			}
		} else if (client_eof) {
			ssh_channel_send_eof(st->ch);
			break; /* the client is gone and everything it sent went on */
		}
		if (down.len < RELAY_BUF) {
			int n = ssh_channel_read_nonblocking(st->ch, down.data + down.len,
							     (uint32_t)(RELAY_BUF - down.len), 0);
			if (n == SSH_ERROR) {
				rc =
				    cl_error_set(CL_EFAIL, "cannot read from port %d of %s: %s",
						 st->port, st->ssh->target, ssh_get_error(session));
				goto out;
			}
			if (n > 0) {
				down.len += (size_t)n;
				moved = true;
			}
		}
		if (down.len > down.off) {
			ssize_t n = send(fd, down.data + down.off, down.len - down.off,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				break; /* the client is gone */
			if (n > 0) {
				pending_take(&down, (size_t)n);
				moved = true;
			}
		} else if (ssh_channel_is_eof(st->ch) || ssh_channel_is_closed(st->ch)) {
			break; /* the VM's side closed and all it said reached the client */
		}
		if (!client_eof && up.len == 0) {
			ssize_t n = recv(fd, up.data, RELAY_BUF, MSG_DONTWAIT);
			if (n == 0 ||
			    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
				client_eof = true;
			else if (n > 0) {
				up.len = (size_t)n;
				moved = true;
			}
		}
		long long now = cl_ssh_now_ms();
		if (moved) {
			last = now;
			continue;
		}
		if (now - last >= idle_ms)
			break; /* idle: the browser reconnects when it wants to */
		struct pollfd pf[2] = {
		    {.fd = fd,
		     .events = (short)((up.len == 0 && !client_eof ? POLLIN : 0) |
				       (down.len > down.off ? POLLOUT : 0))},
		    {.fd = ssh_get_fd(session), .events = POLLIN},
		};
		/* Data still queued for the VM (a full window) is retried soon. */
		(void)poll(pf, 2, up.len > up.off ? 10 : RELAY_TICK_MS);
	}
out:
	free(up.data);
	free(down.data);
	return rc;
}
