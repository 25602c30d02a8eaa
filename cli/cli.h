/* The front end's shared pieces: context, command table entries and the output formatter. */
#ifndef CL_CLI_H
#define CL_CLI_H

#include "classlab/cl_ctx.h"
#include "classlab/cl_store.h"
#include "classlab/cl_util.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

enum cli_output { OUT_TABLE, OUT_JSON };

typedef struct cli_ctx {
	cl_env env;
	const char *db_path;  /* --db or CLASSLAB_DB, else <data>/classlab.db */
	const char *uri;      /* --connect, CLASSLAB_URI, LIBVIRT_DEFAULT_URI, or NULL (embedded) */
	char *data_dir;
	char *cache_dir;
	char *db_owned;
	enum cli_output output;
	int verbosity; /* -1 quiet, 0 normal, 1 verbose */
	cl_ctx *cl;    /* the library handle; its store is open for commands with NEED_STORE */
	const struct cli_cmd *cmd;
	char **optval; /* per option of cmd: its value (in argv), "" for a flag, NULL if absent */
} cli_ctx;

enum {
	NEED_STORE = 1 << 0,
	NEED_HV = 1 << 1, /* drives the hypervisor: sent to `classlab serve` while it runs */
};

/* One option of a command: getopt's table, usage, --help and completion come from it. */
typedef struct cli_opt {
	const char *name; /* long name, without "--" */
	char short_name;  /* or 0 */
	enum { OPT_FLAG, OPT_VALUE, OPT_OPTIONAL } arg;
	const char *value_name; /* in usage: "--size SIZE"; FILE and DIR complete as paths */
	const char *help; /* NULL: hidden (parsed only to be refused with a reason) */
} cli_opt;

/* --- results: what a handler returns, printed by one renderer (cli/output.c) --- */
typedef struct cli_col {
	const char *key;    /* field in each row object */
	const char *header; /* column title */
	/* The table's text for the field (new string); NULL: cli_cell. -o json prints the value. */
	char *(*cell)(const cli_ctx *ctx, const json_t *v);
} cli_col;

enum cli_view {
	VIEW_NONE,   /* nothing on stdout (data, if any, is for an API: what a command wrote) */
	VIEW_ROWS,   /* an array of objects (or data[rows_key]) as a table of cols */
	VIEW_OBJECT, /* an object as "key  value" lines */
	VIEW_TEXT,   /* text(data): the table form, made from exactly what -o json prints */
};

typedef struct cli_result {
	json_t *data; /* what -o json prints and an HTTP API returns; owned */
	enum cli_view view;
	const cli_col *cols;
	size_t ncols;
	const char *rows_key;  /* VIEW_ROWS: the rows are data[rows_key] */
	const char *total_key; /* VIEW_ROWS: a last row "TOTAL" with data[total_key] */
	const char *empty;     /* VIEW_ROWS: said on stderr instead of an empty table */
	char *(*text)(const json_t *data); /* VIEW_TEXT: the table form of data (new string) */
} cli_result;

#define CLI_ROWS(res, data_, cols_)                                                                \
	((res)->data = (data_), (res)->view = VIEW_ROWS, (res)->cols = (cols_),                   \
	 (res)->ncols = sizeof(cols_) / sizeof((cols_)[0]))

/*
 * Handlers get the positional arguments only (options are parsed from the table) and
 * fill res; main renders it, even when the handler also returns an error (a report
 * that failed), so a handler fills res only with what should be printed.
 */
typedef int cli_fn(cli_ctx *ctx, int argc, char **argv, cli_result *res);

typedef struct cli_cmd {
	const char *noun;
	const char *verb;
	cli_fn *fn;
	unsigned flags;
	const cli_opt *opts; /* NULL-name terminated, or NULL */
	/* Positionals (and option rules) for usage; options not named here follow as [--opt V]. */
	const char *args;
	int min_args, max_args;
	const char *help;
	/*
	 * An option (long name) that sends a front-end command to classlab-vm when given:
	 * what it needs is linked only there (the usage chart's cairo and its ~18 libraries
	 * would slow every start of the front end). NULL: none.
	 */
	const char *vm_opt;
} cli_cmd;

/* Every command, in the order --help lists them (cli/commands.c). */
extern const cli_cmd cli_commands[];

/* The value of an option of the running command: NULL if absent, "" for a given flag. */
char *cli_opt_get(const cli_ctx *ctx, const char *name);
static inline bool cli_flag(const cli_ctx *ctx, const char *name)
{
	return cli_opt_get(ctx, name) != NULL;
}
/* Parses the command's options from its table; positionals end up at argv[optind..]. */
int cli_parse_opts(cli_ctx *ctx, int argc, char **argv);
/* "NOUN VERB ARGS [--opt V]...": the usage line from the table. New string. */
char *cli_usage(const cli_cmd *c);
/*
 * Hidden "classlab __complete" (for scripts/classlab.bash-completion): one line per
 * command, "NOUN VERB|- POSITIONAL... --opt[=VALUE]...".
 */
void cli_print_completion(void);

