"""Pools of warm sandboxes on real engines (Docker and Podman): nothing of one user reaches the next,
broken containers are replaced, each exhaustion strategy, many threads, close under load.

Concurrency is proven with handshakes: a container start or a reset held at a gate the test opens,
output a callback saw, a state the pool reports. Nothing here is timed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_sandbox import (
    ArtifactSandboxSession,
    ContainerError,
    InteractiveSandboxSession,
    SandboxSession,
    create_session,
)
from llm_sandbox.agents import SessionManager
from llm_sandbox.contract import OWNER_LABEL, owner_label
from llm_sandbox.exceptions import SessionClosedError, ValidationError
from llm_sandbox.pool import (
    ContainerPoolManager,
    ExhaustionStrategy,
    PoolClosedError,
    PoolConfig,
    PoolExhaustedError,
    create_pool_manager,
)
from tests.waits import GENEROUS

pytestmark = pytest.mark.integration

PROCESSES = "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '"


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 180) -> None:
    """Wait for a state the pool reports (a handshake, not a timing: the bound only stops a hung test)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def removed(pool: ContainerPoolManager, container: str) -> bool:
    """The container is gone (an engine may answer with an error while it is being removed)."""
    try:
        return not pool.engine.exists(container)
    except ContainerError:
        return False


def leftovers(pool: ContainerPoolManager) -> list[dict[str, Any]]:
    """Containers and volumes of this process on the pool's engine."""
    return pool.engine.list_labelled(f"{OWNER_LABEL}={owner_label()}")


@pytest.fixture
def make_pool(backend_name: str) -> Iterator[Callable[..., ContainerPoolManager]]:
    """Pools on the backend under test; each is closed after the test and must leave nothing behind."""
    made: list[tuple[ContainerPoolManager, set[str]]] = []

    def factory(**options: Any) -> ContainerPoolManager:
        config = PoolConfig(**{"max_pool_size": 1, **options.pop("config", {})})
        pool = create_pool_manager(backend=backend_name, config=config, lang="python", **options)
        made.append((pool, {item["id"] for item in leftovers(pool)}))
        return pool

    yield factory
    for pool, _ in made:
        pool.close()
    for pool, before in made:
        left = [item for item in leftovers(pool) if item["id"] not in before]
        assert not left, f"the pool left {left}"


@pytest.fixture(scope="module")
def shared_pool(backend_name: str) -> Iterator[ContainerPoolManager]:
    """One container (with six preinstalled) that every leak test hands from one user to the next."""
    config = PoolConfig(max_pool_size=1, min_pool_size=1)
    with create_pool_manager(backend=backend_name, config=config, lang="python", libraries=["six"]) as pool:
        yield pool


def two_users(
    pool: ContainerPoolManager,
    first: Callable[[Any], object],
    second: Callable[[Any], object],
    kind: Callable[..., Any] = SandboxSession,
) -> Any:
    """``first`` in the pool's container, then ``second`` in the same container for the next user."""
    with kind(pool=pool) as user:
        container = user.container_id
        first(user)
    with kind(pool=pool) as user:
        assert user.container_id == container, "the next user did not get the reset container"
        return second(user)


# nothing of one user reaches the next ----------------------------------------------------
def test_files_are_gone_everywhere_the_user_could_write(shared_pool: ContainerPoolManager) -> None:
    modes: list[str] = []

    def leave_files(user: Any) -> None:
        modes.append(user.execute_command("stat -c %a /sandbox").stdout)
        user.run(
            "import os\n"
            "os.makedirs('/sandbox/deep/locked'); open('/sandbox/deep/locked/secret', 'w').write('x')\n"
            "os.chmod('/sandbox/deep/locked', 0)\n"
            "for path in ('/sandbox/secret', '/tmp/secret', '/dev/shm/secret'): open(path, 'w').write('x')\n"
            "os.setxattr('/sandbox', 'user.secret', b'x'); os.setxattr('/tmp', 'user.secret', b'x')\n"
            "os.chmod('/sandbox', 0o700)\n"
        )

    found = two_users(
        shared_pool,
        leave_files,
        lambda user: user.run(
            "import os, stat\n"
            "print(sorted(os.listdir('/sandbox')), sorted(os.listdir('/dev/shm')))\n"
            "print([n for n in os.listdir('/tmp') if 'secret' in n], os.listxattr('/sandbox'), os.listxattr('/tmp'))\n"
            "print(f'{stat.S_IMODE(os.stat(\"/sandbox\").st_mode):o}')"
        ).stdout,
    )
    assert found == f"[] []\n[] [] []\n{modes[0]}"  # the workdir's mode as it was when new


