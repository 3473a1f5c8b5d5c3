"""Answers asked for by a JSON Schema are checked in a sandbox child (structured.py), so a
schema from a user cannot stall the server. The check through the whole socket is in
test_chat_socket.py (test_an_answer_asked_for_by_json_schema_is_checked_against_it)."""

import asyncio
import json

from chatsite.chat.structured import check_json_answer
from tests.server import sandbox_children

# Catastrophic backtracking: Python's re tries 2**40 ways to split the a's before it fails on "!".
BACKTRACKS = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^(a+)+$"}}}
HOSTILE = json.dumps({"name": "a" * 40 + "!"})
NOT_IN_TIME = "Not checked: checking the answer against the schema took longer than 3 s."


def asked_for(schema: dict) -> dict:
    return {"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}}


def test_an_answer_to_a_schema_that_backtracks_for_ever_is_reported_as_not_checked_in_time():
    assert check_json_answer(asked_for(BACKTRACKS), HOSTILE) == NOT_IN_TIME
    assert sandbox_children() == []  # the check was killed, not left running


def test_answers_that_match_the_schema_or_not_are_told_apart_as_before():
    body = asked_for(BACKTRACKS)
    assert check_json_answer(body, '{"name": "aaaa"}') == "valid"
    assert (
        check_json_answer(body, '{"name": "ab"}') == "Does not match the schema at name: 'ab' does not match '^(a+)+$'"
    )
    assert check_json_answer(body, '{"name": 3}') == "Does not match the schema at name: 3 is not of type 'string'"
    assert check_json_answer(body, '{"name": "a"').startswith("Not valid JSON: ")
    assert check_json_answer({"response_format": {"type": "json_object"}}, "[1]") == "Not a JSON object."
    assert check_json_answer({}, "anything") == ""


async def test_other_tasks_keep_running_while_a_backtracking_schema_is_checked():
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        check = await asyncio.to_thread(check_json_answer, asked_for(BACKTRACKS), HOSTILE)
    finally:
        task.cancel()
    assert check == NOT_IN_TIME
    # About 300 ticks in the 3 s; in the server's process (re holding the GIL) there would be
    # none until the match ended, hours later.
    assert ticks >= 50
