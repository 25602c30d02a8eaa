/* Attached machines: a student's existing computer (a lab PC, a cloud VM) as their VM. */
#define _GNU_SOURCE /* crypt_gensalt_ra */
#include "classlab/cl_students.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_ssh.h"
#include "../ctx/ctx_impl.h"
#include "classlab/banned.h"

#include <crypt.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int host_check(const char *host)
{
	if (!*host || strlen(host) > 253)
		return cl_error_set(CL_EINVAL, "invalid --address: expected a host name or address");
	for (const char *p = host; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == ':'))
			return cl_error_set(CL_EINVAL, "invalid --address '%s': expected a host name "
					    "or address", host);
	return 0;
}

/* POSIX-portable login names: what useradd accepts by default. */
static int user_check(const char *u)
{
	size_t n = strlen(u);
	if (n == 0 || n > 32 || !((u[0] >= 'a' && u[0] <= 'z') || u[0] == '_'))
		goto bad;
	for (size_t i = 1; i < n; i++)
		if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= '0' && u[i] <= '9') || u[i] == '_' ||
		      u[i] == '-'))
			goto bad;
	return 0;
bad:
	return cl_error_set(CL_EINVAL, "invalid --username: use a-z, 0-9, '_' and '-'");
}

static char *password_hash(const char *password)
{
	char *salt = crypt_gensalt_ra(NULL, 0, NULL, 0); /* libcrypt's strongest default */
	struct crypt_data *cd = cl_calloc(1, sizeof(*cd));
	char *hash = NULL;

	if (salt) {
		const char *h = crypt_r(password, salt, cd);
		if (h && h[0] != '*')
			hash = cl_strdup(h);
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	free(salt);
	return hash;
}

int cl_attach(cl_ctx *ctx, const cl_attach_opts *o, char **pinned)
{
	cl_store *st = ctx->st;
	const char *data_dir = ctx->data_dir;
	cl_lab lab = {0};
	cl_student s = {0};
	cl_vm vm = {0};
	cl_ssh *ssh = NULL;
	char *offered = NULL, *fp = NULL, *name = NULL, *keycopy = NULL, *dir = NULL;
	cl_buf key = CL_BUF_INIT;
	int rc;

	*pinned = NULL;
	if ((rc = cl_name_check("lab name", o->lab)) || (rc = cl_name_check("student name", o->student)) ||
	    (rc = host_check(o->address)) || (rc = user_check(o->username)))
		return rc;
	if (o->port < 1 || o->port > 65535)
		return cl_error_set(CL_EINVAL, "invalid --ssh-port %d: use 1-65535", o->port);
	if (!o->private_key_file == !o->password)
		return cl_error_set(CL_EINVAL, "give --private-key or --password-stdin");
	if (!o->fingerprint && !o->trust_first)
		return cl_error_set(CL_EINVAL, "give --host-key-fingerprint SHA256:... (from the "
					       "machine: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), "
					       "or --trust-first");
	if ((rc = cl_store_lab_get(st, o->lab, &lab)) ||
	    (rc = cl_store_student_get(st, lab.id, o->student, &s)))
		goto out;
	name = cl_vm_name(o->lab, o->student);
	rc = cl_store_vm_get(st, name, &vm);
	if (rc == 0 && vm.kind != CL_VM_KIND_ATTACHED) {
		rc = cl_error_set(CL_EEXIST, "student '%s' already has a VM made by classlab ('%s')",
				  o->student, name);
		goto out;
	}
	if (rc && rc != CL_ENOTFOUND)
		goto out;
	/* The key the machine offers must be the one the admin vouched for. */
	if ((rc = cl_ssh_host_key_scan(o->address, o->port, 15000, &offered)) ||
	    (rc = cl_ssh_fingerprint(offered, &fp)))
		goto out;
	if (o->fingerprint && strcmp(o->fingerprint, fp) != 0) {
		rc = cl_error_set(CL_EUNAVAIL, "host key of [%s]:%d is %s, not the %s given",
				  o->address, o->port, fp, o->fingerprint);
		goto out;
	}
	/* The credentials must work now; a private key is kept in the lab's directory. */
	if (o->private_key_file) {
		if ((rc = cl_read_file(o->private_key_file, 65536, &key)) ||
		    (rc = cl_lab_dir(data_dir, o->lab, &dir)))
			goto out;
		char *sub = cl_aprintf("%s/students/%s", dir, o->student);
		rc = cl_mkdir_p(sub, 0700);
		keycopy = cl_aprintf("%s/attached_key", sub);
		free(sub);
		if (rc || (rc = cl_ssh_write_private_key(keycopy, key.data)))
			goto out;
	}
	cl_ssh_opts so = {.host = o->address,
			  .port = o->port,
			  .user = o->username,
			  .host_key = offered,
			  .identity_file = keycopy,
			  .password = o->password,
			  .connect_timeout_ms = 15000};
	if ((rc = cl_ssh_connect(&ssh, &so)))
		goto out;
	if (!vm.name) {
		vm.name = cl_strdup(name);
		vm.kind = CL_VM_KIND_ATTACHED;
	}
	vm.lab_id = lab.id;
	vm.student_id = s.id;
	free(vm.address);
	vm.address = cl_strdup(o->address);
	vm.ssh_port = o->port;
	free(vm.username);
	vm.username = cl_strdup(o->username);
	free(vm.host_key_pub);
	vm.host_key_pub = cl_strdup(offered);
	free(vm.auth_secret);
	if (keycopy) {
		vm.auth_secret = cl_aprintf("key:%s", keycopy);
	} else if (!(vm.auth_secret = password_hash(o->password))) {
		rc = cl_error_set(CL_EFAIL, "cannot hash the password: %s", strerror(errno));
		goto out;
	}
	vm.state = CL_VM_STATE_ATTACHED;
	if ((rc = cl_store_begin(st)))
		goto out;
	if ((rc = cl_store_end(st, cl_store_vm_put(st, &vm, NULL))))
		goto out;
	rc = cl_known_hosts_write(ctx, &lab);
	if (rc == 0) {
		*pinned = fp;
		fp = NULL;
	}
out:
	if (rc)
		cl_error_wrap("cannot attach [%s]:%d for '%s'", o->address, o->port, o->student);
	cl_ssh_free(ssh);
	cl_buf_free(&key);
	free(keycopy);
	free(dir);
	free(offered);
	free(fp);
	free(name);
	cl_vm_clear(&vm);
	cl_student_clear(&s);
	cl_lab_clear(&lab);
	return rc;
}
