/*
 * job_system.c: a C host running a game-engine-style frame of dependent jobs on fibra.
 *
 * Each frame is a small graph of jobs:
 *
 *     input ──► ai ─────────────┐
 *       │                       ▼
 *       └────► physics ──► animation ──► render_prep ──► submit
 *              (fans out into PHYSICS_CHUNKS parallel chunk jobs)
 *
 * Every job is a fiber that first waits on its own wait group (its count of unfinished
 * dependencies), runs, then calls `fibra_waitgroup_done` on the wait group of each job
 * that depends on it. All jobs of a frame are spawned at once; the wait groups order
 * them. A waiting job suspends only its fiber, so a worker thread never blocks on a
 * dependency. The host thread waits for the whole frame on one more wait group.
 *
 * Build and run (see the README's "C ABI" section):
 *     cargo build --release
 *     cc -std=c99 -O2 -Iinclude examples/c/job_system.c target/release/libfibra.a \
 *        -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o job_system
 *     ./job_system
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fibra.h"

#define FRAMES 3
#define ENTITIES 4096
#define PHYSICS_CHUNKS 8
#define MAX_DEPENDENTS 4

static void must(int rc, const char *what) {
    if (rc != FIBRA_OK) {
        fprintf(stderr, "job_system: %s failed: %s\n", what, fibra_strerror(rc));
        exit(1);
    }
}

/* ---- the game state the jobs work on */

typedef struct {
    double pos[ENTITIES], vel[ENTITIES], pose[ENTITIES];
    int intent[ENTITIES];
    double input_axis;
    double checksum;
    unsigned frame;
    fibra_runtime *rt;
} world;

/* ---- the job graph */

typedef struct job job;
typedef void (*job_fn)(world *w);

struct job {
    const char *name;
    job_fn run;
    fibra_waitgroup *deps; /* unfinished dependencies of this job */
    job *dependents[MAX_DEPENDENTS];
    size_t n_dependents;
    size_t n_dependencies;
    world *w;
    fibra_waitgroup *frame_done;
};

static void job_fiber(void *arg) {
    job *j = (job *)arg;
    size_t i;
    must(fibra_waitgroup_wait(j->deps), "wait for dependencies");
    j->run(j->w);
    for (i = 0; i < j->n_dependents; i++) must(fibra_waitgroup_done(j->dependents[i]->deps), "done");
    must(fibra_waitgroup_done(j->frame_done), "frame done");
}

static void depends_on(job *later, job *earlier) {
    if (earlier->n_dependents == MAX_DEPENDENTS) abort();
    earlier->dependents[earlier->n_dependents++] = later;
    later->n_dependencies++;
}

/* ---- the jobs */

static void input(world *w) { w->input_axis = (w->frame % 2 == 0) ? 1.0 : -0.5; }

static void ai(world *w) {
    size_t i;
    for (i = 0; i < ENTITIES; i++) w->intent[i] = (int)((i + w->frame) % 3) - 1;
}

typedef struct {
    world *w;
    size_t begin, end;
    fibra_waitgroup *done;
} chunk;

static void physics_chunk(void *arg) {
    chunk *c = (chunk *)arg;
    size_t i;
    for (i = c->begin; i < c->end; i++) {
        c->w->vel[i] += 0.01 * c->w->input_axis;
        c->w->pos[i] += c->w->vel[i];
    }
    must(fibra_waitgroup_done(c->done), "chunk done");
}

/* Fork-join inside a job: the chunks run in parallel on the runtime's workers. */
static void physics(world *w) {
    chunk chunks[PHYSICS_CHUNKS];
    fibra_waitgroup *done;
    size_t k, per = ENTITIES / PHYSICS_CHUNKS;
    must(fibra_waitgroup_create(&done), "waitgroup_create");
    must(fibra_waitgroup_add(done, PHYSICS_CHUNKS), "waitgroup_add");
    for (k = 0; k < PHYSICS_CHUNKS; k++) {
        chunks[k].w = w;
        chunks[k].begin = k * per;
        chunks[k].end = (k + 1) * per;
        chunks[k].done = done;
        must(fibra_spawn(w->rt, physics_chunk, &chunks[k], NULL), "spawn chunk");
    }
    must(fibra_waitgroup_wait(done), "wait for chunks");
    must(fibra_waitgroup_destroy(done), "waitgroup_destroy");
}

