/* classlab's front end: global options, the command lookup, help and exit codes. */
#include "cli.h"
#ifndef CL_CLI_FRONT
#include "classlab/cl_templates.h"
#endif
#include "classlab/banned.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char exit_codes_help[] =
	"Exit status:\n"
	"  0  success\n"
	"  1  the operation failed\n"
	"  2  usage error or invalid input (nothing was changed)\n"
	"  3  not found (lab, student, size, VM)\n"
	"  4  conflict: already exists, or the lab is busy\n"
	"  5  hypervisor or remote machine unavailable\n";

static void print_main_help(FILE *f)
{
	const char *last = NULL;

	fprintf(f, "usage: classlab [--db PATH] [--connect URI] [-o table|json] [-q|-v] NOUN VERB "
		   "[ARGS]\n\n"
		   "Runs a data-science classroom on virtual machines: one template VM per lab,\n"
		   "published as one VM per student, with SSH, Jupyter tunnels and cost in lab "
		   "units.\n\nCommands:\n");
	for (const cli_cmd *c = cli_commands; c->noun; c++) {
		if (!last || strcmp(last, c->noun) != 0)
			fprintf(f, "  %s\n", c->noun);
		fprintf(f, "      %-10s %s\n", c->verb ? c->verb : "", c->help);
		last = c->noun;
	}
	fprintf(f, "\nGlobal options:\n"
		   "  --db PATH        database file (default $CLASSLAB_DB, else\n"
		   "                   $XDG_DATA_HOME/classlab/classlab.db)\n"
		   "  --connect URI    libvirt URI (default $CLASSLAB_URI, $LIBVIRT_DEFAULT_URI,\n"
		   "                   else the embedded qemu:///embed under the data directory)\n"
		   "  -o, --output F   table (default) or json\n"
		   "  -q, --quiet      no progress or notices on stderr (warnings still show)\n"
		   "  -v, --verbose    more detail on stderr\n"
		   "  --version        print the version\n\n"
		   "'classlab NOUN --help' and 'classlab NOUN VERB --help' say more.\n\n%s",
		exit_codes_help);
}

/* Is "--name" written in text as a whole option (not a prefix of a longer one)? */
static bool names_opt(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; (p = strstr(p, "--")) != NULL; p += 2)
		if (strncmp(p + 2, name, n) == 0 && !(p[2 + n] == '-' || (p[2 + n] >= 'a' && p[2 + n] <= 'z')))
			return true;
	return false;
}

char *cli_usage(const cli_cmd *c)
{
	cl_buf b = CL_BUF_INIT;

	cl_buf_printf(&b, "%s", c->args);
	for (const cli_opt *o = c->opts; o && o->name; o++) {
		if (!o->help || names_opt(c->args, o->name))
			continue;
		cl_buf_printf(&b, "%s[--%s", b.len ? " " : "", o->name);
		if (o->arg == OPT_VALUE)
			cl_buf_printf(&b, " %s", o->value_name);
		else if (o->arg == OPT_OPTIONAL)
			cl_buf_printf(&b, " [%s]", o->value_name);
		cl_buf_putc(&b, ']');
	}
	return cl_buf_detach(&b);
}

static void print_noun_help(const char *noun)
{
	printf("usage: classlab %s VERB [ARGS]\n\n", noun);
	for (const cli_cmd *c = cli_commands; c->noun; c++)
		if (strcmp(c->noun, noun) == 0) {
			char *u = cli_usage(c);
			printf("  classlab %s %s %s\n      %s\n", c->noun, c->verb ? c->verb : "", u,
			       c->help);
			free(u);
		}
	printf("\n%s", exit_codes_help);
}

