/* How a student gets in: the SSH command, an OpenSSH config block, X2Go settings. */
#include "classlab/cl_students.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_ssh.h"
#include "../ctx/ctx_impl.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

void cl_access_clear(cl_access *a)
{
	if (!a)
		return;
	free(a->lab);
	free(a->student);
	free(a->vm);
	free(a->user);
	free(a->host);
	free(a->identity_file);
	free(a->known_hosts_file);
	free(a->known_hosts_line);
	free(a->host_key);
	free(a->fingerprint);
	free(a->kind);
	free(a->auth_password_hash);
	memset(a, 0, sizeof(*a));
}

int cl_access_get(cl_ctx *ctx, const char *labname, const char *student,
		  cl_access *out)
{
	cl_store *st = ctx->st;
	const char *data_dir = ctx->data_dir;
	cl_lab lab = {0};
	cl_student s = {0};
	cl_vm vm = {0};
	cl_keypair key = {0};
	char *vmname = NULL, *dir = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = cl_name_check("lab name", labname)) ||
	    (rc = cl_name_check("student name", student)) ||
	    (rc = cl_store_lab_get(st, labname, &lab)) ||
	    (rc = cl_store_student_get(st, lab.id, student, &s)))
		goto out;
	vmname = cl_vm_name(labname, student);
	if ((rc = cl_store_vm_get(st, vmname, &vm))) {
		if (rc == CL_ENOTFOUND)
			rc = cl_error_set(CL_ENOTFOUND,
					  "student '%s' has no VM yet: run 'classlab template publish "
					  "%s' (or 'classlab up')",
					  student, labname);
		goto out;
	}
	/* Names alone could meet across labs: the record must be this student's, by ids. */
	if (vm.lab_id != lab.id || vm.student_id != s.id || vm.kind == CL_VM_KIND_TEMPLATE) {
		rc = cl_error_set(CL_EEXIST,
				  "VM '%s' is not student '%s' of lab '%s' (it belongs to another "
				  "lab or student): rename the student",
				  vmname, student, labname);
		goto out;
	}
	if (!vm.host_key_pub || !vm.ssh_port) {
		rc = cl_error_set(CL_ENOTFOUND, "VM '%s' is not published yet", vmname);
		goto out;
	}
	if ((rc = cl_lab_dir(data_dir, labname, &dir)))
		goto out;
	out->kind = cl_strdup(cl_vm_kind_name(vm.kind));
	if (vm.kind == CL_VM_KIND_ATTACHED) {
		/* An attached machine: its own login; a key file path or a password hash. */
		if (vm.auth_secret && strncmp(vm.auth_secret, "key:", 4) == 0)
			out->identity_file = cl_strdup(vm.auth_secret + 4);
		else if (vm.auth_secret)
			out->auth_password_hash = cl_strdup(vm.auth_secret);
	} else {
		if ((rc = cl_keys_student(data_dir, labname, student, s.ssh_public_key, &key)))
			goto out;
		out->identity_file = key.private_path;
		key.private_path = NULL;
	}
	out->lab = cl_strdup(labname);
	out->student = cl_strdup(student);
	out->vm = vmname;
	vmname = NULL;
	out->user = cl_strdup(vm.username ? vm.username : lab.username);
	out->host = cl_strdup(vm.address ? vm.address : lab.public_host);
	out->port = (int)vm.ssh_port;
	out->known_hosts_file = cl_path_join(dir, "known_hosts");
	out->host_key = cl_strdup(vm.host_key_pub);
	if ((rc = cl_ssh_known_hosts_line(out->host, out->port, vm.host_key_pub,
					  &out->known_hosts_line)) ||
	    (rc = cl_ssh_fingerprint(vm.host_key_pub, &out->fingerprint)))
		goto out;
out:
	if (rc)
		cl_access_clear(out);
	cl_keypair_clear(&key);
	free(vmname);
	free(dir);
	cl_vm_clear(&vm);
	cl_student_clear(&s);
	cl_lab_clear(&lab);
	return rc;
}

/* An address students type after '@': IPv6 literals need no brackets for ssh's -p form. */
char *cl_access_ssh_command(const cl_access *a, int local_port, int remote_port)
{
	if (local_port > 0)
		return cl_aprintf("ssh -L %d:localhost:%d -p %d %s@%s", local_port,
				  remote_port > 0 ? remote_port : 8888, a->port, a->user, a->host);
	return cl_aprintf("ssh -p %d %s@%s", a->port, a->user, a->host);
}

void cl_access_ssh_config(const cl_access *a, cl_buf *out)
{
	cl_buf_printf(out, "Host %s\n", a->vm);
	cl_buf_printf(out, "    HostName %s\n", a->host);
	cl_buf_printf(out, "    Port %d\n", a->port);
	cl_buf_printf(out, "    User %s\n", a->user);
	if (a->identity_file) {
		cl_buf_printf(out, "    IdentityFile \"%s\"\n", a->identity_file);
		cl_buf_puts(out, "    IdentitiesOnly yes\n");
	}
	cl_buf_printf(out, "    UserKnownHostsFile \"%s\"\n", a->known_hosts_file);
	cl_buf_puts(out, "    StrictHostKeyChecking yes\n");
	cl_buf_puts(out, "    HashKnownHosts no\n");
}

void cl_access_x2go_session(const cl_access *a, cl_buf *out)
{
	cl_buf_printf(out, "[%s]\n", a->vm);
	cl_buf_printf(out, "name=%s\n", a->vm);
	cl_buf_printf(out, "host=%s\n", a->host);
	cl_buf_printf(out, "user=%s\n", a->user);
	cl_buf_printf(out, "sshport=%d\n", a->port);
	cl_buf_printf(out, "key=%s\n", a->identity_file ? a->identity_file : "");
	cl_buf_puts(out, "autologin=false\nkrblogin=false\n");
	cl_buf_puts(out, "command=XFCE\nspeed=2\npack=16m-jpeg\nquality=9\n");
	cl_buf_puts(out, "sound=false\nprint=false\nfstunnel=false\n");
}
