"""gastown-operator: Claude Code agents as Kubernetes pods, each dispatch a durable workflow.

The code folders the project was asked to have at the top level (workflows/, activities/,
operator/, cli/) are this package's subpackages; see docs/architecture.md for why they are
linked in here rather than nested.
"""

__version__ = "0.1.0"