static void print_cmd_help(const cli_cmd *c)
{
	char *u = cli_usage(c);

	printf("usage: classlab %s%s%s %s\n\n%s\n", c->noun, c->verb ? " " : "",
	       c->verb ? c->verb : "", u, c->help);
	bool any = false;
	for (const cli_opt *o = c->opts; o && o->name; o++)
		any |= o->help != NULL;
	if (any)
		printf("\nOptions:\n");
	for (const cli_opt *o = c->opts; o && o->name; o++) {
		if (!o->help)
			continue;
		char *lhs = cl_aprintf("%s%c%s--%s%s%s%s%s", o->short_name ? "-" : "",
				       o->short_name ? o->short_name : ' ', o->short_name ? ", " : "",
				       o->name, o->arg == OPT_FLAG ? "" : " ",
				       o->arg == OPT_OPTIONAL ? "[" : "",
				       o->arg == OPT_FLAG ? "" : o->value_name,
				       o->arg == OPT_OPTIONAL ? "]" : "");
		printf("  %-26s %s\n", o->short_name ? lhs : lhs + 1, o->help);
		free(lhs);
	}
	printf("\n%s", exit_codes_help);
	free(u);
}

void cli_print_completion(void)
{
	for (const cli_cmd *c = cli_commands; c->noun; c++) {
		printf("%s %s", c->noun, c->verb ? c->verb : "-");
		/* The positionals' names (LAB, FILE, ...): args up to its first option or group. */
		for (const char *p = c->args; *p && !strchr("-(|", *p) && strncmp(p, "[-", 2);) {
			size_t n = strcspn(p, " ");
			if (*p == '[')
				printf(" %.*s", (int)(n > 2 ? n - 2 : 0), p + 1);
			else
				printf(" %.*s", (int)n, p);
			p += n;
			p += strspn(p, " ");
		}
		for (const cli_opt *o = c->opts; o && o->name; o++)
			if (o->help)
				printf(" --%s%s%s", o->name, o->arg == OPT_FLAG ? "" : "=",
				       o->arg == OPT_FLAG ? "" : o->value_name);
		putchar('\n');
	}
}

static void cmd_name(const cli_cmd *c, cl_buf *b)
{
	cl_buf_printf(b, "%s%s%s", c->noun, c->verb ? " " : "", c->verb ? c->verb : "");
}

int cli_usage_error(cli_ctx *ctx, const char *fmt, ...)
{
	char msg[1024];
	char *u = cli_usage(ctx->cmd);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cl_error_set(CL_EINVAL, "%s (usage: classlab %s%s%s %s)", msg, ctx->cmd->noun,
		     ctx->cmd->verb ? " " : "", ctx->cmd->verb ? ctx->cmd->verb : "", u);
	free(u);
	return CL_EINVAL;
}

int cli_bad_option(cli_ctx *ctx, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";

	/* Inside a cluster of short options argv[optind - 1] is not the culprit: optopt is. */
	if (strncmp(arg, "--", 2) != 0 && optopt > ' ' && optopt < 0x7f)
		return cli_usage_error(ctx, "unknown option or missing value: '-%c'", optopt);
	return cli_usage_error(ctx, "unknown option or missing value: '%s'", arg);
}

char *cli_opt_get(const cli_ctx *ctx, const char *name)
{
	for (size_t i = 0; ctx->cmd->opts && ctx->cmd->opts[i].name; i++)
		if (strcmp(ctx->cmd->opts[i].name, name) == 0)
			return ctx->optval[i];
	fprintf(stderr, "classlab: internal error: no option '--%s' in the table\n", name);
	abort();
}

/*
 * "--tunnel 9999": getopt only takes "--tunnel=9999" for an optional value, so
 * a number right after an option with an optional value is its value; it is
 * taken out of argv before option parsing so that it is not read as a positional.
 */
static char *take_optional_number(int *argc, char **argv, const char *name)
{
	for (int i = 1; i + 1 < *argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strncmp(argv[i], "--", 2) != 0 || strcmp(argv[i] + 2, name) != 0)
			continue;
		char *v = argv[i + 1];
		if (!*v || strspn(v, "0123456789") != strlen(v))
			return NULL;
		memmove(&argv[i + 1], &argv[i + 2], (size_t)(*argc - i - 2) * sizeof(char *));
		(*argc)--;
		return v;
	}
	return NULL;
}

