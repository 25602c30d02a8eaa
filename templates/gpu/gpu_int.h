/* Internals shared by the GPU output parsers. */
#ifndef CL_GPU_INT_H
#define CL_GPU_INT_H

/* The whole line of text that contains needle, trimmed at the left (new), or NULL. */
char *cl_gpu_line_with(const char *text, const char *needle);

#endif
