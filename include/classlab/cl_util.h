/* Errors, growable buffers, input validation and paths shared by every module. */
#ifndef CL_UTIL_H
#define CL_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Error codes. Functions return 0 on success or one of these (negative) on
 * failure; the negated code is the process exit status the CLI uses.
 */
enum {
	CL_OK = 0,
	CL_EFAIL = -1,     /* the operation failed */
	CL_EINVAL = -2,    /* usage or invalid input */
	CL_ENOTFOUND = -3, /* no such lab, student, size, ... */
	CL_EEXIST = -4,    /* conflict or already exists */
	CL_EUNAVAIL = -5,  /* hypervisor or remote unavailable */
};

/*
 * Sets the calling thread's error (code + message) and returns code, so a
 * failure is raised once where it happens: return cl_error_set(CL_EINVAL, ...).
 */
int cl_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with context: "cannot X: <old message>". Returns the code. */
int cl_error_wrap(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last error's message (borrowed, valid until the next cl_error_* call) and code. */
const char *cl_error_msg(void);
int cl_error_code(void);
void cl_error_clear(void);

/* Growable string buffer. data is always NUL-terminated once anything was added. */
typedef struct cl_buf {
	char *data;
	size_t len;
	size_t cap;
} cl_buf;
#define CL_BUF_INIT {NULL, 0, 0}

/* Allocation failure aborts: there is nothing sane a caller could do instead. */
void *cl_malloc(size_t n);
void *cl_calloc(size_t n, size_t size);
void *cl_realloc(void *p, size_t n);
char *cl_strdup(const char *s);
char *cl_strndup(const char *s, size_t n);
char *cl_aprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void cl_buf_grow(cl_buf *b, size_t extra);
void cl_buf_add(cl_buf *b, const void *data, size_t len);
void cl_buf_puts(cl_buf *b, const char *s);
void cl_buf_putc(cl_buf *b, char c);
void cl_buf_printf(cl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cl_buf_vprintf(cl_buf *b, const char *fmt, va_list ap);
void cl_buf_reset(cl_buf *b);
/* Returns the string (never NULL; "" for an empty buffer), caller frees; b is emptied. */
char *cl_buf_detach(cl_buf *b);
/* The contents as a C string: "" for an empty buffer. Borrowed. */
const char *cl_buf_str(const cl_buf *b);
void cl_buf_free(cl_buf *b);
/* Frees n strings and the array holding them (NULL: nothing). */
void cl_strv_free(char **v, size_t n);

/*
 * Reads a whole file (at most max bytes, else CL_EINVAL). A regular file or a
 * pipe; an empty path, a directory, a device or a socket is CL_EINVAL.
 */
int cl_read_file(const char *path, size_t max, cl_buf *out);
/*
 * Writes a file atomically with the given mode: a new temporary file beside it
 * (O_CREAT|O_EXCL|O_NOFOLLOW under an unpredictable name "NAME.tmp.XXXXXXXXXXXX",
 * its mode set on that new inode only), then renamed over path. A symlink or
 * file already at path is replaced, never written through or chmodded.
 * Symlinks in the directories above path are followed.
 */
int cl_write_file(const char *path, const void *data, size_t len, unsigned mode);
/* Refuse (CL_EEXIST) to replace anything already at the name. */
enum { CL_WRITE_NOREPLACE = 1u << 0 };
/* cl_write_file in the directory dirfd; name is one path component. flags: CL_WRITE_*. */
int cl_write_file_at(int dirfd, const char *name, const void *data, size_t len, unsigned mode,
		     unsigned flags);
/*
 * Creates a new temporary file beside path (as cl_write_file does) with mode
 * and returns its descriptor (>= 0; a negative CL_E* on failure). *tmp_path is
 * its path (caller frees; rename it over path, or unlink it on failure).
 */
int cl_tmpfile_open(const char *path, unsigned mode, char **tmp_path);
/* The same in the directory dirfd: *tmp_name is a name in that directory. */
int cl_tmpfile_openat(int dirfd, const char *name, unsigned mode, char **tmp_name);
/*
 * Batched durability. Between cl_file_defer_begin() and cl_file_defer_end()
 * (they nest), cl_write_file and cl_write_file_at still write the whole file
 * and wait for its data to reach the disk before renaming it into place (a
 * name never shows a partial file), but they leave the fsync (the journal
 * commit and the disk cache flush, most of the cost) to cl_file_sync: one
 * syncfs() per file system written to, however many files. Whoever records
 * such a file (a database row that names it or copies its contents) calls
 * cl_file_sync() before that record commits. cl_file_sync is a no-op when
 * nothing is pending; the outermost cl_file_defer_end() calls it. Either
 * returns a CL_E* when the files could not be made durable (nothing is then
 * pending: the caller must not commit what points at them).
 */
void cl_file_defer_begin(void);
int cl_file_defer_end(void);
int cl_file_sync(void);
/*
 * For a file classlab writes itself and then renames into place: its data on
 * disk before the rename (fsync, or within a batch its data written and waited
 * for, its file system noted for the batch's syncfs). display names it in errors.
 */
int cl_file_durable_fd(int fd, const char *display);
/*
 * mkdir -p. The directories it creates get exactly mode (not cut by the
 * umask); an existing one keeps its mode and owner. An empty path is CL_EINVAL.
 */
int cl_mkdir_p(const char *path, unsigned mode);
/* cl_mkdir_p that also says whether it created the last component (created may be NULL). */
int cl_mkdir_new(const char *path, unsigned mode, bool *created);

/* --- validation and parsing: every failure sets a message naming the value --- */

#define CL_NAME_MAX 32
/* Names of labs, students and sizes: [a-z0-9][a-z0-9-]{1,31}. */
bool cl_name_valid(const char *s);
/* what: "lab name", "student name", ... for the message. */
int cl_name_check(const char *what, const char *s);

/* A non-negative decimal integer with no sign, spaces or junk, <= max. */
int cl_parse_u64(const char *what, const char *s, uint64_t max, uint64_t *out);

/*
 * A non-negative decimal with at most `decimals` fractional digits, returned
 * scaled by 10^decimals ("1.5" with decimals 2 -> 150). Exact: no floating
 * point. The scaled value must be <= max_scaled.
 */
int cl_parse_decimal(const char *what, const char *s, unsigned decimals, uint64_t max_scaled,
		     uint64_t *out);
/* Formats value/10^decimals, trimming trailing fractional zeros ("150",2 -> "1.5"). */
char *cl_format_decimal(uint64_t value, unsigned decimals, unsigned min_decimals);

/* Hours are kept as whole seconds; input accepts up to 2 decimals and <= 87600 h. */
#define CL_HOURS_MAX 87600
int cl_parse_hours(const char *what, const char *s, int64_t *seconds);
char *cl_format_hours(int64_t seconds);

/* Money is kept in micro-dollars (1e-6); input accepts up to 6 decimals, <= $1000. */
#define CL_PRICE_MAX_MICRO 1000000000ULL
int cl_parse_price(const char *what, const char *s, int64_t *micro);
char *cl_format_price(int64_t micro); /* "$0.01" */
char *cl_format_cents(int64_t cents); /* "$1042.50" */

/* ISO 8601 "2026-01-31T09:00[:00][Z|+hh:mm]" or a date "2026-01-31" (UTC), to Unix seconds. */
int cl_parse_time(const char *what, const char *s, int64_t *out);
char *cl_format_time(int64_t t); /* "2026-01-31T09:00:00Z" */

/* A string for display (email, gecos): UTF-8, no control bytes, <= max bytes. */
int cl_text_check(const char *what, const char *s, size_t max);
/* len bytes of text that must be valid UTF-8 (any line breaks); the message names the line. */
int cl_text_check_multiline(const char *s, size_t len);
/*
 * A guest login name every image accepts: [a-z_][a-z0-9_-]{0,31}, and not a system
 * account or group (root, daemon, bin, sys, nobody, sudo, ...). what names the value.
 */
int cl_username_check(const char *what, const char *s);

/*
 * Crash-safety tests: in a build with CLASSLAB_TEST_HOOKS, the process kills
 * itself with SIGKILL at the named step when the armed spec is "step" or
 * "step:N" (the Nth time the step is reached). A no-op in normal builds.
 * cl_killpoint_arm takes the spec (the front end reads $CLASSLAB_KILL_AT); it
 * is kept, not copied; NULL disarms.
 */
void cl_killpoint_arm(const char *spec);
void cl_killpoint(const char *step);

/* --- paths: where classlab keeps its data (see cl_paths_*) --- */

/*
 * Established TCP connections whose local port is port (IPv4 and IPv6), from the
 * kernel's tables: how the service tells that someone is connected to a VM's forward.
 */
int cl_tcp_established(int port, int *count);

/*
 * The data directory: $CLASSLAB_HOME if the caller passes it, else
 * $XDG_DATA_HOME/classlab, else $HOME/.local/share/classlab. The library
 * never reads the environment itself: the front end passes what it read.
 */
typedef struct cl_env {
	const char *classlab_home; /* CLASSLAB_HOME */
	const char *xdg_data_home;
	const char *xdg_cache_home;
	const char *home;
} cl_env;
char *cl_paths_data_dir(const cl_env *env);
char *cl_paths_cache_dir(const cl_env *env);
char *cl_path_join(const char *a, const char *b);
/*
 * Drops trailing "/" and "/." in place ("dir/./" -> "dir", "/" stays), so that
 * lstat() looks at the named entry itself, not at what a symlink there points to.
 * Returns the new length.
 */
size_t cl_path_trim(char *p);
/*
 * Checks that dir can hold classlab's private data (what names it in messages:
 * "data directory"). Missing: created 0700 when create, else fine as it is.
 * Present: it must be a directory, not a symlink (symlinks above it are
 * followed), owned by the caller and not writable by group or others; its
 * mode is never changed. Refusals are CL_EINVAL.
 */
int cl_private_dir(const char *what, const char *dir, bool create);

#endif
