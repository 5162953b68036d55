package dev.nemoh.server;

import dev.nemoh.NodePackages;
import dev.nemoh.Requirements;
import com.fasterxml.jackson.databind.JsonNode;
import dev.nemoh.chat.ChatTemplate;
import dev.nemoh.chat.Reasoning;
import dev.nemoh.generate.SamplingParams;
import dev.nemoh.generate.TextGenerator;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * OpenAI's own Node client library against the server: a whole and a streamed chat completion on the tiny model, and
 * one with a {@code json_schema} response_format whose answer must validate; and, with the model scripted to call a
 * tool, a completion with tools whole and streamed through the client's own stream helper, and one streamed with
 * {@code tool_choice} naming the function.
 * Runs where {@code node} and {@code npm} are on the PATH (skipped otherwise, failed with {@code -Dnemoh.require=node}); installs the pinned {@code openai}
 * package from the npm registry into {@code target/openai-client} on first use.
 */
class OpenAiNodeClientTest {
    static final String OPENAI_PACKAGE = "openai@6.30.1";
    static final Path CLIENT_DIR = Path.of("target/openai-client");

    @Test
    void officialNodeClientTalksToTheServer() throws Exception {
        Requirements.assumeNode();
        NodePackages.install(CLIENT_DIR, OPENAI_PACKAGE);
        Files.copy(Path.of("src/test/node/openai-client.mjs"), CLIENT_DIR.resolve("openai-client.mjs"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        try (TestServer s = TestServer.start(TestServer.options(4, 16))) {
            ProcessBuilder pb = new ProcessBuilder("node", "openai-client.mjs").directory(CLIENT_DIR.toFile());
            pb.environment().put("NEMOH_BASE_URL", "http://127.0.0.1:" + s.server.port() + "/v1");
            pb.environment().put("NEMOH_MODEL", "nemoh-tiny");
            NodePackages.Result r = NodePackages.run(pb, 60);
            assertEquals(0, r.code(), "node failed:\n" + r.output());
            String lastLine = r.output().strip().substring(r.output().strip().lastIndexOf('\n') + 1);
            JsonNode got = Json.parse(lastLine.getBytes(StandardCharsets.UTF_8));

            assertEquals("nemoh-tiny", got.get("models").get(0).asText());

            var noThink = ChatTemplate.messages("system", "/no_think", "user", "Say something.");
            TextGenerator.Result whole = s.alone(s.chatPrompt(noThink), SamplingParams.greedy().withMaxTokens(16), List.of(), null);
            assertEquals(Reasoning.split(whole.text(), false).answer(), got.get("whole").get("content").asText());
            assertFalse(got.get("whole").get("content").asText().isEmpty());
            assertEquals(whole.finish().openAiName(), got.get("whole").get("finishReason").asText());
            assertEquals(whole.completionTokens(), got.get("whole").get("usage").get("completion_tokens").asInt());

            var think = ChatTemplate.messages("user", "Think, then say something.");
            TextGenerator.Result streamed = s.alone(s.chatPrompt(think), SamplingParams.greedy().withMaxTokens(16), List.of(), null);
            Reasoning.Parts parts = Reasoning.split(streamed.text(), true);
            JsonNode stream = got.get("stream");
            assertEquals(parts.reasoning(), stream.get("reasoning").asText().strip());
            assertEquals(parts.answer(), stream.get("content").asText().strip());
            assertEquals(streamed.finish().openAiName(), stream.get("finishReason").asText());
            assertEquals(streamed.completionTokens(), stream.get("usage").get("completion_tokens").asInt());

            JsonNode structured = got.get("structured");
            assertEquals("stop", structured.get("finishReason").asText());
            JsonNode answer = Json.parse(structured.get("content").asText().getBytes(StandardCharsets.UTF_8));
            assertTrue(StructuredOutputTest.SCHEMAS.getSchema(structured.get("schema")).validate(answer).isEmpty(),
                    structured.toString());
        }
    }

    @Test
    void officialNodeClientReadsToolCalls() throws Exception {
        Requirements.assumeNode();
        NodePackages.install(CLIENT_DIR, OPENAI_PACKAGE);
        Files.copy(Path.of("src/test/node/openai-tools.mjs"), CLIENT_DIR.resolve("openai-tools.mjs"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        TestServer.Scripted[] script = new TestServer.Scripted[1];
        try (TestServer s = TestServer.start(TestServer.options(4, 16), m -> script[0] = new TestServer.Scripted(m))) {
            script[0].writes(s.tokenizer, "Looking it up.</think>Let me check.\n"
                    + "<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]</TOOLCALL>");
            ProcessBuilder pb = new ProcessBuilder("node", "openai-tools.mjs").directory(CLIENT_DIR.toFile());
            pb.environment().put("NEMOH_BASE_URL", "http://127.0.0.1:" + s.server.port() + "/v1");
            pb.environment().put("NEMOH_MODEL", "nemoh-tiny");
            NodePackages.Result r = NodePackages.run(pb, 60);
            assertEquals(0, r.code(), "node failed:\n" + r.output());
            String lastLine = r.output().strip().substring(r.output().strip().lastIndexOf('\n') + 1);
            JsonNode got = Json.parse(lastLine.getBytes(StandardCharsets.UTF_8));
            for (String way : List.of("whole", "streamed")) {
                JsonNode answer = got.get(way);
                assertEquals("tool_calls", answer.get("finishReason").asText(), way);
                assertEquals("Let me check.", answer.get("content").asText().strip(), way);
                JsonNode call = answer.get("toolCalls").get(0);
                assertEquals(1, answer.get("toolCalls").size(), way);
                assertTrue(call.get("id").asText().startsWith("call_"), way);
                assertEquals("function", call.get("type").asText(), way);
                assertEquals("get_weather", call.at("/function/name").asText(), way);
                assertEquals("{\"city\":\"Paris\"}", call.at("/function/arguments").asText(), way);
            }
            assertEquals(2, got.at("/streamed/deltas").asInt(), "a call streams as a name delta, then an arguments delta");
            // named: the mask overrides the script after the reasoning, and the call still names the function
            JsonNode forced = got.get("forced");
            assertEquals("tool_calls", forced.get("finishReason").asText(), forced.toString());
            assertEquals(1, forced.get("toolCalls").size(), forced.toString());
            assertEquals("get_weather", forced.at("/toolCalls/0/function/name").asText());
            JsonNode args = Json.parse(forced.at("/toolCalls/0/function/arguments").asText().getBytes(StandardCharsets.UTF_8));
            assertTrue(args.get("city").isTextual() && args.size() == 1, args.toString());
        }
    }
}
