/* What a lab's servers share on the cloud: networks, flavor, security group, server group, floating IP. */
#include "os_impl.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>

static char *lab_res(const char *lab)
{
	return cl_aprintf("classlab-%s", lab);
}

static char *fip_desc(const char *lab)
{
	return cl_aprintf("classlab lab %s", lab);
}

/* Items of GET path whose "name" (or "description") is value; a new array. */
static int list_where(cl_hv *c, const char *service, const char *path, const char *key,
		      const char *field, const char *value, json_t **out)
{
	json_t *items = NULL, *it;
	size_t i;
	int rc = osb_list(c, service, path, key, &items);

	*out = json_array();
	json_array_foreach(items, i, it)
		if (strcmp(osb_str(it, field), value) == 0)
			json_array_append(*out, it);
	json_decref(items);
	return rc;
}

/* The one network of a kind (external or not), by name when given. */
static int pick_network(cl_hv *c, const char *want, bool external, char **id)
{
	char *path = NULL, *q = NULL;
	json_t *items = NULL, *n;
	cl_buf names = CL_BUF_INIT;
	size_t i;
	int rc;

	if (want) {
		q = os_escape(want);
		path = cl_aprintf("/v2.0/networks?name=%s", q);
	} else {
		path = cl_aprintf("/v2.0/networks?router:external=%s", external ? "true" : "false");
	}
	if ((rc = osb_list(c, "network", path, "networks", &items)))
		goto out;
	json_array_foreach(items, i, n)
		cl_buf_printf(&names, "%s%s", names.len ? ", " : "", osb_str(n, "name"));
	if (json_array_size(items) == 1)
		*id = cl_strdup(osb_str(json_array_get(items, 0), "id"));
	else if (want)
		rc = cl_error_set(json_array_size(items) ? CL_EINVAL : CL_ENOTFOUND,
				  "network: %s network named '%s'", json_array_size(items) ? "more than one" : "no",
				  want);
	else
		rc = cl_error_set(CL_EINVAL,
				  "network: %s %s network (%s): name one in the URI "
				  "(openstack://CLOUD?%s=NAME)",
				  json_array_size(items) ? "more than one" : "no",
				  external ? "external" : "non-external", names.len ? names.data : "none",
				  external ? "external-network" : "network");
out:
	json_decref(items);
	cl_buf_free(&names);
	free(path);
	free(q);
	return rc;
}

int osb_networks(cl_hv *c)
{
	int rc = 0;
	if (!c->network_id)
		rc = pick_network(c, c->want_network, false, &c->network_id);
	if (rc == 0 && !c->external_id)
		rc = pick_network(c, c->want_external, true, &c->external_id);
	return rc;
}

/*
 * The lab file's flavor by name; else the smallest with at least the size's memory
 * and vCPUs (an exact match first); for a GPU size, only flavors that carry GPUs
 * (extra spec pci_passthrough:alias or resources:VGPU).
 */
