"""Admission plugins of the sandbox's API server (Pod Security, quotas, owner references).

Each module mirrors one upstream plugin: it decides on an object the way the real one does and
words its refusals the same way, so a pod that the sandbox admits is one a cluster admits.
"""
