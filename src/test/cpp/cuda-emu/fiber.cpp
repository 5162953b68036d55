// Runs a kernel launch on the CPU: its blocks one after another (x fastest, then y, then z), each block's threads as
// fibers of the calling OS thread, switched in a deterministic order (NEMOH_EMU_ORDER=reverse: the opposite one). A thread runs until it waits at __syncthreads
// or a warp operation, or exits; the scheduler then runs the next runnable thread (first come, first served). A
// barrier opens when every live thread of the block has arrived (exited threads count as arrived); a warp operation
// completes when every live lane of its mask has arrived, and then computes every lane's result at once (so shuffles
// need no buffers a fast lane could overwrite). When no thread can run and some have not exited, the block is deadlocked:
// the launch fails with a report of where each thread waits. Misuse the GPU leaves undefined (a barrier reached at
// different places, lanes that disagree on a warp operation or its mask, reading a lane outside the mask or one that
// has exited) fails the launch too. A fault (SIGSEGV, SIGBUS, SIGFPE) while a kernel runs fails the launch with
// where it hit (memory.cpp's guard pages turn most out-of-bounds accesses into faults); faults of other threads and
// outside kernels go to the handler that was installed before (the JVM's).
#include "emu.h"
#include "runtime.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

#if defined(__x86_64__) && !defined(EMU_UCONTEXT)
#define EMU_ASM_SWITCH 1
// Saves the callee-saved registers on the current stack, stores its pointer in *save and continues on the stack `to`
// (which a previous emu_switch or a fresh fiber's frame prepared). A fresh fiber starts in emu_fiber_entry, which
// calls r13(r12). The FP control words (MXCSR, x87) are not switched: kernels never change them, so every fiber runs
// with the launching thread's (saving and loading them took two thirds of a switch).
extern "C" void emu_switch(void** save, void* to);
extern "C" void emu_fiber_entry();
asm(R"(
    .text
    .globl emu_switch
    .hidden emu_switch
    .type emu_switch, @function
    .p2align 4
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch, .-emu_switch
    .globl emu_fiber_entry
    .hidden emu_fiber_entry
    .type emu_fiber_entry, @function
    .p2align 4
emu_fiber_entry:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size emu_fiber_entry, .-emu_fiber_entry
)");
#endif

