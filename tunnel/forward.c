/* The local port forward (`ssh -L`): one thread, one poll loop over the listening socket,
 * every client socket and the SSH session, with per-direction buffers and flow control. */
#define _GNU_SOURCE /* accept4 */
#include "../ssh/ssh_int.h"
#include "classlab/cl_tunnel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/server.h> /* ssh_send_keepalive, usable by clients too */

#include "classlab/banned.h"

#define BUF_SIZE (256 * 1024)   /* per direction and connection */
#define READ_MIN (32 * 1024)    /* don't read a client for less than this much room */
#define PORT_TRIES 100
#define STOP_CHECK_MS 200
#define SSH_DRAIN_ROUNDS 256 /* x 4 KiB */

enum conn_state { C_OPENING, C_OPEN, C_DEAD };

typedef struct conn {
	int fd;
	int client_port;
	enum conn_state state;
	ssh_channel ch;
	struct ssh_channel_callbacks_struct cb;
	/* client -> channel */
	char *up;
	size_t up_len;
	/* channel -> client */
	char *down;
	size_t down_off, down_len;
	bool lib_pending; /* libssh holds channel data we had no room for */
	bool client_eof, eof_sent, remote_eof, remote_closed, client_shut;
} conn;

typedef struct loop {
	cl_ssh *ssh;
	const cl_tunnel_opts *o;
	const char *rhost;
	int rport;
	conn **conns;
	size_t nconns, cap;
	struct pollfd *pfds;
	size_t pfd_cap;
} loop;

static void notice(loop *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(loop *l, const char *fmt, ...)
{
	if (!l->o->on_notice)
		return;
	cl_buf b = CL_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	cl_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	l->o->on_notice(l->o->ctx, cl_buf_str(&b));
	cl_buf_free(&b);
}

/* libssh pushes channel data here as it decrypts it; take what fits, leave the rest queued in
 * libssh (its window then stops growing, which is the flow control towards the server). */
static int on_data(ssh_session s, ssh_channel ch, void *data, uint32_t len, int is_stderr,
		   void *userdata)
{
	(void)s;
	(void)ch;
	conn *c = userdata;
	if (is_stderr || c->state == C_DEAD)
		return (int)len; /* forwarded channels have no stderr; a dead one discards */
	if (c->down_off > 0 && c->down_off + c->down_len + len > BUF_SIZE) {
		memmove(c->down, c->down + c->down_off, c->down_len);
		c->down_off = 0;
	}
	size_t room = BUF_SIZE - c->down_off - c->down_len;
	size_t n = len < room ? len : room;
	memcpy(c->down + c->down_off + c->down_len, data, n);
	c->down_len += n;
	if (n < len)
		c->lib_pending = true;
	return (int)n;
}

static void on_eof(ssh_session s, ssh_channel ch, void *userdata)
{
	(void)s;
	(void)ch;
	((conn *)userdata)->remote_eof = true;
}

static void on_close(ssh_session s, ssh_channel ch, void *userdata)
{
	(void)s;
	(void)ch;
	conn *c = userdata;
	c->remote_eof = true;
	c->remote_closed = true;
}

static void conn_free(conn *c)
{
	if (!c)
		return;
	if (c->ch) {
		ssh_remove_channel_callbacks(c->ch, &c->cb);
		if (c->state != C_OPENING && ssh_channel_is_open(c->ch))
			ssh_channel_close(c->ch);
		ssh_channel_free(c->ch);
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c->up);
	free(c->down);
	free(c);
}

static void conn_open_step(loop *l, conn *c)
{
	int rc = ssh_channel_open_forward(c->ch, l->rhost, l->rport, "127.0.0.1", c->client_port);
	if (rc == SSH_AGAIN)
		return;
	if (rc != SSH_OK) {
		notice(l, "cannot open a channel to %s:%d via %s: %s", l->rhost, l->rport,
		       l->ssh->target, ssh_get_error(l->ssh->session));
		c->state = C_DEAD;
		return;
	}
	c->state = C_OPEN;
}

static void conn_accept(loop *l, int lfd)
{
	int max = l->o->max_connections > 0 ? l->o->max_connections : 1024;
	while (l->nconns < (size_t)max) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a client gone before we took it */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conn *c = cl_calloc(1, sizeof(*c));
		c->fd = fd;
		c->client_port = ss.ss_family == AF_INET6
					 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					 : ntohs(((struct sockaddr_in *)&ss)->sin_port);
		c->up = cl_malloc(BUF_SIZE);
		c->down = cl_malloc(BUF_SIZE);
		c->ch = ssh_channel_new(l->ssh->session);
		if (!c->ch) {
			notice(l, "cannot create a channel: %s", ssh_get_error(l->ssh->session));
			conn_free(c);
			continue;
		}
		ssh_callbacks_init(&c->cb);
		c->cb.userdata = c;
		c->cb.channel_data_function = on_data;
		c->cb.channel_eof_function = on_eof;
		c->cb.channel_close_function = on_close;
		ssh_set_channel_callbacks(c->ch, &c->cb);
		c->state = C_OPENING;
		if (l->nconns == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 16;
			l->conns = cl_realloc(l->conns, l->cap * sizeof(*l->conns));
		}
		l->conns[l->nconns++] = c;
		conn_open_step(l, c);
	}
}

