"""`make bench`: run every bench/bench_*.py against one server and print one table."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402


def main() -> int:
    modules = [importlib.import_module(p.stem) for p in sorted(HERE.glob("bench_*.py"))]
    with harness.temporary_data_dir() as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        print("preparing database ...", file=sys.stderr, flush=True)
        env = harness.prepare(data_dir)
        for module in modules:
            if hasattr(module, "setup"):
                print(f"seeding for {module.__name__} ...", file=sys.stderr, flush=True)
                module.setup(env)
        cookies = harness.login_cookie(env)
        with harness.running_server(env) as base_url:
            ctx = harness.Context(base_url=base_url, env=env, user_cookies=cookies)
            cases = [case for module in modules for case in module.cases(ctx)]
            results = []
            for number, case in enumerate(cases, 1):
                print(f"[{number}/{len(cases)}] {case.name} ...", file=sys.stderr, flush=True)
                results.append(harness.measure(base_url, case))
        database = env.get("DATABASE_URL", "sqlite (embedded)").split("@")[-1]
        print(
            f"\nSmartPay benchmarks — database: {database}; "
            f"server: uvicorn, 1 process; {time.perf_counter() - started:.0f} s\n"
        )
        harness.print_table(results, baseline=results[0])
        return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
