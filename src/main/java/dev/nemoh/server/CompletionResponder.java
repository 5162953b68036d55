package dev.nemoh.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.chat.PyStr;
import dev.nemoh.chat.Reasoning;
import dev.nemoh.generate.Sampler;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Turns one job's events into OpenAI's response shapes: a whole {@code chat.completion} / {@code text_completion}
 * object, or a stream of chunks as server-sent events ending with {@code data: [DONE]}. For chat with a reasoning
 * model the reasoning goes to {@code reasoning_content} (in the message, or in stream deltas), apart from
 * {@code content}, as vLLM reports it.
 */
final class CompletionResponder {
    /** While waiting for tokens, a stream sends an SSE comment this often: a write is how a gone client shows. */
    private static final long KEEP_ALIVE_MILLIS = 1000;

    private final ServedModel served;
    private final CompletionRequest req;
    private final Job job;
    private final Scheduler scheduler;
    private final java.time.Duration timeout;
    private final String id;
    private final long created = System.currentTimeMillis() / 1000;
    /** While streaming with tools: the calls in the reasoning (null without reasoning) and in the answer. */
    private final ToolCallParser reasoningCalls, answerCalls;
    /** Tool calls streamed so far. */
    private int callsSent;

    CompletionResponder(ServedModel served, CompletionRequest req, Job job, Scheduler scheduler, java.time.Duration timeout) {
        this.served = served;
        this.req = req;
        this.job = job;
        this.scheduler = scheduler;
        this.timeout = timeout;
        this.id = (req.chat() ? "chatcmpl-" : "cmpl-") + java.util.UUID.randomUUID().toString().replace("-", "");
        this.answerCalls = req.tools() == null ? null : new ToolCallParser(req.tools());
        this.reasoningCalls = req.tools() == null || !req.splitReasoning() ? null : new ToolCallParser(req.tools());
    }

    /**
     * Waits for the whole generation and returns the response object; throws a 504 {@link ApiException} at the
     * request's deadline (its job is stopped), a 500 if the generation failed.
     */
    ObjectNode whole() throws InterruptedException {
        StringBuilder text = new StringBuilder();
        List<Job.Token> tokens = new ArrayList<>();
        while (true) {
            Job.Event e = next();
            if (e == null) continue;
            switch (e) {
                case Job.Token t -> {
                    text.append(t.text());
                    if (t.logprobs() != null) tokens.add(t);
                }
                case Job.Failed f -> throw new ApiException(500, "server_error", null, null, f.message());
                case Job.TimedOut t -> throw timedOut();
                case Job.Finished f -> {
                    ObjectNode choice = Json.object().put("index", 0);
                    String finish = f.finish().openAiName();
                    if (req.chat()) {
                        ObjectNode message = choice.putObject("message").put("role", "assistant");
                        String reasoning = "", answer = text.toString();
                        if (req.splitReasoning()) {
                            Reasoning.Parts parts = Reasoning.split(answer, req.opensThinking());
                            reasoning = parts.reasoning();
                            answer = parts.answer();
                        }
                        if (req.tools() != null) {
                            // a call inside the reasoning counts too: a model may skip </think> before it
                            ArrayNode calls = Json.MAPPER.createArrayNode();
                            reasoning = PyStr.strip(withoutCalls(reasoning, calls), null);
                            answer = PyStr.strip(withoutCalls(answer, calls), null);
                            if (!calls.isEmpty()) {
                                message.set("tool_calls", calls);
                                if (finish.equals("stop")) finish = "tool_calls";
                            }
                        }
                        if (answer.isEmpty() && message.has("tool_calls")) message.putNull("content");
                        else message.put("content", answer);
                        if (req.splitReasoning()) {
                            if (reasoning.isEmpty()) message.putNull("reasoning_content");
                            else message.put("reasoning_content", reasoning);
                        }
                    } else {
                        choice.put("text", text.toString());
                    }
                    choice.set("logprobs", req.logprobs() < 0 ? null : logprobs(tokens, 0));
                    choice.put("finish_reason", finish);
                    ObjectNode out = envelope(req.chat() ? "chat.completion" : "text_completion");
                    out.putArray("choices").add(choice);
                    out.set("usage", usage(f));
                    return out;
                }
            }
        }
    }

    /** The text of {@code text} with its tool calls taken out and appended to {@code calls} in OpenAI's shape. */
    private String withoutCalls(String text, ArrayNode calls) {
        StringBuilder rest = new StringBuilder();
        for (ToolCallParser.Piece p : new ToolCallParser(req.tools()).parse(text)) {
            switch (p) {
                case ToolCallParser.Text t -> rest.append(t.text());
                case ToolCallParser.Call c -> {
                    ObjectNode call = calls.addObject().put("id", callId()).put("type", "function");
                    call.putObject("function").put("name", c.name()).put("arguments", c.arguments());
                }
            }
        }
        return rest.toString();
    }

    private static String callId() {
        return "call_" + java.util.UUID.randomUUID().toString().replace("-", "").substring(0, 24);
    }

