package dev.nemoh.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.config.LoraConfig;
import dev.nemoh.generate.SamplingParams;
import dev.nemoh.generate.TextGenerator;
import dev.nemoh.model.LoraAdapter;
import dev.nemoh.train.AdamW;
import dev.nemoh.train.LoraModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code serve --lora NAME=DIR}: the request's {@code model} picks the adapter, as vLLM does; {@code /v1/models} lists
 * them; an unknown name is a 404 with OpenAI's error body; requests of different adapters (and none) decoded in the
 * same batched steps each get what they would get alone.
 */
class AdapterServingTest {
    @TempDir
    static Path tmp;
    static final Map<String, Path> LORAS = new LinkedHashMap<>();

    /** A LoRA and a DoRA adapter of the bundled model, each trained a step so that they change its output. */
    @BeforeAll
    static void adapters() {
        for (boolean dora : new boolean[] {false, true}) {
            LoraModel m = LoraModel.create(TestServer.TINY, new LoraConfig(4, 8, 0, LoraConfig.MODULES, false, dora, 2));
            int[][] batch = {{5, 17, 42, 7, 99, 3, 250, 1}};
            m.lossAndBackward(batch, batch, 7);
            new AdamW(m.parameters(), 0.9, 0.95, 1e-8, 0).step(0.1);
            String name = dora ? "tiny-dora" : "tiny-lora";
            m.save(tmp.resolve(name));
            LORAS.put(name, tmp.resolve(name));
        }
    }

    @Test
    void modelsListTheAdaptersAndUnknownNamesAre404() throws Exception {
        try (TestServer s = TestServer.start(TestServer.options(4, 4), m -> m, LORAS)) {
            JsonNode data = s.get("/v1/models").json().get("data");
            assertEquals(3, data.size());
            assertEquals("nemoh-tiny", data.get(0).get("id").asText());
            assertTrue(data.get(0).get("parent").isNull());
            assertEquals("tiny-lora", data.get(1).get("id").asText());
            assertEquals("nemoh-tiny", data.get(1).get("parent").asText());
            assertEquals(LORAS.get("tiny-lora").toString(), data.get(1).get("root").asText());
            assertEquals("tiny-dora", data.get(2).get("id").asText());
            assertEquals(200, s.get("/v1/models/tiny-dora").status());

            for (TestServer.Response r : List.of(s.get("/v1/models/nope"),
                    s.post("/v1/completions", "{\"model\": \"nope\", \"prompt\": \"hi\", \"max_tokens\": 2}"),
                    s.post("/v1/chat/completions", "{\"model\": \"nope\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"))) {
                assertEquals(404, r.status(), r.text());
                JsonNode error = r.json().get("error");
                assertEquals("model_not_found", error.get("code").asText());
                assertEquals("model", error.get("param").asText());
                assertTrue(error.get("message").asText().contains("'nemoh-tiny', 'tiny-lora', 'tiny-dora'"), r.text());
            }
        }
    }

    @Test
    void rowsOfDifferentAdaptersInOneStepEachGetWhatTheyWouldGetAlone() throws Exception {
        String[] models = {"nemoh-tiny", "tiny-lora", "tiny-dora", "tiny-lora", null, "tiny-dora"};
        TestServer.Gated[] gate = new TestServer.Gated[1];
        try (TestServer s = TestServer.start(TestServer.options(models.length, models.length),
                m -> gate[0] = new TestServer.Gated(m, 0), LORAS);
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            Map<String, LoraAdapter> adapters = new LinkedHashMap<>();
            LORAS.forEach((name, dir) -> adapters.put(name, s.model.loadAdapter(name, dir)));
            List<Future<TestServer.Response>> answers = new ArrayList<>();
            List<String> expected = new ArrayList<>();
            for (int i = 0; i < models.length; i++) {
                String text = "Client " + i + " says" + " hello".repeat(i % 3);
                int maxTokens = 10 + i;
                ObjectNode body = Json.object().put("prompt", text).put("max_tokens", maxTokens).put("temperature", 0);
                if (models[i] != null) body.put("model", models[i]);
                LoraAdapter adapter = models[i] == null ? null : adapters.get(models[i]);
                expected.add(new TextGenerator(s.model, s.tokenizer, null, adapter).generate(s.tokenizer.encode(text, true),
                        SamplingParams.greedy().withMaxTokens(maxTokens).withStopTokenIds(TestServer.STOP_TOKENS), List.of(),
                        null, piece -> {}).text());
                answers.add(pool.submit(() -> s.post("/v1/completions", body.toString())));
            }
            // the first decode step waits until every request is in (running or queued behind that step), so that all
            // decode together from the next step on; the gate opens whatever happens, or closing the pool would wait
            try {
                TestServer.await("all requests are in", () -> {
                    try {
                        return s.metric("nemoh_active_sequences") + s.metric("nemoh_queue_depth") == models.length;
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                });
            } finally {
                gate[0].open();
            }
            for (int i = 0; i < models.length; i++) {
                TestServer.Response r = answers.get(i).get(30, java.util.concurrent.TimeUnit.SECONDS);
                assertEquals(200, r.status(), r.text());
                assertEquals(models[i] == null ? "nemoh-tiny" : models[i], r.json().get("model").asText());
                assertEquals(expected.get(i), r.json().get("choices").get(0).get("text").asText(), "request " + i + " (" + models[i] + ")");
            }
            assertEquals(models.length, gate[0].maxBatch.get(), "a step took every request, of every adapter");
            // the adapters change the text: the same prompt differs by adapter
            assertNotEquals(expected.get(1), new TextGenerator(s.model, s.tokenizer).generate(s.tokenizer.encode("Client 1 says hello", true),
                    SamplingParams.greedy().withMaxTokens(11).withStopTokenIds(TestServer.STOP_TOKENS), List.of(), null, p -> {}).text());
        }
    }
}
