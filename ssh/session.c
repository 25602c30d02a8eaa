/* SSH sessions: connect with a pinned host key, authenticate, run commands, wait for a VM. */
#include "ssh_int.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "classlab/banned.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000
/* AES-GCM first: with AES-NI it costs the forwarder less CPU than chacha20-poly1305. */
#define CIPHERS                                                                        \
	"aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com," \
	"aes256-ctr,aes128-ctr"

long long cl_ssh_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *cl_ssh_target(const cl_ssh *ssh)
{
	return ssh ? ssh->target : "";
}

void cl_ssh_free(cl_ssh *ssh)
{
	if (!ssh)
		return;
	if (ssh->session) {
		ssh_set_blocking(ssh->session, 1);
		if (ssh_is_connected(ssh->session))
			ssh_disconnect(ssh->session);
		ssh_free(ssh->session);
	}
	free(ssh->target);
	free(ssh);
}

/* Host key algorithms that can present a key of this type, so the server offers the pinned one. */
static const char *hostkey_algorithms(const char *type)
{
	if (strcmp(type, "ssh-rsa") == 0)
		return "rsa-sha2-512,rsa-sha2-256,ssh-rsa";
	return type;
}

/* Why a connect failed: only a wrong host key is final for cl_ssh_wait. */
enum connect_fail { FAIL_NONE, FAIL_RETRY, FAIL_FINAL };

static int connect_impl(cl_ssh **out, const cl_ssh_opts *o, int timeout_ms, enum connect_fail *why)
{
	int rc = CL_EFAIL;
	cl_ssh *ssh = NULL;
	ssh_key expected = NULL, offered = NULL, ident = NULL;
	char *type = NULL, *efp = NULL, *ofp = NULL;

	*why = FAIL_FINAL;
	if (!o || !o->host || !*o->host || !o->user || !*o->user)
		return cl_error_set(CL_EINVAL, "ssh connection needs a host and a user");
	int port = o->port ? o->port : 22;
	if (port < 1 || port > 65535)
		return cl_error_set(CL_EINVAL, "invalid ssh port %d", o->port);
	if (!o->host_key)
		return cl_error_set(CL_EINVAL, "ssh connection to '%s' needs the expected host key "
					       "(no trust on first use)",
				    o->host);
	if (!o->identity_file && !o->identity_pem && !o->password)
		return cl_error_set(CL_EINVAL, "ssh connection to '%s' needs a key or a password",
				    o->host);
	if ((rc = cl_ssh_pubkey_parse(o->host_key, &type, NULL, NULL)) < 0 ||
	    (rc = cl_ssh_key_import_line(o->host_key, &expected)) < 0) {
		cl_error_wrap("expected host key for '%s'", o->host);
		goto out;
	}

	ssh = cl_calloc(1, sizeof(*ssh));
	ssh->target = cl_ssh_hostport(o->host, port);
	ssh->session = ssh_new();
	if (!ssh->session) {
		rc = cl_error_set(CL_EFAIL, "cannot create an ssh session");
		goto out;
	}
	ssh_session s = ssh->session;
	long timeout_usec = (long)(timeout_ms % 1000) * 1000;
	long timeout_sec = timeout_ms / 1000;
	int zero = 0, one = 1;
	if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &zero) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_HOST, o->host) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_USER, o->user) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout_sec) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &timeout_usec) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, hostkey_algorithms(type)) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_NODELAY, &one) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, CIPHERS) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, CIPHERS) < 0) {
		rc = cl_error_set(CL_EINVAL, "cannot set ssh options for %s: %s", ssh->target,
				  ssh_get_error(s));
		goto out;
	}

	*why = FAIL_RETRY;
	if (ssh_connect(s) != SSH_OK) {
		rc = cl_error_set(CL_EUNAVAIL, "cannot connect to %s: %s", ssh->target,
				  ssh_get_error(s));
		goto out;
	}
	if (ssh_get_server_publickey(s, &offered) != SSH_OK) {
		rc = cl_error_set(CL_EUNAVAIL, "cannot get the host key of %s: %s", ssh->target,
				  ssh_get_error(s));
		goto out;
	}
	if (ssh_key_cmp(offered, expected, SSH_KEY_CMP_PUBLIC) != 0) {
		*why = FAIL_FINAL;
		if (cl_ssh_key_fingerprint(expected, &efp) < 0 ||
		    cl_ssh_key_fingerprint(offered, &ofp) < 0) {
			rc = cl_error_wrap("host key for %s does not match", ssh->target);
			goto out;
		}
		rc = cl_error_set(CL_EUNAVAIL,
				  "host key for %s does not match: expected %s, offered %s",
				  ssh->target, efp, ofp);
		goto out;
	}

	int auth = SSH_AUTH_DENIED;
	const char *method;
	if (o->identity_file || o->identity_pem) {
		method = "public key";
		int irc = o->identity_file
				  ? ssh_pki_import_privkey_file(o->identity_file, NULL, NULL, NULL,
								&ident)
				  : ssh_pki_import_privkey_base64(o->identity_pem, NULL, NULL, NULL,
								  &ident);
		if (irc != SSH_OK) {
			*why = FAIL_FINAL;
			rc = cl_error_set(CL_EINVAL, "cannot load private key%s%s%s",
					  o->identity_file ? " '" : "",
					  o->identity_file ? o->identity_file : "",
					  o->identity_file ? "'" : "");
			goto out;
		}
		auth = ssh_userauth_publickey(s, NULL, ident);
	} else {
		method = "password";
		auth = ssh_userauth_password(s, NULL, o->password);
	}
	if (auth != SSH_AUTH_SUCCESS) {
		if (auth == SSH_AUTH_ERROR)
			rc = cl_error_set(CL_EUNAVAIL, "cannot log in to %s@%s: %s", o->user,
					  ssh->target, ssh_get_error(s));
		else
			rc = cl_error_set(CL_EFAIL, "%s login as '%s' to %s was denied", method,
					  o->user, ssh->target);
		goto out;
	}

	*out = ssh;
	ssh = NULL;
	*why = FAIL_NONE;
	rc = 0;
