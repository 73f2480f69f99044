"""Who may do what in the console: one function every view asks."""

from __future__ import annotations

from enum import StrEnum

from services.handoff import Role, TicketStatus


class Permission(StrEnum):
    QUEUE = "queue"  # see the queue and conversations
    CLAIM = "claim"
    WRITE = "write"  # reply (when owning), note
    HANDLE = "handle"  # transfer, requeue, release, resolve, reopen
    ASSIGN = "assign"  # give a conversation to someone, take one over
    SUPERVISE = "supervise"  # the supervisor's view
    MANAGE_AGENTS = "manage_agents"  # the admin page
    REPORTS = "reports"  # service reports, charts and their CSV exports (§6)


_GRANTS = {
    Role.AGENT: frozenset({Permission.QUEUE, Permission.CLAIM, Permission.WRITE, Permission.HANDLE}),
    Role.SUPERVISOR: frozenset({Permission.QUEUE, Permission.CLAIM, Permission.WRITE, Permission.HANDLE,
                                Permission.ASSIGN, Permission.SUPERVISE, Permission.REPORTS}),
    Role.ADMIN: frozenset(Permission),
}


def allowed(role: Role, permission: Permission) -> bool:
    return permission in _GRANTS[role]


def may_open(role: Role, agent_id: int, status: TicketStatus | None, owner_id: int | None, handled_before: bool) -> bool:
    """Whether an agent may see and act on a conversation. Supervisors and admins: all. An `agent`:
    one waiting in the queue (any team's: anyone may claim it), one assigned to them, or one whose
    ticket they held and resolved (to reopen it); not a colleague's, nor one only with the bot."""
    if role is not Role.AGENT:
        return True
    if status is TicketStatus.QUEUED:
        return True
    if status is TicketStatus.ASSIGNED:
        return owner_id == agent_id
    return handled_before
