/* The lab's known_hosts file, written from its VM records (students use it with -o UserKnownHostsFile). */
#include "classlab/cl_labs.h"
#include "classlab/cl_ssh.h"
#include "../ctx/ctx_impl.h"
#include "classlab/banned.h"

#include <stdlib.h>

int cl_known_hosts_write(cl_ctx *ctx, const cl_lab *lab)
{
	cl_store *st = ctx->st;
	const char *data_dir = ctx->data_dir;
	cl_vm *vms = NULL;
	size_t n = 0;
	cl_buf b = CL_BUF_INIT;
	char *dir = NULL, *path = NULL;
	int rc;

	if ((rc = cl_lab_dir(data_dir, lab->name, &dir)) ||
	    (rc = cl_store_vm_list(st, lab->id, &vms, &n)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		char *line = NULL;
		const char *host = vms[i].address ? vms[i].address : lab->public_host;
		if (!vms[i].host_key_pub || !vms[i].ssh_port)
			continue;
		if ((rc = cl_ssh_known_hosts_line(host, (int)vms[i].ssh_port, vms[i].host_key_pub,
						  &line)))
			goto out;
		cl_buf_printf(&b, "%s\n", line);
		free(line);
	}
	path = cl_path_join(dir, "known_hosts");
	rc = cl_write_file(path, cl_buf_str(&b), b.len, 0644);
out:
	cl_vm_list_free(vms, n);
	cl_buf_free(&b);
	free(path);
	free(dir);
	return rc;
}
