"""gastown.cli — see docs/architecture.md."""
