"""Polecat names: themed pools, reserved roles, collision-free allocation."""

from gastown.naming.allocate import NamingError, allocate, check_name
from gastown.naming.pools import POOLS, RESERVED

__all__ = ["POOLS", "RESERVED", "NamingError", "allocate", "check_name"]
