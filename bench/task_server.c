/* A task server for bench/eval_throughput.py that costs next to no CPU per request.

   One thread, epoll, HTTP/1.1 keep-alive. Every POST (any path but /_*) is answered
   LATENCY seconds after its last packet arrived (the kernel's SO_TIMESTAMPNS stamp) with
   the same small rollout reply; GET /_stats answers {"requests": N, "durations": [seconds,
   ...]} (request arrived -> reply written: the true latency, including any wait of this
   process for a core on a loaded machine) and POST /_reset clears them. The latency
   is the same for every request, so the pending replies are due in the order they
   came: a FIFO is the timer queue.

   Usage: task_server LATENCY_SECONDS   (prints "READY http://127.0.0.1:PORT")

   Why (issue #25): the asyncio test server spent more CPU per request than the clients
   it served, so at 5 ms and 200 in flight it, not the client, set the span on a 2-core
   machine. Compiled by the benchmark with the machine's cc; not part of the package. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 65536
#define BUF 65536

static const char REPLY_BODY[] =
    "{\"output\": \"echo: ok\", \"score\": 1.0, "
    "\"usage\": {\"prompt_tokens\": 5, \"completion_tokens\": 6}}";

struct conn {
    char *in;
    size_t len;
    unsigned gen; /* bumped when the fd is closed, so stale queue entries are skipped */
    int open;
};
struct pending {
    int fd;
    unsigned gen;
    double due, got;
};

static struct conn conns[MAXFD];
static struct pending *queue;
static size_t q_head, q_tail, q_cap;
static double *durations;
static size_t n_durations, cap_durations;
static long requests;
static double arrived; /* the kernel's arrival stamp of the last read (0: none) */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void close_conn(int epfd, int fd) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    conns[fd].open = 0;
    conns[fd].len = 0;
    conns[fd].gen++;
}

static void send_all(int fd, const char *data, size_t n) {
    while (n) { /* replies are small: the socket's buffer takes them whole */
        ssize_t w = write(fd, data, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        data += w;
        n -= (size_t)w;
    }
}

static void reply(int fd, const char *body, size_t n) {
    char head[256];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     n);
    char *out = malloc((size_t)h + n);
    memcpy(out, head, (size_t)h);
    memcpy(out + h, body, n);
    send_all(fd, out, (size_t)h + n);
    free(out);
}

static void push(struct pending p) {
    if (q_tail == q_cap) {
        if (q_head > 0) {
            memmove(queue, queue + q_head, (q_tail - q_head) * sizeof *queue);
            q_tail -= q_head;
            q_head = 0;
        }
        if (q_tail == q_cap) {
            q_cap = q_cap ? q_cap * 2 : 1024;
            queue = realloc(queue, q_cap * sizeof *queue);
        }
    }
    queue[q_tail++] = p;
}

static void stats(int fd) {
    size_t cap = 64 + n_durations * 24;
    char *body = malloc(cap);
    size_t n = (size_t)snprintf(body, cap, "{\"requests\": %ld, \"durations\": [", requests);
    for (size_t i = 0; i < n_durations; i++)
        n += (size_t)snprintf(body + n, cap - n, "%s%.9f", i ? ", " : "", durations[i]);
    n += (size_t)snprintf(body + n, cap - n, "]}");
    reply(fd, body, n);
    free(body);
}

/* Handle every whole request in fd's buffer. */
static void parse(int fd, double latency) {
    struct conn *c = &conns[fd];
    for (;;) {
        char *end = memmem(c->in, c->len, "\r\n\r\n", 4);
        if (!end) return;
        size_t head = (size_t)(end - c->in) + 4;
        size_t body = 0;
        for (char *p = c->in; p < end; p++) {
            if ((p == c->in || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
                body = strtoul(p + 15, NULL, 10);
                break;
            }
        }
        if (c->len < head + body) return;
        char *path = memchr(c->in, ' ', head);
        int internal = path && path + 3 < end && path[1] == '/' && path[2] == '_';
        if (internal) {
            if (memmem(c->in, head, "/_stats", 7)) {
                stats(fd);
            } else {
                n_durations = 0;
                requests = 0;
                reply(fd, "{\"ok\": true}", 12);
            }
        } else {
            /* due LATENCY after the request's last packet reached the machine (the kernel's
               stamp), so time this process waited for a core counts as the server's */
            double t = arrived ? arrived : now();
            requests++;
            push((struct pending){fd, c->gen, t + latency, t});
        }
        memmove(c->in, c->in + head + body, c->len - head - body);
        c->len -= head + body;
    }
}

int main(int argc, char **argv) {
    double latency = argc > 1 ? atof(argv[1]) : 0.0;
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake when the reply is due, not up to 50 us later */
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096)) {
        perror("bind/listen");
        return 1;
    }
    socklen_t al = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &al);
    printf("READY http://127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);
    int epfd = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(epfd, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event events[512];
    char buf[BUF];
    for (;;) {
        struct timespec ts, *timeout = NULL;
        if (q_head < q_tail) {
            double wait = queue[q_head].due - now();
            if (wait < 0) wait = 0;
            ts.tv_sec = (time_t)wait;
            ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
            timeout = &ts;
        }
        int n = epoll_pwait2(epfd, events, 512, timeout, NULL); /* ns, not ms, timeouts */
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == ls) {
                int cfd;
                while ((cfd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (cfd >= MAXFD) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    setsockopt(cfd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
                    conns[cfd].open = 1;
                    conns[cfd].len = 0;
                    if (!conns[cfd].in) conns[cfd].in = malloc(BUF);
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &ce);
                }
                continue;
            }
            struct conn *c = &conns[fd];
            char control[256];
            struct iovec iov = {.iov_base = buf, .iov_len = BUF - c->len};
            struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                                 .msg_controllen = sizeof control};
            ssize_t r = recvmsg(fd, &msg, 0);
            arrived = 0;
            for (struct cmsghdr *m = CMSG_FIRSTHDR(&msg); r > 0 && m; m = CMSG_NXTHDR(&msg, m)) {
                if (m->cmsg_level == SOL_SOCKET && m->cmsg_type == SCM_TIMESTAMPNS) {
                    struct timespec k, real;
                    memcpy(&k, CMSG_DATA(m), sizeof k);
                    clock_gettime(CLOCK_REALTIME, &real);
                    /* the kernel's arrival stamp, moved onto the monotonic clock */
                    arrived = now() - ((real.tv_sec - k.tv_sec) + (real.tv_nsec - k.tv_nsec) / 1e9);
                }
            }
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                close_conn(epfd, fd);
                continue;
            }
            memcpy(c->in + c->len, buf, (size_t)r);
            c->len += (size_t)r;
            parse(fd, latency);
            if (c->len >= BUF) close_conn(epfd, fd); /* a request larger than the buffer */
        }
        double t = now();
        while (q_head < q_tail && queue[q_head].due <= t) {
            struct pending p = queue[q_head++];
            if (!conns[p.fd].open || conns[p.fd].gen != p.gen) continue;
            reply(p.fd, REPLY_BODY, sizeof REPLY_BODY - 1);
            t = now();
            if (n_durations == cap_durations) {
                cap_durations = cap_durations ? cap_durations * 2 : 4096;
                durations = realloc(durations, cap_durations * sizeof *durations);
            }
            durations[n_durations++] = t - p.got;
        }
    }
}