def test_processes_of_the_last_user_are_gone(shared_pool: ContainerPoolManager) -> None:
    def start_daemons(user: Any) -> None:
        user.execute_command("setsid sleep 1001 </dev/null >/dev/null 2>&1 & nohup sleep 1002 >/dev/null 2>&1 &")
        user.run("import subprocess; subprocess.Popen(['sleep', '1003'], start_new_session=True)")
        assert "sleep 1001" in user.execute_command(PROCESSES).stdout

    processes = two_users(shared_pool, start_daemons, lambda user: user.execute_command(PROCESSES).stdout)
    assert not any(f"sleep {n}" in processes for n in (1001, 1002, 1003)), processes


def test_environment_variables_of_the_last_user_are_gone(shared_pool: ContainerPoolManager) -> None:
    def environment(user: Any) -> str:
        lines = user.execute_command("env | sort").stdout.splitlines()
        return "\n".join(line for line in lines if not line.startswith(("LLM_SANDBOX_", "PWD=")))

    seen: dict[str, str] = {}

    def change_it(user: Any) -> None:
        seen["before"] = environment(user)
        user.run("import os; os.environ['LEAKED_SECRET'] = 'x'; os.putenv('LEAKED_TOO', 'y')")
        user.execute_command("export LEAKED_SHELL=z; echo 'export LEAKED_FILE=1' > /tmp/.profile")

    def read_it(user: Any) -> tuple[str, str]:
        return environment(user), user.run("import os; print(sorted(k for k in os.environ if 'LEAK' in k))").stdout

    after, in_python = two_users(shared_pool, change_it, read_it, kind=InteractiveSandboxSession)
    assert after == seen["before"] and "LEAK" not in after
    assert in_python == "[]\n"


def test_libraries_the_last_user_installed_are_gone_and_the_pools_stay(shared_pool: ContainerPoolManager) -> None:
    def install(user: Any) -> None:
        result = user.run("import iniconfig, six; print('both')", libraries=["iniconfig"])
        assert result.stdout == "both\n", result.stderr

    result = two_users(shared_pool, install, lambda user: user.run("import six\nimport iniconfig"))
    assert "No module named 'iniconfig'" in result.stderr  # six (the pool's) imported; iniconfig is gone


def test_kernel_variables_and_warm_imports_of_the_last_user_are_gone(shared_pool: ContainerPoolManager) -> None:
    pids: list[str] = []

    def define(user: Any) -> None:
        user.run("secret = 42\nimport os")
        pids.append(user.run("print(os.getpid())").stdout)
        user.session.run("import xml.dom.minidom")  # the warm runner learns it

    def look(user: Any) -> str:
        pids.append(user.run("import os; print(os.getpid())").stdout)
        cell = user.run("print('secret' in dir())").stdout
        forked = user.session.run("import sys; print('xml.dom.minidom' in sys.modules)").stdout
        return cell + forked

    assert two_users(shared_pool, define, look, kind=InteractiveSandboxSession) == "False\nFalse\n"
    assert pids[0] != pids[1], "the kernel was not restarted"


def test_system_v_ipc_objects_of_the_last_user_are_gone(shared_pool: ContainerPoolManager) -> None:
    def create(user: Any) -> None:
        result = user.run("import ctypes; print(ctypes.CDLL(None).shmget(4242, 4096, 0o1666) >= 0)")
        assert result.stdout == "True\n"

    segments = two_users(shared_pool, create, lambda user: user.execute_command("cat /proc/sysvipc/shm").stdout)
    assert len(segments.strip().splitlines()) == 1, segments  # the header only


def test_a_checkout_comes_with_its_warm_runner_up_and_counts_as_reuse(shared_pool: ContainerPoolManager) -> None:
    with SandboxSession(pool=shared_pool) as session:  # the container has had a user
        container = session.container_id
    wait_until(lambda: shared_pool.get_stats()["idle"] == 1, "the container is reset")
    reused = shared_pool.get_stats()["reused"]
    clock = shared_pool.engine.container_handle(container).exec_run(["cut", "-d ", "-f1", "/proc/uptime"])
    before_checkout = float(clock.output) * os.sysconf("SC_CLK_TCK")  # in the clock ticks of a process's start
    with ArtifactSandboxSession(pool=shared_pool) as session:
        runner = (  # the start (in clock ticks) of every process whose command is the warm runner
            "for p in /proc/[0-9]*; do tr '\\0' ' ' <$p/cmdline 2>/dev/null | "
            "grep -q '^python3 [^ ]*llm_sandbox_runner' && cut -d' ' -f22 $p/stat; done"
        )
        started = [int(ticks) for ticks in session.execute_command(runner).stdout.split()]
        assert started and max(started) < before_checkout  # the reset started it, before this checkout
        assert session.run("print(1)").stdout == "1\n"
    assert shared_pool.get_stats()["reused"] == reused + 1


