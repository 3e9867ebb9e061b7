"""A labelled set of chat requests for the complexity router: the tier each should get.

Three tiers, cheapest first: ``small`` (chit-chat, facts, short rewrites), ``medium``
(ordinary code, explanations, arithmetic, anything needing tools or a JSON schema, which
the small tier cannot do), ``large`` (multi-step reasoning, design, proofs, long code).
The same set is the sample workload whose savings docs/routing.md reports.
"""

from __future__ import annotations

from typing import Any

WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CONTACT_SCHEMA: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "contact",
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
        },
    },
}


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


_LONG_CODE = "\n".join(
    f"def handler_{i}(event, context):\n    record = event['records'][{i}]\n"
    f"    if record.get('status') == 'failed':\n        retry(record, attempts={i % 3 + 1})\n"
    f"    return transform(record)\n"
    for i in range(40)
)

SMALL: list[dict[str, Any]] = [
    user("Hi! How are you today?"),
    user("What is the capital of France?"),
    user("Translate 'good morning' into Spanish."),
    user("Give me a synonym for 'happy'."),
    user("What year did the Berlin Wall fall?"),
    user("Is a tomato a fruit or a vegetable?"),
    user("Write a one-line birthday greeting for my colleague Sam."),
    user(
        "Classify the sentiment of this review as positive or negative: "
        "'The food was cold and the waiter was rude.'"
    ),
    user("Fix the spelling: 'recieve the pakage tommorow'"),
    user("What does HTTP stand for?"),
    user(
        "Summarize in one sentence: the meeting moved from Tuesday to Thursday because "
        "the client asked for more time to review the proposal."
    ),
    user(
        "Draft a short, polite email telling a customer their order is delayed by two "
        "weeks and offering a 10% discount."
    ),
    {
        "messages": [
            {"role": "system", "content": "You are a friendly assistant for a bakery."},
            {"role": "user", "content": "Do you have gluten-free bread?"},
            {"role": "assistant", "content": "Yes, we bake it every morning."},
            {"role": "user", "content": "Great, what time do you open?"},
        ]
    },
]

MEDIUM: list[dict[str, Any]] = [
    user("Write a Python function that checks whether a string is a palindrome."),
    user("Compare Python lists and tuples, and say when to use each."),
    user(
        "Write a SQL query that returns the ten customers with the highest total order "
        "value last month."
    ),
    user(
        "Debug this JavaScript, it prints NaN:\n```js\n"
        "const total = items.reduce((a, b) => a + b.price);\n"
        "console.log(total.toFixed(2));\n```"
    ),
    user("Explain the difference between a process and a thread, with an example in C++."),
    user("What is the probability of getting exactly two heads in three fair coin tosses?"),
    user("Solve for x: 3x^2 - 12 = 0, and show your working."),
    user("What's the weather like in Paris right now?", tools=[WEATHER_TOOL]),
    user(
        "Extract the contact from this signature: Jane Doe, Head of Sales, jane@example.com",
        response_format=CONTACT_SCHEMA,
    ),
    user("Explain in detail how a TCP three-way handshake works and why it needs three steps."),
]

LARGE: list[dict[str, Any]] = [
    user(
        "Design a distributed rate limiter for a multi-region API gateway. Compare token "
        "bucket and sliding window approaches, analyze the trade-offs in consistency and "
        "latency, and propose a migration plan from our single Redis node. Think step by step."
    ),
    user(
        "Prove that the square root of 2 is irrational, then generalize the proof to any prime p."
    ),
    user(
        "Refactor this module into a class with dependency injection, add unit tests, and "
        "explain each design decision:\n```python\n" + _LONG_CODE + "```"
    ),
    user(
        "Our checkout service's p99 latency tripled after the last deploy. Here is what "
        "changed:\n1. We moved sessions from Redis to PostgreSQL.\n2. We added a fraud "
        "check call.\n3. We upgraded the ORM.\n4. We doubled the worker count.\nAnalyze the "
        "likely root cause, explain why, and give a step-by-step plan to confirm it."
    ),
    user(
        "Derive the closed form of the sum of the first n squares, prove it by induction, "
        "and then evaluate the integral of x^2 from 0 to n to compare the two results."
    ),
    user(
        "Write a comprehensive strategy for migrating a monolithic Django app to "
        "microservices: evaluate which boundaries to cut first, the data migration plan, "
        "the rollback strategy, and the trade-offs for a team of six."
    ),
    user(
        "Implement a thread-safe LRU cache in Rust with O(1) get and put, explain the "
        "ownership design, compare it with a lock-free approach, and analyze its complexity."
    ),
]

LABELLED: list[tuple[str, dict[str, Any]]] = [
    *(("small", body) for body in SMALL),
    *(("medium", body) for body in MEDIUM),
    *(("large", body) for body in LARGE),
]
