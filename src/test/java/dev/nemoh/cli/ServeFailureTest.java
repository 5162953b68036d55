package dev.nemoh.cli;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.server.OpenAiServer;
import dev.nemoh.server.ServedModel;
import dev.nemoh.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** After a fatal error in the scheduler, {@code serve} prints one line and exits with code 1 (a supervisor restarts it). */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ServeFailureTest {
    /** The tiny model, whose first decode step runs out of heap. */
    record OutOfHeap(NemotronHModel inner) implements LanguageModel {
        public NemotronHConfig config() { return inner.config(); }
        public SequenceState newState() { return inner.newState(); }
        public SequenceState newState(int maxLength) { return inner.newState(maxLength); }
        public float[] forwardLast(int[] ids, SequenceState s) { return inner.forwardLast(ids, s); }
        public float[] decodeBatch(int[] t, SequenceState[] s) { throw new OutOfMemoryError("Java heap space (injected)"); }
        public long cacheBytes(long n) { return inner.cacheBytes(n); }
        public long decodeWeightBytes() { return inner.decodeWeightBytes(); }
        public void close() { inner.close(); }
    }

    @Test
    void serveExitsWithCode1AfterAFatalError() throws Exception {
        Path tiny = Path.of("models/nemoh-tiny");
        LanguageModel model = new OutOfHeap(NemotronHModel.load(tiny));
        OpenAiServer server = OpenAiServer.start(ServedModel.of("nemoh-tiny", model, Tokenizer.load(tiny), List.of(2)),
                new OpenAiServer.Options("127.0.0.1", 0, 4, 4, 64, 1L << 30, 1 << 16));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CompletableFuture<Integer> code = CompletableFuture.supplyAsync(
                () -> ServeCommand.awaitStop(server, model, new PrintStream(err, true)));
        HttpResponse<String> r = HttpClient.newHttpClient().sendAsync(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + server.port() + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"hi\", \"max_tokens\": 8}")).build(),
                HttpResponse.BodyHandlers.ofString()).get(10, TimeUnit.SECONDS);
        assertEquals(500, r.statusCode(), r.body());
        assertEquals(1, code.get(10, TimeUnit.SECONDS));
        String line = err.toString().strip();
        assertEquals(1, line.lines().count(), line);
        assertTrue(line.startsWith("error: ") && line.contains("OutOfMemoryError") && line.contains("-Xmx"), line);
    }
}
