/* classlab connect | ssh-config | students export | tunnel: how a student gets in. */
#include "cli.h"
#include "classlab/cl_ssh.h"
#include "classlab/cl_tunnel.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_students.h"
#include "classlab/banned.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *jupyter_url(const cl_access *a, int port);

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

/* The table form of connect's data: the tunnel command, the X2Go settings or the ssh command. */
static char *connect_text(const json_t *o)
{
	const json_t *x = json_object_get(o, "x2go");
	const char *key;

	if (json_object_get(o, "tunnel") && json_object_get(o, "url"))
		return cl_aprintf("%s\n%s\n", json_string_value(json_object_get(o, "tunnel")),
				  json_string_value(json_object_get(o, "url")));
	if (json_object_get(o, "tunnel"))
		return cl_aprintf("%s\n", json_string_value(json_object_get(o, "tunnel")));
	if (!x)
		return cl_aprintf("%s\n", json_string_value(json_object_get(o, "ssh")));
	key = json_string_value(json_object_get(x, "key_file"));
	return cl_aprintf("X2Go session for %s\n  host          %s\n  login         %s\n"
			  "  SSH port      %lld\n  session type  %s\n  key file      %s\n",
			  json_string_value(json_object_get(o, "vm")),
			  json_string_value(json_object_get(x, "host")),
			  json_string_value(json_object_get(x, "login")),
			  (long long)json_integer_value(json_object_get(x, "ssh_port")),
			  json_string_value(json_object_get(x, "session_type")),
			  key ? key : "(the student's own key)");
}

int cmd_connect(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	const char *tport = cli_opt_get(ctx, "tunnel");
	bool x2go = cli_flag(ctx, "x2go"), write = cli_flag(ctx, "write");
	int port = 0, rc;
	cl_access a = {0};

	(void)argc;
	if (tport && (rc = tunnel_port_arg(*tport ? tport : NULL, &port)))
		return rc;
	if (write && !x2go)
		return cli_usage_error(ctx, "--write goes with --x2go");
	if ((rc = cl_access_get(ctx->cl, argv[0], argv[1], &a)))
		return rc;
	json_t *o = access_json(&a);
	if (tport) {
		char *cmd = cl_access_ssh_command(&a, port, port), *url = jupyter_url(&a, port);
		json_object_set_new(o, "tunnel", json_string(cmd));
		if (url)
			json_object_set_new(o, "url", json_string(url));
		free(url);
		free(cmd);
	} else if (x2go) {
		json_object_set_new(o, "x2go", json_pack("{s:s, s:s, s:i, s:s, s:o}", "host", a.host,
							 "login", a.user, "ssh_port", a.port,
							 "session_type", "XFCE", "key_file",
							 a.identity_file ? json_string(a.identity_file)
									 : json_null()));
	}
	res->data = o;
	res->view = VIEW_TEXT;
	res->text = connect_text;
	if (x2go && write) {
		char *path = NULL;
		if ((rc = cl_access_x2go_write(ctx->cl, &a, ctx->env.home, &path)) == 0) {
			json_object_set_new(o, "written", json_pack("[s]", path));
			cli_note(ctx, "wrote session '%s' to %s\n", a.vm, path);
		}
		free(path);
	}
	cl_access_clear(&a);
	return rc;
}

/* The fields of access_json that an ssh config block needs, borrowed from o. */
static void access_from_json(const json_t *o, cl_access *a)
{
#define STR(k) ((char *)json_string_value(json_object_get(o, k)))
	a->vm = STR("vm");
	a->host = STR("host");
	a->port = (int)json_integer_value(json_object_get(o, "port"));
	a->user = STR("user");
	a->identity_file = STR("identity_file");
	a->known_hosts_file = STR("known_hosts_file");
#undef STR
}

/* The table form: the library's config block of each student, blank lines between. */
static char *ssh_config_text(const json_t *arr)
{
	cl_buf text = CL_BUF_INIT;
	const json_t *o;
	size_t i;

	json_array_foreach(arr, i, o)
	{
		cl_access a = {0};
		access_from_json(o, &a);
		if (i)
			cl_buf_putc(&text, '\n');
		cl_access_ssh_config(&a, &text);
	}
	return cl_buf_detach(&text);
}

