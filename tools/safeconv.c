/* safeconv.c - the `safeconv` command: dispatch to a subcommand (tools/cmd_*.c). The grammar
 * is the same for all (cli.h, docs/cli.md): `safeconv COMMAND [--option VALUE]... [--json]`. */
#include "safeconv.h"
#include "cli.h"
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
enum {
    NCOMMANDS = sizeof commands / sizeof commands[0]
};

static void usage(FILE *f)
{
    fprintf(f, "usage: safeconv COMMAND [OPTIONS]     safeconv COMMAND --help: its options\n"
               "       safeconv --help | --version\n\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nEvery command takes --help (its options on stdout, exit 0) and --json (one JSON\n"
               "document on stdout; the keys are in docs/cli.md). Exit status: 0 done, 1 a\n"
               "failed check or run, 2 a usage error (nothing was done).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SC_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        if (!strcmp(cmd, "help") && argc > 2) {
            /* safeconv help COMMAND = safeconv COMMAND --help */
            for (int i = 0; i < NCOMMANDS; i++)
                if (!strcmp(argv[2], commands[i].name)) {
                    char *args[] = {argv[2], "--help", NULL};
                    sc_cli_set_command(argv[2]);
                    return commands[i].fn(2, args);
                }
            return sc_cli_usage_error("help: unknown command '%s'", argv[2]);
        }
        usage(stdout);
        return SC_EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        char *args[] = {"version", NULL};
        sc_cli_set_command("version");
        return cmd_version(1, args);
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(cmd, commands[i].name)) {
            sc_cli_set_command(commands[i].name);
            return commands[i].fn(argc - 1, argv + 1);
        }
    return sc_cli_usage_error("unknown command '%s'", cmd);
}