static void animation(world *w) {
    size_t i;
    for (i = 0; i < ENTITIES; i++) w->pose[i] = w->pos[i] * 0.5 + w->intent[i];
}

static void render_prep(world *w) {
    size_t i;
    double sum = 0;
    for (i = 0; i < ENTITIES; i++) sum += w->pose[i];
    w->checksum = sum;
}

static void submit(world *w) { printf("frame %u: checksum %.4f\n", w->frame, w->checksum); }

/* ---- one frame */

static void run_frame(world *w) {
    enum { INPUT, AI, PHYSICS, ANIMATION, RENDER_PREP, SUBMIT, N_JOBS };
    job jobs[N_JOBS];
    fibra_waitgroup *frame_done;
    size_t i;
    memset(jobs, 0, sizeof jobs);
    jobs[INPUT].name = "input", jobs[INPUT].run = input;
    jobs[AI].name = "ai", jobs[AI].run = ai;
    jobs[PHYSICS].name = "physics", jobs[PHYSICS].run = physics;
    jobs[ANIMATION].name = "animation", jobs[ANIMATION].run = animation;
    jobs[RENDER_PREP].name = "render_prep", jobs[RENDER_PREP].run = render_prep;
    jobs[SUBMIT].name = "submit", jobs[SUBMIT].run = submit;
    depends_on(&jobs[AI], &jobs[INPUT]);
    depends_on(&jobs[PHYSICS], &jobs[INPUT]);
    depends_on(&jobs[ANIMATION], &jobs[PHYSICS]);
    depends_on(&jobs[ANIMATION], &jobs[AI]);
    depends_on(&jobs[RENDER_PREP], &jobs[ANIMATION]);
    depends_on(&jobs[SUBMIT], &jobs[RENDER_PREP]);

    must(fibra_waitgroup_create(&frame_done), "waitgroup_create");
    must(fibra_waitgroup_add(frame_done, N_JOBS), "waitgroup_add");
    /* Counters first, then spawn: a job may finish before its dependents exist. */
    for (i = 0; i < N_JOBS; i++) {
        must(fibra_waitgroup_create(&jobs[i].deps), "waitgroup_create");
        must(fibra_waitgroup_add(jobs[i].deps, jobs[i].n_dependencies), "waitgroup_add");
        jobs[i].w = w;
        jobs[i].frame_done = frame_done;
    }
    /* Spawned in reverse, so dependents really do wait for their dependencies. */
    for (i = N_JOBS; i-- > 0;) must(fibra_spawn(w->rt, job_fiber, &jobs[i], NULL), "spawn job");
    must(fibra_waitgroup_wait(frame_done), "wait for the frame");
    for (i = 0; i < N_JOBS; i++) must(fibra_waitgroup_destroy(jobs[i].deps), "waitgroup_destroy");
    must(fibra_waitgroup_destroy(frame_done), "waitgroup_destroy");
}

int main(void) {
    static world w;
    fibra_runtime_config cfg;
    size_t workers;
    must(fibra_runtime_config_init(&cfg), "config_init");
    cfg.workers = 0; /* one per CPU */
    must(fibra_runtime_create(&cfg, &w.rt), "runtime_create");
    must(fibra_runtime_workers(w.rt, &workers), "runtime_workers");
    printf("job_system: %zu workers, %d entities, %d physics chunks\n", workers, ENTITIES,
           PHYSICS_CHUNKS);
    for (w.frame = 0; w.frame < FRAMES; w.frame++) run_frame(&w);
    must(fibra_runtime_destroy(w.rt), "runtime_destroy");
    return 0;
}
