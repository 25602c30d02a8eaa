/*
 * up: a lab from one file. The top of the library: it composes labs (records,
 * students), templates (build, verify, publish) and cost (the file's estimate
 * must be computable), and nothing below calls it.
 */
#ifndef CL_UP_H
#define CL_UP_H

#include "classlab/cl_ctx.h"
#include "classlab/cl_labs.h"
#include "classlab/cl_templates.h"

#include <stdbool.h>

/* up: creates or converges the lab from a parsed file; publish unless no_publish. */
int cl_up(cl_ctx *ctx, const cl_labfile *lf, bool publish, const cl_publish_opts *opts);

#endif
