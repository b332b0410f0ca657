/*
 * tp_master.c - owns the master process: validates the config, binds every
 * listener, creates shared memory and the control area, forks and supervises
 * workers, and turns signals into reloads and stops.
 *
 * The master has no event loop: it blocks the signals it handles and takes them
 * one at a time with sigtimedwait, which also gives `--watch` its polling tick.
 */
#include "tp_master.h"
#include "tp_cache.h"
#include "tp_log.h"
#include "tp_lua.h"
#include "tp_node.h"
#include "tp_shm.h"
#include "tp_util.h"
#include "tp_worker.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    tp_node_t node;
    char config_path[PATH_MAX];
    int fds[TP_MAX_LISTEN];
    int nfds;
    pid_t pids[TP_MAX_WORKERS];
    int nworkers;
    int stopping;
    int watch;
    char watch_dirs[16][PATH_MAX];
    int nwatch;
    uint64_t watch_sig; /* newest mtime (ns) and file count under the watched paths */
    uint64_t spawned_at[TP_MAX_WORKERS];
    uint64_t respawn_at[TP_MAX_WORKERS]; /* a crashing worker is restarted after a pause */
    int quick_deaths[TP_MAX_WORKERS];
    uint64_t verdicts; /* reload verdicts written to <prefix>/generation so far */
} master_t;

static int make_dirs(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

static int bind_listener(const tp_listen_t *l, char *err, size_t errlen)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)l->port);
    const char *host = strcmp(l->host, "*") == 0 ? "0.0.0.0" : l->host;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        snprintf(err, errlen, "listen %s:%d: not an IPv4 address", l->host, l->port);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 511) < 0) {
        snprintf(err, errlen, "listen %s:%d: %s", l->host, l->port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Validate a config in a fresh Lua state (the whole thing: plugins included). */
static int validate(const char *path, tp_node_t *node, char *err, size_t errlen)
{
    lua_State *L = tp_lua_new_state(err, errlen);
    if (L == NULL)
        return -1;
    int rc = tp_node_load_config(L, path, err, errlen);
    if (rc == 0 && node) {
        lua_getfield(L, -1, "node");
        rc = tp_node_from_lua(L, -1, node, err, errlen);
    }
    lua_close(L);
    return rc;
}

static void write_generation_file(master_t *m, const char *status)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/generation", m->node.prefix);
    snprintf(tmp, sizeof(tmp), "%s/generation.tmp", m->node.prefix);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return;
    /* line 2 numbers the verdict: a reload refused twice for the same reason still
     * changes the file, which is how the admin API and `turnpike reload` see an answer */
    fprintf(f, "%llu %s\nverdict %llu\n", (unsigned long long)tp_ctl()->generation, status,
            (unsigned long long)++m->verdicts);
    fclose(f);
    rename(tmp, path);
}

static pid_t spawn_worker(master_t *m, int index)
{
    pid_t pid = fork();
    if (pid < 0) {
        tp_log(TP_LOG_ERR, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        tp_worker_main(&m->node, m->fds, m->nfds, index, tp_ctl()->config_path);
        _exit(0);
    }
    tp_ctl()->workers[index].pid = pid;
    m->spawned_at[index] = tp_now_ms();
    return pid;
}

static void signal_workers(master_t *m, int sig)
{
    for (int i = 0; i < m->nworkers; i++)
        if (m->pids[i] > 0)
            kill(m->pids[i], sig);
}

static void setup_watch(master_t *m);

static void reload(master_t *m, const char *path)
{
    char err[2048];
    tp_node_t fresh;
    if (validate(path, &fresh, err, sizeof(err)) < 0) {
        tp_log(TP_LOG_ERR, "reload refused, generation %llu keeps serving: %s",
               (unsigned long long)tp_ctl()->generation, err);
        char status[2100];
        snprintf(status, sizeof(status), "failed: %s", err);
        for (char *s = status; *s; s++)
            if (*s == '\n')
                *s = ' ';
        write_generation_file(m, status);
        return;
    }
    tp_ctl_t *ctl = tp_ctl();
    snprintf(ctl->config_path, sizeof(ctl->config_path), "%s", path);
    ctl->generation++;
    tp_log(TP_LOG_NOTICE, "reloading: generation %llu from %s", (unsigned long long)ctl->generation,
           path);
    write_generation_file(m, "ok");
    signal_workers(m, SIGHUP);
    /* node settings other than these need a restart; plugin folders are re-watched */
    memcpy(m->node.plugins_path, fresh.plugins_path, sizeof(fresh.plugins_path));
    m->node.nplugins_path = fresh.nplugins_path;
    if (m->watch)
        setup_watch(m);
}

static void reap(master_t *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < m->nworkers; i++) {
            if (m->pids[i] != pid)
                continue;
            m->pids[i] = 0;
            tp_ctl()->workers[i].pid = 0;
            if (m->stopping)
                break;
            if (WIFSIGNALED(status))
                tp_log(TP_LOG_ERR, "worker %d (pid %d) killed by signal %d; starting a new one", i,
                       (int)pid, WTERMSIG(status));
            else
                tp_log(TP_LOG_ERR, "worker %d (pid %d) exited with %d; starting a new one", i,
                       (int)pid, WEXITSTATUS(status));
            /* a worker that dies right after starting (say, Lua that cannot load)
             * is restarted after a growing pause, not in a tight loop */
            if (tp_now_ms() - m->spawned_at[i] < 2000) {
                int n = m->quick_deaths[i] < 6 ? ++m->quick_deaths[i] : 6;
                m->respawn_at[i] = tp_now_ms() + (100ull << n);
            } else {
                m->quick_deaths[i] = 0;
                m->pids[i] = spawn_worker(m, i);
            }
        }
    }
}

