"""Locust user of bench/bench_pages.py: one page (or the section save), a logged-in session.

Configured by the environment bench_pages sets: BENCH_PATH, BENCH_METHOD (GET|POST),
BENCH_SESSION and BENCH_CSRF (cookies of a logged-in consultant), BENCH_RATE (requests per
second per simulated client; 0 = closed loop, no pause between requests).
"""

import itertools
import os
import random
import time

import gevent
from locust import FastHttpUser, task

PATH = os.environ["BENCH_PATH"]
METHOD = os.environ.get("BENCH_METHOD", "GET")
RATE = float(os.environ.get("BENCH_RATE", "0"))
COOKIES = {"sessionid": os.environ.get("BENCH_SESSION", ""), "csrftoken": os.environ.get("BENCH_CSRF", "")}
SAVE_TEXT = "<div>Tekst zapisany w teście obciążeniowym nr {n}: <strong>wynik</strong> i <em>wniosek</em>.</div>"
# Each save sends a text of its own: an unchanged text is not saved again (no version, no
# rescoring), so a repeated one would measure a read, not a save.
SAVES = itertools.count(1)
# Open loop: the figures the bench reads are this row's, latency counted from the moment the
# request was due (wrk2's way), so a request that waited for the previous answer of its
# client is not measured as fast (coordinated omission).
SCHEDULED = " (from schedule)"


class Consultant(FastHttpUser):
    def wait_time(self) -> float:
        """Open loop at RATE per client, as wrk2 paces a connection: each request is due at a
        fixed point of the client's own schedule, however long the previous answer took.

        Not locust's constant_throughput: it paces every client from the moment the client
        was created, so clients started together send at the same instant of every period
        (85 % of requests less than 20 ms apart, seen here), and the figures measured those
        bursts rather than the rate."""
        if RATE <= 0:
            return 0.0
        self.due += 1 / RATE
        return max(0.0, self.due - time.monotonic())

    def on_start(self) -> None:
        cookie = "; ".join(f"{k}={v}" for k, v in COOKIES.items() if v)
        self.headers = {"Cookie": cookie, "X-CSRFToken": COOKIES["csrftoken"], "Referer": self.host + "/"}
        if PATH.startswith("/projects/") and METHOD == "POST":
            self.headers["HX-Request"] = "true"
        self.due = time.monotonic()
        if RATE > 0:
            # Each client starts at a random point of one period: consultants do not click in lockstep.
            self.due += random.uniform(0, 1 / RATE)
            gevent.sleep(self.due - time.monotonic())

    @task
    def hit(self) -> None:
        due = self.due
        if METHOD == "POST":
            data = {"text": SAVE_TEXT.format(n=next(SAVES)), "overwrite": "1"}
            response = self.client.post(PATH, data=data, headers=self.headers, name=PATH)
        else:
            response = self.client.get(PATH, headers=self.headers, name=PATH)
        if RATE > 0:
            self.environment.events.request.fire(
                request_type=METHOD,
                name=PATH + SCHEDULED,
                response_time=(time.monotonic() - due) * 1000,
                response_length=len(response.content or b""),
                exception=None,  # a failed request is counted once, in the PATH row
                context={},
                response=response,
            )
