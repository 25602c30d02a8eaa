/* The link check's program (CMakeLists.txt, cl_module): the module's objects are linked
 * whole with only the modules it depends on, so an undefined reference names a call
 * into a module it may not use. It is built, never run. */
int main(void)
{
	return 0;
}