static void respawn_due(master_t *m)
{
    for (int i = 0; i < m->nworkers; i++) {
        if (m->pids[i] == 0 && m->respawn_at[i] && tp_now_ms() >= m->respawn_at[i]) {
            m->respawn_at[i] = 0;
            m->pids[i] = spawn_worker(m, i);
        }
    }
}

static int workers_alive(master_t *m)
{
    int n = 0;
    for (int i = 0; i < m->nworkers; i++)
        n += m->pids[i] > 0;
    return n;
}

/* --watch: newest mtime of the config file and every file under the watched
 * folders (plugins_path, bundled plugins, lua/); a change triggers a reload. */
/* Only source files count: the prefix (pid file, generation file, posted configs)
 * and logs change on their own and must never trigger a reload. */
static int watched_file(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot && (strcmp(dot, ".lua") == 0 || strcmp(dot, ".yml") == 0 ||
                   strcmp(dot, ".yaml") == 0 || strcmp(dot, ".json") == 0);
}

static const char *watch_skip_dir; /* the prefix, set by setup_watch */

static void scan_mtime(const char *path, int depth, uint64_t *newest)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode) && watch_skip_dir && strcmp(path, watch_skip_dir) == 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        if (watched_file(path)) {
            uint64_t ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
            if (ns > *newest)
                *newest = ns;
            *newest += 1; /* the file count: an added or removed file changes it too */
        }
        return;
    }
    if (depth > 4)
        return;
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        scan_mtime(sub, depth + 1, newest);
    }
    closedir(d);
}

static uint64_t watch_signature(master_t *m)
{
    uint64_t newest = 0;
    scan_mtime(m->config_path, 0, &newest);
    for (int i = 0; i < m->nwatch; i++)
        scan_mtime(m->watch_dirs[i], 0, &newest);
    return newest;
}

static void setup_watch(master_t *m)
{
    m->nwatch = 0;
    for (int i = 0; i < m->node.nplugins_path && m->nwatch < 8; i++) {
        size_t len = strnlen(m->node.plugins_path[i], PATH_MAX - 1);
        memcpy(m->watch_dirs[m->nwatch], m->node.plugins_path[i], len);
        m->watch_dirs[m->nwatch++][len] = '\0';
    }
    char cfgdir[PATH_MAX];
    snprintf(cfgdir, sizeof(cfgdir), "%s", m->config_path);
    char *slash = strrchr(cfgdir, '/');
    if (slash)
        *slash = '\0';
    /* custom plugins usually sit next to the config; bundled code under the home */
    snprintf(m->watch_dirs[m->nwatch++], PATH_MAX, "%s", cfgdir);
    snprintf(m->watch_dirs[m->nwatch++], PATH_MAX, "%s/plugins", tp_lua_home());
    snprintf(m->watch_dirs[m->nwatch++], PATH_MAX, "%s/lua", tp_lua_home());
    static char prefix_real[PATH_MAX];
    if (realpath(m->node.prefix, prefix_real) != NULL)
        watch_skip_dir = prefix_real;
    m->watch_sig = watch_signature(m);
}

static int parse_args(master_t *m, int argc, char **argv)
{
    const char *conf = getenv("TURNPIKE_CONF");
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--conf") == 0) && i + 1 < argc)
            conf = argv[++i];
        else if (strcmp(argv[i], "--watch") == 0)
            m->watch = 1;
        else {
            fprintf(stderr, "turnpike run: unknown argument '%s'\n", argv[i]);
            return -1;
        }
    }
    if (conf == NULL)
        conf = "turnpike.yml";
    if (realpath(conf, m->config_path) == NULL) {
        fprintf(stderr, "turnpike: %s: %s\n", conf, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_pid_file(master_t *m)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/turnpike.pid", m->node.prefix);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -errno;
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    return 0;
}

static void remove_pid_file(master_t *m)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/turnpike.pid", m->node.prefix);
    unlink(path);
}

