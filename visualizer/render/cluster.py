"""Renders on Ray: a catalogue of songs at once (``visualizer render-many``) and one long song split
into chunks over the workers (``--chunks N`` or ``render.chunk_s``).

A local Ray is started when no address is given; ``--address HOST:PORT`` (or ``ray://HOST:PORT``
for Ray Client) joins a running cluster, whose nodes need this package installed. Songs, chunks
and finished videos travel through Ray's object store, so the nodes need no shared folder; where a
worker does see the output folder (one machine, or a shared filesystem) it writes there directly.

Each task takes its resources (``num_cpus`` cores, or a GPU where the cluster has one) and runs
torch with the driver's thread count, because the CPU arithmetic of the generator rounds
differently with another count and the frames must equal a render on this machine.
A task whose worker dies is retried by Ray; a song that cannot be rendered is reported by name.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from visualizer.errors import UserError, first_line
from visualizer.settings import Settings, from_dict, to_dict

RETRIES = 2  # Ray's retries of a task whose worker died


@contextmanager
def ray_session(address: str | None):
    """Ray, connected to the cluster at ``address`` (None: a new local one) until the block ends."""
    try:
        import ray
    except ImportError:
        raise UserError("rendering on Ray needs Ray: pip install 'neural-music-visualizer[ray]'") from None
    if address:
        _check_reachable(address)
    try:
        local = {} if address else {"include_dashboard": False}
        ray.init(address=address or "local", log_to_driver=False, configure_logging=False, **local)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise UserError(f"cannot reach {where} ({first_line(exc)[:160]}); start one there with "
                        "'ray start --head', or leave out --address for a local one") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A UserError unless something answers at ``address`` (HOST:PORT or ray://HOST:PORT): Ray itself
    retries a dead address for minutes."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--address {address!r} is not HOST:PORT (or ray://HOST:PORT), e.g. 10.0.0.5:6379")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address} ({exc.strerror or type(exc).__name__}); start "
                        "it there with 'ray start --head', or leave out --address for a local one") from None


class Progress:
    """A Ray actor counting the frames written per song (a retried task starts its song again)."""

    def __init__(self) -> None:
        self.frames: dict[str, int] = {}

    def set(self, key: str, frames: int) -> None:
        self.frames[key] = frames

    def add(self, key: str, frames: int) -> None:
        self.frames[key] = self.frames.get(key, 0) + frames

    def total(self) -> int:
        return sum(self.frames.values())


def _setup_worker(settings_data: dict, threads: int):
    """The settings and a generator, in a worker process."""
    import torch

    from visualizer.models.io import load_configured

    torch.set_num_threads(threads)
    settings = from_dict(settings_data)
    return settings, load_configured(settings)


def _reporter(progress, key: str):
    progress.set.remote(key, 0)
    return lambda n: progress.add.remote(key, n)


def render_chunk_task(settings_data: dict, threads: int, plan, span: tuple[int, int], progress, key: str) -> bytes:
    """Ray task: frames span[0]..span[1]-1 of a render as a video-only MP4, returned as bytes; ``plan``:
    at least the part of the render's plan they need (``FramePlan.part``)."""
    from visualizer.engine import OfflineRenderer

    settings, generator = _setup_worker(settings_data, threads)
    with tempfile.TemporaryDirectory(prefix="visualizer-chunk-") as tmp:
        path = Path(tmp) / "chunk.mp4"
        OfflineRenderer(settings, generator).draw(plan, path, audio=None, section=span,
                                                  on_frames=_reporter(progress, key))
        return path.read_bytes()


@dataclass(frozen=True)
class SongJob:
    """One song of a catalogue: where it is, where its video goes."""

    song: Path
    output: Path
    size: int        # bytes of the song, to tell that a worker's file of that name is the same one


def render_song_task(settings_data: dict, threads: int, job: SongJob, song_data: list, marker: str,
                     progress) -> dict:
    """Ray task: one song's video. Written straight to ``job.output`` when this worker sees the
    output folder (``marker`` is there), else returned as bytes. A song that cannot be rendered
    (a UserError: corrupt audio, say) comes back as its message, not as a failed task."""
    from visualizer.engine import render_file

    settings, generator = _setup_worker(settings_data, threads)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="visualizer-song-") as tmp:
        song = job.song
        if not (song.is_file() and song.stat().st_size == job.size):
            import ray

            song = Path(tmp) / job.song.name
            song.write_bytes(ray.get(song_data[0]))
        shared = (job.output.parent / marker).is_file()
        output = job.output if shared else Path(tmp) / job.output.name
        try:
            result = render_file(song, output, settings, progress=False, generator=generator,
                                 on_frames=_reporter(progress, job.song.name))
        except UserError as exc:
            return {"error": str(exc)}
        record = {"frames": result.frames, "seconds": time.perf_counter() - start,
                  "audio_s": result.audio_duration_s, "generated": result.generated}
        if not shared:
            record["video"] = output.read_bytes()
        return record


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _task_options(ray, cpus: int, gpus: float | None) -> dict:
    """A task's resources: ``cpus`` cores, and one GPU each where the cluster has GPUs (``gpus``: that many)."""
    if gpus is None:
        gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    return {"num_cpus": cpus, "num_gpus": gpus, "max_retries": RETRIES, "retry_exceptions": False}


