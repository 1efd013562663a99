"""The running daemon's `DaemonView` (daemon.observation): counters, snapshot, health, pause."""
