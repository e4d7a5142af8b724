"""An analysis process that dies (SIGKILLed by an operator, chosen by the out-of-memory killer)
loses no delivery: its job runs again in a new process, and the log says in one line which
process ended and how, without a traceback."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pool_jobs
import pytest
from app_fixtures import Bot
from fake_github import REPO, UNSAFE_WORKFLOW, FakeGitHub, pull_request_payload
from processes import ended
from test_app_analysis_processes import NEW_HEAD, WORKFLOW, open_pull, pool_of

import bot.app.check_output as app_check_output
from bot.app import process_pool
from bot.app.log_format import DeliveryField
from bot.app.process_pool import ProcessPool
from bot.app.server import SERVICE
from bot.app.workflows import run_engine


class Jobs:
    """What the server sends its analysis processes, seen (and replaced) on the way."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pids: dict[str, list[int]] = {}
        self.sent_to: list[int] = []  # every job's process, in order
        self.replaced: dict[Callable[..., Any], tuple[Callable[..., Any], tuple[Any, ...], int]]
        self.replaced = {}
        call = process_pool._Worker.call

        async def spy(
            worker: Any, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            self.pids.setdefault(fn.__name__, []).append(worker.process.pid)
            self.sent_to.append(worker.process.pid)
            if fn in self.replaced:
                job, job_args, times = self.replaced[fn]
                if times > 0:
                    self.replaced[fn] = (job, job_args, times - 1)
                    return await call(worker, job, job_args, {})
            return await call(worker, fn, args, kwargs)

        monkeypatch.setattr(process_pool._Worker, "call", spy)

    def replace(
        self, fn: Callable[..., Any], job: Callable[..., Any], *args: Any, times: int = 1
    ) -> None:
        """The next ``times`` jobs ``fn`` sent become ``job(*args)``."""
        self.replaced[fn] = (job, args, times)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.handler.addFilter(DeliveryField())
    caplog.set_level(logging.INFO)
    return caplog


@pytest.fixture
async def job_started(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[JobStarted]:
    # tmp_path_factory's directory, not tmp_path: a test's long name would make the socket's
    # path longer than the 107 bytes a Unix socket's address can hold.
    started = JobStarted(tmp_path_factory.mktemp("job") / "started")
    server = await asyncio.start_unix_server(started.connected, started.path)
    yield started
    server.close()


class JobStarted:
    """A Unix socket on which ``pool_jobs.announce_on_socket_then_block`` says it started."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._pids: asyncio.Queue[int] = asyncio.Queue()

    async def connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._pids.put_nowait(int(await reader.readline()))
        writer.close()

    async def pid(self) -> int:
        """The id of the process running the job, once it runs."""
        return await asyncio.wait_for(self._pids.get(), 30)


def exceptions_logged(logs: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in logs.records if r.exc_info or r.exc_text]


def lines_naming(pid: int, logs: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    # Not the bare number: an access log line's byte count may read the same.
    return [r for r in logs.records if f"process {pid} " in r.getMessage()]


async def killed_mid_analysis(
    bot: Bot, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, job_started: JobStarted
) -> tuple[Jobs, int]:
    """A pull request delivered as ``d-1`` whose first analysis process is SIGKILLed while it
    runs the engine's job; the killed process's id."""
    open_pull(github, UNSAFE_WORKFLOW)
    jobs = Jobs(monkeypatch)
    jobs.replace(run_engine, pool_jobs.announce_on_socket_then_block, job_started.path)

    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    pid = await job_started.pid()
    os.kill(pid, signal.SIGKILL)
    await bot.settle()
    return jobs, pid


async def test_a_process_killed_mid_analysis_is_one_warning_naming_its_pid_and_signal(
    bot: Bot,
    github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    job_started: JobStarted,
    logs: pytest.LogCaptureFixture,
) -> None:
    _jobs, pid = await killed_mid_analysis(bot, github, monkeypatch, job_started)

    assert exceptions_logged(logs) == []
    [line] = lines_naming(pid, logs)
    assert line.levelno == logging.WARNING
    assert "SIGKILL" in line.getMessage()
    assert getattr(line, "delivery", None) == "d-1"


async def test_the_analysis_of_a_killed_process_runs_again_in_a_new_process(
    bot: Bot, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, job_started: JobStarted
) -> None:
    jobs, pid = await killed_mid_analysis(bot, github, monkeypatch, job_started)

    [killed, replacement] = jobs.pids["run_engine"]
    assert killed == pid
    assert replacement != pid
    [review] = github.reviews(REPO, 2)
    assert "```suggestion" in review["_comments"][0]["body"]
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "processed")] == 1


async def test_a_file_whose_analysis_kills_two_processes_is_reported_as_not_analysed(
    bot: Bot, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, logs: pytest.LogCaptureFixture
) -> None:
    open_pull(github, UNSAFE_WORKFLOW)
    jobs = Jobs(monkeypatch)
    jobs.replace(run_engine, pool_jobs.kill_own_process, times=2)

    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()

    [run] = github.check_runs.values()
    assert run.status == "completed"
    [annotation] = run.annotations
    assert "could not analyse" in annotation["message"]
    assert "SIGKILL" in annotation["message"]
    assert exceptions_logged(logs) == []
    for pid in jobs.pids["run_engine"]:
        [line] = lines_naming(pid, logs)
        assert "SIGKILL" in line.getMessage()


async def test_a_killed_idle_process_is_replaced_for_the_next_delivery(
    bot: Bot, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, logs: pytest.LogCaptureFixture
) -> None:
    open_pull(github, UNSAFE_WORKFLOW)
    jobs = Jobs(monkeypatch)
    await bot.deliver("pull_request", pull_request_payload())
    await bot.settle()
    idle = {worker.process.pid for worker in pool_of(bot)._idle}
    for pid in idle:
        os.kill(pid, signal.SIGKILL)
        assert await ended(pid, 10)

    github.add_file(REPO, NEW_HEAD, WORKFLOW, UNSAFE_WORKFLOW)
    await bot.deliver("pull_request", pull_request_payload("synchronize", head_sha=NEW_HEAD))
    await bot.settle()

    assert exceptions_logged(logs) == []
    assert jobs.sent_to[-1] not in idle
    runs = {run.request["head_sha"]: run for run in github.check_runs.values()}
    assert len(runs[NEW_HEAD].annotations) == 1
    for pid in idle:
        [line] = lines_naming(pid, logs)
        assert "SIGKILL" in line.getMessage()


async def test_a_rendering_that_kills_two_processes_fails_its_delivery_in_one_line(
    bot: Bot, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, logs: pytest.LogCaptureFixture
) -> None:
    open_pull(github, UNSAFE_WORKFLOW)
    jobs = Jobs(monkeypatch)
    jobs.replace(app_check_output.render, pool_jobs.kill_own_process, times=2)

    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-1")
    await bot.settle()

    assert exceptions_logged(logs) == []
    [failed] = [r for r in logs.records if "d-1: failed" in r.getMessage()]
    assert "SIGKILL" in failed.getMessage()
    assert bot.app[SERVICE].metrics.deliveries[("pull_request", "error")] == 1
    [run] = github.check_runs.values()
    assert run.status == "completed"
    assert "re-run" in run.output["summary"]


async def test_a_job_that_raises_oserror_leaves_its_process_to_the_next_job() -> None:
    pool = ProcessPool(1)
    try:
        pid = await pool.run(os.getpid)
        with pytest.raises(FileNotFoundError):
            await pool.run(os.stat, "/nonexistent/wheelwatch")

        assert await pool.run(os.getpid) == pid
    finally:
        await pool.close()
