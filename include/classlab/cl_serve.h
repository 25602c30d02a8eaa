/*
 * The class run through the term: what `classlab serve` does on each pass. A pass
 * reads everything from the store afresh (a schedule changed a minute ago counts),
 * asks the hypervisor what runs, meters it (cl_meter.h: the first pass reconciles,
 * later ones beat and close the intervals of VMs that stopped), then per lab, with
 * its settings (lab set / the lab file: lead, idle minutes):
 *   - a class window opens (its start less the lead time): the lab's student VMs
 *     start, once per window (event "class-start"; a service restarted mid-class
 *     does not start them again);
 *   - a class window ends: its student VMs stop (ACPI, then power off), once, also
 *     when the service was down at the end;
 *   - outside class, a student at 90 % of the quota gets a message on the VM's
 *     terminals (wall, once per quota value), at 100 % the VM stops;
 *   - a running student VM with no established TCP connection to its forward port
 *     (ssh, scp, the native tunnel all count) and no Jupyter activity for the idle
 *     minutes stops, in class and out of it (0 minutes: never).
 * Every action is said through the handle's progress callback (the service's log),
 * metered at once, and recorded as an event in the store.
 */
#ifndef CL_SERVE_H
#define CL_SERVE_H

#include "classlab/cl_backend.h"
#include "classlab/cl_ctx.h"

#include <stdint.h>

typedef struct cl_serve cl_serve;

/* The service's memory between ticks (when each VM was last seen in use). */
int cl_serve_new(cl_serve **out, cl_ctx *ctx);
void cl_serve_free(cl_serve *s); /* accepts NULL; stops the watch first */
/*
 * One thing at a time on the handle: a pass, a lifecycle event, or whatever else the
 * service does with ctx (a client's command) holds this lock.
 */
void cl_serve_lock(cl_serve *s);
void cl_serve_unlock(cl_serve *s);
/*
 * Meters from the hypervisor's lifecycle events from now on (started, stopped, saved,
 * crashed), on the backend watcher's thread, under the lock; the passes still beat
 * and reconcile. Opens the connection if needed.
 */
int cl_serve_watch(cl_serve *s);

/* What one tick did: counts for the log and the tests. */
typedef struct cl_serve_tick_result {
	int started, stopped_class, stopped_idle, stopped_quota, warned, errors;
} cl_serve_tick_result;

/*
 * One pass over every lab at the handle's clock (the caller holds the lock). A lab that fails (its hypervisor
 * elsewhere, a VM that will not start) is said and counted in errors; the others
 * are still served. Returns an error only when the store cannot be read at all.
 */
int cl_serve_tick(cl_serve *s, cl_serve_tick_result *out);

/*
 * The service stops cleanly (after its last request): the watch ends, then every open run
 * interval closes now (VMs keep running). Takes the lock itself.
 */
int cl_serve_stop(cl_serve *s);

#endif
