"""A real Ray cluster that talks over loopback only: a head node inside a private network namespace.

Ray binds to the machine's own network address whatever ``--node-ip-address`` says; inside a
namespace that holds only a loopback interface it has nothing but 127.0.0.1 to bind to. Used by
the Ray tests and ``benchmarks/render_speed.py --ray``; needs root (``ip netns``).

    with ray_cluster(cpus=2) as cluster:
        cluster.run(["visualizer", "render-many", ..., "--address", cluster.address])
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from visualizer.errors import UserError

HEAD_PORT = 6379


class NamespaceError(UserError):
    """No network namespace can be made here (not root, or no ``ip``)."""


def can_make_namespaces() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


@dataclass(frozen=True)
class RayCluster:
    namespace: str
    address: str      # HOST:PORT of the head, reachable from inside the namespace only

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(argv), **kwargs)

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(argv), **kwargs)

    def pids(self) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.namespace], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]


def ray_binary() -> str:
    path = Path(sys.executable).with_name("ray")
    if not path.exists():
        raise NamespaceError("Ray is not installed here: pip install 'neural-music-visualizer[ray]'")
    return str(path)


@contextlib.contextmanager
def network_namespace(prefix: str = "vis") -> Iterator[str]:
    """A new network namespace with loopback up; everything in it is killed and it is deleted afterwards."""
    if not can_make_namespaces():
        raise NamespaceError("making a network namespace needs root and iproute2 ('ip')")
    name = f"{prefix}-{os.getpid()}-{time.monotonic_ns() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        _kill_all(name)
        subprocess.run(["ip", "netns", "delete", name], check=False)


def _kill_all(namespace: str) -> None:
    for _ in range(20):
        out = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout.split()
        if not out:
            return
        for pid in out:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.1)


@contextlib.contextmanager
def ray_cluster(cpus: int = 2, *, niceness: int | None = 0) -> Iterator[RayCluster]:
    """A one-node Ray cluster (``cpus`` logical CPUs) in its own namespace. ``niceness``: that of its
    workers (Ray's default is 15, which lets any other busy process on a shared machine starve them;
    None keeps Ray's)."""
    ray = ray_binary()
    with network_namespace("ray") as ns:
        env = dict(os.environ)
        if niceness is not None:
            env["RAY_worker_niceness"] = str(niceness)
        cluster = RayCluster(ns, f"127.0.0.1:{HEAD_PORT}")
        started = cluster.run([ray, "start", "--head", f"--port={HEAD_PORT}", f"--num-cpus={cpus}", "--num-gpus=0",
                               "--include-dashboard=false", "--disable-usage-stats"],
                              env=env, capture_output=True, text=True, timeout=120)
        if started.returncode != 0:
            raise NamespaceError(f"ray start failed: {started.stderr.strip().splitlines()[-1:]}")
        try:
            yield cluster
        finally:
            cluster.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=60)
