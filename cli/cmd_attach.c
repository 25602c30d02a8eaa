/* classlab vm attach */
#include "cli.h"
#include "classlab/cl_ssh.h"
#include "classlab/cl_tunnel.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_students.h"
#include "classlab/banned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first line of stdin, without its newline; at most 1 KiB. */
static int read_password(char **out)
{
	char line[1025];

	if (!fgets(line, sizeof(line), stdin))
		return cl_error_set(CL_EINVAL, "--password-stdin: nothing on standard input");
	line[strcspn(line, "\r\n")] = '\0';
	if (!line[0])
		return cl_error_set(CL_EINVAL, "--password-stdin: the password is empty");
	*out = cl_strdup(line);
	explicit_bzero(line, sizeof(line));
	return 0;
}

static char *attach_text(const json_t *j)
{
	return cl_aprintf("attached [%s]:%lld as %s-%s (host key %s)\n",
			  json_string_value(json_object_get(j, "address")),
			  (long long)json_integer_value(json_object_get(j, "port")),
			  json_string_value(json_object_get(j, "lab")),
			  json_string_value(json_object_get(j, "student")),
			  json_string_value(json_object_get(j, "host_key_fingerprint")));
}

int cmd_vm_attach(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	cl_attach_opts o = {0};
	bool pw = cli_flag(ctx, "password-stdin");
	char *password = NULL, *pinned = NULL;
	const char *port_s = cli_opt_get(ctx, "ssh-port");
	uint64_t port = 22;
	int rc;

	(void)argc;
	o.address = cli_opt_get(ctx, "address");
	o.username = cli_opt_get(ctx, "username");
	o.private_key_file = cli_opt_get(ctx, "private-key");
	o.fingerprint = cli_opt_get(ctx, "host-key-fingerprint");
	o.trust_first = cli_flag(ctx, "trust-first");
	if (port_s && (rc = cl_parse_u64("--ssh-port", port_s, 65535, &port)))
		return rc;
	if (!o.address || !o.username)
		return cli_usage_error(ctx, "--address and --username are required");
	if (o.fingerprint && o.trust_first)
		return cli_usage_error(ctx, "give --host-key-fingerprint or --trust-first, not both");
	if (pw && o.private_key_file)
		return cli_usage_error(ctx, "give --private-key or --password-stdin, not both");
	if (pw && (rc = read_password(&password)))
		return rc;
	o.lab = argv[0];
	o.student = argv[1];
	o.port = (int)port;
	o.password = password;
	rc = cl_attach(ctx->cl, &o, &pinned);
	cl_ssh_free_secret(password);
	if (rc)
		return rc;
	if (o.trust_first)
		cli_note(ctx, "pinned host key %s for [%s]:%d (trusted on first use: check it "
			      "with the machine's owner)\n",
			 pinned, o.address, o.port);
	res->data = json_pack("{s:s, s:s, s:s, s:i, s:s}", "lab", o.lab, "student", o.student,
			      "address", o.address, "port", o.port, "host_key_fingerprint", pinned);
	res->view = VIEW_TEXT;
	res->text = attach_text;
	free(pinned);
	return 0;
}
