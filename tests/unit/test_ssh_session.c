/* Sessions against a real loopback sshd: pinned host keys, exec, time-outs, waiting. */
#include "tap.h"
#include "test_tunnel_sshd.h"

#include "classlab/banned.h"

static test_sshd sshd;

static void test_exec(void)
{
	cl_ssh_opts o = test_sshd_opts(&sshd);
	cl_ssh *ssh = NULL;
	int rc = cl_ssh_connect(&ssh, &o);
	if (rc)
		fprintf(stderr, "# %s\n", cl_error_msg());
	CHECK_INT(rc, 0);
	if (!ssh)
		return;
	cl_buf out = CL_BUF_INIT, err = CL_BUF_INIT;
	int status = -2;
	rc = cl_ssh_exec(ssh, "echo hi; echo err >&2; exit 3", NULL, 0, 30000, &out, &err, &status);
	if (rc)
		fprintf(stderr, "# %s\n", cl_error_msg());
	CHECK_INT(rc, 0);
	CHECK_STR(cl_buf_str(&out), "hi\n");
	CHECK_STR(cl_buf_str(&err), "err\n");
	CHECK_INT(status, 3);

	/* stdin goes in, a second command on the same session works. */
	cl_buf_reset(&out);
	cl_buf_reset(&err);
	rc = cl_ssh_exec(ssh, "tr a-z A-Z", "hello\n", 6, 30000, &out, &err, &status);
	if (rc)
		fprintf(stderr, "# %s\n", cl_error_msg());
	CHECK_INT(rc, 0);
	CHECK_STR(cl_buf_str(&out), "HELLO\n");
	CHECK_INT(status, 0);

	/* Bigger output than one window. */
	cl_buf_reset(&out);
	CHECK_INT(cl_ssh_exec(ssh, "head -c 3000000 /dev/zero", NULL, 0, 30000, &out, NULL,
			      &status),
		  0);
	CHECK_INT(out.len, 3000000);

	/* Time-out. */
	long long t0 = test_now_ms();
	cl_buf_reset(&out);
	rc = cl_ssh_exec(ssh, "sleep 10", NULL, 0, 500, &out, &err, &status);
	long long dt = test_now_ms() - t0;
	CHECK_INT(rc, CL_EFAIL);
	CHECK_STR(cl_error_msg(), "'sleep 10' timed out after 0.5 s");
	CHECK(dt < 8000);

	/* Output above the cap is an error, not unbounded memory. */
	cl_buf_reset(&out);
	rc = cl_ssh_exec(ssh, "head -c 20000000 /dev/zero", NULL, 0, 20000, &out, NULL, &status);
	CHECK_INT(rc, CL_EFAIL);
	CHECK(strstr(cl_error_msg(), "more than 16 MiB") != NULL);

	/* The session is still usable after a time-out and an overflow. */
	cl_buf_reset(&out);
	CHECK_INT(cl_ssh_exec(ssh, "echo still", NULL, 0, 30000, &out, NULL, &status), 0);
	CHECK_STR(cl_buf_str(&out), "still\n");
	cl_buf_free(&out);
	cl_buf_free(&err);
	cl_ssh_free(ssh);
}

static void test_pem_identity(void)
{
	cl_ssh_opts o = test_sshd_opts(&sshd);
	o.identity_file = NULL;
	o.identity_pem = sshd.user_pem;
	cl_ssh *ssh = NULL;
	CHECK_INT(cl_ssh_connect(&ssh, &o), 0);
	cl_ssh_free(ssh);

	/* A key the server does not know is denied. */
	char *priv = NULL, *pub = NULL;
	CHECK_INT(cl_ssh_keygen_ed25519(&priv, &pub, NULL), 0);
	o.identity_pem = priv;
	ssh = NULL;
	CHECK_INT(cl_ssh_connect(&ssh, &o), CL_EFAIL);
	CHECK(strstr(cl_error_msg(), "denied") != NULL);
	CHECK(ssh == NULL);
	cl_ssh_free_secret(priv);
	free(pub);
}

