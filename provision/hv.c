/* The libvirt connection: embed setup (qemu.conf, event loop), error capture, reattachment. */
#include "provision_internal.h"
#include "classlab/banned.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/virterror.h>
#include <libxml/uri.h>

/*
 * QEMU's monitor socket lives at <root>/lib/qemu/domain-<id>-<name, cut at
 * 20>/monitor.sock and a unix socket path holds 107 bytes: keep room for a
 * 10-digit id and a 20-character name.
 */
#define EMBED_SOCKET_OVERHEAD (sizeof("/lib/qemu/domain-") - 1 + 10 + 1 + 20 + sizeof("/monitor.sock") - 1)
#define UNIX_PATH_MAX 107

int cl_virt_error(int code, const char *fmt, ...)
{
	char ctx[1024];
	const char *why = virGetLastErrorMessage();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	return cl_error_set(code, "%s: %s", ctx, why && *why ? why : "unknown libvirt error");
}

int cl_virt_last_code(void)
{
	return virGetLastErrorCode();
}

/* libvirt prints errors to stderr unless a handler takes them; we read them with virGetLastError. */
static void swallow_error(void *opaque, virErrorPtr err)
{
	(void)opaque;
	(void)err;
}

static void *event_loop(void *arg)
{
	(void)arg;
	for (;;)
		virEventRunDefaultImpl();
	return NULL;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void init_libvirt(void)
{
	pthread_t t;
	pthread_attr_t attr;

	if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0) {
		init_rc = -1;
		return;
	}
	virSetErrorFunc(NULL, swallow_error);
	/* The embedded driver needs an event loop for the life of the process. */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, event_loop, NULL) != 0)
		init_rc = -1;
	pthread_attr_destroy(&attr);
}

/* The root= parameter of a qemu:///embed URI, unescaped; NULL if it is not one. */
static char *embed_root(const char *uri)
{
	xmlURIPtr u = xmlParseURI(uri);
	char *root = NULL;

	if (!u)
		return NULL;
	if (u->scheme && strcmp(u->scheme, "qemu") == 0 && !u->server && u->path &&
	    strcmp(u->path, "/embed") == 0 && u->query_raw) {
		const char *q = u->query_raw;
		while (q && *q) {
			const char *amp = strchr(q, '&');
			size_t len = amp ? (size_t)(amp - q) : strlen(q);
			if (len > 5 && strncmp(q, "root=", 5) == 0) {
				char *raw = cl_strndup(q + 5, len - 5);
				char *un = xmlURIUnescapeString(raw, 0, NULL);
				root = un ? cl_strdup(un) : NULL;
				xmlFree(un);
				free(raw);
				break;
			}
			q = amp ? amp + 1 : NULL;
		}
	}
	xmlFreeURI(u);
	return root;
}

static int dir_0700(const char *path)
{
	if (cl_mkdir_p(path, 0700) < 0)
		return cl_error_wrap("cannot create directory '%s'", path);
	return 0;
}

