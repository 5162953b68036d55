package dev.nemoh.server;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * A secret a client proves it knows with {@code Authorization: Bearer KEY}. The check takes the same time whatever
 * the guess: both sides are hashed (SHA-256, so the key's length does not show either) and the digests compared
 * with {@link MessageDigest#isEqual}, which looks at every byte.
 */
final class BearerKey {
    private final byte[] digest;

    BearerKey(String key) {
        check("the key", key);
        this.digest = sha256(key);
    }

    /** Refuses a key that a client could not send in a header (empty, or with spaces or control characters). */
    static void check(String option, String key) {
        if (key == null) return;
        if (key.isEmpty()) throw new IllegalArgumentException(option + " is empty; give a key, or leave it out to serve without one");
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (c <= 0x20 || c >= 0x7f) {
                throw new IllegalArgumentException(option + " may hold only visible ASCII characters (no spaces), as an"
                        + " Authorization header carries it; character " + (i + 1) + " is not");
            }
        }
    }

    /** Whether {@code authorization} (the header's value, or null) is {@code Bearer} and this key. */
    boolean accepts(String authorization) {
        if (authorization == null) return false;
        String value = authorization.strip();
        if (value.length() < 7 || !value.regionMatches(true, 0, "Bearer ", 0, 7)) return false;
        return MessageDigest.isEqual(digest, sha256(value.substring(7).strip()));
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