def _progress_bar(total: int, show: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", disable=not show, desc=desc, file=sys.stderr)


def song_duration_s(path: Path) -> float:
    """A song's length in seconds from its container, without decoding it (0 when unknown: a corrupt
    file, which its render then names)."""
    import av

    try:
        with av.open(str(path)) as c:
            stream = c.streams.audio[0]
            if stream.duration is not None:
                return float(stream.duration * stream.time_base)
            return c.duration / 1e6 if c.duration else 0.0
    except (av.error.FFmpegError, IndexError, OSError):
        return 0.0


@dataclass
class SongOutcome:
    song: str
    status: str            # "done", "skipped" (its video was there) or "failed"
    message: str = ""
    frames: int = 0
    seconds: float = 0.0
    audio_s: float = 0.0

    def row(self) -> str:
        rtf = f"{self.seconds / self.audio_s:.2f}" if self.audio_s else "-"
        what = self.message if self.status == "failed" else self.status
        return f"{self.song:<32.32} {self.frames:>8} {self.seconds:>9.1f} {rtf:>6}  {what}"


def summary_table(outcomes: list[SongOutcome]) -> str:
    head = f"{'song':<32} {'frames':>8} {'seconds':>9} {'RTF':>6}  result"
    done = sum(o.status == "done" for o in outcomes)
    failed = sum(o.status == "failed" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    return "\n".join([head, *(o.row() for o in outcomes),
                      f"{done} rendered, {skipped} already there, {failed} failed"])


def catalogue_jobs(songs: list[Path], out_dir: Path) -> list[SongJob]:
    """One job per song, its video OUT_DIR/STEM.mp4; a UserError for a missing song or two songs
    that would write the same video."""
    from visualizer.audio.sources import AudioError

    jobs, seen = [], {}
    for song in songs:
        if not song.is_file():
            raise AudioError(f"song not found: {song}")
        output = out_dir / f"{song.stem}.mp4"
        if output in seen:
            raise UserError(f"{song} and {seen[output]} would both write {output}; rename one of them")
        seen[output] = song
        jobs.append(SongJob(song=song.resolve(), output=output.resolve(), size=song.stat().st_size))
    return jobs


def render_many(songs: list[Path], out_dir: Path, settings: Settings, *, address: str | None = None,
                cpus_per_song: int = 2, gpus_per_song: float | None = None, progress: bool | None = None,
                log=lambda m: print(m, file=sys.stderr)) -> list[SongOutcome]:
    """Render every song to OUT_DIR/STEM.mp4 as Ray tasks; a song whose video is there is skipped,
    one that fails is reported and the others go on. Returns one outcome per song, in order."""
    import torch

    from visualizer.engine import frame_count
    from visualizer.render.video import check_output_path

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot make the folder --out-dir {out_dir} ({exc.strerror or exc}); choose another") from None
    jobs = catalogue_jobs(songs, out_dir)
    for job in jobs:
        check_output_path(job.output)
    outcomes = {job.song: SongOutcome(job.song.name, "skipped") for job in jobs if job.output.exists()}
    todo = [job for job in jobs if not job.output.exists()]
    marker = f".visualizer-render-many-{uuid.uuid4().hex}"
    data = to_dict(settings)
    threads = torch.get_num_threads()
    show = sys.stderr.isatty() if progress is None else progress
    (out_dir / marker).touch()
    try:
        with ray_session(address) as ray:
            tracker = ray.remote(num_cpus=0)(Progress).remote()
            task = ray.remote(render_song_task).options(**_task_options(ray, cpus_per_song, gpus_per_song))
            window = max(2, 2 * int(ray.cluster_resources().get("CPU", 2) // max(cpus_per_song, 1)))
            lengths = [song_duration_s(job.song) for job in todo]
            total = sum(frame_count(d, settings.render.fps) for d in lengths if d)
            running: dict = {}
            queue = list(todo)
            with _progress_bar(total, show, f"{len(todo)} songs") as bar:
                while queue or running:
                    while queue and len(running) < window:
                        job = queue.pop(0)
                        song_ref = ray.put(job.song.read_bytes())
                        running[task.remote(data, threads, job, [song_ref], marker, tracker)] = job
                    ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
                    bar.n = min(total, ray.get(tracker.total.remote()))
                    bar.refresh()
                    for ref in ready:
                        job = running.pop(ref)
                        outcomes[job.song] = _collect(ray, ref, job)
                        if outcomes[job.song].status == "failed":
                            log(f"visualizer: {job.song.name} failed: {outcomes[job.song].message}")
    finally:
        (out_dir / marker).unlink(missing_ok=True)
    return [outcomes[job.song] for job in jobs]


def _collect(ray, ref, job: SongJob) -> SongOutcome:
    """The outcome of a finished song task; its video written under its name if it came back as bytes."""
    name = job.song.name
    try:
        record = ray.get(ref)
    except ray.exceptions.RayError as exc:
        cause = getattr(exc, "cause", None) or exc
        return SongOutcome(name, "failed", f"{type(cause).__name__}: {first_line(cause)[:160]}")
    if "error" in record:
        return SongOutcome(name, "failed", record["error"])
    if "video" in record:
        try:
            _write_atomically(job.output, record["video"])
        except OSError as exc:
            return SongOutcome(name, "failed", f"cannot write {job.output} ({exc.strerror or exc}); free some space")
    return SongOutcome(name, "done", frames=record["frames"], seconds=record["seconds"], audio_s=record["audio_s"])


def render_chunked(input_path: Path, output: Path, settings: Settings, chunks: int, *, address: str | None = None,
                   cpus_per_chunk: int = 2, gpus_per_chunk: float | None = None, progress: bool | None = None,
                   start_s: float | None = None, end_s: float | None = None):
    """One song's video with its frames drawn in ``chunks`` Ray tasks from one frame plan made here,
    then joined without encoding again; the frames are those of ``render_file``. Returns a RenderResult."""
    import torch

    from visualizer.engine import RenderResult, open_song
    from visualizer.render.chunks import chunk_spans, join_chunks
    from visualizer.render.video import copyable_audio

    begin = time.perf_counter()
    output, clip, section, renderer = open_song(input_path, output, settings, start_s, end_s)
    fps = settings.render.fps
    plan, stages = renderer.prepare(clip)
    first, end = section or (0, plan.end)
    spans = chunk_spans(first, end, chunks)
    data, threads = to_dict(settings), torch.get_num_threads()
    show = sys.stderr.isatty() if progress is None else progress
    with tempfile.TemporaryDirectory(prefix=f".{output.stem}.chunks-", dir=output.parent) as tmp:
        with ray_session(address) as ray:
            tracker = ray.remote(num_cpus=0)(Progress).remote()
            task = ray.remote(render_chunk_task).options(**_task_options(ray, cpus_per_chunk, gpus_per_chunk))
            # Each task gets only its part of the plan, so no process holds all of a long song's.
            refs = [task.remote(data, threads, plan.part(*span), span, tracker, f"chunk{i}")
                    for i, span in enumerate(spans)]
            with _progress_bar(end - first, show, output.name) as bar:
                pending = list(refs)
                while pending:
                    _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
                    bar.n = min(end - first, ray.get(tracker.total.remote()))
                    bar.refresh()
            parts = []
            for i, ref in enumerate(refs):
                try:
                    chunk = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    cause = getattr(exc, "cause", None) or exc
                    raise UserError(f"chunk {i + 1} of {len(spans)} failed on its worker ({type(cause).__name__}: "
                                    f"{first_line(cause)[:160]})") from None
                parts.append(Path(tmp) / f"chunk{i:04d}.mp4")
                try:
                    parts[-1].write_bytes(chunk)
                except OSError as exc:
                    raise UserError(f"cannot write the chunks of {output} beside it ({exc.strerror or exc}); free "
                                    "some space or choose another --output") from None
        audio = clip if section is None else clip.trimmed(first / fps, end / fps)
        copy = Path(input_path) if section is None and copyable_audio(input_path, output) else None
        path, frames = join_chunks(parts, output, settings, audio, copy_audio_from=copy)
    return RenderResult(path=path, frames=frames, audio_duration_s=audio.duration_s,
                        wall_s=time.perf_counter() - begin, stage_s=stages,
                        generated=int(((plan.keys >= first) & (plan.keys < end)).sum()))