out:
	ssh_key_free(ident);
	ssh_key_free(offered);
	ssh_key_free(expected);
	free(ofp);
	free(efp);
	free(type);
	cl_ssh_free(ssh);
	return rc;
}

int cl_ssh_connect(cl_ssh **out, const cl_ssh_opts *opts)
{
	enum connect_fail why;
	int t = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
						     : DEFAULT_CONNECT_TIMEOUT_MS;
	return connect_impl(out, opts, t, &why);
}

/* --- exec --- */

static void format_secs(cl_buf *b, int ms)
{
	if (ms % 1000 == 0)
		cl_buf_printf(b, "%d", ms / 1000);
	else
		cl_buf_printf(b, "%d.%d", ms / 1000, (ms % 1000) / 100);
}

/* Moves what libssh has buffered for one stream into dst; CL_EFAIL past the cap. */
static int drain(ssh_channel ch, int is_stderr, cl_buf *dst, size_t *total, const char *cmd)
{
	char buf[32768];
	for (;;) {
		int avail = ssh_channel_poll(ch, is_stderr);
		if (avail <= 0)
			return 0;
		int n = ssh_channel_read_nonblocking(ch, buf, sizeof(buf), is_stderr);
		if (n <= 0)
			return 0;
		*total += (size_t)n;
		if (*total > CL_SSH_EXEC_OUTPUT_MAX)
			return cl_error_set(CL_EFAIL, "'%s' wrote more than %u MiB to %s", cmd,
					    CL_SSH_EXEC_OUTPUT_MAX >> 20,
					    is_stderr ? "stderr" : "stdout");
		if (dst)
			cl_buf_add(dst, buf, (size_t)n);
	}
}

