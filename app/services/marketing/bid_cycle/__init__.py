"""The bid cycle (spec 7.3.1 `run_bid_cycle`), in the order it runs:

- `coordinator.py` — `begin_cycle` (lock, fencing token, accounts) and `finish_cycle` (aggregate,
  close the run, `marketing:last_bid_cycle`, release the lock). PostgreSQL, Redis.
- `account.py` — `run_account`: one account's read → plan → execute; any failure is that
  account's error, never the run's.
- `inputs.py` — what the cycle reads from PostgreSQL: campaigns, keywords, today's and the recent
  window's stats.
- `market.py` — what it reads from the marketplace and the Watcher, and how that becomes the
  engine's typed inputs.
- `planning.py` — `AccountPlanner.plan`: campaign safety, keyword safety, the bid engine. Pure:
  rows in, a plan out.
- `execution.py` — `PlanExecutor.execute`: fence, pauses, intents, `set_bids`, alerts.
- `readback.py` — `confirm_applied`: the read-back after the apply delay; settles interrupted sends.

The tasks (app/tasks/marketing/bid_cycle.py) call `begin_cycle`, `run_account`, `finish_cycle` and
`confirm_applied`; the backtest (app/services/marketing/backtest.py) plans with `planning.py`.
"""
