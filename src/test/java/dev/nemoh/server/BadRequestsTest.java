package dev.nemoh.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Malformed and unservable requests: each must get its 4xx with an OpenAI-style error body
 * ({@code {"error": {"message", "type", "param", "code"}}}), and the server must answer a good request right after.
 */
class BadRequestsTest {
    static TestServer s;
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @BeforeAll
    static void start() throws Exception {
        s = TestServer.start(TestServer.options(4, 16));
    }

    @AfterAll
    static void stop() {
        s.close();
    }

    static final String CHAT = "/v1/chat/completions", TEXT = "/v1/completions";
    static final String MSGS = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";

    static Arguments bad(String name, String path, String body, int status, String param) {
        return Arguments.of(name, "POST", path, body.getBytes(StandardCharsets.UTF_8), status, param);
    }

    static Arguments chat(String name, String fields, String param) {
        return bad(name, CHAT, "{" + MSGS + ", " + fields + "}", 400, param);
    }

    static String ids(int n) {
        return IntStream.range(0, n).mapToObj(i -> "5").reduce((a, b) -> a + "," + b).map(x -> "[" + x + "]").orElse("[]");
    }

    static Stream<Arguments> requests() {
        return Stream.of(
                bad("truncated JSON", CHAT, "{\"messages\": [", 400, null),
                bad("empty body", CHAT, "", 400, null),
                bad("a JSON array", CHAT, "[]", 400, null),
                bad("a JSON string", CHAT, "\"hello\"", 400, null),
                bad("nesting 5000 deep", CHAT, "[".repeat(5000) + "]".repeat(5000), 400, null),
                bad("no messages", CHAT, "{\"model\": \"nemoh-tiny\"}", 400, "messages"),
                bad("messages is a string", CHAT, "{\"messages\": \"hi\"}", 400, "messages"),
                bad("messages is empty", CHAT, "{\"messages\": []}", 400, "messages"),
                bad("a message is a number", CHAT, "{\"messages\": [1]}", 400, "messages[0]"),
                bad("a message without role", CHAT, "{\"messages\": [{\"content\": \"hi\"}]}", 400, "messages[0].role"),
                bad("an unknown role", CHAT, "{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}", 400, "messages[0].role"),
                bad("content is a number", CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400, "messages[0].content"),
                bad("an image part", CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}]}", 400, "messages[0].content"),
                bad("1100 messages", CHAT, "{\"messages\": [" + String.join(",", Collections.nCopies(1100, "{\"role\":\"user\",\"content\":\"a\"}")) + "]}", 400, "messages"),
                bad("unknown model", CHAT, "{\"model\": \"gpt-4o\", " + MSGS + "}", 404, "model"),
                chat("model is a number", "\"model\": 5", "model"),
                chat("max_tokens is a string", "\"max_tokens\": \"ten\"", "max_tokens"),
                chat("max_tokens is 0", "\"max_tokens\": 0", "max_tokens"),
                chat("max_tokens is negative", "\"max_tokens\": -5", "max_tokens"),
                chat("max_tokens beyond the server's limit", "\"max_tokens\": 1000000000", "max_tokens"),
                chat("max_tokens is a fraction", "\"max_tokens\": 1.5", "max_tokens"),
                chat("max_tokens overflows an int", "\"max_tokens\": 99999999999999999999", "max_tokens"),
                chat("temperature is a string", "\"temperature\": \"hot\"", "temperature"),
                chat("temperature above 2", "\"temperature\": 5", "temperature"),
                chat("top_p is 0", "\"top_p\": 0", "top_p"),
                chat("repetition_penalty is 0", "\"repetition_penalty\": 0", "repetition_penalty"),
                chat("top_p above 1", "\"top_p\": 1.5", "top_p"),
                chat("frequency_penalty above 2", "\"frequency_penalty\": 3", "frequency_penalty"),
                chat("n is 2", "\"n\": 2", "n"),
                chat("stop is a number", "\"stop\": 5", "stop"),
                chat("17 stop sequences", "\"stop\": [" + String.join(",", Collections.nCopies(17, "\"x\"")) + "]", "stop"),
                chat("an empty stop sequence", "\"stop\": [\"\"]", "stop"),
                chat("seed is a string", "\"seed\": \"abc\"", "seed"),
                chat("seed is 1e30", "\"seed\": 1e30", "seed"),
                chat("logprobs is a string", "\"logprobs\": \"yes\"", "logprobs"),
                chat("top_logprobs is 50", "\"logprobs\": true, \"top_logprobs\": 50", "top_logprobs"),
                chat("top_logprobs without logprobs", "\"top_logprobs\": 2", "top_logprobs"),
                chat("stream is a string", "\"stream\": \"true\"", "stream"),
                chat("stream_options without stream", "\"stream_options\": {\"include_usage\": true}", "stream_options"),
                chat("a negative thinking budget", "\"thinking_budget\": -1", "thinking_budget"),
                chat("an unknown thinking budget mode", "\"thinking_budget\": 4, \"thinking_budget_mode\": \"sometimes\"", "thinking_budget_mode"),
                bad("a prompt longer than the context", TEXT, "{\"prompt\": " + ids(5000) + "}", 400, "prompt"),
                bad("prompt + max_tokens beyond the context", TEXT, "{\"prompt\": " + ids(4000) + ", \"max_tokens\": 200}", 400, "max_tokens"),
                bad("a token id outside the vocabulary", TEXT, "{\"prompt\": [1, 99999]}", 400, "prompt"),
                bad("several prompts", TEXT, "{\"prompt\": [\"a\", \"b\"]}", 400, "prompt"),
                bad("no prompt", TEXT, "{\"max_tokens\": 5}", 400, "prompt"),
                bad("prompt is an object", TEXT, "{\"prompt\": {\"text\": \"hi\"}}", 400, "prompt"),
                bad("echo", TEXT, "{\"prompt\": \"hi\", \"echo\": true}", 400, "echo"),
                bad("a body over the size bound", TEXT, "{\"prompt\": \"" + "a".repeat(70_000) + "\"}", 413, null),
                bad("no such endpoint", "/v1/embeddings", "{\"input\": \"hi\"}", 404, null),
                Arguments.of("GET on chat completions", "GET", CHAT, new byte[0], 405, null),
                Arguments.of("invalid UTF-8", "POST", TEXT, new byte[] {'{', '"', 'p', '"', ':', '"', (byte) 0xff, (byte) 0xfe, '"', '}'}, 400, null));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("requests")
    void refusedWithAnErrorBodyAndTheServerGoesOn(String name, String method, String path, byte[] body, int status,
                                                  String param) throws Exception {
        HttpRequest.Builder r = HttpRequest.newBuilder(s.base.resolve(path)).header("Content-Type", "application/json");
        r = method.equals("GET") ? r.GET() : r.POST(HttpRequest.BodyPublishers.ofByteArray(body));
        HttpResponse<String> res = HTTP.send(r.build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(status, res.statusCode(), res.body());
        JsonNode error = Json.parse(res.body().getBytes(StandardCharsets.UTF_8)).get("error");
        assertTrue(error != null && error.get("message").isTextual() && !error.get("message").asText().isEmpty(), res.body());
        assertTrue(error.get("type").isTextual(), res.body());
        assertTrue(error.has("param") && error.has("code"), res.body());
        if (param != null) assertEquals(param, error.get("param").asText(), res.body());

        TestServer.Response ok = s.post(TEXT, "{\"prompt\": \"still there?\", \"max_tokens\": 2, \"temperature\": 0}");
        assertEquals(200, ok.status(), ok.text());
        assertEquals(2, ok.json().get("usage").get("completion_tokens").asInt());
    }
}
