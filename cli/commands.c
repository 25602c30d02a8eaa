/* The command table: every noun and verb classlab knows, with its usage and help. */
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

const cli_cmd cli_commands[] = {
	{"sizes", "list", cmd_sizes_list, NEED_STORE, "", "list VM sizes and their lab units per hour"},
	{"size", "set", cmd_size_set, NEED_STORE,
	 "NAME --lab-units N [--vcpus N] [--memory-mib N] [--gpus N]", "add or change a size"},
	{"lab", "create", cmd_lab_create, NEED_STORE,
	 "NAME --size SIZE [--image IMAGE] [--scheduled-hours H] [--quota-hours Q] "
	 "[--price-per-unit-hour P] [--username U]",
	 "create a lab"},
	{"lab", "list", cmd_lab_list, NEED_STORE, "", "list labs"},
	{"lab", "show", cmd_lab_show, NEED_STORE, "NAME", "show a lab's settings and estimate"},
	{"lab", "delete", cmd_lab_delete, NEED_STORE, "NAME --yes",
	 "delete a lab's records and keys (run 'down' first to remove its VMs)"},
	{"lab", "unlock", VM(cmd_lab_unlock), NEED_STORE, "NAME",
	 "clear the lab's lock left by a classlab that is gone (refused while it runs)"},
	{"students", "add", cmd_students_add, NEED_STORE,
	 "LAB NAME [--email E] [--quota-hours H] [--ssh-public-key FILE]", "add one student"},
	{"students", "import", cmd_students_import, NEED_STORE, "LAB FILE.csv",
	 "import a roster: name,email[,quota_hours[,ssh_public_key]]; all rows or none"},
	{"students", "list", cmd_students_list, NEED_STORE, "LAB", "list a lab's students"},
	{"students", "remove", VM(cmd_students_remove), NEED_STORE, "LAB NAME",
	 "remove a student and revoke their access: VM stopped, its disk, seed and their keys "
	 "deleted"},
	{"students", "export", VM(cmd_students_export), NEED_STORE, "LAB STUDENT DIR [--force]",
	 "write what to hand a student into a new or empty DIR: key, ssh config, known_hosts, X2Go "
	 "session, commands (--force replaces only an earlier export's files)"},
	{"quota", "set", cmd_quota_set, NEED_STORE, "LAB [STUDENT] HOURS|default",
	 "set the lab's quota hours, or one student's ('default' resets it)"},
	{"schedule", "add", cmd_schedule_add, NEED_STORE,
	 "LAB --start ISO8601 --end ISO8601 [--weekly-until DATE]",
	 "add a scheduled class (repeats weekly until DATE, inclusive)"},
	{"schedule", "list", cmd_schedule_list, NEED_STORE, "LAB", "list a lab's schedule"},
	{"cost", "estimate", cmd_cost_estimate, NEED_STORE,
	 "[LAB] | --students N --scheduled-hours H --quota-hours Q (--size NAME | --lab-units U) "
	 "[--price-per-unit-hour P]",
	 "estimate a class's cost in lab units and dollars"},
	{"cost", "report", cmd_cost_report, NEED_STORE, "",
	 "every lab's estimate and the grand total"},
	{"up", NULL, VM(cmd_up), NEED_STORE, "FILE [--no-publish] [--no-start] [--yes] [--force]",
	 "create or converge a lab from a lab file: template, verification, one VM per student"},
	{"down", NULL, VM(cmd_down), NEED_STORE, "LAB --yes",
	 "destroy the lab's VMs and delete their disks and seeds (records and keys stay)"},
	{"template", "build", VM(cmd_template_build), NEED_STORE, "LAB",
	 "build and boot the template VM from the lab's image and customisation"},
	{"template", "verify", VM(cmd_template_verify), NEED_STORE, "LAB",
	 "check the template over SSH: GPU, driver, CUDA and frameworks the lab needs"},
	{"template", "publish", VM(cmd_template_publish), NEED_STORE, "LAB [--no-start] [--yes] [--force]",
	 "shut the template down and give every student a linked clone"},
	{"vm", "list", VM(cmd_vm_list), NEED_STORE, "LAB", "the lab's VMs, their state and SSH ports"},
	{"vm", "start", VM(cmd_vm_start), NEED_STORE, "LAB STUDENT|--all", "start student VMs"},
	{"vm", "stop", VM(cmd_vm_stop), NEED_STORE, "LAB STUDENT|--all",
	 "shut student VMs down (ACPI, then power off)"},
	{"vm", "verify", VM(cmd_vm_verify), NEED_STORE, "LAB STUDENT",
	 "run the template checks on one student's VM"},
	{"vm", "attach", VM(cmd_vm_attach), NEED_STORE,
	 "LAB STUDENT --address HOST --ssh-port P --username U (--private-key FILE | "
	 "--password-stdin) (--host-key-fingerprint SHA256:... | --trust-first)",
	 "use a machine classlab did not create as a student's VM"},
	{"host", "gpus", VM(cmd_host_gpus), 0, "", "NVIDIA GPUs on the host and their passthrough readiness"},
	{"connect", NULL, VM(cmd_connect), NEED_STORE, "LAB STUDENT [--tunnel [PORT]] [--x2go [--write]]",
	 "the student's SSH command, Jupyter tunnel command or X2Go settings"},
	{"ssh-config", NULL, VM(cmd_ssh_config), NEED_STORE, "LAB [STUDENT]",
	 "OpenSSH config blocks with pinned host keys"},
	{"tunnel", NULL, VM(cmd_tunnel), NEED_STORE,
	 "LAB STUDENT [--local-port P] [--remote-port 8888] [--bind 127.0.0.1 [--public]]",
	 "forward a local port to the student's VM (ssh -L), until interrupted; a non-loopback "
	 "--bind needs --public"},
	{"jupyter", NULL, VM(cmd_jupyter), NEED_STORE, "LAB STUDENT [--local-port P]",
	 "find or start Jupyter on the VM and open a tunnel to it"},
	{NULL, NULL, NULL, 0, NULL, NULL},
};