# the reset is off the caller's path; creation never blocks a checkout ----------------------
def test_close_returns_before_the_reset_runs(
    make_pool: Callable[..., ContainerPoolManager], monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = make_pool()
    gate, entered = threading.Event(), threading.Event()
    exec_ = pool.engine.exec

    def held_reset(container_id: str, argv: list[str], **kwargs: Any) -> int:
        if "clean" in argv:
            entered.set()
            gate.wait()
        return exec_(container_id, argv, **kwargs)

    monkeypatch.setattr(pool.engine, "exec", held_reset)
    with SandboxSession(pool=pool) as session:
        session.run("print(1)")
    assert entered.wait(120), "the reset never started"
    assert pool.get_stats()["resetting"] == 1  # close() returned while the reset is held at the gate
    gate.set()
    wait_until(lambda: pool.get_stats()["idle"] == 1, "the reset finished")


def test_a_waiting_caller_takes_a_container_given_back_while_another_start_is_held(
    make_pool: Callable[..., ContainerPoolManager], monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = make_pool(config={"max_pool_size": 2, "min_pool_size": 1})
    wait_until(lambda: pool.get_stats()["idle"] == 1, "the first container is ready")
    gate, entered = threading.Event(), threading.Event()
    create = pool.engine.create

    def held_create(spec: Any) -> str:
        entered.set()
        assert gate.wait(300)
        return create(spec)

    monkeypatch.setattr(pool.engine, "create", held_create)
    first = SandboxSession(pool=pool).open()
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(SandboxSession(pool=pool).open()))
    waiter.start()
    assert entered.wait(120), "the waiting caller did not start a container"
    container = first.container_id
    first.close()  # reset in the background, then handed to the waiter: its own start is still held
    waiter.join(180)
    assert [session.container_id for session in got] == [container] and pool.get_stats()["creating"] == 1
    got[0].close()
    gate.set()
    wait_until(lambda: pool.get_stats()["idle"] == 2, "the held start finished, the other container came back")


# replaced, retired, reaped ------------------------------------------------------------------
def test_a_killed_idle_container_is_replaced(make_pool: Callable[..., ContainerPoolManager]) -> None:
    pool = make_pool(config={"min_pool_size": 1})
    wait_until(lambda: pool.get_stats()["idle"] == 1, "the container is ready")
    with SandboxSession(pool=pool) as session:
        killed = session.container_id
    wait_until(lambda: pool.get_stats()["idle"] == 1, "the container is reset")
    pool.engine.container_handle(killed).kill()
    assert pool.check_health() == 1
    stats = pool.get_stats()
    assert (stats["failed"], stats["replaced"]) == (1, 1)
    with SandboxSession(pool=pool) as session:
        assert session.container_id != killed
        assert session.run("print('replaced')").stdout == "replaced\n"
    wait_until(lambda: removed(pool, killed), "the killed container is removed")


def test_a_container_killed_while_lent_is_replaced_after_it_comes_back(
    make_pool: Callable[..., ContainerPoolManager],
) -> None:
    pool = make_pool()
    session = SandboxSession(pool=pool).open()
    killed = session.container_id
    pool.engine.container_handle(killed).kill()
    with pytest.raises(ContainerError):
        session.execute_command("true")
    session.close()
    wait_until(lambda: pool.get_stats()["replaced"] == 1, "the broken container was replaced")
    with SandboxSession(pool=pool) as session:
        assert session.container_id != killed and session.run("print(2)").stdout == "2\n"


def test_use_and_lifetime_limits_retire_containers(make_pool: Callable[..., ContainerPoolManager]) -> None:
    for limit in ({"max_container_uses": 1}, {"max_container_lifetime": 0.001}):
        pool = make_pool(config=limit)
        with SandboxSession(pool=pool) as session:
            first = session.container_id
        with SandboxSession(pool=pool) as session:
            second = session.container_id
        assert second != first and pool.get_stats()["replaced"] == 2  # each retired when given back
        for container in (first, second):
            wait_until(lambda c=container, p=pool: removed(p, c), "the retired container is removed")


def test_idle_containers_beyond_the_minimum_are_reaped(make_pool: Callable[..., ContainerPoolManager]) -> None:
    pool = make_pool(config={"max_pool_size": 2, "min_pool_size": 1, "idle_timeout": 0.001})
    a, b = SandboxSession(pool=pool).open(), SandboxSession(pool=pool).open()
    a.close()
    b.close()
    wait_until(lambda: pool.get_stats()["idle"] == 2, "both containers are reset")
    assert pool.check_health() == 1
    assert pool.get_stats()["total"] == 1  # min_pool_size stays


# exhaustion strategies -----------------------------------------------------------------------
def test_fail_fast_refuses_at_once_when_every_container_is_lent(make_pool: Callable[..., ContainerPoolManager]) -> None:
    pool = make_pool(config={"exhaustion_strategy": ExhaustionStrategy.FAIL_FAST})
    busy = "All 1 containers in pool are busy"
    with SandboxSession(pool=pool), pytest.raises(PoolExhaustedError, match=busy) as refused:
        SandboxSession(pool=pool).open()
    assert refused.value.timeout is None  # refused without waiting
    with SandboxSession(pool=pool) as session:  # given back: lent again
        assert session.run("print(1)").stdout == "1\n"


def test_wait_gets_the_container_given_back_or_gives_up_after_its_timeout(
    make_pool: Callable[..., ContainerPoolManager],
) -> None:
    pool = make_pool(config={"exhaustion_strategy": "wait", "acquisition_timeout": 300})
    holder = SandboxSession(pool=pool).open()
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(SandboxSession(pool=pool).open()))
    waiter.start()
    wait_until(lambda: pool.get_stats()["waiting"] == 1, "the second caller waits")
    assert not got
    holder.close()
    waiter.join(180)
    assert [session.container_id for session in got] == [holder.container_id]
    got[0].close()

    impatient = make_pool(config={"min_pool_size": 1, "acquisition_timeout": 0.5})
    wait_until(lambda: impatient.get_stats()["idle"] == 1, "the container is ready")
    with SandboxSession(pool=impatient), pytest.raises(PoolExhaustedError, match=r"timeout of 0\.5s exceeded"):
        SandboxSession(pool=impatient).open()