namespace emu {
namespace {

constexpr size_t STACK_BYTES = 128 << 10; // per CUDA thread, below a guard page
constexpr int MAX_THREADS = 1024;
constexpr size_t MAX_DYNAMIC_SHARED = 227 << 10;
enum State { RUNNABLE, BLOCKED, EXITED };
enum Wait { NONE, AT_BARRIER, AT_WARP };

const char* const WARP_OP_NAMES[] = {"__shfl_sync", "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync",
                                     "__syncwarp", "__ballot_sync", "__any_sync", "__all_sync", "__reduce_add_sync",
                                     "__reduce_min_sync", "__reduce_max_sync", "__reduce_min_sync", "__reduce_max_sync"};
const char* const BARRIER_NAMES[] = {"__syncthreads", "__syncthreads_count", "__syncthreads_and", "__syncthreads_or"};

struct Fiber {
    void* sp;
#ifndef EMU_ASM_SWITCH
    ucontext_t uc;
#endif
    uint3 tid;
    int linear;
    State state;
    Wait wait;
    const char* file;
    int line, op;
    unsigned mask;
    unsigned long long result;
};

struct Round { // a warp operation some lanes of `mask` have arrived at
    unsigned mask, arrived;
    int op;
    const char* file;
    int line;
    unsigned long long value[32]; // of the lanes that arrived
    int b[32], c[32];
    Round() {} // the arrays are written lane by lane as lanes arrive
};

struct Warp {
    unsigned exists, exited;
    std::vector<Round> rounds;
};

struct Barrier {
    int arrived, op, accumulated;
    const char* file;
    int line;
};

Fiber fibers[MAX_THREADS];
char* stacks;              // MAX_THREADS stacks, each above its guard page
#ifdef EMU_ASM_SWITCH
void* schedulerSp;
#else
ucontext_t schedulerUc;
#endif
Fiber* current;
int queue[MAX_THREADS + 1], head, tail; // runnable fibers, first come first served
int blockThreads, liveThreads;
Barrier barrierState;
std::vector<Warp> warps;
const Kernel* kernel;
void** kernelParams;
char* sharedRegion;        // dynamic shared memory, its end against a guard page
char* dynamicShared;
bool failed;
int failureCode;
std::string failure;

// fault handling
sigjmp_buf faultJump;
volatile sig_atomic_t inKernel;
pthread_t kernelThread;
volatile uintptr_t faultAddress, faultPc;
volatile int faultSignal, faultCode;
struct sigaction previous[32];
char altStack[64 << 10];

// NEMOH_EMU_ORDER=reverse: blocks, and threads within a block, run last first. A missing barrier or a read of what
// another block writes shows in one order or the other, as a result that differs.
bool reversed() {
    static bool on = [] {
        const char* v = getenv("NEMOH_EMU_ORDER");
        return v != nullptr && strcmp(v, "reverse") == 0;
    }();
    return on;
}

// ---- switching ----------------------------------------------------------------------------------------------------

void fiberMain(Fiber* f);

#ifdef EMU_ASM_SWITCH
// The frame emu_switch pops: six registers, then the return address; emu_fiber_entry then runs with a 16-byte
// aligned stack, as a call expects.
void prepare(Fiber* f, char* top) {
    uintptr_t* sp = (uintptr_t*) (top - 72);
    sp[0] = 0;                             // r15
    sp[1] = 0;                             // r14
    sp[2] = (uintptr_t) &fiberMain;        // r13
    sp[3] = (uintptr_t) f;                 // r12
    sp[4] = 0;                             // rbx
    sp[5] = 0;                             // rbp
    sp[6] = (uintptr_t) &emu_fiber_entry;  // return address
    f->sp = sp;
}
inline void switchStacks(void** save, void* to) { emu_switch(save, to); }
#else
void ucEntry(unsigned hi, unsigned lo) { fiberMain((Fiber*) (((uintptr_t) hi << 32) | lo)); }
void prepare(Fiber* f, char* top) {
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = top - (STACK_BYTES - 4096); // clear of the guard page below, whatever the top's offset
    f->uc.uc_stack.ss_size = STACK_BYTES - 4096;
    f->uc.uc_link = nullptr;
    makecontext(&f->uc, (void (*)()) ucEntry, 2, (unsigned) ((uintptr_t) f >> 32), (unsigned) (uintptr_t) f);
    f->sp = &f->uc;
}
inline void switchStacks(void** save, void* to) { swapcontext((ucontext_t*) *save, (ucontext_t*) to); }
#endif

// Continues `to` (null: the scheduler), leaving `from` (null: the scheduler) where it is.
void transfer(Fiber* from, Fiber* to) {
    current = to;
    if (to != nullptr) threadIdx = to->tid;
#ifdef EMU_ASM_SWITCH
    switchStacks(from ? &from->sp : &schedulerSp, to ? to->sp : schedulerSp);
#else
    void* save = from ? (void*) &from->uc : (void*) &schedulerUc;
    switchStacks(&save, to ? (void*) &to->uc : (void*) &schedulerUc);
#endif
}

void enqueue(Fiber* f) {
    f->state = RUNNABLE;
    f->wait = NONE;
    queue[tail] = f->linear;
    tail = (tail + 1) % (MAX_THREADS + 1);
}

Fiber* dequeue() {
    if (head == tail) return nullptr;
    Fiber* f = &fibers[queue[head]];
    head = (head + 1) % (MAX_THREADS + 1);
    return f;
}

// The current thread waits: the next runnable one runs, or the scheduler when none is.
void suspend() {
    Fiber* self = current;
    self->state = BLOCKED;
    transfer(self, dequeue());
}

// ---- messages -----------------------------------------------------------------------------------------------------

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

std::string where() {
    return format("kernel %s (grid %u×%u×%u, block %u×%u×%u), block (%u,%u,%u)", kernel->name, gridDim.x, gridDim.y,
                  gridDim.z, blockDim.x, blockDim.y, blockDim.z, blockIdx.x, blockIdx.y, blockIdx.z);
}

std::string thread(const Fiber* f) {
    if (blockDim.y == 1 && blockDim.z == 1) return format("thread %u", f->tid.x);
    return format("thread (%u,%u,%u)", f->tid.x, f->tid.y, f->tid.z);
}

// "0-31, 40, 64-127" for a sorted list of indices
std::string ranges(const std::vector<int>& v) {
    std::string s;
    for (size_t i = 0; i < v.size();) {
        size_t j = i;
        while (j + 1 < v.size() && v[j + 1] == v[j] + 1) j++;
        if (!s.empty()) s += ", ";
        s += j == i ? std::to_string(v[i]) : std::to_string(v[i]) + "-" + std::to_string(v[j]);
        i = j + 1;
    }
    return s;
}

// "thread 3" or "threads 0-2, 5"
std::string threads(const std::vector<int>& v) { return (v.size() == 1 ? "thread " : "threads ") + ranges(v); }

// "lane 3" or "lanes 0-2, 5"
std::string lanes(unsigned mask) {
    std::vector<int> v;
    for (int l = 0; l < 32; l++) if (mask >> l & 1) v.push_back(l);
    return v.empty() ? "no lanes" : (v.size() == 1 ? "lane " : "lanes ") + ranges(v);
}

[[noreturn]] void fail(int code, const std::string& message) {
    failed = true;
    failureCode = code;
    failure = where() + ": " + message;
    Fiber* self = current;
    transfer(self, nullptr);
    __builtin_unreachable();
}

std::string deadlock() {
    struct Group {
        std::string what;
        std::vector<int> members;
    };
    std::vector<Group> groups;
    std::vector<int> exited;
    for (int i = 0; i < blockThreads; i++) {
        Fiber& f = fibers[i];
        if (f.state == EXITED) {
            exited.push_back(i);
            continue;
        }
        std::string what;
        if (f.wait == AT_BARRIER) {
            what = format("at %s (%s:%d)", BARRIER_NAMES[f.op], f.file, f.line);
        } else if (f.wait == AT_WARP) {
            const Warp& w = warps[i >> 5];
            unsigned missing = f.mask & w.exists & ~w.exited;
            for (const Round& r : w.rounds) if (r.arrived >> (i & 31) & 1 && r.mask == f.mask) missing &= ~r.arrived;
            what = format("at %s (%s:%d) for %s of warp %d (mask 0x%08x)", WARP_OP_NAMES[f.op], f.file,
                          f.line, lanes(missing).c_str(), i >> 5, f.mask);
        } else {
            what = "are runnable"; // cannot happen
        }
        bool found = false;
        for (Group& g : groups) {
            if (g.what == what) {
                g.members.push_back(i);
                found = true;
            }
        }
        if (!found) groups.push_back(Group{what, {i}});
    }
    std::string s = "deadlock: no thread can continue:";
    for (const Group& g : groups) s += " " + threads(g.members) + (g.members.size() == 1 ? " waits " : " wait ") + g.what + ";";
    if (!exited.empty()) s += " " + threads(exited) + (exited.size() == 1 ? " has" : " have") + " exited;";
    s.pop_back();
    return s + (blockDim.y > 1 || blockDim.z > 1 ? " (threads by linear index)" : "");
}

// ---- the block ----------------------------------------------------------------------------------------------------

int releaseBarrier() {
    int r = barrierState.op == SYNC_COUNT ? barrierState.accumulated
            : barrierState.op == SYNC_AND ? barrierState.accumulated == barrierState.arrived
            : barrierState.op == SYNC_OR  ? barrierState.accumulated > 0
                                          : 0;
    barrierState.arrived = 0;
    for (int n = 0; n < blockThreads; n++) {
        Fiber& f = fibers[reversed() ? blockThreads - 1 - n : n];
        if (f.wait == AT_BARRIER) {
            f.result = (unsigned long long) r;
            if (f.state == BLOCKED) enqueue(&f);
            else f.wait = NONE;
        }
    }
    return r;
}

void complete(Warp& W, int w, size_t index);

// Whether every live lane of the round's mask has arrived.
bool ready(const Warp& W, const Round& r) { return ((r.arrived | ~(W.exists & ~W.exited)) & r.mask) == r.mask; }

void fiberMain(Fiber* f) {
    kernel->invoke(kernelParams);
    f->state = EXITED;
    liveThreads--;
    int w = f->linear >> 5;
    Warp& W = warps[w];
    W.exited |= 1u << (f->linear & 31);
    // exited lanes count as arrived: rounds that waited only for this one complete
    for (size_t i = 0; i < W.rounds.size();) {
        if (W.rounds[i].arrived != 0 && ready(W, W.rounds[i])) complete(W, w, i);
        else i++;
    }
    if (barrierState.arrived > 0 && barrierState.arrived == liveThreads) releaseBarrier();
    transfer(f, dequeue());
    __builtin_unreachable();
}

int runBlock() {
    int n = blockThreads;
    head = tail = 0;
    for (int i = 0; i < n; i++) {
        Fiber& f = fibers[i];
        f.tid = uint3{i % blockDim.x, i / blockDim.x % blockDim.y, i / (blockDim.x * blockDim.y)};
        f.linear = i;
        f.wait = NONE;
        // stack tops at different offsets within a page: page-aligned ones would all compete for the same cache sets
        prepare(&f, stacks + (size_t) (i + 1) * (STACK_BYTES + 4096) - (size_t) (i % 64) * 64);
    }
    for (int i = 0; i < n; i++) enqueue(&fibers[reversed() ? n - 1 - i : i]);
    int nWarps = (n + 31) / 32;
    warps.resize(nWarps);
    for (int w = 0; w < nWarps; w++) {
        int lanesHere = n - 32 * w < 32 ? n - 32 * w : 32;
        warps[w].exists = lanesHere == 32 ? 0xffffffffu : (1u << lanesHere) - 1;
        warps[w].exited = 0;
        warps[w].rounds.clear();
    }
    barrierState = Barrier{};
    liveThreads = n;
    failed = false;
    transfer(nullptr, dequeue());
    if (failed) return failureCode;
    if (liveThreads > 0) {
        failed = true;
        failureCode = LAUNCH_FAILED;
        failure = where() + ": " + deadlock();
        return failureCode;
    }
    return SUCCESS;
}

// ---- faults -------------------------------------------------------------------------------------------------------

void onSignal(int sig, siginfo_t* info, void* context) {
    if (inKernel && pthread_equal(pthread_self(), kernelThread)) {
        faultSignal = sig;
        faultCode = info->si_code;
        faultAddress = (uintptr_t) info->si_addr;
#if defined(__x86_64__)
        faultPc = (uintptr_t) ((ucontext_t*) context)->uc_mcontext.gregs[REG_RIP];
#else
        faultPc = 0;
#endif
        inKernel = 0;
        siglongjmp(faultJump, 1);
    }
    struct sigaction& p = previous[sig];
    if (p.sa_flags & SA_SIGINFO) {
        p.sa_sigaction(sig, info, context);
    } else if (p.sa_handler == SIG_DFL) {
        signal(sig, SIG_DFL); // the fault repeats on return, now with the default action
    } else if (p.sa_handler != SIG_IGN) {
        p.sa_handler(sig);
    }
}

void installHandlers() {
    static bool done = false;
    if (done) return;
    done = true;
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE}) {
        // as the handler before (the JVM's) asked for, so that what is chained to it runs as it expects
        sigaction(sig, nullptr, &previous[sig]);
        struct sigaction sa = previous[sig];
        bool handled = (previous[sig].sa_flags & SA_SIGINFO) || (previous[sig].sa_handler != SIG_DFL && previous[sig].sa_handler != SIG_IGN);
        if (!handled) sigemptyset(&sa.sa_mask);
        sa.sa_sigaction = onSignal;
        sa.sa_flags = (handled ? previous[sig].sa_flags : SA_RESTART) | SA_SIGINFO | SA_ONSTACK;
        sigaction(sig, &sa, nullptr);
    }
}