/* Moves data both ways as far as buffers, windows and sockets allow. */
static void conn_pump(loop *l, conn *c, short revents)
{
	(void)l;
	if (c->state != C_OPEN)
		return;

	/* client -> channel */
	if ((revents & (POLLIN | POLLHUP | POLLERR)) && !c->client_eof &&
	    BUF_SIZE - c->up_len >= READ_MIN) {
		ssize_t n = recv(c->fd, c->up + c->up_len, BUF_SIZE - c->up_len, 0);
		if (n > 0)
			c->up_len += (size_t)n;
		else if (n == 0)
			c->client_eof = true;
		else if (errno != EAGAIN && errno != EINTR) {
			c->state = C_DEAD; /* reset by the client */
			return;
		}
	}
	if (c->up_len > 0 && !c->remote_closed) {
		uint32_t win = ssh_channel_window_size(c->ch);
		size_t n = c->up_len < win ? c->up_len : win;
		if (n > 0) {
			int w = ssh_channel_write(c->ch, c->up, (uint32_t)n);
			if (w < 0) {
				c->state = C_DEAD;
				return;
			}
			memmove(c->up, c->up + w, c->up_len - (size_t)w);
			c->up_len -= (size_t)w;
		}
	}
	if (c->client_eof && c->up_len == 0 && !c->eof_sent && !c->remote_closed) {
		ssh_channel_send_eof(c->ch);
		c->eof_sent = true;
	}

	/* channel -> client */
	for (;;) {
		if (c->down_len > 0) {
			ssize_t n = send(c->fd, c->down + c->down_off, c->down_len, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				c->state = C_DEAD;
				return;
			}
			if (n > 0) {
				c->down_off += (size_t)n;
				c->down_len -= (size_t)n;
			}
			if (c->down_len == 0)
				c->down_off = 0;
			else
				break; /* socket full: wait for POLLOUT */
		}
		if (!c->lib_pending)
			break;
		/* Pull what libssh kept back (reading it also re-opens the window). */
		c->lib_pending = false;
		size_t room = BUF_SIZE - c->down_off - c->down_len;
		int n = ssh_channel_read_nonblocking(c->ch, c->down + c->down_off + c->down_len,
						     (uint32_t)room, 0);
		if (n > 0) {
			c->down_len += (size_t)n;
			c->lib_pending = ssh_channel_poll(c->ch, 0) > 0;
		}
		if (c->down_len == 0)
			break;
	}
	if (c->remote_eof && c->down_len == 0 && !c->lib_pending && !c->client_shut) {
		shutdown(c->fd, SHUT_WR);
		c->client_shut = true;
	}

	bool up_done = (c->client_eof && c->up_len == 0) || c->remote_closed;
	bool down_done = c->client_shut;
	if (up_done && down_done)
		c->state = C_DEAD;
}

