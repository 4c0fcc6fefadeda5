"""The long-running processes `gastown-operator` starts: the Temporal worker (and the watcher)."""