static void test_wrong_host_key(void)
{
	cl_ssh_opts o = test_sshd_opts(&sshd);
	o.host_key = sshd.other_pub;
	cl_ssh *ssh = NULL;
	CHECK_INT(cl_ssh_connect(&ssh, &o), CL_EUNAVAIL);
	CHECK(ssh == NULL);
	char *efp = NULL, *ofp = NULL;
	cl_ssh_fingerprint(sshd.other_pub, &efp);
	cl_ssh_fingerprint(sshd.host_pub, &ofp);
	char *want = cl_aprintf("host key for [127.0.0.1]:%d does not match: expected %s, "
				"offered %s",
				sshd.port, efp, ofp);
	CHECK_STR(cl_error_msg(), want);
	free(want);

	/* cl_ssh_wait gives up at once on a wrong key rather than waiting out the time-out. */
	int elapsed = -1;
	CHECK_INT(cl_ssh_wait(&o, 60000, &elapsed), CL_EUNAVAIL);
	CHECK(elapsed >= 0 && elapsed < 30000);
	CHECK(strstr(cl_error_msg(), "does not match") != NULL);

	/* No host key, bad host key, no credentials: invalid input. */
	o.host_key = NULL;
	CHECK_INT(cl_ssh_connect(&ssh, &o), CL_EINVAL);
	o.host_key = "ssh-ed25519 AAAA";
	CHECK_INT(cl_ssh_connect(&ssh, &o), CL_EINVAL);
	o = test_sshd_opts(&sshd);
	o.identity_file = NULL;
	CHECK_INT(cl_ssh_connect(&ssh, &o), CL_EINVAL);
	free(efp);
	free(ofp);
}

static void test_closed_port(void)
{
	cl_ssh_opts o = test_sshd_opts(&sshd);
	o.port = test_free_port();
	cl_ssh *ssh = NULL;
	long long t0 = test_now_ms();
	CHECK_INT(cl_ssh_connect(&ssh, &o), CL_EUNAVAIL);
	CHECK(test_now_ms() - t0 < 1000);
	CHECK(strstr(cl_error_msg(), "cannot connect to [127.0.0.1]:") != NULL);

	int elapsed = 0;
	CHECK_INT(cl_ssh_wait(&o, 700, &elapsed), CL_EUNAVAIL);
	CHECK(elapsed >= 700 && elapsed < 5000);
	CHECK(strncmp(cl_error_msg(), "VM did not answer SSH within 0.7 s: cannot connect", 50) ==
	      0);
}

static void test_wait(void)
{
	cl_ssh_opts o = test_sshd_opts(&sshd);
	int elapsed = -1;
	int rc = cl_ssh_wait(&o, 30000, &elapsed);
	if (rc)
		fprintf(stderr, "# %s\n", cl_error_msg());
	CHECK_INT(rc, 0);
	CHECK(elapsed >= 0 && elapsed < 20000);

	/* A port that accepts but never speaks SSH (a VM's forward before the guest is up). */
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 16) == 0);
	getsockname(lfd, (struct sockaddr *)&a, &l);
	o.port = ntohs(a.sin_port);
	o.connect_timeout_ms = 300;
	CHECK_INT(cl_ssh_wait(&o, 1000, &elapsed), CL_EUNAVAIL);
	CHECK(strstr(cl_error_msg(), "no SSH banner") != NULL);
	close(lfd);
}

int main(void)
{
	int rc = test_sshd_start(&sshd);
	if (rc == 77)
		return 77;
	if (rc != 0) {
		fprintf(stderr, "# cannot start sshd\n");
		return 1;
	}
	test_exec();
	test_pem_identity();
	test_wrong_host_key();
	test_closed_port();
	test_wait();
	test_sshd_stop(&sshd);
	return tap_done();
}
