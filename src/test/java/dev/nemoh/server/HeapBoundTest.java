package dev.nemoh.server;

import dev.nemoh.model.NemotronHModel;
import dev.nemoh.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * On the CPU the caches live in the Java heap: a --max-cache-memory the heap cannot hold is refused at start with one
 * line naming the numbers and the fix, and the default (0: pick) fits the heap.
 */
class HeapBoundTest {
    static OpenAiServer start(NemotronHModel m, long maxCacheBytes) throws Exception {
        return OpenAiServer.start(ServedModel.of("nemoh-tiny", m, Tokenizer.load(TestServer.TINY), TestServer.STOP_TOKENS),
                new OpenAiServer.Options("127.0.0.1", 0, 4, 4, 64, maxCacheBytes, 1 << 16));
    }

    @Test
    void aCacheBoundLargerThanTheHeapIsRefusedAtStart() throws Exception {
        long max = Runtime.getRuntime().maxMemory();
        try (NemotronHModel m = NemotronHModel.load(TestServer.TINY)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> start(m, max).close());
            String line = e.getMessage();
            assertEquals(1, line.lines().count(), line);
            for (String part : new String[] {"--max-cache-memory " + (max >> 20) + " MiB", "max heap " + (max >> 20) + " MiB",
                    "lower --max-cache-memory", "-Xmx", "JAVA_OPTS"}) {
                assertTrue(line.contains(part), part + " in: " + line);
            }
        }
    }

    @Test
    void theDefaultBoundFitsTheHeap() throws Exception {
        long max = Runtime.getRuntime().maxMemory();
        try (NemotronHModel m = NemotronHModel.load(TestServer.TINY); OpenAiServer s = start(m, 0)) {
            long bound = s.maxCacheBytes();
            assertTrue(bound > 0 && bound <= 4096L << 20 && bound <= max * 3 / 4, bound + " bytes of " + max);
            var http = java.net.http.HttpClient.newHttpClient();
            var r = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + s.port() + "/v1/completions"))
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"prompt\": \"hi\", \"max_tokens\": 4}")).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
        }
    }
}
