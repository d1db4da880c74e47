"""Locust user of bench/bench_pages.py: one page (or the section save), a logged-in session.

Configured by the environment bench_pages sets: BENCH_PATH, BENCH_METHOD (GET|POST),
BENCH_SESSION and BENCH_CSRF (cookies of a logged-in consultant), BENCH_RATE (requests per
second per simulated client; 0 = closed loop, no pause between requests).
"""

import os

from locust import FastHttpUser, constant, constant_throughput, task

PATH = os.environ["BENCH_PATH"]
METHOD = os.environ.get("BENCH_METHOD", "GET")
RATE = float(os.environ.get("BENCH_RATE", "0"))
COOKIES = {"sessionid": os.environ.get("BENCH_SESSION", ""), "csrftoken": os.environ.get("BENCH_CSRF", "")}
SAVE_TEXT = "<div>Tekst zapisany w teście obciążeniowym: <strong>wynik</strong> i <em>wniosek</em>.</div>"


class Consultant(FastHttpUser):
    # A fixed rate per client makes the load open-loop enough for the tail figures: a slow
    # answer does not slow down the arrival of the next requests of the other clients.
    wait_time = constant_throughput(RATE) if RATE > 0 else constant(0)

    def on_start(self) -> None:
        cookie = "; ".join(f"{k}={v}" for k, v in COOKIES.items() if v)
        self.headers = {"Cookie": cookie, "X-CSRFToken": COOKIES["csrftoken"], "Referer": self.host + "/"}
        if PATH.startswith("/projects/") and METHOD == "POST":
            self.headers["HX-Request"] = "true"

    @task
    def hit(self) -> None:
        if METHOD == "POST":
            self.client.post(PATH, data={"text": SAVE_TEXT, "overwrite": "1"}, headers=self.headers, name=PATH)
        else:
            self.client.get(PATH, headers=self.headers, name=PATH)