int cmd_ssh_config(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	cl_lab lab = {0};
	cl_student *s = NULL;
	size_t n = 0, shown = 0;
	json_t *arr = json_array();
	int rc;

	if ((rc = cl_students_list(ctx->cl, argv[0], &lab, &s, &n)) ||
	    (rc = cl_known_hosts_write(ctx->cl, &lab))) /* the file it names */
		goto out;
	const char *only = argc == 2 ? argv[1] : NULL;
	for (size_t i = 0; i < n; i++) {
		cl_access a = {0};
		if (only && strcmp(only, s[i].name) != 0)
			continue;
		rc = cl_access_get(ctx->cl, lab.name, s[i].name, &a);
		if (rc == CL_ENOTFOUND && !only) { /* not published yet: nothing to connect to */
			rc = 0;
			continue;
		}
		if (rc)
			goto out;
		shown++;
		json_array_append_new(arr, access_json(&a));
		cl_access_clear(&a);
	}
	if (only && shown == 0) {
		rc = cl_error_set(CL_ENOTFOUND, "student '%s' not found", only);
		goto out;
	}
	res->data = arr;
	res->view = VIEW_TEXT;
	res->text = ssh_config_text;
	arr = NULL;
out:
	json_decref(arr);
	cl_student_list_free(s, n);
	cl_lab_clear(&lab);
	return rc;
}

/* The page's address in links: --url, else the service's default (loopback, port 8080). */
static const char *invite_base(cli_ctx *ctx, int *rc)
{
	const char *url = cli_opt_get(ctx, "url");
	*rc = 0;
	if (!url)
		return "http://127.0.0.1:8080";
	if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
	    strpbrk(url, " \t\r\n\"'<>?#") || (*rc = cl_text_check("--url", url, 512)))
		*rc = *rc ? *rc
			  : cl_error_set(CL_EINVAL, "--url '%s' is not an http:// or https:// address "
						    "without query or fragment",
					 url);
	return url;
}

/* The files go through the library; the note says what it wrote. */
int cmd_students_export(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	const char *dir = argv[2];
	char **written = NULL, *link = NULL;
	size_t n = 0;
	bool key = false;
	int rc;

	(void)argc;
	if (!*dir)
		return cli_usage_error(ctx, "DIR is empty: name a new or empty directory");
	/* --invite: a fresh one-time link to the web page goes into README.txt. */
	if (cli_flag(ctx, "invite")) {
		const char *base = invite_base(ctx, &rc);
		if (rc || (rc = cl_invite_issue(ctx->cl, argv[0], argv[1], base, &link)))
			return rc;
	} else if (cli_opt_get(ctx, "url")) {
		return cli_usage_error(ctx, "--url goes with --invite");
	}
	rc = cl_students_export(ctx->cl, argv[0], argv[1], dir, cli_flag(ctx, "force"), link,
				&written, &n);
	free(link);
	if (rc)
		return rc;
	json_t *paths = json_array();
	for (size_t i = 0; i < n; i++) {
		const char *slash = strrchr(written[i], '/');
		key = key || strcmp(slash ? slash + 1 : written[i], "id_ed25519") == 0;
		json_array_append_new(paths, json_string(written[i]));
	}
	cl_strv_free(written, n);
	/* Nothing on stdout, as before; the paths are the data an API returns. */
	res->data = json_pack("{s:o}", "written", paths);
	res->view = VIEW_NONE;
	cli_note(ctx, "wrote %s/{%sssh_config,known_hosts,x2go-session,README.txt}\n", dir,
		 key ? "id_ed25519," : "");
	return 0;
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
	const char *bind_addr; /* numeric, checked by tunnel_bind_check */
	int remote;
	const char *token; /* jupyter: appended to the printed URL */
};

/* A numeric address on this machine only: 127.0.0.0/8, ::1 or ::ffff:127.x.y.z. */
static bool is_loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) != 1)
		return false;
	if (IN6_IS_ADDR_LOOPBACK(&a6))
		return true;
	return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

/*
 * A tunnel hands out the student's Jupyter (a shell as the student) to whoever
 * connects: listening beyond this machine is refused unless asked for by name.
 */
int cli_tunnel_bind_check(const char *addr, bool public_ok)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (!*addr || (inet_pton(AF_INET, addr, &a4) != 1 && inet_pton(AF_INET6, addr, &a6) != 1))
		return cl_error_set(CL_EINVAL,
				    "invalid --bind address '%s': give a numeric IPv4 or IPv6 address "
				    "(default 127.0.0.1)",
				    addr);
	if (!is_loopback(addr) && !public_ok)
		return cl_error_set(CL_EINVAL,
				    "--bind %s listens beyond this machine (anyone who reaches it gets "
				    "the student's session): add --public to allow a non-loopback "
				    "address",
				    addr);
	return 0;
}

