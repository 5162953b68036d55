package dev.nemoh.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import dev.nemoh.generate.SchemaGenerator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * response_format through the server with the random-weight tiny model, sampling at temperature 1: every answer
 * validates against its schema (networknt's validator, draft 2020-12) and ends with finish_reason "stop".
 */
class StructuredOutputTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final JsonSchemaFactory SCHEMAS = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012);
    static TestServer s;

    @BeforeAll
    static void start() throws Exception {
        s = TestServer.start(TestServer.options(4, 64));
    }

    @AfterAll
    static void stop() {
        s.server.close();
    }

    static ObjectNode chat(String system, Object responseFormat, int maxTokens, long seed) {
        ObjectNode body = JSON.createObjectNode();
        var messages = body.putArray("messages");
        if (system != null) messages.addObject().put("role", "system").put("content", system);
        messages.addObject().put("role", "user").put("content", "Answer in JSON.");
        body.set("response_format", JSON.valueToTree(responseFormat));
        body.put("max_tokens", maxTokens).put("temperature", 1.0).put("seed", seed);
        return body;
    }

    static Map<String, Object> jsonSchema(Object schema) {
        return Map.of("type", "json_schema", "json_schema", Map.of("name", "answer", "schema", schema, "strict", true));
    }

    @Test
    void fiftyGeneratedSchemasAllValidate() throws Exception {
        Set<String> answers = new HashSet<>();
        int tokens = 0;
        for (int i = 0; i < 50; i++) {
            Map<String, Object> schema = SchemaGenerator.schema(new SplittableRandom(1000 + i));
            JsonNode r = validAnswer(chat("/no_think", jsonSchema(schema), 256, i), schema);
            answers.add(r.get("choices").get(0).get("message").get("content").asText());
            tokens += r.get("usage").get("completion_tokens").asInt();
        }
        assertTrue(answers.size() >= 45, "sampled answers vary: " + answers.size() + " distinct");
        assertTrue(tokens > 50 * 20, "answers are more than the shortest JSON: " + tokens + " tokens in all");
    }

    @Test
    void jsonObjectModeStreamedAndWhole() throws Exception {
        for (int i = 0; i < 5; i++) {
            TestServer.Response r = s.post("v1/chat/completions", chat("/no_think", Map.of("type", "json_object"), 64, i).toString());
            assertEquals(200, r.status(), r.text());
            JsonNode choice = r.json().get("choices").get(0);
            assertEquals("stop", choice.get("finish_reason").asText());
            assertTrue(JSON.readTree(choice.get("message").get("content").asText()).isObject(), r.text());
        }
        ObjectNode body = chat("/no_think", Map.of("type", "json_object"), 40, 9);
        body.put("stream", true);
        TestServer.Response r = s.post("v1/chat/completions", body.toString());
        StringBuilder content = new StringBuilder();
        String finish = null;
        for (String line : r.text().split("\n")) {
            if (!line.startsWith("data: {")) continue;
            JsonNode c = JSON.readTree(line.substring(6)).get("choices").get(0);
            if (c.get("delta").hasNonNull("content")) content.append(c.get("delta").get("content").asText());
            if (c.hasNonNull("finish_reason")) finish = c.get("finish_reason").asText();
        }
        assertEquals("stop", finish);
        assertTrue(JSON.readTree(content.toString()).isObject(), content.toString());

        // /v1/completions takes it too
        r = s.post("v1/completions", "{\"prompt\": \"Once\", \"max_tokens\": 40, \"temperature\": 1, \"seed\": 2,"
                + " \"response_format\": {\"type\": \"json_object\"}}");
        assertEquals(200, r.status(), r.text());
        assertEquals("stop", r.json().get("choices").get(0).get("finish_reason").asText(), r.text());
        assertTrue(JSON.readTree(r.json().get("choices").get(0).get("text").asText()).isObject(), r.text());
    }

    /** A thinking prompt: reasoning comes first, unconstrained, and the JSON after it still closes in time. */
    @Test
    void reasoningThenJson() throws Exception {
        Map<String, Object> schema = Map.of("type", "object", "properties", Map.of("answer", Map.of("type", "string")),
                "required", List.of("answer"));
        for (int maxTokens : new int[] {15, 30, 120}) {
            JsonNode r = validAnswer(chat("/think", jsonSchema(schema), maxTokens, 3), schema);
            assertTrue(r.get("choices").get(0).get("message").has("reasoning_content"), r.toString());
        }
        // a thinking budget closes the reasoning with the tag alone, and the JSON follows
        for (String mode : new String[] {"strict", "newline"}) {
            ObjectNode body = chat("/think", jsonSchema(schema), 60, 4);
            body.put("thinking_budget", 3).put("thinking_budget_mode", mode);
            validAnswer(body, schema);
        }
    }

    /** Posts a chat completion and checks that it finished with stop and that its content validates; returns the body. */
    private static JsonNode validAnswer(ObjectNode body, Object schema) throws Exception {
        TestServer.Response r = s.post("v1/chat/completions", body.toString());
        assertEquals(200, r.status(), r.text());
        JsonNode choice = r.json().get("choices").get(0);
        assertEquals("stop", choice.get("finish_reason").asText(), r.text());
        String content = choice.get("message").get("content").asText();
        Set<ValidationMessage> errors = SCHEMAS.getSchema(JSON.valueToTree(schema)).validate(JSON.readTree(content));
        assertTrue(errors.isEmpty(), "schema " + JSON.writeValueAsString(schema) + "\nanswer " + content + "\n" + errors);
        return r.json();
    }

    @Test
    void badFormatsAreRefusedWithTheReason() throws Exception {
        Map<String, Object> minimum = Map.of("type", "object", "properties", Map.of("n", Map.of("type", "integer", "minimum", 0)));
        expect400(chat(null, jsonSchema(minimum), 64, 1), "'minimum'", "response_format.json_schema.schema");
        expect400(chat(null, Map.of("type", "xml"), 64, 1), "json_schema", "response_format.type");
        expect400(chat(null, Map.of("type", "json_schema"), 64, 1), "json_schema must be an object", "response_format.json_schema");
        expect400(chat(null, Map.of("type", "json_schema", "json_schema", Map.of("name", "x")), 64, 1), "schema is required",
                "response_format.json_schema.schema");
        expect400(chat(null, Map.of("type", "json_object", "schema", Map.of()), 64, 1), "not a field", "response_format.schema");
        Map<String, Object> big = Map.of("type", "object", "properties", Map.of("a", Map.of("type", "array", "items",
                Map.of("type", "string"), "minItems", 40)), "required", List.of("a"));
        expect400(chat(null, jsonSchema(big), 64, 1), "shortest answer", "max_tokens");
        ObjectNode withStop = chat(null, Map.of("type", "json_object"), 64, 1);
        withStop.put("stop", "}");
        expect400(withStop, "stop cannot be combined", "stop");
        ObjectNode noEos = chat(null, Map.of("type", "json_object"), 64, 1);
        noEos.put("ignore_eos", true);
        expect400(noEos, "end-of-sequence", "response_format");
        // text is no constraint at all
        TestServer.Response r = s.post("v1/chat/completions", chat(null, Map.of("type", "text"), 4, 1).toString());
        assertEquals(200, r.status(), r.text());
    }

    private static void expect400(ObjectNode body, String says, String param) throws Exception {
        TestServer.Response r = s.post("v1/chat/completions", body.toString());
        assertEquals(400, r.status(), r.text());
        JsonNode error = r.json().get("error");
        assertTrue(error.get("message").asText().contains(says), r.text());
        assertEquals(param, error.get("param").asText(), r.text());
        assertEquals("invalid_request_error", error.get("type").asText());
    }
}
