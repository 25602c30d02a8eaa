/* Domain XML (libxml2 writer only), UUIDs and deterministic MAC addresses. */
#include "provision_internal.h"
#include "classlab/banned.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"

void cl_uuid_new(char out[37])
{
	uuid_t u;
	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}

void cl_mac_from_seed(const char *seed, char out[18])
{
	unsigned char d[32];
	cl_buf in = CL_BUF_INIT;

	cl_buf_printf(&in, "classlab-mac:%s", seed);
	cl_sha256(in.data, in.len, d);
	cl_buf_free(&in);
	/* 0x02: locally administered, unicast. */
	snprintf(out, 18, "02:%02x:%02x:%02x:%02x:%02x", d[0], d[1], d[2], d[3], d[4]);
}

static bool mac_valid(const char *m)
{
	if (strlen(m) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char)m[i]))
			return false;
	}
	/* A multicast MAC would never get traffic. */
	return (strtoul(m, NULL, 16) & 1) == 0;
}

static bool ipv4_valid(const char *s)
{
	struct in_addr a;
	return s && inet_pton(AF_INET, s, &a) == 1;
}

static bool dom_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 64 || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

static bool uuid_valid(const char *s)
{
	uuid_t u;
	return strlen(s) == 36 && uuid_parse(s, u) == 0;
}

/* "0000:65:00.0" -> its four parts, checked against PCI limits. */
static int parse_pci(const char *s, unsigned *dom, unsigned *bus, unsigned *slot, unsigned *fn)
{
	char tail;
	if (!s || strlen(s) != 12 || sscanf(s, "%4x:%2x:%2x.%1x%c", dom, bus, slot, fn, &tail) != 4 ||
	    s[4] != ':' || s[7] != ':' || s[10] != '.' || *slot > 0x1f || *fn > 7)
		return cl_error_set(CL_EINVAL, "invalid PCI address '%s' (want 0000:65:00.0)",
				    s ? s : "");
	for (int i = 0; i < 12; i++)
		if (i != 4 && i != 7 && i != 10 && !isxdigit((unsigned char)s[i]))
			return cl_error_set(CL_EINVAL, "invalid PCI address '%s' (want 0000:65:00.0)", s);
	return 0;
}

static int check_spec(const cl_domain_spec *s)
{
	if (!dom_name_valid(s->name))
		return cl_error_set(CL_EINVAL, "invalid domain name '%s'", s->name ? s->name : "");
	if (s->uuid && *s->uuid && !uuid_valid(s->uuid))
		return cl_error_set(CL_EINVAL, "invalid UUID '%s' for domain '%s'", s->uuid, s->name);
	if (!s->type || (strcmp(s->type, "qemu") && strcmp(s->type, "kvm") && strcmp(s->type, "test")))
		return cl_error_set(CL_EINVAL, "invalid domain type '%s' (qemu, kvm or test)",
				    s->type ? s->type : "");
	if (s->memory_mib < 16 || s->memory_mib > 16u * 1024 * 1024 || s->vcpus < 1 || s->vcpus > 255)
		return cl_error_set(CL_EINVAL, "invalid size for domain '%s': %u MiB, %u vCPUs", s->name,
				    s->memory_mib, s->vcpus);
	if (!s->disk_path || s->disk_path[0] != '/')
		return cl_error_set(CL_EINVAL, "domain '%s' needs an absolute disk path", s->name);
	if (s->disk_format && strcmp(s->disk_format, "qcow2") && strcmp(s->disk_format, "raw"))
		return cl_error_set(CL_EINVAL, "invalid disk format '%s'", s->disk_format);
	if ((s->initrd || s->cmdline) && !s->kernel)
		return cl_error_set(CL_EINVAL, "domain '%s': an initrd or cmdline needs a kernel", s->name);
	if (s->ssh_port) {
		const char *listen = s->listen ? s->listen : "127.0.0.1";
		/* These go into one comma-separated QEMU option: only strictly checked values. */
		if (!s->mac || !mac_valid(s->mac))
			return cl_error_set(CL_EINVAL, "invalid MAC address '%s'", s->mac ? s->mac : "");
		if (!ipv4_valid(listen))
			return cl_error_set(CL_EINVAL, "invalid listen address '%s' (want IPv4)", listen);
		if (s->ssh_port < 1 || s->ssh_port > 65535)
			return cl_error_set(CL_EINVAL, "invalid SSH port %d", s->ssh_port);
		for (size_t i = 0; i < s->n_forwards; i++) {
			const cl_port_forward *f = &s->forwards[i];
			if ((f->listen && !ipv4_valid(f->listen)) || f->host_port < 1 ||
			    f->host_port > 65535 || f->guest_port < 1 || f->guest_port > 65535)
				return cl_error_set(CL_EINVAL, "invalid port forward %s:%d -> %d",
						    f->listen ? f->listen : listen, f->host_port,
						    f->guest_port);
		}
	} else if (s->n_forwards) {
		return cl_error_set(CL_EINVAL, "port forwards need an SSH port");
	}
	return 0;
}

