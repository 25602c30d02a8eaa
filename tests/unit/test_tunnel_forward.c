/* The local port forward through a real loopback sshd to an in-process TCP echo server:
 * a 64 MiB round trip with matching SHA-256, 50 concurrent connections, half-close,
 * a busy local port, a refused remote port, and stopping. */
#include "tap.h"
#include "test_tunnel_sshd.h"
#include "test_tunnel_thread.h"

#include <pthread.h>
#include <stdatomic.h>

#include "classlab/banned.h"

/* --- SHA-256 (FIPS 180-4), small and slow enough for 64 MiB in a test --- */
typedef struct sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t n;
} sha256;

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2};
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(sha256 *s, const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++)
		w[i] = w[i - 16] + (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3)) +
		       w[i - 7] + (ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10));
	a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
	e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] +
			      w[i];
		uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
	s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha_init(sha256 *s)
{
	static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
	s->n = 0;
}

static void sha_add(sha256 *s, const void *data, size_t len)
{
	const unsigned char *p = data;
	s->len += len;
	while (len > 0) {
		if (s->n == 0 && len >= 64) {
			sha_block(s, p);
			p += 64;
			len -= 64;
			continue;
		}
		size_t k = 64 - s->n < len ? 64 - s->n : len;
		memcpy(s->buf + s->n, p, k);
		s->n += k, p += k, len -= k;
		if (s->n == 64) {
			sha_block(s, s->buf);
			s->n = 0;
		}
	}
}