    /**
     * Writes the generation as server-sent events while it runs. A failed write means the client went away: the job
     * is cancelled and the exception passes on. At the request's deadline the job is stopped and the stream ends
     * with an error chunk (a 504's body) and {@code data: [DONE]}.
     */
    void stream(OutputStream out) throws IOException, InterruptedException {
        try {
            streamEvents(out);
        } catch (IOException e) {
            job.cancel(Job.Stop.CLIENT_GONE);
            throw e;
        }
    }

    private void streamEvents(OutputStream out) throws IOException, InterruptedException {
        Reasoning.Splitter splitter = req.splitReasoning() ? new Reasoning.Splitter(req.opensThinking()) : null;
        List<Job.Token> pending = new ArrayList<>();
        int offset = 0;
        if (req.chat()) {
            ObjectNode delta = Json.object().put("role", "assistant").put("content", "");
            send(out, chunk(delta, null, null, null));
        }
        while (true) {
            Job.Event e = next();
            if (e == null) {
                out.write(": keep-alive\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                continue;
            }
            switch (e) {
                case Job.Token t -> {
                    if (t.logprobs() != null) pending.add(t);
                    Reasoning.Splitter.Delta d = splitter != null ? splitter.push(t.text()) : new Reasoning.Splitter.Delta("", t.text());
                    offset = sendSettled(out, d, pending, offset, false);
                }
                case Job.Failed f -> {
                    ObjectNode error = Json.object();
                    error.set("error", OpenAiServer.errorObject(new ApiException(500, "server_error", null, null, f.message())));
                    send(out, error);
                    done(out);
                    return;
                }
                case Job.TimedOut t -> {
                    ObjectNode error = Json.object();
                    error.set("error", OpenAiServer.errorObject(timedOut()));
                    send(out, error);
                    done(out);
                    return;
                }
                case Job.Finished f -> {
                    Reasoning.Splitter.Delta d = splitter != null ? splitter.flush() : new Reasoning.Splitter.Delta("", "");
                    offset = sendSettled(out, d, pending, offset, true);
                    String finish = f.finish().openAiName();
                    if (callsSent > 0 && finish.equals("stop")) finish = "tool_calls";
                    send(out, chunk(req.chat() ? Json.object() : null, "", null, finish));
                    if (req.includeUsage()) {
                        ObjectNode last = envelope(req.chat() ? "chat.completion.chunk" : "text_completion");
                        last.putArray("choices");
                        last.set("usage", usage(f));
                        send(out, last);
                    }
                    done(out);
                    return;
                }
            }
        }
    }

    /**
     * The job's next event; null after a second without one; {@link Job.TimedOut} at the deadline, after stopping
     * the job. Never waits longer: a scheduler that stopped for good without telling this job (it failed while failing
     * the others) shows here as a {@link Job.Failed}.
     */
    private Job.Event next() throws InterruptedException {
        long left = job.timeLeft(System.nanoTime());
        if (left <= 0) {
            job.cancel(Job.Stop.TIMED_OUT);
            return new Job.TimedOut();
        }
        Job.Event e = job.events.poll(Math.min(left, TimeUnit.MILLISECONDS.toNanos(KEEP_ALIVE_MILLIS)), TimeUnit.NANOSECONDS);
        if (e != null) return e;
        Throwable failed = scheduler.failed();
        if (failed != null) {
            e = job.events.poll();
            return e != null ? e : new Job.Failed(Scheduler.failureMessage(failed));
        }
        return null;
    }

    private ApiException timedOut() {
        return new ApiException(504, "server_error", null, "request_timeout", "the request took longer than the server's"
                + " limit of " + timeout.toSeconds() + " s (--request-timeout) and its generation was stopped; ask for fewer"
                + " max_tokens, or retry when the server is less busy");
    }

    /**
     * Sends what the splitter settled; with tools, what the call parsers settle of it: text as text deltas, each call
     * as OpenAI streams one (index, id and name first, then the arguments). At the end, also what they held back
     * and the logprobs of tokens not yet sent.
     */
    private int sendSettled(OutputStream out, Reasoning.Splitter.Delta d, List<Job.Token> tokens, int offset, boolean end)
            throws IOException {
        if (answerCalls == null) {
            if (!d.isEmpty() || (end && !tokens.isEmpty())) offset = sendDelta(out, d.reasoning(), d.answer(), tokens, offset);
            return offset;
        }
        List<ToolCallParser.Piece> reasoning = new ArrayList<>(), answer = new ArrayList<>(answerCalls.push(d.answer()));
        if (reasoningCalls != null) reasoning.addAll(reasoningCalls.push(d.reasoning()));
        if (end) {
            if (reasoningCalls != null) reasoning.addAll(reasoningCalls.flush());
            answer.addAll(answerCalls.flush());
        }
        for (ToolCallParser.Piece p : reasoning) offset = sendPiece(out, p, true, tokens, offset);
        for (ToolCallParser.Piece p : answer) offset = sendPiece(out, p, false, tokens, offset);
        if (end && !tokens.isEmpty()) offset = sendDelta(out, "", "", tokens, offset);
        return offset;
    }

    private int sendPiece(OutputStream out, ToolCallParser.Piece piece, boolean inReasoning, List<Job.Token> tokens, int offset)
            throws IOException {
        switch (piece) {
            case ToolCallParser.Text t -> {
                return sendDelta(out, inReasoning ? t.text() : "", inReasoning ? "" : t.text(), tokens, offset);
            }
            case ToolCallParser.Call c -> {
                int index = callsSent++;
                ObjectNode head = Json.object();
                ObjectNode call = head.putArray("tool_calls").addObject().put("index", index).put("id", callId()).put("type", "function");
                call.putObject("function").put("name", c.name()).put("arguments", "");
                send(out, chunk(head, null, null, null));
                ObjectNode args = Json.object();
                args.putArray("tool_calls").addObject().put("index", index).putObject("function").put("arguments", c.arguments());
                send(out, chunk(args, null, null, null));
                return offset;
            }
        }
    }

    /** Sends the text as one chunk (two for chat when it spans reasoning and answer); returns the new text offset. */
    private int sendDelta(OutputStream out, String reasoning, String answer, List<Job.Token> tokens, int offset)
            throws IOException {
        ObjectNode lp = req.logprobs() < 0 ? null : logprobs(tokens, offset);
        tokens.clear();
        if (req.chat()) {
            if (!reasoning.isEmpty()) {
                send(out, chunk(Json.object().put("reasoning_content", reasoning), null, lp, null));
                lp = null;
            }
            if (!answer.isEmpty() || lp != null) send(out, chunk(Json.object().put("content", answer), null, lp, null));
        } else {
            send(out, chunk(null, answer, lp, null));
        }
        return offset + reasoning.length() + answer.length();
    }

    /** One streamed chunk: chat carries a delta, a completion carries text. */
    private ObjectNode chunk(ObjectNode delta, String text, ObjectNode logprobs, String finishReason) {
        ObjectNode choice = Json.object().put("index", 0);
        if (req.chat()) choice.set("delta", delta);
        else choice.put("text", text);
        choice.set("logprobs", logprobs);
        choice.put("finish_reason", finishReason);
        ObjectNode out = envelope(req.chat() ? "chat.completion.chunk" : "text_completion");
        out.putArray("choices").add(choice);
        return out;
    }

    private ObjectNode envelope(String object) {
        return Json.object().put("id", id).put("object", object).put("created", created).put("model", req.model());
    }

    private static ObjectNode usage(Job.Finished f) {
        ObjectNode usage = Json.object().put("prompt_tokens", f.promptTokens()).put("completion_tokens", f.completionTokens())
                .put("total_tokens", f.promptTokens() + f.completionTokens());
        usage.putObject("prompt_tokens_details").put("cached_tokens", f.cachedTokens());
        return usage;
    }

    /**
     * Chat: {@code {"content": [{token, logprob, bytes, top_logprobs}]}}. Completions: {@code {tokens,
     * token_logprobs, top_logprobs, text_offset}} (offsets count from {@code offset}, in characters).
     */
    private ObjectNode logprobs(List<Job.Token> tokens, int offset) {
        ObjectNode out = Json.object();
        if (req.chat()) {
            ArrayNode content = out.putArray("content");
            for (Job.Token t : tokens) {
                ObjectNode entry = tokenEntry(t.id(), t.logprobs().logprob());
                ArrayNode top = entry.putArray("top_logprobs");
                for (Sampler.TokenLogprob alt : t.logprobs().top()) top.add(tokenEntry(alt.token(), alt.logprob()));
                content.add(entry);
            }
            return out;
        }
        ArrayNode texts = out.putArray("tokens"), lps = out.putArray("token_logprobs");
        ArrayNode tops = out.putArray("top_logprobs"), offsets = out.putArray("text_offset");
        for (Job.Token t : tokens) {
            String s = tokenText(t.id());
            texts.add(s);
            lps.add(t.logprobs().logprob());
            ObjectNode top = Json.object();
            for (Sampler.TokenLogprob alt : t.logprobs().top()) top.put(tokenText(alt.token()), alt.logprob());
            tops.add(top);
            offsets.add(offset);
            offset += s.length();
        }
        return out;
    }

    private ObjectNode tokenEntry(int token, double logprob) {
        String s = tokenText(token);
        ObjectNode e = Json.object().put("token", s).put("logprob", logprob);
        ArrayNode bytes = e.putArray("bytes");
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) bytes.add(b & 0xff);
        return e;
    }

    private String tokenText(int token) {
        return served.tokenizer().decode(new int[] {token}, false);
    }

    private static void send(OutputStream out, ObjectNode data) throws IOException {
        out.write("data: ".getBytes(StandardCharsets.UTF_8));
        out.write(Json.bytes(data));
        out.write("\n\n".getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private static void done(OutputStream out) throws IOException {
        out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        out.flush();
    }
}
