/* Domain lifecycle: define, start, shutdown, destroy, undefine, state, list. */
#include "provision_internal.h"
#include "classlab/banned.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libvirt/virterror.h>

/* *dom NULL and 0 when absent (absent_ok), else CL_ENOTFOUND. */
static int dom_lookup(cl_hv *hv, const char *name, bool absent_ok, virDomainPtr *dom)
{
	*dom = virDomainLookupByName(hv->conn, name);
	if (*dom)
		return 0;
	if (cl_virt_last_code() == VIR_ERR_NO_DOMAIN)
		return absent_ok ? 0 : cl_error_set(CL_ENOTFOUND, "domain '%s' not found", name);
	return cl_virt_error(CL_EFAIL, "cannot look up domain '%s'", name);
}

static cl_dom_state map_state(int s)
{
	switch (s) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:
	case VIR_DOMAIN_SHUTDOWN: /* still running while it shuts down */
		return CL_DOM_RUNNING;
	case VIR_DOMAIN_PAUSED:
		return CL_DOM_PAUSED;
	case VIR_DOMAIN_SHUTOFF:
		return CL_DOM_SHUTOFF;
	default:
		return CL_DOM_OTHER;
	}
}

static int dom_state(virDomainPtr dom, const char *name, cl_dom_state *state)
{
	int s, reason;
	if (virDomainGetState(dom, &s, &reason, 0) < 0)
		return cl_virt_error(CL_EFAIL, "cannot get the state of domain '%s'", name);
	*state = map_state(s);
	return 0;
}

int cl_hv_domain_define(cl_hv *hv, const char *xml)
{
	char *name = cl_xml_xpath_str(xml, "/domain/name");
	char *want = cl_xml_xpath_str(xml, "/domain/uuid");
	char have[VIR_UUID_STRING_BUFLEN];
	virDomainPtr dom = NULL;
	int rc;

	if (!name) {
		rc = cl_error_set(CL_EINVAL, "domain XML without a name");
		goto out;
	}
	if ((rc = dom_lookup(hv, name, true, &dom)) < 0)
		goto out;
	if (dom) {
		if (virDomainGetUUIDString(dom, have) < 0) {
			rc = cl_virt_error(CL_EFAIL, "cannot get the UUID of domain '%s'", name);
			goto out;
		}
		if (want && strcasecmp(want, have) != 0) {
			rc = cl_error_set(CL_EEXIST, "domain '%s' already exists with UUID %s (not %s)",
					  name, have, want);
			goto out;
		}
		virDomainFree(dom);
	}
	dom = virDomainDefineXMLFlags(hv->conn, xml, 0);
	if (!dom)
		rc = cl_virt_error(cl_virt_last_code() == VIR_ERR_OPERATION_FAILED ? CL_EEXIST : CL_EFAIL,
				   "cannot define domain '%s'", name);
out:
	if (dom)
		virDomainFree(dom);
	free(want);
	free(name);
	return rc;
}

int cl_hv_domain_start(cl_hv *hv, const char *name)
{
	virDomainPtr dom = NULL;
	cl_dom_state st = CL_DOM_SHUTOFF; /* set by dom_state; -O2 cannot see it */
	int rc;

	if ((rc = dom_lookup(hv, name, false, &dom)) < 0)
		return rc;
	if ((rc = dom_state(dom, name, &st)) == 0) {
		if (st == CL_DOM_PAUSED) {
			if (virDomainResume(dom) < 0)
				rc = cl_virt_error(CL_EFAIL, "cannot resume domain '%s'", name);
		} else if (st != CL_DOM_RUNNING && virDomainCreate(dom) < 0) {
			rc = cl_virt_error(CL_EFAIL, "cannot start domain '%s'", name);
		}
	}
	virDomainFree(dom);
	return rc;
}

static int destroy(virDomainPtr dom, const char *name)
{
	cl_dom_state st = CL_DOM_SHUTOFF; /* set by dom_state; -O2 cannot see it */
	int rc;

	if ((rc = dom_state(dom, name, &st)) < 0 || st == CL_DOM_SHUTOFF)
		return rc;
	if (virDomainDestroy(dom) < 0) {
		/* It may have stopped on its own meanwhile. */
		if (dom_state(dom, name, &st) == 0 && st == CL_DOM_SHUTOFF)
			return 0;
		return cl_virt_error(CL_EFAIL, "cannot destroy domain '%s'", name);
	}
	return 0;
}

int cl_hv_domain_destroy(cl_hv *hv, const char *name)
{
	virDomainPtr dom = NULL;
	int rc;

	if ((rc = dom_lookup(hv, name, true, &dom)) < 0 || !dom)
		return rc;
	rc = destroy(dom, name);
	virDomainFree(dom);
	return rc;
}

