/* Unit tests for the lab file's service settings: idle_minutes, stop, lead_minutes, stop_grace_seconds. */
#include "classlab/cl_labs.h"
#include "tap.h"

#include <string.h>

static int parse(const char *json, cl_labfile *lf)
{
	return cl_labfile_parse_buf(json, strlen(json), ".", lf);
}

int main(void)
{
	cl_labfile lf = {0};

	/* Absent: the schema's defaults, so `up` of an old file changes nothing. */
	CHECK_INT(parse("{\"name\": \"svc\", \"size\": \"small\"}", &lf), 0);
	CHECK_INT(lf.service.idle_minutes, CL_IDLE_MINUTES_DEFAULT);
	CHECK_INT(lf.service.stop_mode, CL_STOP_SHUTDOWN);
	CHECK_INT(lf.service.lead_minutes, CL_LEAD_MINUTES_DEFAULT);
	CHECK_INT(lf.service.stop_grace_seconds, CL_STOP_GRACE_DEFAULT);
	cl_labfile_clear(&lf);

	CHECK_INT(parse("{\"name\": \"svc\", \"size\": \"small\", \"idle_minutes\": 0, \"stop\": "
			"\"save\", \"lead_minutes\": 15, \"stop_grace_seconds\": 5}",
			&lf),
		  0);
	CHECK_INT(lf.service.idle_minutes, 0);
	CHECK_INT(lf.service.stop_mode, CL_STOP_SAVE);
	CHECK_INT(lf.service.lead_minutes, 15);
	CHECK_INT(lf.service.stop_grace_seconds, 5);
	cl_labfile_clear(&lf);

	/* Strict: wrong words, types and ranges are refused with the key named. */
	CHECK_INT(parse("{\"name\": \"svc\", \"size\": \"small\", \"stop\": \"off\"}", &lf),
		  CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "\"stop\"") != NULL);
	CHECK_INT(parse("{\"name\": \"svc\", \"size\": \"small\", \"stop\": 1}", &lf), CL_EINVAL);
	CHECK_INT(parse("{\"name\": \"svc\", \"size\": \"small\", \"idle_minutes\": -1}", &lf),
		  CL_EINVAL);
	CHECK(strstr(cl_error_msg(), "idle_minutes") != NULL);
	CHECK_INT(parse("{\"name\": \"svc\", \"size\": \"small\", \"lead_minutes\": 1441}", &lf),
		  CL_EINVAL);
	CHECK_INT(parse("{\"name\": \"svc\", \"size\": \"small\", \"stop_grace_seconds\": 1.5}",
			&lf),
		  CL_EINVAL);
	CHECK_INT(parse("{\"name\": \"svc\", \"size\": \"small\", \"idle_minute\": 5}", &lf),
		  CL_EINVAL);
	return tap_done();
}
