/* The program runner's spawner (reportgen.measuring.programs.runner): runs one program and reports its rusage.
 *
 *   spawn OUTFD CPUS NENV [NAME=VALUE...] PROGRAM [ARG...]
 *
 * Why a process of its own: Linux carries a process's resident-set high-water mark across fork and
 * exec (the forked copy of the parent's memory counts), so a program spawned straight from the
 * measuring Python process (tens of MiB) would report at least that process's size as its peak RSS.
 * Spawned from this small process, its ru_maxrss is its own.  The wall time is taken here too, from
 * just before the fork to the reap (wait4, no polling), away from the Python process's own fork.
 *
 * OUTFD: a file descriptor the one result line (JSON) is written to; CPUS: "0,1" or "-" (any); NENV
 * settings NAME=VALUE put into the program's environment alone (LD_PRELOAD among them: this process
 * itself runs without the allocator, and prints no counters of its own).  The
 * program runs in this process's process group (the caller's timeout kills the group), gets
 * PR_SET_PDEATHSIG SIGKILL (it dies with this process, which dies with the caller), stdin, stdout and
 * stderr as given.  SIGTERM and SIGINT sent to this process are passed on to the program (a server
 * workload is stopped so, and its rusage still reported).  Exit status: 0 when the result line was
 * written, 126 on bad arguments. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long ns_of(const struct timespec *t) { return (long long)t->tv_sec * 1000000000LL + t->tv_nsec; }

static volatile pid_t child;          /* the program, once forked */
static volatile sig_atomic_t pending; /* a stop asked for before the fork returned */

static void pass_on(int sig) {
    if (child > 0)
        kill(child, sig);
    else
        pending = sig;
}

static long long us_of(const struct timeval *t) { return (long long)t->tv_sec * 1000000LL + t->tv_usec; }

int main(int argc, char **argv) {
    if (argc < 5)
        return 126;
    /* dies with the measuring process (even on SIGKILL); set here, not in a Python preexec_fn, which
     * may deadlock in a forked child of a threaded process */
    pid_t measurer = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != measurer)
        return 126;
    int out = atoi(argv[1]);
    if (fcntl(out, F_SETFD, FD_CLOEXEC) != 0)
        return 126;
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    int pin = strcmp(argv[2], "-") != 0;
    for (char *p = argv[2]; pin && *p;) {
        char *end;
        long c = strtol(p, &end, 10);
        if (end == p || c < 0 || c >= CPU_SETSIZE)
            return 126;
        CPU_SET((int)c, &cpus);
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return 126;
    }
    int nenv = atoi(argv[3]);
    if (nenv < 0 || 4 + nenv >= argc)
        return 126;
    char **prog = argv + 4 + nenv;
    int fail[2];                      /* the exec's errno, or nothing (closed by a successful exec) */
    if (pipe2(fail, O_CLOEXEC) != 0)
        return 126;
    pid_t parent = getpid();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = pass_on;          /* reset to the default in the program by its exec */
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return 126;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0)
        return 126;
    if (pid == 0) {
        close(fail[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (getppid() != parent)
            _exit(127);
        if (pin)
            sched_setaffinity(0, sizeof cpus, &cpus);
        for (int i = 0; i < nenv; i++)
            putenv(argv[4 + i]);
        execvp(prog[0], prog);
        int e = errno;
        if (write(fail[1], &e, sizeof e) < 0)
            _exit(127);
        _exit(127);
    }
    child = pid;
    if (pending)
        kill(pid, pending);
    close(fail[1]);
    int exec_errno = 0;
    while (read(fail[0], &exec_errno, sizeof exec_errno) < 0 && errno == EINTR)
        ;
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR)
            return 126;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    dprintf(out, "{\"ns\": %lld, \"wait_status\": %d, \"exec_errno\": %d, \"cpu_us\": %lld, \"maxrss_kb\": %ld, "
                 "\"minflt\": %ld, \"majflt\": %ld}\n",
            ns_of(&t1) - ns_of(&t0), status, exec_errno, us_of(&ru.ru_utime) + us_of(&ru.ru_stime), ru.ru_maxrss,
            ru.ru_minflt, ru.ru_majflt);
    return 0;
}
