/* classlab connect | ssh-config | students export | tunnel: how a student gets in. */
#include "cli.h"
#include "classlab/cl_ssh.h"
#include "classlab/cl_students.h"
#include "classlab/banned.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static json_t *access_json(const cl_access *a)
{
	char *ssh = cl_access_ssh_command(a, 0, 0);
	json_t *o = json_object();

	json_object_set_new(o, "lab", json_string(a->lab));
	json_object_set_new(o, "student", json_string(a->student));
	json_object_set_new(o, "vm", json_string(a->vm));
	json_object_set_new(o, "host", json_string(a->host));
	json_object_set_new(o, "port", json_integer(a->port));
	json_object_set_new(o, "user", json_string(a->user));
	json_object_set_new(o, "ssh", json_string(ssh));
	json_object_set_new(o, "identity_file",
			    a->identity_file ? json_string(a->identity_file) : json_null());
	json_object_set_new(o, "known_hosts_file", json_string(a->known_hosts_file));
	json_object_set_new(o, "known_hosts_line", json_string(a->known_hosts_line));
	json_object_set_new(o, "host_key", json_string(a->host_key));
	json_object_set_new(o, "host_key_fingerprint", json_string(a->fingerprint));
	free(ssh);
	return o;
}

/*
 * "--tunnel 9999" (getopt only takes "--tunnel=9999" for an optional value):
 * a number right after --tunnel is its port; it is taken out of argv before
 * option parsing so that it is not read as LAB.
 */
static const char *take_tunnel_port(int *argc, char **argv)
{
	for (int i = 1; i + 1 < *argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--tunnel") != 0)
			continue;
		const char *v = argv[i + 1];
		if (!*v || strspn(v, "0123456789") != strlen(v))
			return NULL;
		memmove(&argv[i + 1], &argv[i + 2], (size_t)(*argc - i - 2) * sizeof(char *));
		(*argc)--;
		return v;
	}
	return NULL;
}

static int tunnel_port_arg(const char *s, int *port)
{
	uint64_t v;

	if (!s) {
		*port = 8888;
		return 0;
	}
	if (cl_parse_u64("--tunnel port", s, 65535, &v) || v == 0)
		return cl_error_set(CL_EINVAL, "invalid --tunnel port '%s': use 1-65535", s);
	*port = (int)v;
	return 0;
}

static int write_x2go_session(cli_ctx *ctx, const cl_access *a)
{
	const char *home = ctx->env.home;
	char *dir, *path;
	cl_buf old = CL_BUF_INIT, entry = CL_BUF_INIT;
	int rc;

	if (!home || !*home)
		return cl_error_set(CL_EINVAL, "HOME is not set: cannot find ~/.x2goclient");
	dir = cl_path_join(home, ".x2goclient");
	path = cl_path_join(dir, "sessions");
	if ((rc = cl_mkdir_p(dir, 0700)))
		goto out;
	rc = cl_read_file(path, 1 << 20, &old);
	if (rc == CL_ENOTFOUND)
		rc = 0;
	if (rc)
		goto out;
	cl_access_x2go_session(a, &entry);
	char *header = cl_aprintf("[%s]\n", a->vm);
	if (old.data && strstr(old.data, header)) {
		rc = cl_error_set(CL_EEXIST, "'%s' already has a session named '%s'", path, a->vm);
	} else {
		if (old.len && old.data[old.len - 1] != '\n')
			cl_buf_putc(&old, '\n');
		cl_buf_add(&old, entry.data, entry.len);
		rc = cl_write_file(path, old.data, old.len, 0600);
	}
	free(header);
	if (rc == 0)
		cli_note(ctx, "wrote session '%s' to %s\n", a->vm, path);
out:
	cl_buf_free(&old);
	cl_buf_free(&entry);
	free(path);
	free(dir);
	return rc;
}

