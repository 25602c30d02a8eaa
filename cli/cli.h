/* The front end's shared pieces: context, command table entries and the output formatter. */
#ifndef CL_CLI_H
#define CL_CLI_H

#include "classlab/cl_store.h"
#include "classlab/cl_util.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>

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
	cl_store *st;  /* opened for commands with NEED_STORE */
	const struct cli_cmd *cmd;
} cli_ctx;

enum { NEED_STORE = 1 << 0 };

typedef struct cli_cmd {
	const char *noun;
	const char *verb;
	int (*fn)(cli_ctx *ctx, int argc, char **argv);
	unsigned flags;
	const char *usage; /* arguments after "classlab NOUN VERB" */
	const char *help;
} cli_cmd;

/* Every command, in the order --help lists them (cli/commands.c). */
extern const cli_cmd cli_commands[];

/* Prints "usage: classlab NOUN VERB USAGE" and returns CL_EINVAL with a message. */
int cli_usage_error(cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The usage error for what getopt_long just refused (names the right option). */
int cli_bad_option(cli_ctx *ctx, char **argv);
/* Requires exactly n positional arguments after options (optind..argc). */
int cli_positionals(cli_ctx *ctx, int argc, char **argv, int min, int max);

/* --- output: tables or JSON, chosen by -o; stdout carries only results --- */
typedef struct cli_col {
	const char *key;    /* field in each row object */
	const char *header; /* column title */
} cli_col;
/* Prints an array of objects as a table of cols, or as a JSON array. Steals rows. */
void cli_out_rows(cli_ctx *ctx, json_t *rows, const cli_col *cols, size_t ncols);
/* Prints an object as "key  value" lines (fields in order), or as JSON. Steals obj. */
void cli_out_object(cli_ctx *ctx, json_t *obj);
/* Prints text as is for table output, obj for JSON output. Steals obj. */
void cli_out_text(cli_ctx *ctx, const char *text, json_t *obj);
/* Prints a notice on stderr unless -q. */
void cli_note(cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a number option; the message names the option. */
int cli_u64(const char *opt, const char *s, uint64_t max, uint64_t *out);
/* Hours as a JSON value: an integer when whole, else a string with decimals. */
json_t *cli_hours_json(int64_t seconds);

struct cl_estimate;
/* The estimate's fields as a new JSON object (total_cents is an integer). */
json_t *cli_estimate_json(const struct cl_estimate *e);
struct cl_lab_estimate;
/* A lab's estimate: the same, or null results and "unavailable" when it cannot be computed. */
json_t *cli_lab_estimate_json(const struct cl_lab_estimate *le);

int cli_parse_yes(cli_ctx *ctx, int argc, char **argv, bool *yes);

struct cl_ops;
/* Fills ops from the context (store, URI, directories, progress on stderr). */
void cli_ops_init(cli_ctx *ctx, struct cl_ops *ops);
/* up's verification step between build and publish (template verify). */
int cli_verify_hook(struct cl_ops *ops, const char *lab);

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
int cmd_sizes_list(cli_ctx *, int, char **);
int cmd_size_set(cli_ctx *, int, char **);
int cmd_lab_create(cli_ctx *, int, char **);
int cmd_lab_list(cli_ctx *, int, char **);
int cmd_lab_show(cli_ctx *, int, char **);
int cmd_lab_delete(cli_ctx *, int, char **);
int cmd_lab_unlock(cli_ctx *, int, char **);
int cmd_students_add(cli_ctx *, int, char **);
int cmd_students_import(cli_ctx *, int, char **);
int cmd_students_list(cli_ctx *, int, char **);
int cmd_students_remove(cli_ctx *, int, char **);
int cmd_quota_set(cli_ctx *, int, char **);
int cmd_schedule_add(cli_ctx *, int, char **);
int cmd_schedule_list(cli_ctx *, int, char **);
int cmd_cost_estimate(cli_ctx *, int, char **);
int cmd_cost_report(cli_ctx *, int, char **);
int cmd_up(cli_ctx *, int, char **);
int cmd_down(cli_ctx *, int, char **);
int cmd_template_build(cli_ctx *, int, char **);
int cmd_template_publish(cli_ctx *, int, char **);
int cmd_template_verify(cli_ctx *, int, char **);
int cmd_vm_list(cli_ctx *, int, char **);
int cmd_vm_start(cli_ctx *, int, char **);
int cmd_vm_stop(cli_ctx *, int, char **);
int cmd_vm_verify(cli_ctx *, int, char **);
int cmd_vm_attach(cli_ctx *, int, char **);
int cmd_host_gpus(cli_ctx *, int, char **);
int cmd_connect(cli_ctx *, int, char **);
int cmd_ssh_config(cli_ctx *, int, char **);
int cmd_students_export(cli_ctx *, int, char **);
int cmd_tunnel(cli_ctx *, int, char **);
int cmd_jupyter(cli_ctx *, int, char **);

#endif