static int embed_prepare(const char *root)
{
	char *etc = NULL, *conf = NULL;
	cl_buf want = CL_BUF_INIT, have = CL_BUF_INIT;
	int rc = 0;

	if (root[0] != '/')
		return cl_error_set(CL_EINVAL, "embedded hypervisor root '%s' must be an absolute path",
				    root);
	if (strlen(root) + EMBED_SOCKET_OVERHEAD > UNIX_PATH_MAX)
		return cl_error_set(CL_EINVAL,
				    "embedded hypervisor root '%s' is too long (%zu bytes): QEMU's "
				    "monitor socket path would exceed 108 bytes; use a root of at "
				    "most %zu bytes (a shorter data directory or --connect)",
				    root, strlen(root), (size_t)(UNIX_PATH_MAX - EMBED_SOCKET_OVERHEAD));
	etc = cl_path_join(root, "etc");
	conf = cl_path_join(etc, "qemu.conf");
	if ((rc = dir_0700(root)) < 0 || (rc = dir_0700(etc)) < 0)
		goto out;
	cl_buf_puts(&want, "# Written by classlab for the embedded QEMU driver; rewritten on change.\n"
			   "# No virtlogd: QEMU writes console and log files itself.\n"
			   "stdio_handler = \"file\"\n"
			   "# No owner-remembering xattrs (and no warnings about their timestamps).\n"
			   "remember_owner = 0\n");
	if (geteuid() == 0)
		/* No confinement as root (no libvirt-qemu user to drop to); confined=0 keeps
		 * libvirt from logging a warning about exactly that on every open. */
		cl_buf_puts(&want, "user = \"root\"\ngroup = \"root\"\nsecurity_driver = \"none\"\n"
				   "security_default_confined = 0\n");
	if (cl_read_file(conf, 1 << 20, &have) == 0 && have.len == want.len &&
	    memcmp(have.data, want.data, want.len) == 0)
		goto out;
	cl_error_clear();
	if ((rc = cl_write_file(conf, want.data, want.len, 0600)) < 0)
		rc = cl_error_wrap("cannot write '%s'", conf);
out:
	cl_buf_free(&want);
	cl_buf_free(&have);
	free(conf);
	free(etc);
	return rc;
}

#define EMBED_WAIT_MS 15000

/*
 * The pid of the process that holds <root>/run/qemu/driver.pid locked (libvirt
 * locks it with fcntl for as long as a process runs the embedded driver), or 0.
 */
