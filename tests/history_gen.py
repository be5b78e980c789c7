"""Generated product history with a planted signal, written as files a user would import.

Each simulated day, in this order, for every person not yet converted:
  1. converts ("Upgrade Completed") with probability H1 if they have ever sent an invite, else H0;
  2. otherwise sends a first invite ("Invite Sent") with probability G (if not yet invited);
  3. logs in ("Logged In") with probability LOGIN, independent of everything (a null signal).
Events of day d are stamped d days + 1 hour after START, so an as-of at midnight of day t sees days < t.
Because every hazard depends only on the state at the start of the day, the 30-day conversion of a person
who is invited at t is exactly 1-(1-H1)^30, and that of one who is not follows from expected_rates().
"""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

START = 1_700_006_400  # 2023-11-15T00:00:00Z, a midnight
DAY = 86400
G, H0, H1, LOGIN = 0.01, 0.001, 0.01, 0.1


def generate(folder: Path, people: int = 1500, days: int = 120, seed: int = 11) -> tuple[Path, Path]:
    """Write events.jsonl and people.csv under folder; return their paths."""
    rng = random.Random(seed)
    events_path, people_path = folder / "events.jsonl", folder / "people.csv"
    with open(events_path, "w") as out, open(people_path, "w", newline="") as pf:
        writer = csv.writer(pf)
        writer.writerow(["user_id", "plan"])
        for p in range(people):
            user = f"u{p:05d}"
            writer.writerow([user, "free"])
            invited = converted = False
            out.write(_line(user, "Signed Up", START))
            for d in range(days):
                ts = START + d * DAY + 3600
                if converted:
                    break
                if rng.random() < (H1 if invited else H0):
                    out.write(_line(user, "Upgrade Completed", ts))
                    converted = True
                    continue
                if not invited and rng.random() < G:
                    out.write(_line(user, "Invite Sent", ts + 60))
                    invited = True
                if rng.random() < LOGIN:
                    out.write(_line(user, "Logged In", ts + 120))
    return events_path, people_path


def _line(user: str, event: str, ts: int) -> str:
    return json.dumps({"type": "track", "userId": user, "event": event, "timestamp": ts,
                       "messageId": f"{user}-{event}-{ts}"}) + "\n"


def expected_rates(window_days: int = 30) -> tuple[float, float]:
    """(P(convert within the window | invited at t), P(... | not invited at t)), exactly."""
    invited_rate = 1 - (1 - H1) ** window_days
    # not invited: track the probability of being (not converted, not invited) and (not converted, invited).
    p_free, p_inv, converted = 1.0, 0.0, 0.0
    for _ in range(window_days):
        converted += p_free * H0 + p_inv * H1
        p_inv = p_inv * (1 - H1) + p_free * (1 - H0) * G
        p_free = p_free * (1 - H0) * (1 - G)
    return invited_rate, converted
