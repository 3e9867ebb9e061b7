#!/usr/bin/env python3
"""Load benchmark: Bastion vs LiteLLM's proxy vs calling the fake upstream directly.

One command (``bench/run.sh``, which installs what is missing and then runs this file):

* nginx serves a fake OpenAI upstream on loopback (``bench/fake_upstream.py``);
* each gateway runs alone, pinned to CPU 0 (``taskset``), one worker, auth on;
* nginx and wrk share CPU 1, so the load generator never competes with the gateway;
* every scenario runs against ``direct`` (nginx itself, the baseline), ``bastion`` and
  ``litellm`` for a fixed time after a short warm-up at the same concurrency;
* per scenario and target it records req/s, latency percentiles (wrk), errors (any
  status >= 400, connect/read/write errors, timeouts), CPU time per request and the
  peak RSS of the server's whole process tree (from /proc);
* raw results go to ``bench/results/latest.json``, the table to ``docs/benchmarks.md``
  and to stdout.

Standard library only, so it runs on any Python 3.11 that can find ``bastion``.
Settings come from the command line or the BENCH_* environment variables (see --help).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import fake_upstream  # noqa: E402

CLIENT_KEY_BASTION = "bench-client-key-0123456789"
MASTER_KEY_BASTION = "bench-master-key-0123456789"  # reads /health/deployments
# Without a database LiteLLM has no virtual keys: the master key is the only client key.
CLIENT_KEY_LITELLM = "sk-bench-master-key-0123456789"
LITELLM_VENV = BENCH_DIR / ".venv-litellm"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")

UPSTREAM_PORT = {
    "plain": fake_upstream.PLAIN_PORT,
    "stream": fake_upstream.STREAM_PORT,
    "slow": fake_upstream.SLOW_PORT,
}
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
    {"role": "user", "content": "Write a haiku about load balancers."},
]


ROUTE_GROUPS = {
    "healthy": "three healthy deployments",
    "degraded": f"one healthy, one always {fake_upstream.FAIL_STATUS}, one "
    f"+{int(fake_upstream.SLOW_DELAY_S * 1000)} ms",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    upstream: str  # plain | stream | slow: the request kind, and the port `direct` calls
    concurrency: int
    group: str | None = None  # a routed group of bench/bastion.bench.yaml (ROUTE_GROUPS)

    @property
    def stream(self) -> bool:
        return self.upstream == "stream"

    @property
    def model(self) -> str:
        return f"bench-route-{self.group}" if self.group else f"bench-{self.upstream}"

    def skip_reason(self, target: str) -> str | None:
        """Why this scenario does not run against ``target`` (None: it does)."""
        if self.group and target == "litellm":
            return "no routed groups in bench/litellm.bench.yaml (its router differs)"
        return None

    def body(self) -> bytes:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": MESSAGES,
            "max_tokens": 64,
            "temperature": 0.7,
        }
        if self.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return json.dumps(body).encode()

    def describe(self) -> str:
        if self.group:
            return (
                f"non-streamed, group of {ROUTE_GROUPS[self.group]} (least_latency), "
                f"concurrency {self.concurrency}; direct: the healthy upstream alone"
            )
        kind = {
            "plain": "non-streamed",
            "stream": "streamed (SSE)",
            "slow": f"non-streamed, upstream +{int(fake_upstream.SLOW_DELAY_S * 1000)} ms",
        }[self.upstream]
        return f"{kind}, concurrency {self.concurrency}"


SCENARIOS = [
    Scenario("plain-c1", "plain", 1),
    Scenario("plain-c8", "plain", 8),
    Scenario("plain-c32", "plain", 32),
    Scenario("plain-c128", "plain", 128),
    Scenario("stream-c8", "stream", 8),
    Scenario("stream-c32", "stream", 32),
    Scenario("slow50-c64", "slow", 64),
    Scenario("slow50-c256", "slow", 256),
    Scenario("route-healthy-c64", "plain", 64, "healthy"),
    Scenario("route-degraded-c64", "plain", 64, "degraded"),
]
TARGETS = ["direct", "bastion", "litellm"]


# --------------------------------------------------------------------------- processes

_started: list[subprocess.Popen[bytes]] = []
_nice = 0  # set by main(); applied to every process group we start


def prioritize(pid: int) -> None:
    """Give the session of pid our priority. With autogroup scheduling (the default on
    desktop-like kernels) a process's nice value only counts inside its session's group;
    across sessions the group's own nice decides, so set that one too."""
    if not _nice:
        return
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PGRP, pid, _nice)
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text(str(_nice))


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def spawn(
    cmd: list[str], *, log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a process in its own session (so the whole group can be stopped) and track it."""
    out = open(log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    out.close()
    _started.append(proc)
    prioritize(proc.pid)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process group we started, then SIGKILL what is left."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
            os.killpg(proc.pid, signal.SIGCONT)  # a paused variant (--variants) must hear it
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    # Workers may outlive their parent in the group: make sure the group is gone.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc in _started:
        _started.remove(proc)


def cleanup() -> None:
    for proc in list(reversed(_started)):
        with contextlib.suppress(Exception):
            stop(proc, timeout=5)


def _on_signal(signum: int, _frame: Any) -> None:
    log(f"signal {signum}: stopping everything this run started")
    cleanup()
    raise SystemExit(128 + signum)


# --------------------------------------------------------------------------- /proc


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _proc_stat(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """utime+stime of every live process in the tree, plus what exited children left."""
    total = 0
    for pid in process_tree(root):
        fields = _proc_stat(pid)
        if fields:
            # after the comm field: [0]=state ... utime=[11] stime=[12] cutime=[13] cstime=[14]
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / TICK


def tree_runqueue_wait_seconds(root: int) -> float:
    """Time the tree's threads were runnable but waiting for a CPU (/proc/.../schedstat)."""
    total = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError, IndexError, ValueError):
                    total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[1])
    return total / 1e9


def tree_rss_bytes(root: int) -> int:
    total = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return total


