/*
 * The OpenStack backend's own parts: its connection, the records it keeps on this
 * machine (which image each disk name stands for, the user-data of each VM), and
 * the lab-wide resources it makes on the cloud.
 *
 * How the disk-centric table maps onto a cloud:
 *  - a base image is a Glance image ("glance:<id>"), uploaded once and found again
 *    by its content hash;
 *  - a disk is a local record <dir>/disks/<disk>.json {"backing", "server", "image"}:
 *    the template's disk of version N is the template server's root disk, turned
 *    into the image classlab-<lab>-v<N> (a snapshot) when the first student needs
 *    it; a student's disk is the root disk Nova makes from that image (its own
 *    copy-on-write clone);
 *  - a seed is the VM's user-data, kept in <dir>/seeds/<disk> (0600) and given to
 *    Nova with a config drive;
 *  - a VM is a server named like the VM, tagged "classlab", with metadata tying it
 *    to lab, student, version and the record's UUID, on a port of its own named
 *    classlab-<vm> in the lab's security group;
 *  - its SSH forward is a port forwarding on the lab's floating IP (external port =
 *    the VM's recorded port -> its fixed address:22).
 * Everything is found again by name (and metadata) before anything is made, so a
 * rerun after a crash adopts what the last run made.
 */
#ifndef CL_OS_IMPL_H
#define CL_OS_IMPL_H

#include <pthread.h>

#include "classlab/cl_openstack.h"
#include "classlab/cl_util.h"
#include "os_client.h"

struct cl_hv {
	cl_vm_conn head;
	os_cloud_config cfg;
	os_open_opts oo;
	os_cloud *os;
	pthread_mutex_t mu; /* one HTTP call at a time on os (starts run in threads) */
	char *uri;
	char *dir; /* <data>/openstack/<cloud>: disk records and seeds */
	char *want_network, *want_external, *ssh_cidr; /* the URI's query */
	char *network_id, *external_id;		       /* found once */
};

/* os_call on the connection, one at a time. */
int osb_call(cl_hv *c, const char *service, const char *method, const char *path, json_t *body,
	     json_t **reply, long *status);
/* GET path; *items: a new reference to reply[key] (an array), or an error. */
int osb_list(cl_hv *c, const char *service, const char *path, const char *key, json_t **items);
/* A string member, or "" when absent or not a string. */
const char *osb_str(json_t *obj, const char *key);

/* ---- os_lab.c: what a lab's VMs share */
int osb_networks(cl_hv *c);
int osb_flavor(cl_hv *c, const cl_domain_spec *spec, char **flavor_id);
int osb_secgroup(cl_hv *c, const char *lab, bool create, char **id);
int osb_server_group(cl_hv *c, const char *lab, bool create, char **id);
/* The lab's floating IP (a new reference), made when create; NULL when absent. */
int osb_fip(cl_hv *c, const char *lab, bool create, json_t **fip);
/* The forward external_port -> ip:22 of port_id on the lab's floating IP, exactly once. */
int osb_forward(cl_hv *c, const char *lab, const char *port_id, const char *ip, int external_port);
/* Removes every forward to port_id from the lab's floating IP. */
int osb_unforward(cl_hv *c, const char *lab, const char *port_id);
int osb_lab_address(cl_hv *c, const char *lab, char **addr);
int osb_lab_remove(cl_hv *c, const char *lab, bool keep_images);

/* ---- os_image.c: Glance */
int osb_image(cl_hv *c, const char *image, const char *cache_dir, const char *images_dir,
	      cl_image **out);
/* Waits for an image to be active; CL_EFAIL when it fails or times out. */
int osb_image_wait(cl_hv *c, const char *id, int timeout_s);
/* Deletes an image; absent is fine. */
int osb_image_delete(cl_hv *c, const char *id);

#endif