// "gemv.cu:57 (in gemv<1>)" by addr2line when it is installed and the library has line tables, else an offset
std::string codeAt(uintptr_t pc) {
    Dl_info info;
    if (pc == 0 || dladdr((void*) pc, &info) == 0 || info.dli_fname == nullptr) return "";
    uintptr_t offset = pc - (uintptr_t) info.dli_fbase;
    std::string at = format("%s+0x%lx", info.dli_fname, (unsigned long) offset);
    std::string cmd = format("addr2line -C -f -i -e '%s' 0x%lx 2>/dev/null", info.dli_fname, (unsigned long) offset);
    if (FILE* p = popen(cmd.c_str(), "r")) {
        char line[512];
        std::string resolved;
        std::vector<std::string> parts;
        while (fgets(line, sizeof line, p)) {
            std::string s(line);
            while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
            parts.push_back(s);
        }
        pclose(p);
        // pairs of (function, file:line), innermost first
        for (size_t i = 0; i + 1 < parts.size(); i += 2) {
            if (parts[i + 1].rfind("??", 0) == 0 && parts[i] == "??") continue;
            std::string file = parts[i + 1];
            size_t slash = file.rfind('/');
            if (slash != std::string::npos) file = file.substr(slash + 1);
            // the emulator's own frames (the vector types' checks, the registry's trampoline) say nothing
            if (file.rfind("emu.h:", 0) == 0 || file.rfind("kernels.cpp:", 0) == 0) continue;
            if (!resolved.empty()) resolved += ", inlined into ";
            resolved += parts[i] + (file.rfind("??", 0) == 0 ? "" : " at " + file);
        }
        if (!resolved.empty()) return resolved + " (" + at + ")";
    }
    return at;
}

