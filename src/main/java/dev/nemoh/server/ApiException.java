package dev.nemoh.server;

/**
 * A request the server refuses, with what OpenAI's error body carries: the HTTP status, an error type, the request
 * field at fault (or null) and a machine-readable code (or null).
 */
final class ApiException extends RuntimeException {
    final int status;
    final String type;
    final String param;
    final String code;

    ApiException(int status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400: the request itself is wrong; {@code param} names the field. */
    static ApiException invalid(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, null, message);
    }

    static ApiException modelNotFound(String model, java.util.List<String> served) {
        return new ApiException(404, "invalid_request_error", "model", "model_not_found",
                "The model '" + model + "' does not exist; this server serves '" + String.join("', '", served)
                        + "' (see GET /v1/models)");
    }
}
