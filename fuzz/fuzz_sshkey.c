/* libFuzzer harness: the strict SSH public key line parser (ssh/keys.c, libssh)
 * and, for accepted keys, the fingerprint and known_hosts line built from them. */
#include <stdio.h>

#include "classlab/cl_ssh.h"
#include "classlab/cl_util.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = fz_strndup(data, size);
	char *type = NULL, *b64 = NULL, *comment = NULL, *fp = NULL, *kh = NULL;

	if (cl_ssh_pubkey_parse(line, &type, &b64, &comment) == 0) {
		FZ_CHECK(type && b64 && comment);
		FZ_CHECK(strchr(type, ' ') == NULL && strchr(b64, ' ') == NULL);
		/* An accepted key must fingerprint and make a known_hosts line. */
		FZ_CHECK(cl_ssh_fingerprint(line, &fp) == 0);
		FZ_CHECK(strncmp(fp, "SHA256:", 7) == 0);
		FZ_CHECK(cl_ssh_known_hosts_line("127.0.0.1", 2222, line, &kh) == 0);
	}
	free(kh);
	free(fp);
	free(type);
	free(b64);
	free(comment);
	cl_error_clear();
	free(line);
	return 0;
}