static void sha_hex(sha256 *s, char out[65])
{
	uint64_t bits = s->len * 8;
	unsigned char pad = 0x80, zero = 0, lenb[8];
	sha_add(s, &pad, 1);
	while (s->n != 56)
		sha_add(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		lenb[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha_add(s, lenb, 8);
	for (int i = 0; i < 8; i++)
		snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

/* --- echo server: one thread per connection, hashes what it got --- */
typedef struct echo_server {
	int lfd, port;
	pthread_t th;
	pthread_mutex_t mu;
	char last_hash[65];
	uint64_t last_len;
	atomic_int conns;
} echo_server;

typedef struct echo_conn {
	echo_server *srv;
	int fd;
} echo_conn;

static void *echo_conn_main(void *arg)
{
	echo_conn *ec = arg;
	sha256 s;
	sha_init(&s);
	char *buf = malloc(65536);
	uint64_t total = 0;
	for (;;) {
		ssize_t n = recv(ec->fd, buf, 65536, 0);
		if (n <= 0)
			break;
		sha_add(&s, buf, (size_t)n);
		total += (uint64_t)n;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = send(ec->fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
			if (w <= 0)
				goto done;
			off += w;
		}
	}
done:
	shutdown(ec->fd, SHUT_WR);
	char hex[65];
	sha_hex(&s, hex);
	pthread_mutex_lock(&ec->srv->mu);
	memcpy(ec->srv->last_hash, hex, sizeof(hex));
	ec->srv->last_len = total;
	pthread_mutex_unlock(&ec->srv->mu);
	/* wait for the peer to close so the FIN/close ordering is the peer's */
	while (recv(ec->fd, buf, 65536, 0) > 0)
		;
	close(ec->fd);
	free(buf);
	free(ec);
	return NULL;
}

static void *echo_main(void *arg)
{
	echo_server *srv = arg;
	for (;;) {
		int fd = accept(srv->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		atomic_fetch_add(&srv->conns, 1);
		echo_conn *ec = malloc(sizeof(*ec));
		ec->srv = srv;
		ec->fd = fd;
		pthread_t th;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_create(&th, &at, echo_conn_main, ec);
		pthread_attr_destroy(&at);
	}
}

static int echo_start(echo_server *srv)
{
	memset(srv, 0, sizeof(*srv));
	pthread_mutex_init(&srv->mu, NULL);
	srv->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	if (bind(srv->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(srv->lfd, 128) < 0)
		return -1;
	getsockname(srv->lfd, (struct sockaddr *)&a, &l);
	srv->port = ntohs(a.sin_port);
	return pthread_create(&srv->th, NULL, echo_main, srv);
}

static void echo_stop(echo_server *srv)
{
	shutdown(srv->lfd, SHUT_RDWR);
	close(srv->lfd);
	pthread_join(srv->th, NULL);
}

static int tunnel_stop(tunnel_th *t)
{
	long long t0 = test_now_ms();
	t->stop = 1;
	pthread_join(t->th, NULL);
	CHECK(test_now_ms() - t0 < 5000); /* generous: shared, loaded CI machines */
	if (t->rc)
		fprintf(stderr, "# tunnel: %s\n", t->msg);
	return t->rc;
}

/* --- clients: n connections each sending `each` bytes and checking the echo --- */
static uint8_t gen_byte(uint64_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 7;
	*st ^= *st << 17;
	return (uint8_t)(*st >> 24);
}

typedef struct client {
	int fd;
	uint64_t sent, got, gen_tx, gen_rx;
	bool shut, eof, bad;
	sha256 tx, rx;
} client;

static int run_clients(int port, int n, uint64_t each, char tx_hash[65], char rx_hash[65])
{
	client *c = calloc((size_t)n, sizeof(*c));
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	unsigned char *buf = malloc(65536);
	int bad = 0;
	for (int i = 0; i < n; i++) {
		c[i].fd = test_connect(port);
		if (c[i].fd < 0) {
			bad++;
			c[i].eof = c[i].shut = true;
			continue;
		}
		fcntl(c[i].fd, F_SETFL, O_NONBLOCK);
		c[i].gen_tx = c[i].gen_rx = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
		sha_init(&c[i].tx);
		sha_init(&c[i].rx);
	}
	long long deadline = test_now_ms() + 90000;
	for (;;) {
		int active = 0;
		for (int i = 0; i < n; i++) {
			p[i].fd = c[i].eof ? -1 : c[i].fd;
			p[i].events = (short)(POLLIN | (c[i].shut ? 0 : POLLOUT));
			active += !c[i].eof;
		}
		if (!active || test_now_ms() > deadline)
			break;
		if (poll(p, (nfds_t)n, 1000) < 0)
			break;
		for (int i = 0; i < n; i++) {
			client *k = &c[i];
			if (k->eof)
				continue;
			if ((p[i].revents & POLLOUT) && !k->shut) {
				size_t len = each - k->sent < 65536 ? (size_t)(each - k->sent) : 65536;
				uint64_t save = k->gen_tx;
				for (size_t j = 0; j < len; j++)
					buf[j] = gen_byte(&k->gen_tx);
				ssize_t w = send(k->fd, buf, len, MSG_NOSIGNAL);
				if (w < 0)
					w = 0;
				/* rewind the generator to what was really sent */
				k->gen_tx = save;
				for (ssize_t j = 0; j < w; j++)
					gen_byte(&k->gen_tx);
				sha_add(&k->tx, buf, (size_t)w);
				k->sent += (uint64_t)w;
				if (k->sent == each) {
					shutdown(k->fd, SHUT_WR);
					k->shut = true;
				}
			}
			if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t r = recv(k->fd, buf, 65536, 0);
				if (r == 0 || (r < 0 && errno != EAGAIN)) {
					k->eof = true;
					continue;
				}
				for (ssize_t j = 0; j < r; j++)
					if (buf[j] != gen_byte(&k->gen_rx))
						k->bad = true;
				if (r > 0) {
					sha_add(&k->rx, buf, (size_t)r);
					k->got += (uint64_t)r;
				}
			}
		}
	}
	for (int i = 0; i < n; i++) {
		if (c[i].fd < 0)
			continue;
		if (c[i].bad || c[i].got != each || c[i].sent != each || !c[i].eof) {
			fprintf(stderr, "# client %d: sent %llu got %llu eof %d bad %d\n", i,
				(unsigned long long)c[i].sent, (unsigned long long)c[i].got,
				c[i].eof, c[i].bad);
			bad++;
		}
		if (i == 0 && tx_hash) {
			sha_hex(&c[i].tx, tx_hash);
			sha_hex(&c[i].rx, rx_hash);
		}
		close(c[i].fd);
	}
	free(buf);
	free(p);
	free(c);
	return bad;
}

int main(void)
{
	test_sshd sshd;
	int rc = test_sshd_start(&sshd);
	if (rc == 77)
		return 77;
	if (rc != 0) {
		fprintf(stderr, "# cannot start sshd\n");
		return 1;
	}
	echo_server echo;
	CHECK_INT(echo_start(&echo), 0);
	cl_ssh_opts so = test_sshd_opts(&sshd);
	cl_ssh *ssh = NULL;
	CHECK_INT(cl_ssh_connect(&ssh, &so), 0);
	if (!ssh)
		return tap_done();

	tunnel_th t;
	int port = tunnel_start(&t, ssh, 0, echo.port, 300);
	CHECK(port > 0);

	/* 64 MiB both ways, hashes equal at all three points. */
	char tx[65] = "", rx[65] = "";
	long long t0 = test_now_ms();
	CHECK_INT(run_clients(port, 1, 64ull << 20, tx, rx), 0);
	long long dt = test_now_ms() - t0;
	printf("# 64 MiB echoed in %lld ms\n", dt);
	test_sleep_ms(100);
	pthread_mutex_lock(&echo.mu);
	CHECK_STR(echo.last_hash, tx);
	CHECK_INT(echo.last_len, 64ull << 20);
	pthread_mutex_unlock(&echo.mu);
	CHECK_STR(rx, tx);

	/* 50 concurrent connections, 1 MiB each. */
	CHECK_INT(run_clients(port, 50, 1 << 20, NULL, NULL), 0);
	/* And many tiny ones, to check open/close churn. */
	for (int i = 0; i < 20; i++)
		CHECK_INT(run_clients(port, 5, 100, NULL, NULL), 0);

	/* Keepalives went out meanwhile and the session still works. */
	CHECK_INT(tunnel_stop(&t), 0);

	/* A remote port nothing listens on: the client gets EOF, a notice is raised. */
	int dead_port = test_free_port();
	port = tunnel_start(&t, ssh, 0, dead_port, 300);
	CHECK(port > 0);
	int fd = test_connect(port);
	CHECK(fd >= 0);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char b;
	CHECK(poll(&pfd, 1, 5000) == 1 && recv(fd, &b, 1, 0) <= 0);
	close(fd);
	CHECK(atomic_load(&t.notices) >= 1);
	CHECK_INT(tunnel_stop(&t), 0);

	/* A busy local port moves to a free one above it; exact_port refuses. */
	int busy = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	CHECK(bind(busy, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(busy, 1) == 0);
	getsockname(busy, (struct sockaddr *)&a, &al);
	int busy_port = ntohs(a.sin_port);
	port = tunnel_start(&t, ssh, busy_port, echo.port, 300);
	CHECK(port > busy_port && port <= busy_port + 100);
	CHECK_INT(run_clients(port, 2, 4096, NULL, NULL), 0);
	CHECK_INT(tunnel_stop(&t), 0);
	cl_tunnel_opts eo = {.local_port = busy_port, .exact_port = true, .stop = &t.stop};
	CHECK_INT(cl_tunnel_run(ssh, &eo), CL_EUNAVAIL);
	CHECK(strstr(cl_error_msg(), "Address already in use") != NULL);
	close(busy);

	/* Stopping through a self-pipe, with a connection still open. */
	int pipefd[2];
	CHECK(pipe(pipefd) == 0);
	memset(&t, 0, sizeof(t));
	t.ssh = ssh;
	t.o = (cl_tunnel_opts){.remote_host = "127.0.0.1", .remote_port = echo.port,
			       .on_listen = on_listen, .ctx = &t, .stop_fd = pipefd[0]};
	pthread_create(&t.th, NULL, tunnel_main, &t);
	for (int i = 0; i < 500 && atomic_load(&t.port) == 0; i++)
		test_sleep_ms(10);
	port = atomic_load(&t.port);
	fd = test_connect(port);
	CHECK(fd >= 0);
	CHECK(send(fd, "x", 1, 0) == 1);
	CHECK(recv(fd, &b, 1, 0) == 1 && b == 'x');
	CHECK(write(pipefd[1], "q", 1) == 1);
	pthread_join(t.th, NULL);
	CHECK_INT(t.rc, 0);
	CHECK(recv(fd, &b, 1, 0) <= 0); /* the tunnel closed the client */
	close(fd);
	close(pipefd[0]);
	close(pipefd[1]);

	/* Bad options. */
	cl_tunnel_opts bo = {.bind_address = "localhost:1", .stop = &t.stop};
	CHECK_INT(cl_tunnel_run(ssh, &bo), CL_EINVAL);

	/* The session is still good for exec after all that. */
	cl_buf out = CL_BUF_INIT;
	int st = -1;
	CHECK_INT(cl_ssh_exec(ssh, "echo ok", NULL, 0, 30000, &out, NULL, &st), 0);
	CHECK_STR(cl_buf_str(&out), "ok\n");
	cl_buf_free(&out);

	cl_ssh_free(ssh);
	echo_stop(&echo);
	test_sshd_stop(&sshd);
	return tap_done();
}
