package dev.nemoh.cli;

import dev.nemoh.server.OpenAiServer;
import dev.nemoh.server.ServedModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serves the model over an OpenAI-compatible HTTP API (chat and text completions, streamed or whole), decoding concurrent requests together (continuous batching).")
final class ServeCommand implements Callable<Integer> {
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
    public Integer call() {
        OpenAiServer.Options options = server.options(host, port, System.getenv(), model);
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
        for (String warning : warnings(host, options.apiKey() != null, options.tls() != null)) System.err.println(warning);
        System.err.printf("serving %s on " + (options.tls() != null ? "https" : "http") + "://%s:%d/v1 (max batch %d, queue %d, max tokens %d, cache memory %d MiB,"
                        + " prefix cache %s, request timeout %d s); Ctrl-C stops%n", id, host, s.port(), server.maxBatch, server.maxQueue,
                server.maxTokens, s.maxCacheBytes() >> 20, options.prefixCacheBytes() == 0 ? "off"
                        : (options.prefixCacheBytes() >> 20) + " MiB every " + options.prefixCacheInterval() + " tokens",
                options.requestTimeout().toSeconds());
        return awaitStop(s, tm, System.err);
    }

    /**
     * What to warn of when listening on {@code host}: an address beyond loopback without an API key lets anyone who
     * reaches the port use the model; with a key but without TLS, the key crosses the network in clear text.
     */
    static java.util.List<String> warnings(String host, boolean keyed, boolean tls) {
        boolean loopback;
        try {
            loopback = java.net.InetAddress.getByName(host).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            loopback = false; // binding fails later, with its own message
        }
        if (loopback) return java.util.List.of();
        if (!keyed) {
            return java.util.List.of("warning: listening on " + host + " without an API key: anyone who can reach this port"
                    + " can use the model; set --api-key or NEMOH_API_KEY (and --ssl-certfile/--ssl-keyfile), or listen on 127.0.0.1");
        }
        if (!tls) {
            return java.util.List.of("warning: listening on " + host + " without TLS: the API key and the texts cross the"
                    + " network in clear text; give --ssl-certfile and --ssl-keyfile, or put a TLS proxy in front");
        }
        return java.util.List.of();
    }

    /**
     * Serves until Ctrl-C (the shutdown hook closes the server, letting running generations finish) or until the
     * server fails for good (an Error such as OutOfMemoryError in its scheduler): then it prints one line, closes
     * the server and returns exit code 1, so that a supervisor (systemd, Kubernetes...) restarts a clean process.
     */
    static int awaitStop(OpenAiServer s, AutoCloseable model, PrintStream err) {
        Thread hook = new Thread(() -> {
            s.close();
            closeQuietly(model);
        });
        Runtime.getRuntime().addShutdownHook(hook);
        Throwable failure;
        try {
            failure = s.failure().get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        } catch (ExecutionException e) {
            failure = e.getCause();
        }
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            return 1; // the JVM is shutting down already: the hook closes everything
        }
        err.println("error: " + OpenAiServer.failureMessage(failure));
        s.close();
        closeQuietly(model);
        return 1;
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            // closing on the way out; nothing more to do
        }
    }
}
