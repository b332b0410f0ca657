/*
 * tp_master.h - the master process: loads and validates the config, binds every
 * listener, creates shared memory, forks and supervises workers, relays signals.
 */
#ifndef TP_MASTER_H
#define TP_MASTER_H

/** `turnpike run` with its arguments (after "run"). Returns the process exit code. */
int tp_master_main(int argc, char **argv);

#endif
