/* safeconv.c - the `safeconv` command: dispatch to a subcommand (tools/cmd_*.c). */
#include "safeconv.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"version", cmd_version, "print the library version and the backends compiled in"},
    {"info", cmd_info, "list the devices safeconv can use"},
    {"verify", cmd_verify, "check random configurations against the double-precision reference"},
    {"bench", cmd_bench, "time a layer suite on the best backend present"},
    {"probe", cmd_probe, "probe the vendor library for a suite, safely, in child processes"},
    {"cache", cmd_cache, "show, clear or locate the selection cache"},
    {"doctor", cmd_doctor, "diagnose devices, backends, vendor library, cache and environment"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: safeconv COMMAND [OPTIONS]   (safeconv COMMAND --help for its options)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version(1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "safeconv: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
