/* A tiny front end for cl_tunnel_run, for bench/tunnel until `classlab tunnel` exists:
 *   tunnel_driver --port SSHPORT --user U --host-key-file F --identity KEY
 *                 [--host H] [--local-port P] [--remote-host H] [--remote-port P]
 * Prints "Forwarding http://localhost:PORT -> HOST:REMOTE" once listening; stops on
 * SIGINT/SIGTERM. Not built by CMake (it is not a test_*.c); bench/tunnel compiles it. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classlab/cl_tunnel.h"
#include "classlab/cl_util.h"

#include "classlab/banned.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct ctx {
	const char *target;
	int rport;
};

static void on_listen(void *c, int port)
{
	struct ctx *x = c;
	printf("Forwarding http://localhost:%d -> %s:%d\n", port, x->target, x->rport);
	fflush(stdout);
}

static void on_notice(void *c, const char *msg)
{
	(void)c;
	fprintf(stderr, "tunnel_driver: %s\n", msg);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"user", required_argument, NULL, 'u'},
		{"host-key-file", required_argument, NULL, 'k'},
		{"identity", required_argument, NULL, 'i'},
		{"local-port", required_argument, NULL, 'l'},
		{"remote-host", required_argument, NULL, 'r'},
		{"remote-port", required_argument, NULL, 'R'},
		{NULL, 0, NULL, 0},
	};
	cl_ssh_opts so = {.host = "127.0.0.1"};
	cl_tunnel_opts to = {0};
	const char *keyfile = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': so.host = optarg; break;
		case 'p': so.port = atoi(optarg); break;
		case 'u': so.user = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'i': so.identity_file = optarg; break;
		case 'l': to.local_port = atoi(optarg); break;
		case 'r': to.remote_host = optarg; break;
		case 'R': to.remote_port = atoi(optarg); break;
		default: fprintf(stderr, "usage: see the source\n"); return 2;
		}
	}
	if (!keyfile || !so.user || !so.identity_file) {
		fprintf(stderr, "tunnel_driver: --host-key-file, --user and --identity are required\n");
		return 2;
	}
	cl_buf key = CL_BUF_INIT;
	if (cl_read_file(keyfile, 65536, &key) < 0) {
		fprintf(stderr, "tunnel_driver: %s\n", cl_error_msg());
		return 2;
	}
	so.host_key = cl_buf_str(&key);

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	cl_ssh *ssh = NULL;
	int rc = cl_ssh_connect(&ssh, &so);
	if (rc == 0) {
		struct ctx x = {cl_ssh_target(ssh), to.remote_port ? to.remote_port : 8888};
		to.on_listen = on_listen;
		to.on_notice = on_notice;
		to.ctx = &x;
		to.stop = &stop;
		rc = cl_tunnel_run(ssh, &to);
	}
	if (rc < 0)
		fprintf(stderr, "tunnel_driver: %s\n", cl_error_msg());
	cl_ssh_free(ssh);
	cl_buf_free(&key);
	return rc < 0 ? -rc : 0;
}
