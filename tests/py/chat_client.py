"""A chat client nobody at netdojo wrote the library for: Python's
`websockets` (sync API) joins, says, receives, gets acks and resumes
against `netdojo ws serve`. Prints one JSON summary; exits 1 on a mismatch.

usage: python3 chat_client.py ws://127.0.0.1:PORT/ws
"""

import contextlib
import json
import sys

from websockets.sync.client import connect


def events(ws):
    while True:
        yield json.loads(ws.recv(timeout=10))


def until(ws, want):
    for e in events(ws):
        if want(e):
            return e


def emit(ws, **event):
    ws.send(json.dumps(event))


def check(cond, what):
    if not cond:
        print(f"mismatch: {what}", file=sys.stderr)
        sys.exit(1)


CONNECTIONS = contextlib.ExitStack()


def hello(url, name, resume=None):
    ws = CONNECTIONS.enter_context(connect(url, open_timeout=10))
    event = {"name": name}
    if resume is not None:
        event["resume"] = resume
    emit(ws, type="hello", **event)
    welcome = until(ws, lambda e: e["type"] in ("welcome", "error"))
    check(welcome["type"] == "welcome", f"welcome for {name}: {welcome}")
    return ws, welcome


def main(url):
    ada, welcome = hello(url, "py-ada")
    emit(ada, type="join", room="lobby")
    until(ada, lambda e: e["type"] == "presence" and e["name"] == "py-ada")
    bob, _ = hello(url, "py-bob")
    emit(bob, type="join", room="lobby")
    until(bob, lambda e: e["type"] == "presence" and e["name"] == "py-bob")

    emit(ada, type="say", room="lobby", text="héllo from Python", ack=1)
    own = until(ada, lambda e: e["type"] == "message")
    ack = until(ada, lambda e: e["type"] == "ack")
    check(ack == {"type": "ack", "ack": 1, "id": own["id"]}, f"ack {ack}")
    heard = until(bob, lambda e: e["type"] == "message")
    check(heard["text"] == "héllo from Python", f"bob heard {heard}")
    last = heard["id"]
    bob.close()

    for i in range(3):
        emit(ada, type="say", room="lobby", text=f"while bob was away {i}", ack=10 + i)
        until(ada, lambda e, i=i: e["type"] == "ack" and e["ack"] == 10 + i)

    bob, _ = hello(url, "py-bob", resume={"lobby": last})
    resumed = until(bob, lambda e: e["type"] == "resumed")
    replayed = [until(bob, lambda e: e["type"] == "message") for _ in range(resumed["replayed"])]
    check(resumed["lost"] == 0, f"resumed {resumed}")
    check(all(m.get("replayed") for m in replayed), f"replayed flags {replayed}")
    texts = [m["text"] for m in replayed]
    check(texts == [f"while bob was away {i}" for i in range(3)], f"replayed {texts}")
    ada.close()
    bob.close()
    print(json.dumps({
        "history": welcome["history"],
        "acked_id": ack["id"],
        "resumed_after": resumed["after"],
        "replayed": texts,
    }))


if __name__ == "__main__":
    with CONNECTIONS:
        main(sys.argv[1])
