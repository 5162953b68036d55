package dev.nemoh.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.MessageDigest;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * --api-key: /v1/* needs {@code Authorization: Bearer KEY} (401 with OpenAI's error body otherwise), /health stays
 * open, /metrics is open unless --metrics-key; the keys are compared in constant time.
 */
class AccessTest {
    static final String KEY = "sk-nemoh-test-0123456789", METRICS_KEY = "metrics-key-42";
    static TestServer s, open;
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @BeforeAll
    static void start() throws Exception {
        s = TestServer.start(TestServer.options(4, 4).withKeys(KEY, METRICS_KEY));
        open = TestServer.start(TestServer.options(4, 4).withKeys(KEY, null));
    }

    @AfterAll
    static void stop() {
        s.close();
        open.close();
    }

    static HttpResponse<String> send(TestServer server, String method, String path, String authorization) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(server.base.resolve(path));
        if (authorization != null) b.header("Authorization", authorization);
        b.method(method, method.equals("POST")
                ? HttpRequest.BodyPublishers.ofString("{\"prompt\": \"hi\", \"max_tokens\": 3}") : HttpRequest.BodyPublishers.noBody());
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static void assertUnauthorized(HttpResponse<String> r) {
        assertEquals(401, r.statusCode(), r.body());
        JsonNode error = Json.parse(r.body().getBytes(java.nio.charset.StandardCharsets.UTF_8)).get("error");
        assertEquals("invalid_request_error", error.get("type").asText());
        assertEquals("invalid_api_key", error.get("code").asText());
        assertTrue(error.get("param").isNull());
        assertTrue(error.get("message").asText().contains("Authorization: Bearer"), r.body());
        assertFalse(r.body().contains(KEY), "the key never shows");
        assertEquals("Bearer", r.headers().firstValue("WWW-Authenticate").orElse(null));
    }

    @Test
    void v1NeedsTheKey() throws Exception {
        assertUnauthorized(send(s, "POST", "/v1/completions", null));
        assertUnauthorized(send(s, "POST", "/v1/completions", "Bearer wrong"));
        assertUnauthorized(send(s, "POST", "/v1/completions", "Bearer " + KEY + "x"));
        assertUnauthorized(send(s, "POST", "/v1/completions", "Basic " + KEY));
        assertUnauthorized(send(s, "POST", "/v1/chat/completions", null));
        assertUnauthorized(send(s, "GET", "/v1/models", null));
        assertUnauthorized(send(s, "GET", "/v1/models/nemoh-tiny", "Bearer " + METRICS_KEY));
        HttpResponse<String> ok = send(s, "POST", "/v1/completions", "Bearer " + KEY);
        assertEquals(200, ok.statusCode(), ok.body());
        assertEquals(200, send(s, "GET", "/v1/models", "Bearer " + KEY).statusCode());
        assertEquals(200, send(s, "GET", "/v1/models", "bearer " + KEY).statusCode(), "the scheme is case-insensitive");
    }

    @Test
    void healthIsOpenAndMetricsNeedTheMetricsKeyWhenOneIsSet() throws Exception {
        assertEquals(200, send(s, "GET", "/health", null).statusCode());
        assertUnauthorized(send(s, "GET", "/metrics", null));
        assertUnauthorized(send(s, "GET", "/metrics", "Bearer " + KEY));
        HttpResponse<String> metrics = send(s, "GET", "/metrics", "Bearer " + METRICS_KEY);
        assertEquals(200, metrics.statusCode());
        assertTrue(metrics.body().contains("nemoh_requests_total"));

        assertEquals(200, send(open, "GET", "/health", null).statusCode());
        assertEquals(200, send(open, "GET", "/metrics", null).statusCode(), "no --metrics-key: /metrics is open");
        assertUnauthorized(send(open, "GET", "/v1/models", null));
    }

    @Test
    void keysAreComparedInConstantTime() {
        BearerKey key = new BearerKey(KEY);
        assertTrue(key.accepts("Bearer " + KEY));
        assertTrue(key.accepts("  Bearer   " + KEY + " "));
        assertFalse(key.accepts(null));
        assertFalse(key.accepts(KEY));
        assertFalse(key.accepts("Bearer " + KEY.substring(1)));
        assertFalse(key.accepts("Bearer"));
        JavaClasses server = new ClassFileImporter()
                .withImportOption(com.tngtech.archunit.core.importer.ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.nemoh.server");
        classes().that().haveFullyQualifiedName(BearerKey.class.getName())
                .should().callMethod(MessageDigest.class, "isEqual", byte[].class, byte[].class).check(server);
        noClasses().that().haveFullyQualifiedName(BearerKey.class.getName())
                .should().callMethod(String.class, "equals", Object.class)
                .orShould().callMethod(String.class, "equalsIgnoreCase", String.class)
                .orShould().callMethod(String.class, "contentEquals", CharSequence.class)
                .orShould().callMethod(java.util.Arrays.class, "equals", byte[].class, byte[].class)
                .check(server);
        // only the server reads the keys from its options, to make BearerKeys of them
        noClasses().that().resideInAPackage("dev.nemoh.server").and().doNotHaveFullyQualifiedName(OpenAiServer.class.getName())
                .and().doNotHaveFullyQualifiedName(OpenAiServer.Options.class.getName())
                .should().callMethod(OpenAiServer.Options.class, "apiKey").orShould().callMethod(OpenAiServer.Options.class, "metricsKey")
                .check(server);
    }

    @Test
    void keysAClientCannotSendAreRefused() {
        for (String bad : new String[] {"", "two words", "tab\tkey", "caf\u00e9"}) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> TestServer.options(1, 1).withKeys(bad, null));
            assertTrue(e.getMessage().startsWith("--api-key (or NEMOH_API_KEY) "), e.getMessage());
        }
        assertNull(TestServer.options(1, 1).apiKey());
    }
}
