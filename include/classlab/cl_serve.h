/*
 * The class run through the term: what `classlab serve` does on each tick. A tick
 * reads everything from the store afresh (a schedule changed a minute ago counts),
 * asks the hypervisor what runs, and acts:
 *   - a class window opens (its start less the lab's lead time): the lab's student
 *     VMs are started, once per window (an event "class-start" remembers it, so a
 *     service restarted mid-class does not start them again);
 *   - a class window ends: the VMs it started are stopped (ACPI, then power off);
 *   - a running student VM with no established TCP connection to its forward port
 *     (ssh, scp, the native tunnel all count) for the lab's idle minutes is stopped,
 *     in class and out of it (0 minutes: never).
 * Every action is said through the handle's progress callback (the service's log)
 * and recorded as an event in the store.
 */
#ifndef CL_SERVE_H
#define CL_SERVE_H

#include "classlab/cl_ctx.h"

#include <stdint.h>

typedef struct cl_serve cl_serve;

/* The service's memory between ticks (when each VM was last seen in use). */
int cl_serve_new(cl_serve **out, cl_ctx *ctx);
void cl_serve_free(cl_serve *s); /* accepts NULL */

/* What one tick did: counts for the log and the tests. */
typedef struct cl_serve_tick_result {
	int started, stopped_class, stopped_idle, errors;
} cl_serve_tick_result;

/*
 * One pass over every lab at the handle's clock. A lab that fails (its hypervisor
 * elsewhere, a VM that will not start) is said and counted in errors; the others
 * are still served. Returns an error only when the store cannot be read at all.
 */
int cl_serve_tick(cl_serve *s, cl_serve_tick_result *out);

/* The idle rule in words, as `lab show` and the stop's log line state it. */
char *cl_serve_idle_rule(int64_t idle_minutes);

#endif
