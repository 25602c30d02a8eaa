/*
 * A tunnel (cl_tunnel_run) in its own thread, for the tunnel tests: it alone
 * uses the session while it runs.
 */
#ifndef CL_TEST_TUNNEL_THREAD_H
#define CL_TEST_TUNNEL_THREAD_H

#include "test_tunnel_sshd.h"
#include "classlab/cl_tunnel.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

typedef struct tunnel_th {
	cl_ssh *ssh;
	cl_tunnel_opts o;
	pthread_t th;
	volatile sig_atomic_t stop;
	atomic_int port;
	atomic_int notices;
	int rc;
	char msg[512];
} tunnel_th;

static void on_listen(void *ctx, int port)
{
	atomic_store(&((tunnel_th *)ctx)->port, port);
}

static void on_notice(void *ctx, const char *msg)
{
	(void)msg;
	atomic_fetch_add(&((tunnel_th *)ctx)->notices, 1);
}

static void *tunnel_main(void *arg)
{
	tunnel_th *t = arg;
	t->rc = cl_tunnel_run(t->ssh, &t->o);
	snprintf(t->msg, sizeof(t->msg), "%s", t->rc ? cl_error_msg() : "");
	atomic_store(&t->port, -1);
	return NULL;
}

/* Starts the tunnel; its port, or -1 when it stopped, or 0 after 5 s without listening. */
static int tunnel_start(tunnel_th *t, cl_ssh *ssh, int local_port, int remote_port,
			int keepalive_ms)
{
	memset(t, 0, sizeof(*t));
	t->ssh = ssh;
	t->o.local_port = local_port;
	t->o.remote_host = "127.0.0.1";
	t->o.remote_port = remote_port;
	t->o.on_listen = on_listen;
	t->o.on_notice = on_notice;
	t->o.ctx = t;
	t->o.stop = &t->stop;
	t->o.keepalive_ms = keepalive_ms;
	pthread_create(&t->th, NULL, tunnel_main, t);
	for (int i = 0; i < 500 && atomic_load(&t->port) == 0; i++)
		test_sleep_ms(10);
	return atomic_load(&t->port);
}

#endif
