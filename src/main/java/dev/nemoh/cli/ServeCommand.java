package dev.nemoh.cli;

import dev.nemoh.server.OpenAiServer;
import dev.nemoh.server.ServedModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.util.concurrent.CountDownLatch;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serves the model over an OpenAI-compatible HTTP API (chat and text completions, streamed or whole), decoding concurrent requests together (continuous batching).")
final class ServeCommand implements Runnable {
    @Mixin
    ModelOption model;

    @Mixin
    ServerOptions server;

    @Option(names = "--host", defaultValue = "127.0.0.1", paramLabel = "ADDR", description = "Address to listen on (default ${DEFAULT-VALUE}; 0.0.0.0 for all).")
    String host;

    @Option(names = "--port", defaultValue = "8080", paramLabel = "N", description = "Port to listen on; 0 picks a free one (default ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--served-model-name", paramLabel = "NAME", description = "Model id clients use (default: the model directory's name).")
    String name;

    @Override
    public void run() {
        OpenAiServer.Options options = server.options(host, port);
        TextModel tm = TextModel.open(model);
        String id = name != null ? name : model.resolve().toAbsolutePath().normalize().getFileName().toString();
        OpenAiServer s;
        try {
            s = OpenAiServer.start(ServedModel.of(id, tm.model(), tm.tokenizer(), tm.stopTokens()), options);
        } catch (IOException e) {
            tm.close();
            throw new IllegalArgumentException("cannot listen on " + host + ":" + port + " (" + e.getMessage()
                    + "); pick another --port or --host");
        } catch (RuntimeException e) {
            tm.close();
            throw e;
        }
        System.err.printf("serving %s on http://%s:%d/v1 (max batch %d, queue %d, max tokens %d); Ctrl-C stops%n",
                id, host, s.port(), server.maxBatch, server.maxQueue, server.maxTokens);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            s.close();
            tm.close();
            stopped.countDown();
        }));
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
