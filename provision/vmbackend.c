/*
 * The libvirt VM backend (cl_backend.h): the table every cl_hv carries, over the
 * cl_hv_* functions, plus what only this file does: managed save, the running set
 * and lifecycle events delivered on a watcher's own thread.
 */
#include "provision_internal.h"
#include "classlab/cl_gpu.h"
#include "classlab/banned.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvirt/virterror.h>

/* The one pool of a connection: <data>/pool, named as it always was. */
#define POOL "classlab"

static int lv_open(cl_hv **out, const cl_vm_open_opts *o)
{
	cl_hv *hv = NULL;
	char *dir = NULL;
	int rc;

	*out = NULL;
	if ((rc = cl_hv_open(&hv, o->uri, o->data_dir, o->accel)))
		return rc;
	if (o->disks) {
		if (!o->data_dir || !*o->data_dir) {
			rc = cl_error_set(CL_EINVAL, "no data directory for the disk pool");
			goto out;
		}
		dir = cl_path_join(o->data_dir, "pool");
		if ((rc = cl_mkdir_p(dir, 0700)) == 0)
			rc = cl_hv_pool_ensure(hv, POOL, dir);
	}
out:
	free(dir);
	if (rc)
		cl_hv_close(hv);
	else
		*out = hv;
	return rc;
}

static const char *lv_uri(cl_hv *hv)
{
	return cl_hv_uri(hv);
}

static int lv_image(cl_hv *hv, const char *image, const char *cache_dir, const char *images_dir,
		    cl_image **out)
{
	return cl_image_resolve(hv, POOL, image, cache_dir, images_dir, out);
}

static int lv_disk_path(cl_hv *hv, const char *disk, char **path)
{
	return cl_hv_vol_path(hv, POOL, disk, path);
}

static int lv_disk_overlay(cl_hv *hv, const char *disk, const char *backing, const char *fmt)
{
	return cl_hv_vol_overlay(hv, POOL, disk, backing, fmt, 0);
}

static int lv_disk_delete(cl_hv *hv, const char *disk)
{
	return cl_hv_vol_delete(hv, POOL, disk);
}

static int lv_disk_list(cl_hv *hv, const char *prefix, char ***names, size_t *n)
{
	return cl_hv_vol_list(hv, POOL, prefix, names, n);
}

static int lv_seed_upload(cl_hv *hv, const char *disk, const cl_cloudconfig *cc, char **path)
{
	cl_buf iso = CL_BUF_INIT;
	int rc;

	*path = NULL;
	if ((rc = cl_seed_iso(cc, &iso)) == 0 &&
	    (rc = cl_hv_vol_upload_buf(hv, POOL, disk, iso.data, iso.len)) == 0)
		rc = cl_hv_vol_path(hv, POOL, disk, path);
	cl_buf_free(&iso);
	return rc;
}

static int lv_create(cl_hv *hv, const cl_domain_spec *spec)
{
	cl_domain_spec s = *spec;
	cl_buf xml = CL_BUF_INIT;
	int rc;

	if (!s.type)
		s.type = cl_hv_domain_type(hv);
	if ((rc = cl_domain_xml(&s, &xml)) == 0)
		rc = cl_hv_domain_define(hv, xml.data);
	cl_buf_free(&xml);
	return rc;
}

