/* cli.c - see cli.h. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *command = "";

void sc_cli_set_command(const char *name) { command = name ? name : ""; }
const char *sc_cli_command(void) { return command; }

static void vsay(const char *fmt, va_list ap)
{
    fprintf(stderr, "safeconv%s%s: ", *command ? " " : "", command);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int sc_cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'safeconv%s%s --help'.\n", *command ? " " : "", command);
    return SC_EXIT_USAGE;
}

int sc_cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    return SC_EXIT_FAIL;
}

void sc_cli_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
}

int sc_cli_next(int argc, char **argv, const struct option *opts, const char *usage)
{
    opterr = 0; /* our messages, with the command's prefix */
    int idx = -1;
    int prev = optind;
    int c = getopt_long(argc, argv, ":h", opts, &idx);
    if (c == -1) return SC_CLI_DONE;
    /* The argument getopt just looked at (an option, possibly with "=value"). */
    const char *arg = optind > prev && optind - 1 < argc ? argv[optind - 1] : argv[prev];
    if (c == 'h') {
        fputs(usage, stdout);
        return SC_CLI_HELP;
    }
    if (c == ':') {
        if (optopt == 'h') return sc_cli_usage_error("-h takes no value"), SC_CLI_ERROR;
        sc_cli_usage_error("%s needs a value", arg);
        return SC_CLI_ERROR;
    }
    if (c == '?') {
        char name[64];
        snprintf(name, sizeof name, "%s", arg);
        char *eq = strchr(name, '=');
        /* "--flag=x" for an option that takes no value comes here too. */
        if (eq && !strncmp(name, "--", 2)) {
            *eq = '\0';
            for (const struct option *o = opts; o->name; o++)
                if (!strcmp(o->name, name + 2) && o->has_arg == no_argument) {
                    sc_cli_usage_error("%s takes no value", name);
                    return SC_CLI_ERROR;
                }
        }
        if (optopt && optopt < 0x80 && strncmp(arg, "--", 2))
            sc_cli_usage_error("unknown option '-%c'", optopt);
        else
            sc_cli_usage_error("unknown or ambiguous option '%s'", arg);
        return SC_CLI_ERROR;
    }
    return c;
}

bool sc_cli_no_more_args(int argc, char **argv, int allowed)
{
    if (argc - optind <= allowed) return true;
    sc_cli_usage_error("unexpected argument '%s'", argv[optind + allowed]);
    return false;
}
