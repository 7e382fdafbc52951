/* commands.h - the subcommands of the `safeconv` tool, one file each (tools/cmd_*.c). Each takes
 * the arguments after `safeconv` (argv[0] is the subcommand's name), parses them with
 * getopt_long through cli.h, and returns the exit code: 0 success, 1 a failed check or run,
 * 2 a usage error. docs/cli.md documents the options and the --json keys. */
#ifndef SC_TOOLS_COMMANDS_H
#define SC_TOOLS_COMMANDS_H

int cmd_version(int argc, char **argv); /* cmd_version.c */
int cmd_info(int argc, char **argv);    /* devices and backends (cmd_version.c) */
int cmd_verify(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_probe(int argc, char **argv);  /* guarded vendor route (cmd_probe.c) */
int cmd_cache(int argc, char **argv);  /* selection cache (cmd_cache.c) */
int cmd_doctor(int argc, char **argv); /* cmd_doctor.c */

#endif
