"""gastown.config — see docs/architecture.md."""