int osb_flavor(cl_hv *c, const cl_domain_spec *spec, char **flavor_id)
{
	json_t *items = NULL, *f, *best = NULL;
	size_t i;
	int rc = osb_list(c, "compute", "/flavors/detail", "flavors", &items);

	*flavor_id = NULL;
	if (rc)
		return rc;
	json_array_foreach(items, i, f) {
		json_t *xs = json_object_get(f, "extra_specs");
		bool has_gpu = json_object_get(xs, "pci_passthrough:alias") ||
			       json_object_get(xs, "resources:VGPU");
		json_int_t ram = json_integer_value(json_object_get(f, "ram"));
		json_int_t cpus = json_integer_value(json_object_get(f, "vcpus"));
		if (spec->flavor) {
			if (strcmp(osb_str(f, "name"), spec->flavor) == 0)
				best = f;
			continue;
		}
		if (ram < (json_int_t)spec->memory_mib || cpus < (json_int_t)spec->vcpus ||
		    (spec->gpus > 0 && !has_gpu) || (spec->gpus == 0 && has_gpu))
			continue;
		if (!best) {
			best = f;
			continue;
		}
		json_int_t bram = json_integer_value(json_object_get(best, "ram"));
		json_int_t bcpus = json_integer_value(json_object_get(best, "vcpus"));
		if (ram < bram || (ram == bram && cpus < bcpus))
			best = f;
	}
	if (best) {
		json_t *xs = json_object_get(best, "extra_specs");
		if (spec->flavor && spec->gpus > 0 && !json_object_get(xs, "pci_passthrough:alias") &&
		    !json_object_get(xs, "resources:VGPU"))
			rc = cl_error_set(CL_EINVAL,
					  "compute: flavor '%s' has no GPU (extra spec "
					  "pci_passthrough:alias or resources:VGPU) but the lab's size "
					  "needs %u",
					  spec->flavor, spec->gpus);
		else
			*flavor_id = cl_strdup(osb_str(best, "id"));
	} else if (spec->flavor) {
		rc = cl_error_set(CL_ENOTFOUND, "compute: no flavor named '%s'", spec->flavor);
	} else {
		rc = cl_error_set(CL_ENOTFOUND,
				  "compute: no flavor with at least %u MiB and %u vCPUs%s: ask the "
				  "cloud's operator for one, or name one in the lab file (\"flavor\")",
				  spec->memory_mib, spec->vcpus,
				  spec->gpus ? " and a GPU (extra spec pci_passthrough:alias or "
					       "resources:VGPU)"
					     : "");
	}
	json_decref(items);
	return rc;
}

/* The lab's security group: SSH in only (from the URI's ssh-cidr, default anywhere). */
int osb_secgroup(cl_hv *c, const char *lab, bool create, char **id)
{
	char *name = lab_res(lab), *q = os_escape(name);
	char *path = cl_aprintf("/v2.0/security-groups?name=%s", q);
	const char *cidr = c->ssh_cidr ? c->ssh_cidr : "0.0.0.0/0";
	json_t *items = NULL, *sg = NULL, *reply = NULL, *r;
	bool has_rule = false;
	size_t i;
	int rc = list_where(c, "network", path, "security_groups", "name", name, &items);

	*id = NULL;
	if (rc)
		goto out;
	if (json_array_size(items) > 0) {
		sg = json_incref(json_array_get(items, 0));
	} else if (create) {
		json_t *body = json_pack("{s:{s:s,s:s}}", "security_group", "name", name, "description",
					 "classlab: SSH in only");
		rc = osb_call(c, "network", "POST", "/v2.0/security-groups", body, &reply, NULL);
		json_decref(body);
		if (rc)
			goto out;
		sg = json_incref(json_object_get(reply, "security_group"));
	} else {
		goto out;
	}
	*id = cl_strdup(osb_str(sg, "id"));
	json_array_foreach(json_object_get(sg, "security_group_rules"), i, r)
		has_rule |= strcmp(osb_str(r, "direction"), "ingress") == 0 &&
			    json_integer_value(json_object_get(r, "port_range_min")) == 22 &&
			    strcmp(osb_str(r, "remote_ip_prefix"), cidr) == 0;
	if (!has_rule && create) {
		json_t *body = json_pack("{s:{s:s,s:s,s:s,s:s,s:i,s:i,s:s}}", "security_group_rule",
					 "security_group_id", *id, "direction", "ingress", "ethertype",
					 "IPv4", "protocol", "tcp", "port_range_min", 22,
					 "port_range_max", 22, "remote_ip_prefix", cidr);
		rc = osb_call(c, "network", "POST", "/v2.0/security-group-rules", body, NULL, NULL);
		json_decref(body);
	}
out:
	json_decref(reply);
	json_decref(sg);
	json_decref(items);
	free(path);
	free(q);
	free(name);
	return rc;
}

