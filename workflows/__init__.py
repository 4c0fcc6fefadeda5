"""gastown.workflows — see docs/architecture.md."""
