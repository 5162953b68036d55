package dev.nemoh.server;

import dev.nemoh.generate.Generation;
import dev.nemoh.generate.Sampler;
import dev.nemoh.generate.SamplingParams;
import dev.nemoh.generate.TextSequence;

import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * One request's generation as the {@link Scheduler} runs it: what to generate, and the events it sends back to the
 * HTTP thread that waits for them. The HTTP side cancels it when the client goes away.
 */
final class Job {
    /** What the scheduler reports, in order: tokens, then exactly one {@link Finished} or {@link Failed}. */
    sealed interface Event permits Token, Finished, Failed {}

    /** A chosen token and the text that may be shown with it (often "" while text is held back). */
    record Token(int id, String text, Sampler.Logprobs logprobs) implements Event {}

    record Finished(TextSequence.Finish finish, int promptTokens, int completionTokens) implements Event {}

    record Failed(String message) implements Event {}

    final int[] prompt;
    final SamplingParams params;
    final List<String> stops;
    /** Created per request: steering keeps per-sequence state. May be null. */
    final TextSequence.Steering steering;
    /** KV cache bytes this sequence can grow to (prompt + max tokens), reserved while it runs. */
    final long cacheBytes;
    final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private volatile boolean cancelled;

    // owned by the scheduler thread
    Generation generation;
    TextSequence sequence;

    Job(int[] prompt, SamplingParams params, List<String> stops, TextSequence.Steering steering, long cacheBytes) {
        this.prompt = prompt;
        this.params = params;
        this.stops = stops;
        this.steering = steering;
        this.cacheBytes = cacheBytes;
    }

    /** Asks the scheduler to drop this sequence at its next step (the client disconnected). */
    void cancel() {
        cancelled = true;
    }

    boolean cancelled() {
        return cancelled;
    }
}
