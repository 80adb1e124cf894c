"""Notifications to the operator's channels (webhook, Telegram, WeCom, Slack, Discord, email, ...) through
apprise, off the trading path.

    notifier = Notifier(["json://127.0.0.1:8088/hook", "tgram://<bot token>/<chat id>"], events={"signal", "alert"})
    notifier.send("signal", "SOL enter_short_a at z=2.3")      # never blocks, never raises

`send` puts the message on a bounded queue; one worker thread delivers it to every channel. A channel that
is slow, down or refusing costs that thread time, never the event loop: when the queue is full the
message is dropped and counted. Channel URLs carry credentials: they are never logged or shown (only
their scheme is).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("xtb.notify")

EVENTS = ("signal", "fill", "risk", "alert", "operator")


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] + "://…" if "://" in url else "?"


class Notifier:
    def __init__(self, urls: Iterable[str], *, events: Iterable[str] = EVENTS, queue_size: int = 1000,
                 title: str = "xtb") -> None:
        import apprise

        logging.getLogger("apprise").setLevel(logging.ERROR)  # its debug lines show channel URLs
        self.events = frozenset(events)
        unknown = self.events - set(EVENTS)
        if unknown:
            raise ValueError(f"notify.events: unknown {', '.join(sorted(unknown))} (known: {', '.join(EVENTS)})")
        self.title = title
        self._apprise = apprise.Apprise()
        self.channels: list[str] = []
        for i, url in enumerate(urls):
            if not self._apprise.add(url):
                raise ValueError(f"notify.urls[{i}]: not a notification URL apprise knows ({_scheme(url)})")
            self.channels.append(_scheme(url))
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        if self.channels:
            self._thread = threading.Thread(target=self._run, name="xtb-notify", daemon=True)
            self._thread.start()

    def __repr__(self) -> str:
        return f"Notifier({len(self.channels)} channels: {', '.join(self.channels)})"

    def send(self, event: str, text: str) -> bool:
        """Queue a message of kind `event`; False when filtered out, without channels, or dropped."""
        if self._thread is None or event not in self.events:
            return False
        try:
            self._queue.put_nowait((event, text))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            event, text = item
            try:
                ok = bool(self._apprise.notify(body=text, title=f"{self.title}: {event}"))
            except Exception as e:  # a channel plugin bug must not end the worker
                ok = False
                log.warning("notify: %s failed: %s", event, type(e).__name__)
            if ok:
                self.sent += 1
            else:
                self.failed += 1
                log.warning("notify: a %s message was not delivered to every channel", event)

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (up to `timeout_s`), then stop the worker."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            pass
        self._thread.join(timeout_s)
        self._thread = None

    def stats(self) -> dict[str, Any]:
        return {"channels": self.channels, "sent": self.sent, "failed": self.failed, "dropped": self.dropped,
                "queued": self._queue.qsize()}