int cl_ssh_exec(cl_ssh *ssh, const char *command, const void *stdin_data, size_t stdin_len,
		int timeout_ms, cl_buf *out, cl_buf *err, int *exit_status)
{
	int rc = CL_EFAIL;
	ssh_channel ch = NULL;
	ssh_event ev = NULL;
	size_t nout = 0, nerr = 0;
	long long deadline = timeout_ms > 0 ? cl_ssh_now_ms() + timeout_ms : 0;

	if (exit_status)
		*exit_status = -1;
	if (!ssh || !command)
		return cl_error_set(CL_EINVAL, "ssh exec needs a session and a command");
	ssh_session s = ssh->session;
	ch = ssh_channel_new(s);
	if (!ch) {
		rc = cl_error_set(CL_EUNAVAIL, "cannot run '%s' on %s: %s", command, ssh->target,
				  ssh_get_error(s));
		goto out;
	}
	if (ssh_channel_open_session(ch) != SSH_OK || ssh_channel_request_exec(ch, command) != SSH_OK) {
		rc = cl_error_set(CL_EUNAVAIL, "cannot run '%s' on %s: %s", command, ssh->target,
				  ssh_get_error(s));
		goto out;
	}
	if (stdin_data && stdin_len > 0) {
		const char *p = stdin_data;
		size_t left = stdin_len;
		while (left > 0) {
			uint32_t chunk = left > 65536 ? 65536 : (uint32_t)left;
			int w = ssh_channel_write(ch, p, chunk);
			if (w < 0) {
				rc = cl_error_set(CL_EUNAVAIL, "cannot send input to '%s' on %s: %s",
						  command, ssh->target, ssh_get_error(s));
				goto out;
			}
			p += w;
			left -= (size_t)w;
			if ((rc = drain(ch, 0, out, &nout, command)) < 0 ||
			    (rc = drain(ch, 1, err, &nerr, command)) < 0)
				goto out;
			if (deadline && cl_ssh_now_ms() >= deadline)
				goto timed_out;
		}
	}
	if (ssh_channel_send_eof(ch) != SSH_OK) {
		rc = cl_error_set(CL_EUNAVAIL, "cannot send EOF to '%s' on %s: %s", command,
				  ssh->target, ssh_get_error(s));
		goto out;
	}

	ev = ssh_event_new();
	if (!ev || ssh_event_add_session(ev, s) != SSH_OK) {
		rc = cl_error_set(CL_EFAIL, "cannot poll ssh session %s", ssh->target);
		goto out;
	}
	for (;;) {
		if ((rc = drain(ch, 0, out, &nout, command)) < 0 ||
		    (rc = drain(ch, 1, err, &nerr, command)) < 0)
			goto out;
		if (ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch))
			break;
		int slice = 200;
		if (deadline) {
			long long left = deadline - cl_ssh_now_ms();
			if (left <= 0)
				goto timed_out;
			if (left < slice)
				slice = (int)left;
		}
		if (ssh_event_dopoll(ev, slice) == SSH_ERROR || !ssh_is_connected(s)) {
			rc = cl_error_set(CL_EUNAVAIL, "connection to %s lost while running '%s': %s",
					  ssh->target, command, ssh_get_error(s));
			goto out;
		}
	}
	/* The exit status comes right around EOF; give it until the deadline (or 5 s). */
	{
		long long until = deadline ? deadline : cl_ssh_now_ms() + 5000;
		while (!ssh_channel_is_closed(ch) && ssh_is_connected(s)) {
			long long left = until - cl_ssh_now_ms();
			if (left <= 0)
				break;
			ssh_event_dopoll(ev, left < 100 ? (int)left : 100);
		}
	}
	if (exit_status) {
		/* Non-blocking here: the channel is closed or we stop waiting. */
		ssh_set_blocking(s, 0);
		*exit_status = ssh_channel_get_exit_status(ch);
		ssh_set_blocking(s, 1);
	}
	rc = 0;
	goto out;

timed_out: {
	cl_buf secs = CL_BUF_INIT;
	format_secs(&secs, timeout_ms);
	rc = cl_error_set(CL_EFAIL, "'%s' timed out after %s s", command, cl_buf_str(&secs));
	cl_buf_free(&secs);
	ssh_channel_request_send_signal(ch, "KILL");
}
out:
	if (ev) {
		ssh_event_remove_session(ev, s);
		ssh_event_free(ev);
	}
	if (ch) {
		if (ssh_channel_is_open(ch)) {
			ssh_set_blocking(ssh->session, 0);
			ssh_channel_close(ch);
			ssh_set_blocking(ssh->session, 1);
		}
		ssh_channel_free(ch);
	}
	return rc;
}

/* --- wait for a booting VM --- */