int cl_hv_domain_shutdown(cl_hv *hv, const char *name, int timeout_s)
{
	virDomainPtr dom = NULL;
	cl_dom_state st = CL_DOM_SHUTOFF; /* set by dom_state; -O2 cannot see it */
	struct timespec tick = {0, 100 * 1000 * 1000};
	int rc;

	if ((rc = dom_lookup(hv, name, true, &dom)) < 0 || !dom)
		return rc;
	if ((rc = dom_state(dom, name, &st)) < 0 || st == CL_DOM_SHUTOFF)
		goto out;
	/* A guest that ignores ACPI (or cannot get it) is destroyed after the timeout anyway. */
	if (st == CL_DOM_RUNNING && virDomainShutdown(dom) == 0) {
		for (int i = 0; i < timeout_s * 10; i++) {
			if ((rc = dom_state(dom, name, &st)) < 0 || st == CL_DOM_SHUTOFF)
				goto out;
			nanosleep(&tick, NULL);
		}
	}
	virResetLastError();
	rc = destroy(dom, name);
out:
	virDomainFree(dom);
	return rc;
}

int cl_hv_domain_undefine(cl_hv *hv, const char *name)
{
	virDomainPtr dom = NULL;
	unsigned flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
			 VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM;
	int rc;

	if ((rc = dom_lookup(hv, name, true, &dom)) < 0 || !dom)
		return rc;
	if ((rc = destroy(dom, name)) < 0)
		goto out;
	if (virDomainUndefineFlags(dom, flags) < 0) {
		int code = cl_virt_last_code();
		/* Drivers without the metadata flags: plain undefine. */
		if ((code != VIR_ERR_INVALID_ARG && code != VIR_ERR_NO_SUPPORT) || virDomainUndefine(dom) < 0)
			rc = cl_virt_error(CL_EFAIL, "cannot undefine domain '%s'", name);
	}
out:
	virDomainFree(dom);
	return rc;
}

int cl_hv_domain_state(cl_hv *hv, const char *name, cl_dom_state *state)
{
	virDomainPtr dom = NULL;
	int rc;

	*state = CL_DOM_ABSENT;
	if ((rc = dom_lookup(hv, name, true, &dom)) < 0 || !dom)
		return rc;
	rc = dom_state(dom, name, state);
	virDomainFree(dom);
	return rc;
}

int cl_hv_domain_uuid(cl_hv *hv, const char *name, char out[37])
{
	virDomainPtr dom = NULL;
	char u[VIR_UUID_STRING_BUFLEN];
	int rc;

	if ((rc = dom_lookup(hv, name, false, &dom)) < 0)
		return rc;
	if (virDomainGetUUIDString(dom, u) < 0)
		rc = cl_virt_error(CL_EFAIL, "cannot get the UUID of domain '%s'", name);
	else
		memcpy(out, u, 37);
	virDomainFree(dom);
	return rc;
}

typedef struct named_state {
	char *name;
	cl_dom_state state;
} named_state;

static int cmp_named(const void *a, const void *b)
{
	return strcmp(((const named_state *)a)->name, ((const named_state *)b)->name);
}

int cl_hv_domain_list(cl_hv *hv, const char *prefix, char ***names, cl_dom_state **states,
		      size_t *n)
{
	virDomainPtr *doms = NULL;
	named_state *v = NULL;
	size_t plen = prefix ? strlen(prefix) : 0, cnt = 0;
	int nd;

	*names = NULL;
	if (states)
		*states = NULL;
	*n = 0;
	nd = virConnectListAllDomains(hv->conn, &doms, 0);
	if (nd < 0)
		return cl_virt_error(CL_EFAIL, "cannot list domains");
	v = cl_calloc((size_t)nd + 1, sizeof(*v));
	for (int i = 0; i < nd; i++) {
		const char *nm = virDomainGetName(doms[i]);
		int s, reason;
		if (nm && (!plen || strncmp(nm, prefix, plen) == 0)) {
			v[cnt].name = cl_strdup(nm);
			v[cnt].state = virDomainGetState(doms[i], &s, &reason, 0) == 0 ? map_state(s)
										       : CL_DOM_OTHER;
			cnt++;
		}
		virDomainFree(doms[i]);
	}
	free(doms);
	virResetLastError();
	qsort(v, cnt, sizeof(*v), cmp_named);
	*names = cl_calloc(cnt + 1, sizeof(char *));
	if (states)
		*states = cl_calloc(cnt + 1, sizeof(cl_dom_state));
	for (size_t i = 0; i < cnt; i++) {
		(*names)[i] = v[i].name;
		if (states)
			(*states)[i] = v[i].state;
	}
	free(v);
	*n = cnt;
	return 0;
}