std::string faultMessage() {
    uintptr_t a = faultAddress;
    std::string what;
    uintptr_t stackLow = (uintptr_t) stacks, stackHigh = stackLow + (size_t) MAX_THREADS * (STACK_BYTES + 4096);
    uintptr_t sharedGuard = (uintptr_t) sharedRegion + MAX_DYNAMIC_SHARED;
    if (faultSignal == SIGFPE) {
        what = faultCode == FPE_INTDIV || faultCode == FPE_INTOVF
                ? "an integer division by zero (or INT_MIN / -1), which the GPU does not trap but answers with garbage"
                : "an arithmetic trap (SIGFPE)";
    } else if (a >= stackLow && a < stackHigh && (a - stackLow) % (STACK_BYTES + 4096) < 4096) {
        what = format("a stack overflow: the emulator gives each thread %zu KiB of stack", STACK_BYTES >> 10);
    } else if (a >= sharedGuard && a < sharedGuard + 4096) {
        what = format("an access %zu bytes past the end of the launch's dynamic shared memory",
                      (size_t) (a - (uintptr_t) sharedGuard));
    } else if (faultSignal == SIGSEGV && faultCode == SI_KERNEL) {
        what = "a general protection fault: probably a misaligned access by a vector type (float4, uint4...)";
    } else {
        what = std::string(faultSignal == SIGBUS ? "a bus error at " : "an invalid access to ") + describe(a);
    }
    std::string code = codeAt(faultPc);
    return where() + ": " + thread(current) + " hit " + what + (code.empty() ? "" : "; code: " + code);
}

} // namespace