static int lv_remove(cl_hv *hv, const char *name, const char *const *disks, size_t n)
{
	int rc = cl_hv_domain_undefine(hv, name);

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = cl_hv_vol_delete(hv, POOL, disks[i]);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int lv_running(cl_hv *hv, char ***names, size_t *n)
{
	virDomainPtr *doms = NULL;
	size_t cnt = 0;
	int nd;

	*names = NULL;
	*n = 0;
	nd = virConnectListAllDomains(hv->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (nd < 0)
		return cl_virt_error(CL_EFAIL, "cannot list the running domains");
	*names = cl_calloc((size_t)nd + 1, sizeof(char *));
	for (int i = 0; i < nd; i++) {
		const char *nm = virDomainGetName(doms[i]);
		if (nm)
			(*names)[cnt++] = cl_strdup(nm);
		virDomainFree(doms[i]);
	}
	free(doms);
	qsort(*names, cnt, sizeof(char *), cmp_str);
	*n = cnt;
	return 0;
}

/* The domain, or CL_ENOTFOUND "domain 'x' not found"; absent_ok gives NULL and 0 instead. */
static int lookup(cl_hv *hv, const char *name, bool absent_ok, virDomainPtr *dom)
{
	*dom = virDomainLookupByName(hv->conn, name);
	if (*dom)
		return 0;
	if (cl_virt_last_code() == VIR_ERR_NO_DOMAIN) {
		virResetLastError();
		return absent_ok ? 0 : cl_error_set(CL_ENOTFOUND, "domain '%s' not found", name);
	}
	return cl_virt_error(CL_EFAIL, "cannot look up domain '%s'", name);
}

static int lv_save(cl_hv *hv, const char *name)
{
	virDomainPtr dom = NULL;
	int rc, st, reason;

	if ((rc = lookup(hv, name, false, &dom)))
		return rc;
	if (virDomainGetState(dom, &st, &reason, 0) < 0)
		rc = cl_virt_error(CL_EFAIL, "cannot get the state of domain '%s'", name);
	else if (st != VIR_DOMAIN_RUNNING && st != VIR_DOMAIN_PAUSED && st != VIR_DOMAIN_BLOCKED)
		rc = cl_error_set(CL_EFAIL, "cannot save domain '%s': it is not running", name);
	else if (virDomainManagedSave(dom, 0) < 0)
		rc = cl_virt_error(CL_EFAIL, "cannot save domain '%s'", name);
	virDomainFree(dom);
	return rc;
}

static int lv_has_saved(cl_hv *hv, const char *name, bool *saved)
{
	virDomainPtr dom = NULL;
	int rc, r;

	*saved = false;
	if ((rc = lookup(hv, name, true, &dom)) || !dom)
		return rc;
	if ((r = virDomainHasManagedSaveImage(dom, 0)) < 0)
		rc = cl_virt_error(CL_EFAIL, "cannot tell whether domain '%s' has a saved state", name);
	else
		*saved = r > 0;
	virDomainFree(dom);
	return rc;
}

static int lv_discard_saved(cl_hv *hv, const char *name)
{
	virDomainPtr dom = NULL;
	int rc, r;

	if ((rc = lookup(hv, name, true, &dom)) || !dom)
		return rc;
	r = virDomainHasManagedSaveImage(dom, 0);
	if (r < 0 || (r > 0 && virDomainManagedSaveRemove(dom, 0) < 0))
		rc = cl_virt_error(CL_EFAIL, "cannot discard the saved state of domain '%s'", name);
	virDomainFree(dom);
	return rc;
}

/* ------------------------------------------------------------------ events */

/*
 * libvirt calls back on its event loop (hv.c's thread, which the embedded
 * driver also needs for its guests' monitors): the callback only queues, and
 * the watcher's thread delivers, so a slow or re-entrant callback (a database
 * write, a call back into libvirt) never stalls the loop.
 */
typedef struct queued {
	struct queued *next;
	char *vm;
	cl_vm_event event;
	int64_t when;
} queued;

struct cl_vm_watch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	queued *head, *tail;
	bool stop;
	int refs; /* the owner's and libvirt's registration's */
	virConnectPtr conn;
	int cbid;
	cl_vm_event_cb cb;
	void *arg;
	pthread_t thread;
};

/* libvirt's lifecycle event and detail as ours; false for those a watcher does not hear. */
static bool map_event(int event, int detail, cl_vm_event *out)
{
	switch (event) {
	case VIR_DOMAIN_EVENT_DEFINED:
		*out = CL_VM_EVENT_DEFINED;
		return true;
	case VIR_DOMAIN_EVENT_UNDEFINED:
		*out = CL_VM_EVENT_UNDEFINED;
		return true;
	case VIR_DOMAIN_EVENT_STARTED:
		*out = CL_VM_EVENT_STARTED;
		return true;
	case VIR_DOMAIN_EVENT_SUSPENDED:
	case VIR_DOMAIN_EVENT_PMSUSPENDED:
		*out = CL_VM_EVENT_PAUSED;
		return true;
	case VIR_DOMAIN_EVENT_RESUMED:
		*out = CL_VM_EVENT_RESUMED;
		return true;
	case VIR_DOMAIN_EVENT_STOPPED:
		*out = detail == VIR_DOMAIN_EVENT_STOPPED_SAVED	     ? CL_VM_EVENT_SAVED
		       : detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED ||
				 detail == VIR_DOMAIN_EVENT_STOPPED_FAILED
			       ? CL_VM_EVENT_CRASHED
			       : CL_VM_EVENT_STOPPED;
		return true;
	case VIR_DOMAIN_EVENT_CRASHED:
		*out = CL_VM_EVENT_CRASHED;
		return true;
	default: /* SHUTDOWN: the guest asked; STOPPED follows */
		return false;
	}
}

static void watch_unref(cl_vm_watch *w)
{
	bool last;

	pthread_mutex_lock(&w->mu);
	last = --w->refs == 0;
	pthread_mutex_unlock(&w->mu);
	if (!last)
		return;
	for (queued *q = w->head, *next; q; q = next) {
		next = q->next;
		free(q->vm);
		free(q);
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static void registration_freed(void *opaque)
{
	watch_unref(opaque);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	cl_vm_watch *w = opaque;
	const char *name = virDomainGetName(dom);
	struct timespec now;
	queued *q;
	cl_vm_event e;

	(void)conn;
	if (!name || !map_event(event, detail, &e))
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	q = cl_calloc(1, sizeof(*q));
	q->vm = cl_strdup(name);
	q->event = e;
	q->when = (int64_t)now.tv_sec;
	pthread_mutex_lock(&w->mu);
	if (w->stop) {
		free(q->vm);
		free(q);
	} else {
		if (w->tail)
			w->tail->next = q;
		else
			w->head = q;
		w->tail = q;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* Delivers in order; after stop, what had arrived is still delivered, then it ends. */
static void *deliver(void *p)
{
	cl_vm_watch *w = p;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		queued *q = w->head;
		if (!q)
			break;
		w->head = q->next;
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->mu);
		w->cb(w->arg, q->vm, q->event, q->when);
		free(q->vm);
		free(q);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Ends the delivery thread once what had arrived is delivered; drops the owner's reference. */
static void stop_delivery(cl_vm_watch *w)
{
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	watch_unref(w);
}

static int lv_watch(cl_hv *hv, cl_vm_event_cb cb, void *arg, cl_vm_watch **out)
{
	cl_vm_watch *w = cl_calloc(1, sizeof(*w));

	*out = NULL;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->refs = 1;
	w->cb = cb;
	w->arg = arg;
	w->conn = hv->conn;
	if (pthread_create(&w->thread, NULL, deliver, w) != 0) {
		watch_unref(w);
		return cl_error_set(CL_EFAIL, "cannot start the event watcher's thread");
	}
	w->refs++; /* libvirt's, given back by registration_freed */
	w->cbid = virConnectDomainEventRegisterAny(hv->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
						   VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), w,
						   registration_freed);
	if (w->cbid < 0) {
		int rc = cl_virt_error(CL_EFAIL, "cannot watch the domains of '%s'", hv->uri);
		w->refs--; /* never registered: libvirt will not call registration_freed */
		stop_delivery(w);
		return rc;
	}
	virConnectRef(hv->conn);
	*out = w;
	return 0;
}

static void lv_unwatch(cl_vm_watch *w)
{
	virConnectPtr conn;

	if (!w)
		return;
	conn = w->conn;
	/* From here on libvirt queues nothing new; a callback running now sees stop. */
	if (virConnectDomainEventDeregisterAny(conn, w->cbid) < 0)
		virResetLastError();
	stop_delivery(w);
	virConnectClose(conn);
}

/* ------------------------------------------------------------------ access and capacity */

/* User-mode networking: SSH lands on the host port forwarded to the guest's 22. */
static int lv_ssh_endpoint(cl_hv *hv, const char *name, const char *listen, int forwarded,
			   const char **host, int *port)
{
	(void)hv;
	if (forwarded <= 0)
		return cl_error_set(CL_EINVAL, "VM '%s' has no SSH port", name);
	*host = listen && *listen ? listen : "127.0.0.1";
	*port = forwarded;
	return 0;
}

static int lv_gpus(cl_hv *hv, struct cl_host_gpu **out, size_t *n)
{
	return cl_gpu_host_list(hv->conn, out, n);
}

const cl_vm_backend cl_vm_libvirt = {
	.name = "libvirt",
	.host_forwards = true,
	.host_devices = true,
	.open = lv_open,
	.close = cl_hv_close,
	.uri = lv_uri,
	.image = lv_image,
	.disk_path = lv_disk_path,
	.disk_overlay = lv_disk_overlay,
	.disk_delete = lv_disk_delete,
	.disk_list = lv_disk_list,
	.seed_upload = lv_seed_upload,
	.create = lv_create,
	.start = cl_hv_domain_start,
	.stop = cl_hv_domain_shutdown,
	.destroy = cl_hv_domain_destroy,
	.remove = lv_remove,
	.state = cl_hv_domain_state,
	.running = lv_running,
	.save = lv_save,
	.has_saved = lv_has_saved,
	.discard_saved = lv_discard_saved,
	.watch = lv_watch,
	.unwatch = lv_unwatch,
	.ssh_endpoint = lv_ssh_endpoint,
	.gpus = lv_gpus,
};
