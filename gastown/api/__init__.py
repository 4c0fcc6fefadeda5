"""gastown.api — see docs/architecture.md."""