/* getopt_long over the table; then the positional count. argv[0] is the verb (or noun). */
int cli_parse_opts(cli_ctx *ctx, int argc, char **argv)
{
	const cli_cmd *cmd = ctx->cmd;
	size_t n = 0;
	int c, rc = 0;

	while (cmd->opts && cmd->opts[n].name)
		n++;
	struct option *lo = cl_calloc(n + 1, sizeof(*lo));
	static char flag_given[1]; /* "" that the type system lets us hand out as char * */
	char **taken = cl_calloc(n + 1, sizeof(*taken));
	cl_buf shorts = CL_BUF_INIT;
	ctx->optval = cl_calloc(n + 1, sizeof(*ctx->optval));
	for (size_t i = 0; i < n; i++) {
		const cli_opt *o = &cmd->opts[i];
		lo[i].name = o->name;
		lo[i].has_arg = o->arg == OPT_FLAG    ? no_argument
				: o->arg == OPT_VALUE ? required_argument
						      : optional_argument;
		lo[i].val = 256 + (int)i;
		if (o->short_name)
			cl_buf_printf(&shorts, "%c%s", o->short_name,
				      o->arg == OPT_FLAG ? "" : o->arg == OPT_VALUE ? ":" : "::");
		if (o->arg == OPT_OPTIONAL)
			taken[i] = take_optional_number(&argc, argv, o->name);
	}
	optind = 0; /* GNU getopt: start afresh for the command's own options */
	while (rc == 0 && (c = getopt_long(argc, argv, cl_buf_str(&shorts), lo, NULL)) != -1) {
		size_t i = n;
		if (c >= 256)
			i = (size_t)c - 256;
		else
			for (i = 0; i < n && cmd->opts[i].short_name != c; i++)
				;
		if (c == '?' || i >= n)
			rc = cli_bad_option(ctx, argv);
		else
			ctx->optval[i] = optarg ? optarg : taken[i] ? taken[i] : flag_given;
	}
	if (rc == 0 && argc - optind < cmd->min_args)
		rc = cli_usage_error(ctx, "missing argument");
	else if (rc == 0 && argc - optind > cmd->max_args)
		rc = cli_usage_error(ctx, "unexpected argument '%s'", argv[optind + cmd->max_args]);
	cl_buf_free(&shorts);
	free(taken);
	free(lo);
	return rc;
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

static bool has_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

const cli_cmd *cli_find_cmd(const char *noun, const char *verb, bool *noun_known)
{
	*noun_known = false;
	for (const cli_cmd *c = cli_commands; c->noun; c++) {
		if (strcmp(c->noun, noun) != 0)
			continue;
		*noun_known = true;
		if (!c->verb || (verb && strcmp(c->verb, verb) == 0))
			return c;
	}
	return NULL;
}

/*
 * In the front end: is the command's vm_opt among its arguments? Spelled as getopt_long
 * takes it: "--NAME", "--NAME=V" or any prefix of NAME (getopt accepts unique ones).
 */
static bool vm_opt_given(const cli_cmd *cmd, int argc, char **argv)
{
#ifdef CL_CLI_FRONT
	for (int i = 0; cmd->vm_opt && i < argc; i++) {
		const char *a = argv[i];
		size_t len;
		if (strcmp(a, "--") == 0)
			break;
		if (strncmp(a, "--", 2) != 0)
			continue;
		len = strcspn(a + 2, "=");
		if (len > 0 && len <= strlen(cmd->vm_opt) && strncmp(a + 2, cmd->vm_opt, len) == 0)
			return true;
	}
#else
	(void)cmd, (void)argc, (void)argv;
#endif
	return false;
}

/*
 * A command without a handler here runs in classlab-vm: next to this binary
 * (a build tree), else where it is installed. exec keeps the process id, the
 * environment and the standard streams, so the command cannot tell.
 */
static int run_vm_binary(const cli_cmd *cmd, char **argv)
{
	char self[4096], *slash, *sibling = NULL;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	cl_buf name = CL_BUF_INIT;
	int err;

	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			sibling = cl_path_join(self, "classlab-vm");
			if (access(sibling, X_OK) == 0)
				execv(sibling, argv);
		}
	}
	execv(CL_VM_BINARY, argv);
	err = errno;
	cmd_name(cmd, &name);
	fprintf(stderr, "classlab: %s: cannot run %s: %s\n", cl_buf_str(&name), CL_VM_BINARY,
		strerror(err));
	cl_buf_free(&name);
	free(sibling);
	return -CL_EFAIL;
}