// ---- what kernels call --------------------------------------------------------------------------------------------

int barrier(const char* file, int line, int op, int predicate) {
    Fiber* f = current;
    Barrier& b = barrierState;
    if (b.arrived == 0) {
        b.file = file;
        b.line = line;
        b.op = op;
        b.accumulated = 0;
    } else if (b.line != line || (b.file != file && strcmp(b.file, file) != 0) || b.op != op) {
        std::vector<int> waiting;
        for (int i = 0; i < blockThreads; i++) if (fibers[i].wait == AT_BARRIER) waiting.push_back(i);
        fail(LAUNCH_FAILED, format("divergent barrier: %s reached %s at %s:%d while %s %s at %s (%s:%d)",
                                   thread(f).c_str(), BARRIER_NAMES[op], file, line, threads(waiting).c_str(),
                                   waiting.size() == 1 ? "waits" : "wait", BARRIER_NAMES[b.op], b.file, b.line));
    }
    b.accumulated += predicate;
    b.arrived++;
    f->wait = AT_BARRIER;
    f->file = file;
    f->line = line;
    f->op = op;
    if (b.arrived == liveThreads) return releaseBarrier();
    suspend();
    return (int) f->result;
}

namespace {

// Every lane's result of a round whose live lanes have all arrived, as PTX defines them; the lanes that waited
// continue (the current thread, if it is one of them, takes its result on return). A lane reading a lane that has
// exited or does not exist reads an undefined value: an error.
void complete(Warp& W, int w, size_t index) {
    Round r = W.rounds[index];
    W.rounds[index] = W.rounds.back();
    W.rounds.pop_back();
    unsigned mask = r.mask, present = r.arrived, usable = W.exists & ~W.exited;
    auto gone = [&](int j) {
        return (W.exists >> j & 1) ? "has exited (its value is undefined)"
                                   : "does not exist: the block is not a multiple of 32 threads (its value is undefined)";
    };
    unsigned ballot = 0;
    for (int l = 0; l < 32; l++) if ((present >> l & 1) && r.value[l] != 0) ballot |= 1u << l;
    if (r.op >= REDUCE_ADD && (mask & ~usable)) {
        int j = __builtin_ctz(mask & ~usable);
        fail(LAUNCH_FAILED, format("%s (%s:%d) with mask 0x%08x reduces over lane %d of warp %d, which %s",
                                   WARP_OP_NAMES[r.op], r.file, r.line, mask, j, w, gone(j)));
    }
    unsigned long long results[32];
    for (int l = 0; l < 32; l++) {
        if (!(present >> l & 1)) continue;
        unsigned long long v = 0;
        switch (r.op) {
        case SHFL_IDX: case SHFL_UP: case SHFL_DOWN: case SHFL_XOR: {
            int bval = r.b[l], cval = r.c[l] & 0x1f, segmask = (r.c[l] >> 8) & 0x1f;
            int maxLane = (l & segmask) | (cval & ~segmask), minLane = l & segmask, j;
            bool p;
            if (r.op == SHFL_UP) { j = l - bval; p = j >= maxLane; }
            else if (r.op == SHFL_DOWN) { j = l + bval; p = j <= maxLane; }
            else if (r.op == SHFL_XOR) { j = l ^ bval; p = j <= maxLane; }
            else { j = minLane | (bval & ~segmask); p = j <= maxLane; }
            if (!p) j = l;
            if (!(mask >> j & 1)) {
                fail(LAUNCH_FAILED, format("lane %d of warp %d reads lane %d in %s (%s:%d), which is not in the mask "
                                           "0x%08x (its value is undefined)", l, w, j, WARP_OP_NAMES[r.op], r.file,
                                           r.line, mask));
            }
            if (!(present >> j & 1)) {
                fail(LAUNCH_FAILED, format("lane %d of warp %d reads lane %d in %s (%s:%d) with mask 0x%08x, but lane "
                                           "%d %s", l, w, j, WARP_OP_NAMES[r.op], r.file, r.line, mask, j, gone(j)));
            }
            v = r.value[j];
            break;
        }
        case SYNCWARP: break;
        case BALLOT: v = ballot; break;
        case ANY: v = ballot != 0; break;
        case ALL: v = ballot == present; break;
        default: {
            unsigned acc = (unsigned) r.value[l];
            for (int k = 0; k < 32; k++) {
                if (!(mask >> k & 1)) continue;
                unsigned x = (unsigned) r.value[k];
                if (r.op == REDUCE_ADD) acc = k == l ? acc : acc + x;
                else if (r.op == REDUCE_MIN) acc = x < acc ? x : acc;
                else if (r.op == REDUCE_MAX) acc = x > acc ? x : acc;
                else if (r.op == REDUCE_MIN_S) acc = (int) x < (int) acc ? x : acc;
                else acc = (int) x > (int) acc ? x : acc;
            }
            v = acc;
        }
        }
        results[l] = v;
    }
    for (int n = 0; n < 32; n++) {
        int l = reversed() ? 31 - n : n;
        if (!(present >> l & 1)) continue;
        Fiber& other = fibers[32 * w + l];
        other.result = results[l];
        if (&other != current) enqueue(&other);
    }
}

} // namespace

