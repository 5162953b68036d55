package dev.nemoh.archcycle.b;

import dev.nemoh.archcycle.a.Ping;

/** The other half of the deliberate package cycle of {@link Ping}. */
public final class Pong {
    public Ping ping() {
        return new Ping();
    }
}
