/* The command table: every noun and verb classlab knows, with its options, usage and help. */
#include "cli.h"
#include "classlab/banned.h"

/*
 * VM(fn): a command that drives VMs or SSH. The classlab front end (built with
 * CL_CLI_FRONT) has no handler for it and runs classlab-vm, which links libvirt
 * and libssh, with the same arguments; everything else runs in the front end,
 * which starts without loading those libraries.
 */
#ifdef CL_CLI_FRONT
#define VM(fn) NULL
#else
#define VM(fn) fn
#endif

#define END {NULL, 0, OPT_FLAG, NULL, NULL}
#define YES {"yes", 'y', OPT_FLAG, NULL, "confirm what cannot be undone"}
#define FORCE_PUBLISH {"force", 0, OPT_FLAG, NULL, "publish a template that failed verification"}
#define NO_START {"no-start", 0, OPT_FLAG, NULL, "leave the students' VMs shut off"}
#define PRICE {"price-per-unit-hour", 0, OPT_VALUE, "P", "dollars per lab-unit-hour (default 0.01)"}

static const cli_opt size_set_opts[] = {
	{"lab-units", 0, OPT_VALUE, "N", "lab units per hour (required for a new size)"},
	{"vcpus", 0, OPT_VALUE, "N", "virtual CPUs (default 2)"},
	{"memory-mib", 0, OPT_VALUE, "N", "memory in MiB (default 2048)"},
	{"gpus", 0, OPT_VALUE, "N", "GPUs passed through (default 0)"},
	END,
};
static const cli_opt lab_create_opts[] = {
	{"size", 0, OPT_VALUE, "SIZE", "the VM size (see 'classlab sizes list')"},
	{"image", 0, OPT_VALUE, "IMAGE", "the base image"},
	{"scheduled-hours", 0, OPT_VALUE, "H", "class hours when there is no schedule"},
	{"quota-hours", 0, OPT_VALUE, "Q", "hours each student may use outside classes"},
	PRICE,
	{"username", 0, OPT_VALUE, "U", "the login name on the students' VMs"},
	END,
};
static const cli_opt lab_set_opts[] = {
	{"idle-minutes", 0, OPT_VALUE, "N", "stop a VM idle this long (0: never; default 20)"},
	{"stop", 0, OPT_VALUE, "shutdown|save", "how VMs stop (save keeps the session: the next start resumes it)"},
	{"lead-minutes", 0, OPT_VALUE, "N", "start VMs this long before a class (default 10)"},
	{"stop-grace-seconds", 0, OPT_VALUE, "N", "ACPI shutdown, then power off after N (default 60)"},
	END,
};
static const cli_opt yes_opts[] = {YES, END};
static const cli_opt down_opts[] = {
	YES,
	{"keep-images", 0, OPT_FLAG, NULL, "keep the lab's template images (a cloud's Glance images)"},
	END,
};
static const cli_opt students_add_opts[] = {
	{"email", 0, OPT_VALUE, "E", "the student's email address"},
	{"quota-hours", 0, OPT_VALUE, "H", "their own quota (default: the lab's)"},
	{"ssh-public-key", 0, OPT_VALUE, "FILE", "their own public key (else one is generated)"},
	END,
};
static const cli_opt students_remove_opts[] = {
	{"keep-vm", 0, OPT_FLAG, NULL, NULL}, /* refused: removing a student deletes their VM */
	END,
};
static const cli_opt export_opts[] = {
	{"force", 0, OPT_FLAG, NULL, "replace the files an earlier export wrote in DIR"},
	{"invite", 0, OPT_FLAG, NULL, "put a new one-time link to the web page in README.txt"},
	{"url", 0, OPT_VALUE, "URL", "with --invite: the page's address (default http://127.0.0.1:8080)"},
	END,
};
static const cli_opt schedule_add_opts[] = {
	{"start", 0, OPT_VALUE, "ISO8601", "when the class starts"},
	{"end", 0, OPT_VALUE, "ISO8601", "when it ends"},
	{"weekly-until", 0, OPT_VALUE, "DATE", "repeat weekly until DATE, inclusive"},
	END,
};
static const cli_opt cost_estimate_opts[] = {
	{"students", 0, OPT_VALUE, "N", "number of students"},
	{"scheduled-hours", 0, OPT_VALUE, "H", "class hours"},
	{"quota-hours", 0, OPT_VALUE, "Q", "quota hours per student"},
	{"size", 0, OPT_VALUE, "NAME", "a size, for its lab units"},
	{"lab-units", 0, OPT_VALUE, "U", "lab units per hour"},
	PRICE,
	END,
};
static const cli_opt usage_report_opts[] = {
	{"from", 0, OPT_VALUE, "DATE", "count from DATE (ISO 8601; default: the beginning)"},
	{"to", 0, OPT_VALUE, "DATE", "count until DATE, inclusive for a date (default: now)"},
	{"chart", 0, OPT_VALUE, "FILE", "also draw the chart into FILE.svg or FILE.png"},
	END,
};
static const cli_opt quota_exempt_opts[] = {
	{"remove", 0, OPT_FLAG, NULL, "end the exemption: own time counts against the quota again"},
	END,
};
static const cli_opt up_opts[] = {
	{"no-publish", 0, OPT_FLAG, NULL, "stop before publishing"},
	NO_START,
	YES,
	FORCE_PUBLISH,
	END,
};
static const cli_opt image_build_opts[] = {
	{"force", 0, OPT_FLAG, NULL, "rebuild even when the cached build is up to date"},
	END,
};
static const cli_opt publish_opts[] = {NO_START, YES, FORCE_PUBLISH, END};
static const cli_opt vm_power_opts[] = {
	{"all", 0, OPT_FLAG, NULL, "every student's VM"},
	END,
};
static const cli_opt vm_attach_opts[] = {
	{"address", 0, OPT_VALUE, "HOST", "the machine's address"},
	{"ssh-port", 0, OPT_VALUE, "P", "its SSH port (default 22)"},
	{"username", 0, OPT_VALUE, "U", "the login name there"},
	{"private-key", 0, OPT_VALUE, "FILE", "log in with this key"},
	{"password-stdin", 0, OPT_FLAG, NULL, "log in with the password on standard input"},
	{"host-key-fingerprint", 0, OPT_VALUE, "SHA256:...", "the host key to pin"},
	{"trust-first", 0, OPT_FLAG, NULL, "pin the host key the machine shows now"},
	END,
};
static const cli_opt connect_opts[] = {
	{"tunnel", 0, OPT_OPTIONAL, "PORT", "the ssh -L command for Jupyter (default port 8888)"},
	{"x2go", 0, OPT_FLAG, NULL, "the X2Go session settings"},
	{"write", 0, OPT_FLAG, NULL, "with --x2go: add the session to ~/.x2goclient/sessions"},
	END,
};
static const cli_opt tunnel_opts[] = {
	{"local-port", 0, OPT_VALUE, "P", "the local port (default 8888)"},
	{"remote-port", 0, OPT_VALUE, "P", "the port on the VM (default 8888)"},
	{"bind", 0, OPT_VALUE, "ADDR", "the local address (default 127.0.0.1)"},
	{"public", 0, OPT_FLAG, NULL, "allow a --bind address beyond loopback"},
	END,
};
static const cli_opt serve_opts[] = {
	{"pidfile", 0, OPT_VALUE, "FILE", "also write the service's pid to FILE"},
	{"interval", 0, OPT_VALUE, "SECONDS", "seconds between passes, 1-30 (default 30)"},
	{"http", 0, OPT_VALUE, "ADDR:PORT", "also serve the web page there (e.g. 127.0.0.1:8080)"},
	{"tls-cert", 0, OPT_VALUE, "FILE", "with --tls-key: HTTPS with this certificate (PEM)"},
	{"tls-key", 0, OPT_VALUE, "FILE", "the certificate's private key (PEM)"},
	{"behind-proxy", 0, OPT_FLAG, NULL, "plain HTTP beyond loopback, for a reverse proxy that "
	 "terminates TLS (trusts its X-Forwarded-Proto)"},
	{"jupyter-port", 0, OPT_VALUE, "PORT", "with --http: Open Jupyter on this port of the same "
	 "address (its own origin)"},
	END,
};
static const cli_opt invite_opts[] = {
	{"url", 0, OPT_VALUE, "URL", "the page's address in the links (default http://127.0.0.1:8080)"},
	{"revoke", 0, OPT_FLAG, NULL, "end the unused links and the sessions instead"},
	END,
};
static const cli_opt jupyter_opts[] = {
	{"local-port", 0, OPT_VALUE, "P", "the local port (default 8888)"},
	END,
};

