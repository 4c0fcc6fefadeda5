"""gastown.operator — see docs/architecture.md."""
