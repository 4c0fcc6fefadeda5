"""gastown.activities — see docs/architecture.md."""