/* The lab's server group: soft anti-affinity, so the cloud spreads the class over hosts. */
int osb_server_group(cl_hv *c, const char *lab, bool create, char **id)
{
	char *name = lab_res(lab);
	json_t *items = NULL, *reply = NULL;
	int rc = list_where(c, "compute", "/os-server-groups", "server_groups", "name", name, &items);

	*id = NULL;
	if (rc == 0 && json_array_size(items) > 0) {
		*id = cl_strdup(osb_str(json_array_get(items, 0), "id"));
	} else if (rc == 0 && create) {
		json_t *body = json_pack("{s:{s:s,s:s}}", "server_group", "name", name, "policy",
					 "soft-anti-affinity");
		if ((rc = osb_call(c, "compute", "POST", "/os-server-groups", body, &reply, NULL)) == 0)
			*id = cl_strdup(osb_str(json_object_get(reply, "server_group"), "id"));
		json_decref(body);
	}
	json_decref(reply);
	json_decref(items);
	free(name);
	return rc;
}

int osb_fip(cl_hv *c, const char *lab, bool create, json_t **fip)
{
	char *desc = fip_desc(lab);
	json_t *items = NULL, *reply = NULL;
	int rc = list_where(c, "network", "/v2.0/floatingips", "floatingips", "description", desc,
			    &items);

	*fip = NULL;
	if (rc == 0 && json_array_size(items) > 0) {
		*fip = json_incref(json_array_get(items, 0));
	} else if (rc == 0 && create && (rc = osb_networks(c)) == 0) {
		json_t *body = json_pack("{s:{s:s,s:s}}", "floatingip", "floating_network_id",
					 c->external_id, "description", desc);
		if ((rc = osb_call(c, "network", "POST", "/v2.0/floatingips", body, &reply, NULL)) == 0)
			*fip = json_incref(json_object_get(reply, "floatingip"));
		json_decref(body);
	}
	json_decref(reply);
	json_decref(items);
	free(desc);
	return rc;
}

/*
 * Students reach their VMs through port forwardings on one floating IP per lab: a
 * cloud without Neutron's extension for them is refused by name, before anything is made.
 */
static int need_port_forwarding(cl_hv *c)
{
	int rc = osb_call(c, "network", "GET", "/v2.0/extensions/floating-ip-port-forwarding", NULL,
			  NULL, NULL);
	if (rc == CL_ENOTFOUND)
		rc = cl_error_set(CL_EUNAVAIL,
				  "network: this cloud has no 'floating-ip-port-forwarding' extension "
				  "(Neutron's port_forwarding service plugin), which classlab needs for "
				  "students' SSH ports");
	return rc;
}

int osb_lab_address(cl_hv *c, const char *lab, char **addr)
{
	json_t *fip = NULL;
	int rc = need_port_forwarding(c);

	if (rc == 0)
		rc = osb_fip(c, lab, true, &fip);

	*addr = NULL;
	if (rc == 0)
		*addr = cl_strdup(osb_str(fip, "floating_ip_address"));
	if (rc == 0 && !**addr)
		rc = cl_error_set(CL_EFAIL, "network: the floating IP of lab '%s' has no address", lab);
	json_decref(fip);
	if (rc)
		cl_error_wrap("cannot give lab '%s' a floating IP", lab);
	return rc;
}

static int pf_delete(cl_hv *c, const char *fip_id, const char *pf_id)
{
	char *path = cl_aprintf("/v2.0/floatingips/%s/port_forwardings/%s", fip_id, pf_id);
	int rc = osb_call(c, "network", "DELETE", path, NULL, NULL, NULL);
	if (rc == CL_ENOTFOUND) {
		cl_error_clear();
		rc = 0;
	}
	free(path);
	return rc;
}

/*
 * Each forward of the lab's floating IP that matches: external port ext (when >0)
 * or internal port port_id; keep (optional) says whether one already is exactly
 * ext -> ip:22 of port_id, and every other match is deleted.
 */