/* TCP connect and read an "SSH-" banner line within timeout_ms. 0 or CL_EUNAVAIL. */
static int probe_banner(const char *host, int port, int timeout_ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char portstr[16];
	int fd = -1, rc = CL_EUNAVAIL;
	long long deadline = cl_ssh_now_ms() + timeout_ms;
	char *target = cl_ssh_hostport(host, port);

	snprintf(portstr, sizeof(portstr), "%d", port);
	int g = getaddrinfo(host, portstr, &hints, &ai);
	if (g != 0) {
		rc = cl_error_set(CL_EUNAVAIL, "cannot resolve '%s': %s", host, gai_strerror(g));
		goto out;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = cl_error_set(CL_EUNAVAIL, "cannot create a socket: %s", strerror(errno));
		goto out;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		rc = cl_error_set(CL_EUNAVAIL, "cannot connect to %s: %s", target, strerror(errno));
		goto out;
	}
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	int left = (int)(deadline - cl_ssh_now_ms());
	if (left < 0 || poll(&pfd, 1, left) <= 0) {
		rc = cl_error_set(CL_EUNAVAIL, "cannot connect to %s: timed out", target);
		goto out;
	}
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	if (soerr) {
		rc = cl_error_set(CL_EUNAVAIL, "cannot connect to %s: %s", target, strerror(soerr));
		goto out;
	}
	char buf[4];
	size_t got = 0;
	while (got < sizeof(buf)) {
		pfd.events = POLLIN;
		left = (int)(deadline - cl_ssh_now_ms());
		if (left <= 0 || poll(&pfd, 1, left) <= 0) {
			rc = cl_error_set(CL_EUNAVAIL, "%s accepted the connection but sent no SSH "
						       "banner",
					  target);
			goto out;
		}
		ssize_t n = recv(fd, buf + got, sizeof(buf) - got, 0);
		if (n <= 0) {
			rc = cl_error_set(CL_EUNAVAIL, "%s closed the connection before the SSH "
						       "banner",
					  target);
			goto out;
		}
		got += (size_t)n;
	}
	if (memcmp(buf, "SSH-", 4) != 0) {
		rc = cl_error_set(CL_EUNAVAIL, "%s does not speak SSH", target);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ai)
		freeaddrinfo(ai);
	free(target);
	return rc;
}

int cl_ssh_wait(const cl_ssh_opts *opts, int timeout_ms, int *elapsed_ms)
{
	long long start = cl_ssh_now_ms(), deadline = start + timeout_ms;
	int rc = CL_EUNAVAIL, attempt = 0;
	cl_buf secs = CL_BUF_INIT;

	if (!opts || !opts->host || timeout_ms <= 0)
		return cl_error_set(CL_EINVAL, "waiting for SSH needs a host and a time-out");
	int per_try = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
	for (;;) {
		long long left = deadline - cl_ssh_now_ms();
		int t = left < per_try ? (int)left : per_try;
		if (t <= 0)
			break;
		rc = probe_banner(opts->host, opts->port ? opts->port : 22, t);
		if (rc == 0) {
			cl_ssh *ssh = NULL;
			enum connect_fail why;
			left = deadline - cl_ssh_now_ms();
			t = left < per_try ? (int)left : per_try;
			if (t <= 0)
				t = 1;
			rc = connect_impl(&ssh, opts, t, &why);
			cl_ssh_free(ssh);
			if (rc == 0 || why == FAIL_FINAL)
				goto out;
		}
		attempt++;
		int pause = attempt < 5 ? 100 : 250;
		left = deadline - cl_ssh_now_ms();
		if (left <= 0)
			break;
		struct timespec ts = {0, (long)(left < pause ? left : pause) * 1000000L};
		nanosleep(&ts, NULL);
	}
	format_secs(&secs, timeout_ms);
	if (rc < 0) {
		char *last = cl_strdup(cl_error_msg());
		rc = cl_error_set(CL_EUNAVAIL, "VM did not answer SSH within %s s: %s",
				  cl_buf_str(&secs), last);
		free(last);
	} else {
		rc = cl_error_set(CL_EUNAVAIL, "VM did not answer SSH within %s s",
				  cl_buf_str(&secs));
	}
out:
	cl_buf_free(&secs);
	if (elapsed_ms)
		*elapsed_ms = (int)(cl_ssh_now_ms() - start);
	return rc;
}
