#!/usr/bin/python3
"""Stickers on a video file: one input file to one output file, audio passed through
untouched where the output container takes it, plus the landmarks as JSON lines.

    examples/file_to_file.py in.mkv out.mkv
    examples/file_to_file.py --stickers seed --export faces.jsonl in.avi out.mp4

What happens to each stream:

- the output's name says its container: .avi -> avimux, .mkv -> matroskamux,
  .webm -> webmmux, .mp4/.m4v -> mp4mux, .mov -> qtmux, .ogv/.ogg -> oggmux,
  .ts -> mpegtsmux, .flv -> flvmux; any other name is refused (nothing is
  written), as is one whose muxer is not installed;
- the input's container is recognised (typefind on its first bytes);
- the first video stream is decoded, goes through facekpfilter and is encoded
  again: when the output is of the input's container family, with the input's
  codec if an encoder for it is installed and the muxer takes it; otherwise
  with the output container's usual codec (H.264 for MP4 and QuickTime when
  x264enc or openh264enc is installed, VP8 for WebM, Theora for Ogg, MJPEG
  for AVI); else with the first installed encoder the muxer takes (jpegenc,
  vp8enc, avenc_mpeg4, theoraenc, x264enc);
- audio streams are copied as they are (no decoding) when the muxer takes their
  codec, and re-encoded only when it does not (the summary says which);
- other streams (subtitles, a second video) are left out;
- the written file must demux again, or the run fails and the file is removed
  (GStreamer 1.22's mp4mux, given an AVI's MP3 track beside the video, wrote
  files qtdemux refuses: such a run now fails instead of leaving one).

The same class drives examples/batch.py.  Needs Debian's python3-gi and
gir1.2-gstreamer-1.0 (run with /usr/bin/python3).
"""
import argparse
import os
import struct
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstBase", "1.0")
gi.require_version("GLib", "2.0")
from gi.repository import GLib, GObject, Gst, GstBase  # noqa: E402

# typefind's caps name -> muxer of the same family.
CONTAINER_MUXERS = {
    "video/x-msvideo": "avimux",
    "video/x-matroska": "matroskamux",
    "video/webm": "webmmux",
    "application/ogg": "oggmux",
    "video/mpegts": "mpegtsmux",
    "video/x-flv": "flvmux",
}

# Output file name ending -> the muxer that writes that container.
OUTPUT_MUXERS = {
    ".avi": "avimux", ".mkv": "matroskamux", ".webm": "webmmux", ".mp4": "mp4mux",
    ".m4v": "mp4mux", ".mov": "qtmux", ".ogv": "oggmux", ".ogg": "oggmux",
    ".ts": "mpegtsmux", ".flv": "flvmux",
}

# Muxer -> the encoders of the codec players expect in it, best first.
CONTAINER_ENCODERS = {
    "mp4mux": ["x264enc", "openh264enc", "avenc_mpeg4"],
    "qtmux": ["x264enc", "openh264enc", "avenc_mpeg4"],
    "webmmux": ["vp8enc", "vp9enc"],
    "oggmux": ["theoraenc"],
    "avimux": ["jpegenc"],
    "mpegtsmux": ["x264enc", "openh264enc"],
    "flvmux": ["x264enc", "openh264enc"],
}

# Parsed video caps name -> encoders that write the same codec, best first.
SAME_CODEC_ENCODERS = {
    "image/jpeg": ["jpegenc"],
    "video/x-vp8": ["vp8enc"],
    "video/x-vp9": ["vp9enc"],
    "video/x-theora": ["theoraenc"],
    "video/x-h264": ["x264enc", "openh264enc"],
    "video/x-h265": ["x265enc"],
    "video/mpeg": ["avenc_mpeg4"],
}
FALLBACK_VIDEO_ENCODERS = ["jpegenc", "vp8enc", "avenc_mpeg4", "theoraenc", "x264enc"]
FALLBACK_AUDIO_ENCODERS = ["vorbisenc", "opusenc", "lamemp3enc", "avenc_aac", "flacenc"]

