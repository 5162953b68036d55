package dev.nemoh.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Iterator;

/**
 * A minimal client of the server's streaming endpoints, for benchmarks and tests: posts a request with
 * {@code stream: true} and gathers the streamed text and the usage the server reports.
 */
public final class CompletionClient {
    /**
     * The streamed text put together, the completion tokens the usage chunk reported, and the finish reason; the
     * prompt tokens and those of them served from the prefix cache; and the nanoseconds from sending the request to
     * the first chunk that carried text or reasoning (time to first token), -1 if none did; and to the chunk that
     * carried the finish reason (with {@code max_tokens} 1, the time to the first token even when it has no text).
     */
    public record Streamed(String text, String reasoning, int completionTokens, String finishReason, int promptTokens,
                           int cachedTokens, long firstTextNanos, long finishNanos) {}

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final URI base;

    public CompletionClient(URI base) {
        this.base = base;
    }

    /**
     * Streams {@code body} (a {@code /v1/completions} or {@code /v1/chat/completions} request; {@code stream} and
     * {@code stream_options.include_usage} are set here) and returns what came back; a non-200 answer or an error
     * event throws with the server's message.
     */
    public Streamed stream(String path, ObjectNode body) throws IOException, InterruptedException {
        ObjectNode request = body.deepCopy();
        request.put("stream", true);
        request.putObject("stream_options").put("include_usage", true);
        HttpRequest post = HttpRequest.newBuilder(base.resolve(path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(Json.bytes(request))).build();
        long sent = System.nanoTime();
        long firstText = -1, finished = -1;
        int promptTokens = -1, cachedTokens = -1;
        HttpResponse<java.util.stream.Stream<String>> response = http.send(post, HttpResponse.BodyHandlers.ofLines());
        if (response.statusCode() != 200) {
            throw new IOException("HTTP " + response.statusCode() + ": " + String.join("\n", response.body().toList()));
        }
        StringBuilder text = new StringBuilder(), reasoning = new StringBuilder();
        int tokens = -1;
        String finish = null;
        boolean done = false;
        for (Iterator<String> it = response.body().iterator(); it.hasNext(); ) {
            String line = it.next();
            if (!line.startsWith("data: ")) continue;
            String data = line.substring("data: ".length());
            if (data.equals("[DONE]")) {
                done = true;
                break;
            }
            JsonNode chunk = Json.parse(data.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            if (chunk.has("error")) throw new IOException("error event: " + chunk.get("error"));
            if (chunk.hasNonNull("usage")) {
                JsonNode usage = chunk.get("usage");
                tokens = usage.get("completion_tokens").asInt();
                promptTokens = usage.get("prompt_tokens").asInt();
                cachedTokens = usage.path("prompt_tokens_details").path("cached_tokens").asInt(-1);
            }
            int before = text.length() + reasoning.length();
            for (JsonNode choice : chunk.path("choices")) {
                JsonNode delta = choice.path("delta");
                text.append(choice.has("text") ? choice.get("text").asText() : delta.path("content").asText(""));
                reasoning.append(delta.path("reasoning_content").asText(""));
                if (choice.hasNonNull("finish_reason")) {
                    finish = choice.get("finish_reason").asText();
                    if (finished < 0) finished = System.nanoTime() - sent;
                }
            }
            if (firstText < 0 && text.length() + reasoning.length() > before) firstText = System.nanoTime() - sent;
        }
        if (!done) throw new IOException("the stream ended without data: [DONE]");
        return new Streamed(text.toString(), reasoning.toString(), tokens, finish, promptTokens, cachedTokens, firstText, finished);
    }
}