const cli_cmd cli_commands[] = {
	{"sizes", "list", cmd_sizes_list, NEED_STORE, NULL, "", 0, 0,
	 "list VM sizes and their lab units per hour"},
	{"size", "set", cmd_size_set, NEED_STORE, size_set_opts, "NAME --lab-units N", 1, 1,
	 "add or change a size"},
	{"lab", "create", cmd_lab_create, NEED_STORE, lab_create_opts, "NAME --size SIZE", 1, 1,
	 "create a lab"},
	{"lab", "list", cmd_lab_list, NEED_STORE, NULL, "", 0, 0, "list labs"},
	{"lab", "show", cmd_lab_show, NEED_STORE, NULL, "NAME", 1, 1,
	 "show a lab's settings and estimate"},
	{"lab", "set", cmd_lab_set, NEED_STORE, lab_set_opts, "NAME", 1, 1,
	 "change what the service does with the lab's VMs: idle stop, stop mode, lead time"},
	{"lab", "delete", cmd_lab_delete, NEED_STORE, yes_opts, "NAME --yes", 1, 1,
	 "delete a lab's records and keys (run 'down' first to remove its VMs)"},
	{"lab", "unlock", VM(cmd_lab_unlock), NEED_STORE, NULL, "NAME", 1, 1,
	 "clear the lab's lock left by a classlab that is gone (refused while it runs)"},
	{"students", "add", cmd_students_add, NEED_STORE, students_add_opts, "LAB NAME", 2, 2,
	 "add one student"},
	{"students", "import", cmd_students_import, NEED_STORE, NULL, "LAB FILE.csv", 2, 2,
	 "import a roster: name,email[,quota_hours[,ssh_public_key]]; all rows or none"},
	{"students", "list", cmd_students_list, NEED_STORE, NULL, "LAB", 1, 1,
	 "list a lab's students"},
	{"students", "remove", VM(cmd_students_remove), NEED_STORE | NEED_HV, students_remove_opts,
	 "LAB NAME", 2, 2,
	 "remove a student and revoke their access: VM stopped, its disk, seed and their keys "
	 "deleted"},
	{"students", "export", VM(cmd_students_export), NEED_STORE, export_opts, "LAB STUDENT DIR",
	 3, 3,
	 "write what to hand a student into a new or empty DIR: key, ssh config, known_hosts, X2Go "
	 "session, commands (--force replaces only an earlier export's files)"},
	{"students", "invite", VM(cmd_students_invite), NEED_STORE, invite_opts,
	 "LAB [STUDENT] [--url URL] [--revoke]", 1, 2,
	 "one-time links to the web page, one per student (a new link replaces an unused one)"},
	{"admin", "invite", VM(cmd_admin_invite), NEED_STORE, invite_opts, "[--url URL] [--revoke]",
	 0, 0, "a one-time link to the instructors' web page (every lab)"},
	{"quota", "set", cmd_quota_set, NEED_STORE, NULL, "LAB [STUDENT] HOURS|default", 2, 3,
	 "set the lab's quota hours, or one student's ('default' resets it)"},
	{"quota", "exempt", cmd_quota_exempt, NEED_STORE, quota_exempt_opts, "LAB STUDENT", 2, 2,
	 "exempt a student from quota stops (--remove ends it)"},
	{"schedule", "add", cmd_schedule_add, NEED_STORE, schedule_add_opts,
	 "LAB --start ISO8601 --end ISO8601", 1, 1,
	 "add a scheduled class (repeats weekly until DATE, inclusive)"},
	{"schedule", "list", cmd_schedule_list, NEED_STORE, NULL, "LAB", 1, 1,
	 "list a lab's schedule"},
	{"cost", "estimate", cmd_cost_estimate, NEED_STORE, cost_estimate_opts,
	 "[LAB] | --students N --scheduled-hours H --quota-hours Q (--size NAME | --lab-units U)",
	 0, 1, "estimate a class's cost in lab units and dollars"},
	{"cost", "report", cmd_cost_report, NEED_STORE, NULL, "", 0, 0,
	 "every lab's estimate and the grand total"},
	{"usage", "report", cmd_usage_report, NEED_STORE, usage_report_opts, "[LAB]", 0, 1,
	 "metered hours per student and lab: class, own time, quota left, money; actual vs "
	 "estimate", "chart"},
	{"up", NULL, VM(cmd_up), NEED_STORE | NEED_HV, up_opts, "FILE", 1, 1,
	 "create or converge a lab from a lab file: template, verification, one VM per student"},
	{"down", NULL, VM(cmd_down), NEED_STORE | NEED_HV, down_opts, "LAB --yes", 1, 1,
	 "destroy the lab's VMs and delete their disks and seeds (records and keys stay)"},
	{"template", "build", VM(cmd_template_build), NEED_STORE | NEED_HV, NULL, "LAB", 1, 1,
	 "build and boot the template VM from the lab's image and customisation"},
	{"template", "verify", VM(cmd_template_verify), NEED_STORE | NEED_HV, NULL, "LAB", 1, 1,
	 "check the template over SSH: GPU, driver, CUDA and frameworks the lab needs"},
	{"template", "publish", VM(cmd_template_publish), NEED_STORE | NEED_HV, publish_opts, "LAB", 1, 1,
	 "shut the template down and give every student a linked clone"},
	{"vm", "list", VM(cmd_vm_list), NEED_STORE | NEED_HV, NULL, "LAB", 1, 1,
	 "the lab's VMs, their state and SSH ports"},
	{"vm", "start", VM(cmd_vm_start), NEED_STORE | NEED_HV, vm_power_opts, "LAB STUDENT|--all", 1, 2,
	 "start student VMs"},
	{"vm", "stop", VM(cmd_vm_stop), NEED_STORE | NEED_HV, vm_power_opts, "LAB STUDENT|--all", 1, 2,
	 "shut student VMs down (ACPI, then power off)"},
	{"vm", "verify", VM(cmd_vm_verify), NEED_STORE | NEED_HV, NULL, "LAB STUDENT", 2, 2,
	 "run the template checks on one student's VM"},
	{"vm", "attach", VM(cmd_vm_attach), NEED_STORE, vm_attach_opts,
	 "LAB STUDENT --address HOST --ssh-port P --username U (--private-key FILE | "
	 "--password-stdin) (--host-key-fingerprint SHA256:... | --trust-first)",
	 2, 2, "use a machine classlab did not create as a student's VM"},
	{"serve", NULL, VM(cmd_serve), NEED_STORE, serve_opts, "", 0, 0,
	 "run the class through the term: schedules start and stop VMs, idle VMs stop; "
	 "other commands go through it while it runs"},
	{"image", "list", VM(cmd_image_list), 0, NULL, "", 0, 0,
	 "the built-in base images: built or not, size and recipe hash"},
	{"image", "build", VM(cmd_image_build), 0, image_build_opts, "NAME [--force]", 1, 1,
	 "build a built-in base image (tiny, debian-ds) into the cache; cached by recipe hash"},
	{"host", "gpus", VM(cmd_host_gpus), NEED_HV, NULL, "", 0, 0,
	 "NVIDIA GPUs on the host and their passthrough readiness"},
	{"connect", NULL, VM(cmd_connect), NEED_STORE, connect_opts,
	 "LAB STUDENT [--tunnel [PORT]] [--x2go [--write]]", 2, 2,
	 "the student's SSH command, Jupyter tunnel command or X2Go settings"},
	{"ssh-config", NULL, VM(cmd_ssh_config), NEED_STORE, NULL, "LAB [STUDENT]", 1, 2,
	 "OpenSSH config blocks with pinned host keys"},
	{"tunnel", NULL, VM(cmd_tunnel), NEED_STORE, tunnel_opts,
	 "LAB STUDENT [--bind ADDR [--public]]", 2, 2,
	 "forward a local port to the student's VM (ssh -L), until interrupted; a non-loopback "
	 "--bind needs --public"},
	{"jupyter", NULL, VM(cmd_jupyter), NEED_STORE, jupyter_opts, "LAB STUDENT", 2, 2,
	 "find or start Jupyter on the VM and open a tunnel to it"},
	{NULL, NULL, NULL, 0, NULL, NULL, 0, 0, NULL},
};