# Settings that keep quality reasonable where an encoder's default does not.
ENCODER_SETTINGS = {
    "avenc_mpeg4": {"bitrate": 4000000},
    "vp8enc": {"deadline": 1, "target-bitrate": 2000000},
    "vp9enc": {"deadline": 1, "target-bitrate": 2000000},
    "x264enc": {"speed-preset": "veryfast"},
}

# Enough of a file's head for typefind to recognise every container above.
TYPEFIND_BYTES = 64 * 1024

# Error domain of the messages this script posts itself.
EXAMPLE_ERROR = "file-to-file-error"

# How often a pipeline that has exposed no stream yet is checked for a
# demuxer that gave up (see Transcode._watch_streams).
STREAM_WATCH_MS = 250


def avi_declared_frames(path):
    """The frame count an AVI's header declares (OpenDML's dmlh when present,
    else avih), or None.  avidemux rebuilds its index from the bytes it finds
    and reports the duration of what is there, so a cut AVI looks whole to
    GStreamer; its header still says how long it was."""
    try:
        with open(path, "rb") as f:
            head = f.read(64 * 1024)
    except OSError:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"AVI ":
        return None
    for chunk, offset in ((b"dmlh", 0), (b"avih", 16)):
        at = head.find(chunk)
        if at >= 0 and at + 8 + offset + 4 <= len(head):
            frames = struct.unpack_from("<I", head, at + 8 + offset)[0]
            if frames > 0:
                return frames
    return None


def muxer_for_output(path):
    """Name of the muxer the output file's name asks for; RuntimeError if the
    name says no container this script writes, or its muxer is missing."""
    ext = os.path.splitext(path)[1].lower()
    muxer = OUTPUT_MUXERS.get(ext)
    if muxer is None:
        raise RuntimeError(f"cannot tell a container from the output name {os.path.basename(path)}"
                           f" (end it in one of {', '.join(sorted(OUTPUT_MUXERS))})")
    if Gst.ElementFactory.find(muxer) is None:
        raise RuntimeError(f"{muxer} (for {ext} files) is not installed")
    return muxer


def muxer_for(container_caps):
    """Name of the muxer that writes the container typefind found, or None."""
    structure = container_caps.get_structure(0)
    name = structure.get_name()
    if name == "video/quicktime":
        # typefind marks ISO MP4 files with variant=iso; the rest are QuickTime.
        variant = structure.get_string("variant")
        return "mp4mux" if variant == "iso" else "qtmux"
    return CONTAINER_MUXERS.get(name)


def container_of(path):
    """The file's container caps, recognised from its first bytes."""
    try:
        with open(path, "rb") as video:
            head = video.read(TYPEFIND_BYTES)
    except OSError as error:
        raise RuntimeError(f"cannot read it: {error.strerror}") from error
    caps, _probability = GstBase.type_find_helper_for_data(None, head)
    if caps is None or caps.is_empty():
        raise RuntimeError("not a container GStreamer recognises")
    return caps


def src_template_caps(factory):
    for template in factory.get_static_pad_templates():
        if template.direction == Gst.PadDirection.SRC:
            return template.get_caps()
    return Gst.Caps.new_empty()


def pick_encoder(mux_factory, preferred, fallback):
    """First installed encoder, preferred ones first, whose output the muxer takes."""
    for name in preferred + [n for n in fallback if n not in preferred]:
        factory = Gst.ElementFactory.find(name)
        if factory is not None and mux_factory.can_sink_any_caps(src_template_caps(factory)):
            return name
    return None


def make(factory_name, **properties):
    element = Gst.ElementFactory.make(factory_name)
    if element is None:
        raise RuntimeError(f"GStreamer element {factory_name} is not installed")
    for key, value in properties.items():
        spec = element.find_property(key)
        if isinstance(value, str) and spec is not None and spec.value_type != GObject.TYPE_STRING:
            Gst.util_set_object_arg(element, key, value)   # enums given by nick
        else:
            element.set_property(key, value)
    return element


