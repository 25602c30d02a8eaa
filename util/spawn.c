/* cl_spawn: run a program without a shell, capture its output, kill it after a timeout. */
#define _GNU_SOURCE
#include "classlab/cl_spawn.h"
#include "classlab/banned.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* environ with envp_extra added; an extra entry replaces an inherited one of the same name. */
static char **merged_env(const char *const extra[])
{
	size_t n_env = 0, n_extra = 0, k = 0;
	char **env;

	while (environ && environ[n_env])
		n_env++;
	while (extra && extra[n_extra])
		n_extra++;
	env = cl_calloc(n_env + n_extra + 1, sizeof(*env));
	for (size_t i = 0; i < n_env; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t name_len = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
		int replaced = 0;
		for (size_t j = 0; j < n_extra && !replaced; j++)
			replaced = strncmp(extra[j], environ[i], name_len) == 0;
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < n_extra; j++)
		env[k++] = (char *)extra[j];
	env[k] = NULL;
	return env;
}

int cl_spawn(const char *const argv[], const char *const envp_extra[], int timeout_ms, cl_buf *out,
	     cl_buf *err, int *exit_status)
{
	int pout[2] = {-1, -1}, perr[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	char **env = NULL;
	pid_t pid = -1;
	int rc = 0, status = 0, timed_out = 0;
	long long deadline;

	*exit_status = 127;
	if (!argv || !argv[0])
		return cl_error_set(CL_EINVAL, "no command to run");
	if (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		rc = cl_error_set(CL_EFAIL, "cannot run '%s': pipe: %s", argv[0], strerror(errno));
		goto out_fds;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGCHLD);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	/* Its own process group, so a timeout kills whatever it started too. */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						POSIX_SPAWN_SETPGROUP);
	env = merged_env(envp_extra);
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(env);
	if (rc != 0) {
		rc = cl_error_set(CL_EFAIL, "cannot run '%s': %s", argv[0], strerror(rc));
		goto out_fds;
	}
	close(pout[1]);
	close(perr[1]);
	pout[1] = perr[1] = -1;

	deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	while (pout[0] >= 0 || perr[0] >= 0) {
		struct pollfd pfd[2] = {{pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}};
		int wait_ms = -1, n;
		if (deadline) {
			long long left = deadline - now_ms();
			if (left <= 0) {
				timed_out = 1;
				break;
			}
			wait_ms = left > 1000000 ? 1000000 : (int)left;
		}
		n = poll(pfd, 2, wait_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = cl_error_set(CL_EFAIL, "cannot run '%s': poll: %s", argv[0], strerror(errno));
			timed_out = 1; /* kill it: we can no longer read its output */
			break;
		}
		for (int i = 0; i < 2; i++) {
			int *fd = i == 0 ? &pout[0] : &perr[0];
			cl_buf *dst = i == 0 ? out : err;
			char chunk[8192];
			ssize_t got;
			if (*fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = read(*fd, chunk, sizeof(chunk));
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0) {
				close(*fd);
				*fd = -1;
				continue;
			}
			if (dst)
				cl_buf_add(dst, chunk, (size_t)got);
		}
	}
	if (timed_out) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (timed_out) {
		if (rc == 0)
			rc = cl_error_set(CL_EFAIL, "'%s' timed out after %d s", argv[0],
					  (timeout_ms + 999) / 1000);
		*exit_status = 128 + SIGKILL;
	} else if (WIFEXITED(status)) {
		*exit_status = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		*exit_status = 128 + WTERMSIG(status);
	}
	if (out && !out->data)
		cl_buf_puts(out, "");
	if (err && !err->data)
		cl_buf_puts(err, "");
out_fds:
	for (int i = 0; i < 2; i++) {
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
	}
	return rc;
}
