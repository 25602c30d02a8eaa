/*
 * The OpenStack VM backend (cl_backend.h): a lab's VMs as Nova servers on a cloud
 * named in clouds.yaml, reached with the URI "openstack://CLOUD" ("openstack://"
 * alone: $OS_CLOUD or the OS_* variables).
 */
#ifndef CL_OPENSTACK_H
#define CL_OPENSTACK_H

#include <stdbool.h>

#include "classlab/cl_backend.h"

extern const cl_vm_backend cl_vm_openstack;

/* True when uri names an OpenStack cloud ("openstack://..."). */
bool cl_openstack_uri(const char *uri);

#endif