static int open_listener(const cl_tunnel_opts *o, int *port_out, int *lfd_out)
{
	const char *addr = o->bind_address ? o->bind_address : "127.0.0.1";
	struct sockaddr_storage ss;
	socklen_t sl;
	int family;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		family = AF_INET;
		s4->sin_family = AF_INET;
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		family = AF_INET6;
		s6->sin6_family = AF_INET6;
		sl = sizeof(*s6);
	} else {
		return cl_error_set(CL_EINVAL, "invalid bind address '%s' (want a numeric IPv4 or "
					       "IPv6 address)",
				    addr);
	}
	if (o->local_port < 0 || o->local_port > 65535)
		return cl_error_set(CL_EINVAL, "invalid local port %d", o->local_port);
	int first = o->local_port;
	int last = first == 0 || o->exact_port ? first : first + PORT_TRIES;
	if (last > 65535)
		last = 65535;
	int err = 0;
	for (int port = first; port <= last; port++) {
		int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return cl_error_set(CL_EFAIL, "cannot create a socket: %s", strerror(errno));
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (family == AF_INET)
			s4->sin_port = htons((uint16_t)port);
		else
			s6->sin6_port = htons((uint16_t)port);
		if (bind(fd, (struct sockaddr *)&ss, sl) == 0 && listen(fd, 128) == 0) {
			struct sockaddr_storage got;
			socklen_t gl = sizeof(got);
			getsockname(fd, (struct sockaddr *)&got, &gl);
			*port_out = family == AF_INET ? ntohs(((struct sockaddr_in *)&got)->sin_port)
						      : ntohs(((struct sockaddr_in6 *)&got)->sin6_port);
			*lfd_out = fd;
			return 0;
		}
		err = errno;
		close(fd);
		if (err != EADDRINUSE)
			break;
	}
	if (first != last)
		return cl_error_set(err == EADDRINUSE ? CL_EUNAVAIL : CL_EFAIL,
				    "cannot listen on %s ports %d-%d: %s", addr, first, last,
				    strerror(err));
	return cl_error_set(err == EADDRINUSE ? CL_EUNAVAIL : CL_EFAIL, "cannot listen on %s:%d: %s",
			    addr, first, strerror(err));
}

/* ACKs what was just read from the SSH socket now instead of up to 40 ms later. sshd keeps
 * Nagle on for a session without a tty, so when a response reaches it in two pieces (an HTTP
 * header, then its body) the second SSH packet waits for our ACK of the first, and Linux
 * delays that ACK in request/response traffic: a 40 ms stall on every such request over a
 * keep-alive connection (tests/unit/test_tunnel_latency.c). The option is not sticky, hence
 * once per round of reads. */
static void ack_now(int fd)
{
#ifdef TCP_QUICKACK
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
#else
	(void)fd;
#endif
}

static struct pollfd *pfd_slot(loop *l, size_t i)
{
	if (i >= l->pfd_cap) {
		l->pfd_cap = l->pfd_cap ? l->pfd_cap * 2 : 64;
		l->pfds = cl_realloc(l->pfds, l->pfd_cap * sizeof(*l->pfds));
	}
	return &l->pfds[i];
}

