/* The VM backend's plain types: their name tables and frees (no hypervisor here). */
#include "classlab/cl_backend.h"
#include "classlab/banned.h"

#include <stdlib.h>

const char *cl_dom_state_name(cl_dom_state s)
{
	switch (s) {
	case CL_DOM_ABSENT:
		return "absent";
	case CL_DOM_SHUTOFF:
		return "shut off";
	case CL_DOM_RUNNING:
		return "running";
	case CL_DOM_PAUSED:
		return "paused";
	default:
		return "other";
	}
}

const char *cl_vm_event_name(cl_vm_event e)
{
	switch (e) {
	case CL_VM_EVENT_STARTED:
		return "started";
	case CL_VM_EVENT_STOPPED:
		return "stopped";
	case CL_VM_EVENT_SAVED:
		return "saved";
	case CL_VM_EVENT_CRASHED:
		return "crashed";
	case CL_VM_EVENT_PAUSED:
		return "paused";
	case CL_VM_EVENT_RESUMED:
		return "resumed";
	case CL_VM_EVENT_DEFINED:
		return "defined";
	case CL_VM_EVENT_UNDEFINED:
		return "undefined";
	}
	return "other";
}

void cl_image_free(cl_image *img)
{
	if (!img)
		return;
	free(img->disk_vol);
	free(img->disk_path);
	free(img->disk_format);
	free(img->kernel_path);
	free(img->initrd_path);
	free(img->cmdline);
	free(img);
}
