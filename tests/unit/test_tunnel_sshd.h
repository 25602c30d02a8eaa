/* Test helpers for the tunnel suites: a private OpenSSH sshd on 127.0.0.1 with host and user
 * keys made by classlab, plus small process and socket utilities. Header-only on purpose:
 * each test_tunnel*.c is its own program. */
#ifndef CL_TEST_TUNNEL_SSHD_H
#define CL_TEST_TUNNEL_SSHD_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "classlab/cl_ssh.h"
#include "classlab/cl_util.h"

#define SSHD_BIN "/usr/sbin/sshd"

typedef struct test_sshd {
	char *dir;
	int port;
	pid_t pid;
	char *user;
	char *host_pub;  /* host key line the server presents */
	char *other_pub; /* a host key it does not present */
	char *user_key;  /* private key file path */
	char *user_pem;
	char *user_pub;
} test_sshd;

/* Runs a shell command, returns its stdout (new) and exit status in *status. */
static inline char *test_run(const char *cmd, int *status)
{
	FILE *f = popen(cmd, "r");
	cl_buf b = CL_BUF_INIT;
	char chunk[4096];
	size_t n;
	if (!f)
		return cl_strdup("");
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		cl_buf_add(&b, chunk, n);
	int st = pclose(f);
	if (status)
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return cl_buf_detach(&b);
}

static inline long long test_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int test_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

static inline int test_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static inline void test_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static inline int test_write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	fclose(f);
	return chmod(path, mode);
}

static inline bool test_banner(int port)
{
	int fd = test_connect(port);
	if (fd < 0)
		return false;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[4] = {0};
	bool ok = poll(&p, 1, 1000) == 1 && recv(fd, buf, 4, MSG_WAITALL) == 4 &&
		  memcmp(buf, "SSH-", 4) == 0;
	close(fd);
	return ok;
}

/* Starts sshd. 0, or 77 when sshd is missing (the caller exits 77), or -1. */
static inline int test_sshd_start(test_sshd *t)
{
	char *priv = NULL, *other_priv = NULL;
	memset(t, 0, sizeof(*t));
	if (access(SSHD_BIN, X_OK) != 0) {
		printf("# skipped: %s is missing\n", SSHD_BIN);
		return 77;
	}
	char tmpl[] = "/tmp/cl-sshd-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	t->dir = cl_strdup(tmpl);
	struct passwd *pw = getpwuid(getuid());
	t->user = cl_strdup(pw ? pw->pw_name : "root");
	if (getuid() == 0)
		mkdir("/run/sshd", 0755); /* privilege separation directory */

	/* Keys made by classlab: sshd reading them proves the OpenSSH format. */
	if (cl_ssh_keygen_ed25519(&priv, &t->host_pub, "test-host") < 0 ||
	    cl_ssh_keygen_ed25519(&other_priv, &t->other_pub, "other-host") < 0 ||
	    cl_ssh_keygen_ed25519(&t->user_pem, &t->user_pub, "test-user") < 0)
		return -1;
	char *host_key = cl_path_join(t->dir, "host_ed25519");
	t->user_key = cl_path_join(t->dir, "id_ed25519");
	char *ak = cl_path_join(t->dir, "authorized_keys");
	char *cfg = cl_path_join(t->dir, "sshd_config");
	char *log = cl_path_join(t->dir, "sshd.log");
	int rc = -1;
	if (cl_ssh_write_private_key(host_key, priv) < 0 ||
	    cl_ssh_write_private_key(t->user_key, t->user_pem) < 0) {
		fprintf(stderr, "# %s\n", cl_error_msg());
		goto out;
	}
	char *akline = cl_aprintf("%s\n", t->user_pub);
	test_write_text(ak, akline, 0600);
	free(akline);
	char *conf = cl_aprintf("ListenAddress 127.0.0.1\n"
				"HostKey %s\n"
				"PidFile none\n"
				"AuthorizedKeysFile %s\n"
				"StrictModes no\n"
				"UsePAM no\n"
				"PermitRootLogin prohibit-password\n"
				"PasswordAuthentication no\n"
				"KbdInteractiveAuthentication no\n"
				"AllowTcpForwarding yes\n"
				"MaxStartups 100:30:200\n"
				"MaxSessions 100\n"
				"LogLevel ERROR\n",
				host_key, ak);
	test_write_text(cfg, conf, 0600);
	free(conf);

	for (int attempt = 0; attempt < 5 && rc != 0; attempt++) {
		t->port = test_free_port();
		char port[16];
		snprintf(port, sizeof(port), "%d", t->port);
		pid_t pid = fork();
		if (pid == 0) {
			int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
			if (lfd >= 0)
				dup2(lfd, 2);
			int nfd = open("/dev/null", O_RDWR);
			dup2(nfd, 0);
			dup2(nfd, 1);
			execl(SSHD_BIN, SSHD_BIN, "-D", "-e", "-f", cfg, "-p", port, (char *)NULL);
			_exit(127);
		}
		t->pid = pid;
		for (int i = 0; i < 100; i++) {
			if (test_banner(t->port)) {
				rc = 0;
				break;
			}
			if (waitpid(pid, NULL, WNOHANG) == pid) {
				t->pid = 0;
				break;
			}
			test_sleep_ms(50);
		}
		if (rc != 0 && t->pid) {
			kill(t->pid, SIGTERM);
			waitpid(t->pid, NULL, 0);
			t->pid = 0;
		}
	}
	if (rc != 0) {
		char *cmd = cl_aprintf("cat %s >&2", log);
		free(test_run(cmd, NULL));
		free(cmd);
	}
out:
	cl_ssh_free_secret(priv);
	cl_ssh_free_secret(other_priv);
	free(host_key);
	free(ak);
	free(cfg);
	free(log);
	return rc;
}

static inline void test_sshd_stop(test_sshd *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		waitpid(t->pid, NULL, 0);
	}
	if (t->dir) {
		char *cmd = cl_aprintf("rm -rf '%s'", t->dir);
		free(test_run(cmd, NULL));
		free(cmd);
	}
	free(t->dir);
	free(t->user);
	free(t->host_pub);
	free(t->other_pub);
	free(t->user_key);
	cl_ssh_free_secret(t->user_pem);
	free(t->user_pub);
}

static inline cl_ssh_opts test_sshd_opts(const test_sshd *t)
{
	cl_ssh_opts o = {.host = "127.0.0.1", .port = t->port, .user = t->user,
			 .host_key = t->host_pub, .identity_file = t->user_key,
			 .connect_timeout_ms = 20000};
	return o;
}

#endif
