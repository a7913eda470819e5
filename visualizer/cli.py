"""Command line: parses arguments and calls the library. No behaviour lives here.

    visualizer --input song.mp3 --output song.mp4 [--settings my.toml] [--size 512|1920x1080] [--fps 30] [--seed 7]
    visualizer demo [--output demo.mp4]
    visualizer train [--family fastgan] [--data flames|cosmos|FOLDER] [--minutes 60] [--resume STATE]
    visualizer sheet video.mp4 [--out sheet.png]
    visualizer analyze song.wav [--json analysis.json]
    visualizer convert network-snapshot.pkl model.safetensors
    visualizer --print-settings
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from visualizer.errors import UserError


def _render_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="visualizer",
        description="Audio-reactive visuals from a neural image generator: --input song.mp3 --output song.mp4 "
                    "renders a video, --input mic runs a live show.",
        epilog="Subcommands: 'visualizer demo' renders the bundled demo; 'visualizer train' trains a model; "
               "'visualizer train-map' trains a model's music map; 'visualizer sheet VIDEO' saves a contact sheet; "
               "'visualizer analyze FILE' shows (or writes as JSON) what the analyzer and the listener hear; "
               "'visualizer convert IN OUT' turns a StyleGAN network into our safetensors format. "
               "Run 'visualizer SUBCOMMAND --help' for theirs. Read next: docs/live.md (shows), docs/settings.md "
               "(every setting), docs/synesthesia.md (how music places the picture).",
    )
    p.add_argument("--input", "-i", help="'mic' for live input, 'system' for what this machine plays, or an audio "
                                        "file (WAV, FLAC, OGG, MP3, ...)")
    p.add_argument("--output", "-o", help="video file to write (.mp4); without it the show runs live in a window")
    _add_common(p)
    live = p.add_argument_group("live mode (no --output)")
    live.add_argument("--device", "-d", dest="audio_device",
                      help="audio device index or name substring (see --list-devices)")
    live.add_argument("--fullscreen", action="store_true", help="start fullscreen (F toggles)")
    live.add_argument("--screen", type=int, help="screen number for the window")
    live.add_argument("--window-size", default="1280x720", help="window size WxH (default 1280x720; --size WxH too)")
    live.add_argument("--hud", action="store_true", help="start with the heads-up display on (H toggles)")
    live.add_argument("--duration", type=float, help="stop after this many seconds")
    control = p.add_argument_group("show control (live mode; docs/show-control.md)")
    control.add_argument("--osc", type=int, metavar="PORT", help="listen for OSC on this UDP port (show.osc_port)")
    control.add_argument("--osc-out", metavar="HOST:PORT", help="send onsets, beats, tempo, levels and tags there "
                                                                "over OSC (show.osc_out)")
    control.add_argument("--midi", metavar="NAME", help="open this MIDI input (a part of its name; show.midi_input); "
                                                        "bindings go in [[midi]] tables of the settings")
    control.add_argument("--list-midi", action="store_true", help="list the MIDI inputs and exit")
    control.add_argument("--scenes", metavar="DIR", help="a folder of settings files, switched by keys 1-9, MIDI or OSC")
    p.add_argument("--chunks", type=int, help="video: split the render into this many chunks drawn by Ray workers "
                                               "(render.chunk_s), joined without encoding again")
    _add_ray(p, "chunk")
    live.add_argument("--frame-log", help="write one JSON line per presented frame (diagnostics, benchmarks)")
    p.add_argument("--print-settings", action="store_true",
                   help="print the full default settings file, with comments, and exit (every key: docs/settings.md)")
    p.add_argument("--format", choices=["toml", "markdown"], default="toml",
                   help="with --print-settings: a settings file (toml) or the reference page (markdown)")
    p.add_argument("--list-devices", action="store_true", help="list the audio devices and exit")
    return p


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--settings", "-s", help="TOML settings file (see --print-settings)")
    p.add_argument("--size", help="video: WxH in pixels (e.g. 1920x1080, 1080x1920), or one number for a square "
                                  "one (render.size); live: the window's WxH")
    p.add_argument("--fps", type=float, help="video frame rate (render.fps)")
    p.add_argument("--seed", type=int, help="keyframe seed (render.seed)")
    p.add_argument("--model", help="generator checkpoint (model.checkpoint); default: the bundled model")
    p.add_argument("--torch-device", dest="device", help="generator device: auto, cpu, cuda or cuda:N (model.device)")
    p.add_argument("--keyframes", nargs="+", help="pictures (or folders) that anchor places: where the music lands "
                                                  "near one, it takes over (listen.keyframes)")
    p.add_argument("--walk", choices=["listen", "loop"], help="walk.mode: listen (the music places the picture) or "
                                                              "loop (a keyframe loop, as before)")
    p.add_argument("--start", type=_clock, help="video: render from this time of the song (90, 1:30 or 0:01:30.5); "
                                                "the picture is the same as at that time of the whole render")
    p.add_argument("--end", type=_clock, help="video: render up to this time of the song")
    p.add_argument("--preview", action="store_true", help="video: a quick look at the settings: at most 384 px a "
                                                          "side and 15 frames/s")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _add_ray(p: argparse.ArgumentParser, what: str) -> None:
    ray = p.add_argument_group("Ray (pip install 'neural-music-visualizer[ray]'; docs/videos.md)")
    ray.add_argument("--address", help="a running Ray cluster, HOST:PORT or ray://HOST:PORT (default: start a "
                                       "local one)")
    ray.add_argument(f"--cpus-per-{what}", type=int, default=2, dest="cpus",
                     help=f"CPU cores each {what}'s task takes (default 2)")
    ray.add_argument(f"--gpus-per-{what}", type=float, dest="gpus",
                     help=f"GPUs each {what}'s task takes (default: 1 where the cluster has GPUs, else 0)")


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake told in one line (the usage is one --help away)."""

    def error(self, message: str):
        self.exit(2, f"visualizer: error: {message} (see {self.prog} --help)\n")