/*
 * The data directory holds keys and disks: one another user owns, or a symlink
 * that could be pointed elsewhere, is refused (exit 2), never adopted or chmodded.
 * With --db it is checked if it exists (VM commands keep keys there) and not made.
 */
static int open_store(cli_ctx *ctx, cl_ctx_opts *o)
{
	int rc = cl_private_dir("data directory", ctx->data_dir, !ctx->db_path);

	if (rc)
		return rc;
	if (!ctx->db_path) {
		ctx->db_owned = cl_path_join(ctx->data_dir, "classlab.db");
		ctx->db_path = ctx->db_owned;
	}
	o->db_path = ctx->db_path;
	return 0;
}

#ifdef CLASSLAB_TEST_HOOKS
/*
 * Tests move time: CLASSLAB_TEST_CLOCK_FILE holds the epoch seconds the handle's clock
 * reads (re-read each time, so a test can step it while a service runs); absent or
 * unreadable, the real clock.
 */
static int64_t test_clock(void *arg)
{
	const char *path = getenv("CLASSLAB_TEST_CLOCK_FILE");
	long long t = 0;
	FILE *f = path ? fopen(path, "re") : NULL;
	(void)arg;
	if (f) {
		if (fscanf(f, "%lld", &t) != 1)
			t = 0;
		fclose(f);
	}
	return t > 0 ? (int64_t)t : (int64_t)time(NULL);
}
#endif

/*
 * The one library handle of this run. Only classlab-vm gives it the hypervisor
 * backend: the front end links no libvirt, and its commands need none.
 */
static int open_ctx(cli_ctx *ctx)
{
	cl_ctx_opts o = {0};
	struct stat sb;
	int rc;

	if ((ctx->cmd->flags & NEED_STORE) && (rc = open_store(ctx, &o)))
		return rc;
	o.uri = ctx->uri;
	o.data_dir = ctx->data_dir;
	o.cache_dir = ctx->cache_dir;
	/* Running from the build tree uses the source's recipes; an install uses its own. */
	o.images_dir = stat(CL_IMAGES_SOURCE_DIR, &sb) == 0 ? CL_IMAGES_SOURCE_DIR
							     : CL_IMAGES_INSTALL_DIR;
	o.progress = cli_progress;
	o.cb_arg = ctx;
#ifdef CLASSLAB_TEST_HOOKS
	if (getenv("CLASSLAB_TEST_CLOCK_FILE"))
		o.now = test_clock;
#endif
#ifndef CL_CLI_FRONT
	o.backend = &cl_templates_backend;
	o.env = environ;
	o.verify = cli_verify_hook;
#endif
	return cl_ctx_new(&ctx->cl, &o);
}

/*
 * The command in argv[0..] (NOUN [VERB] ARGS, global options already taken): help,
 * classlab-vm, or its handler and the renderer. Returns the exit status. ctx->cl may
 * be given (the service's handle); else one is opened here.
 */
int cli_dispatch(cli_ctx *ctx, int argc, char **argv, char **all_argv)
{
	cli_result res = {0};
	const cli_cmd *cmd;
	bool noun_known, own_cl = ctx->cl == NULL;
	cl_buf name = CL_BUF_INIT;
	int rc = 0, skip;

	cmd = cli_find_cmd(argv[0], argc > 1 ? argv[1] : NULL, &noun_known);
	if (!cmd) {
		if (!noun_known) {
			fprintf(stderr, "classlab: unknown command '%s' (see classlab --help)\n",
				argv[0]);
			return 2;
		}
		if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			print_noun_help(argv[0]);
			return 0;
		}
		fprintf(stderr, "classlab: %s: unknown or missing verb%s%s%s (see classlab %s --help)\n",
			argv[0], argc > 1 ? " '" : "", argc > 1 ? argv[1] : "", argc > 1 ? "'" : "",
			argv[0]);
		return 2;
	}
	skip = cmd->verb ? 1 : 0; /* the handler's argv[0] is the verb (or the noun) */
	if (has_help(argc - skip, argv + skip)) {
		print_cmd_help(cmd);
		return 0;
	}
	if (!cmd->fn || vm_opt_given(cmd, argc - skip, argv + skip))
		return run_vm_binary(cmd, all_argv);
	ctx->cmd = cmd;
