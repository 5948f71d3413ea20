/*
 * guard.h - resume the processes memwatchd holds stopped, if it dies
 * first.
 *
 * The kernel side holds a watched program at exec, and a followed
 * target's new child at fork, until the daemon has attached and sends
 * SIGCONT (bpf/memwatch.bpf.c, spawn). A daemon that dies in between
 * (SIGKILL, a crash, the OOM killer) would leave it stopped for good.
 * The guard is a small child process that shares the map of held
 * processes and a pipe with the daemon: when the daemon's end of the pipe
 * closes, however it died, the guard sends SIGCONT to every process still
 * held and exits. It keeps CAP_KILL alone.
 */
#ifndef MEMWATCH_GUARD_H
#define MEMWATCH_GUARD_H

struct guard;

/* Start the guard over the held map at held_fd (pid -> start time, as
 * bpf/memwatch.bpf.c keeps it). NULL with errno set on failure. */
struct guard *guard__start(int held_fd);
/* Close the daemon's end, so the guard resumes what is still held, and
 * reap it. Accepts NULL. */
void guard__stop(struct guard *g);

#endif