int cmd_connect(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"tunnel", optional_argument, NULL, 't'},
		{"x2go", no_argument, NULL, 'x'},
		{"write", no_argument, NULL, 'w'},
		{NULL, 0, NULL, 0},
	};
	bool tunnel = false, x2go = false, write = false;
	int port = 0, c, rc;
	const char *tport = NULL;
	cl_access a = {0};

	tport = take_tunnel_port(&argc, argv);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			tunnel = true;
			if (optarg)
				tport = optarg;
			break;
		case 'x': x2go = true; break;
		case 'w': write = true; break;
		default: return cli_bad_option(ctx, argv);
		}
	}
	if (tunnel && (rc = tunnel_port_arg(tport, &port)))
		return rc;
	if ((rc = cli_positionals(ctx, argc, argv, 2, 2)))
		return rc;
	if (write && !x2go)
		return cli_usage_error(ctx, "--write goes with --x2go");
	if ((rc = cl_access_get(ctx->st, ctx->data_dir, argv[optind], argv[optind + 1], &a)))
		return rc;
	json_t *o = access_json(&a);
	cl_buf text = CL_BUF_INIT;
	if (tunnel) {
		char *cmd = cl_access_ssh_command(&a, port, port);
		json_object_set_new(o, "tunnel", json_string(cmd));
		cl_buf_printf(&text, "%s\n", cmd);
		free(cmd);
	} else if (x2go) {
		cl_buf_printf(&text,
			      "X2Go session for %s\n  host          %s\n  login         %s\n"
			      "  SSH port      %d\n  session type  XFCE\n  key file      %s\n",
			      a.vm, a.host, a.user, a.port, a.identity_file ? a.identity_file
									    : "(the student's own key)");
		json_object_set_new(o, "x2go", json_pack("{s:s, s:s, s:i, s:s, s:o}", "host", a.host,
							 "login", a.user, "ssh_port", a.port,
							 "session_type", "XFCE", "key_file",
							 a.identity_file ? json_string(a.identity_file)
									 : json_null()));
	} else {
		char *cmd = cl_access_ssh_command(&a, 0, 0);
		cl_buf_printf(&text, "%s\n", cmd);
		free(cmd);
	}
	cli_out_text(ctx, cl_buf_str(&text), o);
	cl_buf_free(&text);
	if (x2go && write)
		rc = write_x2go_session(ctx, &a);
	cl_access_clear(&a);
	return rc;
}

int cmd_ssh_config(cli_ctx *ctx, int argc, char **argv)
{
	cl_lab lab = {0};
	cl_student *s = NULL;
	size_t n = 0, shown = 0;
	cl_buf text = CL_BUF_INIT;
	json_t *arr = json_array();
	int rc;

	if ((rc = cli_positionals(ctx, argc, argv, 1, 2)) ||
	    (rc = cl_name_check("lab name", argv[optind])) ||
	    (rc = cl_store_lab_get(ctx->st, argv[optind], &lab)) ||
	    (rc = cl_store_student_list(ctx->st, lab.id, &s, &n)) ||
	    (rc = cl_known_hosts_write(ctx->st, ctx->data_dir, &lab))) /* the file it names */
		goto out;
	const char *only = argc - optind == 2 ? argv[optind + 1] : NULL;
	for (size_t i = 0; i < n; i++) {
		cl_access a = {0};
		if (only && strcmp(only, s[i].name) != 0)
			continue;
		rc = cl_access_get(ctx->st, ctx->data_dir, lab.name, s[i].name, &a);
		if (rc == CL_ENOTFOUND && !only) { /* not published yet: nothing to connect to */
			rc = 0;
			continue;
		}
		if (rc)
			goto out;
		if (shown++)
			cl_buf_putc(&text, '\n');
		cl_access_ssh_config(&a, &text);
		json_array_append_new(arr, access_json(&a));
		cl_access_clear(&a);
	}
	if (only && shown == 0) {
		rc = cl_error_set(CL_ENOTFOUND, "student '%s' not found", only);
		goto out;
	}
	cli_out_text(ctx, cl_buf_str(&text), arr);
	arr = NULL;
out:
	json_decref(arr);
	cl_buf_free(&text);
	cl_student_list_free(s, n);
	cl_lab_clear(&lab);
	return rc;
}

/* Copies a file into the export directory with a mode. */
static int export_file(const char *dir, const char *name, const char *data, size_t len,
		       unsigned mode)
{
	char *path = cl_path_join(dir, name);
	int rc = cl_write_file(path, data, len, mode);
	free(path);
	return rc;
}

int cmd_students_export(cli_ctx *ctx, int argc, char **argv)
{
	cl_access a = {0};
	cl_buf b = CL_BUF_INIT, kh = CL_BUF_INIT;
	char *dir, *cmd = NULL, *tcmd = NULL;
	int rc;

	if ((rc = cli_positionals(ctx, argc, argv, 3, 3)) ||
	    (rc = cl_access_get(ctx->st, ctx->data_dir, argv[optind], argv[optind + 1], &a)))
		return rc;
	dir = argv[optind + 2];
	if ((rc = cl_mkdir_p(dir, 0700)) || chmod(dir, 0700) != 0) {
		if (!rc)
			rc = cl_error_set(CL_EFAIL, "cannot chmod '%s': %s", dir, strerror(errno));
		goto out;
	}
	/* The handed-out files point at each other by relative names. */
	if (a.identity_file) {
		if ((rc = cl_read_file(a.identity_file, 65536, &b)) ||
		    (rc = export_file(dir, "id_ed25519", b.data, b.len, 0600)))
			goto out;
		cl_buf_reset(&b);
		free(a.identity_file);
		a.identity_file = cl_strdup("id_ed25519");
	}
	cl_buf_printf(&kh, "%s\n", a.known_hosts_line);
	if ((rc = export_file(dir, "known_hosts", kh.data, kh.len, 0644)))
		goto out;
	free(a.known_hosts_file);
	a.known_hosts_file = cl_strdup("known_hosts");
	cl_access_ssh_config(&a, &b);
	if ((rc = export_file(dir, "ssh_config", b.data, b.len, 0644)))
		goto out;
	cl_buf_reset(&b);
	cl_access_x2go_session(&a, &b);
	if ((rc = export_file(dir, "x2go-session", b.data, b.len, 0644)))
		goto out;
	cl_buf_reset(&b);
	cmd = cl_access_ssh_command(&a, 0, 0);
	tcmd = cl_access_ssh_command(&a, 8888, 8888);
	cl_buf_printf(&b,
		      "Your lab VM: %s\n\n"
		      "From this folder, log in with:\n  ssh -F ssh_config %s\n"
		      "or, with your own ssh settings:\n  %s -i id_ed25519 -o UserKnownHostsFile=known_hosts\n\n"
		      "Jupyter through a tunnel (then open http://localhost:8888 here):\n"
		      "  ssh -F ssh_config -L 8888:localhost:8888 %s\n  (%s)\n\n"
		      "X2Go: import x2go-session (SSH port %d, session type XFCE).\n"
		      "The server's key fingerprint is %s; ssh checks it for you.\n",
		      a.vm, a.vm, cmd, a.vm, tcmd, a.port, a.fingerprint);
	if ((rc = export_file(dir, "README.txt", b.data, b.len, 0644)))
		goto out;
	cli_note(ctx, "wrote %s/{%sssh_config,known_hosts,x2go-session,README.txt}\n", dir,
		 a.identity_file ? "id_ed25519," : "");
out:
	free(cmd);
	free(tcmd);
	cl_buf_free(&b);
	cl_buf_free(&kh);
	cl_access_clear(&a);
	return rc;
}