static int pf_sweep(cl_hv *c, json_t *fip, const char *port_id, const char *ip, int ext,
		    bool *keep)
{
	char *path = cl_aprintf("/v2.0/floatingips/%s/port_forwardings", osb_str(fip, "id"));
	json_t *items = NULL, *pf;
	size_t i;
	int rc = osb_list(c, "network", path, "port_forwardings", &items);

	if (keep)
		*keep = false;
	json_array_foreach(items, i, pf) {
		bool same_ext = ext > 0 && json_integer_value(json_object_get(pf, "external_port")) == ext;
		bool same_port = strcmp(osb_str(pf, "internal_port_id"), port_id) == 0;
		if (rc || (!same_ext && !same_port))
			continue;
		if (keep && !*keep && same_ext && same_port && ip &&
		    strcmp(osb_str(pf, "internal_ip_address"), ip) == 0 &&
		    json_integer_value(json_object_get(pf, "internal_port")) == 22) {
			*keep = true;
			continue;
		}
		rc = pf_delete(c, osb_str(fip, "id"), osb_str(pf, "id"));
	}
	json_decref(items);
	free(path);
	return rc;
}

int osb_forward(cl_hv *c, const char *lab, const char *port_id, const char *ip, int external_port)
{
	json_t *fip = NULL;
	bool keep = false;
	int rc = osb_fip(c, lab, true, &fip);

	if (rc == 0)
		rc = pf_sweep(c, fip, port_id, ip, external_port, &keep);
	if (rc == 0 && !keep) {
		char *path = cl_aprintf("/v2.0/floatingips/%s/port_forwardings", osb_str(fip, "id"));
		json_t *body = json_pack("{s:{s:s,s:s,s:i,s:s,s:i}}", "port_forwarding", "protocol",
					 "tcp", "internal_ip_address", ip, "internal_port", 22,
					 "internal_port_id", port_id, "external_port", external_port);
		rc = osb_call(c, "network", "POST", path, body, NULL, NULL);
		json_decref(body);
		free(path);
	}
	if (rc)
		cl_error_wrap("cannot forward port %d of lab '%s' to %s:22", external_port, lab, ip);
	json_decref(fip);
	return rc;
}

int osb_unforward(cl_hv *c, const char *lab, const char *port_id)
{
	json_t *fip = NULL;
	int rc = osb_fip(c, lab, false, &fip);

	if (rc == 0 && fip)
		rc = pf_sweep(c, fip, port_id, NULL, 0, NULL);
	json_decref(fip);
	return rc;
}

static int delete_ok_absent(cl_hv *c, const char *service, const char *path)
{
	int rc = osb_call(c, service, "DELETE", path, NULL, NULL, NULL);
	if (rc == CL_ENOTFOUND) {
		cl_error_clear();
		rc = 0;
	}
	return rc;
}

int osb_lab_remove(cl_hv *c, const char *lab, bool keep_images)
{
	json_t *fip = NULL, *items = NULL, *img;
	char *sg = NULL, *group = NULL, *path = NULL, *q = os_escape(lab);
	size_t i;
	int rc = osb_fip(c, lab, false, &fip);

	/* Its forwards go with it. */
	if (rc == 0 && fip) {
		path = cl_aprintf("/v2.0/floatingips/%s", osb_str(fip, "id"));
		rc = delete_ok_absent(c, "network", path);
		free(path);
		path = NULL;
	}
	if (rc == 0 && (rc = osb_server_group(c, lab, false, &group)) == 0 && group) {
		path = cl_aprintf("/os-server-groups/%s", group);
		rc = delete_ok_absent(c, "compute", path);
		free(path);
		path = NULL;
	}
	if (rc == 0 && (rc = osb_secgroup(c, lab, false, &sg)) == 0 && sg) {
		path = cl_aprintf("/v2.0/security-groups/%s", sg);
		rc = delete_ok_absent(c, "network", path);
		free(path);
		path = NULL;
	}
	if (rc == 0 && !keep_images) {
		path = cl_aprintf("/v2/images?classlab_lab=%s", q);
		rc = osb_list(c, "image", path, "images", &items);
		json_array_foreach(items, i, img)
			if (rc == 0 && strcmp(osb_str(img, "classlab_lab"), lab) == 0)
				rc = osb_image_delete(c, osb_str(img, "id"));
	}
	if (rc)
		cl_error_wrap("cannot remove what lab '%s' had on the cloud", lab);
	json_decref(items);
	json_decref(fip);
	free(path);
	free(q);
	free(sg);
	free(group);
	return rc;
}