static long embed_holder(const char *root)
{
	char *path = cl_aprintf("%s/run/qemu/driver.pid", root);
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	int fd = open(path, O_RDWR | O_CLOEXEC);
	long pid = 0;

	if (fd >= 0 && fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		pid = (long)fl.l_pid;
	if (fd >= 0)
		close(fd);
	free(path);
	return pid;
}

int cl_hv_accel_parse(const char *what, const char *value, const char **accel)
{
	*accel = NULL;
	if (!value || !*value || strcmp(value, "auto") == 0)
		return 0;
	if (strcmp(value, "kvm") == 0 || strcmp(value, "tcg") == 0) {
		*accel = strcmp(value, "kvm") == 0 ? "kvm" : "tcg";
		return 0;
	}
	return cl_error_set(CL_EINVAL, "%s: '%s' is not kvm, tcg or auto", what, value);
}

int cl_hv_open(cl_hv **out, const char *uri, const char *data_dir, const char *accel_choice)
{
	cl_hv *hv = NULL;
	virDomainStatsRecordPtr *stats = NULL;
	const char *accel;
	int rc = 0, n;

	*out = NULL;
	if ((rc = cl_hv_accel_parse("accelerator", accel_choice, &accel)))
		return rc;
	pthread_once(&init_once, init_libvirt);
	if (init_rc < 0)
		return cl_error_set(CL_EUNAVAIL, "cannot initialize libvirt");
	hv = cl_calloc(1, sizeof(*hv));
	hv->base.ops = &cl_vm_libvirt;
	hv->accel = accel;
	if (uri && *uri) {
		hv->uri = cl_strdup(uri);
	} else {
		char *hvdir;
		if (!data_dir || !*data_dir) {
			rc = cl_error_set(CL_EINVAL, "no hypervisor URI and no data directory");
			goto out;
		}
		xmlChar *esc;
		hvdir = cl_path_join(data_dir, "hv");
		esc = xmlURIEscapeStr(BAD_CAST hvdir, BAD_CAST "/-_.~");
		hv->uri = cl_aprintf("qemu:///embed?root=%s", esc ? (const char *)esc : hvdir);
		xmlFree(esc);
		free(hvdir);
	}
	hv->root = embed_root(hv->uri);
	hv->embed = hv->root != NULL;
	hv->storage = hv->embed ? &cl_storage_local : &cl_storage_libvirt;
	hv->test = strncmp(hv->uri, "test:", 5) == 0;
	if (hv->embed && (rc = embed_prepare(hv->root)) < 0)
		goto out;
	/*
	 * One process at a time may run an embedded driver root. Another classlab
	 * on the same data directory is waited for a little before opening (libvirt
	 * cannot retry a failed embedded open in the same process), then named: it
	 * is a conflict, not an outage.
	 */
	for (int waited = 0; hv->embed && embed_holder(hv->root) && waited < EMBED_WAIT_MS;
	     waited += 200) {
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	hv->conn = virConnectOpen(hv->uri);
	if (!hv->conn && hv->embed && embed_holder(hv->root)) {
		long pid = embed_holder(hv->root);
		rc = cl_error_set(CL_EEXIST,
				  "the embedded hypervisor under '%s' is in use by another classlab "
				  "(pid %ld): try again when it is done, or use a libvirtd "
				  "(--connect qemu:///system) to run several at once",
				  hv->root, pid);
		goto out;
	}
	if (!hv->conn) {
		rc = cl_virt_error(CL_EUNAVAIL, "cannot connect to hypervisor '%s'", hv->uri);
		goto out;
	}
	virConnSetErrorFunc(hv->conn, NULL, swallow_error);
	/*
	 * Running guests are reattached in background threads after an embed open;
	 * a job on each of them waits for that (destroying earlier fails, and exiting
	 * meanwhile can crash). State stats alone take no job; balloon stats do.
	 * Drivers without stats support have nothing to wait for.
	 */
	n = virConnectGetAllDomainStats(hv->conn, VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_BALLOON, &stats,
					VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
	if (n >= 0)
		virDomainStatsRecordListFree(stats);
	virResetLastError();
out:
	if (rc < 0)
		cl_hv_close(hv);
	else
		*out = hv;
	return rc;
}

void cl_hv_close(cl_hv *hv)
{
	if (!hv)
		return;
	if (hv->conn)
		virConnectClose(hv->conn);
	free(hv->domtype);
	free(hv->root);
	free(hv->uri);
	free(hv);
}

const char *cl_hv_uri(const cl_hv *hv)
{
	return hv->uri;
}

bool cl_hv_is_embed(const cl_hv *hv)
{
	return hv->embed;
}

virConnectPtr cl_hv_conn(cl_hv *hv)
{
	return hv->conn;
}

static bool uri_is_local(const char *uri)
{
	xmlURIPtr u = xmlParseURI(uri);
	bool local = u && (!u->server || !*u->server);
	xmlFreeURI(u);
	return local;
}

/*
 * A /dev/kvm served by PVM (kvm_pvm, a pagetable-based KVM for nested sandboxes)
 * runs only guest kernels built for PVM: a stock cloud image hangs after the
 * boot loader ("kvm-pvm: INTERNAL_ERROR" in the host's log). Without kvm_intel or
 * kvm_amd, such a KVM is not one classlab's guests can use.
 */
static bool local_kvm_usable(void)
{
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		return false;
	return access("/sys/module/kvm_pvm", F_OK) != 0 ||
	       access("/sys/module/kvm_intel", F_OK) == 0 ||
	       access("/sys/module/kvm_amd", F_OK) == 0;
}

const char *cl_hv_domain_type(cl_hv *hv)
{
	char *caps;

	if (hv->domtype)
		return hv->domtype;
	if (hv->test) {
		hv->domtype = cl_strdup("test");
		return hv->domtype;
	}
	if (hv->accel) {
		hv->domtype = cl_strdup(strcmp(hv->accel, "kvm") == 0 ? "kvm" : "qemu");
		return hv->domtype;
	}
	/* Locally the host's KVM decides; remotely only its domain capabilities can tell. */
	if (uri_is_local(hv->uri) && !local_kvm_usable()) {
		hv->domtype = cl_strdup("qemu");
		return hv->domtype;
	}
	caps = virConnectGetDomainCapabilities(hv->conn, NULL, "x86_64", NULL, "kvm", 0);
	hv->domtype = cl_strdup(caps ? "kvm" : "qemu");
	free(caps);
	virResetLastError();
	return hv->domtype;
}
