/* redis-server for the unit tests: started on a free 127.0.0.1 port in a
 * temporary directory, never the system's service, and stopped whatever
 * happens: at exit, on SIGINT/SIGTERM, and by the kernel if the process
 * that started it dies (PR_SET_PDEATHSIG). */
#include "check_hl.h"
#include "check_redis.h"

#include <apr_strings.h>
#include <hiredis/hiredis.h>

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static test_redis shared;
static pid_t shared_owner;
static char shared_spec[64];

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0
        && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

redisContext *test_redis_connect(const test_redis *t)
{
    struct timeval tv = { 2, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", t->port, tv);
    if (c && !c->err && t->password) {
        redisReply *r = redisCommand(c, "AUTH %s", t->password);
        if (r)
            freeReplyObject(r);
    }
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

int test_redis_command(const test_redis *t, const char *command)
{
    redisContext *c = test_redis_connect(t);
    redisReply *r;
    const char *argv[8];
    char words[256], *word, *last;
    int ok, argc = 0;
    if (!c)
        return 0;
    /* Words split at spaces, as redis-cli would. */
    apr_cpystrn(words, command, sizeof(words));
    for (word = apr_strtok(words, " ", &last); word && argc < 8;
         word = apr_strtok(NULL, " ", &last))
        argv[argc++] = word;
    r = redisCommandArgv(c, argc, argv, NULL);
    ok = r && r->type != REDIS_REPLY_ERROR;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

static int answers(const test_redis *t)
{
    return test_redis_command(t, "PING");
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[512];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Starts it on t->port (0: a free one), in t->dir (made if empty). */
int test_redis_start(test_redis *t)
{
    int waited;
    char port[16];
    if (!t->dir[0]) {
        snprintf(t->dir, sizeof(t->dir), "/tmp/hl-redis-XXXXXX");
        if (!mkdtemp(t->dir))
            return 0;
    }
    if (!t->port)
        t->port = free_port();
    snprintf(t->socket, sizeof(t->socket), "%s/redis.sock", t->dir);
    snprintf(port, sizeof(port), "%d", t->port);
    t->pid = fork();
    if (t->pid < 0)
        return 0;
    if (t->pid == 0) {
        char log[sizeof(t->dir) + 16];
        const char *argv[32];
        int n = 0;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        snprintf(log, sizeof(log), "%s/redis.log", t->dir);
        argv[n++] = "redis-server";
        argv[n++] = "--port";          argv[n++] = port;
        argv[n++] = "--bind";          argv[n++] = "127.0.0.1";
        argv[n++] = "--dir";           argv[n++] = t->dir;
        argv[n++] = "--unixsocket";    argv[n++] = t->socket;
        argv[n++] = "--unixsocketperm"; argv[n++] = "700";
        argv[n++] = "--save";          argv[n++] = "";
        argv[n++] = "--appendonly";    argv[n++] = "no";
        argv[n++] = "--daemonize";     argv[n++] = "no";
        argv[n++] = "--logfile";       argv[n++] = log;
        if (t->password) {
            argv[n++] = "--requirepass";
            argv[n++] = t->password;
        }
        argv[n] = NULL;
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    /* Ready within 10 s, or it failed (not installed, port taken). */
    for (waited = 0; waited < 200; waited++) {
        int status;
        if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
            t->pid = 0;
            test_redis_stop(t);
            return 0;
        }
        if (answers(t))
            return 1;
        usleep(50000);
    }
    test_redis_stop(t);
    return 0;
}

void test_redis_kill(test_redis *t)
{
    if (t->pid > 0) {
        kill(t->pid, SIGKILL);
        waitpid(t->pid, NULL, 0);
    }
    t->pid = 0;
}

void test_redis_stop(test_redis *t)
{
    test_redis_kill(t);
    if (t->dir[0])
        remove_dir(t->dir);
    t->dir[0] = '\0';
}

static void stop_shared(void)
{
    /* check forks a child per test: only the starter stops it. */
    if (shared.pid > 0 && getpid() == shared_owner)
        test_redis_stop(&shared);
}

static void stop_on_signal(int sig)
{
    stop_shared();
    signal(sig, SIG_DFL);
    raise(sig);
}

void test_redis_shared_start(void)
{
    const char *no = getenv("HL_TEST_NO_REDIS");
    int attempt;
    /* A write to a connection Redis closed must fail, not kill the
     * tests (httpd ignores SIGPIPE too). */
    signal(SIGPIPE, SIG_IGN);
    if (no && strcmp(no, "1") == 0)
        return;
    shared_owner = getpid();
    atexit(stop_shared);
    signal(SIGINT, stop_on_signal);
    signal(SIGTERM, stop_on_signal);
    for (attempt = 0; attempt < 3 && !shared.pid; attempt++) {
        shared.port = 0;
        test_redis_start(&shared);
    }
    if (shared.pid)
        snprintf(shared_spec, sizeof(shared_spec), "redis://127.0.0.1:%d",
                 shared.port);
}

const test_redis *test_redis_shared(void)
{
    const char *no = getenv("HL_TEST_NO_REDIS");
    if (no && strcmp(no, "1") == 0)
        return NULL;
    ck_assert_msg(shared.pid > 0, "redis-server could not be started (is it "
                  "installed?); HL_TEST_NO_REDIS=1 skips the Redis tests on "
                  "a developer's machine, never in CI");
    return &shared;
}

const char *test_redis_spec(void)
{
    const test_redis *t = test_redis_shared();
    if (!t)
        return NULL;
    ck_assert_msg(test_redis_command(t, "FLUSHALL"), "FLUSHALL failed");
    return shared_spec;
}