def test_temporary_gives_a_container_outside_the_pool_removed_when_closed(
    make_pool: Callable[..., ContainerPoolManager],
) -> None:
    pool = make_pool(config={"exhaustion_strategy": ExhaustionStrategy.TEMPORARY})
    with SandboxSession(pool=pool) as pooled, SandboxSession(pool=pool) as extra:
        assert extra.container_id != pooled.container_id
        assert pool.get_stats()["temporary"] == 1 and pool.get_stats()["total"] == 1
        assert extra.run("print('extra')").stdout == "extra\n"
        temporary = extra.container_id
    wait_until(lambda: removed(pool, temporary), "the temporary container is removed")
    assert pool.get_stats()["temporary"] == 0


# many users at once; closing ------------------------------------------------------------------
def test_a_pool_shared_by_many_threads_keeps_every_user_to_itself(
    make_pool: Callable[..., ContainerPoolManager],
) -> None:
    pool = make_pool(config={"max_pool_size": 3, "acquisition_timeout": 600})
    threads, rounds = 6, 3
    start = threading.Barrier(threads)
    errors: list[str] = []

    def user(n: int) -> None:
        start.wait()
        for r in range(rounds):
            token = f"user{n}-{r}"
            try:
                with SandboxSession(pool=pool) as session:
                    result = session.run(
                        f"import os\nopen('{token}', 'w').write('x')\nprint(sorted(os.listdir('.')))"
                    )
                    if result.stdout != f"['{token}']\n":
                        errors.append(f"{token} saw {result.stdout!r} {result.stderr[-300:]}")
            except Exception as exc:  # every failure is reported, none stops the others
                errors.append(f"{token}: {exc!r}")

    workers = [threading.Thread(target=user, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(900)
    assert not errors, errors
    stats = pool.get_stats()
    assert stats["total"] <= 3 and stats["reused"] >= threads * rounds - 3 and stats["failed"] == 0


def test_close_under_load_stops_every_run_and_leaves_nothing(make_pool: Callable[..., ContainerPoolManager]) -> None:
    pool = make_pool(config={"max_pool_size": 3})
    running = [threading.Event() for _ in range(3)]
    outcomes: list[BaseException | str] = []

    def user(started: threading.Event) -> None:
        session = SandboxSession(pool=pool).open()
        code = "print('started', flush=True)\nimport time\ntime.sleep(600)"
        try:
            session.run(code, on_stdout=lambda text: started.set())
            outcomes.append("finished")
        except Exception as exc:
            outcomes.append(exc)
        finally:
            session.close()

    workers = [threading.Thread(target=user, args=(event,)) for event in running]
    for worker in workers:
        worker.start()
    for event in running:
        assert event.wait(180), "a run did not start"
    pool.close()
    for worker in workers:
        worker.join(120)
    assert len(outcomes) == 3 and all(isinstance(o, PoolClosedError) for o in outcomes), outcomes
    with pytest.raises(PoolClosedError):
        SandboxSession(pool=pool)
    # make_pool checks that no container or volume is left


@pytest.mark.parametrize("ending", ["exit without close", "KeyboardInterrupt"])
def test_interpreter_exit_and_ctrl_c_leave_no_container_or_volume(backend_name: str, ending: str) -> None:
    script = textwrap.dedent(
        f"""
        import os
        from llm_sandbox import SandboxSession
        from llm_sandbox.pool import PoolConfig, create_pool_manager
        pool = create_pool_manager(backend={backend_name!r}, config=PoolConfig(max_pool_size=3, min_pool_size=2))
        session = SandboxSession(pool=pool).open()
        print(os.getpid(), session.run("print('in')").stdout, flush=True)
        if {ending!r} == "KeyboardInterrupt":
            raise KeyboardInterrupt
        """
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=environment)
    pid, said = child.stdout.split()
    assert said == "in", child.stderr
    owner = f"{owner_label().rsplit('/', 1)[0]}/{pid}"
    assert create_session(backend_name).engine.list_labelled(f"{OWNER_LABEL}={owner}") == []


# sessions, managers and options ------------------------------------------------------------------
def test_a_session_manager_gives_each_conversation_a_reset_container(
    make_pool: Callable[..., ContainerPoolManager],
) -> None:
    pool = make_pool()
    with SessionManager(pool=pool) as manager:
        assert manager.run("a", "secret = 1\nopen('notes', 'w').write('a')").exit_code == 0
        with manager.session("a") as held:
            container = held.container_id
        manager.close_session("a")
        result = manager.run("b", "import os\nprint('secret' in dir(), os.listdir('.'))")
        with manager.session("b") as held:
            assert held.container_id == container
        assert result.stdout.startswith("False [")
        assert "notes" not in result.stdout
        assert manager.reap_idle(0) == 1
    wait_until(lambda: pool.get_stats()["idle"] == 1, "the conversation's container came back")


def test_a_pooled_session_takes_the_pools_container_options(make_pool: Callable[..., ContainerPoolManager]) -> None:
    pool = make_pool(runtime_configs={"mem_limit": "512m"}, execution_timeout=45)
    with pytest.raises(ValidationError, match=r"image='other:1': a pooled session runs in a container the pool made"):
        SandboxSession(pool=pool, image="other:1")
    with pytest.raises(ValidationError, match=r"runtime_configs="):
        InteractiveSandboxSession(pool=pool, max_memory="2g")
    with pytest.raises(ValidationError, match="backend='kubernetes'"):
        SandboxSession("kubernetes", pool=pool)
    with SandboxSession(pool=pool, default_timeout=20) as session:  # a session's own options are its own
        assert (session.execution_timeout, session.default_timeout) == (45, 20)
        limit = session.execute_command("cat /sys/fs/cgroup/memory/memory.limit_in_bytes").stdout
        assert limit == f"{512 * 2**20}\n"
    with pytest.raises(SessionClosedError):
        session.run("print(1)")


def test_the_example_shows_nothing_of_one_user_reaching_the_next(python_image: str, no_leaks: None) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "pools.py"
    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=GENEROUS * 3,
                          env={**os.environ, "PYTHONPATH": str(example.parents[1] / "toolkit")})  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout
    assert "warm: 42" in lines
    assert "first user: first user ['notes.txt'] | sleep 1000 running: True" in lines
    assert "second user, same container: True" in lines
    assert "secret, files: False []" in lines
    assert "  sleep 1000 running: False" in lines
    assert "ModuleNotFoundError" in lines and "six (the pool's): six" in lines
    assert "alice -> alice" in lines and "bob -> bob" in lines
