package dev.nemoh.archcycle.a;

import dev.nemoh.archcycle.b.Pong;

/** Half of a deliberate package cycle that {@code ArchitectureTest} must catch; never used by nemoh itself. */
public final class Ping {
    public Pong pong() {
        return new Pong();
    }
}