def _clock(text: str) -> float:
    """Seconds from "90", "1:30" or "1:02:03.5" (argparse type: a bad one is one line naming the option)."""
    try:
        parts = [float(p) for p in text.split(":")]
        if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts) or any(p >= 60 for p in parts[1:]):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time; write seconds (90) or m:ss (1:30)") from None
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


def _window_size(text: str, option: str = "--window-size", lo: int = 64, hi: int = 16384,
                 example: str = "1280x720") -> tuple[int, int]:
    """(width, height) from "WxH", each side lo..hi; errors name ``option``, the flag the user typed."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"{option} {text!r} is not WxH, e.g. {example}") from None
    if not (lo <= w <= hi and lo <= h <= hi):
        raise UserError(f"{option} {text} is out of range: each side {lo}..{hi} pixels, e.g. {example}")
    return w, h


def _video_size(text: str) -> tuple[int, int]:
    """(width, height) of a video from --size "WxH"."""
    return _window_size(text, "--size", 16, 7680, "1920x1080 or 1080x1920 (or one number for a square video)")


def _is_window_size(size: str | None) -> bool:
    """--size WxH: a video of that shape, or the live window's size; a plain number is a square video's side."""
    return bool(size) and "x" in size.lower()


def _settings(args: argparse.Namespace):
    from visualizer.settings import load_settings

    settings = load_settings(args.settings)
    render = {"fps": args.fps, "seed": args.seed}
    if _is_window_size(args.size):
        w, h = _video_size(args.size)
        render.update(width=w, height=h)
    elif args.size:
        try:
            render.update(size=int(args.size), width=0, height=0)
        except ValueError:
            raise UserError(f"--size {args.size!r} is not a number of pixels, nor WxH such as 1920x1080") from None
        if not 16 <= render["size"] <= 4096:
            raise UserError(f"--size {args.size} is out of range: give 16..4096 pixels, or WxH such as 1920x1080")
    settings = settings.with_overrides(render=render)
    if getattr(args, "preview", False):
        w, h = settings.render.frame_size()
        scale = min(1.0, 384 / max(w, h))
        settings = settings.with_overrides(render={"width": max(16, round(w * scale)), "height": max(16, round(h * scale)),
                                                   "fps": min(15.0, settings.render.fps)})
    return settings.with_overrides(
        model={"checkpoint": args.model, "device": args.device},
        walk={"mode": args.walk}, listen={"keyframes": args.keyframes},
        show={"osc_port": getattr(args, "osc", None), "osc_out": getattr(args, "osc_out", None),
              "midi_input": getattr(args, "midi", None)},
    )


def _report(result) -> None:
    print(f"wrote {result.path}: {result.frames} frames, {result.audio_duration_s:.1f} s of audio "
          f"in {result.wall_s:.1f} s (real-time factor {result.real_time_factor:.2f})", file=sys.stderr)


def cmd_render(argv: list[str]) -> int:
    args = _render_parser().parse_args(argv)
    if args.print_settings:
        from visualizer.settings import Settings, to_markdown, to_toml

        sys.stdout.write(to_markdown() if args.format == "markdown" else to_toml(Settings()))
        return 0
    if args.list_devices:
        from visualizer.audio.devices import describe_devices

        print(describe_devices())
        return 0
    if args.list_midi:
        from visualizer.control.midi import input_names, pick_api

        api = pick_api(_settings(args).show.midi_api)
        names = input_names(api)
        print("\n".join(names) if names else f"no MIDI inputs ({api.upper()}); connect a controller or start its software")
        return 0
    if not args.input:
        raise UserError("no --input given; try 'visualizer --input song.mp3 --output song.mp4' "
                        "or 'visualizer demo'")
    settings = _settings(args)
    if args.input in ("mic", "system") or not args.output:
        if args.input in ("mic", "system") and args.output:
            raise UserError(f"--input {args.input} runs live in a window; drop --output, or render a file instead")
        from visualizer.live import run_live

        size = (_window_size(args.size, "--size") if _is_window_size(args.size)
                else _window_size(args.window_size))
        run_live(args.input, settings, settings_path=args.settings, device=args.audio_device,
                 size=size, fullscreen=args.fullscreen, screen=args.screen,
                 duration_s=args.duration, frame_log=args.frame_log, hud=args.hud, scenes_dir=args.scenes)
        return 0
    if args.chunks is not None and args.chunks < 1:
        raise UserError(f"--chunks {args.chunks}: give 1 or more chunks")
    chunks = args.chunks or 1
    if args.chunks is None and settings.render.chunk_s > 0:  # only then is the song's length needed here
        from visualizer.render.chunks import chunk_count
        from visualizer.render.cluster import song_duration_s

        chunks = chunk_count(settings.render.chunk_s, song_duration_s(Path(args.input)))
    if chunks > 1:
        from visualizer.render.cluster import render_chunked

        result = render_chunked(Path(args.input), Path(args.output), settings, chunks, address=args.address,
                                cpus_per_chunk=args.cpus, gpus_per_chunk=args.gpus,
                                progress=False if args.quiet else None, start_s=args.start, end_s=args.end)
    else:
        from visualizer.engine import render_file

        result = render_file(args.input, args.output, settings, progress=False if args.quiet else None,
                             start_s=args.start, end_s=args.end)
    _report(result)
    return 0


def _render_many_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="visualizer render-many",
                epilog="Read next: docs/videos.md (catalogues on Ray).",
                description="Render many songs, one video each (OUT_DIR/SONG.mp4), as tasks on Ray: a local Ray, "
                            "or a cluster with --address. Videos already there are skipped, so a rerun finishes "
                            "what is left; a song that fails is named and the others go on.")
    p.add_argument("songs", nargs="+", help="audio files")
    p.add_argument("--out-dir", required=True, help="folder for the videos")
    _add_common(p)
    _add_ray(p, "song")
    return p


def cmd_render_many(argv: list[str]) -> int:
    args = _render_many_parser().parse_args(argv)
    from visualizer.render.cluster import render_many, summary_table

    outcomes = render_many([Path(s) for s in args.songs], Path(args.out_dir), _settings(args), address=args.address,
                           cpus_per_song=args.cpus, gpus_per_song=args.gpus, progress=False if args.quiet else None)
    print(summary_table(outcomes))
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def _demo_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="visualizer demo",
        epilog="Read next: README.md (the three uses), docs/settings.md.",
                                description="Synthesise the demo loop and render it with the bundled model.")
    p.add_argument("--output", "-o", default="demo.mp4", help="video to write (default demo.mp4)")
    p.add_argument("--bars", type=int, default=8, help="length of the loop in 4/4 bars at 120 BPM")
    _add_common(p)
    return p


def cmd_demo(argv: list[str]) -> int:
    args = _demo_parser().parse_args(argv)
    from visualizer.audio.demo import demo_loop, write_wav
    from visualizer.engine import render_file
    from visualizer.render.video import check_output_path

    output = check_output_path(args.output)
    audio = write_wav(output.with_suffix(".wav"), demo_loop(bars=args.bars), 44100)
    print(f"wrote demo audio {audio}", file=sys.stderr)
    result = render_file(audio, output, _settings(args), progress=False if args.quiet else None,
                         start_s=args.start, end_s=args.end)
    _report(result)
    return 0


def _train_parser() -> argparse.ArgumentParser:
    from visualizer.train.gan import GANTrainConfig
    from visualizer.train.themes import THEMES

    defaults = GANTrainConfig()
    p = _Parser(
        prog="visualizer train",
        epilog="Read next: docs/models.md (training, bundled models, bringing your own).",
        description="Train a generator on a picture theme rebuilt from Debian packages (cosmos: Stellarium's "
                    "deep-sky photographs; flames: fractal flames rendered by flam3; wallpapers) or on a folder "
                    "of your own pictures. A run can stop at any moment (Ctrl-C saves first) and go on with "
                    "--resume. Model cards and the commands that made the bundled models: checkpoints/README.md.")
    p.add_argument("--family", default="fastgan", choices=["fastgan", "visvae"],
                   help="fastgan (default: a GAN, sharp pictures) or visvae (the autoencoder, wallpapers only)")
    p.add_argument("--data", help=f"a theme ({', '.join(THEMES)}) or a folder of pictures (default: flames, or "
                                  "the data of the --resume state)")
    p.add_argument("--out", help="model to write (.safetensors; default FAMILY-DATA-256.safetensors here); "
                                 "a GAN run rewrites it at every checkpoint with its EMA generator")
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "visualizer" / "themes"),
                   help="where downloaded packages and rendered pictures are kept")
    p.add_argument("--resolution", type=int, default=256, help="fastgan: picture size, a power of two 32-1024 "
                                                                 "(a resumed run keeps its own)")
    p.add_argument("--minutes", type=float, default=defaults.minutes, help="training time budget of this run")
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps in all (0: the time budget)")
    p.add_argument("--resume", help="a training state to continue (fastgan; written by an earlier run)")
    p.add_argument("--init", help="fastgan: start a new run from a trained model (.safetensors): its generator "
                                  "goes on learning, the discriminator starts afresh")
    p.add_argument("--compact-state", help="fastgan: at the end also write a compact copy of the state here (float16, "
                                           "no optimiser moments, ~1/6 the size; --resume takes it)")
    p.add_argument("--state", help="where this run keeps its training state (default: beside the cache, or the "
                                   "--resume file)")
    p.add_argument("--checkpoint-minutes", type=float, default=defaults.checkpoint_minutes,
                   help="how often the state and the model are written")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all cores)")
    p.add_argument("--seed", type=int, default=0)
    visvae = p.add_argument_group("visvae only")
    visvae.add_argument("--kl-weight", type=float, default=None)
    visvae.add_argument("--fft-weight", type=float, default=None)
    visvae.add_argument("--train-crops", type=int, default=None)
    return p


def cmd_train(argv: list[str]) -> int:
    args = _train_parser().parse_args(argv)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if args.family == "visvae":
        from visualizer.models.visvae import VisVAEConfig
        from visualizer.train.trainer import TrainConfig, train_visvae

        if (args.data or "wallpapers") != "wallpapers":
            raise UserError("--family visvae trains on --data wallpapers only; use --family fastgan for other data")
        given = {"minutes": args.minutes, "batch_size": args.batch_size, "train_crops": args.train_crops,
                 "seed": args.seed, "learning_rate": args.learning_rate, "kl_weight": args.kl_weight,
                 "fft_weight": args.fft_weight, "threads": args.threads}
        cfg = TrainConfig(**{k: v for k, v in given.items() if v is not None})
        out = Path(args.out or "visvae-wallpapers-256.safetensors")
        train_visvae(out, Path(args.cache) / "packages" / "wallpapers", cfg, VisVAEConfig(), log=log,
                     resume=Path(args.resume) if args.resume else None)
        return 0
    from visualizer.models.fastgan import FastGANConfig
    from visualizer.train.gan import GANTrainConfig
    from visualizer.train.session import train_fastgan

    try:
        model_cfg = FastGANConfig.for_resolution(args.resolution)
    except ValueError as exc:
        raise UserError(f"--resolution: {exc}") from None

    given = {"minutes": args.minutes, "steps": args.steps, "batch_size": args.batch_size,
             "learning_rate": args.learning_rate, "checkpoint_minutes": args.checkpoint_minutes,
             "seed": args.seed, "threads": args.threads}
    cfg = GANTrainConfig(**{k: v for k, v in given.items() if v is not None})
    train_fastgan(args.data, cfg, out=Path(args.out) if args.out else None, cache=Path(args.cache),
                  state=Path(args.state) if args.state else None, resume=Path(args.resume) if args.resume else None,
                  log=log, model_cfg=model_cfg, init=Path(args.init) if args.init else None,
                  compact_state=Path(args.compact_state) if args.compact_state else None)
    return 0


def _train_map_parser() -> argparse.ArgumentParser:
    from visualizer.listen.place import MapTrainConfig

    defaults = MapTrainConfig()
    p = _Parser(
        prog="visualizer train-map",
        epilog="Read next: docs/synesthesia.md.",
        description="Train the music map of a model: what the listener hears in, a place in the model's latent "
                    "space out, so that music that sounds alike looks alike (walk.mode = \"listen\"). The bundled "
                    "models have theirs; run this for your own. How it works: docs/synesthesia.md.")
    p.add_argument("--model", required=True, help="model file (or a bundled model's name)")
    p.add_argument("--music", nargs="*", default=[], help="audio files or folders to learn from besides the bundled "
                                                          "corpus (the music you will play is best)")
    p.add_argument("--out", help="map to write (default: MODEL.map.safetensors beside the model, where renders and "
                                 "shows look for it)")
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--seed", type=int, default=defaults.seed,
                   help="training seed; maps trained with different seeds differ, so try a few and keep the one "
                        "benchmarks/synesthesia.py likes best (the bundled cosmos map is seed 1)")
    p.add_argument("--torch-device", dest="device", default="auto", help="auto, cpu, cuda or cuda:N")
    return p


def cmd_train_map(argv: list[str]) -> int:
    args = _train_map_parser().parse_args(argv)
    from visualizer.listen.place import MapTrainConfig
    from visualizer.listen.training import train_model_map

    out = train_model_map(args.model, music=[Path(m) for m in args.music], out=Path(args.out) if args.out else None,
                          cfg=MapTrainConfig(steps=args.steps, seed=args.seed), device=args.device,
                          log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _sheet_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="visualizer sheet",
        epilog="Read next: docs/benchmarks.md (the contact sheets we look at).",
                                description="Save a contact sheet (grid of evenly spaced frames) of a video.")
    p.add_argument("video", help="video file, e.g. a render")
    p.add_argument("--out", "-o", help="PNG to write (default: beside the video)")
    p.add_argument("--count", type=int, default=12, help="number of frames")
    return p


def cmd_sheet(argv: list[str]) -> int:
    args = _sheet_parser().parse_args(argv)
    from visualizer.render.contact_sheet import contact_sheet

    video = Path(args.video)
    if not video.is_file():
        raise UserError(f"video not found: {video}")
    out = contact_sheet(video, args.out or video.with_suffix(".png"), count=args.count)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _analyze_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="visualizer analyze",
        epilog="Read next: docs/analysis.md (what it hears), docs/analysis-json.md (the JSON).",
        description="Run the streaming audio analyzer over a file, exactly as the live show would, and "
                    "print what it heard: onsets, tempo, beats and bars, and the listener's tags over time "
                    "(genre, mood, instruments). --json writes everything, per analysis frame too (schema: "
                    "docs/analysis-json.md).")
    p.add_argument("file", help="audio file (WAV, FLAC, OGG, MP3, ...)")
    p.add_argument("--json", help="write the full analysis as JSON to this file ('-' for standard output)")
    p.add_argument("--settings", "-s", help="TOML settings file; its [analysis] and [listen] tables are used")
    p.add_argument("--no-listen", action="store_true", help="skip the listener (its tags over time)")
    return p


def cmd_analyze(argv: list[str]) -> int:
    args = _analyze_parser().parse_args(argv)
    from visualizer.audio.report import analyse_file, check_json_output, summary, write_json
    from visualizer.settings import load_settings

    loaded = load_settings(args.settings)
    settings = loaded.analysis
    if args.json and args.json != "-":
        check_json_output(args.json)
    report = analyse_file(args.file, settings, listen_update_s=None if args.no_listen else loaded.listen.update_s)
    if args.json:
        write_json(report, args.json)
    if args.json != "-":
        print(summary(report))
        if args.json:
            print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _convert_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="visualizer convert",
        epilog="Read next: docs/models.md.",
        description="Convert a StyleGAN2 or StyleGAN3 network (an NVlabs stylegan2-ada-pytorch or stylegan3 "
                    "network-*.pkl, read without running any code from it, or a rosinality/stylegan2-pytorch .pt "
                    "checkpoint) to our safetensors format, which loads faster and safely anywhere.")
    p.add_argument("input", help="network pickle, rosinality .pt, or one of our StyleGAN .safetensors files")
    p.add_argument("output", help="the .safetensors file to write")
    return p


def cmd_convert(argv: list[str]) -> int:
    args = _convert_parser().parse_args(argv)
    from visualizer.models.io import convert_checkpoint

    out = convert_checkpoint(Path(args.input), Path(args.output))
    print(f"wrote {out}", file=sys.stderr)
    return 0


PARSERS = {"": _render_parser, "demo": _demo_parser, "train": _train_parser, "train-map": _train_map_parser,
           "sheet": _sheet_parser, "analyze": _analyze_parser, "convert": _convert_parser,
           "render-many": _render_many_parser}
COMMANDS = {"demo": cmd_demo, "train": cmd_train, "train-map": cmd_train_map, "sheet": cmd_sheet,
            "analyze": cmd_analyze, "convert": cmd_convert, "render-many": cmd_render_many}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = COMMANDS.get(argv[0] if argv else "", None)
    try:
        if command is not None:
            return command(argv[1:])
        return cmd_render(argv)
    except UserError as exc:
        print(f"visualizer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("visualizer: interrupted; no partial output was left behind", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