static int setup(master_t *m)
{
    char err[2048];
    if (validate(m->config_path, &m->node, err, sizeof(err)) < 0) {
        fprintf(stderr, "turnpike: %s\n", err);
        return -1;
    }
    if (make_dirs(m->node.prefix) < 0) {
        fprintf(stderr, "turnpike: prefix %s: %s\n", m->node.prefix, strerror(errno));
        return -1;
    }
    if (tp_log_open(m->node.error_log, m->node.log_level) < 0 ||
        tp_access_log_open(m->node.access_log) < 0) {
        fprintf(stderr, "turnpike: cannot open the logs: %s\n", strerror(errno));
        return -1;
    }
    tp_log_set_role("master");
    if (tp_ctl_create(err, sizeof(err)) < 0) {
        fprintf(stderr, "turnpike: %s\n", err);
        return -1;
    }
    tp_shm_t *shm = tp_shm_create(m->node.shm_size, err);
    if (shm == NULL) {
        fprintf(stderr, "turnpike: shared memory: %s\n", err);
        return -1;
    }
    tp_shm_attach(shm);
    if (tp_cache_create(m->node.cache_size, err, sizeof(err)) < 0) {
        fprintf(stderr, "turnpike: %s\n", err);
        return -1;
    }
    for (int i = 0; i < m->node.nlisten; i++) {
        int fd = bind_listener(&m->node.listen[i], err, sizeof(err));
        if (fd < 0) {
            fprintf(stderr, "turnpike: %s\n", err);
            return -1;
        }
        m->fds[m->nfds++] = fd;
    }
    int n = m->node.workers > 0 ? m->node.workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > TP_MAX_WORKERS)
        n = TP_MAX_WORKERS;
    m->nworkers = n;
    tp_ctl_t *ctl = tp_ctl();
    ctl->generation = 1;
    ctl->master_pid = getpid();
    ctl->nworkers = n;
    snprintf(ctl->config_path, sizeof(ctl->config_path), "%s", m->config_path);
    if (write_pid_file(m) < 0) {
        fprintf(stderr, "turnpike: pid file in %s: %s\n", m->node.prefix, strerror(errno));
        return -1;
    }
    write_generation_file(m, "ok");
    return 0;
}

static void print_banner(master_t *m)
{
    for (int i = 0; i < m->node.nlisten; i++) {
        tp_listen_t *l = &m->node.listen[i];
        tp_log(TP_LOG_NOTICE, "%s listening on %s:%d%s", l->admin ? "admin" : "proxy", l->host,
               l->port, l->ssl ? " ssl" : "");
    }
    tp_log(TP_LOG_NOTICE, "turnpike started: %d worker%s, config %s", m->nworkers,
           m->nworkers == 1 ? "" : "s", m->config_path);
}

int tp_master_main(int argc, char **argv)
{
    static master_t m; /* the master's whole state, one per process */
    if (parse_args(&m, argc, argv) < 0 || setup(&m) < 0)
        return 1;
    sigset_t set;
    sigemptyset(&set);
    int handled[] = {SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR2};
    for (size_t i = 0; i < tp_countof(handled); i++)
        sigaddset(&set, handled[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < m.nworkers; i++)
        m.pids[i] = spawn_worker(&m, i);
    print_banner(&m);
    if (m.watch)
        setup_watch(&m);

    uint64_t stop_deadline = 0;
    for (;;) {
        struct timespec tick = {0, 300 * 1000 * 1000};
        siginfo_t info;
        int sig = sigtimedwait(&set, &info, &tick);
        switch (sig) {
        case SIGCHLD:
            reap(&m);
            break;
        case SIGHUP:
            if (!m.stopping)
                reload(&m, m.config_path);
            break;
        case SIGUSR2:
            if (!m.stopping && tp_ctl()->posted_path[0])
                reload(&m, tp_ctl()->posted_path);
            break;
        case SIGTERM:
        case SIGINT:
            if (!m.stopping) {
                tp_log(TP_LOG_NOTICE, "graceful stop: draining workers");
                m.stopping = 1;
                stop_deadline = tp_now_ms() + (uint64_t)m.node.drain_timeout_ms + 5000;
                signal_workers(&m, SIGTERM);
                /* new connections are refused from now on, not left in the backlog */
                for (int i = 0; i < m.nfds; i++)
                    close(m.fds[i]);
                m.nfds = 0;
            }
            break;
        case SIGQUIT:
            tp_log(TP_LOG_NOTICE, "immediate stop");
            m.stopping = 1;
            signal_workers(&m, SIGKILL);
            reap(&m);
            remove_pid_file(&m);
            return 0;
        default:
            break;
        }
        if (m.stopping) {
            reap(&m);
            if (workers_alive(&m) == 0)
                break;
            if (tp_now_ms() > stop_deadline)
                signal_workers(&m, SIGKILL);
        } else {
            respawn_due(&m);
        }
        if (!m.stopping && m.watch) {
            uint64_t now_sig = watch_signature(&m);
            if (now_sig != m.watch_sig) {
                m.watch_sig = now_sig;
                tp_log(TP_LOG_NOTICE, "--watch: a watched file changed");
                reload(&m, m.config_path);
            }
        }
    }
    remove_pid_file(&m);
    tp_log(TP_LOG_NOTICE, "stopped");
    return 0;
}
