/* Functions that overflow fixed buffers; use cl_buf or snprintf with a checked size. */
#ifndef CL_BANNED_H
#define CL_BANNED_H

#define CL_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) CL_BANNED(strcpy)
#undef strcat
#define strcat(x, y) CL_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) CL_BANNED(strncpy)
#undef sprintf
#define sprintf(...) CL_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) CL_BANNED(vsprintf)
#undef gets
#define gets(x) CL_BANNED(gets)

#endif