static void disk(cl_xw *x, const char *path, const char *fmt, const char *dev, bool ro)
{
	cl_xw_start(x, "disk");
	cl_xw_attr(x, "type", "file");
	cl_xw_attr(x, "device", "disk");
	cl_xw_start(x, "driver");
	cl_xw_attr(x, "name", "qemu");
	cl_xw_attr(x, "type", fmt);
	cl_xw_end(x);
	cl_xw_start(x, "source");
	cl_xw_attr(x, "file", path);
	cl_xw_end(x);
	cl_xw_start(x, "target");
	cl_xw_attr(x, "dev", dev);
	cl_xw_attr(x, "bus", "virtio");
	cl_xw_end(x);
	if (ro) {
		cl_xw_start(x, "readonly");
		cl_xw_end(x);
	}
	cl_xw_end(x);
}

static void qemu_arg(cl_xw *x, const char *value)
{
	cl_xw_start(x, "qemu:arg");
	cl_xw_attr(x, "value", value);
	cl_xw_end(x);
}

static void empty(cl_xw *x, const char *name)
{
	cl_xw_start(x, name);
	cl_xw_end(x);
}

int cl_domain_xml(const cl_domain_spec *s, cl_buf *out)
{
	char uuid[37], num[32];
	const char *listen = s->listen ? s->listen : "127.0.0.1";
	bool test = s->type && strcmp(s->type, "test") == 0;
	cl_buf net = CL_BUF_INIT;
	cl_xw x;
	int rc;

	if ((rc = check_spec(s)) < 0)
		return rc;
	for (size_t i = 0; i < s->n_hostdevs; i++) {
		unsigned d, b, sl, f;
		if ((rc = parse_pci(s->hostdevs[i], &d, &b, &sl, &f)) < 0)
			return rc;
	}
	if (s->uuid && *s->uuid)
		snprintf(uuid, sizeof(uuid), "%s", s->uuid);
	else
		cl_uuid_new(uuid);
	if ((rc = cl_xw_begin(&x)) < 0)
		return rc;

	cl_xw_start(&x, "domain");
	cl_xw_attr(&x, "type", s->type);
	cl_xw_attr(&x, "xmlns:qemu", QEMU_NS);
	cl_xw_elem(&x, "name", s->name);
	cl_xw_elem(&x, "uuid", uuid);
	cl_xw_start(&x, "memory");
	cl_xw_attr(&x, "unit", "MiB");
	snprintf(num, sizeof(num), "%u", s->memory_mib);
	cl_xw_text(&x, num);
	cl_xw_end(&x);
	snprintf(num, sizeof(num), "%u", s->vcpus);
	cl_xw_elem(&x, "vcpu", num);

	cl_xw_start(&x, "os");
	cl_xw_start(&x, "type");
	cl_xw_attr(&x, "arch", "x86_64");
	/* Pinned so the NIC's PCI slot below is known to be free: i440fx, bus pci.0. */
	if (!test)
		cl_xw_attr(&x, "machine", "pc");
	cl_xw_text(&x, "hvm");
	cl_xw_end(&x);
	if (s->kernel) {
		cl_xw_elem(&x, "kernel", s->kernel);
		if (s->initrd)
			cl_xw_elem(&x, "initrd", s->initrd);
		if (s->cmdline)
			cl_xw_elem(&x, "cmdline", s->cmdline);
	} else {
		cl_xw_start(&x, "boot");
		cl_xw_attr(&x, "dev", "hd");
		cl_xw_end(&x);
	}
	cl_xw_end(&x);
	/* ACPI, so virDomainShutdown reaches the guest. */
	cl_xw_start(&x, "features");
	empty(&x, "acpi");
	empty(&x, "apic");
	cl_xw_end(&x);
	if (strcmp(s->type, "kvm") == 0) {
		cl_xw_start(&x, "cpu");
		cl_xw_attr(&x, "mode", "host-passthrough");
		cl_xw_end(&x);
	}
	cl_xw_start(&x, "clock");
	cl_xw_attr(&x, "offset", "utc");
	cl_xw_end(&x);
	cl_xw_elem(&x, "on_poweroff", "destroy");
	cl_xw_elem(&x, "on_reboot", "restart");
	cl_xw_elem(&x, "on_crash", "destroy");

	cl_xw_start(&x, "devices");
	disk(&x, s->disk_path, s->disk_format ? s->disk_format : "qcow2", "vda", false);
	if (s->seed_path)
		disk(&x, s->seed_path, "raw", "vdb", true);
	for (size_t i = 0; i < s->n_hostdevs; i++) {
		unsigned d, b, sl, f;
		parse_pci(s->hostdevs[i], &d, &b, &sl, &f);
		cl_xw_start(&x, "hostdev");
		cl_xw_attr(&x, "mode", "subsystem");
		cl_xw_attr(&x, "type", "pci");
		cl_xw_attr(&x, "managed", "yes");
		cl_xw_start(&x, "source");
		cl_xw_start(&x, "address");
		cl_xw_attrf(&x, "domain", "0x%04x", d);
		cl_xw_attrf(&x, "bus", "0x%02x", b);
		cl_xw_attrf(&x, "slot", "0x%02x", sl);
		cl_xw_attrf(&x, "function", "0x%x", f);
		cl_xw_end(&x);
		cl_xw_end(&x);
		cl_xw_end(&x);
	}
	for (int con = 0; con < 2; con++) {
		cl_xw_start(&x, con ? "console" : "serial");
		cl_xw_attr(&x, "type", s->console_log ? "file" : "pty");
		if (s->console_log) {
			cl_xw_start(&x, "source");
			cl_xw_attr(&x, "path", s->console_log);
			cl_xw_end(&x);
		}
		cl_xw_start(&x, "target");
		if (con)
			cl_xw_attr(&x, "type", "serial");
		cl_xw_attr(&x, "port", "0");
		cl_xw_end(&x);
		cl_xw_end(&x);
	}
	/* No USB controller: nothing uses it, and libvirt would add one. */
	cl_xw_start(&x, "controller");
	cl_xw_attr(&x, "type", "usb");
	cl_xw_attr(&x, "model", "none");
	cl_xw_end(&x);
	/* Entropy for sshd's first start. */
	cl_xw_start(&x, "rng");
	cl_xw_attr(&x, "model", "virtio");
	cl_xw_start(&x, "backend");
	cl_xw_attr(&x, "model", "random");
	cl_xw_text(&x, "/dev/urandom");
	cl_xw_end(&x);
	cl_xw_end(&x);
	cl_xw_start(&x, "memballoon");
	cl_xw_attr(&x, "model", "none");
	cl_xw_end(&x);
	cl_xw_end(&x); /* devices */

	if (s->ssh_port) {
		/*
		 * User-mode networking (no NAT network, no private ranges): restrict=on
		 * leaves only the host forwards. libvirt does not know this NIC, so it
		 * sits in a slot libvirt never hands out on i440fx (it fills from 1 up).
		 */
		cl_buf_printf(&net, "user,id=net0,restrict=%s,hostfwd=tcp:%s:%d-:22",
			      s->allow_outbound ? "off" : "on", listen, s->ssh_port);
		for (size_t i = 0; i < s->n_forwards; i++)
			cl_buf_printf(&net, ",hostfwd=tcp:%s:%d-:%d",
				      s->forwards[i].listen ? s->forwards[i].listen : listen,
				      s->forwards[i].host_port, s->forwards[i].guest_port);
		cl_xw_start(&x, "qemu:commandline");
		qemu_arg(&x, "-netdev");
		qemu_arg(&x, net.data);
		qemu_arg(&x, "-device");
		cl_buf_reset(&net);
		cl_buf_printf(&net, "virtio-net-pci,netdev=net0,mac=%s,romfile=,bus=pci.0,addr=%s",
			      s->mac, CL_NIC_PCI_ADDR);
		qemu_arg(&x, net.data);
		cl_xw_end(&x);
	}
	cl_xw_end(&x); /* domain */
	cl_buf_free(&net);
	return cl_xw_finish(&x, out, "domain");
}
