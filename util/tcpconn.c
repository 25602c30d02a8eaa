/* Established TCP connections to a local port, from the kernel's tables (/proc/net/tcp{,6}). */
#include "classlab/cl_util.h"
#include "classlab/banned.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TCP_ESTABLISHED_STATE 0x01

/* Counts rows of one table whose local port is port and state ESTABLISHED; absent table: 0. */
static int count_table(const char *path, int port, int *count)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;

	if (!f)
		return errno == ENOENT ? 0 : cl_error_set(CL_EFAIL, "cannot read '%s': %s", path, strerror(errno));
	if (getline(&line, &cap, f) < 0) /* the header */
		goto out;
	while (getline(&line, &cap, f) >= 0) {
		/* "  0: 0100007F:1F90 0100007F:C4A2 01 ..." (tcp6: a 32-digit address) */
		char *local = strchr(line, ':');
		unsigned lport = 0, state = 0;
		if (!local || !(local = strchr(local + 1, ':')))
			continue;
		char *rem = strchr(local, ' ');
		if (sscanf(local + 1, "%x", &lport) != 1 || !rem)
			continue;
		rem += strspn(rem, " ");
		rem = strchr(rem, ' ');
		if (!rem || sscanf(rem, " %x", &state) != 1)
			continue;
		if ((int)lport == port && state == TCP_ESTABLISHED_STATE)
			(*count)++;
	}
out:
	free(line);
	fclose(f);
	return rc;
}

int cl_tcp_established(int port, int *count)
{
	int rc;

	*count = 0;
	if (port <= 0 || port > 65535)
		return cl_error_set(CL_EINVAL, "port %d out of range", port);
	if ((rc = count_table("/proc/net/tcp", port, count)))
		return rc;
	return count_table("/proc/net/tcp6", port, count);
}
