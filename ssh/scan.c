/* Reading a server's host key without logging in, for attaching a machine by fingerprint. */
#include "ssh_int.h"

#include <stdlib.h>
#include <string.h>

#include "classlab/banned.h"

int cl_ssh_host_key_scan(const char *host, int port, int timeout_ms, char **public_line)
{
	ssh_session s = ssh_new();
	ssh_key key = NULL;
	char *b64 = NULL;
	long secs = timeout_ms > 0 ? (timeout_ms + 999) / 1000 : 10;
	int zero = 0, rc;

	*public_line = NULL;
	if (!s)
		return cl_error_set(CL_EFAIL, "cannot create an SSH session");
	if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &zero) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_HOST, host) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &secs) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_HOSTKEYS,
			    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
			    "rsa-sha2-512,rsa-sha2-256") < 0) {
		rc = cl_error_set(CL_EINVAL, "cannot set ssh options for %s: %s", host,
				  ssh_get_error(s));
		goto out;
	}
	if (ssh_connect(s) != SSH_OK) {
		rc = cl_error_set(CL_EUNAVAIL, "cannot connect to [%s]:%d: %s", host, port,
				  ssh_get_error(s));
		goto out;
	}
	if (ssh_get_server_publickey(s, &key) != SSH_OK ||
	    ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
		rc = cl_error_set(CL_EUNAVAIL, "cannot read the host key of [%s]:%d: %s", host, port,
				  ssh_get_error(s));
		goto out;
	}
	*public_line = cl_aprintf("%s %s", ssh_key_type_to_char(ssh_key_type(key)), b64);
	rc = 0;
out:
	ssh_string_free_char(b64);
	ssh_key_free(key);
	if (ssh_is_connected(s))
		ssh_disconnect(s);
	ssh_free(s);
	return rc;
}
