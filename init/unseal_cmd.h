/*
 * unseal_cmd.h: `sealpod-init unseal`, unsealing with a local key file.
 *
 * For model owners who want to check a sealed store end to end before
 * publishing it, and for benchmarks (scripts/bench-unseal.sh). It runs
 * exactly the pipeline of `run` (unseal_run()), with the key read from a
 * file instead of released by the KBS after attestation, so it is never
 * what a pod runs. The target must still be tmpfs or ramfs.
 */
#ifndef SEALPOD_UNSEAL_CMD_H
#define SEALPOD_UNSEAL_CMD_H

/*
 * Run `unseal --key KEYFILE --source URL --target DIR [options]` with
 * argv[0] the command name. KEYFILE holds the 32 raw key bytes and must
 * be private. Returns the process exit code (init/exitcode.h).
 */
int unseal_cmd(int argc, char **argv);

#endif