def cpu_times() -> dict[str, tuple[int, int]]:
    """Per-CPU (busy, total) jiffies from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *vals = line.split()
            nums = [int(v) for v in vals]
            idle = nums[3] + nums[4]
            out[name] = (sum(nums[:8]) - idle, sum(nums[:8]))
    return out


class RssSampler(threading.Thread):
    def __init__(self, root: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak = tree_rss_bytes(root)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.peak = max(self.peak, tree_rss_bytes(self.root))

    def finish(self) -> int:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, tree_rss_bytes(self.root))
        return self.peak


# --------------------------------------------------------------------------- HTTP checks


def post(port: int, body: bytes, key: str | None, timeout: float = 10.0) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("content-type", ""), resp.read()
    finally:
        conn.close()


def validate(port: int, scenario: Scenario, key: str | None) -> str:
    """One request; return '' if the answer is a correct OpenAI response, else the problem."""
    try:
        status, ctype, raw = post(port, scenario.body(), key)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    if status != 200:
        return f"HTTP {status}: {raw[:300]!r}"
    try:
        if scenario.stream:
            if "text/event-stream" not in ctype:
                return f"stream answered with content-type {ctype!r}"
            events = [
                line[5:].strip() for line in raw.decode().splitlines() if line.startswith("data:")
            ]
            if not events or events[-1] != "[DONE]":
                return "stream does not end with data: [DONE]"
            chunks = [json.loads(e) for e in events[:-1]]
            text = "".join(
                (c.get("choices") or [{}])[0].get("delta", {}).get("content") or "" for c in chunks
            )
            has_usage = any(c.get("usage") for c in chunks)
            if not text or not has_usage:
                return f"stream lacks content ({bool(text)}) or usage ({has_usage})"
        else:
            doc = json.loads(raw)
            if (
                doc.get("object") != "chat.completion"
                or not doc["choices"][0]["message"]["content"]
            ):
                return f"unexpected body: {raw[:300]!r}"
            if not doc.get("usage", {}).get("total_tokens"):
                return "no usage in the answer"
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return f"malformed answer ({exc}): {raw[:300]!r}"
    return ""


def wait_ready(port: int, key: str | None, proc: subprocess.Popen[bytes], timeout: float) -> float:
    start = time.monotonic()
    body = SCENARIOS[0].body()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with code {proc.returncode} before it was ready")
        with contextlib.suppress(OSError):
            status, _, _ = post(port, body, key, timeout=5)
            if status == 200:
                return time.monotonic() - start
        time.sleep(0.25)
    raise RuntimeError(f"not ready after {timeout:.0f} s")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- wrk


@dataclass
class Settings:
    duration: float
    warmup: float
    target_warmup: float
    timeout: float
    gateway_cpu: int
    load_cpu: int
    targets: list[str]
    scenarios: list[Scenario]
    bastion_port: int
    litellm_port: int
    bastion_cmd: list[str]
    run_dir: Path
    docs: Path | None
    stream_flush: bool
    command: str
    profile: float = 0.0
    nginx_pid: int = 0
    quiet_budget: float = 0.0  # seconds this run may still spend waiting for a quiet machine
    nice: int = 0
    variants: list[tuple[str, Path]] = field(default_factory=list)  # --variants: name, overlay
    rounds: int = 1


def run_wrk(
    settings: Settings, url: str, scenario: Scenario, key: str | None, duration: float, tag: str
) -> dict[str, Any]:
    body_file = settings.run_dir / f"body-{scenario.model}.json"
    body_file.write_bytes(scenario.body())
    threads = max(1, min(2, scenario.concurrency))
    cmd = [
        "taskset",
        "-c",
        str(settings.load_cpu),
        "wrk",
        f"-t{threads}",
        f"-c{scenario.concurrency}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={settings.timeout:g}s",
        "-s",
        str(BENCH_DIR / "wrk_post.lua"),
        url,
    ]
    env = dict(os.environ, BENCH_BODY_FILE=str(body_file), BENCH_AUTH=key or "")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    _started.append(proc)  # type: ignore[arg-type]
    prioritize(proc.pid)
    try:
        out, err = proc.communicate(timeout=duration + settings.timeout + 30)
    except subprocess.TimeoutExpired:
        stop(proc)  # type: ignore[arg-type]
        raise RuntimeError(f"wrk did not finish ({tag})") from None
    finally:
        if proc in _started:
            _started.remove(proc)  # type: ignore[arg-type]
    text = out.decode(errors="replace")
    (settings.run_dir / f"wrk-{tag}.txt").write_text(
        " ".join(cmd) + "\n\n" + text + err.decode(errors="replace")
    )
    for line in text.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT ") :])
    raise RuntimeError(f"wrk printed no result ({tag}): {err.decode(errors='replace')[:500]}")


def find_py_spy() -> str | None:
    local = BENCH_DIR / ".venv-tools" / "bin" / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def profile_run(
    settings: Settings, url: str, scenario: Scenario, key: str | None, pid: int, tag: str
) -> str:
    """An extra, unmeasured load run with py-spy attached; writes folded stacks and a summary."""
    py_spy = find_py_spy()
    if not py_spy:
        return "py-spy not found (bench/run.sh --profile installs it into bench/.venv-tools)"
    folded = settings.run_dir / f"profile-{tag}.folded"
    loader = threading.Thread(
        target=run_wrk,
        args=(settings, url, scenario, key, settings.profile + 2, tag + "-profile"),
        daemon=True,
    )
    loader.start()
    time.sleep(1)
    # --gil: only samples where Python runs (the event loop's work), not idle threads.
    cmd = [
        py_spy,
        "record",
        "-p",
        str(pid),
        "-d",
        str(max(1, round(settings.profile))),
        "-r",
        "250",
        "--gil",
        "--nonblocking",
        "-f",
        "raw",
        "-o",
        str(folded),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    loader.join()
    if res.returncode != 0 or not folded.exists():
        return f"py-spy failed: {res.stderr.strip()[:300]}"
    summary = summarize_profile(folded)
    (settings.run_dir / f"profile-{tag}.txt").write_text(summary)
    return summary


_LINE_NO = re.compile(r":\d+\)$")


def summarize_profile(folded: Path, top: int = 40) -> str:
    """Inclusive and self shares of the sampled frames (a text view of a flame graph)."""
    total = 0
    incl: dict[str, int] = {}
    own: dict[str, int] = {}
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        # "func (file.py:123)" -> "func (file.py)": one entry per function, not per line
        frames = [_LINE_NO.sub(")", f) for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            incl[frame] = incl.get(frame, 0) + n
    if not total:
        return "no samples\n"
    out = [f"{total} samples (py-spy --gil, 250 Hz)", "", "inclusive:"]
    for frame, n in sorted(incl.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"{100 * n / total:5.1f}%  {frame}")
    out += ["", "self:"]
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"{100 * n / total:5.1f}%  {frame}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    port_of: dict[str, int]  # upstream kind -> port the client talks to
    key: str | None
    proc: subprocess.Popen[bytes] | None = None
    server_pid: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


def start_nginx(settings: Settings) -> subprocess.Popen[bytes]:
    ngx_dir = settings.run_dir / "nginx"
    ngx_dir.mkdir(parents=True, exist_ok=True)
    conf = ngx_dir / "nginx.conf"
    conf.write_text(
        fake_upstream.nginx_conf(
            ngx_dir, error_log=ngx_dir / "error.log", flush_events=settings.stream_flush
        )
    )
    extra_ports = (fake_upstream.FAIL_PORT, fake_upstream.OTLP_PORT, *fake_upstream.REPLICA_PORTS)
    for port in (*UPSTREAM_PORT.values(), *extra_ports):
        if not port_free(port):
            raise SystemExit(f"port {port} (fake upstream) is in use; stop what holds it and rerun")
    cmd = [
        "taskset",
        "-c",
        str(settings.load_cpu),
        "nginx",
        "-c",
        str(conf),
        "-p",
        str(ngx_dir),
        "-e",
        str(ngx_dir / "error.log"),
        "-g",
        "daemon off;",
    ]
    proc = spawn(cmd, log_path=ngx_dir / "stdout.log")
    probe = Scenario("probe", "plain", 1)
    for _ in range(100):
        if proc.poll() is not None:
            raise SystemExit(f"nginx exited: see {ngx_dir / 'error.log'}")
        with contextlib.suppress(OSError):
            if post(fake_upstream.PLAIN_PORT, probe.body(), None, timeout=2)[0] == 200:
                break
        time.sleep(0.1)
    for kind in UPSTREAM_PORT:
        problem = validate(UPSTREAM_PORT[kind], Scenario("probe", kind, 1), None)
        if problem:
            raise SystemExit(f"fake upstream {kind!r} answers wrongly: {problem}")
    for port in fake_upstream.REPLICA_PORTS:
        problem = validate(port, probe, None)
        if problem:
            raise SystemExit(f"fake upstream replica :{port} answers wrongly: {problem}")
    status, _, raw = post(fake_upstream.FAIL_PORT, probe.body(), None)
    if status != fake_upstream.FAIL_STATUS or b'"server_error"' not in raw:
        raise SystemExit(f"failing upstream answered HTTP {status}: {raw[:200]!r}")
    return proc


def _pick_port(preferred: int, name: str) -> int:
    if port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log(f"port {preferred} is taken (not by us): {name} listens on {port} instead")
    return port


def display_command(cmd: list[str], settings: Settings) -> str:
    """The command as a reader would type it: repo-relative paths, `bastion` by name."""
    shown = []
    for i, arg in enumerate(cmd):
        if (
            settings.bastion_cmd
            and arg == settings.bastion_cmd[0]
            and i == 3
            and len(settings.bastion_cmd) == 1
        ):
            arg = "bastion" if Path(arg).name == "bastion" else arg
        shown.append(arg.replace(str(ROOT) + "/", ""))
    return shlex.join(shown)


def _governed_key(settings: Settings, config: Path, env: dict[str, str]) -> str:
    """A virtual key with a rate limit and a budget (never refusing at bench rates).

    BENCH_BASTION_GOVERNED=1 measures the governance path (issue 4): the key is
    created in the run's database before the gateway starts.
    """
    cmd = [*settings.bastion_cmd, "keys", "create", "--config", str(config), "--name", "bench"]
    cmd += [
        "--rpm",
        "10000000",
        "--tpm",
        "10000000000",
        "--budget",
        "1000000",
        "--period",
        "total",
    ]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    key: str = json.JSONDecoder().raw_decode(out[out.index("{") :])[0]["key"]
    return key


def base_config() -> Path:
    return Path(os.environ.get("BENCH_BASTION_CONFIG") or BENCH_DIR / "bastion.bench.yaml")


def start_bastion(
    settings: Settings,
    target: Target,
    *,
    config: Path | None = None,
    port: int | None = None,
    suffix: str = "",
    governed: bool | None = None,
) -> None:
    """Start Bastion; ``suffix`` names its data directory and log (one per variant)."""
    port = _pick_port(port or settings.bastion_port, target.name)
    data_dir = settings.run_dir / f"bastion{suffix}-data"
    data_dir.mkdir(exist_ok=True)
    config = config or base_config()
    if governed is None:
        governed = os.environ.get("BENCH_BASTION_GOVERNED") == "1"
    cmd = [
        "taskset",
        "-c",
        str(settings.gateway_cpu),
        *settings.bastion_cmd,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--config",
        str(config),
        "--log-level",
        "warning",
    ]
    # Only the bench config counts: no BASTION_* settings from the caller's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env["BASTION_DATA_DIR"] = str(data_dir)
    if governed:
        target.key = _governed_key(settings, config, env)
        target.info["key"] = "virtual key with rpm, tpm and a budget"
    target.proc = spawn(cmd, log_path=settings.run_dir / f"bastion{suffix}.log", env=env)
    target.port_of = dict.fromkeys(UPSTREAM_PORT, port)
    target.info["command"] = display_command(cmd, settings)


def start_litellm(settings: Settings, target: Target) -> None:
    port = _pick_port(settings.litellm_port, "litellm")
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        raise RuntimeError(f"{exe} is missing: run bench/run.sh (it creates the virtualenv)")
    cmd = [
        "taskset",
        "-c",
        str(settings.gateway_cpu),
        str(exe),
        "--config",
        str(BENCH_DIR / "litellm.bench.yaml"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    env = dict(os.environ)
    for var in ("DATABASE_URL", "REDIS_HOST", "REDIS_URL", "LITELLM_MASTER_KEY"):
        env.pop(var, None)  # no database, no Redis; the master key comes from the config
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # no download of the price map at startup
        LITELLM_LOG="ERROR",  # documented production setting: no info logs
        LITELLM_MODE="PRODUCTION",  # no load_dotenv()
        PYTHONUNBUFFERED="1",
    )
    target.proc = spawn(cmd, log_path=settings.run_dir / "litellm.log", env=env)
    target.port_of = dict.fromkeys(UPSTREAM_PORT, port)
    target.info["command"] = display_command(cmd, settings)


# --------------------------------------------------------------------------- versions, machine


def _cmd_out(cmd: list[str]) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (res.stdout or res.stderr).strip()


def machine_info(settings: Settings) -> dict[str, Any]:
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    commit = _cmd_out(["git", "rev-parse", "--short", "HEAD"])
    dirty = _cmd_out(["git", "--no-optional-locks", "status", "--porcelain", "--", "src"])
    litellm_py = LITELLM_VENV / "bin" / "python"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": settings.command,
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
        "versions": {
            "bastion": _cmd_out([*settings.bastion_cmd, "--version"]).replace("bastion ", ""),
            "bastion_commit": commit + (" with uncommitted changes in src/" if dirty else ""),
            "litellm": _cmd_out(
                [
                    str(litellm_py),
                    "-c",
                    "import importlib.metadata as m; print(m.version('litellm'))",
                ]
            ),
            "litellm_python": _cmd_out(
                [str(litellm_py), "-c", "import platform; print(platform.python_version())"]
            ),
            "nginx": _cmd_out(["nginx", "-v"]).replace("nginx version: nginx/", ""),
            "wrk": _cmd_out(["wrk", "-v"]).split(" [")[0].replace("wrk ", ""),
        },
    }


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.platform()


# --------------------------------------------------------------------------- measuring


QUIET_BUSY_PCT = 10.0  # a CPU busier than this, with our servers idle, is not quiet
DISTURBED_PCT = 15.0  # other work on the gateway's CPU during a run ...
WAITED_PCT = 10.0  # ... while the gateway waited for a CPU this much: measure again


def disturbed(result: dict[str, Any]) -> bool:
    """Other processes used the gateway's CPU *and* the gateway had to wait for it. (Others
    using the CPU while the gateway is idle, e.g. with a slow upstream, do no harm.)"""
    return (result.get("other_busy_on_gateway_core_pct") or 0) > DISTURBED_PCT and (
        result.get("server_runqueue_wait_pct") or 0
    ) > WAITED_PCT


def wait_quiet(settings: Settings) -> dict[str, float]:
    """Wait (within the run's budget) until both CPUs are idle apart from us; return their busy %."""
    cpus = sorted({settings.gateway_cpu, settings.load_cpu})
    announced = False
    while True:
        t0, before = time.monotonic(), cpu_times()
        time.sleep(1.0)
        after = cpu_times()
        busy = {}
        for cpu in cpus:
            name = f"cpu{cpu}"
            total = after[name][1] - before[name][1]
            busy[name] = (
                round(100 * (after[name][0] - before[name][0]) / total, 1) if total else 0.0
            )
        if max(busy.values()) < QUIET_BUSY_PCT or settings.quiet_budget <= 0:
            return busy
        if not announced:
            log(f"the machine is busy ({busy}); waiting for it to calm down")
            announced = True
        settings.quiet_budget -= time.monotonic() - t0


def wait_server_idle(pid: int, limit: float = 20.0, interval: float = 0.25) -> float:
    """Wait until the server tree uses under 5% of a CPU; return the seconds waited."""
    start = time.monotonic()
    last = tree_cpu_seconds(pid)
    while time.monotonic() - start < limit:
        time.sleep(interval)
        now = tree_cpu_seconds(pid)
        if now - last < 0.05 * interval:
            break
        last = now
    return time.monotonic() - start


def route_counts(port: int, group: str) -> dict[str, dict[str, Any]]:
    """Per deployment of a routed group: attempts, failures and breaker state so far
    (Bastion's /health/deployments), to see where a run's traffic went."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "GET", "/health/deployments", headers={"Authorization": f"Bearer {MASTER_KEY_BASTION}"}
        )
        resp = conn.getresponse()
        doc = json.loads(resp.read()) if resp.status == 200 else {}
    except (OSError, ValueError):
        return {}
    finally:
        conn.close()
    members = set((doc.get("groups") or {}).get(f"bench-route-{group}", {}).get("deployments", []))
    return {
        d["deployment"]: {
            "requests": d.get("requests", 0),
            "failures": d.get("failures", 0),
            "state": d.get("state"),
            "latency_ms": d.get("latency_ms"),
        }
        for d in doc.get("deployments", [])
        if d.get("deployment") in members
    }


def route_shares(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """What each deployment of the group got during the measured run."""
    out = {}
    for label, now in after.items():
        was = before.get(label, {})
        out[label] = {
            "attempts": now["requests"] - was.get("requests", 0),
            "failures": now["failures"] - was.get("failures", 0),
            "state_after": now["state"],
            "latency_ms_after": now["latency_ms"],
        }
    return out


def measure(
    settings: Settings, target: Target, scenario: Scenario, server_pid: int, attempt: int = 1
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{target.port_of[scenario.upstream]}/v1/chat/completions"
    tag = f"{target.name}-{scenario.name}" + (f"-try{attempt}" if attempt > 1 else "")
    idle_before = wait_quiet(settings)
    if settings.warmup > 0:
        run_wrk(settings, url, scenario, target.key, settings.warmup, tag + "-warmup")
    # wrk drops its connections at the end; a gateway may still be finishing the requests
    # it had in flight. Start measuring only once it is idle, so that work is not counted.
    wait_server_idle(server_pid)
    routed = bool(scenario.group) and target.name.startswith("bastion")
    if routed:
        assert scenario.group is not None
        counts0 = route_counts(target.port_of["plain"], scenario.group)
    sampler = RssSampler(server_pid)
    sampler.start()
    ngx0, ru0 = tree_cpu_seconds(settings.nginx_pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0, sys0 = tree_cpu_seconds(server_pid), cpu_times()
    wait0 = tree_runqueue_wait_seconds(server_pid)
    res = run_wrk(settings, url, scenario, target.key, settings.duration, tag)
    wait1 = tree_runqueue_wait_seconds(server_pid)
    cpu1, sys1 = tree_cpu_seconds(server_pid), cpu_times()
    ngx1, ru1 = tree_cpu_seconds(settings.nginx_pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    peak = sampler.finish()
    if routed:
        assert scenario.group is not None
        shares = route_shares(counts0, route_counts(target.port_of["plain"], scenario.group))
    secs = res["duration_us"] / 1e6
    reqs = res["requests"]
    errors = res["errors"]
    lat = res["latency_us"]

    def core_busy(cpu: int) -> float | None:
        name = f"cpu{cpu}"
        if name not in sys0 or name not in sys1:
            return None
        busy = sys1[name][0] - sys0[name][0]
        total = sys1[name][1] - sys0[name][1]
        return round(100 * busy / total, 1) if total else None

    result = {
        "target": target.name,
        "scenario": scenario.name,
        "description": scenario.describe(),
        "upstream": scenario.upstream,
        "stream": scenario.stream,
        "concurrency": scenario.concurrency,
        "duration_s": round(secs, 2),
        "requests": reqs,
        "rps": round(reqs / secs, 1) if secs else 0.0,
        "latency_ms": {k: round(v / 1000, 3) for k, v in lat.items()},
        "p50_ms": round(lat["p50"] / 1000, 3),
        "p99_ms": round(lat["p99"] / 1000, 3),
        "errors": errors,
        "errors_total": sum(errors.values()),
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "cpu_ms_per_req": round(1000 * (cpu1 - cpu0) / reqs, 4) if reqs else None,
        "server_cpu_util_pct": round(100 * (cpu1 - cpu0) / secs, 1) if secs else None,
        "max_rss_mb": round(peak / 2**20, 1),
        "gateway_core_busy_pct": core_busy(settings.gateway_cpu),
        "load_core_busy_pct": core_busy(settings.load_cpu),
        # What the load side itself used of its CPU: nginx (the fake upstream) + wrk.
        "upstream_plus_wrk_cpu_pct": round(100 * ((ngx1 - ngx0) + wrk_cpu) / secs, 1)
        if secs
        else None,
        # Busy time on the gateway's CPU that the gateway did not use: other processes
        # (or kernel network work). Large values mean the run was disturbed.
        "other_busy_on_gateway_core_pct": (
            round(core_busy(settings.gateway_cpu) - 100 * (cpu1 - cpu0) / secs, 1)  # type: ignore[operator]
            if target.name != "direct" and secs and core_busy(settings.gateway_cpu) is not None
            else None
        ),
        # Share of the run the server's threads spent runnable but not running: waiting
        # for other processes (or for each other, e.g. a worker thread and the event loop).
        "server_runqueue_wait_pct": round(100 * (wait1 - wait0) / secs, 1) if secs else None,
        "cpu_busy_before_pct": idle_before,
        "attempt": attempt,
    }
    if scenario.group:
        result["group"] = scenario.group
        if routed:
            result["deployments"] = shares
    if disturbed(result) and attempt == 1 and settings.quiet_budget > 0:
        log(
            f"{target.name} {scenario.name}: other work took "
            f"{result['other_busy_on_gateway_core_pct']}% of the gateway CPU; measuring again"
        )
        return measure(settings, target, scenario, server_pid, attempt=2)
    return result


def log_result(name: str, res: dict[str, Any]) -> None:
    err = f", ERRORS {res['errors_total']} {res['errors']}" if res["errors_total"] else ""
    log(
        f"{name:8} {res['scenario']:12} {res['rps']:9.1f} req/s  p50 {res['p50_ms']:8.2f} ms"
        f"  p99 {res['p99_ms']:8.2f} ms  cpu/req {res['cpu_ms_per_req']} ms"
        f"  rss {res['max_rss_mb']} MB{err}"
    )
    if res.get("deployments"):
        log(f"{name:8} {res['scenario']:12} attempts: {describe_shares(res['deployments'])}")


def describe_shares(shares: dict[str, dict[str, Any]]) -> str:
    total = sum(d["attempts"] for d in shares.values()) or 1
    return ", ".join(
        f"{label} {d['attempts']} ({100 * d['attempts'] / total:.1f}%"
        + (f", {d['failures']} failed" if d["failures"] else "")
        + f", {d['state_after']})"
        for label, d in shares.items()
    )


def check_kinds(settings: Settings, target: Target) -> list[Scenario]:
    """One probe per request kind this run uses: the three upstreams and, for Bastion,
    the routed groups of the selected scenarios."""
    kinds = [Scenario(f"check-{kind}", kind, 1) for kind in UPSTREAM_PORT]
    if target.name.startswith("bastion"):
        groups = dict.fromkeys(s.group for s in settings.scenarios if s.group)
        kinds += [Scenario(f"check-route-{g}", "plain", 1, g) for g in groups]
    return kinds


def prepare_target(settings: Settings, target: Target) -> None:
    """Wait for a started gateway, check its answers and auth, warm it up (RuntimeError
    when it does not come up)."""
    name = target.name
    if target.proc is not None:
        port = next(iter(target.port_of.values()))
        log(f"{name}: starting ({target.info['command']})")
        target.info["startup_s"] = round(wait_ready(port, target.key, target.proc, 180), 2)
        target.server_pid = target.proc.pid
        log(f"{name}: ready after {target.info['startup_s']} s on port {port}")
    assert target.server_pid is not None
    # Correctness first: every kind of request must come back right, with auth on.
    problems = {}
    kinds = check_kinds(settings, target)
    for scen in kinds:
        problem = validate(target.port_of[scen.upstream], scen, target.key)
        if problem:
            problems[scen.name[len("check-") :]] = problem
    if target.key:
        status, _, _ = post(target.port_of["plain"], SCENARIOS[0].body(), "wrong-key-0123456789")
        target.info["wrong_key_status"] = status
        if not 400 <= status < 500:
            problems["auth"] = f"a wrong key got HTTP {status}, not a 4xx"
    target.info["validation"] = problems or "ok"
    if problems:
        log(f"{name}: answers are wrong, measuring anyway (see results): {problems}")
    target.info["idle_rss_mb"] = round(tree_rss_bytes(target.server_pid) / 2**20, 1)
    if settings.target_warmup > 0 and target.proc is not None:
        log(f"{name}: warm-up ({settings.target_warmup:g} s per request kind)")
        for scen in kinds:
            warm = Scenario("warmup", scen.upstream, 8, scen.group)
            url = f"http://127.0.0.1:{target.port_of[scen.upstream]}/v1/chat/completions"
            run_wrk(
                settings,
                url,
                warm,
                target.key,
                settings.target_warmup,
                f"{name}-warmup-{scen.name[len('check-') :]}",
            )


def run_target(
    settings: Settings, name: str, nginx: subprocess.Popen[bytes]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if name == "direct":
        target = Target("direct", dict(UPSTREAM_PORT), None)
        target.server_pid = nginx.pid
        target.info["command"] = (
            f"nginx (the fake upstream itself; shares CPU {settings.load_cpu} with wrk)"
        )
    elif name == "bastion":
        target = Target("bastion", {}, CLIENT_KEY_BASTION)
        start_bastion(settings, target)
    elif name == "litellm":
        target = Target("litellm", {}, CLIENT_KEY_LITELLM)
        start_litellm(settings, target)
    else:
        raise SystemExit(f"unknown target {name!r} (known: {', '.join(TARGETS)})")

    results: list[dict[str, Any]] = []
    try:
        prepare_target(settings, target)
        assert target.server_pid is not None
        for scenario in settings.scenarios:
            skip = scenario.skip_reason(name)
            if skip:
                log(f"{name}: skipping {scenario.name}: {skip}")
                target.info.setdefault("skipped", {})[scenario.name] = skip
                continue
            if target.proc is not None and target.proc.poll() is not None:
                log(f"{name}: the server exited (code {target.proc.returncode}); skipping the rest")
                target.info["crashed"] = True
                break
            res = measure(settings, target, scenario, target.server_pid)
            results.append(res)
            if settings.profile > 0 and target.proc is not None:
                url = f"http://127.0.0.1:{target.port_of[scenario.upstream]}/v1/chat/completions"
                summary = profile_run(
                    settings,
                    url,
                    scenario,
                    target.key,
                    target.server_pid,
                    f"{name}-{scenario.name}",
                )
                log(f"{name} {scenario.name}: profile in {settings.run_dir.name}/profile-*.txt")
                if summary.startswith(("py-spy", "no samples")):
                    log(summary)
            log_result(name, res)
            time.sleep(0.5)
    except RuntimeError as exc:
        log(f"{name}: FAILED: {exc}")
        target.info["failed"] = str(exc)
    finally:
        if target.proc is not None:
            stop(target.proc)
    target.info["port"] = (
        next(iter(target.port_of.values()), None) if name != "direct" else "18081-18083"
    )
    return target.info, results


# --------------------------------------------------------------------------- variants

VARIANTS_DIR = BENCH_DIR / "variants"


def parse_variants(spec: str) -> list[tuple[str, Path]]:
    """``base,tracing`` (files in bench/variants/) or ``name=path`` items, comma-separated."""
    out: list[tuple[str, Path]] = []
    for item in (i.strip() for i in spec.split(",")):
        if not item:
            continue
        name, _, path = item.partition("=")
        file = Path(path) if path else VARIANTS_DIR / f"{name}.yaml"
        if not file.is_absolute() and not file.exists():
            file = ROOT / file
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"variant name {name!r}: letters, digits, '_', '.', '-' only")
        if not file.is_file():
            raise ValueError(f"variant {name!r}: no file {file}")
        if name in (n for n, _ in out):
            raise ValueError(f"variant {name!r} is named twice")
        out.append((name, file))
    return out


def merge(base: Any, over: Any) -> Any:
    """Mappings merge key by key (recursively); anything else in ``over`` replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(base.get(key), value) if key in base else value
        return out
    return over


def load_overlay(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A variant file: an overlay, merged onto the file it ``extends`` (relative path)."""
    import yaml  # a dependency of Bastion, which this harness runs anyway

    path = path.resolve()
    if path in chain:
        raise ValueError(f"{path}: 'extends' loops")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping")
    parent = data.pop("extends", None)
    if parent:
        data = merge(load_overlay(path.parent / str(parent), (*chain, path)), data)
    return data


def variant_config(settings: Settings, name: str, path: Path) -> tuple[Path, dict[str, Any]]:
    """The bench config with the variant's overlay: written into the run directory.

    Returns its path and the overlay's ``bench:`` options (e.g. ``governed_key``), which
    are the harness's, not Bastion's.
    """
    import yaml

    overlay = load_overlay(path)
    options = overlay.pop("bench", None) or {}
    merged = merge(yaml.safe_load(base_config().read_text()) or {}, overlay)
    out = settings.run_dir / f"bastion-{name}.yaml"
    header = f"# generated by bench/run.py: {display(base_config())} + {display(path)}\n"
    out.write_text(header + yaml.safe_dump(merged, sort_keys=False))
    check = subprocess.run(
        [*settings.bastion_cmd, "config", "check", str(out)], capture_output=True, text=True
    )
    if check.returncode != 0:
        raise ValueError(f"variant {name!r}: {(check.stdout + check.stderr).strip()}")
    return out, options


def display(path: Path) -> str:
    return str(path.resolve()).replace(str(ROOT) + "/", "")


def _signal_group(target: Target, sig: signal.Signals) -> None:
    if target.proc is not None and target.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(target.proc.pid, sig)


def run_variants(settings: Settings, meta: dict[str, Any], warnings: list[str]) -> int:
    """Bastion under each variant's config, measured in turns: per scenario, round after
    round, every variant once (A, B, C, A, B, C, ...), so that drift on the machine
    affects them all alike. All variants start at once; those not being measured are
    paused (SIGSTOP), so their timers and background work take no CPU from the one that is.
    """
    variants: list[Target] = []
    options: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    try:
        for i, (name, path) in enumerate(settings.variants):
            config, options[name] = variant_config(settings, name, path)
            target = Target(f"bastion-{name}", {}, CLIENT_KEY_BASTION)
            target.info.update(variant=name, overlay=display(path), config=display(config))
            start_bastion(
                settings,
                target,
                config=config,
                port=settings.bastion_port + i,
                suffix=f"-{name}",
                governed=bool(options[name].get("governed_key")),
            )
            variants.append(target)
        for target in variants:
            prepare_target(settings, target)
            _signal_group(target, signal.SIGSTOP)
        for scenario in settings.scenarios:
            for round_no in range(1, settings.rounds + 1):
                for target in variants:
                    assert target.proc is not None and target.server_pid is not None
                    if target.proc.poll() is not None:
                        raise RuntimeError(f"{target.name} exited (code {target.proc.returncode})")
                    _signal_group(target, signal.SIGCONT)
                    try:
                        res = measure(settings, target, scenario, target.server_pid)
                        if settings.profile > 0:
                            url = f"http://127.0.0.1:{target.port_of[scenario.upstream]}/v1/chat/completions"
                            profile_run(
                                settings,
                                url,
                                scenario,
                                target.key,
                                target.server_pid,
                                f"{target.name}-{scenario.name}-r{round_no}",
                            )
                    finally:
                        _signal_group(target, signal.SIGSTOP)
                    res.update(variant=target.info["variant"], round=round_no)
                    results.append(res)
                    log_result(target.name, res)
    except (RuntimeError, ValueError) as exc:
        log(f"variants: FAILED: {exc}")
        warnings.append(f"the run failed: {exc}")
    finally:
        for target in variants:
            if target.proc is not None:
                stop(target.proc)
    for r in results:
        if r["errors_total"]:
            warnings.append(
                f"{r['target']} {r['scenario']} round {r['round']}: {r['errors_total']} errors {r['errors']}"
            )
        if disturbed(r):
            warnings.append(
                f"{r['target']} {r['scenario']} round {r['round']}: disturbed by other work"
            )
    table = summarize_variants(results, [n for n, _ in settings.variants])
    data = {
        "meta": meta,
        "settings": {
            "duration_s": settings.duration,
            "warmup_s": settings.warmup,
            "rounds": settings.rounds,
            "base_config": display(base_config()),
            "variants": {t.info["variant"]: t.info for t in variants},
            "options": options,
            "run_dir": display(settings.run_dir),
        },
        "summary": table,
        "results": results,
        "warnings": warnings,
    }
    (settings.run_dir / "variants.json").write_text(json.dumps(data, indent=2) + "\n")
    report = render_variants(data)
    (settings.run_dir / "variants.md").write_text(report)
    log(f"everything of this run is in {display(settings.run_dir)}/ (variants.md, variants.json)")
    print(report)
    return 1 if any("the run failed" in w for w in warnings) else 0


def _median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _delta(value: float | None, base: float | None) -> float | None:
    return round(100 * (value / base - 1), 1) if value is not None and base else None


def summarize_variants(results: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """Per scenario and variant: medians over the rounds, and the change from the first variant."""
    rows = []
    for scen in dict.fromkeys(r["scenario"] for r in results):
        base: dict[str, Any] | None = None
        for name in names:
            runs = [r for r in results if r["scenario"] == scen and r["variant"] == name]
            if not runs:
                continue
            row: dict[str, Any] = {
                "scenario": scen,
                "variant": name,
                "rounds": len(runs),
                "rps": _median([r["rps"] for r in runs]),
                "p50_ms": _median([r["p50_ms"] for r in runs]),
                "p99_ms": _median([r["p99_ms"] for r in runs]),
                "cpu_ms_per_req": _median([r["cpu_ms_per_req"] for r in runs]),
                "rps_each": [r["rps"] for r in runs],
                "cpu_ms_per_req_each": [r["cpu_ms_per_req"] for r in runs],
                "errors": sum(r["errors_total"] for r in runs),
            }
            base = base or row
            for key in ("rps", "p99_ms", "cpu_ms_per_req"):
                row[f"{key}_delta_pct"] = _delta(row[key], base[key])
            rows.append(row)
    return rows


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:+.1f}%"


def render_variants(data: dict[str, Any]) -> str:
    s, meta = data["settings"], data["meta"]
    lines = [
        "# Bastion config variants",
        "",
        f"- **Date:** {meta['date']}; Bastion {meta['versions']['bastion']} (commit "
        f"{meta['versions']['bastion_commit'] or '?'}), {meta['nproc']} CPUs ({meta['cpu_model']})",
        f"- **Command:** `{meta['command']}`",
        f"- **Each run:** {s['duration_s']:g} s after a {s['warmup_s']:g} s warm-up; "
        f"{s['rounds']} round(s) per scenario, variants in turn; medians over the rounds",
        f"- **Configs:** `{s['base_config']}` + the overlay: "
        + ", ".join(f"{n} `{v.get('overlay')}`" for n, v in s["variants"].items()),
        "",
        "Deltas are against the first variant (the baseline): + on req/s is faster, + on p99",
        "and CPU/req is more.",
        "",
        "| Scenario | Variant | req/s | Δ req/s | p99 (ms) | Δ p99 | CPU/req (ms) | Δ CPU/req | req/s per round | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in data["summary"]:
        lines.append(
            f"| {row['scenario']} | {row['variant']} | {_rps(row['rps'])} | {_pct(row['rps_delta_pct'])} | "
            f"{_ms(row['p99_ms'])} | {_pct(row['p99_ms_delta_pct'])} | "
            f"{_f(row['cpu_ms_per_req'], 3)} | {_pct(row['cpu_ms_per_req_delta_pct'])} | "
            f"{' / '.join(_rps(v) for v in row['rps_each'])} | {row['errors']} |"
        )
    if data["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in data["warnings"]]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- report


def compare(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {(r["target"], r["scenario"]): r for r in results}
    out = []
    for scen in dict.fromkeys(r["scenario"] for r in results):
        row: dict[str, Any] = {"scenario": scen}
        direct = by.get(("direct", scen))
        for t in ("bastion", "litellm"):
            r = by.get((t, scen))
            if r and direct:
                row[f"{t}_added_p50_ms"] = round(r["p50_ms"] - direct["p50_ms"], 3)
                row[f"{t}_added_p99_ms"] = round(r["p99_ms"] - direct["p99_ms"], 3)
        b, lt = by.get(("bastion", scen)), by.get(("litellm", scen))
        if b and lt and lt["rps"]:
            row["rps_ratio_bastion_over_litellm"] = round(b["rps"] / lt["rps"], 2)
        if b and lt and b["cpu_ms_per_req"]:
            row["cpu_ratio_litellm_over_bastion"] = round(
                lt["cpu_ms_per_req"] / b["cpu_ms_per_req"], 1
            )
        out.append(row)
    for r in results:
        d = by.get(("direct", r["scenario"]))
        r["added_p50_ms"] = (
            round(r["p50_ms"] - d["p50_ms"], 3) if d and r["target"] != "direct" else None
        )
    return out


def _rps(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def _f(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if abs(v) < 100 else f"{v:,.0f}"


def routing_section(results: list[dict[str, Any]]) -> list[str]:
    """The route-* scenarios: degraded vs healthy group, and where the attempts went."""
    routed = [r for r in results if r.get("group")]
    if not routed:
        return []
    lines = [
        "",
        "## Routing: a degraded group vs a healthy one",
        "",
        "Both groups use `least_latency` with the default breaker (5 failures in a row open it,",
        "15 s cool-down, then one half-open probe) and one retry. *degraded / healthy* compares",
        "the two route scenarios of the same target; *attempts* are the upstream calls the",
        "router made during the measured run (from `/health/deployments`).",
        "",
        "| Target | Concurrency | healthy req/s | degraded req/s | req/s ratio | healthy p99 (ms) | degraded p99 (ms) | p99 ratio | degraded errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by = {(r["target"], r["group"], r["concurrency"]): r for r in routed}
    for target, _, conc in dict.fromkeys((r["target"], 0, r["concurrency"]) for r in routed):
        h, d = by.get((target, "healthy", conc)), by.get((target, "degraded", conc))
        if not h or not d:
            continue
        rps_ratio = d["rps"] / h["rps"] if h["rps"] else None
        p99_ratio = d["p99_ms"] / h["p99_ms"] if h["p99_ms"] else None
        lines.append(
            f"| {target} | {conc} | {_rps(h['rps'])} | {_rps(d['rps'])} | "
            f"{_f(rps_ratio, 2)} | {_ms(h['p99_ms'])} | {_ms(d['p99_ms'])} | "
            f"{_f(p99_ratio, 2)} | {_f(d['errors_total'])} |"
        )
    for r in routed:
        if r.get("deployments"):
            lines.append(
                f"- {r['target']} {r['scenario']} attempts: {describe_shares(r['deployments'])}"
            )
    return lines


def render(data: dict[str, Any]) -> str:
    meta, results, comp = data["meta"], data["results"], data["comparison"]
    v = meta["versions"]
    s = data["settings"]
    lines = [
        "# Benchmarks",
        "",
        "Bastion against LiteLLM's proxy, both in front of the same fake OpenAI upstream,",
        "and the upstream called directly as the baseline. Generated by `bench/run.sh`",
        "(`bench/run.py`); rerun it to refresh this page. Raw numbers: `bench/results/latest.json`.",
        "",
        f"- **Date:** {meta['date']}",
        f"- **Command:** `{meta['command']}`",
        f"- **Machine:** {meta['nproc']} CPUs ({meta['cpu_model']}), {meta['memory_gib']} GiB RAM,"
        f" {meta['os']}, Linux {meta['kernel']}; load average before the run {' '.join(meta['loadavg_before'])}",
        f"- **Versions:** Bastion {v['bastion']} (commit {v['bastion_commit'] or '?'}) on Python {meta['python']};"
        f" LiteLLM {v['litellm']} on Python {v['litellm_python']}; nginx {v['nginx']}; wrk {v['wrk']}",
        f"- **Each run:** {s['duration_s']:g} s measured after a {s['warmup_s']:g} s warm-up at the same"
        f" concurrency; wrk timeout {s['wrk_timeout_s']:g} s",
        "",
        "## Bastion vs LiteLLM",
        "",
        "| Scenario | Bastion req/s | LiteLLM req/s | Bastion / LiteLLM | Bastion added p50 (ms) | LiteLLM added p50 (ms) | Bastion CPU/req (ms) | LiteLLM CPU/req (ms) | Bastion max RSS (MB) | LiteLLM max RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by = {(r["target"], r["scenario"]): r for r in results}
    for row in comp:
        b, lt = by.get(("bastion", row["scenario"])), by.get(("litellm", row["scenario"]))
        ratio = row.get("rps_ratio_bastion_over_litellm")
        lines.append(
            f"| {row['scenario']} | {_rps(b and b['rps'])} | {_rps(lt and lt['rps'])} | "
            f"{(f'{ratio:,.1f}x' if ratio is not None else '-')} | "
            f"{_ms(row.get('bastion_added_p50_ms'))} | {_ms(row.get('litellm_added_p50_ms'))} | "
            f"{_f(b and b['cpu_ms_per_req'], 3)} | {_f(lt and lt['cpu_ms_per_req'], 3)} | "
            f"{_f(b and b['max_rss_mb'], 0)} | {_f(lt and lt['max_rss_mb'], 0)} |"
        )
    lines += [
        "",
        "## All results",
        "",
        "Latency is measured by wrk from the request's first byte to the response's last byte",
        "(for streams: the whole stream). *Added p50* is the target's p50 minus direct's p50 in the",
        "same scenario. *CPU/req* is the user+system CPU time of the server's whole process tree",
        "divided by the requests served; *RSS* is the peak resident memory of that tree. For",
        "*direct* the server is nginx, which shares its CPU with wrk.",
        "",
        "| Scenario | Target | req/s | p50 (ms) | p99 (ms) | added p50 (ms) | errors | CPU/req (ms) | server CPU | max RSS (MB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scen in dict.fromkeys(r["scenario"] for r in results):
        for t in TARGETS:
            r = by.get((t, scen))
            if not r:
                continue
            errs = r["errors_total"]
            err_txt = (
                "0"
                if not errs
                else "**"
                + _f(errs)
                + "** ("
                + ", ".join(f"{k} {n}" for k, n in r["errors"].items() if n)
                + ")"
            )
            lines.append(
                f"| {scen} | {t} | {_rps(r['rps'])} | {_ms(r['p50_ms'])} | {_ms(r['p99_ms'])} | "
                f"{_ms(r['added_p50_ms'])} | {err_txt} | {_f(r['cpu_ms_per_req'], 3)} | "
                f"{_f(r['server_cpu_util_pct'], 0)}% | {_f(r['max_rss_mb'])} |"
            )
    lines += routing_section(results)
    lines += ["", "Scenarios:", ""]
    for scen in dict.fromkeys(r["scenario"] for r in results):
        desc = next(r["description"] for r in results if r["scenario"] == scen)
        lines.append(f"- `{scen}`: {desc}")
    lines += ["", "## Targets", ""]
    for name, info in data["targets"].items():
        extra = []
        if "startup_s" in info:
            extra.append(f"ready after {info['startup_s']} s")
        if "wrong_key_status" in info:
            extra.append(f"wrong key answered HTTP {info['wrong_key_status']}")
        if "idle_rss_mb" in info:
            extra.append(f"RSS after startup {info['idle_rss_mb']} MB")
        if info.get("validation") not in (None, "ok"):
            extra.append(f"**wrong answers: {info['validation']}**")
        if info.get("failed"):
            extra.append(f"**failed: {info['failed']}**")
        if info.get("crashed"):
            extra.append("**the server exited during the run**")
        for scen, why in (info.get("skipped") or {}).items():
            extra.append(f"{scen} not run: {why}")
        lines.append(
            f"- **{name}**: `{info.get('command', '')}`"
            + (f" ({'; '.join(extra)})" if extra else "")
        )
    lines += ["", "## Method", "", *METHOD_NOTES]
    if data.get("warnings"):
        lines += ["", "## Warnings from this run", ""] + [f"- {w}" for w in data["warnings"]]
    return "\n".join(lines) + "\n"


METHOD_NOTES = [
    "- **Fake upstream.** nginx (one worker) serves canned OpenAI answers on loopback for any",
    "  `POST /v1/chat/completions`: a `chat.completion` JSON (about 0.9 kB, the fields of",
    "  OpenAI's reference: id, object, created, model, choices with message/refusal/annotations,",
    "  logprobs, finish_reason, usage with token details, service_tier, system_fingerprint) on",
    "  :18081; an SSE stream (role chunk, 8 content chunks, finish chunk, usage chunk,",
    "  `data: [DONE]`; about 4 kB, chunked transfer encoding) on :18082; the same JSON after",
    "  50 ms (`echo_sleep`) on :18083. See `bench/fake_upstream.py`. Called directly, it serves",
    "  tens of thousands of requests per second on one core, far above either gateway.",
    "- **Isolation.** The gateway under test runs alone, pinned with `taskset` to CPU 0; nginx",
    "  and wrk are pinned to CPU 1. Only one gateway runs at a time. Each target gets a warm-up",
    "  (a few seconds of each request kind at concurrency 8) after startup, and each scenario",
    "  a warm-up at its own concurrency before the measured run, which starts once the",
    "  gateway is idle again. Everything the run starts has nice -20 (as root, for its session too), each",
    "  measurement first waits for both CPUs to be idle, and one during which other",
    "  processes took more than 15% of the gateway's CPU while the gateway spent more than",
    "  10% of the run waiting for a CPU (`/proc/<pid>/task/*/schedstat`) is measured again;",
    "  one still disturbed is listed under Warnings.",
    "- **Same conditions for both gateways.** One worker process each, no external database,",
    "  no cache, no Redis, authentication on, quiet logs, the same request bodies (a system and",
    "  a user message, `max_tokens`, `temperature`; streams ask for",
    "  `stream_options.include_usage`). Bastion keeps its default embedded SQLite store (in the",
    "  run directory), so its numbers include recording every request in its spend ledger and",
    "  audit log; LiteLLM without a database records nothing.",
    "  Bastion authenticates a static client key from `bench/bastion.bench.yaml`; LiteLLM has",
    "  no virtual keys without a database, so it authenticates its master key",
    "  (`bench/litellm.bench.yaml`). LiteLLM runs with its documented production settings",
    "  (`LITELLM_LOG=ERROR`, `LITELLM_MODE=PRODUCTION`, `set_verbose: false`, no callbacks,",
    "  `num_retries: 0`) and `LITELLM_LOCAL_MODEL_COST_MAP=True` so that it does not fetch its",
    "  price list at startup; it is installed as `litellm[proxy]` in its own virtualenv",
    "  (`bench/.venv-litellm`), uvicorn with uvloop as its CLI starts it.",
    "- **Load.** wrk (closed loop: each connection sends its next request when the previous",
    "  answer is complete) with a Lua script for the POST body and the summary",
    "  (`bench/wrk_post.lua`); 1 thread at concurrency 1, else 2. Errors are every response",
    "  with status >= 400 plus connect, read, write errors and timeouts; none is dropped",
    "  from the table. Before measuring, each target's answers are checked once per request",
    "  kind (JSON shape, stream ends in `[DONE]` with content and usage) and a wrong key must",
    "  be refused (the status each gateway answered is listed under Targets).",
    "- **Resources.** CPU time is utime+stime (plus reaped children) summed over the server's",
    "  process tree from `/proc/<pid>/stat`, before and after the measured run; RSS is the",
    "  tree's summed resident memory, sampled every 200 ms. `latest.json` also has, per run,",
    "  how busy both CPUs were and how much of its CPU nginx + wrk used: a gateway CPU near",
    "  100% means the gateway was the bottleneck; nginx + wrk stay far below 100% in every",
    "  gateway run, so the load side never was.",
    "- **Caveats.** Loopback only, so no network latency; one run per cell (rerun to see the",
    "  noise, typically a few percent); a two-core VM shared with whatever else the machine",
    "  runs. wrk counts only requests that complete within the run and leaves timed-out ones",
    "  out of its percentiles; where a gateway's latency is seconds (LiteLLM at high",
    "  concurrency) the tail is therefore understated and req/s slightly too (about 4%",
    "  between 10 s and 20 s runs). The numbers compare gateway overhead, not model serving.",
]


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> Settings:
    env = os.environ.get
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--duration",
        type=float,
        default=float(env("BENCH_DURATION", "10")),
        help="seconds measured per scenario and target (BENCH_DURATION, default 10)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=float(env("BENCH_WARMUP", "2")),
        help="warm-up seconds before each measured run (BENCH_WARMUP, default 2)",
    )
    p.add_argument(
        "--target-warmup",
        type=float,
        default=float(env("BENCH_TARGET_WARMUP", "3")),
        help="warm-up seconds per request kind after a gateway starts (BENCH_TARGET_WARMUP, default 3)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=float(env("BENCH_WRK_TIMEOUT", "30")),
        help="wrk request timeout in seconds; slower answers count as errors (BENCH_WRK_TIMEOUT, default 30)",
    )
    p.add_argument(
        "--targets",
        default=env("BENCH_TARGETS", ",".join(TARGETS)),
        help="comma-separated subset of direct,bastion,litellm (BENCH_TARGETS)",
    )
    p.add_argument(
        "--scenarios",
        default=env("BENCH_SCENARIOS", ""),
        help="comma-separated scenario names, default all: " + ",".join(s.name for s in SCENARIOS),
    )
    p.add_argument("--gateway-cpu", type=int, default=int(env("BENCH_GATEWAY_CPU", "0")))
    p.add_argument("--load-cpu", type=int, default=int(env("BENCH_LOAD_CPU", "1")))
    p.add_argument("--bastion-port", type=int, default=int(env("BENCH_BASTION_PORT", "4000")))
    p.add_argument("--litellm-port", type=int, default=int(env("BENCH_LITELLM_PORT", "4001")))
    p.add_argument(
        "--bastion-cmd",
        default=env("BENCH_BASTION_CMD", ""),
        help="how to run bastion (default: `bastion` on PATH, else python -m bastion)",
    )
    p.add_argument(
        "--profile",
        type=float,
        default=float(env("BENCH_PROFILE", "0")),
        help="after each measured gateway run, profile an extra run of this many seconds "
        "with py-spy (BENCH_PROFILE; default 0 = off). Never overlaps a measured run",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=float(env("BENCH_QUIET_WAIT", "180")),
        help="seconds the whole run may spend waiting for other work on the machine to stop "
        "before a measurement, and measuring a disturbed run again (BENCH_QUIET_WAIT, default 180)",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=int(env("BENCH_NICE", "-20" if os.geteuid() == 0 else "0")),
        help="priority change for everything the run starts (BENCH_NICE; default -20 as root, "
        "so that other work on a shared machine disturbs less; 0 = unchanged)",
    )
    p.add_argument(
        "--stream-flush",
        action="store_true",
        default=env("BENCH_STREAM_FLUSH", "") == "1",
        help="fake upstream writes each SSE event separately (BENCH_STREAM_FLUSH=1)",
    )
    p.add_argument(
        "--variants",
        default=env("BENCH_VARIANTS", ""),
        help="measure Bastion under several configs in one run, interleaved: comma-separated "
        "NAME (bench/variants/NAME.yaml) or NAME=PATH; each file is an overlay on the bench "
        "config; the first is the baseline of the deltas (BENCH_VARIANTS). Implies "
        "--targets bastion; writes variants.md/.json into the run directory, never the docs",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=int(env("BENCH_ROUNDS", "3")),
        help="with --variants: measurements of each scenario per variant, in turns "
        "(BENCH_ROUNDS, default 3)",
    )
    p.add_argument(
        "--docs",
        default=env("BENCH_DOCS", str(ROOT / "docs" / "benchmarks.md")),
        help="markdown report to (over)write, together with bench/results/latest.json; "
        "'none' writes both only into the run's directory (BENCH_DOCS)",
    )
    a = p.parse_args(argv)
    names = [n.strip() for n in a.scenarios.split(",") if n.strip()]
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        p.error(f"unknown scenario(s) {unknown}; known: {', '.join(known)}")
    targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    if [t for t in targets if t not in TARGETS]:
        p.error(f"targets must be among {TARGETS}")
    try:
        variants = parse_variants(a.variants)
    except ValueError as exc:
        p.error(str(exc))
    if variants:
        targets = ["bastion"]
    if a.rounds < 1:
        p.error("--rounds must be at least 1")
    if a.bastion_cmd:
        bastion_cmd = shlex.split(a.bastion_cmd)
    elif shutil.which("bastion"):
        bastion_cmd = [shutil.which("bastion") or "bastion"]
    else:
        bastion_cmd = [sys.executable, "-m", "bastion"]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = BENCH_DIR / "results" / f"run-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    command = os.environ.get("BENCH_COMMAND") or shlex.join(
        ["python3", "bench/run.py", *(argv or sys.argv[1:])]
    )
    env_settings = [
        f"{k}={shlex.quote(v)}"
        for k, v in sorted(os.environ.items())
        if k.startswith("BENCH_") and k != "BENCH_COMMAND"
    ]
    command = " ".join([*env_settings, command])
    docs = None if a.docs.lower() in ("", "none", "0") else Path(a.docs)
    return Settings(
        duration=a.duration,
        warmup=a.warmup,
        target_warmup=a.target_warmup,
        timeout=a.timeout,
        gateway_cpu=a.gateway_cpu,
        load_cpu=a.load_cpu,
        targets=[t for t in TARGETS if t in targets],  # direct first: the baseline
        scenarios=[known[n] for n in names] if names else list(SCENARIOS),
        bastion_port=a.bastion_port,
        litellm_port=a.litellm_port,
        bastion_cmd=bastion_cmd,
        run_dir=run_dir,
        docs=docs,
        stream_flush=a.stream_flush,
        command=command,
        profile=a.profile,
        quiet_budget=a.quiet_wait,
        nice=a.nice,
        variants=variants,
        rounds=a.rounds if variants else 1,
    )


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    for tool in ("nginx", "wrk", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed: run bench/run.sh, which installs it")
    if (os.cpu_count() or 1) < 2:
        log("only one CPU: the gateway and the load generator will share it")
        settings.load_cpu = settings.gateway_cpu
    atexit.register(cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    if settings.nice:
        # Everything this run starts gets the priority: on a shared machine other work
        # then disturbs the measurements much less (CFS gives -20 about 87x the weight of 0).
        global _nice
        try:
            os.nice(settings.nice)
            _nice = settings.nice
        except OSError as exc:
            log(f"cannot change priority by {settings.nice} ({exc}); running at normal priority")
            settings.nice = 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))

    warnings: list[str] = []
    load1 = float(Path("/proc/loadavg").read_text().split()[0])
    if load1 > 0.5:
        warnings.append(
            f"load average was {load1} when the run started: other work may disturb the numbers"
        )
        log(warnings[-1])
    meta = machine_info(settings)
    runs = len(settings.variants) * settings.rounds if settings.variants else len(settings.targets)
    total = runs * len(settings.scenarios) * (settings.duration + settings.warmup + 1)
    log(
        f"run directory {settings.run_dir.relative_to(ROOT)}; about {total / 60:.1f} min of load plus startups"
    )

    nginx = start_nginx(settings)
    settings.nginx_pid = nginx.pid
    log(
        f"fake upstream (nginx) on :{fake_upstream.PLAIN_PORT} :{fake_upstream.STREAM_PORT} :{fake_upstream.SLOW_PORT}"
    )
    if settings.variants:
        try:
            return run_variants(settings, meta, warnings)
        finally:
            stop(nginx)
    targets: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    try:
        for name in settings.targets:
            info, res = run_target(settings, name, nginx)
            targets[name] = info
            results += res
    finally:
        stop(nginx)

    for r in results:
        if r["errors_total"]:
            warnings.append(
                f"{r['target']} {r['scenario']}: {r['errors_total']} errors {r['errors']}"
            )
        if disturbed(r):
            warnings.append(
                f"{r['target']} {r['scenario']}: other work used about "
                f"{r['other_busy_on_gateway_core_pct']}% of the gateway's CPU while the gateway "
                f"waited {r['server_runqueue_wait_pct']}% of the run for it; rerun on a quiet machine"
            )
        if r["target"] != "direct" and (r["upstream_plus_wrk_cpu_pct"] or 0) > 85:
            warnings.append(
                f"{r['target']} {r['scenario']}: nginx + wrk used {r['upstream_plus_wrk_cpu_pct']}% "
                "of their CPU; they may have limited this run"
            )
    for name, info in targets.items():
        if info.get("failed") or info.get("crashed") or info.get("validation") not in (None, "ok"):
            warnings.append(f"{name}: {info.get('failed') or info.get('validation') or 'crashed'}")
    data = {
        "meta": meta,
        "settings": {
            "duration_s": settings.duration,
            "warmup_s": settings.warmup,
            "target_warmup_s": settings.target_warmup,
            "wrk_timeout_s": settings.timeout,
            "gateway_cpu": settings.gateway_cpu,
            "load_cpu": settings.load_cpu,
            "stream_flush": settings.stream_flush,
            "profile_s": settings.profile,
            "nice": settings.nice,
            "quiet_wait_left_s": round(settings.quiet_budget, 1),
            "scenarios": [asdict(s) | {"description": s.describe()} for s in settings.scenarios],
            "run_dir": str(settings.run_dir.relative_to(ROOT)),
        },
        "targets": targets,
        "results": results,
        "comparison": compare(results),
        "warnings": warnings,
    }
    (settings.run_dir / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    report = render(data)
    (settings.run_dir / "benchmarks.md").write_text(report)
    if settings.docs:
        # Published together, so that the page and the raw numbers always match.
        latest = BENCH_DIR / "results" / "latest.json"
        latest.write_text(json.dumps(data, indent=2) + "\n")
        settings.docs.parent.mkdir(parents=True, exist_ok=True)
        settings.docs.write_text(report)
        log(f"wrote {settings.docs} and {latest.relative_to(ROOT)}")
    log(f"everything of this run is in {settings.run_dir.relative_to(ROOT)}/")
    print(report)
    failed = any(info.get("failed") or info.get("crashed") for info in targets.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
