/* cmd_cache.c - placeholder until the guarded vendor route lands (src/guard/). */
#include "commands.h"

#include <stdio.h>

int cmd_cache(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "safeconv cache: not built yet (needs the guarded vendor route)\n");
    return 1;
}