int cl_tunnel_run(cl_ssh *ssh, const cl_tunnel_opts *o)
{
	int rc = CL_EFAIL, lfd = -1, port = 0;
	ssh_event ev = NULL;
	loop l = {0};

	if (!ssh || !o)
		return cl_error_set(CL_EINVAL, "tunnel needs a session and options");
	l.ssh = ssh;
	l.o = o;
	l.rhost = o->remote_host && *o->remote_host ? o->remote_host : "localhost";
	l.rport = o->remote_port ? o->remote_port : 8888;
	if (l.rport < 1 || l.rport > 65535)
		return cl_error_set(CL_EINVAL, "invalid remote port %d", o->remote_port);
	if ((rc = open_listener(o, &port, &lfd)) < 0)
		return rc;

	ssh_session s = ssh->session;
	int sfd = ssh_get_fd(s);
	ev = ssh_event_new();
	if (!ev || ssh_event_add_session(ev, s) != SSH_OK) {
		rc = cl_error_set(CL_EFAIL, "cannot poll ssh session %s", ssh->target);
		goto out;
	}
	ssh_set_blocking(s, 0);
	if (o->on_listen)
		o->on_listen(o->ctx, port);

	int ka = o->keepalive_ms == 0 ? 30000 : o->keepalive_ms;
	long long next_ka = ka > 0 ? cl_ssh_now_ms() + ka : 0;
	int max = o->max_connections > 0 ? o->max_connections : 1024;

	for (;;) {
		if (o->stop && *o->stop)
			break;

		/* Build the poll set. */
		size_t np = 0;
		struct pollfd *p = pfd_slot(&l, np++);
		*p = (struct pollfd){.fd = lfd, .events = l.nconns < (size_t)max ? POLLIN : 0};
		p = pfd_slot(&l, np++);
		short sev = POLLIN;
		if (ssh_get_poll_flags(s) & SSH_WRITE_PENDING)
			sev |= POLLOUT;
		*p = (struct pollfd){.fd = sfd, .events = sev};
		p = pfd_slot(&l, np++);
		*p = (struct pollfd){.fd = o->stop_fd > 0 ? o->stop_fd : -1, .events = POLLIN};
		bool busy = false;
		for (size_t i = 0; i < l.nconns; i++) {
			conn *c = l.conns[i];
			short e = 0;
			if (c->state == C_OPEN) {
				if (!c->client_eof && BUF_SIZE - c->up_len >= READ_MIN)
					e |= POLLIN;
				if (c->down_len > 0)
					e |= POLLOUT;
				/* Data waiting for window space: come back soon. */
				if (c->up_len > 0 && ssh_channel_window_size(c->ch) > 0)
					busy = true;
			}
			p = pfd_slot(&l, np++);
			*p = (struct pollfd){.fd = c->fd, .events = e};
		}
		int timeout = busy ? 0 : STOP_CHECK_MS;
		if (next_ka) {
			long long left = next_ka - cl_ssh_now_ms();
			if (left < timeout)
				timeout = left < 0 ? 0 : (int)left;
		}
		int n = poll(l.pfds, np, timeout);
		if (n < 0 && errno != EINTR) {
			rc = cl_error_set(CL_EFAIL, "poll failed: %s", strerror(errno));
			goto out;
		}
		if (n < 0)
			continue; /* a signal: look at *stop */
		if (l.pfds[2].revents)
			break;

		/* SSH input and pending output first: it feeds the channels' buffers. */
		if (l.pfds[1].revents) {
			/* libssh reads the socket 4 KiB per poll callback: keep calling while
			 * it finds more, up to a bound so clients get their turn. */
			for (int r = 0; r < SSH_DRAIN_ROUNDS; r++)
				if (ssh_event_dopoll(ev, 0) != SSH_OK)
					break;
			ack_now(sfd);
			if (!ssh_is_connected(s)) {
				rc = cl_error_set(CL_EUNAVAIL, "connection to %s lost: %s",
						  ssh->target, ssh_get_error(s));
				goto out;
			}
		}

		/* Existing clients (indices match pfds[3..] for the conns polled this round). */
		size_t polled = np - 3;
		for (size_t i = 0; i < l.nconns; i++) {
			conn *c = l.conns[i];
			if (c->state == C_OPENING)
				conn_open_step(&l, c);
			short rev = i < polled ? l.pfds[3 + i].revents : 0;
			if (rev & POLLNVAL)
				c->state = C_DEAD;
			conn_pump(&l, c, rev);
		}
		/* Send what the pumps queued now rather than after another poll round: libssh
		 * only writes to its socket from its own poll callback once a write was partial
		 * or followed another one. */
		if (ssh_get_poll_flags(s) & SSH_WRITE_PENDING) {
			ssh_event_dopoll(ev, 0);
			ack_now(sfd); /* it may have read a reply that came back meanwhile */
		}

		/* Reap. */
		size_t k = 0;
		for (size_t i = 0; i < l.nconns; i++) {
			if (l.conns[i]->state == C_DEAD)
				conn_free(l.conns[i]);
			else
				l.conns[k++] = l.conns[i];
		}
		l.nconns = k;

		if (l.pfds[0].revents & POLLIN)
			conn_accept(&l, lfd);

		if (next_ka && cl_ssh_now_ms() >= next_ka) {
			/* The reply (usually "failure") only proves the server is alive; a second
			 * call is needed when the first just collected the previous reply. */
			if (ssh_send_keepalive(s) != SSH_AGAIN)
				ssh_send_keepalive(s);
			next_ka = cl_ssh_now_ms() + ka;
		}
		if (!ssh_is_connected(s)) {
			rc = cl_error_set(CL_EUNAVAIL, "connection to %s lost: %s", ssh->target,
					  ssh_get_error(s));
			goto out;
		}
	}
	rc = 0;
out:
	for (size_t i = 0; i < l.nconns; i++)
		conn_free(l.conns[i]);
	free(l.conns);
	free(l.pfds);
	if (ev) {
		/* Let the CLOSE messages out before going back to blocking mode. */
		if (ssh_is_connected(s))
			ssh_blocking_flush(s, 1000);
		ssh_event_remove_session(ev, s);
		ssh_event_free(ev);
	}
	ssh_set_blocking(s, 1);
	if (lfd >= 0)
		close(lfd);
	return rc;
}
