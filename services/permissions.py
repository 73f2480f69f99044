"""Who may do what in the console: one function every view asks."""

from __future__ import annotations

from enum import StrEnum

from services.handoff import Role


class Permission(StrEnum):
    QUEUE = "queue"  # see the queue and conversations
    CLAIM = "claim"
    WRITE = "write"  # reply (when owning), note
    HANDLE = "handle"  # transfer, requeue, release, resolve, reopen
    ASSIGN = "assign"  # give a conversation to someone, take one over
    SUPERVISE = "supervise"  # the supervisor's view
    MANAGE_AGENTS = "manage_agents"  # the admin page


_GRANTS = {
    Role.AGENT: frozenset({Permission.QUEUE, Permission.CLAIM, Permission.WRITE, Permission.HANDLE}),
    Role.SUPERVISOR: frozenset({Permission.QUEUE, Permission.CLAIM, Permission.WRITE, Permission.HANDLE,
                                Permission.ASSIGN, Permission.SUPERVISE}),
    Role.ADMIN: frozenset(Permission),
}


def allowed(role: Role, permission: Permission) -> bool:
    return permission in _GRANTS[role]
