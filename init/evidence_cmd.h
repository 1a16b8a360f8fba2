/*
 * evidence_cmd.h: `sealpod-init evidence`, the operator's view of what
 * a provider would send to the KBS on this platform.
 */
#ifndef SEALPOD_EVIDENCE_CMD_H
#define SEALPOD_EVIDENCE_CMD_H

#define EVIDENCE_CMD_RD_DEFAULT 48 /* zero bytes, a SHA-384 digest's size */

/*
 * Run `evidence --tee T [--report-data HEX] [--root DIR]` with argv[0]
 * the command name: print the provider's evidence JSON for the given
 * report data (default 48 zero bytes) on stdout, one line. T may be
 * "auto". Evidence holds no secrets. Returns the process exit code.
 */
int evidence_cmd(int argc, char **argv);

#endif