unsigned long long warp(const char* file, int line, int op, unsigned mask, unsigned long long value, int b, int c) {
    Fiber* f = current;
    int w = f->linear >> 5, lane = f->linear & 31;
    unsigned bit = 1u << lane;
    Warp& W = warps[w];
    if (!(mask & bit)) {
        fail(LAUNCH_FAILED, format("%s calls %s (%s:%d) with mask 0x%08x, which leaves out its own lane %d",
                                   thread(f).c_str(), WARP_OP_NAMES[op], file, line, mask, lane));
    }
    Round* r = nullptr;
    for (Round& x : W.rounds) {
        if ((x.mask & bit) && !(x.arrived & bit)) {
            r = &x;
            break;
        }
    }
    if (r != nullptr && r->mask != mask) {
        fail(LAUNCH_FAILED, format("lanes of warp %d disagree on the mask: %s calls %s (%s:%d) with mask 0x%08x, "
                                   "%s waiting at %s (%s:%d) with mask 0x%08x", w, thread(f).c_str(),
                                   WARP_OP_NAMES[op], file, line, mask, lanes(r->arrived).c_str(),
                                   WARP_OP_NAMES[r->op], r->file, r->line, r->mask));
    }
    if (r == nullptr) {
        W.rounds.emplace_back();
        r = &W.rounds.back();
        r->mask = mask;
        r->arrived = 0;
        r->op = op;
        r->file = file;
        r->line = line;
    } else if (r->op != op) {
        fail(LAUNCH_FAILED, format("lanes of warp %d meet at different warp operations: %s calls %s (%s:%d) while "
                                   "%s waiting at %s (%s:%d)", w, thread(f).c_str(), WARP_OP_NAMES[op], file, line,
                                   lanes(r->arrived).c_str(), WARP_OP_NAMES[r->op], r->file, r->line));
    }
    r->value[lane] = value;
    r->b[lane] = b;
    r->c[lane] = c;
    r->arrived |= bit;
    if (ready(W, *r)) {
        complete(W, w, (size_t) (r - W.rounds.data()));
        return f->result;
    }
    f->wait = AT_WARP;
    f->file = file;
    f->line = line;
    f->op = op;
    f->mask = mask;
    suspend();
    return f->result;
}

