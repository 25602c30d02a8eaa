/* libFuzzer harness: the lab file parser (labs/labfile.c), strict JSON through
 * jansson into a lab, its students and its customisation. */
#include <stdio.h>

#include "classlab/cl_labs.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cl_labfile lf;
	char *copy = malloc(size ? size : 1);

	if (!copy)
		abort();
	if (size)
		memcpy(copy, data, size);
	int rc = cl_labfile_parse_buf(copy, size, "/nonexistent/fuzz", &lf);
	if (rc == 0) {
		FZ_CHECK(cl_name_valid(lf.lab.name));
		FZ_CHECK(lf.n_students == 0 || lf.students != NULL);
		for (size_t i = 0; i < lf.n_students; i++)
			FZ_CHECK(cl_name_valid(lf.students[i].name));
		/* What the parser stores as spec_json must read back (cl_lab_spec_parse). */
		if (lf.lab.spec_json) {
			cl_lab_spec spec;
			FZ_CHECK(cl_lab_spec_parse(lf.lab.spec_json, &spec) == 0);
			cl_lab_spec_clear(&spec);
		}
	} else {
		FZ_CHECK(rc < 0);
	}
	cl_labfile_clear(&lf);
	cl_error_clear();
	free(copy);
	return 0;
}
