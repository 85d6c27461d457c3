"""Every Celery task can be queued: a soft time limit at or above the hard one makes
``.delay()`` raise before anything is sent."""

from smartpay.celery import app


def test_every_task_soft_limit_is_below_its_hard_limit():
    app.loader.import_default_modules()
    checked = 0
    for name, task in app.tasks.items():
        if name.startswith("celery."):
            continue
        hard = task.time_limit or app.conf.task_time_limit
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        if hard and soft:
            assert soft < hard, f"{name}: soft limit {soft} s is not below hard limit {hard} s"
            checked += 1
    assert checked >= 5
