/* Channels of fixed-size messages between fibers (and a host thread): buffered,
 * rendezvous, unbounded; close; try and timeout forms. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <string.h>

#include "check.h"

static fibra_runtime *rt;

typedef struct {
    uint32_t producer;
    uint32_t seq;
    double payload;
    char tag[16];
} message;

#define PRODUCERS 4
#define PER_PRODUCER 2000

typedef struct {
    fibra_channel *ch;
    uint32_t id;
} producer_arg;

static void producer(void *arg) {
    producer_arg *p = (producer_arg *)arg;
    message m;
    uint32_t i;
    memset(&m, 0, sizeof m);
    for (i = 0; i < PER_PRODUCER; i++) {
        m.producer = p->id;
        m.seq = i;
        m.payload = i * 0.5;
        strcpy(m.tag, "fibra");
        CHECK_OK(fibra_channel_send(p->ch, &m));
    }
}

typedef struct {
    fibra_channel *ch;
    uint64_t received;
} consumer_arg;

static void consumer(void *arg) {
    consumer_arg *c = (consumer_arg *)arg;
    uint32_t next[PRODUCERS] = {0};
    message m;
    int rc;
    while ((rc = fibra_channel_recv(c->ch, &m)) == FIBRA_OK) {
        CHECK(m.producer < PRODUCERS);
        CHECK(m.seq == next[m.producer]); /* per-producer order is kept */
        CHECK(m.payload == m.seq * 0.5);
        CHECK(strcmp(m.tag, "fibra") == 0);
        next[m.producer]++;
        c->received++;
    }
    CHECK_RC(rc, FIBRA_ECLOSED);
}

/* Producers and one consumer on a channel of `capacity`; closes once producers end. */
static void pipeline(size_t capacity) {
    fibra_channel *ch;
    fibra_fiber *prod[PRODUCERS], *cons;
    producer_arg pa[PRODUCERS];
    consumer_arg ca;
    size_t i, len;
    CHECK_OK(fibra_channel_create(sizeof(message), capacity, &ch));
    ca.ch = ch;
    ca.received = 0;
    CHECK_OK(fibra_spawn(rt, consumer, &ca, &cons));
    for (i = 0; i < PRODUCERS; i++) {
        pa[i].ch = ch;
        pa[i].id = (uint32_t)i;
        CHECK_OK(fibra_spawn(rt, producer, &pa[i], &prod[i]));
    }
    for (i = 0; i < PRODUCERS; i++) CHECK_OK(fibra_join(prod[i]));
    CHECK_OK(fibra_channel_close(ch));
    CHECK_OK(fibra_channel_close(ch)); /* twice is fine */
    CHECK_OK(fibra_join(cons));
    CHECK(ca.received == (uint64_t)PRODUCERS * PER_PRODUCER);
    CHECK_OK(fibra_channel_len(ch, &len));
    CHECK(len == 0);
    CHECK_OK(fibra_channel_destroy(ch));
}

/* ---- a host thread feeding fibers */

static void *thread_sender(void *arg) {
    fibra_channel *ch = (fibra_channel *)arg;
    uint64_t i;
    for (i = 1; i <= 1000; i++) CHECK_OK(fibra_channel_send(ch, &i));
    CHECK_OK(fibra_channel_close(ch));
    return NULL;
}

typedef struct {
    fibra_channel *ch;
    uint64_t sum;
} sum_arg;

static void sum_receiver(void *arg) {
    sum_arg *a = (sum_arg *)arg;
    uint64_t v;
    while (fibra_channel_recv(a->ch, &v) == FIBRA_OK) a->sum += v;
}

/* ---- timeouts and try forms */

static void timeouts(void *arg) {
    fibra_channel *ch;
    int x = 7, y = 0;
    size_t len;
    (void)arg;
    CHECK_OK(fibra_channel_create(sizeof(int), 1, &ch));
    CHECK_RC(fibra_channel_try_recv(ch, &y), FIBRA_EAGAIN);
    CHECK_RC(fibra_channel_recv_timeout(ch, &y, MS(5)), FIBRA_ETIMEDOUT);
    CHECK_OK(fibra_channel_try_send(ch, &x));
    CHECK_OK(fibra_channel_len(ch, &len));
    CHECK(len == 1);
    CHECK_RC(fibra_channel_try_send(ch, &x), FIBRA_EAGAIN);
    CHECK_RC(fibra_channel_send_timeout(ch, &x, MS(5)), FIBRA_ETIMEDOUT);
    CHECK_OK(fibra_channel_recv_timeout(ch, &y, MS(5)));
    CHECK(y == 7);
    CHECK_OK(fibra_channel_send_timeout(ch, &x, MS(5)));
    CHECK_OK(fibra_channel_close(ch));
    CHECK_RC(fibra_channel_send(ch, &x), FIBRA_ECLOSED);
    CHECK_RC(fibra_channel_try_send(ch, &x), FIBRA_ECLOSED);
    y = 0;
    CHECK_OK(fibra_channel_try_recv(ch, &y)); /* buffered messages survive the close */
    CHECK(y == 7);
    CHECK_RC(fibra_channel_try_recv(ch, &y), FIBRA_ECLOSED);
    CHECK_RC(fibra_channel_recv(ch, &y), FIBRA_ECLOSED);
    CHECK_RC(fibra_channel_recv_timeout(ch, &y, MS(5)), FIBRA_ECLOSED);
    CHECK_OK(fibra_channel_destroy(ch));

    /* zero-size messages: only their arrival counts; NULL buffers are fine */
    CHECK_OK(fibra_channel_create(0, FIBRA_CHANNEL_UNBOUNDED, &ch));
    CHECK_OK(fibra_channel_send(ch, NULL));
    CHECK_OK(fibra_channel_recv(ch, NULL));
    CHECK_OK(fibra_channel_destroy(ch));

    /* NULL buffers with a non-zero size are refused, taking nothing */
    CHECK_OK(fibra_channel_create(sizeof(int), 4, &ch));
    CHECK_RC(fibra_channel_send(ch, NULL), FIBRA_EINVAL);
    CHECK_OK(fibra_channel_send(ch, &x));
    CHECK_RC(fibra_channel_recv(ch, NULL), FIBRA_EINVAL);
    CHECK_OK(fibra_channel_len(ch, &len));
    CHECK(len == 1);
    CHECK_OK(fibra_channel_destroy(ch)); /* with a message still inside */
}

int main(void) {
    rt = test_runtime(2);

    pipeline(16);
    PASS("buffered");
    pipeline(0);
    PASS("rendezvous");
    pipeline(FIBRA_CHANNEL_UNBOUNDED);
    PASS("unbounded");

    {
        sum_arg shared;
        pthread_t t;
        fibra_fiber *f;
        CHECK_OK(fibra_channel_create(sizeof(uint64_t), 8, &shared.ch));
        shared.sum = 0;
        CHECK_OK(fibra_spawn(rt, sum_receiver, &shared, &f));
        CHECK(pthread_create(&t, NULL, thread_sender, shared.ch) == 0);
        CHECK_OK(fibra_join(f));
        CHECK(pthread_join(t, NULL) == 0);
        CHECK(shared.sum == 1000 * 1001 / 2);
        CHECK_OK(fibra_channel_destroy(shared.ch));
        PASS("thread_to_fiber");
    }

    CHECK_OK(fibra_block_on(rt, timeouts, NULL));
    PASS("try_timeout_close");

    CHECK_OK(fibra_runtime_destroy(rt));
    printf("PASS\n");
    return 0;
}
