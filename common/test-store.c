/* common/test-store.c: placeholder test until its module lands. */
#include "test.h"
static const struct test tests[] = {{NULL, NULL}};
int main(void)
{
	return test_run(tests);
}
