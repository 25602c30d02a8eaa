/* Internals shared by the tunnel module's files (keys, sessions, forwarding). */
#ifndef CL_TUNNEL_SSH_INT_H
#define CL_TUNNEL_SSH_INT_H

#include <libssh/libssh.h>

#include "classlab/cl_ssh.h"

struct cl_ssh {
	ssh_session session;
	char *target; /* "[host]:port" or "host" */
};

/* Imports a public key line (validated with cl_ssh_pubkey_parse). */
int cl_ssh_key_import_line(const char *line, ssh_key *out);
/* "SHA256:..." of a key. New string. */
int cl_ssh_key_fingerprint(ssh_key key, char **out);
/* "[host]:port", or "host" for port 22. New string. */
char *cl_ssh_hostport(const char *host, int port);
/* Milliseconds from a monotonic clock. */
long long cl_ssh_now_ms(void);

#endif