unsigned activemask() {
    const Warp& w = warps[current->linear >> 5];
    return w.exists & ~w.exited;
}

void* dynamic_shared() { return dynamicShared; }

__attribute__((noinline)) void misaligned(const void* p, int alignment) {
    std::string code = codeAt((uintptr_t) __builtin_return_address(0) - 1);
    fail(MISALIGNED_ADDRESS, format("%s made a vector access of %d bytes at ", thread(current).c_str(), alignment)
                             + describe((uintptr_t) p) + ", which is not " + std::to_string(alignment) + "-byte aligned"
                             + (code.empty() ? "" : "; code: " + code));
}

void trap(const char* file, int line, const char* what) {
    fail(LAUNCH_FAILED, format("%s called %s at %s:%d", thread(current).c_str(), what, file, line));
}

void assertion(const char* file, int line, const char* expression) {
    fail(ASSERT, format("%s: assert(%s) failed at %s:%d", thread(current).c_str(), expression, file, line));
}

long long clock() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int runKernel(const Kernel* k, Dim grid, Dim block, unsigned sharedBytes, void** params, std::string& error) {
    if (stacks == nullptr) {
        size_t bytes = (size_t) MAX_THREADS * (STACK_BYTES + 4096);
        void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        void* s = mmap(nullptr, MAX_DYNAMIC_SHARED + 4096, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED || s == MAP_FAILED) {
            error = "cannot map the emulator's thread stacks";
            return OUT_OF_MEMORY;
        }
        for (int i = 0; i < MAX_THREADS; i++) mprotect((char*) m + (size_t) i * (STACK_BYTES + 4096), 4096, PROT_NONE);
        mprotect((char*) s + MAX_DYNAMIC_SHARED, 4096, PROT_NONE);
        stacks = (char*) m;
        sharedRegion = (char*) s;
    }
    if (sharedBytes > MAX_DYNAMIC_SHARED) {
        error = format("kernel %s: %u bytes of dynamic shared memory, more than the %zu a block can have", k->name,
                       sharedBytes, MAX_DYNAMIC_SHARED);
        return INVALID_VALUE;
    }
    installHandlers();
    kernel = k;
    kernelParams = params;
    gridDim = dim3(grid.x, grid.y, grid.z);
    blockDim = dim3(block.x, block.y, block.z);
    blockThreads = (int) (block.x * block.y * block.z);
    dynamicShared = sharedRegion + MAX_DYNAMIC_SHARED - ((sharedBytes + 15) & ~15u);
    stack_t alt{}, old{};
    alt.ss_sp = altStack;
    alt.ss_size = sizeof altStack;
    sigaltstack(&alt, &old);
    kernelThread = pthread_self();
    int rc = SUCCESS;
    if (sigsetjmp(faultJump, 1) == 0) {
        inKernel = 1;
        for (unsigned z = 0; z < grid.z && rc == SUCCESS; z++) {
            for (unsigned y = 0; y < grid.y && rc == SUCCESS; y++) {
                for (unsigned x = 0; x < grid.x && rc == SUCCESS; x++) {
                    blockIdx = reversed() ? uint3{grid.x - 1 - x, grid.y - 1 - y, grid.z - 1 - z} : uint3{x, y, z};
                    memset(dynamicShared, 0xff, sharedBytes); // what a block finds there is undefined
                    rc = runBlock();
                }
            }
        }
        inKernel = 0;
        if (rc != SUCCESS) error = failure;
    } else {
        rc = faultSignal == SIGFPE ? LAUNCH_FAILED : ILLEGAL_ADDRESS;
        error = faultMessage();
    }
    sigaltstack(&old, nullptr);
    return rc;
}

} // namespace emu
