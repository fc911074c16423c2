"""One beat per broker: failover time, double fires and cost per tick of three locks (issue 10 item 4).

Candidates, each as two real `celery beat` processes started together on the project's Celery app
with one entry every `--period` seconds (bench/beat_app.py):

- `redis_lock`: the project's scheduler (app/core/beat_scheduler.py, `marketing:lock:beat`
  extended on every tick, TTL `--ttl`);
- `redbeat`: celery-redbeat 2.x (`redbeat::lock`, the same TTL as `redbeat_lock_timeout`);
- `pg_advisory`: a PostgreSQL session advisory lock (bench/beat_app.py AdvisoryLockScheduler);
- baseline `no_lock`: Celery's plain Scheduler, which is what two beats did before issue 17.

Per round: both beats start; once the holder has sent for `--hold` seconds it is SIGKILLed, and
the bench waits for the standby's first message. Messages are read off the Redis queue
`bench_beat` (nobody consumes it); the `origin` header names the sending process.

- failover_s: SIGKILL of the holder → the standby's first message (includes up to one period);
- double_fires: messages from the beat that was not holding (before the kill);
- tick_us: one lock round trip as a holder does it per tick (in this process, `--ops` times):
  redis_lock = the Lua extend + heartbeat, redbeat = `Lock.extend`, pg_advisory = `SELECT 1`;
- cpu_ms_per_s: the holder's CPU time per second of holding (whole beat, ticks every BEAT_TICK s).

    python bench/beat_failover.py [--rounds 1] [--period 1] [--ttl 10] [--hold 5] [--ops 2000]
        (REDIS_URL: a Redis database of the bench's own, default redis://127.0.0.1:6379/10 —
         the bench deletes its keys there; DATABASE_URL: a PostgreSQL server, for pg_advisory;
         needs celery-redbeat: pip install -e ".[bench]")

Ends with: RESULT redis_lock_failover_s=... redbeat_failover_s=... pg_advisory_failover_s=...
    ..._double_fires=... ..._tick_us=... ..._cpu_ms_per_s=... no_lock_double_fires=...
(Which one the project uses and why: docs/operations.md "One beat".)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
sys.path[:0] = [str(ROOT), str(BENCH)]

import psycopg  # noqa: E402
import redis  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.core.beat_lock import BeatLock  # noqa: E402
from app.core.config import get_settings  # noqa: E402
from app.core.database import database_url  # noqa: E402

SCHEDULERS = {
    "redis_lock": "app.core.beat_scheduler:LockedScheduler",
    "redbeat": "redbeat.RedBeatScheduler",
    "pg_advisory": "beat_app:AdvisoryLockScheduler",
    "no_lock": "celery.beat:Scheduler",
}
QUEUE = "bench_beat"


@dataclass
class Round:
    failover_s: float
    double_fires: int
    cpu_ms_per_s: float


@dataclass
class Messages:
    client: redis.Redis
    seen: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, sender pid)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            item = self.client.blpop([QUEUE], timeout=0.2)
            if item is None:
                continue
            origin = json.loads(item[1])["headers"]["origin"]  # "gen<pid>@host"
            self.seen.append((time.monotonic(), int(origin.split("@")[0].removeprefix("gen"))))

    def from_pid(self, pid: int, after: float = 0.0, before: float = float("inf")) -> int:
        return sum(1 for at, sender in self.seen if sender == pid and after <= at < before)


def clean(client: redis.Redis) -> None:
    keys = [QUEUE, "marketing:lock:beat", "marketing:beat:last_tick", "marketing:beat:last_run"]
    keys += list(client.scan_iter("bench:redbeat*"))
    client.delete(*keys)


def cpu_seconds(pid: int) -> float:
    """CPU time of all threads of `pid` so far (schedstat: nanoseconds, unlike /proc/PID/stat's ticks)."""
    return (
        sum(int(stat.read_text().split()[0]) for stat in Path(f"/proc/{pid}/task").glob("*/schedstat")) / 1e9
    )


def start_beat(name: str, scheduler: str, workdir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "celery", "-A", "beat_app", "beat", "-S", scheduler]
    argv += [f"--schedule={workdir / name}", "--loglevel=INFO"]
    with (workdir / f"{name}.log").open("ab") as log:
        return subprocess.Popen(argv, cwd=BENCH, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait(condition, timeout: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {log.name}\n{log.read_text()[-1500:]}" for log in sorted(logs.glob("*.log"))
            )
            raise SystemExit(f"error: {what} did not happen within {timeout:.0f} s\n{tails}")
        time.sleep(0.05)


def one_round(candidate: str, args: argparse.Namespace, client: redis.Redis, env: dict[str, str]) -> Round:
    clean(client)
    messages = Messages(client)
    reader = threading.Thread(target=messages.run, daemon=True)
    reader.start()
    with tempfile.TemporaryDirectory(prefix=f"beat-{candidate}-") as folder:
        workdir = Path(folder)
        beats = [start_beat(f"{candidate}-{n}", SCHEDULERS[candidate], workdir, env) for n in "ab"]
        try:
            wait(lambda: bool(messages.seen), 120, f"{candidate}: a first message", workdir)
            holder = messages.seen[0][1]
            standby = next(beat.pid for beat in beats if beat.pid != holder)
            cpu_start, held_from = cpu_seconds(holder), time.monotonic()
            time.sleep(args.hold)
            cpu = (cpu_seconds(holder) - cpu_start) / (time.monotonic() - held_from) * 1000
            killed_at = time.monotonic()
            os.kill(holder, signal.SIGKILL)
            wait(
                lambda: messages.from_pid(standby, after=killed_at) > 0,
                args.ttl * 3 + 60,
                f"{candidate}: the standby's first message",
                workdir,
            )
            first = min(at for at, pid in messages.seen if pid == standby and at >= killed_at)
            return Round(first - killed_at, messages.from_pid(standby, before=killed_at), cpu)
        finally:
            messages.stop.set()
            for beat in beats:
                if beat.poll() is None:
                    beat.send_signal(signal.SIGTERM)
            for beat in beats:
                try:
                    beat.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    beat.kill()
                    beat.wait()
            reader.join()
            clean(client)


def tick_cost_us(candidate: str, client: redis.Redis, ops: int, ttl: int) -> float:
    """One holder's lock round trip per tick, in microseconds (median of `ops`)."""
    timings: list[float] = []
    if candidate == "redis_lock":
        lock = BeatLock(client, ttl)
        assert lock.hold()
        operation = lock.hold
    elif candidate == "redbeat":
        from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT

        redbeat_lock = client.lock("bench:redbeat:lock", timeout=ttl)
        redbeat_lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)
        assert redbeat_lock.acquire(blocking=False)

        def operation() -> object:
            return redbeat_lock.extend(ttl)
    else:
        url = make_url(database_url()).set(drivername="postgresql").render_as_string(hide_password=False)
        connection = psycopg.connect(url, autocommit=True)
        connection.execute("SELECT pg_advisory_lock(7310018)")

        def operation() -> object:
            return connection.execute("SELECT 1").fetchone()

    for _ in range(ops):
        began = time.perf_counter()
        operation()
        timings.append((time.perf_counter() - began) * 1e6)
    if candidate == "pg_advisory":
        connection.close()
    clean(client)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="kill-and-take-over rounds per lock")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between the entry's slots")
    parser.add_argument("--ttl", type=int, default=10, help="lock TTL of redis_lock and redbeat, seconds")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds the holder sends before the kill")
    parser.add_argument("--ops", type=int, default=2000, help="lock round trips timed per lock")
    args = parser.parse_args()
    if args.ttl < 3:
        raise SystemExit("error: --ttl must be at least 3 s (the lock is extended every second)")
    try:
        import redbeat  # noqa: F401
    except ImportError:
        raise SystemExit('error: celery-redbeat is not installed; pip install -e ".[bench]"') from None
    client = redis.Redis.from_url(get_settings().redis_url)
    client.ping()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCH)]),
        "BEAT_LOCK_TTL": str(args.ttl),
        "BEAT_TICK": "1",
        "BENCH_PERIOD": str(args.period),
        "DATABASE_URL": database_url(),
    }
    print(
        f"two beats per lock, an entry every {args.period:g} s, lock TTL {args.ttl} s, {args.rounds} round(s)"
    )
    print(f"{'lock':<12} {'failover s':>10} {'double fires':>12} {'tick us':>8} {'cpu ms/s':>9}")
    results: dict[str, str] = {}
    for candidate in SCHEDULERS:
        rounds = [one_round(candidate, args, client, env) for _ in range(args.rounds)]
        failover = statistics.median(r.failover_s for r in rounds)
        doubles = sum(r.double_fires for r in rounds)
        cpu = statistics.median(r.cpu_ms_per_s for r in rounds)
        tick = tick_cost_us(candidate, client, args.ops, args.ttl) if candidate != "no_lock" else 0.0
        tick_text = f"{tick:8.0f}" if candidate != "no_lock" else f"{'-':>8}"
        print(f"{candidate:<12} {failover:10.2f} {doubles:12d} {tick_text} {cpu:9.2f}", flush=True)
        results[f"{candidate}_failover_s"] = f"{failover:.2f}"
        results[f"{candidate}_double_fires"] = str(doubles)
        if candidate != "no_lock":
            results[f"{candidate}_tick_us"] = f"{tick:.0f}"
        results[f"{candidate}_cpu_ms_per_s"] = f"{cpu:.2f}"
    print("RESULT " + " ".join(f"{name}={value}" for name, value in results.items()))


if __name__ == "__main__":
    main()
