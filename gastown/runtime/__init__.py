"""The polecat runtime: `gt-polecat`, the program inside a polecat pod (see docs/runtime.md).

Imports stay light (standard library and pydantic) so the image is small and the workflow side
can import `gastown.runtime.result` to parse what a pod reports.
"""