def iterate(iterator):
    """A Gst.Iterator's items as a list (no gst-python overrides needed)."""
    items = []
    while True:
        result, item = iterator.next()
        if result == Gst.IteratorResult.OK:
            items.append(item)
        elif result == Gst.IteratorResult.RESYNC:
            iterator.resync()
            items.clear()
        else:
            return items


def demux_error(path, factory_name, timeout=5 * Gst.SECOND):
    """The error FACTORY_NAME posts on PATH when it runs on its own, or None."""
    pipeline = Gst.Pipeline.new("demux-check")
    source = make("filesrc", location=path)
    demux = make(factory_name)
    pipeline.add(source)
    pipeline.add(demux)
    link_chain(source, demux)
    pipeline.set_state(Gst.State.PAUSED)
    message = pipeline.get_bus().timed_pop_filtered(timeout, Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    return message.parse_error()[0].message if message is not None else None


def link_chain(*elements):
    for upstream, downstream in zip(elements, elements[1:]):
        if not upstream.link(downstream):
            raise RuntimeError(f"cannot link {upstream.get_name()} to {downstream.get_name()}")


class Transcode:
    """One input file through facekpfilter into one output file.

    Runs in the caller's GLib main loop: start(), then on_done(transcode) is
    called from the main loop with transcode.error None (success) or a message.
    """

    def __init__(self, input_path, output_path, stickers="default", export=None,
                 threads=0, on_done=None):
        self.input_path = input_path
        self.output_path = output_path
        self.stickers = stickers
        self.export = export
        self.threads = threads
        self.on_done = on_done
        self.error = None
        self.frames = 0
        self.video_pad = None      # the demuxed video stream, asked for its duration at EOS
        self.video_end = None      # end time of the last frame out of facekpfilter (ns)
        self.frame_duration = None
        self.notes = []            # what happened to the streams, for the summary
        self.video_chain = None
        self.finished = False
        self.streams_exposed = False
        self.dead_checks = 0       # consecutive checks that found no thread running

        # The muxer is chosen before the pipeline starts, so that it exists
        # when parsebin exposes the streams.
        muxer = muxer_for_output(output_path)
        self.same_family = muxer_for(container_of(input_path)) == muxer

        self.pipeline = Gst.Pipeline.new(os.path.basename(input_path))
        self.source = make("filesrc", location=input_path)
        self.parse = make("parsebin")
        self.mux = make(muxer)
        self.sink = make("filesink", location=output_path)
        for element in (self.source, self.parse, self.mux, self.sink):
            self.pipeline.add(element)
        link_chain(self.source, self.parse)
        link_chain(self.mux, self.sink)
        self.parse.connect("pad-added", self._on_parsed_pad)
        self.parse.connect("no-more-pads", self._on_no_more_pads)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        self._bus_handler = bus.connect("message", self._on_message)

    # -- building, in streaming threads --------------------------------------

    def _fail(self, text):
        """Reports a problem found while building from a streaming thread."""
        structure = Gst.Structure.new_empty(EXAMPLE_ERROR)
        structure.set_value("message", text)
        self.pipeline.post_message(Gst.Message.new_application(self.pipeline, structure))

    def _add(self, *elements):
        for element in elements:
            self.pipeline.add(element)
        for element in elements:
            element.sync_state_with_parent()

    def _on_parsed_pad(self, _parse, pad):
        self.streams_exposed = True
        caps = pad.get_current_caps() or pad.query_caps(None)
        kind = caps.get_structure(0).get_name()
        if (kind.startswith("video/") or kind == "image/jpeg") and self.video_chain is None:
            self._link_video(pad, kind)
        elif kind.startswith("audio/"):
            self._link_audio(pad, caps)
        else:
            self._discard(pad)
            self.notes.append(f"left out a {kind} stream")

    def _discard(self, pad):
        sink = make("fakesink", sync=False)
        sink.set_property("async", False)
        self._add(sink)
        pad.link(sink.get_static_pad("sink"))

    def _link_video(self, pad, codec):
        mux_factory = self.mux.get_factory()
        same_codec = SAME_CODEC_ENCODERS.get(codec, [])
        container_codec = CONTAINER_ENCODERS.get(mux_factory.get_name(), [])
        preferred = same_codec + container_codec if self.same_family else container_codec + same_codec
        encoder_name = pick_encoder(mux_factory, preferred, FALLBACK_VIDEO_ENCODERS)
        if encoder_name is None:
            self._fail(f"no installed video encoder writes a codec {mux_factory.get_name()} takes")
            return
        queue = make("queue")
        decode = make("decodebin")
        convert_in = make("videoconvert")
        facekp = Gst.ElementFactory.make("facekpfilter")
        if facekp is None:
            self._fail("element facekpfilter not found (GST_PLUGIN_PATH=BUILD/gst-plugin "
                       "when running from the build tree)")
            return
        facekp.set_property("stickers", self.stickers)
        facekp.set_property("post-messages", "none")
        facekp.set_property("threads", self.threads)
        # A file is not live: the detector's faces join a fixed two frames
        # later, so the same file gives the same landmarks on every run and
        # machine (the element's default joins them when ready, which
        # depends on the machine's load).
        facekp.set_property("detect-latency", 2)
        if self.export:
            facekp.set_property("export-location", self.export)
        convert_out = make("videoconvert")
        encoder = make(encoder_name, **ENCODER_SETTINGS.get(encoder_name, {}))
        chain = [queue, decode, convert_in, facekp, convert_out, encoder]
        self._add(*chain)
        # The muxer's pad is requested now, before any data flows, so that it
        # writes its header knowing every stream.
        if not encoder.link(self.mux):
            self._fail(f"{encoder_name} cannot feed {mux_factory.get_name()}")
            return
        link_chain(convert_in, facekp, convert_out, encoder)
        queue.link(decode)
        decode.connect("pad-added", lambda _d, raw: raw.link(convert_in.get_static_pad("sink")))
        facekp.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self._count_frame)
        pad.link(queue.get_static_pad("sink"))
        self.video_pad = pad
        self.video_chain = chain
        self.notes.append(f"video {codec} -> {encoder_name}")

    def _count_frame(self, _pad, info):
        self.frames += 1
        buffer = info.get_buffer()
        if buffer is not None and buffer.pts != Gst.CLOCK_TIME_NONE:
            duration = buffer.duration if buffer.duration != Gst.CLOCK_TIME_NONE else 0
            self.video_end = buffer.pts + duration
            if duration:
                self.frame_duration = duration
        return Gst.PadProbeReturn.OK

    def _link_audio(self, pad, caps):
        queue = make("queue")
        self._add(queue)
        codec = caps.get_structure(0).get_name()
        # Asked with the stream's caps, the muxer hands out an audio pad only if
        # it can store this codec as it is.
        mux_pad = self.mux.get_compatible_pad(pad, caps)
        if mux_pad is not None and queue.get_static_pad("src").link(mux_pad) == Gst.PadLinkReturn.OK:
            pad.link(queue.get_static_pad("sink"))
            self.notes.append(f"audio {codec} copied")
            return
        encoder_name = pick_encoder(self.mux.get_factory(), [], FALLBACK_AUDIO_ENCODERS)
        if encoder_name is None:
            self._discard(pad)
            self.notes.append(f"left out audio {codec}: no encoder for this container")
            return
        decode = make("decodebin")
        convert = make("audioconvert")
        resample = make("audioresample")
        encoder = make(encoder_name)
        self._add(decode, convert, resample, encoder)
        link_chain(convert, resample, encoder)
        if not encoder.link(self.mux):
            self._fail(f"{encoder_name} cannot feed {self.mux.get_factory().get_name()}")
            return
        queue.link(decode)
        decode.connect("pad-added", lambda _d, raw: raw.link(convert.get_static_pad("sink")))
        pad.link(queue.get_static_pad("sink"))
        self.notes.append(f"audio {codec} re-encoded with {encoder_name}")

    def _on_no_more_pads(self, _parse):
        if self.video_chain is None:
            self._fail("it has no video stream")

    # -- running, in the main loop -------------------------------------------

    def start(self):
        # A failure to start posts an error on the bus; _on_message finishes with it.
        self.pipeline.set_state(Gst.State.PLAYING)
        GLib.timeout_add(STREAM_WATCH_MS, self._watch_streams)

    def _watch_streams(self):
        """Fails a file whose demuxer gave up before it exposed a stream.

        parsebin (GStreamer 1.22) drops an error its demuxer posts while
        parsebin is still setting it up, which a corrupt header can do at
        once: the pipeline then waits for ever (on some runs, not others).
        Such a pipeline has no streaming thread left running: every task is
        paused, none started.  The demuxer is then run on its own to get
        its error, so the message is the one the error would have given.
        Two checks in a row must agree: threads hand over to each other."""
        if self.finished or self.streams_exposed:
            return GLib.SOURCE_REMOVE
        elements = [self.source] + iterate(self.parse.iterate_recurse())
        states = {pad.get_task_state() for element in elements for pad in iterate(element.iterate_pads())}
        if Gst.TaskState.STARTED in states or Gst.TaskState.PAUSED not in states:
            self.dead_checks = 0
            return GLib.SOURCE_CONTINUE
        self.dead_checks += 1
        if self.dead_checks < 2:
            return GLib.SOURCE_CONTINUE
        demuxers = [element.get_factory().get_name() for element in elements
                    if element.get_factory() is not None
                    and "Demux" in element.get_factory().get_metadata("klass")]
        message = demux_error(self.input_path, demuxers[0]) if demuxers else None
        if demuxers and message:
            self._finish(f"{demuxers[0]}: {message}")
        else:
            self._finish(f"{demuxers[0] if demuxers else 'parsebin'}: no stream found "
                         "(corrupt or truncated file?)")
        return GLib.SOURCE_REMOVE

    def progress(self):
        """(position, duration) in nanoseconds; either None when unknown."""
        ok_pos, position = self.pipeline.query_position(Gst.Format.TIME)
        ok_dur, duration = self.pipeline.query_duration(Gst.Format.TIME)
        return (position if ok_pos else None), (duration if ok_dur and duration > 0 else None)

    def _on_message(self, _bus, message):
        if self.finished:
            return
        if message.type == Gst.MessageType.EOS:
            self._finish(self._short_read() or self._unreadable_output())
        elif message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            # The element's kind, not its name: avidemux0 in one process is
            # avidemux4 in another, and the same file should fail the same way.
            factory = message.src.get_factory() if isinstance(message.src, Gst.Element) else None
            source = factory.get_name() if factory is not None else message.src.get_name()
            self._finish(f"{source}: {error.message}")
        elif message.type == Gst.MessageType.APPLICATION:
            structure = message.get_structure()
            if structure.get_name() == EXAMPLE_ERROR:
                self._finish(structure.get_string("message"))

    def _short_read(self):
        """None if the video stream was decoded to its end, else why not.

        Demuxers end a cut or corrupt file with a plain EOS (the short read
        is only logged), so the last frame's end is compared with the
        duration the container declares for the video stream itself (not
        the whole file's, which an audio stream may lengthen)."""
        if self.frames == 0:
            return "no video frame decoded (truncated or corrupt file?)"
        declared_frames = avi_declared_frames(self.input_path)
        if declared_frames is not None and self.frames < declared_frames:
            return f"truncated: {self.frames} of the {declared_frames} frames its header declares"
        if self.video_pad is None or self.video_end is None:
            return None
        ok, declared = self.video_pad.query_duration(Gst.Format.TIME)
        if not ok or declared <= 0:
            return None
        # Declared durations round to the container's time base: allow two
        # frames (or 0.2 s) of slack.
        slack = max(2 * (self.frame_duration or 0), Gst.SECOND // 5)
        if self.video_end + slack < declared:
            return (f"truncated: video ends at {self.video_end / Gst.SECOND:.2f} s of the "
                    f"{declared / Gst.SECOND:.2f} s its container declares")
        return None

    def _unreadable_output(self):
        """None if the written file demuxes again, else why not: a muxer can
        finish without error and still write a file its own demuxer refuses
        (mp4mux on some inputs with audio), which must not pass as done.

        Every stream gets a sink that prerolls, so ASYNC_DONE comes once each
        has its first buffer (with a sink that does not preroll it never came,
        and the check sat out its whole timeout on every good file)."""
        check = Gst.Pipeline.new("read-back")
        source = make("filesrc", location=self.output_path)
        parse = make("parsebin")
        check.add(source)
        check.add(parse)
        link_chain(source, parse)

        def on_pad(_parse, pad):
            # A queue each: one demuxer thread feeds every stream, and a sink
            # that prerolls blocks it until all have.
            queue = make("queue")
            sink = make("fakesink", sync=False)
            for element in (queue, sink):
                check.add(element)
                element.sync_state_with_parent()
            queue.link(sink)
            pad.link(queue.get_static_pad("sink"))

        parse.connect("pad-added", on_pad)
        check.set_state(Gst.State.PAUSED)
        message = check.get_bus().timed_pop_filtered(
            10 * Gst.SECOND, Gst.MessageType.ERROR | Gst.MessageType.ASYNC_DONE)
        reason = None
        if message is None:
            reason = "the written file does not read back (no preroll within 10 s)"
        elif message.type == Gst.MessageType.ERROR:
            reason = f"the written file does not read back: {message.parse_error()[0].message}"
        check.set_state(Gst.State.NULL)
        return reason

    def cancel(self, reason):
        """Stops a running transcode as failed (from the main loop)."""
        if not self.finished:
            self._finish(reason)

    def _finish(self, error):
        self.finished = True
        self.error = error
        self.pipeline.set_state(Gst.State.NULL)
        bus = self.pipeline.get_bus()
        bus.disconnect(self._bus_handler)
        bus.remove_signal_watch()
        if error is not None:
            # A partial video would not play, and landmarks of part of a file
            # would pass for the whole: leave neither behind.
            for path in (self.output_path, self.export):
                if path and os.path.exists(path):
                    os.unlink(path)
        if self.on_done is not None:
            self.on_done(self)


def main():
    parser = argparse.ArgumentParser(
        description="Stickers on a video file: the container its name says, audio copied.")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--stickers", default="default",
                        help="sticker pack name or .ini path (default: default; '' for none)")
    parser.add_argument("--export", help="JSON-lines file for the landmarks")
    parser.add_argument("--threads", type=int, default=0, help="facekpfilter threads (0: per core)")
    args = parser.parse_args()

    if os.path.abspath(args.input) == os.path.abspath(args.output):
        sys.exit("file_to_file: the output must not overwrite the input")
    Gst.init(None)
    loop = GLib.MainLoop()
    try:
        job = Transcode(args.input, args.output, stickers=args.stickers, export=args.export,
                        threads=args.threads, on_done=lambda _job: loop.quit())
    except RuntimeError as error:
        print(f"file_to_file: {args.input}: {error}", file=sys.stderr)
        return 1
    job.start()
    loop.run()
    if job.error is not None:
        print(f"file_to_file: {args.input}: {job.error}", file=sys.stderr)
        return 1
    print(f"{args.output}: {job.frames} frames; " + "; ".join(job.notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
