/* Test tool (not a test): prints the #cloud-config user-data classlab renders
 * (cl_cloudconfig_user_data) for the e2e tests that build their own seed, e.g.
 * an OpenStack config drive. Usage:
 *   cl-render-user-data HOSTNAME INSTANCE_ID USER AUTHORIZED_KEY.pub HOST_KEY [RUNCMD...]
 * HOST_KEY is an OpenSSH private key file with HOST_KEY.pub beside it. */
#include "classlab/cl_provision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The file's text, without a trailing newline for a one-line file (a .pub). */
static char *slurp(const char *path, int one_line)
{
	FILE *f = fopen(path, "r");
	cl_buf b = CL_BUF_INIT;
	char chunk[4096];
	size_t n;
	if (!f) {
		fprintf(stderr, "cl-render-user-data: cannot read '%s'\n", path);
		exit(1);
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		cl_buf_add(&b, chunk, n);
	fclose(f);
	if (one_line)
		while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
			b.data[--b.len] = 0;
	return cl_buf_detach(&b);
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: cl-render-user-data HOSTNAME INSTANCE_ID USER KEY.pub "
				"HOST_KEY [RUNCMD...]\n");
		return 2;
	}
	char *akey = slurp(argv[4], 1), *hpriv = slurp(argv[5], 0);
	char *hpub_path = cl_aprintf("%s.pub", argv[5]);
	char *hpub = slurp(hpub_path, 1);
	const char *keys[] = {akey};
	cl_cloudconfig cc = {
	    .hostname = argv[1],
	    .instance_id = argv[2],
	    .username = argv[3],
	    .authorized_keys = keys,
	    .n_authorized_keys = 1,
	    .host_key_private = hpriv,
	    .host_key_public = hpub,
	    .runcmd = (const char *const *)argv + 6,
	    .n_runcmd = (size_t)(argc - 6),
	};
	cl_buf ud = CL_BUF_INIT;
	int rc = cl_cloudconfig_user_data(&cc, &ud);
	if (rc < 0)
		fprintf(stderr, "cl-render-user-data: %s\n", cl_error_msg());
	else
		fwrite(ud.data, 1, ud.len, stdout);
	cl_buf_free(&ud);
	free(akey);
	free(hpriv);
	free(hpub_path);
	free(hpub);
	return rc < 0 ? 1 : 0;
}
