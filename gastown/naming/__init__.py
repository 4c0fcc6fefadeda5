"""gastown.naming — see docs/architecture.md."""