/* Jupyter's line is its URL with the token; a plain tunnel's says where it forwards. */
static char *listen_text(const json_t *ev)
{
	const char *url = json_string_value(json_object_get(ev, "url"));

	if (json_object_get(ev, "token") && !json_object_get(ev, "remote_port"))
		return cl_aprintf("%s\n", url);
	return cl_aprintf("Forwarding %s -> %s:%lld\n", url,
			  json_string_value(json_object_get(ev, "vm")),
			  (long long)json_integer_value(json_object_get(ev, "remote_port")));
}

static void on_listen(void *p, int port)
{
	struct tunnel_ctx *t = p;
	const char *addr = t->bind_addr ? t->bind_addr : "127.0.0.1";
	bool loop = is_loopback(addr), v6 = strchr(addr, ':') != NULL;
	char *host = loop ? cl_strdup("localhost") : cl_aprintf(v6 ? "[%s]" : "%s", addr);

	if (!loop) /* shown even with -q: the user must know who can connect */
		cli_warn(t->ctx,
			 "classlab: %s: warning: listening on %s port %d, not only on this machine: "
			 "anyone who can reach %s can use this tunnel\n",
			 t->ctx->cmd ? t->ctx->cmd->noun : "tunnel", host, port,
			 strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0
				 ? "any of this machine's addresses"
				 : host);
	cli_result ev = {.view = VIEW_TEXT, .text = listen_text};
	char *url = t->token ? cl_aprintf("http://%s:%d/?token=%s", host, port, t->token)
			     : cl_aprintf("http://%s:%d", host, port);
	ev.data = json_pack("{s:s, s:s, s:s, s:i, s:s, s:i}", "event", "listening", "url", url,
			    "address", addr, "port", port, "vm", t->a->vm, "remote_port", t->remote);
	/* `jupyter` prints the bare URL; `tunnel` says where it forwards (the URL with the
	 * token when it found Jupyter there). */
	if (t->ctx->cmd && strcmp(t->ctx->cmd->noun, "jupyter") == 0)
		json_object_del(ev.data, "remote_port");
	if (t->token)
		json_object_set_new(ev.data, "token", json_string(t->token));
	cli_render_event(t->ctx, &ev);
	free(url);
	free(host);
}

static void on_notice(void *p, const char *msg)
{
	struct tunnel_ctx *t = p;
	cli_note(t->ctx, "%s\n", msg);
}

static int access_connect(const cl_access *a, int timeout_ms, cl_ssh **ssh)
{
	cl_ssh_opts o = {.host = a->host,
			 .port = a->port,
			 .user = a->user,
			 .host_key = a->host_key,
			 .identity_file = a->identity_file,
			 .connect_timeout_ms = timeout_ms};
	return cl_ssh_connect(ssh, &o);
}

/* Connects as the student would (their key, the pinned host key). */
int cli_access_connect(cli_ctx *ctx, const cl_access *a, cl_ssh **ssh)
{
	(void)ctx;
	if (!a->identity_file)
		return cl_error_set(CL_EINVAL,
				    "'%s' %s: run ssh -L yourself (see 'classlab connect --tunnel')",
				    a->student,
				    a->auth_password_hash ? "logs in to this machine with a password"
							  : "holds the only key for this VM");
	return access_connect(a, 15000, ssh);
}

/*
 * The URL (with its token) of the Jupyter that listens on port on the VM, when classlab
 * holds the student's key and the VM answers (15 s, as for tunnel); else NULL (the
 * tunnel command is still right: the student opens Jupyter's own URL).
 */
static char *jupyter_url(const cl_access *a, int port)
{
	cl_ssh *ssh = NULL;
	cl_jupyter j = {0};
	bool found = false;
	char *url = NULL;

	if (a->identity_file && access_connect(a, 15000, &ssh) == 0 &&
	    cl_jupyter_find(ssh, &j, &found) == 0 && found && j.port == port && j.token && *j.token)
		url = cl_aprintf("http://localhost:%d/?token=%s", port, j.token);
	cl_error_clear();
	cl_jupyter_clear(&j);
	cl_ssh_free(ssh);
	return url;
}

