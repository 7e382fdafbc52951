/* cli.h - the one grammar of the `safeconv` command (docs/cli.md). Every subcommand parses its
 * options with getopt_long through sc_cli_next: long options only (plus -h), `--name VALUE` or
 * `--name=VALUE`; --help prints the subcommand's usage on stdout and exits 0; a usage error
 * prints "safeconv CMD: WHAT" and a hint on stderr and exits 2; any other failure prints
 * "safeconv CMD: WHAT" and exits 1. */
#ifndef SC_TOOLS_CLI_H
#define SC_TOOLS_CLI_H

#include <getopt.h>
#include <stdbool.h>

enum {
    SC_EXIT_OK = 0,
    SC_EXIT_FAIL = 1,  /* a failed check, or the command could not do its job */
    SC_EXIT_USAGE = 2, /* the command line was wrong: nothing was done */
    /* sc_cli_next's results besides an option's val */
    SC_CLI_DONE = -1,  /* no more options (positional arguments start at optind) */
    SC_CLI_HELP = -2,  /* --help was given: usage printed on stdout; return SC_EXIT_OK */
    SC_CLI_ERROR = -3, /* a usage error was printed; return SC_EXIT_USAGE */
    /* vals of the options every subcommand shares */
    SC_OPT_HELP = 'h',
    SC_OPT_JSON = 0x100,
    SC_OPT_FIRST = 0x101 /* a subcommand's own option vals start here */
};

/* The subcommand being run ("verify", or "cache show"), for messages. */
void sc_cli_set_command(const char *name);
const char *sc_cli_command(void);

/* The next option of argv (argv[0] is the subcommand), from `opts` (ended by a zero entry).
 * `usage` is the subcommand's help text. Unknown options, a missing value and `-x` forms are
 * usage errors, reported here. */
int sc_cli_next(int argc, char **argv, const struct option *opts, const char *usage);

/* "safeconv CMD: <message>" on stderr, then "Try 'safeconv CMD --help'."; returns
 * SC_EXIT_USAGE. */
int sc_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "safeconv CMD: <message>" on stderr; returns SC_EXIT_FAIL. */
int sc_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "safeconv CMD: <message>" on stderr (a warning or a note). */
void sc_cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Positional arguments left after the options: a usage error when there is one more than
 * `allowed` (named in the message). */
bool sc_cli_no_more_args(int argc, char **argv, int allowed);

#endif
