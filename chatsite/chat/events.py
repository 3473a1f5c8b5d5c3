"""The channel layer's vocabulary: group names and the types of the events sent through them.

Group names travel through the layer (and Redis): they carry ids, never a secret.
"""

import hashlib

# Group events a socket turns into frames (consumers.py: "chat.delta" -> a "delta" frame).
DELTA = "chat.delta"
SNAPSHOT = "chat.snapshot"
DONE = "chat.done"
MESSAGE = "chat.message"
TRUNCATED = "chat.truncated"
CONVERSATION = "chat.conversation"
# A new turn's TRUNCATED, MESSAGE and CONVERSATION events, in order, as one (payloads.turn_event).
TURN = "chat.turn"
# To a generation, wherever it runs.
STOP = "gen.stop"
RESYNC = "gen.resync"
# To a user's sockets: what is left of their budgets (after an answer).
BUDGET = "user.budget"
# To a socket: close it (logged out, deactivated, password changed) or the server restarts.
LOGOUT = "user.logout"
RESTART = "server.restart"


def conversation_group(code) -> str:
    """Every socket showing the conversation: its deltas, messages and ends."""
    return f"conv-{str(code).replace('-', '')}"


def control_group(code) -> str:
    """The generation answering in the conversation (at most one): stop and resync."""
    return f"ctl-{str(code).replace('-', '')}"


def user_group(user_id: int) -> str:
    """Every socket of a user."""
    return f"user-{user_id}"


def session_group(session_key: str) -> str:
    """Every socket of one login session (never the session key itself: a hash of it)."""
    return "session-" + hashlib.sha256(session_key.encode()).hexdigest()[:32]