int cli_tunnel_serve(cli_ctx *ctx, const cl_access *a, cl_ssh *ssh, const char *bind_addr,
		     int local, int remote, const char *token)
{
	struct tunnel_ctx t = {ctx, a, bind_addr, remote, token};
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

int cmd_tunnel(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	const char *bind_addr = cli_opt_get(ctx, "bind"), *l = cli_opt_get(ctx, "local-port"),
		   *r = cli_opt_get(ctx, "remote-port");
	uint64_t local = 8888, remote = 8888;
	cl_access a = {0};
	cl_ssh *ssh = NULL;
	int rc;

	(void)argc, (void)res;
	if (!bind_addr)
		bind_addr = "127.0.0.1";
	if (l && (rc = cl_parse_u64("--local-port", l, 65535, &local)))
		return rc;
	if (r && ((rc = cl_parse_u64("--remote-port", r, 65535, &remote)) || remote == 0))
		return rc ? rc : cl_error_set(CL_EINVAL, "--remote-port must be 1-65535");
	if ((rc = cli_tunnel_bind_check(bind_addr, cli_flag(ctx, "public"))) ||
	    (rc = cl_access_get(ctx->cl, argv[0], argv[1], &a)))
		return rc;
	if ((rc = cli_access_connect(ctx, &a, &ssh)) == 0) {
		/* Jupyter on the forwarded port: the printed URL carries its token. */
		cl_jupyter j = {0};
		bool found = false;
		if ((rc = cl_jupyter_find(ssh, &j, &found)) == 0)
			rc = cli_tunnel_serve(ctx, &a, ssh, bind_addr, (int)local, (int)remote,
					      found && j.port == (int)remote ? j.token : NULL);
		cl_jupyter_clear(&j);
	}
	cl_ssh_free(ssh);
	cl_access_clear(&a);
	return rc;
}

/*
 * students invite LAB [STUDENT] [--url URL] [--revoke]: one-time links to the web page,
 * one per student (a new link replaces an unused earlier one), or their revocation.
 */
int cmd_students_invite(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	static const cli_col cols[] = {{"student", "STUDENT"}, {"link", "LINK"}};
	static const cli_col rcols[] = {{"student", "STUDENT"}, {"revoked", "REVOKED"}};
	bool revoke = cli_flag(ctx, "revoke");
	cl_student *s = NULL;
	cl_lab lab = {0};
	size_t n = 0;
	int rc;
	const char *base = invite_base(ctx, &rc);
	json_t *arr = json_array();

	if (rc)
		goto out;
	if (argc == 2) {
		if ((rc = cl_name_check("student", argv[1])))
			goto out;
		s = cl_calloc(1, sizeof(*s));
		s->name = cl_strdup(argv[1]);
		n = 1;
	} else if ((rc = cl_students_list(ctx->cl, argv[0], &lab, &s, &n))) {
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char *link = NULL;
		int64_t gone = 0;
		rc = revoke ? cl_invite_revoke(ctx->cl, argv[0], s[i].name, &gone)
			    : cl_invite_issue(ctx->cl, argv[0], s[i].name, base, &link);
		if (rc)
			goto out;
		json_array_append_new(arr, revoke ? json_pack("{s:s,s:I}", "student", s[i].name,
							      "revoked", (json_int_t)gone)
						  : json_pack("{s:s,s:s}", "student", s[i].name, "link",
							      link));
		free(link);
	}
	if (revoke)
		CLI_ROWS(res, arr, rcols);
	else
		CLI_ROWS(res, arr, cols);
	res->empty = "the lab has no students";
	arr = NULL;
out:
	json_decref(arr);
	cl_student_list_free(s, n);
	cl_lab_clear(&lab);
	return rc;
}

/* admin invite [--url URL] [--revoke]: an instructor's one-time link (every lab). */
int cmd_admin_invite(cli_ctx *ctx, int argc, char **argv, cli_result *res)
{
	char *link = NULL;
	int64_t gone = 0;
	int rc;
	const char *base = invite_base(ctx, &rc);

	(void)argc, (void)argv;
	if (rc)
		return rc;
	if (cli_flag(ctx, "revoke")) {
		if ((rc = cl_invite_revoke(ctx->cl, NULL, NULL, &gone)))
			return rc;
		res->data = json_pack("{s:I}", "revoked", (json_int_t)gone);
		res->view = VIEW_OBJECT;
		return 0;
	}
	if ((rc = cl_invite_issue(ctx->cl, NULL, NULL, base, &link)))
		return rc;
	res->data = json_pack("{s:s}", "link", link);
	res->view = VIEW_OBJECT;
	free(link);
	return 0;
}
