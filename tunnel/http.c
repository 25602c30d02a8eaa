/*
 * One HTTP exchange with a port on the VM's loopback over the pinned SSH session
 * (direct-tcpip): the web page's Jupyter proxy. The request is HTTP/1.0 with
 * "Connection: close", so the answer ends at the channel's EOF.
 */
#include "classlab/cl_tunnel.h"
#include "../ssh/ssh_int.h"
#include "classlab/banned.h"

#include <string.h>

int cl_tunnel_http(cl_ssh *ssh, int port, const void *request, size_t len, size_t max,
		   int timeout_ms, cl_buf *response)
{
	ssh_channel ch = ssh_channel_new(ssh->session);
	long long end = cl_ssh_now_ms() + timeout_ms;
	char chunk[16384];
	int rc = 0;

	if (!ch)
		return cl_error_set(CL_EFAIL, "cannot open a channel on %s: %s", ssh->target,
				    ssh_get_error(ssh->session));
	if (ssh_channel_open_forward(ch, "127.0.0.1", port, "127.0.0.1", 0) != SSH_OK) {
		rc = cl_error_set(CL_EUNAVAIL, "nothing answers on port %d of %s: %s", port,
				  ssh->target, ssh_get_error(ssh->session));
		goto out;
	}
	for (size_t off = 0; off < len;) {
		int n = ssh_channel_write(ch, (const char *)request + off, (uint32_t)(len - off));
		if (n <= 0) {
			rc = cl_error_set(CL_EFAIL, "cannot send to port %d of %s: %s", port,
					  ssh->target, ssh_get_error(ssh->session));
			goto out;
		}
		off += (size_t)n;
	}
	while (!ssh_channel_is_eof(ch)) {
		long long left = end - cl_ssh_now_ms();
		if (left <= 0) {
			rc = cl_error_set(CL_EFAIL, "port %d of %s did not answer within %d ms",
					  port, ssh->target, timeout_ms);
			goto out;
		}
		int n = ssh_channel_read_timeout(ch, chunk, sizeof(chunk), 0,
						 (int)(left < 1000 ? left : 1000));
		if (n == SSH_ERROR) {
			rc = cl_error_set(CL_EFAIL, "cannot read from port %d of %s: %s", port,
					  ssh->target, ssh_get_error(ssh->session));
			goto out;
		}
		if (n > 0) {
			if (response->len + (size_t)n > max) {
				rc = cl_error_set(CL_EFAIL,
						  "the answer of port %d of %s is over %zu bytes",
						  port, ssh->target, max);
				goto out;
			}
			cl_buf_add(response, chunk, (size_t)n);
		}
	}
out:
	if (ssh_channel_is_open(ch))
		ssh_channel_close(ch);
	ssh_channel_free(ch);
	return rc;
}