/* Prints "usage: classlab NOUN VERB USAGE" and returns CL_EINVAL with a message. */
int cli_usage_error(cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The usage error for what getopt_long just refused (names the right option). */
int cli_bad_option(cli_ctx *ctx, char **argv);

/* --- output --- */
/*
 * Prints a result as table/text or JSON (-o) on out, and what the table form says
 * instead of an empty table on err (unless -q); frees what it owns. A service
 * renders into a buffer (open_memstream) and sends exactly the bytes the CLI prints.
 */
void cli_render_to(cli_ctx *ctx, cli_result *res, FILE *out, FILE *err);
/* cli_render_to(ctx, res, stdout, stderr). */
void cli_render(cli_ctx *ctx, cli_result *res);
/*
 * An event of a long-running command (e.g. a tunnel listening): text, or one JSON
 * line, flushed at once; frees what ev owns.
 */
void cli_render_event_to(cli_ctx *ctx, cli_result *ev, FILE *out, FILE *err);
void cli_render_event(cli_ctx *ctx, cli_result *ev);
void cli_result_clear(cli_result *res);
/* Prints a notice on err (cli_note: stderr) unless -q. */
void cli_note_to(cli_ctx *ctx, FILE *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cli_note(cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints on stderr even with -q: what the user must know (who can connect, a bad row). */
void cli_warn(cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A value as a table shows it: strings as they are, numbers in decimal, null as "-". New. */
char *cli_cell(const json_t *v);
/* A lab's "where" (its hypervisor URI, or null) for people: "this host" for the embedded
 * driver on this data directory (classlab's default), the URI otherwise, "-" for null. */
char *cli_cell_where(const cli_ctx *ctx, const json_t *v);

/* Hours as a JSON value: an integer when whole, else a string with decimals. */
json_t *cli_hours_json(int64_t seconds);

struct cl_estimate;
/* The estimate's fields as a new JSON object (total_cents is an integer). */
json_t *cli_estimate_json(const struct cl_estimate *e);
/*
 * An estimate's breakdown line from its JSON: "25 × (20 + 10) × 139 × $0.01 = $1042.50",
 * or "(students × scheduled + quota sum) × ..." when quotas differ. New string.
 */
char *cli_estimate_breakdown(const json_t *estimate);
struct cl_lab_estimate;
/* A lab's estimate: the same, or null results and "unavailable" when it cannot be computed. */
json_t *cli_lab_estimate_json(const struct cl_lab_estimate *le);

/*
 * For VM commands: the settings read from the environment (boot timeout, accelerator,
 * libvirt's log file) onto the handle; CL_EINVAL for a bad one, before any hypervisor
 * is opened.
 */
int cli_vm_init(cli_ctx *ctx);
/* Progress and notices from the library on stderr (cl_ctx_opts.progress; arg: cli_ctx). */
void cli_progress(void *arg, cl_notice severity, const char *msg, size_t done, size_t total);
/* up's verification step between build and publish (template verify; arg: cli_ctx). */
int cli_verify_hook(void *arg, cl_ctx *cl, const char *lab);

struct cl_access;
struct cl_ssh;
/* Logs in to a student's VM as the student (their key, pinned host key). */
int cli_access_connect(cli_ctx *ctx, const struct cl_access *a, struct cl_ssh **ssh);
/*
 * A --bind address: numeric, and loopback unless public_ok (--public); else
 * CL_EINVAL naming the rule. A tunnel gives whoever connects the student's session.
 */
int cli_tunnel_bind_check(const char *addr, bool public_ok);
/*
 * Runs the local forward until SIGINT/SIGTERM; prints the URL (with token and
 * the address really bound) when listening, and warns when that is not loopback.
 */
int cli_tunnel_serve(cli_ctx *ctx, const struct cl_access *a, struct cl_ssh *ssh,
		     const char *bind_addr, int local, int remote, const char *token);

/* Command handlers (one file per noun). */
cli_fn cmd_sizes_list;
cli_fn cmd_size_set;
cli_fn cmd_lab_create;
cli_fn cmd_lab_list;
cli_fn cmd_lab_show;
cli_fn cmd_lab_set;
cli_fn cmd_lab_delete;
cli_fn cmd_lab_unlock;
cli_fn cmd_students_add;
cli_fn cmd_students_import;
cli_fn cmd_students_list;
cli_fn cmd_students_remove;
cli_fn cmd_quota_set;
cli_fn cmd_schedule_add;
cli_fn cmd_schedule_list;
cli_fn cmd_cost_estimate;
cli_fn cmd_cost_report;
cli_fn cmd_usage_report;
cli_fn cmd_quota_exempt;
cli_fn cmd_up;
cli_fn cmd_down;
cli_fn cmd_template_build;
cli_fn cmd_template_publish;
cli_fn cmd_template_verify;
cli_fn cmd_vm_list;
cli_fn cmd_vm_start;
cli_fn cmd_vm_stop;
cli_fn cmd_vm_verify;
cli_fn cmd_vm_attach;
cli_fn cmd_host_gpus;
cli_fn cmd_image_list;
cli_fn cmd_image_build;
cli_fn cmd_serve;

/* The table's entry for NOUN VERB (or NOUN alone); *noun_known says if NOUN exists. */
const cli_cmd *cli_find_cmd(const char *noun, const char *verb, bool *noun_known);
/* The command in argv (NOUN [VERB] ARGS), rendered; the exit status (cli/main.c). */
int cli_dispatch(cli_ctx *ctx, int argc, char **argv, char **all_argv);
/*
 * The client of `classlab serve` (cli/forward.c): when a service answers on the data
 * directory's socket, sends the command (argv: NOUN [VERB] ARGS) there, prints what it printed and
 * sets *exit_code; returns false (run here) when none answers.
 */
bool cli_forward(cli_ctx *ctx, int argc, char **argv, int *exit_code);
/* The service's socket in a data directory. New string. */
char *cli_serve_socket(const char *data_dir);
cli_fn cmd_connect;
cli_fn cmd_ssh_config;
cli_fn cmd_students_export;
cli_fn cmd_tunnel;
cli_fn cmd_jupyter;
cli_fn cmd_students_invite;
cli_fn cmd_admin_invite;

#endif
