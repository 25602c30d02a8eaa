/* classlab vm attach */
#include "cli.h"
#include "classlab/cl_ssh.h"
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

int cmd_vm_attach(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"address", required_argument, NULL, 'a'},
		{"ssh-port", required_argument, NULL, 'p'},
		{"username", required_argument, NULL, 'u'},
		{"private-key", required_argument, NULL, 'k'},
		{"password-stdin", no_argument, NULL, 'P'},
		{"host-key-fingerprint", required_argument, NULL, 'f'},
		{"trust-first", no_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	cl_attach_opts o = {0};
	bool pw = false;
	char *password = NULL, *pinned = NULL;
	uint64_t port = 22;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': o.address = optarg; break;
		case 'p':
			if ((rc = cl_parse_u64("--ssh-port", optarg, 65535, &port)))
				return rc;
			break;
		case 'u': o.username = optarg; break;
		case 'k': o.private_key_file = optarg; break;
		case 'P': pw = true; break;
		case 'f': o.fingerprint = optarg; break;
		case 't': o.trust_first = true; break;
		default: return cli_bad_option(ctx, argv);
		}
	}
	if ((rc = cli_positionals(ctx, argc, argv, 2, 2)))
		return rc;
	if (!o.address || !o.username)
		return cli_usage_error(ctx, "--address and --username are required");
	if (o.fingerprint && o.trust_first)
		return cli_usage_error(ctx, "give --host-key-fingerprint or --trust-first, not both");
	if (pw && o.private_key_file)
		return cli_usage_error(ctx, "give --private-key or --password-stdin, not both");
	if (pw && (rc = read_password(&password)))
		return rc;
	o.lab = argv[optind];
	o.student = argv[optind + 1];
	o.port = (int)port;
	o.password = password;
	rc = cl_attach(ctx->st, ctx->data_dir, &o, &pinned);
	cl_ssh_free_secret(password);
	if (rc)
		return rc;
	if (o.trust_first)
		cli_note(ctx, "pinned host key %s for [%s]:%d (trusted on first use: check it "
			      "with the machine's owner)\n",
			 pinned, o.address, o.port);
	json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s}", "lab", o.lab, "student", o.student,
			      "address", o.address, "port", o.port, "host_key_fingerprint", pinned);
	char *text = cl_aprintf("attached [%s]:%d as %s-%s (host key %s)\n", o.address, o.port,
				o.lab, o.student, pinned);
	cli_out_text(ctx, text, j);
	free(text);
	free(pinned);
	return 0;
}