static volatile sig_atomic_t tunnel_stop;

static void on_signal(int sig)
{
	(void)sig;
	tunnel_stop = 1;
}

struct tunnel_ctx {
	cli_ctx *ctx;
	const cl_access *a;
	int remote;
	const char *token; /* jupyter: appended to the printed URL */
};

static void on_listen(void *p, int port)
{
	struct tunnel_ctx *t = p;
	if (t->token)
		printf("http://localhost:%d/?token=%s\n", port, t->token);
	else
		printf("Forwarding http://localhost:%d -> %s:%d\n", port, t->a->vm, t->remote);
	fflush(stdout);
}

static void on_notice(void *p, const char *msg)
{
	struct tunnel_ctx *t = p;
	cli_note(t->ctx, "%s\n", msg);
}

/* Connects as the student would (their key, the pinned host key). */
int cli_access_connect(cli_ctx *ctx, const cl_access *a, cl_ssh **ssh)
{
	cl_ssh_opts o = {.host = a->host,
			 .port = a->port,
			 .user = a->user,
			 .host_key = a->host_key,
			 .identity_file = a->identity_file,
			 .connect_timeout_ms = 15000};
	(void)ctx;
	if (!a->identity_file)
		return cl_error_set(CL_EINVAL,
				    "'%s' %s: run ssh -L yourself (see 'classlab connect --tunnel')",
				    a->student,
				    a->auth_password_hash ? "logs in to this machine with a password"
							  : "holds the only key for this VM");
	return cl_ssh_connect(ssh, &o);
}

int cli_tunnel_serve(cli_ctx *ctx, const cl_access *a, cl_ssh *ssh, const char *bind_addr,
		     int local, int remote, const char *token)
{
	struct tunnel_ctx t = {ctx, a, remote, token};
	cl_tunnel_opts o = {.bind_address = bind_addr,
			    .local_port = local,
			    .remote_port = remote,
			    .on_listen = on_listen,
			    .on_notice = on_notice,
			    .ctx = &t,
			    .stop = &tunnel_stop};
	struct sigaction sa = {0};

	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return cl_tunnel_run(ssh, &o);
}

int cmd_tunnel(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"local-port", required_argument, NULL, 'l'},
		{"remote-port", required_argument, NULL, 'r'},
		{"bind", required_argument, NULL, 'b'},
		{NULL, 0, NULL, 0},
	};
	const char *bind_addr = "127.0.0.1";
	uint64_t local = 8888, remote = 8888;
	cl_access a = {0};
	cl_ssh *ssh = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if ((rc = cl_parse_u64("--local-port", optarg, 65535, &local)))
				return rc;
			break;
		case 'r':
			if ((rc = cl_parse_u64("--remote-port", optarg, 65535, &remote)) || remote == 0)
				return rc ? rc : cl_error_set(CL_EINVAL, "--remote-port must be 1-65535");
			break;
		case 'b': bind_addr = optarg; break;
		default: return cli_bad_option(ctx, argv);
		}
	}
	if ((rc = cli_positionals(ctx, argc, argv, 2, 2)) ||
	    (rc = cl_access_get(ctx->st, ctx->data_dir, argv[optind], argv[optind + 1], &a)))
		return rc;
	if ((rc = cli_access_connect(ctx, &a, &ssh)) == 0)
		rc = cli_tunnel_serve(ctx, &a, ssh, bind_addr, (int)local, (int)remote, NULL);
	cl_ssh_free(ssh);
	cl_access_clear(&a);
	return rc;
}
