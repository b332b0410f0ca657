/*
 * tp_master.c - placeholder until the master lands (next commit).
 */
#include "tp_master.h"
#include <stdio.h>

int tp_master_main(int argc, char **argv)
{
    fprintf(stderr, "turnpike: run is not built yet\n");
    return 1;
}
