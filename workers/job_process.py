"""The supervised child of `opentr worker`: RQ's SimpleWorker on the project's queues (see workers/runner.py)."""

from __future__ import annotations

import logging
import sys

from redis.exceptions import RedisError

from workers.runner import job_worker

log = logging.getLogger("opentr.worker")
EXIT_REDIS_LOST = 3


class OneLineForLostRedis(logging.Filter):
    """RQ logs a lost Redis as a chained traceback; it is a state change, said in one line (the supervisor says
    the rest: waiting, and back again)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], RedisError):
            record.msg = f"{record.getMessage()} ({record.exc_info[1]})"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


def main(argv: list[str]) -> int:
    import os

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("rq.worker").addFilter(OneLineForLostRedis())
    name = argv[0] if argv and argv[0] else None
    if "CUDA_VISIBLE_DEVICES" in os.environ:  # what `opentr worker --gpus` gave this process (workers/gpus.py)
        log.info("job process %s: CUDA_VISIBLE_DEVICES=%s", name or os.getpid(), os.environ["CUDA_VISIBLE_DEVICES"])
    try:
        job_worker(os.environ["REDIS_URL"], name).work(burst=False, with_scheduler=False, logging_level="INFO")
    except RedisError as exc:  # the supervisor waits for Redis and starts a new child
        log.warning("job worker: lost Redis (%s)", exc)
        return EXIT_REDIS_LOST
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