#ifndef CL_CLI_FRONT
	/* While `classlab serve` runs, it owns the hypervisor: the command runs there. */
	if (own_cl && (cmd->flags & NEED_HV) && cli_forward(ctx, argc, argv, &rc))
		return rc;
#endif
	argc -= skip;
	argv += skip;
	rc = own_cl ? open_ctx(ctx) : 0;
	if (rc == 0)
		rc = cli_parse_opts(ctx, argc, argv);
	if (rc == 0)
		rc = cmd->fn(ctx, argc - optind, argv + optind, &res);
	cli_render(ctx, &res); /* a result may come with an error: verify's report */
	cli_result_clear(&res);
	if (rc) {
		cmd_name(cmd, &name);
		fprintf(stderr, "classlab: %s: %s\n", cl_buf_str(&name), cl_error_msg());
	}
	fflush(stdout);
	fflush(stderr);
	cl_buf_free(&name);
	free(ctx->optval);
	ctx->optval = NULL;
	return rc < 0 ? -rc : rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},	  {"connect", required_argument, NULL, 'c'},
		{"output", required_argument, NULL, 'o'}, {"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},	  {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},	  {NULL, 0, NULL, 0},
	};
	cli_ctx ctx = {0};
	char **all_argv = argv;
	int c, rc;

	ctx.env.classlab_home = getenv("CLASSLAB_HOME");
	ctx.env.xdg_data_home = getenv("XDG_DATA_HOME");
	ctx.env.xdg_cache_home = getenv("XDG_CACHE_HOME");
	ctx.env.home = getenv("HOME");
	if (!ctx.env.home || !*ctx.env.home) { /* as OpenSSH does: the account's home */
		const struct passwd *pw = getpwuid(geteuid());
		ctx.env.home = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
	}
	ctx.db_path = env_or("CLASSLAB_DB", NULL);
	ctx.uri = env_or("CLASSLAB_URI", env_or("LIBVIRT_DEFAULT_URI", NULL));

	if (argc == 2 && strcmp(argv[1], "__complete") == 0) { /* for scripts/classlab.bash-completion */
		cli_print_completion();
		return 0;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+o:qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			ctx.db_path = optarg;
			break;
		case 'c':
			ctx.uri = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				ctx.output = OUT_JSON;
			else if (strcmp(optarg, "table") == 0)
				ctx.output = OUT_TABLE;
			else {
				fprintf(stderr, "classlab: invalid output format '%s': use table or "
						"json\n",
					optarg);
				return 2;
			}
			break;
		case 'q':
			ctx.verbosity = -1;
			break;
		case 'v':
			ctx.verbosity = 1;
			break;
		case 'h':
			print_main_help(stdout);
			return 0;
		case 'V':
			printf("classlab %s\n", CL_VERSION);
			return 0;
		default:
			fprintf(stderr, "classlab: unknown option or missing value '%s' (see classlab "
					"--help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind >= argc) {
		print_main_help(stderr);
		return 2;
	}
	ctx.data_dir = cl_paths_data_dir(&ctx.env);
	ctx.cache_dir = cl_paths_cache_dir(&ctx.env);
	rc = cli_dispatch(&ctx, argc - optind, argv + optind, all_argv);
	cl_ctx_free(ctx.cl);
	free(ctx.db_owned);
	free(ctx.data_dir);
	free(ctx.cache_dir);
	return rc;
}
